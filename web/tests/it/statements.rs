//! What a request costs the database: the SQL statements each hot endpoint sends, read
//! from the service's own `/metrics` (`partnerdesk_http_request_db_statements`, counted
//! on the pooled connections). Authentication and authorization take one query; a page
//! costs the same however many rows it shows (no query per row).

use partnerdesk_core::testing::metric;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Client, TestApp};

/// The statements one request sent, from the route's statement histogram.
async fn cost(app: &TestApp, client: &Client, method: Method, path: &str, route: &str, body: Option<Value>) -> f64 {
    let scrape = || async {
        reqwest::get(format!("{}/metrics", app.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    };
    let labels = [("route", route), ("method", method.as_str())];
    let before = scrape().await;
    let r = client.request(method.clone(), path, body).await;
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
    let after = scrape().await;
    let count = metric(&after, "partnerdesk_http_request_db_statements_count", &labels)
        - metric(&before, "partnerdesk_http_request_db_statements_count", &labels);
    assert_eq!(count, 1.0, "one request of {route} counted");
    metric(&after, "partnerdesk_http_request_db_statements_sum", &labels)
        - metric(&before, "partnerdesk_http_request_db_statements_sum", &labels)
}

/// A module's id by its code.
async fn module(client: &Client, code: &str) -> String {
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

/// The statements of each hot read, by name.
async fn reads(app: &TestApp, anna: &Client, ops: &Client, customer: uuid::Uuid) -> Vec<(&'static str, f64)> {
    let users = format!("/api/organizations/{customer}/users");
    let reads: [(&str, &Client, &str, &str); 7] = [
        ("my customers", anna, "/api/customers", "/api/customers"),
        (
            "my customers, searched, by expiry",
            anna,
            "/api/customers?q=e&sort=expiry&status=both",
            "/api/customers",
        ),
        ("a customer's users", anna, &users, "/api/organizations/:param0/users"),
        ("trials overview", anna, "/api/trials", "/api/trials"),
        ("dashboard", anna, "/api/partner/dashboard", "/api/partner/dashboard"),
        ("commissions", anna, "/api/commissions", "/api/commissions"),
        ("job queue", ops, "/api/ops/queues", "/api/ops/queues"),
    ];
    let mut costs = Vec::new();
    for (name, client, path, route) in reads {
        costs.push((name, cost(app, client, Method::GET, path, route, None).await));
    }
    costs
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reads_cost_a_fixed_number_of_statements_whatever_the_page_holds() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let ops = app.demo("ops@vendor.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let before = reads(&app, &anna, &ops, jansen).await;
    println!("{before:#?}");

    // More of everything on the pages: customers, users, a trial, commissions.
    for n in 0..12 {
        let r = anna
            .post(
                "/api/customers",
                json!({ "name": format!("Statement Count {n} BV"), "active": true, "commission_rate": "20", "country": "NL" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for n in 0..8 {
        let r = anna
            .post(
                &format!("/api/organizations/{jansen}/users"),
                json!({ "email": format!("user{n}@jansen.example"), "first_name": "New", "last_name": format!("User {n}") }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let rec = module(&anna, "REC").await;
    let r = anna
        .post(
            &format!("/api/organizations/{jansen}/trials"),
            json!({ "module_id": rec }),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    let after = reads(&app, &anna, &ops, jansen).await;
    println!("{after:#?}");
    assert_eq!(before, after, "the same statements with more rows on every page");
    for (name, statements) in &after {
        // The credential with the caller's standing, then the page; inside a customer,
        // also what the customer grants its partner.
        let budget = match *name {
            "a customer's users" => 3.0,
            _ => 2.0,
        };
        assert!(
            *statements <= budget,
            "{name}: {statements} statements, at most {budget}"
        );
    }
}
