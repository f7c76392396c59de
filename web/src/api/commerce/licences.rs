//! Licences, quotes, credits, trials and orders of an organization.

use chrono::{DateTime, NaiveDate, Utc};
use partnerdesk_core::platform::values::{
    InvoiceStatus, LicenceKind, LicencePlan, OrderSource, OrderStatus, TrialStatus,
};
use partnerdesk_core::{
    commerce::licences::{self, ItemRequest, ModuleLicences, Quote},
    commerce::orders::{self, Invoice, OrderDetails, OrderLine},
    commerce::pricing::Line,
    commerce::trials::{self, Trial, TrialRow},
    platform::money::fixed2,
};
use poem::web::Data;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::api::{ApiTags, Created, commerce::catalogue::ModuleView};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

pub struct LicencesApi;

#[derive(Object, Debug)]
pub struct UserLicenceView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    /// paid or trial.
    pub kind: LicencePlan,
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug)]
pub struct ModuleLicencesView {
    pub module: ModuleView,
    #[oai(nullable)]
    pub business_licence_id: Option<Uuid>,
    /// paid or trial; null without a business licence.
    #[oai(nullable)]
    pub business_kind: Option<LicencePlan>,
    #[oai(nullable)]
    pub business_ends_at: Option<DateTime<Utc>>,
    pub users: Vec<UserLicenceView>,
    /// Credits prepared and not yet assigned (billed already).
    pub free_credits: i64,
}

impl From<ModuleLicences> for ModuleLicencesView {
    fn from(m: ModuleLicences) -> Self {
        ModuleLicencesView {
            module: m.module.into(),
            business_licence_id: m.business_licence_id,
            business_kind: m.business_kind,
            business_ends_at: m.business_ends_at,
            users: m
                .users
                .into_iter()
                .map(|u| UserLicenceView {
                    id: u.id,
                    user_id: u.user_id,
                    email: u.email,
                    kind: u.kind,
                    ends_at: u.ends_at,
                })
                .collect(),
            free_credits: m.free_credits,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum ItemType {
    /// The module's business licence.
    Business,
    /// User licences for `user_ids`, or for every user without one (`all_users`).
    Users,
    /// `quantity` credits: user licences to assign later.
    Credits,
}

#[derive(Object, Debug)]
pub struct QuoteItemRequest {
    #[oai(rename = "type")]
    pub kind: ItemType,
    pub module_id: Uuid,
    #[oai(default)]
    pub user_ids: Vec<Uuid>,
    #[oai(default)]
    pub all_users: bool,
    #[oai(nullable)]
    pub quantity: Option<i32>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct QuoteRequest {
    pub items: Vec<QuoteItemRequest>,
}

impl Example for QuoteRequest {
    fn example() -> Self {
        let module_id = Uuid::nil();
        QuoteRequest {
            items: vec![
                QuoteItemRequest {
                    kind: ItemType::Business,
                    module_id,
                    user_ids: vec![],
                    all_users: false,
                    quantity: None,
                },
                QuoteItemRequest {
                    kind: ItemType::Users,
                    module_id,
                    user_ids: vec![],
                    all_users: true,
                    quantity: None,
                },
            ],
        }
    }
}

#[derive(Object, Debug)]
pub struct LineView {
    pub module_id: Uuid,
    pub module_code: String,
    /// business, user or credit.
    pub licence_kind: LicenceKind,
    pub description: String,
    pub quantity: i32,
    /// Monthly price of one licence.
    pub unit_price: String,
    /// Per month for this line.
    pub monthly_amount: String,
    /// For the rest of the current month.
    pub amount: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

impl From<&Line> for LineView {
    fn from(l: &Line) -> Self {
        LineView {
            module_id: l.module_id,
            module_code: l.module_code.clone(),
            licence_kind: l.licence_kind,
            description: l.description.clone(),
            quantity: l.quantity,
            unit_price: fixed2(l.unit_price),
            monthly_amount: fixed2(l.monthly_amount),
            amount: fixed2(l.amount),
            period_start: l.period_start,
            period_end: l.period_end,
        }
    }
}

#[derive(Object, Debug)]
pub struct QuoteView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub currency: String,
    pub lines: Vec<LineView>,
    /// What it costs per month.
    pub monthly_total: String,
    /// What the rest of the current month costs: the amount of the order.
    pub period_total: String,
    /// Confirm before this; afterwards ask for a new quote.
    pub expires_at: DateTime<Utc>,
    #[oai(nullable)]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub order_id: Option<Uuid>,
}

impl From<Quote> for QuoteView {
    fn from(q: Quote) -> Self {
        QuoteView {
            id: q.id,
            organization_id: q.organization_id,
            currency: q.currency.to_string(),
            lines: q.lines.iter().map(Into::into).collect(),
            monthly_total: fixed2(q.monthly_total),
            period_total: fixed2(q.period_total),
            expires_at: q.expires_at,
            confirmed_at: q.confirmed_at,
            order_id: q.order_id,
        }
    }
}

#[derive(Object, Debug)]
pub struct InvoiceView {
    pub id: Uuid,
    pub number: String,
    pub amount: String,
    pub currency: String,
    /// open, paid or void.
    pub status: InvoiceStatus,
    pub payment_provider: String,
    pub due_at: DateTime<Utc>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<Utc>>,
    pub organization_id: Uuid,
    pub order_id: Uuid,
}

impl From<Invoice> for InvoiceView {
    fn from(i: Invoice) -> Self {
        InvoiceView {
            id: i.id,
            number: i.number,
            amount: fixed2(i.amount),
            currency: i.currency.to_string(),
            status: i.status,
            payment_provider: i.payment_provider,
            due_at: i.due_at,
            paid_at: i.paid_at,
            organization_id: i.organization_id,
            order_id: i.order_id,
        }
    }
}

#[derive(Object, Debug)]
pub struct OrderLineView {
    /// The line's id (refunds and commissions name it).
    pub id: Uuid,
    pub module_id: Uuid,
    pub licence_kind: LicenceKind,
    pub description: String,
    pub quantity: i32,
    pub unit_price: String,
    pub amount: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

impl From<OrderLine> for OrderLineView {
    fn from(l: OrderLine) -> Self {
        OrderLineView {
            id: l.id,
            module_id: l.module_id,
            licence_kind: l.licence_kind,
            description: l.description,
            quantity: l.quantity,
            unit_price: fixed2(l.unit_price),
            amount: fixed2(l.amount),
            period_start: l.period_start,
            period_end: l.period_end,
        }
    }
}

#[derive(Object, Debug)]
pub struct OrderView {
    pub id: Uuid,
    pub number: i64,
    pub organization_id: Uuid,
    #[oai(nullable)]
    pub partner_id: Option<Uuid>,
    /// activation, credits, trial_upgrade or add_products.
    pub source: OrderSource,
    pub currency: String,
    pub total: String,
    /// open, paid, cancelled or refunded.
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
    pub lines: Vec<OrderLineView>,
    pub invoice: InvoiceView,
    /// The public link to the invoice and its payment; copy it to share it.
    pub payment_url: String,
}

impl From<OrderDetails> for OrderView {
    fn from(d: OrderDetails) -> Self {
        OrderView {
            id: d.order.id,
            number: d.order.number,
            organization_id: d.order.organization_id,
            partner_id: d.order.partner_id,
            source: d.order.source,
            currency: d.order.currency.to_string(),
            total: fixed2(d.order.total),
            status: d.order.status,
            created_at: d.order.created_at,
            lines: d.lines.into_iter().map(Into::into).collect(),
            invoice: d.invoice.into(),
            payment_url: d.payment_url,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct AssignCreditsRequest {
    pub module_id: Uuid,
    pub user_ids: Vec<Uuid>,
}

impl Example for AssignCreditsRequest {
    fn example() -> Self {
        AssignCreditsRequest {
            module_id: Uuid::nil(),
            user_ids: vec![Uuid::nil()],
        }
    }
}

#[derive(Object, Debug)]
pub struct AssignedView {
    pub assigned: u64,
}

#[derive(Object, Debug)]
pub struct DeactivatedView {
    /// Licences switched off (a business licence takes its user licences along).
    pub deactivated: u64,
}

#[derive(Object, Debug)]
pub struct TrialView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub module_id: Uuid,
    pub max_users: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// active, ended or upgraded.
    pub status: TrialStatus,
    pub created_at: DateTime<Utc>,
}

impl From<Trial> for TrialView {
    fn from(t: Trial) -> Self {
        TrialView {
            id: t.id,
            organization_id: t.organization_id,
            module_id: t.module_id,
            max_users: t.max_users,
            starts_at: t.starts_at,
            ends_at: t.ends_at,
            status: t.status,
            created_at: t.created_at,
        }
    }
}

/// A page of the trials overview.
#[derive(Object, Debug)]
pub struct TrialOverviewPage {
    pub items: Vec<TrialOverviewRow>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Object, Debug)]
pub struct TrialOverviewRow {
    pub trial_id: Uuid,
    pub organization_id: Uuid,
    pub company: String,
    pub module_code: String,
    pub module_name: String,
    pub users_assigned: i64,
    pub max_users: i32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: TrialStatus,
    pub active: bool,
}

impl From<TrialRow> for TrialOverviewRow {
    fn from(t: TrialRow) -> Self {
        TrialOverviewRow {
            trial_id: t.trial_id,
            organization_id: t.organization_id,
            company: t.company,
            module_code: t.module_code,
            module_name: t.module_name,
            users_assigned: t.users_assigned,
            max_users: t.max_users,
            created_at: t.created_at,
            expires_at: t.expires_at,
            status: t.status,
            active: t.active,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct StartTrialRequest {
    pub module_id: Uuid,
}

impl Example for StartTrialRequest {
    fn example() -> Self {
        StartTrialRequest { module_id: Uuid::nil() }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct TrialUsersRequest {
    pub user_ids: Vec<Uuid>,
}

impl Example for TrialUsersRequest {
    fn example() -> Self {
        TrialUsersRequest {
            user_ids: vec![Uuid::nil()],
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct MarkPaidRequest {
    /// The bank transfer's reference.
    pub reference: String,
}

impl Example for MarkPaidRequest {
    fn example() -> Self {
        MarkPaidRequest {
            reference: "Bank statement 2026-11-21, line 14".into(),
        }
    }
}

#[derive(Object, Debug)]
pub struct PaymentPageView {
    pub invoice: InvoiceView,
    pub customer: String,
    pub order_number: i64,
    pub lines: Vec<OrderLineView>,
    /// Whether POST /payments/{token}/pay takes the payment (otherwise: bank transfer).
    pub pays_online: bool,
}

#[OpenApi(tag = "ApiTags::Licences")]
impl LicencesApi {
    /// Licences of an organization
    ///
    /// Per module: the business licence, the user licences and the free credits.
    #[oai(operation_id = "getLicences", path = "/organizations/:id/licences", method = "get")]
    async fn licences(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<ModuleLicencesView>>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            licences::overview(&mut conn, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Ask what licences cost
    ///
    /// Business licences, user licences (per user or all users) and credits. Returns the
    /// cost per month and for the rest of the current month; nothing happens until the
    /// quote is confirmed.
    #[oai(operation_id = "createQuote", path = "/organizations/:id/quotes", method = "post")]
    async fn quote(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<QuoteRequest>,
    ) -> ApiResult<Created<QuoteView>> {
        let items = body
            .0
            .items
            .into_iter()
            .map(|i| match i.kind {
                ItemType::Business => ItemRequest::Business { module_id: i.module_id },
                ItemType::Users => ItemRequest::Users {
                    module_id: i.module_id,
                    user_ids: i.user_ids,
                    all_users: i.all_users,
                },
                ItemType::Credits => ItemRequest::Credits {
                    module_id: i.module_id,
                    quantity: i.quantity.unwrap_or(0),
                },
            })
            .collect();
        let mut conn = state.conn().await?;
        let q = licences::quote(&mut conn, &state.ctx, &auth.actor, id.0, items).await?;
        Ok(Created::Created(Json(q.into())))
    }

    /// Get a quote
    #[oai(operation_id = "getQuote", path = "/quotes/:id", method = "get")]
    async fn get_quote(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<QuoteView>> {
        let mut conn = state.conn().await?;
        Ok(Json(licences::get_quote(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// Confirm a quote
    ///
    /// Activates what it priced and creates the order and its invoice, all at once.
    /// Refused for someone else's quote (404), when already confirmed, expired, or stale
    /// (prices or licences changed since).
    #[oai(operation_id = "confirmQuote", path = "/quotes/:id/confirm", method = "post")]
    async fn confirm(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Created<OrderView>> {
        let mut conn = state.conn().await?;
        let order = licences::confirm(&mut conn, &state.ctx, &auth.actor, id.0).await?;
        let details = orders::get(&mut conn, &state.ctx, &auth.actor, order.id).await?;
        Ok(Created::Created(Json(details.into())))
    }

    /// Switch off a business licence
    ///
    /// Its user licences and credits go with it.
    #[oai(
        operation_id = "deactivateBusinessLicence",
        path = "/organizations/:id/business-licences/:licence_id/deactivate",
        method = "post"
    )]
    async fn deactivate_business(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        licence_id: Path<Uuid>,
    ) -> ApiResult<Json<DeactivatedView>> {
        let mut conn = state.conn().await?;
        let n = licences::deactivate_business(&mut conn, &state.ctx, &auth.actor, id.0, licence_id.0).await?;
        Ok(Json(DeactivatedView { deactivated: n as u64 }))
    }

    /// Switch off a user licence or credit
    #[oai(
        operation_id = "deactivateUserLicence",
        path = "/organizations/:id/user-licences/:licence_id/deactivate",
        method = "post"
    )]
    async fn deactivate_user(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        licence_id: Path<Uuid>,
    ) -> ApiResult<Json<DeactivatedView>> {
        let mut conn = state.conn().await?;
        licences::deactivate_user_licence(&mut conn, &state.ctx, &auth.actor, id.0, licence_id.0).await?;
        Ok(Json(DeactivatedView { deactivated: 1 }))
    }

    /// Assign credits to users
    ///
    /// Each user takes one free credit of the module; no new cost.
    #[oai(
        operation_id = "assignCredits",
        path = "/organizations/:id/credits/assign",
        method = "post"
    )]
    async fn assign_credits(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<AssignCreditsRequest>,
    ) -> ApiResult<Json<AssignedView>> {
        let mut conn = state.conn().await?;
        let n = licences::assign_credits(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            body.0.module_id,
            &body.0.user_ids,
        )
        .await?;
        Ok(Json(AssignedView { assigned: n as u64 }))
    }

    /// Trials overview (partner)
    ///
    /// The trials of your customers: company, module, users assigned, created, expires,
    /// active; the soonest end first, keyset paging with `cursor`.
    #[oai(operation_id = "listAllTrials", path = "/trials", method = "get")]
    async fn trials_overview(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        active: Query<Option<bool>>,
        #[oai(
            default = "crate::api::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
        #[oai(validator(max_length = 100))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<TrialOverviewPage>> {
        let mut conn = state.read_conn().await?;
        let page = trials::overview(&mut conn, &auth.actor, active.0, limit.0, cursor.0.as_deref()).await?;
        Ok(Json(TrialOverviewPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Trials of an organization
    #[oai(operation_id = "listTrials", path = "/organizations/:id/trials", method = "get")]
    async fn trials(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<Vec<TrialView>>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            trials::for_organization(&mut conn, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Start a trial
    ///
    /// Free, for a limited time (TRIAL_DAYS) and number of users (TRIAL_MAX_USERS), one
    /// per module per customer: the trial business licence.
    #[oai(operation_id = "startTrial", path = "/organizations/:id/trials", method = "post")]
    async fn start_trial(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<StartTrialRequest>,
    ) -> ApiResult<Created<TrialView>> {
        let mut conn = state.conn().await?;
        let t = trials::start(&mut conn, &state.ctx, &auth.actor, id.0, body.0.module_id).await?;
        Ok(Created::Created(Json(t.into())))
    }

    /// Give users a trial licence
    #[oai(
        operation_id = "addTrialUsers",
        path = "/organizations/:id/trials/:trial_id/users",
        method = "post"
    )]
    async fn trial_users(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        trial_id: Path<Uuid>,
        body: Body<TrialUsersRequest>,
    ) -> ApiResult<Json<TrialView>> {
        let mut conn = state.conn().await?;
        let t = trials::assign_users(&mut conn, &state.ctx, &auth.actor, id.0, trial_id.0, &body.0.user_ids).await?;
        Ok(Json(t.into()))
    }

    /// Quote upgrading a trial to paid
    ///
    /// Confirming it keeps every assignment and creates the order.
    #[oai(
        operation_id = "createTrialUpgradeQuote",
        path = "/organizations/:id/trials/:trial_id/upgrade-quote",
        method = "post"
    )]
    async fn upgrade_quote(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        trial_id: Path<Uuid>,
    ) -> ApiResult<Created<QuoteView>> {
        let mut conn = state.conn().await?;
        let q = licences::quote_upgrade(&mut conn, &state.ctx, &auth.actor, id.0, trial_id.0).await?;
        Ok(Created::Created(Json(q.into())))
    }

    /// Orders of an organization
    #[oai(operation_id = "listOrders", path = "/organizations/:id/orders", method = "get")]
    async fn orders(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<Vec<OrderView>>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            orders::list(&mut conn, &state.ctx, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Get an order
    ///
    /// With its invoice and the payment link to copy.
    #[oai(operation_id = "getOrder", path = "/orders/:id", method = "get")]
    async fn order(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<OrderView>> {
        let mut conn = state.conn().await?;
        Ok(Json(
            orders::get(&mut conn, &state.ctx, &auth.actor, id.0).await?.into(),
        ))
    }

    /// Invoices (vendor finance)
    #[oai(operation_id = "listInvoices", path = "/invoices", method = "get")]
    async fn invoices(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        status: Query<Option<InvoiceStatus>>,
    ) -> ApiResult<Json<Vec<InvoiceView>>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            orders::list_invoices(&mut conn, &auth.actor, status.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Record a bank transfer (vendor finance)
    #[oai(operation_id = "markInvoicePaid", path = "/invoices/:id/mark-paid", method = "post")]
    async fn mark_paid(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<MarkPaidRequest>,
    ) -> ApiResult<Json<InvoiceView>> {
        let mut conn = state.conn().await?;
        Ok(Json(
            orders::mark_paid(&mut conn, &state.ctx, &auth.actor, id.0, &body.0.reference)
                .await?
                .into(),
        ))
    }

    /// The invoice behind a payment link (public)
    #[oai(operation_id = "getPayment", path = "/payments/:token", method = "get")]
    async fn payment(&self, state: Data<&AppState>, token: Path<String>) -> ApiResult<Json<PaymentPageView>> {
        let mut conn = state.conn().await?;
        let p = orders::payment_page(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(PaymentPageView {
            customer: p.customer,
            order_number: p.order_number,
            pays_online: p.pays_online,
            lines: p.lines.into_iter().map(Into::into).collect(),
            invoice: p.invoice.into(),
        }))
    }

    /// Pay through a payment link (public)
    ///
    /// With an online payment provider; with bank transfer this answers 409
    /// `pay_by_bank_transfer` with the instructions. Paying twice is refused.
    #[oai(operation_id = "pay", path = "/payments/:token/pay", method = "post")]
    async fn pay(&self, state: Data<&AppState>, token: Path<String>) -> ApiResult<Json<InvoiceView>> {
        let mut conn = state.conn().await?;
        Ok(Json(orders::pay(&mut conn, &state.ctx, &token.0).await?.into()))
    }
}
