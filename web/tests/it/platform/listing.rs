//! My customers, the trials overview and the dashboard read copies that triggers keep on
//! the service-provider links, trials and per-partner counters (so that they read one
//! index range or a few rows at any size). Whatever a partner or customer does, the
//! lists and figures show it at once; and the harness fails any test that leaves a copy
//! different from what it copies.

use partnerdesk_web::api::{
    commerce::trials::{TrialOverviewPage, TrialOverviewRow},
    earnings::DashboardView,
    tenancy::customers::{CustomerPage, CustomerView},
};
use serde_json::json;

use crate::{
    fixtures::{buy, companies, module_id, olsen_bakery},
    harness::{Client, Resp, TestApp},
};

async fn dashboard(anna: &Client) -> (i64, i64, i64) {
    let d = anna.get("/api/partner/dashboard").await;
    assert_eq!(d.status, 200, "{}", d.body);
    let d: DashboardView = d.view();
    (d.customers, d.active_customers, d.customers_in_trial)
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_and_figures_follow_every_change_at_once() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let (customers, paying, in_trial) = dashboard(&anna).await;

    // A new customer is counted and listed under its name; renamed, it moves.
    let zeta = anna
        .post(
            "/api/customers",
            json!({ "name": "Zeta Listing BV", "active": true, "commission_rate": "20" }),
        )
        .await
        .id();
    assert_eq!(dashboard(&anna).await, (customers + 1, paying, in_trial));
    assert_eq!(
        companies(&anna.get("/api/customers").await).last().unwrap(),
        "Zeta Listing BV"
    );
    let r = anna
        .patch(
            &format!("/api/customers/{zeta}"),
            json!({ "name": "Aardvark Listing BV" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(companies(&anna.get("/api/customers").await)[0], "Aardvark Listing BV");
    assert_eq!(
        companies(&anna.get("/api/customers?q=aardvark").await),
        ["Aardvark Listing BV"]
    );
    assert!(companies(&anna.get("/api/customers?q=zeta").await).is_empty());

    // Deactivated, it leaves the active list and shows among the inactive ones.
    let r = anna
        .patch(&format!("/api/customers/{zeta}"), json!({ "active": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!companies(&anna.get("/api/customers").await).contains(&"Aardvark Listing BV".to_owned()));
    assert_eq!(
        companies(&anna.get("/api/customers?status=inactive").await),
        ["Aardvark Listing BV"]
    );

    // A trial: counted, first in the trials overview and the coming expiry of Jansen.
    let rec = module_id(&anna, "REC").await;
    let trial = anna
        .post(
            &format!("/api/organizations/{jansen}/trials"),
            json!({ "module_id": rec }),
        )
        .await;
    assert!(trial.status < 300, "{}", trial.body);
    assert_eq!(dashboard(&anna).await, (customers + 1, paying, in_trial + 1));
    let overview: TrialOverviewPage = anna.get("/api/trials?active=true").await.view();
    assert_eq!(overview.items[0].organization_id, jansen);
    let by_expiry: CustomerPage = anna.get("/api/customers?sort=expiry").await.view();
    assert_eq!(by_expiry.items[0].company, "Jansen Installatietechniek");
    assert_eq!(
        by_expiry.items[0].coming_expiry_date,
        Some(overview.items[0].expires_at)
    );

    // Licences bought: seats in use and in total, and a paying customer.
    let crm = module_id(&anna, "CRM").await;
    let paid_licences = format!(
        "SELECT count(*) FROM business_licences WHERE organization_id = '{jansen}' AND active AND kind = 'paid'"
    );
    let was_paying = i64::from(app.count(&paid_licences).await > 0);
    buy(
        &anna,
        jansen,
        json!([{ "type": "business", "module_id": crm }, { "type": "users", "module_id": crm, "all_users": true }]),
    )
    .await;
    let row = anna.get(&format!("/api/customers/{jansen}")).await;
    let held = app
        .count(&format!(
            "SELECT count(*) FROM user_licences WHERE organization_id = '{jansen}' AND active AND user_id IS NOT NULL"
        ))
        .await;
    assert!(held > 0);
    assert_eq!(row.view::<CustomerView>().usage.used, held, "{}", row.body);
    assert!(app.count(&paid_licences).await > 0);
    assert_eq!(
        dashboard(&anna).await,
        (customers + 1, paying + 1 - was_paying, in_trial + 1)
    );

    // A company that chooses Northwind is counted; when it leaves, it and its trial go.
    let (olga, olsen) = olsen_bakery(&app).await;
    let provider = format!("/api/organizations/{olsen}/service-provider");
    assert_eq!(
        olga.put(&provider, json!({ "partner_code": "northwnd" })).await.status,
        200
    );
    let trial = olga
        .post(
            &format!("/api/organizations/{olsen}/trials"),
            json!({ "module_id": rec }),
        )
        .await;
    assert!(trial.status < 300, "{}", trial.body);
    let (with_olsen, _, trials_with_olsen) = dashboard(&anna).await;
    assert_eq!((with_olsen, trials_with_olsen), (customers + 2, in_trial + 2));
    let listed = |page: &Resp| {
        page.view::<TrialOverviewPage>()
            .items
            .iter()
            .any(|t| t.organization_id == olsen)
    };
    assert!(listed(&anna.get("/api/trials").await));
    assert_eq!(olga.delete(&provider).await.status, 204);
    assert_eq!(dashboard(&anna).await.0, customers + 1);
    assert_eq!(dashboard(&anna).await.2, in_trial + 1);
    assert!(!listed(&anna.get("/api/trials").await));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trials_overview_pages_by_end_date() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    for (org, code) in [
        ("Jansen Installatietechniek", "REC"),
        ("Jansen Installatietechniek", "CRM"),
        ("Bakkerij de Vries", "REC"),
    ] {
        let org = app.org_id(org).await;
        let module = module_id(&anna, code).await;
        let r = anna
            .post(
                &format!("/api/organizations/{org}/trials"),
                json!({ "module_id": module }),
            )
            .await;
        assert!(r.status < 300, "{}", r.body);
        app.advance(chrono::Duration::hours(1));
    }
    let all: TrialOverviewPage = anna.get("/api/trials?limit=200").await.view();
    let mut seen: Vec<TrialOverviewRow> = Vec::new();
    let mut path = "/api/trials?limit=1".to_owned();
    loop {
        let page = anna.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page: TrialOverviewPage = page.view();
        assert!(page.items.len() <= 1);
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => path = format!("/api/trials?limit=1&cursor={}", urlencode(&c)),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    // Every field alike (the views have no PartialEq; their Debug shows every field).
    assert_eq!(format!("{seen:?}"), format!("{:?}", all.items));
    let ends: Vec<_> = seen.iter().map(|t| t.expires_at).collect();
    let mut sorted = ends.clone();
    sorted.sort();
    assert_eq!(ends, sorted, "soonest end first");
    let refused = anna.get("/api/trials?cursor=nonsense").await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.field_errors()[0].pair(), ("cursor", "invalid_cursor"));
    // Another partner sees none of them.
    let max = app.demo("max@alpine.example").await;
    assert!(
        max.get("/api/trials")
            .await
            .view::<TrialOverviewPage>()
            .items
            .is_empty()
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_that_drifts_fails_the_test_that_left_it() {
    let app = TestApp::spawn().await;
    assert!(app.failures().await.is_empty());
    let jansen = app.org_id("Jansen Installatietechniek").await;
    app.sql(&format!(
        "UPDATE service_provider_links SET seats_total = seats_total + 1 WHERE customer_id = '{jansen}'"
    ))
    .await;
    app.sql("UPDATE partner_customer_counts SET customers = customers + 1")
        .await;
    let found = app.failures().await;
    assert!(
        found.iter().any(|f| f.starts_with("the listing of customer")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.starts_with("the customer counts of partner")),
        "{found:?}"
    );
    app.expect_failures();
}
