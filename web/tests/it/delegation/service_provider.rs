//! My service provider: a customer chooses a partner by code, removes it, and decides
//! what the partner may do; both sides are e-mailed and every change is audited.

use partnerdesk_core::platform::{authz::Permission, values::CustomerOrigin};
use partnerdesk_web::api::{
    delegation::{ServiceProviderState, ServiceProviderView},
    tenancy::{audit::AuditEntryView, customers::CustomerView},
};
use serde_json::json;

use crate::{fixtures::olsen_bakery, harness::TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_chooses_and_drops_a_partner_by_code() {
    let app = TestApp::spawn().await;
    let (olga, org) = olsen_bakery(&app).await;
    let url = format!("/api/organizations/{org}/service-provider");
    // The wire shape: without a service provider the field is absent (not null).
    assert_eq!(olga.get(&url).await.body, json!({}), "no service provider yet");

    olga.put(&url, json!({ "partner_code": "NOPE1234" }))
        .await
        .assert_problem(422, "validation_failed");
    let r = olga.put(&url, json!({ "partner_code": "nwaffil1" })).await;
    assert_eq!(
        r.error_fields(),
        ["partner_code"],
        "the affiliate code is not the partner code"
    );

    let r = olga.put(&url, json!({ "partner_code": "northwnd" })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let chosen: ServiceProviderView = r.view();
    assert_eq!(chosen.name, "Northwind IT Services");
    assert_eq!(chosen.origin, CustomerOrigin::ChosenByCustomer);
    assert!(chosen.granted_permissions.is_empty());

    // Both sides are told.
    app.smtp
        .expect_one(
            "olga@olsen.example",
            "Northwind IT Services is now the service provider of Olsen Bakery",
        )
        .await;
    // Northwind's administrator writes Dutch.
    app.smtp
        .wait_for(1, std::time::Duration::from_secs(15), |m| {
            m.envelope_to.contains(&"anna@northwind.example".to_owned()) && m.subject.contains("Olsen Bakery")
        })
        .await;

    // The partner sees the customer, with the partner's default rate, but may not look inside.
    let anna = app.demo("anna@northwind.example").await;
    let c = anna.get(&format!("/api/customers/{org}")).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let c: CustomerView = c.view();
    assert_eq!(c.origin, CustomerOrigin::ChosenByCustomer);
    assert_eq!(c.commission_rate, "20.00");
    anna.get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(403, "not_authorized");

    // One at a time.
    olga.put(&url, json!({ "partner_code": "ALPINESY" }))
        .await
        .assert_problem(409, "service_provider_exists");

    // Granting lets the partner in, exactly as far as granted.
    let r = olga
        .put(
            &format!("{url}/grants"),
            json!({ "permissions": ["view_users", "create_users"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.view::<ServiceProviderView>().granted_permissions,
        [Permission::ViewUsers, Permission::CreateUsers]
    );
    assert_eq!(anna.get(&format!("/api/organizations/{org}/users")).await.status, 200);
    anna.patch(&format!("/api/organizations/{org}"), json!({ "name": "Renamed" }))
        .await
        .assert_problem(403, "not_authorized");
    olga.put(
        &format!("{url}/grants"),
        json!({ "permissions": ["manage_members", "nonsense"] }),
    )
    .await
    .assert_problem(422, "validation_failed");

    // Dropping the partner ends all of it.
    assert_eq!(olga.delete(&url).await.status, 204);
    // The wire shape again: the field is absent.
    assert_eq!(olga.get(&url).await.body, json!({}));
    anna.get(&format!("/api/customers/{org}"))
        .await
        .assert_problem(404, "not_found");
    anna.get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(404, "not_found");
    app.smtp
        .expect_one("olga@olsen.example", "is no longer the service provider")
        .await;
    olga.delete(&url).await.assert_problem(404, "not_found");

    // Another partner can now be chosen.
    assert_eq!(olga.put(&url, json!({ "partner_code": "ALPINESY" })).await.status, 200);

    let audit: Vec<AuditEntryView> = olga.get(&format!("/api/organizations/{org}/audit")).await.view();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    // Choosing a partner before any paid order attributes the customer to it; dropping it
    // ends that attribution (both in the customer's audit log).
    assert!(
        actions.contains(&"attribution.recorded") && actions.contains(&"attribution.ended"),
        "{actions:?}"
    );
    let actions: Vec<&str> = actions.into_iter().filter(|a| !a.starts_with("attribution.")).collect();
    assert!(
        actions.starts_with(&[
            "service_provider.added",
            "service_provider.removed",
            "service_provider.grants_changed",
            "service_provider.added"
        ]),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_organization_administrator_manages_the_service_provider() {
    let app = TestApp::spawn().await;
    let jan = app.demo("jan@jansen.example").await; // company administrator
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let url = format!("/api/organizations/{jansen}/service-provider");
    let state: ServiceProviderState = jan.get(&url).await.view();
    assert_eq!(
        state.service_provider.map(|p| p.name).as_deref(),
        Some("Northwind IT Services"),
        "may see it"
    );
    jan.delete(&url).await.assert_problem(403, "not_authorized");
    jan.put(&format!("{url}/grants"), json!({ "permissions": [] }))
        .await
        .assert_problem(403, "not_authorized");
    // The partner cannot drop itself in the customer's name.
    let anna = app.demo("anna@northwind.example").await;
    anna.delete(&url).await.assert_problem(403, "not_authorized");
}
