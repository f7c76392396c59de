//! Orders and invoices: an organization's orders tab, the vendor's invoices desk and one
//! order with its credit notes, and the public payment link.

use partnerdesk_core::{
    Error as CoreError, commerce::orders, earnings::payouts, platform::money::Currency, platform::money::fixed2,
    platform::values::InvoiceStatus,
};
use poem::{Response, Route, get, handler, http::StatusCode, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{commerce::orders::InvoiceView, commerce::orders::OrderView};
use crate::pages::context::{Failed, Message, View, views};
use crate::pages::{
    NoticeQuery, db, desk::Desk, desk::ListQuery, error_page, form::Form, notice::Notice, notice::noticed, page,
    portal::Portal, reads, tabs::Tab, unavailable,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/orders", get(orders_tab))
        .at("/vendor/invoices", get(invoices))
        .at("/vendor/invoices/:id/paid", post(mark_paid))
        .at("/vendor/orders/:id", get(order))
        .at("/vendor/invoices/:id/credit-notes", post(refund))
        .at("/pay/:token", get(payment_page).post(payment_submit))
}

const INVOICES: Desk = Desk {
    path: "/vendor/invoices",
    template: "commerce/vendor_invoices",
};

/// Invoices, read from the replica when there is one: open ones by default, every one
/// for `all`.
async fn invoices_of(
    portal: &Portal,
    state: &AppState,
    status: Option<&str>,
) -> poem::Result<Result<InvoicesPage, CoreError>> {
    let mut conn = reads(state).await?;
    let status = status.map_or(Some(InvoiceStatus::Open), InvoiceStatus::parse);
    Ok(orders::list_invoices(&mut conn, &portal.actor, status)
        .await
        .map(|list| InvoicesPage {
            status: status.map_or("all", |s| s.as_str()),
            invoices: views(list),
        }))
}

/// Vendor finance's invoices, by status ("all" for every one).
#[derive(Serialize)]
struct InvoicesPage {
    status: &'static str,
    invoices: View<Vec<InvoiceView>>,
}

/// An organization's orders.
#[derive(Serialize)]
struct OrdersTab {
    orders: View<Vec<OrderView>>,
}

/// One order, for vendor finance.
#[derive(Serialize)]
struct OrderPage {
    order: View<OrderView>,
}

#[handler]
async fn orders_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let loaded = orders::list(&mut conn, &state.ctx, &portal.actor, id)
        .await
        .map(|list| OrdersTab { orders: views(list) });
    Ok(Tab::new(&portal, &state, id, ("/orders", "commerce/org_orders"))
        .show(&mut conn, q.notice, loaded)
        .await)
}

#[handler]
async fn invoices(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = invoices_of(&portal, &state, q.status.as_deref()).await?;
    Ok(INVOICES.show(&portal, &state, q.notice, loaded))
}

/// Marking an invoice paid, with the bank's reference.
#[derive(Deserialize)]
struct MarkPaidForm {
    #[serde(default)]
    reference: String,
}

#[handler]
async fn mark_paid(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<MarkPaidForm>,
) -> poem::Result<Response> {
    let reference = form.fields.reference;
    let result = orders::mark_paid(&mut *db(&state).await?, &state.ctx, &portal.actor, id, &reference).await;
    let shown = Failed { failed: id };
    INVOICES
        .answer(&portal, &state, result, Notice::InvoicePaid, shown, || {
            invoices_of(&portal, &state, None)
        })
        .await
}

#[handler]
async fn order(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match orders::get(&mut conn, &state.ctx, &portal.actor, id).await {
        Ok(o) => portal.render_noticed(
            &state,
            "commerce/vendor_order",
            q.notice,
            OrderPage { order: View(o.into()) },
        ),
        Err(e) => portal.failed(&state, "Order", &e),
    })
}

/// A credit note on one order line: the amount and the reason.
#[derive(Deserialize)]
struct RefundForm {
    order_line_id: Option<String>,
    order_id: Option<String>,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

#[handler]
async fn refund(
    portal: Portal,
    state: Data<&AppState>,
    Path(invoice): Path<Uuid>,
    form: Form<RefundForm>,
) -> poem::Result<Response> {
    let line = form
        .fields
        .order_line_id
        .and_then(|l| Uuid::parse_str(&l).ok())
        .unwrap_or_default();
    let order_id = form
        .fields
        .order_id
        .and_then(|o| Uuid::parse_str(&o).ok())
        .unwrap_or_default();
    let (amount, reason) = (form.fields.amount, form.fields.reason);
    let mut conn = db(&state).await?;
    Ok(
        match payouts::refund(
            &mut conn,
            &state.ctx,
            &portal.actor,
            invoice.into(),
            line.into(),
            // A typed amount may carry spaces around it; the API takes it exactly.
            amount.trim(),
            &reason,
        )
        .await
        {
            Ok(_) => noticed(&format!("/vendor/orders/{order_id}"), Notice::Refunded),
            Err(e) => portal.failed(&state, "Refund", &e),
        },
    )
}

/// The invoice a payment link shows: who, what, how much, and whether it can be paid
/// online.
#[derive(Serialize)]
struct PaymentContext<'a> {
    customer: &'a str,
    order_number: i64,
    number: &'a str,
    status: InvoiceStatus,
    currency: Currency,
    amount: String,
    due_on: String,
    paid_on: Option<String>,
    pays_online: bool,
    lines: Vec<PaymentLine<'a>>,
    /// The payment was just made, on this answer.
    just_paid: bool,
}

#[derive(Serialize)]
struct PaymentLine<'a> {
    description: &'a str,
    quantity: i32,
    unit_price: String,
    amount: String,
    period: String,
}

fn payment_context(p: &orders::PaymentPage) -> PaymentContext<'_> {
    let day = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d").to_string();
    PaymentContext {
        customer: &p.customer,
        order_number: p.order_number,
        number: &p.invoice.number,
        status: p.invoice.status,
        currency: p.invoice.currency,
        amount: fixed2(p.invoice.amount),
        due_on: day(p.invoice.due_at),
        paid_on: p.invoice.paid_at.map(day),
        pays_online: p.pays_online,
        lines: p
            .lines
            .iter()
            .map(|l| PaymentLine {
                description: &l.description,
                quantity: l.quantity,
                unit_price: fixed2(l.unit_price),
                amount: fixed2(l.amount),
                period: format!("{} – {}", l.period_start, l.period_end),
            })
            .collect(),
        just_paid: false,
    }
}

#[handler]
async fn payment_page(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = orders::payment_page(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(p) => page(&state, StatusCode::OK, "commerce/invoice", payment_context(&p)),
        Err(e) => error_page(&state, "message", Message::titled("Invoice"), &e),
    }
}

#[handler]
async fn payment_submit(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let paid = orders::pay(&mut conn, &state.ctx, &token).await;
    match (paid, orders::payment_page(&mut conn, &state.ctx, &token).await) {
        (Ok(_), Ok(p)) => page(
            &state,
            StatusCode::OK,
            "commerce/invoice",
            PaymentContext {
                just_paid: true,
                ..payment_context(&p)
            },
        ),
        (Err(e), Ok(p)) => error_page(&state, "commerce/invoice", payment_context(&p), &e),
        (_, Err(e)) => error_page(&state, "message", Message::titled("Invoice"), &e),
    }
}
