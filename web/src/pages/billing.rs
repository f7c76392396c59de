//! Billing files: finance (all partners or one, in the vendor area) and partners (their
//! own customers) start runs, watch them and download their XLSX and CSV. The same core
//! calls as the API; which runs a person sees is decided there.

use chrono::NaiveDate;
use partnerdesk_core::{
    Error as CoreError, billing, billing::BillingRunStatus, billing::StartInput, platform::domain::DEFAULT_PAGE,
    platform::money::Currency, platform::money::fixed2,
};
use poem::{IntoResponse, Response, Route, get, handler, http::header, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::{Typed, View, with};
use super::{db, portal::Portal, reads};
use crate::api::{billing::BillingRunView, billing::chunks};
use crate::pages::{form::Form, notice::Notice, notice::noticed};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/billing", get(runs_page).post(start))
        .at("/billing/:id/:format", get(download))
}

#[derive(Deserialize)]
struct RunsQuery {
    #[serde(default, deserialize_with = "crate::pages::notice::lenient")]
    notice: Option<Notice>,
    cursor: Option<String>,
}

/// The billing runs page: the runs the person may see, whether one is still being
/// made (the page refreshes), whether the form offers a partner (finance), and the
/// form's defaults (last month).
#[derive(Serialize)]
struct RunsPage {
    runs: Vec<Run>,
    next_cursor: Option<String>,
    busy: bool,
    vendor: bool,
    form: StartDefaults,
}

/// A run, and its total per currency.
#[derive(Serialize)]
struct Run {
    #[serde(flatten)]
    run: View<BillingRunView>,
    sums: Vec<Sum>,
}

#[derive(Serialize)]
struct Sum {
    currency: Currency,
    amount: String,
}

#[derive(Serialize)]
struct StartDefaults {
    period_start: NaiveDate,
    period_end: NaiveDate,
    csv_separator: &'static str,
}

async fn runs_ctx(
    portal: &Portal,
    state: &AppState,
    cursor: Option<&str>,
) -> poem::Result<Result<RunsPage, CoreError>> {
    let mut conn = reads(state).await?;
    let page = match billing::list(&mut conn, &portal.actor, cursor, DEFAULT_PAGE).await {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let busy = page
        .items
        .iter()
        .any(|r| matches!(r.run.status, BillingRunStatus::Queued | BillingRunStatus::Running));
    let runs = page
        .items
        .into_iter()
        .map(|d| {
            // The run's total per currency, in Decimal, for the table.
            let mut sums: std::collections::BTreeMap<Currency, rust_decimal::Decimal> = Default::default();
            for t in &d.totals {
                *sums.entry(t.currency).or_default() += t.amount;
            }
            let sums = sums
                .into_iter()
                .map(|(currency, amount)| Sum {
                    currency,
                    amount: fixed2(amount),
                })
                .collect();
            Run {
                run: View(d.into()),
                sums,
            }
        })
        .collect();
    let (first, last) = billing::previous_month(state.ctx.now().date_naive());
    Ok(Ok(RunsPage {
        runs,
        next_cursor: page.next_cursor,
        busy,
        vendor: portal.holds(partnerdesk_core::platform::authz::Permission::VendorFinance),
        form: StartDefaults {
            period_start: first,
            period_end: last,
            csv_separator: ",",
        },
    }))
}

#[handler]
async fn runs_page(portal: Portal, state: Data<&AppState>, Query(q): Query<RunsQuery>) -> poem::Result<Response> {
    Ok(match runs_ctx(&portal, &state, q.cursor.as_deref()).await? {
        Ok(ctx) => portal.render_noticed(&state, "billing/billing", q.notice, ctx),
        Err(e) => portal.failed(&state, "Billing files", &e),
    })
}

/// The date typed in `name` (YYYY-MM-DD), if any.
fn date(typed: Option<&str>, name: &str) -> Result<Option<NaiveDate>, CoreError> {
    match typed {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| CoreError::field(name, "invalid_date", "Enter a date as YYYY-MM-DD")),
    }
}

/// The start-a-billing-run form: the period, one partner or all, the CSV's shape.
#[derive(Deserialize)]
struct StartForm {
    partner_code: Option<String>,
    csv_separator: Option<String>,
    csv_bom: Option<String>,
    period_start: Option<String>,
    period_end: Option<String>,
}

#[handler]
async fn start(portal: Portal, state: Data<&AppState>, form: Form<StartForm>) -> poem::Result<Response> {
    let input = (|| {
        Ok::<_, CoreError>(StartInput {
            partner_id: None,
            partner_code: form.fields.partner_code,
            period_start: date(form.fields.period_start.as_deref(), "period_start")?,
            period_end: date(form.fields.period_end.as_deref(), "period_end")?,
            csv_separator: form.fields.csv_separator,
            csv_bom: form.fields.csv_bom.is_some(),
        })
    })();
    let mut conn = db(&state).await?;
    let started = match input {
        Ok(input) => billing::start(&mut conn, &state.ctx, &portal.actor, input).await,
        Err(e) => Err(e),
    };
    drop(conn);
    Ok(match started {
        Ok(_) => noticed("/billing", Notice::BillingRunStarted),
        Err(e) => match runs_ctx(&portal, &state, None).await? {
            Ok(ctx) => {
                let ctx = with(ctx, Typed { form: &form.typed });
                portal.error(&state, "billing/billing", ctx, &e)
            }
            Err(e) => portal.failed(&state, "Billing files", &e),
        },
    })
}

#[handler]
async fn download(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, format)): Path<(Uuid, String)>,
) -> poem::Result<Response> {
    let format: &'static str = match format.as_str() {
        "xlsx" => "xlsx",
        "csv" => "csv",
        _ => return Ok(portal.failed(&state, "Billing files", &CoreError::not_found("billing file"))),
    };
    let mut conn = reads(&state).await?;
    let found = billing::file(&mut conn, &portal.actor, id, format).await;
    drop(conn);
    Ok(match found {
        Ok((run, info, count)) => {
            let content_type = if format == "xlsx" {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            } else {
                "text/csv; charset=utf-8"
            };
            chunks(state.reads_now(), run.id, format, count)
                .into_response()
                .with_content_type(content_type)
                .with_header(
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", billing::file_name(&run, format)),
                )
                .with_header(header::CONTENT_LENGTH, info.size)
                .into_response()
        }
        Err(e) => portal.failed(&state, "Billing files", &e),
    })
}
