//! A partner's earnings: the dashboard, the affiliate link and its landing, and the
//! commissions table with its CSV.

use chrono::NaiveDate;
use partnerdesk_core::{
    Error as CoreError, earnings::commissions, earnings::commissions::Kind, earnings::commissions::ListQuery,
    earnings::commissions::State, platform::domain::DEFAULT_PAGE,
};
use poem::{Response, Route, get, handler, http::header, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{earnings::CommissionView, earnings::DashboardView};
use crate::pages::context::{View, views, with};
use crate::pages::{csv_response, db, form::Form, notice::Notice, notice::noticed, portal::Portal, reads, redirect};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/dashboard", get(dashboard))
        .at("/affiliate", get(affiliate))
        .at("/commissions", get(table))
        .at("/commissions/export", get(export))
        .at("/commissions/:id/decline", post(decline))
        .at("/a/:code", get(affiliate_landing))
}

/// A partner's dashboard: its figures.
#[derive(Serialize)]
struct DashboardPage {
    figures: View<DashboardView>,
}

#[handler]
async fn dashboard(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    Ok(
        match commissions::dashboard(&mut conn, &state.ctx, &portal.actor).await {
            Ok(d) => portal.render(
                &state,
                "earnings/dashboard",
                DashboardPage {
                    figures: View(d.into()),
                },
            ),
            Err(e) => portal.failed(&state, "Dashboard", &e),
        },
    )
}

/// A partner's affiliate link and what it brought.
#[derive(Serialize)]
struct AffiliatePage {
    link: String,
    visits: i64,
    sign_ups: i64,
    paying_customers: i64,
    /// How long a visit is remembered for its sign-up.
    window_days: u64,
}

#[handler]
async fn affiliate(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match commissions::affiliate_figures(&mut conn, &portal.actor).await {
        Ok(f) => {
            let ctx = AffiliatePage {
                link: partnerdesk_core::platform::links::affiliate(&state.ctx.config, &f.affiliate_code),
                visits: f.visits,
                sign_ups: f.sign_ups,
                paying_customers: f.paying_customers,
                window_days: state.ctx.config.affiliate_window.as_secs() / 86_400,
            };
            portal.render(&state, "earnings/affiliate", ctx)
        }
        Err(e) => portal.failed(&state, "Affiliate link", &e),
    })
}

/// The commission table's filters, as the address carries them.
#[derive(Deserialize, Serialize, Default)]
struct TableForm {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    partner_id: Option<Uuid>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "crate::pages::notice::lenient")]
    notice: Option<Notice>,
}

impl TableForm {
    fn query(&self) -> Result<ListQuery, CoreError> {
        let day = |field: &str, raw: &Option<String>| match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| CoreError::field(field, "invalid_date", "Enter a date as YYYY-MM-DD")),
        };
        Ok(ListQuery {
            kind: self.kind.as_deref().and_then(Kind::parse),
            state: self.state.as_deref().and_then(State::parse),
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            limit: DEFAULT_PAGE,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
        })
    }

    /// This table's address with other filters kept (for the next page and the CSV).
    fn address(&self, path: &str, cursor: Option<&str>) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("type", &self.kind),
            ("state", &self.state),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        if let Some(p) = self.partner_id {
            pairs.append_pair("partner_id", &p.to_string());
        }
        if let Some(c) = cursor {
            pairs.append_pair("cursor", c);
        }
        format!("{path}?{}", pairs.finish())
    }
}

#[handler]
async fn table(portal: Portal, state: Data<&AppState>, Query(form): Query<TableForm>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let listed = match form.query() {
        Ok(q) => commissions::list(&mut conn, &portal.actor, form.partner_id, q).await,
        Err(e) => Err(e),
    };
    let ctx = TablePage {
        filter: &form,
        export: form.address("/commissions/export", None),
        finance: form.partner_id.is_some_and(|p| Some(p) != portal.org()),
    };
    Ok(match listed {
        Ok(page) => {
            let rows = Rows {
                commissions: views(page.items),
                next_page: page.next_cursor.map(|c| form.address("/commissions", Some(&c))),
            };
            portal.render_noticed(&state, "earnings/commissions", form.notice, with(ctx, rows))
        }
        Err(e) => portal.error(&state, "earnings/commissions", with(ctx, Rows::none()), &e),
    })
}

/// The commission table around its rows: the filters as given, the CSV's address, and
/// whether vendor finance is looking at a partner's table.
#[derive(Serialize)]
struct TablePage<'a> {
    filter: &'a TableForm,
    export: String,
    finance: bool,
}

/// A page of commissions, and the next page's address.
#[derive(Serialize)]
struct Rows {
    commissions: View<Vec<CommissionView>>,
    next_page: Option<String>,
}

impl Rows {
    fn none() -> Self {
        Rows {
            commissions: View(Vec::new()),
            next_page: None,
        }
    }
}

#[handler]
async fn export(portal: Portal, state: Data<&AppState>, Query(form): Query<TableForm>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let csv = match form.query() {
        Ok(q) => commissions::export(&mut conn, &portal.actor, form.partner_id, q).await,
        Err(e) => Err(e),
    };
    Ok(match csv {
        Ok(csv) => csv_response(csv, "commissions.csv"),
        Err(e) => portal.failed(&state, "Commissions", &e),
    })
}

/// Declining a commission, with the reason.
#[derive(Deserialize)]
struct DeclineForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    partner_id: String,
}

#[handler]
async fn decline(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<DeclineForm>,
) -> poem::Result<Response> {
    let reason = form.fields.reason;
    let partner = form.fields.partner_id;
    let mut conn = db(&state).await?;
    Ok(
        match commissions::decline(&mut conn, &state.ctx, &portal.actor, id, &reason).await {
            Ok(()) => noticed(
                &format!("/commissions?partner_id={partner}"),
                Notice::CommissionDeclined,
            ),
            Err(e) => portal.failed(&state, "Commissions", &e),
        },
    )
}

/// A partner's affiliate link: counts the visit, remembers the partner in the browser
/// for the attribution window, and lands the visitor (`AFFILIATE_LANDING_URL`). An
/// unknown or inactive code lands the visitor all the same, remembering nothing.
#[handler]
async fn affiliate_landing(state: Data<&AppState>, Path(code): Path<String>) -> poem::Result<Response> {
    let mut conn = crate::pages::db(&state).await?;
    let partner = partnerdesk_core::earnings::commissions::record_visit(&mut conn, &state.ctx, &code).await;
    let mut resp = redirect(&state.ctx.config.affiliate_landing);
    if let Ok(Some(_)) = partner {
        let cookie =
            crate::affiliate::remember(&state, &code.trim().to_ascii_uppercase(), state.ctx.now().date_naive());
        if let Ok(v) = cookie.parse() {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}
