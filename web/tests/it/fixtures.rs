//! Fixtures the areas' tests share: an app that pays out small sums, the catalogue's
//! modules by code, and buying and paying for licences through the API as a partner and
//! vendor finance would. They answer in the API's own views.

use partnerdesk_web::api::{
    commerce::{catalogue::ModuleView, orders::OrderView, quotes::QuoteView},
    identity::auth::MeView,
    tenancy::{customers::CustomerPage, organizations::OrganizationView},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Client, Options, Resp, TestApp};

/// A test app whose payouts have no minimum worth speaking of, so one order's
/// commission can be paid out.
pub(crate) async fn small_payouts() -> TestApp {
    TestApp::spawn_with(Options {
        extra: vec![("PAYOUT_MINIMUM", "0.01".into())],
        ..Default::default()
    })
    .await
}

/// A module's id by its code, as the API lists it (to the client's organization).
pub(crate) async fn module_id(client: &Client, code: &str) -> Uuid {
    let r = client.get("/api/modules").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view::<Vec<ModuleView>>()
        .into_iter()
        .find(|m| m.code == code)
        .unwrap_or_else(|| panic!("module {code}"))
        .id
}

/// Asks for a quote for `org`; the response as it came.
pub(crate) async fn quote(client: &Client, org: Uuid, items: Value) -> Resp {
    client
        .post(&format!("/api/organizations/{org}/quotes"), json!({ "items": items }))
        .await
}

/// Confirms a quote; the response as it came.
pub(crate) async fn confirm(client: &Client, quote: Uuid) -> Resp {
    client.post(&format!("/api/quotes/{quote}/confirm"), json!({})).await
}

/// Buys for `org` (quote and confirm); returns the order.
pub(crate) async fn buy(client: &Client, org: Uuid, items: Value) -> OrderView {
    let q = quote(client, org, items).await;
    assert_eq!(q.status, 201, "{}", q.body);
    let o = confirm(client, q.view::<QuoteView>().id).await;
    assert_eq!(o.status, 201, "{}", o.body);
    o.view()
}

/// Vendor finance marks the order's invoice paid.
pub(crate) async fn pay(finance: &Client, order: &OrderView) {
    let r = finance
        .post(
            &format!("/api/invoices/{}/mark-paid", order.invoice.id),
            json!({ "reference": "bank" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Who `client` is and whom it acts for (GET /api/me).
pub(crate) async fn me(client: &Client) -> MeView {
    let r = client.get("/api/me").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view()
}

/// Olga Olsen signs up and registers her own company, Olsen Bakery (Denmark), which has
/// no partner yet; returns her, logged in, and the company.
pub(crate) async fn olsen_bakery(app: &TestApp) -> (Client, Uuid) {
    let olga = app
        .sign_up("olga@olsen.example", "Olga", "Olsen", "long enough password")
        .await;
    let r = olga
        .post("/api/organizations", json!({ "name": "Olsen Bakery", "country": "DK" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (olga, r.view::<OrganizationView>().id)
}

/// The companies on a page of My customers (GET /api/customers), in order.
pub(crate) fn companies(page: &Resp) -> Vec<String> {
    page.view::<CustomerPage>()
        .items
        .into_iter()
        .map(|c| c.company)
        .collect()
}

/// An amount or rate the API sent ("12.50") as a Decimal, for arithmetic.
#[track_caller]
pub(crate) fn d(v: impl AsRef<str>) -> rust_decimal::Decimal {
    let v = v.as_ref();
    v.parse().unwrap_or_else(|e| panic!("not a decimal string: {v}: {e}"))
}
