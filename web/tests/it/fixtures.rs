//! Fixtures the areas' tests share: an app that pays out small sums, the catalogue's
//! modules by code, and buying and paying for licences through the API as a partner and
//! vendor finance would.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Client, Options, TestApp};

/// A test app whose payouts have no minimum worth speaking of, so one order's
/// commission can be paid out.
pub(crate) async fn small_payouts() -> TestApp {
    TestApp::spawn_with(Options {
        extra: vec![("PAYOUT_MINIMUM", "0.01".into())],
        ..Default::default()
    })
    .await
}

/// A module's id by its code, as the API lists it.
pub(crate) async fn module_id(client: &Client, code: &str) -> String {
    let modules = client.get("/api/modules").await.body;
    modules
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == code)
        .unwrap_or_else(|| panic!("module {code}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Buys for `org` (quote and confirm); returns the order.
pub(crate) async fn buy(client: &Client, org: Uuid, items: Value) -> Value {
    let q = client
        .post(&format!("/api/organizations/{org}/quotes"), json!({ "items": items }))
        .await;
    assert_eq!(q.status, 201, "{}", q.body);
    let o = client
        .post(
            &format!("/api/quotes/{}/confirm", q.body["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.body);
    o.body
}

/// Vendor finance marks the order's invoice paid.
pub(crate) async fn pay(finance: &Client, order: &Value) {
    let r = finance
        .post(
            &format!("/api/invoices/{}/mark-paid", order["invoice"]["id"].as_str().unwrap()),
            json!({ "reference": "bank" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
