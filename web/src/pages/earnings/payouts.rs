//! Payouts: a partner's list and statements, and vendor finance's desk to create them
//! and mark them paid.

use chrono::NaiveDate;
use partnerdesk_core::{Error as CoreError, earnings::payouts, platform::money::Currency, platform::money::fixed2};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{earnings::CommissionView, earnings::PayoutView};
use crate::pages::context::{View, views};
use crate::pages::{NoticeQuery, csv_response, db, form::Form, notice::Notice, notice::noticed, portal::Portal, reads};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/payouts", get(payout_list))
        .at("/payouts/:id", get(payout))
        .at("/payouts/:id/export", get(payout_csv))
        .at("/vendor/payouts", get(finance_payouts).post(create_payouts))
        .at("/vendor/payouts/:id/paid", post(payout_paid))
}

/// A partner's payouts.
#[derive(Serialize)]
struct PayoutsPage {
    payouts: View<Vec<PayoutView>>,
}

#[handler]
async fn payout_list(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    Ok(match payouts::list(&mut conn, &portal.actor, portal.org()).await {
        Ok(list) => portal.render(&state, "earnings/payouts", PayoutsPage { payouts: views(list) }),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

/// One payout and the commissions it pays.
#[derive(Serialize)]
struct PayoutPage {
    payout: View<PayoutView>,
    commissions: View<Vec<CommissionView>>,
}

#[handler]
async fn payout(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match payouts::get(&mut conn, &portal.actor, id).await {
        Ok((p, lines)) => {
            let ctx = PayoutPage {
                payout: View(p.into()),
                commissions: views(lines),
            };
            portal.render(&state, "earnings/payout", ctx)
        }
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

#[handler]
async fn payout_csv(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    Ok(match payouts::csv(&mut conn, &portal.actor, id).await {
        Ok(csv) => csv_response(csv, &format!("payout-{id}.csv")),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

/// Vendor finance's payouts: what is due per partner, and the payouts made.
#[derive(Serialize)]
struct FinancePage {
    due: Vec<Due>,
    payouts: View<Vec<PayoutView>>,
    /// The default "up to" date.
    today: NaiveDate,
}

/// A partner's approved commissions not yet paid out.
#[derive(Serialize)]
struct Due {
    partner_id: Uuid,
    name: String,
    currency: Currency,
    amount: String,
    commissions: i64,
}

async fn finance_ctx(portal: &Portal, state: &AppState) -> poem::Result<Result<FinancePage, CoreError>> {
    let mut conn = db(state).await?;
    let due = match payouts::due(&mut conn, &portal.actor).await {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let list = payouts::list(&mut conn, &portal.actor, None).await;
    let due = due
        .into_iter()
        .map(|d| Due {
            partner_id: d.partner_id,
            name: d.name,
            currency: d.currency,
            amount: fixed2(d.amount),
            commissions: d.commissions,
        })
        .collect();
    Ok(list.map(|list| FinancePage {
        due,
        payouts: views(list),
        today: state.ctx.now().date_naive(),
    }))
}

#[handler]
async fn finance_payouts(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    Ok(match finance_ctx(&portal, &state).await? {
        Ok(ctx) => portal.render_noticed(&state, "earnings/vendor_payouts", q.notice, ctx),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

/// The create-payouts form: which partner, commissions approved up to which date.
#[derive(Deserialize)]
struct CreatePayoutsForm {
    partner_id: Option<String>,
    up_to: Option<String>,
}

#[handler]
async fn create_payouts(
    portal: Portal,
    state: Data<&AppState>,
    form: Form<CreatePayoutsForm>,
) -> poem::Result<Response> {
    let partner = form.fields.partner_id.and_then(|p| Uuid::parse_str(&p).ok());
    let up_to = form
        .fields
        .up_to
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let mut conn = db(&state).await?;
    let made = match (partner, up_to) {
        (Some(p), Some(d)) => payouts::create(&mut conn, &state.ctx, &portal.actor, p, d).await,
        _ => Err(CoreError::field("up_to", "invalid_date", "Enter a date as YYYY-MM-DD")),
    };
    drop(conn);
    Ok(match made {
        Ok(_) => noticed("/vendor/payouts", Notice::PayoutCreated),
        Err(e) => match finance_ctx(&portal, &state).await? {
            Ok(ctx) => portal.error(&state, "earnings/vendor_payouts", ctx, &e),
            Err(e) => portal.failed(&state, "Payouts", &e),
        },
    })
}

/// Marking a payout paid, with the bank's reference.
#[derive(Deserialize)]
struct PayoutPaidForm {
    #[serde(default)]
    reference: String,
}

#[handler]
async fn payout_paid(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<PayoutPaidForm>,
) -> poem::Result<Response> {
    let reference = form.fields.reference;
    let mut conn = db(&state).await?;
    Ok(
        match payouts::mark_paid(&mut conn, &state.ctx, &portal.actor, id, &reference).await {
            Ok(_) => noticed("/vendor/payouts", Notice::PayoutPaid),
            Err(e) => portal.failed(&state, "Payouts", &e),
        },
    )
}
