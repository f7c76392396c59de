//! Commissions: the partner's dashboard, affiliate figures, the commission table and
//! payouts; finance's refunds, declines and payouts.

use chrono::{DateTime, NaiveDate, Utc};
use partnerdesk_core::{
    earnings::commissions::{self, Commission, Dashboard, Kind, ListQuery, State},
    earnings::payouts::{self, CreditNote, Due, Payout},
    platform::money::Fixed2,
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
    types::Example,
};
use uuid::Uuid;

use super::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct CommissionsApi;

#[derive(Object, Debug)]
pub struct DashboardView {
    /// Customers in My customers.
    pub customers: i64,
    pub open_invitations: i64,
    /// Customers with a paid business licence in use.
    pub active_customers: i64,
    pub customers_in_trial: i64,
    /// Everything earned, not reversed or declined, clawbacks deducted. Two decimals.
    pub total_commission: Fixed2,
    pub paid_commission: Fixed2,
    /// Pending and approved, not yet paid.
    pub open_commission: Fixed2,
}

impl From<Dashboard> for DashboardView {
    fn from(d: Dashboard) -> Self {
        DashboardView {
            customers: d.customers,
            open_invitations: d.open_invitations,
            active_customers: d.active_customers,
            customers_in_trial: d.customers_in_trial,
            total_commission: Fixed2::from(d.total_commission),
            paid_commission: Fixed2::from(d.paid_commission),
            open_commission: Fixed2::from(d.open_commission),
        }
    }
}

#[derive(Object, Debug)]
pub struct AffiliateView {
    /// The link to share; following it counts a visit and remembers the partner for the
    /// attribution window.
    pub affiliate_link: String,
    pub visits: i64,
    /// Organizations created through the link.
    pub sign_ups: i64,
    /// Of those, the ones that paid an order.
    pub paying_customers: i64,
}

#[derive(Object, Debug)]
pub struct CommissionView {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub customer_id: Uuid,
    pub customer: String,
    pub order_id: Uuid,
    pub order_number: i64,
    pub order_line_id: Uuid,
    /// What the line bought.
    pub description: String,
    /// partner, affiliate or self.
    #[oai(rename = "type")]
    pub kind: Kind,
    /// For a clawback: the paid commission it takes back from.
    #[oai(nullable)]
    pub clawback_of: Option<Uuid>,
    pub currency: String,
    /// The line's amount less its refunds (negative for a clawback). Two decimals.
    pub base_amount: Fixed2,
    /// Percent, two decimals.
    pub rate: Fixed2,
    /// base × rate / 100, rounded half away from zero to cents.
    pub amount: Fixed2,
    /// pending, approved, paid, reversed or declined.
    pub state: State,
    /// When the order was paid.
    pub earned_at: DateTime<Utc>,
    /// When a pending commission is approved.
    pub approve_after: DateTime<Utc>,
    #[oai(nullable)]
    pub decline_reason: Option<String>,
    #[oai(nullable)]
    pub payout_id: Option<Uuid>,
}

impl From<Commission> for CommissionView {
    fn from(c: Commission) -> Self {
        CommissionView {
            id: c.id,
            partner_id: c.partner_id,
            customer_id: c.customer_id,
            customer: c.customer,
            order_id: c.order_id,
            order_number: c.order_number,
            order_line_id: c.order_line_id,
            description: c.description,
            kind: c.kind,
            clawback_of: c.clawback_of,
            currency: c.currency.to_string(),
            base_amount: Fixed2::from(c.base_amount),
            rate: Fixed2::from(c.rate),
            amount: Fixed2::from(c.amount),
            state: c.state,
            earned_at: c.earned_at,
            approve_after: c.approve_after,
            decline_reason: c.decline_reason,
            payout_id: c.payout_id,
        }
    }
}

#[derive(Object, Debug)]
pub struct CommissionPage {
    pub items: Vec<CommissionView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// What a partner could be paid now in one currency: its approved commissions not yet in
/// a payout.
#[derive(Object, Debug)]
pub struct DueView {
    pub partner_id: Uuid,
    pub partner: String,
    pub currency: String,
    /// Their sum (clawbacks deducted). Two decimals.
    pub amount: Fixed2,
    /// How many commissions (and clawbacks) make it up.
    pub commissions: i64,
    /// When the oldest of them was earned.
    pub oldest: DateTime<Utc>,
}

impl From<Due> for DueView {
    fn from(d: Due) -> Self {
        DueView {
            partner_id: d.partner_id,
            partner: d.name,
            currency: d.currency.as_str().to_owned(),
            amount: d.amount.into(),
            commissions: d.commissions,
            oldest: d.oldest,
        }
    }
}

#[derive(Object, Debug)]
pub struct PayoutView {
    pub id: Uuid,
    pub number: i64,
    pub partner_id: Uuid,
    pub currency: String,
    /// Two decimals; clawbacks deducted.
    pub amount: Fixed2,
    /// Approved commissions earned up to this day are in it.
    pub up_to: NaiveDate,
    pub status: partnerdesk_core::earnings::payouts::PayoutStatus,
    #[oai(nullable)]
    pub reference: Option<String>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Payout> for PayoutView {
    fn from(p: Payout) -> Self {
        PayoutView {
            id: p.id,
            number: p.number,
            partner_id: p.partner_id,
            currency: p.currency.to_string(),
            amount: Fixed2::from(p.amount),
            up_to: p.up_to,
            status: p.status,
            reference: p.reference,
            paid_at: p.paid_at,
            created_at: p.created_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct PayoutDetailView {
    pub payout: PayoutView,
    pub commissions: Vec<CommissionView>,
}

#[derive(Object, Debug)]
pub struct CreditNoteView {
    pub id: Uuid,
    pub number: String,
    pub invoice_id: Uuid,
    pub order_line_id: Uuid,
    pub amount: Fixed2,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<CreditNote> for CreditNoteView {
    fn from(n: CreditNote) -> Self {
        CreditNoteView {
            id: n.id,
            number: n.number,
            invoice_id: n.invoice_id,
            order_line_id: n.order_line_id,
            amount: Fixed2::from(n.amount),
            reason: n.reason,
            created_at: n.created_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct DeclineRequest {
    /// Shown to the partner.
    pub reason: String,
}

impl Example for DeclineRequest {
    fn example() -> Self {
        DeclineRequest {
            reason: "The order was placed by the partner's own staff".into(),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct RefundRequest {
    pub order_line_id: Uuid,
    /// How much of the line to refund, two decimals at most.
    pub amount: String,
    pub reason: String,
}

impl Example for RefundRequest {
    fn example() -> Self {
        RefundRequest {
            order_line_id: Uuid::nil(),
            amount: "12.50".into(),
            reason: "Licence cancelled within the first week".into(),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct CreatePayoutRequest {
    pub partner_id: Uuid,
    /// Approved commissions earned up to and including this day.
    pub up_to: NaiveDate,
}

impl Example for CreatePayoutRequest {
    fn example() -> Self {
        CreatePayoutRequest {
            partner_id: Uuid::nil(),
            up_to: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or_default(),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct PayoutPaidRequest {
    /// The bank transfer's reference.
    pub reference: String,
}

impl Example for PayoutPaidRequest {
    fn example() -> Self {
        PayoutPaidRequest {
            reference: "SEPA 2026-11-30 batch 7".into(),
        }
    }
}

/// A CSV file.
#[derive(ApiResponse)]
pub enum CsvFile {
    /// The file (UTF-8, RFC 4180; formula-like cells neutralized).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

fn list_query(
    kind: Option<Kind>,
    state: Option<State>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: i64,
    cursor: Option<String>,
) -> ListQuery {
    ListQuery {
        kind,
        state,
        from,
        to,
        limit,
        cursor,
    }
}

#[OpenApi(tag = "ApiTags::Commissions")]
impl CommissionsApi {
    /// Partner dashboard
    ///
    /// Your customers, open invitations, active customers (a paid licence in use),
    /// customers in trial, and commission: total, paid, open. Needs "manage partner
    /// portal". The commission figures are the sums of the commission table.
    #[oai(operation_id = "getDashboard", path = "/partner/dashboard", method = "get")]
    async fn dashboard(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<DashboardView>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            commissions::dashboard(&mut conn, &state.ctx, &auth.actor).await?.into(),
        ))
    }

    /// Affiliate link and figures
    #[oai(operation_id = "getAffiliate", path = "/partner/affiliate", method = "get")]
    async fn affiliate(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<AffiliateView>> {
        let mut conn = state.conn().await?;
        let f = commissions::affiliate_figures(&mut conn, &auth.actor).await?;
        Ok(Json(AffiliateView {
            affiliate_link: partnerdesk_core::platform::links::affiliate(&state.ctx.config, &f.affiliate_code),
            visits: f.visits,
            sign_ups: f.sign_ups,
            paying_customers: f.paying_customers,
        }))
    }

    /// Commission table
    ///
    /// Your commissions (or, for vendor finance, a partner's: `partner_id`), newest
    /// first; filter by type, state and the day earned (`from`, `to`, inclusive); keyset
    /// paging with `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[oai(operation_id = "listCommissions", path = "/commissions", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        partner_id: Query<Option<Uuid>>,
        #[oai(name = "type")] kind: Query<Option<Kind>>,
        #[oai(name = "state")] commission_state: Query<Option<State>>,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
        #[oai(
            default = "super::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<CommissionPage>> {
        let mut conn = state.read_conn().await?;
        let q = list_query(kind.0, commission_state.0, from.0, to.0, limit.0, cursor.0);
        let page = commissions::list(&mut conn, &auth.actor, partner_id.0, q).await?;
        Ok(Json(CommissionPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Commission table as CSV
    ///
    /// The same filters as the table; every row, formula-safe.
    #[oai(operation_id = "exportCommissions", path = "/commissions/export", method = "get")]
    async fn export(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        partner_id: Query<Option<Uuid>>,
        #[oai(name = "type")] kind: Query<Option<Kind>>,
        #[oai(name = "state")] commission_state: Query<Option<State>>,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
    ) -> ApiResult<CsvFile> {
        let mut conn = state.read_conn().await?;
        let q = list_query(kind.0, commission_state.0, from.0, to.0, 0, None);
        let csv = commissions::export(&mut conn, &auth.actor, partner_id.0, q).await?;
        Ok(CsvFile::Csv(
            Binary(csv),
            "attachment; filename=\"commissions.csv\"".into(),
        ))
    }

    /// Decline a pending commission (finance)
    #[oai(
        operation_id = "declineCommission",
        path = "/commissions/:id/decline",
        method = "post"
    )]
    async fn decline(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<DeclineRequest>,
    ) -> ApiResult<super::NoContent> {
        let mut conn = state.conn().await?;
        commissions::decline(&mut conn, &state.ctx, &auth.actor, id.0, &body.0.reason).await?;
        Ok(super::NoContent::NoContent)
    }

    /// Refund part of a paid invoice (finance)
    ///
    /// A credit note for (part of) one order line. The line's commission is reduced, or
    /// reversed when nothing is left; if it was already paid out, an approved negative
    /// clawback is deducted from the partner's next payout. A line refunded in full
    /// switches off what it bought (a business licence with the module's user licences,
    /// or the line's user licences and credits), which is then billed no more.
    #[oai(
        operation_id = "refundInvoiceLine",
        path = "/invoices/:id/credit-notes",
        method = "post"
    )]
    async fn refund(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<RefundRequest>,
    ) -> ApiResult<Created<CreditNoteView>> {
        let mut conn = state.conn().await?;
        let b = body.0;
        let note = payouts::refund(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            b.order_line_id.into(),
            &b.amount,
            &b.reason,
        )
        .await?;
        Ok(Created::Created(Json(note.into())))
    }

    /// Payouts
    ///
    /// Yours (with "manage partner portal"), or for vendor finance everyone's, or one
    /// partner's with `partner_id`. Newest first.
    #[oai(operation_id = "listPayouts", path = "/payouts", method = "get")]
    async fn payouts(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        partner_id: Query<Option<Uuid>>,
    ) -> ApiResult<Json<Vec<PayoutView>>> {
        let mut conn = state.read_conn().await?;
        let list = payouts::list(&mut conn, &auth.actor, partner_id.0).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// What is due per partner (finance)
    ///
    /// Every partner with approved commissions not yet in a payout, per currency: the
    /// amount, how many commissions, and when the oldest was earned. By partner name.
    #[oai(operation_id = "listDuePayouts", path = "/payouts/due", method = "get")]
    async fn due(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<DueView>>> {
        let mut conn = state.read_conn().await?;
        let due = payouts::due(&mut conn, &auth.actor).await?;
        Ok(Json(due.into_iter().map(Into::into).collect()))
    }

    /// Create payouts (finance)
    ///
    /// For one partner: its approved commissions earned up to `up_to`, clawbacks
    /// included, one payout per currency that reaches the payout minimum.
    #[oai(operation_id = "createPayouts", path = "/payouts", method = "post")]
    async fn create_payouts(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<CreatePayoutRequest>,
    ) -> ApiResult<Created<Vec<PayoutView>>> {
        let mut conn = state.conn().await?;
        let made = payouts::create(&mut conn, &state.ctx, &auth.actor, body.0.partner_id, body.0.up_to).await?;
        Ok(Created::Created(Json(made.into_iter().map(Into::into).collect())))
    }

    /// A payout and its commissions
    #[oai(operation_id = "getPayout", path = "/payouts/:id", method = "get")]
    async fn payout(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<PayoutDetailView>> {
        let mut conn = state.conn().await?;
        let (payout, lines) = payouts::get(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(PayoutDetailView {
            payout: payout.into(),
            commissions: lines.into_iter().map(Into::into).collect(),
        }))
    }

    /// A payout as CSV
    #[oai(operation_id = "exportPayout", path = "/payouts/:id/export", method = "get")]
    async fn payout_csv(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<CsvFile> {
        let mut conn = state.read_conn().await?;
        let csv = payouts::csv(&mut conn, &auth.actor, id.0).await?;
        Ok(CsvFile::Csv(
            Binary(csv),
            format!("attachment; filename=\"payout-{}.csv\"", id.0),
        ))
    }

    /// Mark a payout paid (finance)
    #[oai(operation_id = "markPayoutPaid", path = "/payouts/:id/mark-paid", method = "post")]
    async fn mark_paid(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<PayoutPaidRequest>,
    ) -> ApiResult<Json<PayoutView>> {
        let mut conn = state.conn().await?;
        let p = payouts::mark_paid(&mut conn, &state.ctx, &auth.actor, id.0, &body.0.reference).await?;
        Ok(Json(p.into()))
    }
}
