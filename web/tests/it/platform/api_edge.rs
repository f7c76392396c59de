//! The API edge as a new user meets it: misspelt fields, wrong enum values, sloppy
//! amounts and out-of-range page sizes are refused with the field named.

use partnerdesk_web::api::tenancy::customers::{CustomerPage, CustomerView};
use serde_json::json;

use crate::{
    fixtures::quote,
    harness::{Problem, TestApp},
};

#[tokio::test(flavor = "multi_thread")]
async fn a_misspelt_field_is_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post(
            "/api/customers",
            json!({ "name": "Visser Transport", "active": true, "commission_rate": "15", "contry": "NL" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let errors = r.field_errors();
    assert_eq!(errors[0].pair(), ("contry", "unknown_field"));
    assert!(errors[0].message.contains("`country`"), "{errors:?}");
    // Nothing was created on the way.
    let list = anna.get("/api/customers?q=Visser").await;
    assert!(list.view::<CustomerPage>().items.is_empty(), "{}", list.body);

    // Nested objects and list items are checked too.
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let r = quote(
        &anna,
        jansen,
        json!([{ "type": "business", "module_id": uuid::Uuid::nil(), "quantty": 2 }]),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["items[0].quantty"], "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_enum_value_lists_the_allowed_values() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna.get("/api/customers?status=everything").await;
    r.assert_problem(400, "invalid_parameter");
    assert_eq!(r.error_fields(), ["status"]);
    let message = &r.field_errors()[0].message;
    for allowed in ["active", "inactive", "both"] {
        assert!(message.contains(allowed), "{message}");
    }
    let r = anna.get("/api/customers?sort=size").await;
    let error = &r.field_errors()[0];
    assert_eq!(error.code, "invalid_value", "{}", r.body);
    assert!(error.message.contains("expiry"));
}

#[tokio::test(flavor = "multi_thread")]
async fn amounts_are_plain_decimals_with_at_most_two_places() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    for sloppy in ["1e2", " 12.50 ", "12.505", "+12", "1_0", "12,50", "-1"] {
        let r = anna
            .post(
                "/api/customers",
                json!({ "name": "Visser Transport", "active": true, "commission_rate": sloppy }),
            )
            .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), ["commission_rate"], "{sloppy:?}: {}", r.body);
        assert_eq!(r.field_errors()[0].code, "invalid_rate", "{sloppy:?}");
    }
    let r = anna
        .post(
            "/api/customers",
            json!({ "name": "Visser Transport", "active": true, "commission_rate": "12.5" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.view::<CustomerView>().commission_rate, "12.50");
}

#[tokio::test(flavor = "multi_thread")]
async fn page_sizes_out_of_range_are_refused_not_clamped() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    for path in [
        "/api/customers?limit=0".to_owned(),
        "/api/customers?limit=201".to_owned(),
        format!("/api/organizations/{northwind}/audit?limit=1000"),
    ] {
        let r = anna.get(&path).await;
        r.assert_problem(400, "invalid_parameter");
        assert_eq!(r.parse::<Problem>().field.as_deref(), Some("limit"), "{path}");
        assert_eq!(r.error_fields(), ["limit"], "{path}");
        assert_eq!(r.field_errors()[0].code, "out_of_range", "{path}");
    }
    assert_eq!(anna.get("/api/customers?limit=200").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_staff_acting_on_an_organization_that_does_not_exist_get_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.demo("admin@vendor.example").await;
    let nowhere = uuid::Uuid::now_v7();
    let url = format!("/api/organizations/{nowhere}/integrations");
    admin
        .post(&url, json!({ "kind": "crm", "name": "CRM", "settings": {} }))
        .await
        .assert_problem(404, "not_found");
    admin.get(&url).await.assert_problem(404, "not_found");
    admin
        .get(&format!("/api/organizations/{nowhere}/users"))
        .await
        .assert_problem(404, "not_found");
}

/// Strict input: amounts and rates are plain decimal strings, exactly as typed (no
/// spaces, no JSON numbers), and text fields take strings only (a boolean or a number is
/// not stored as its text).
#[tokio::test(flavor = "multi_thread")]
async fn amounts_rates_and_text_are_strings_exactly() {
    let app = TestApp::spawn().await;
    let finance = app.demo("finance@vendor.example").await;
    let sales = app.demo("sales@vendor.example").await;
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let notes = format!("/api/invoices/{}/credit-notes", uuid::Uuid::now_v7());
    let line = uuid::Uuid::now_v7();
    for (amount, code) in [(json!(" 1.00 "), "invalid_amount"), (json!(5), "invalid_type")] {
        let r = finance
            .post(
                &notes,
                json!({ "order_line_id": line, "amount": amount, "reason": "cancelled" }),
            )
            .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.field_errors()[0].pair(), ("amount", code), "{amount}: {}", r.body);
    }
    let r = sales
        .patch(
            &format!("/api/partners/{northwind}"),
            json!({ "default_commission_rate": 12.5 }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].pair(), ("default_commission_rate", "invalid_type"));
    let r = anna.post("/api/organizations", json!({ "name": false })).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].pair(), ("name", "invalid_type"));
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE name = 'false'")
            .await,
        0
    );
    // The same fields as strings go through.
    let r = anna.post("/api/organizations", json!({ "name": "false" })).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
