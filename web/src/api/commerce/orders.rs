//! Orders, their invoices, and paying them through the payment link.

use chrono::{DateTime, NaiveDate, Utc};
use partnerdesk_core::platform::values::{InvoiceStatus, LicenceKind, OrderSource, OrderStatus};
use partnerdesk_core::{
    commerce::orders::{self, Invoice, OrderDetails, OrderLine},
    platform::money::Fixed2,
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::api::ApiTags;
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct OrdersApi;

#[derive(Object, Debug)]
pub struct InvoiceView {
    pub id: Uuid,
    pub number: String,
    pub amount: Fixed2,
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
            amount: Fixed2::from(i.amount),
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
    pub unit_price: Fixed2,
    pub amount: Fixed2,
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
            unit_price: Fixed2::from(l.unit_price),
            amount: Fixed2::from(l.amount),
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
    pub total: Fixed2,
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
            total: Fixed2::from(d.order.total),
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
impl OrdersApi {
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
