//! What a request costs the database: the SQL statements each hot endpoint sends, read
//! from the service's own `/metrics` (`partnerdesk_http_request_db_statements`, counted
//! on the pooled connections). Authentication and authorization take one query; a page
//! costs the same however many rows it shows (no query per row).

use partnerdesk_testkit::metric;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::module_id;
use crate::harness::{Client, TestApp};

// What the hot writes cost today (a regression fails): the credential with the caller's
// standing, BEGIN and COMMIT, the rows they make with their audit entries, e-mails and
// jobs. Confirming one item makes the order, its line, the invoice, the licence, the
// commission with its attribution, and their audit entries.
const QUOTE: f64 = 9.0;
const CONFIRM: f64 = 26.0;
const ADD: f64 = 9.0;
const INVITE: f64 = 10.0;

/// The statements one request sent, from the route's statement histogram.
async fn cost(app: &TestApp, client: &Client, method: Method, path: &str, route: &str, body: Option<Value>) -> f64 {
    answer_and_cost(app, client, method, path, route, body).await.1
}

/// The answer to one request and the statements it sent.
async fn answer_and_cost(
    app: &TestApp,
    client: &Client,
    method: Method,
    path: &str,
    route: &str,
    body: Option<Value>,
) -> (Value, f64) {
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
    let statements = metric(&after, "partnerdesk_http_request_db_statements_sum", &labels)
        - metric(&before, "partnerdesk_http_request_db_statements_sum", &labels);
    (r.body, statements)
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
    let rec = module_id(&anna, "REC").await;
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

#[tokio::test(flavor = "multi_thread")]
async fn hot_writes_cost_the_same_however_much_they_carry() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let mut modules = Vec::new();
    for code in ["CRM", "REC", "WALLBOARD"] {
        modules.push(module_id(&anna, code).await);
    }
    // The business licence of one module, then of two more: a quote and its
    // confirmation each.
    let mut buys = Vec::new();
    for bought in [&modules[..1], &modules[1..]] {
        let items: Vec<Value> = bought
            .iter()
            .map(|m| json!({ "type": "business", "module_id": m }))
            .collect();
        let (quote, quoting) = answer_and_cost(
            &app,
            &anna,
            Method::POST,
            &format!("/api/organizations/{jansen}/quotes"),
            "/api/organizations/:param0/quotes",
            Some(json!({ "items": items })),
        )
        .await;
        let id = quote["id"].as_str().expect("a quote");
        let confirming = cost(
            &app,
            &anna,
            Method::POST,
            &format!("/api/quotes/{id}/confirm"),
            "/api/quotes/:param0/confirm",
            Some(json!({})),
        )
        .await;
        buys.push((quoting, confirming));
    }
    println!("quote and confirm, one item and two: {buys:?}");
    assert_eq!(
        buys[0].0, buys[1].0,
        "a quote prices its items without a statement per item"
    );
    // What confirming makes for an item is a row of its own with its own audit entry:
    // the licence, and the entry that says so; nothing else is read per item.
    assert_eq!(
        buys[1].1 - buys[0].1,
        2.0,
        "one more item, one more licence and audit entry"
    );

    let mut adds = Vec::new();
    for n in 0..2 {
        let add = cost(
            &app,
            &anna,
            Method::POST,
            "/api/customers",
            "/api/customers",
            Some(json!({ "name": format!("Write Count {n} BV"), "active": true, "commission_rate": "20" })),
        )
        .await;
        let invite = cost(
            &app,
            &anna,
            Method::POST,
            "/api/customer-invitations",
            "/api/customer-invitations",
            Some(json!({ "email": format!("write{n}@count.example"), "company_name": format!("Write Count {n}") })),
        )
        .await;
        adds.push((add, invite));
    }
    println!("add a customer, invite one: {adds:?}");
    assert_eq!(adds[0], adds[1], "the same statements for the second as for the first");
    let budgets = [
        ("quote", buys[0].0, QUOTE),
        ("confirm", buys[0].1, CONFIRM),
        ("add a customer", adds[1].0, ADD),
        ("invite", adds[1].1, INVITE),
    ];
    for (name, statements, budget) in budgets {
        assert!(
            statements <= budget,
            "{name}: {statements} statements, at most {budget}"
        );
    }
}
