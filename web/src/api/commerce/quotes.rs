//! Quotes: every paid activation is priced first and happens when the quote is confirmed.

use chrono::{DateTime, NaiveDate, Utc};
use partnerdesk_core::platform::values::LicenceKind;
use partnerdesk_core::{
    commerce::licences::{self, ItemRequest, Quote},
    commerce::orders::{self},
    commerce::pricing::Line,
    platform::money::Fixed2,
};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, Created, commerce::orders::OrderView};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct QuotesApi;

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
    pub unit_price: Fixed2,
    /// Per month for this line.
    pub monthly_amount: Fixed2,
    /// For the rest of the current month.
    pub amount: Fixed2,
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
            unit_price: Fixed2::from(l.unit_price),
            monthly_amount: Fixed2::from(l.monthly_amount),
            amount: Fixed2::from(l.amount),
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
    pub monthly_total: Fixed2,
    /// What the rest of the current month costs: the amount of the order.
    pub period_total: Fixed2,
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
            monthly_total: Fixed2::from(q.monthly_total),
            period_total: Fixed2::from(q.period_total),
            expires_at: q.expires_at,
            confirmed_at: q.confirmed_at,
            order_id: q.order_id,
        }
    }
}

#[OpenApi(tag = "ApiTags::Licences")]
impl QuotesApi {
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
}
