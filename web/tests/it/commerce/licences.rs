//! Modules, quotes and orders, credits, trials with reminders, upgrades, payment links,
//! software releases, clone profiles and the development clock.

use std::time::Duration as StdDuration;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Client, FieldError, Options, Resp, TestApp};

struct Shop {
    app: TestApp,
    anna: Client, // Northwind partner admin
    jan: Client,  // company administrator of Jansen
    jansen: Uuid,
    crm: Uuid, // business 25.00, user 4.50
    rec: Uuid, // business 15.00, user 2.95
}

async fn module_id(app: &TestApp, code: &str) -> Uuid {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    use diesel_async::RunQueryDsl;
    let row: Id = diesel::sql_query(format!("SELECT id FROM modules WHERE code = '{code}'"))
        .get_result(&mut app.conn().await)
        .await
        .unwrap();
    row.id
}

async fn shop_with(options: Options) -> Shop {
    let app = TestApp::spawn_with(options).await;
    let anna = app.demo("anna@northwind.example").await;
    let jan = app.demo("jan@jansen.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let crm = module_id(&app, "CRM").await;
    let rec = module_id(&app, "REC").await;
    Shop {
        app,
        anna,
        jan,
        jansen,
        crm,
        rec,
    }
}

async fn shop() -> Shop {
    shop_with(Options::default()).await
}

/// What the rest of this month costs for a monthly amount, computed here independently.
fn rest_of_month(monthly: Decimal) -> Decimal {
    let today = Utc::now().date_naive();
    let next = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
    }
    .unwrap();
    let days_in_month = (next - NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap()).num_days();
    let remaining = (next - today).num_days();
    let mut v = (monthly * Decimal::from(remaining) / Decimal::from(days_in_month))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(2);
    v
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn quote(client: &Client, org: Uuid, items: Value) -> crate::harness::Resp {
    client
        .post(&format!("/api/organizations/{org}/quotes"), json!({ "items": items }))
        .await
}

async fn confirm(client: &Client, quote_id: &str) -> crate::harness::Resp {
    client.post(&format!("/api/quotes/{quote_id}/confirm"), json!({})).await
}

/// Quotes and confirms; returns the order.
async fn buy(client: &Client, org: Uuid, items: Value) -> Value {
    let q = quote(client, org, items).await;
    assert_eq!(q.status, 201, "{}", q.body);
    let o = confirm(client, q.body["id"].as_str().unwrap()).await;
    assert_eq!(o.status, 201, "{}", o.body);
    o.body
}

/// Adds users to Jansen through the import and returns their ids.
async fn add_users(s: &Shop, n: usize) -> Vec<Uuid> {
    let mut csv = String::from("email,first_name,last_name\n");
    for i in 0..n {
        csv.push_str(&format!("extra{i}@jansen.example,Extra,User {i}\n"));
    }
    let r = s
        .anna
        .post_bytes(
            &format!("/api/organizations/{}/users/import", s.jansen),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // They join once they set their passwords through the e-mailed links.
    let emails: Vec<String> = (0..n).map(|i| format!("extra{i}@jansen.example")).collect();
    s.app.set_passwords(&emails).await;
    let mut ids = Vec::new();
    for email in &emails {
        ids.push(s.app.user_id(email).await);
    }
    ids
}

async fn licences(s: &Shop) -> Value {
    let r = s.anna.get(&format!("/api/organizations/{}/licences", s.jansen)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn module_entry<'a>(overview: &'a Value, code: &str) -> &'a Value {
    overview
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"]["code"] == code)
        .unwrap_or(&Value::Null)
}

// --- Quotes and orders -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_quote_prices_exactly_and_confirming_it_creates_the_order() {
    let s = shop().await;
    let jan_id = s.app.user_id("jan@jansen.example").await;
    let eva_id = s.app.user_id("eva@jansen.example").await;
    let q = quote(
        &s.anna,
        s.jansen,
        json!([{ "type": "business", "module_id": s.crm }, { "type": "users", "module_id": s.crm, "all_users": true }, { "type": "credits", "module_id": s.crm, "quantity": 3 }]),
    )
    .await;
    assert_eq!(q.status, 201, "{}", q.body);
    let lines = q.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (
            lines[0]["licence_kind"].as_str(),
            lines[0]["quantity"].as_i64(),
            lines[0]["unit_price"].as_str()
        ),
        (Some("business"), Some(1), Some("25.00"))
    );
    assert_eq!(
        (
            lines[1]["licence_kind"].as_str(),
            lines[1]["quantity"].as_i64(),
            lines[1]["monthly_amount"].as_str()
        ),
        (Some("user"), Some(2), Some("9.00"))
    );
    assert_eq!(
        (
            lines[2]["licence_kind"].as_str(),
            lines[2]["quantity"].as_i64(),
            lines[2]["monthly_amount"].as_str()
        ),
        (Some("credit"), Some(3), Some("13.50"))
    );
    assert_eq!(q.body["monthly_total"], "47.50");
    let expected: Vec<Decimal> = [d("25.00"), d("9.00"), d("13.50")]
        .into_iter()
        .map(rest_of_month)
        .collect();
    for (line, want) in lines.iter().zip(&expected) {
        assert_eq!(d(line["amount"].as_str().unwrap()), *want, "{line}");
    }
    let period_total: Decimal = expected.iter().sum();
    assert_eq!(d(q.body["period_total"].as_str().unwrap()), period_total);

    // Nothing is active before confirmation.
    assert!(module_entry(&licences(&s).await, "CRM").is_null());

    let o = confirm(&s.anna, q.body["id"].as_str().unwrap()).await;
    assert_eq!(o.status, 201, "{}", o.body);
    assert_eq!(o.body["total"], q.body["period_total"]);
    assert_eq!(o.body["invoice"]["amount"], q.body["period_total"]);
    assert_eq!(o.body["invoice"]["status"], "open");
    assert_eq!(
        o.body["source"], "add_products",
        "the partner added products for its customer"
    );
    assert_eq!(o.body["lines"].as_array().unwrap().len(), 3);
    assert!(o.body["invoice"]["number"].as_str().unwrap().starts_with("INV-"));

    let crm = module_entry(&licences(&s).await, "CRM").clone();
    assert_eq!(crm["business_kind"], "paid");
    let holders: Vec<&str> = crm["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert!(holders.contains(&jan_id.to_string().as_str()) && holders.contains(&eva_id.to_string().as_str()));
    assert_eq!(crm["free_credits"], 3);

    // The customer list and user overview see it.
    let c = s.anna.get(&format!("/api/customers/{}", s.jansen)).await;
    assert_eq!(c.body["usage"], json!({ "used": 2, "total": 5 }));
    let users = s.jan.get(&format!("/api/organizations/{}/users", s.jansen)).await;
    assert!(
        users
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["activated_modules"] == json!(["CRM"]))
    );

    // The confirmation with the payment link reaches the partner.
    let mail = s.app.smtp.expect_one("anna@northwind.example", "INV-").await;
    assert!(
        mail.text.contains(o.body["payment_url"].as_str().unwrap()),
        "{}",
        mail.text
    );

    // A second confirmation is refused.
    confirm(&s.anna, q.body["id"].as_str().unwrap())
        .await
        .assert_problem(409, "quote_confirmed");
    // Activating the business licence again is refused at quote time.
    let r = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "licence_exists");
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_expired_and_foreign_quotes_are_refused() {
    let s = shop().await;
    // Stale: the price changed.
    let q = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.rec }])).await;
    let admin = s.app.demo("admin@vendor.example").await;
    assert_eq!(
        admin
            .patch(&format!("/api/modules/{}", s.rec), json!({ "business_price": "16.00" }))
            .await
            .status,
        200
    );
    confirm(&s.anna, q.body["id"].as_str().unwrap())
        .await
        .assert_problem(409, "quote_stale");

    // Stale: the state changed (someone else activated it first).
    let first = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.rec }])).await;
    let second = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.rec }])).await;
    assert_eq!(confirm(&s.anna, first.body["id"].as_str().unwrap()).await.status, 201);
    confirm(&s.anna, second.body["id"].as_str().unwrap())
        .await
        .assert_problem(409, "quote_stale");

    // Foreign: another partner, or the customer's own company administrator.
    let q = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    let id = q.body["id"].as_str().unwrap().to_owned();
    let max = s.app.demo("max@alpine.example").await;
    confirm(&max, &id).await.assert_problem(404, "not_found");
    confirm(&s.jan, &id).await.assert_problem(404, "not_found");
    max.get(&format!("/api/quotes/{id}"))
        .await
        .assert_problem(404, "not_found");

    // Expired.
    s.app.advance(Duration::minutes(31));
    let anna = s.app.demo("anna@northwind.example").await;
    confirm(&anna, &id).await.assert_problem(409, "quote_expired");
    assert!(
        module_entry(&licences(&s).await, "CRM").is_null(),
        "nothing was activated"
    );
}

/// The failing fields of a quote refused as invalid.
#[track_caller]
fn refused(r: &Resp) -> Vec<FieldError> {
    r.assert_problem(422, "validation_failed");
    r.field_errors()
}

#[tokio::test(flavor = "multi_thread")]
async fn quotes_are_validated() {
    let s = shop().await;
    let stranger = s.app.user_id("max@alpine.example").await;
    let r = quote(
        &s.anna,
        s.jansen,
        json!([
            { "type": "users", "module_id": s.crm, "user_ids": [stranger] },
            { "type": "credits", "module_id": s.rec, "quantity": 0 },
            { "type": "business", "module_id": Uuid::nil() },
        ]),
    )
    .await;
    let errors = refused(&r);
    assert_eq!(
        errors.iter().map(|e| e.pair()).collect::<Vec<_>>(),
        [
            ("items[0].module_id", "business_licence_required"),
            ("items[1].module_id", "business_licence_required"),
            ("items[2].module_id", "unknown_module")
        ]
    );
    // With the CRM business licence paid, the checks on users and credits are reached.
    buy(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    let eva = s.app.user_id("eva@jansen.example").await;
    let r = quote(
        &s.anna,
        s.jansen,
        json!([
            { "type": "users", "module_id": s.crm, "user_ids": [eva, stranger] },
            { "type": "credits", "module_id": s.crm, "quantity": 0 },
            { "type": "credits", "module_id": s.crm, "quantity": 1_000_000 },
            { "type": "business", "module_id": s.crm },
        ]),
    )
    .await;
    let errors = refused(&r);
    assert_eq!(
        errors.iter().map(|e| e.pair()).collect::<Vec<_>>(),
        [
            ("items[0].user_ids", "not_a_member"),
            ("items[1].quantity", "out_of_range"),
            ("items[2].quantity", "out_of_range"),
            ("items[3].module_id", "licence_exists"),
        ]
    );
    assert!(errors[0].message.contains(&stranger.to_string()), "{errors:?}");
    quote(&s.anna, s.jansen, json!([]))
        .await
        .assert_problem(422, "validation_failed");
    // A company administrator may not buy licences.
    quote(&s.jan, s.jansen, json!([{ "type": "business", "module_id": s.crm }]))
        .await
        .assert_problem(403, "not_authorized");
}

// --- Credits ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn credits_are_billed_unassigned_and_consumed_on_assignment() {
    let s = shop().await;
    let order = buy(
        &s.anna,
        s.jansen,
        json!([{ "type": "business", "module_id": s.crm }, { "type": "credits", "module_id": s.crm, "quantity": 3 }]),
    )
    .await;
    let credit_line = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["licence_kind"] == "credit")
        .unwrap()
        .clone();
    assert_eq!(
        d(credit_line["amount"].as_str().unwrap()),
        rest_of_month(d("13.50")),
        "billed from the moment they exist"
    );
    assert_eq!(
        s.anna.get(&format!("/api/customers/{}", s.jansen)).await.body["usage"],
        json!({ "used": 0, "total": 3 })
    );

    let jan = s.app.user_id("jan@jansen.example").await;
    let eva = s.app.user_id("eva@jansen.example").await;
    let url = format!("/api/organizations/{}/credits/assign", s.jansen);
    let r = s
        .anna
        .post(&url, json!({ "module_id": s.crm, "user_ids": [jan, eva] }))
        .await;
    assert_eq!(r.body, json!({ "assigned": 2 }));
    assert_eq!(module_entry(&licences(&s).await, "CRM")["free_credits"], 1);
    assert_eq!(
        s.anna.get(&format!("/api/customers/{}", s.jansen)).await.body["usage"],
        json!({ "used": 2, "total": 3 })
    );
    // No new order for assignments.
    assert_eq!(
        s.anna
            .get(&format!("/api/organizations/{}/orders", s.jansen))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let more = add_users(&s, 2).await;
    let r = s.anna.post(&url, json!({ "module_id": s.crm, "user_ids": more })).await;
    r.assert_problem(409, "not_enough_credits");
    assert_eq!(
        module_entry(&licences(&s).await, "CRM")["free_credits"],
        1,
        "nothing taken by a refused assignment"
    );
    s.anna
        .post(&url, json!({ "module_id": s.crm, "user_ids": [jan] }))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_assignments_never_take_more_credits_than_exist() {
    let s = shop().await;
    buy(
        &s.anna,
        s.jansen,
        json!([{ "type": "business", "module_id": s.crm }, { "type": "credits", "module_id": s.crm, "quantity": 5 }]),
    )
    .await;
    let users = add_users(&s, 12).await;
    let url = format!("/api/organizations/{}/credits/assign", s.jansen);
    let attempts = users.iter().map(|u| {
        let (client, url, module) = (s.anna.clone(), url.clone(), s.crm);
        let u = *u;
        tokio::spawn(async move { client.post(&url, json!({ "module_id": module, "user_ids": [u] })).await })
    });
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.as_ref().unwrap().status == 200).count();
    let refused = results
        .iter()
        .filter(|r| r.as_ref().unwrap().code() == "not_enough_credits")
        .count();
    assert_eq!((ok, refused), (5, 7));
    let crm = module_entry(&licences(&s).await, "CRM").clone();
    assert_eq!(crm["free_credits"], 0);
    assert_eq!(crm["users"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_assignments_all_succeed_while_enough_credits_are_free() {
    let s = shop().await;
    buy(
        &s.anna,
        s.jansen,
        json!([{ "type": "business", "module_id": s.crm }, { "type": "credits", "module_id": s.crm, "quantity": 6 }]),
    )
    .await;
    let users = add_users(&s, 6).await;
    let url = format!("/api/organizations/{}/credits/assign", s.jansen);
    let attempts = users.iter().map(|u| {
        let (client, url, module) = (s.anna.clone(), url.clone(), s.crm);
        let u = *u;
        tokio::spawn(async move { client.post(&url, json!({ "module_id": module, "user_ids": [u] })).await })
    });
    let statuses: Vec<(u16, String)> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            (r.status, r.code().to_owned())
        })
        .collect();
    assert!(statuses.iter().all(|(s, _)| *s == 200), "none refused: {statuses:?}");
    let crm = module_entry(&licences(&s).await, "CRM").clone();
    assert_eq!(crm["free_credits"], 0);
    assert_eq!(crm["users"].as_array().unwrap().len(), 6);
}

// --- Trials -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_trial_allows_five_users_and_one_trial_per_module() {
    let s = shop().await;
    let r = s
        .anna
        .post(
            &format!("/api/organizations/{}/trials", s.jansen),
            json!({ "module_id": s.crm }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["max_users"], 5);
    let trial = r.id();
    let ends = chrono::DateTime::parse_from_rfc3339(r.body["ends_at"].as_str().unwrap()).unwrap();
    let starts = chrono::DateTime::parse_from_rfc3339(r.body["starts_at"].as_str().unwrap()).unwrap();
    assert_eq!(ends - starts, Duration::days(30));
    s.app.smtp.expect_one("anna@northwind.example", "CRM connector").await;

    let users = add_users(&s, 6).await;
    let url = format!("/api/organizations/{}/trials/{trial}/users", s.jansen);
    assert_eq!(s.anna.post(&url, json!({ "user_ids": users[..3] })).await.status, 200);
    assert_eq!(s.anna.post(&url, json!({ "user_ids": users[3..5] })).await.status, 200);
    let sixth = s.anna.post(&url, json!({ "user_ids": [users[5]] })).await;
    sixth.assert_problem(409, "trial_user_limit");

    let again = s
        .anna
        .post(
            &format!("/api/organizations/{}/trials", s.jansen),
            json!({ "module_id": s.crm }),
        )
        .await;
    again.assert_problem(409, "trial_exists");
    // A trial's business licence blocks buying the same module outright: upgrade instead.
    let r = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    assert_eq!(r.body["errors"][0]["code"], "trial_active");

    let overview = s.anna.get("/api/trials").await;
    let row = overview.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trial_id"] == trial.to_string())
        .unwrap()
        .clone();
    assert_eq!(
        (
            row["company"].as_str(),
            row["users_assigned"].as_i64(),
            row["active"].as_bool()
        ),
        (Some("Jansen Installatietechniek"), Some(5), Some(true))
    );
    assert!(
        s.app.demo("max@alpine.example").await.get("/api/trials").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Each of the e-mails about one trial, per recipient.
fn trial_mails(app: &TestApp, subject_part: &str) -> Vec<String> {
    let mut to: Vec<String> = app
        .smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains(subject_part))
        .flat_map(|m| m.envelope_to)
        .collect();
    to.sort();
    to
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_go_out_once_each_with_two_workers_and_a_restart_and_the_trial_ends() {
    let s = shop_with(Options {
        extra: vec![("MAINTENANCE_INTERVAL_SECONDS", "1".into())],
        ..Default::default()
    })
    .await;
    // English subjects make the kinds of e-mail easy to tell apart.
    s.app.sql("UPDATE users SET language = 'en' WHERE email IN ('anna@northwind.example', 'eva@jansen.example', 'jan@jansen.example')").await;
    let trial = s
        .anna
        .post(
            &format!("/api/organizations/{}/trials", s.jansen),
            json!({ "module_id": s.rec }),
        )
        .await
        .id();
    let eva = s.app.user_id("eva@jansen.example").await;
    let jan = s.app.user_id("jan@jansen.example").await;
    assert_eq!(
        s.anna
            .post(
                &format!("/api/organizations/{}/trials/{trial}/users", s.jansen),
                json!({ "user_ids": [eva, jan] })
            )
            .await
            .status,
        200
    );
    // Recipients: the two trial users and the partner's administrator (who also started it).
    let everyone = ["anna@northwind.example", "eva@jansen.example", "jan@jansen.example"];

    // A second worker process-equivalent on the same queues and the same clock.
    let (stop_second, second) = s.app.start_extra_worker();

    // Nothing is due yet.
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    assert!(trial_mails(&s.app, "ends in").is_empty());

    s.app.advance(Duration::days(23) + Duration::minutes(1));
    let seven = s
        .app
        .smtp
        .wait_for(3, StdDuration::from_secs(20), |m| m.subject.contains("ends in 7 days"))
        .await;
    assert_eq!(seven.len(), 3);

    // Restart: stop the second worker, start a third.
    stop_second.send(true).unwrap();
    second.await.unwrap();
    let (stop_third, third) = s.app.start_extra_worker();
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    s.app.settle().await;
    assert_eq!(
        trial_mails(&s.app, "ends in 7 days"),
        everyone,
        "still once each after the restart"
    );

    s.app.advance(Duration::days(6));
    s.app
        .smtp
        .wait_for(3, StdDuration::from_secs(20), |m| m.subject.contains("ends today"))
        .await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    s.app.settle().await;
    assert_eq!(trial_mails(&s.app, "ends today"), everyone);
    assert_eq!(
        trial_mails(&s.app, "ends in 7 days"),
        everyone,
        "no 7-day reminder again"
    );
    // Licences are still on during the last day.
    let anna = s.app.demo("anna@northwind.example").await;
    let overview = anna
        .get(&format!("/api/organizations/{}/licences", s.jansen))
        .await
        .body;
    assert_eq!(module_entry(&overview, "REC")["users"].as_array().unwrap().len(), 2);

    s.app.advance(Duration::days(1));
    s.app
        .smtp
        .wait_for(3, StdDuration::from_secs(20), |m| m.subject.contains("has ended"))
        .await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    s.app.settle().await;
    assert_eq!(trial_mails(&s.app, "has ended"), everyone);
    let anna = s.app.demo("anna@northwind.example").await;
    let overview = anna
        .get(&format!("/api/organizations/{}/licences", s.jansen))
        .await
        .body;
    assert!(module_entry(&overview, "REC").is_null(), "the trial licences are off");
    let row = anna.get("/api/trials").await.body["items"][0].clone();
    assert_eq!(
        (row["status"].as_str(), row["active"].as_bool()),
        (Some("ended"), Some(false))
    );
    stop_third.send(true).unwrap();
    third.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrading_a_trial_keeps_its_users_and_creates_the_order() {
    let s = shop().await;
    let trial = s
        .anna
        .post(
            &format!("/api/organizations/{}/trials", s.jansen),
            json!({ "module_id": s.crm }),
        )
        .await
        .id();
    let jan = s.app.user_id("jan@jansen.example").await;
    let eva = s.app.user_id("eva@jansen.example").await;
    s.anna
        .post(
            &format!("/api/organizations/{}/trials/{trial}/users", s.jansen),
            json!({ "user_ids": [jan, eva] }),
        )
        .await;

    let q = s
        .anna
        .post(
            &format!("/api/organizations/{}/trials/{trial}/upgrade-quote", s.jansen),
            json!({}),
        )
        .await;
    assert_eq!(q.status, 201, "{}", q.body);
    assert_eq!(q.body["monthly_total"], "34.00", "25.00 + 2 × 4.50");
    let o = confirm(&s.anna, q.body["id"].as_str().unwrap()).await;
    assert_eq!(o.status, 201, "{}", o.body);
    assert_eq!(o.body["source"], "trial_upgrade");
    assert_eq!(
        d(o.body["total"].as_str().unwrap()),
        rest_of_month(d("25.00")) + rest_of_month(d("9.00"))
    );

    let crm = module_entry(&licences(&s).await, "CRM").clone();
    assert_eq!(crm["business_kind"], "paid");
    assert!(crm["business_ends_at"].is_null());
    let mut holders: Vec<String> = crm["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect();
    holders.sort();
    let mut expected = vec![jan.to_string(), eva.to_string()];
    expected.sort();
    assert_eq!(holders, expected, "the same users keep their licences");
    assert!(
        crm["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["kind"] == "paid" && u["ends_at"].is_null())
    );
    let trials = s.anna.get(&format!("/api/organizations/{}/trials", s.jansen)).await;
    assert_eq!(trials.body[0]["status"], "upgraded");
    // The upgraded trial is not ended by the clock any more.
    s.app.advance(Duration::days(40));
    let mut conn = s.app.conn().await;
    partnerdesk_core::commerce::trials::sweep(&mut conn, &s.app.ctx)
        .await
        .unwrap();
    let anna = s.app.demo("anna@northwind.example").await;
    let overview = anna.get(&format!("/api/organizations/{}/licences", s.jansen)).await;
    assert_eq!(
        module_entry(&overview.body, "CRM")["users"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivating_a_customer_switches_every_licence_off_at_once() {
    let s = shop().await;
    buy(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }, { "type": "users", "module_id": s.crm, "all_users": true }, { "type": "credits", "module_id": s.crm, "quantity": 2 }])).await;
    s.anna
        .post(
            &format!("/api/organizations/{}/trials", s.jansen),
            json!({ "module_id": s.rec }),
        )
        .await;
    assert_eq!(licences(&s).await.as_array().unwrap().len(), 2);
    let r = s
        .anna
        .post(&format!("/api/customers/{}/deactivate", s.jansen), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        licences(&s).await,
        json!([]),
        "business, user, credit and trial licences all off"
    );
    quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }]))
        .await
        .assert_problem(409, "organization_inactive");
    let audit = s
        .app
        .demo("admin@vendor.example")
        .await
        .get(&format!("/api/organizations/{}/audit", s.jansen))
        .await;
    let entry = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "customer.deactivated")
        .unwrap()
        .clone();
    assert_eq!(
        entry["changes"]["licences_deactivated"], 6,
        "1 business + 2 users + 2 credits + 1 trial business licence"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivating_a_business_licence_takes_its_user_licences_along() {
    let s = shop().await;
    buy(
        &s.anna,
        s.jansen,
        json!([{ "type": "business", "module_id": s.crm }, { "type": "users", "module_id": s.crm, "all_users": true }]),
    )
    .await;
    let crm = module_entry(&licences(&s).await, "CRM").clone();
    let single = crm["users"][0]["id"].as_str().unwrap().to_owned();
    let r = s
        .anna
        .post(
            &format!("/api/organizations/{}/user-licences/{single}/deactivate", s.jansen),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        module_entry(&licences(&s).await, "CRM")["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let bl = crm["business_licence_id"].as_str().unwrap();
    let r = s
        .anna
        .post(
            &format!("/api/organizations/{}/business-licences/{bl}/deactivate", s.jansen),
            json!({}),
        )
        .await;
    assert_eq!(r.body, json!({ "deactivated": 2 }));
    assert_eq!(licences(&s).await, json!([]));
    s.anna
        .post(
            &format!("/api/organizations/{}/business-licences/{bl}/deactivate", s.jansen),
            json!({}),
        )
        .await
        .assert_problem(404, "not_found");
}

// --- Payment links ------------------------------------------------------------------

fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_link_shows_its_invoice_and_pays_once() {
    // The test payment provider exists only in development; production refuses it.
    let s = shop_with(Options {
        development: true,
        extra: vec![("PAYMENT_PROVIDER", "test".into())],
        ..Default::default()
    })
    .await;
    s.app
        .sql("UPDATE users SET language = 'en' WHERE email = 'anna@northwind.example'")
        .await;
    let order = buy(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    let url = order["payment_url"].as_str().unwrap().to_owned();
    let token = token_of(&url);
    assert_eq!(token.len(), 43, "256 bits of HMAC, not derived from anything public");
    assert!(!token.contains(&order["invoice"]["id"].as_str().unwrap()[..8]));

    let anon = s.app.anonymous();
    let page = anon.get(&format!("/api/payments/{token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["invoice"]["number"], order["invoice"]["number"]);
    assert_eq!(page.body["invoice"]["amount"], order["total"]);
    assert_eq!(page.body["customer"], "Jansen Installatietechniek");
    assert_eq!(page.body["pays_online"], true);

    // A token one character off finds nothing.
    let mut wrong = token.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    anon.get(&format!("/api/payments/{wrong}"))
        .await
        .assert_problem(404, "not_found");

    // The HTML page.
    let html = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        html.contains(order["invoice"]["number"].as_str().unwrap()) && html.contains("Pay EUR"),
        "{html}"
    );

    let paid = anon.post(&format!("/api/payments/{token}/pay"), json!({})).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    assert!(paid.body["paid_at"].is_string());
    anon.post(&format!("/api/payments/{token}/pay"), json!({}))
        .await
        .assert_problem(409, "invoice_paid");
    let o = s
        .anna
        .get(&format!("/api/orders/{}", order["id"].as_str().unwrap()))
        .await;
    assert_eq!(o.body["status"], "paid");
    s.app.smtp.expect_one("anna@northwind.example", "is paid").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bank_transfer_is_recorded_by_finance_once() {
    let s = shop().await;
    let order = buy(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    let token = token_of(order["payment_url"].as_str().unwrap());
    let r = s
        .app
        .anonymous()
        .post(&format!("/api/payments/{token}/pay"), json!({}))
        .await;
    r.assert_problem(409, "pay_by_bank_transfer");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains(order["invoice"]["number"].as_str().unwrap())
    );

    let finance = s.app.demo("finance@vendor.example").await;
    let open = finance.get("/api/invoices?status=open").await;
    assert_eq!(open.body.as_array().unwrap().len(), 1);
    let invoice = order["invoice"]["id"].as_str().unwrap();
    let r = finance
        .post(
            &format!("/api/invoices/{invoice}/mark-paid"),
            json!({ "reference": "statement 14" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    finance
        .post(
            &format!("/api/invoices/{invoice}/mark-paid"),
            json!({ "reference": "again" }),
        )
        .await
        .assert_problem(409, "invoice_paid");
    s.anna
        .post(
            &format!("/api/invoices/{invoice}/mark-paid"),
            json!({ "reference": "x" }),
        )
        .await
        .assert_problem(403, "not_authorized");
}

// --- Software -----------------------------------------------------------------------

fn versions(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_see_the_releases_their_settings_allow() {
    let s = shop().await;
    let settings = format!("/api/organizations/{}/settings", s.jansen);
    // Default: updates and beta allowed; alpha is for test organizations.
    assert_eq!(
        versions(&s.jan.get("/api/software").await.body),
        ["4.13.0-beta.2", "4.12.1", "4.11.2"]
    );
    let eva = s.app.demo("eva@jansen.example").await;
    let r = eva.get("/api/software").await;
    assert_eq!(r.status, 200, "a plain user may download");
    assert!(
        r.body[1]["notes_html"]
            .as_str()
            .unwrap()
            .contains("<strong>CRM connector</strong>")
    );

    s.anna.put(&settings, json!({ "allow_beta": false })).await;
    assert_eq!(versions(&s.jan.get("/api/software").await.body), ["4.12.1", "4.11.2"]);

    // Updates off: nothing published afterwards shows.
    s.anna.put(&settings, json!({ "allow_updates": false })).await;
    let admin = s.app.demo("admin@vendor.example").await;
    s.app.advance(Duration::seconds(1));
    let r = admin.post("/api/releases", json!({ "version": "4.12.2", "channel": "stable", "notes": "fixes", "file_location": "https://downloads.vendor.example/4.12.2.msi" })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(versions(&s.jan.get("/api/software").await.body), ["4.12.1", "4.11.2"]);
    s.anna.put(&settings, json!({ "allow_updates": true })).await;
    assert_eq!(
        versions(&s.jan.get("/api/software").await.body),
        ["4.12.2", "4.12.1", "4.11.2"]
    );

    // A test organization sees alpha builds.
    s.anna
        .patch(
            &format!("/api/customers/{}", s.jansen),
            json!({ "customer_type": "TEST" }),
        )
        .await;
    s.anna.put(&settings, json!({ "allow_beta": true })).await;
    assert_eq!(
        versions(&s.jan.get("/api/software").await.body)[..3],
        ["4.12.2", "4.14.0-alpha.1", "4.13.0-beta.2"]
    );

    admin
        .post(
            "/api/releases",
            json!({ "version": "x", "channel": "nightly", "file_location": "ftp://x" }),
        )
        .await
        .assert_problem(422, "validation_failed");
    s.anna
        .post(
            "/api/releases",
            json!({ "version": "9", "channel": "stable", "file_location": "https://x.example/9" }),
        )
        .await
        .assert_problem(403, "not_authorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn download_links_are_signed_and_expire() {
    let s = shop().await;
    let list = s.jan.get("/api/software").await.body;
    let stable = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "4.12.1")
        .unwrap()
        .clone();
    let url = stable["download_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ok = http.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 302);
    assert_eq!(
        ok.headers()["location"],
        "https://downloads.vendor.example/client/4.12.1/setup.msi"
    );

    // Tampered: another release id, a later expiry, or a changed signature.
    let other = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "4.11.2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let swapped = url.replace(stable["id"].as_str().unwrap(), &other);
    let expires: i64 = url
        .split("expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let later = url.replace(&format!("expires={expires}"), &format!("expires={}", expires + 86_400));
    let resigned = format!("{}X", url);
    for bad in [swapped, later, resigned] {
        assert_eq!(http.get(&bad).send().await.unwrap().status(), 403, "{bad}");
    }
    // Expired after seven days.
    s.app.advance(Duration::days(7) + Duration::minutes(1));
    assert_eq!(http.get(&url).send().await.unwrap().status(), 410);
}

// --- Clone profiles -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_is_cloned_to_selected_users_in_one_go() {
    let s = shop().await;
    let jan = s.app.user_id("jan@jansen.example").await;
    let eva = s.app.user_id("eva@jansen.example").await;
    let extra = add_users(&s, 2).await;
    let profile = json!({ "dial_prefix": "0", "crm": { "popup": true, "system": "HubSpot" } });
    let r = s
        .jan
        .put(
            &format!("/api/organizations/{}/users/{jan}/profile", s.jansen),
            json!({ "profile": profile }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let clone_url = format!("/api/organizations/{}/users/{jan}/clone-profile", s.jansen);
    let stranger = s.app.user_id("max@alpine.example").await;
    let r = s.jan.post(&clone_url, json!({ "user_ids": [eva, stranger] })).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["user_ids[1]"]);
    // Nothing was copied by the refused call.
    assert_eq!(
        s.jan
            .get(&format!("/api/organizations/{}/users/{eva}/profile", s.jansen))
            .await
            .body["profile"],
        json!({})
    );

    let r = s
        .jan
        .post(&clone_url, json!({ "user_ids": [eva, extra[0], extra[1]] }))
        .await;
    assert_eq!(r.body, json!({ "updated": 3 }));
    for u in [eva, extra[0], extra[1]] {
        assert_eq!(
            s.anna
                .get(&format!("/api/organizations/{}/users/{u}/profile", s.jansen))
                .await
                .body["profile"],
            profile
        );
    }
    let audit = s.anna.get(&format!("/api/organizations/{}/audit", s.jansen)).await;
    assert!(
        audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.profile_cloned")
    );
    let plain = s.app.demo("eva@jansen.example").await;
    plain
        .post(&clone_url, json!({ "user_ids": [eva] }))
        .await
        .assert_problem(403, "not_authorized");
}

// --- The catalogue and the development clock ---------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_vendor_maintains_the_catalogue() {
    let s = shop().await;
    let admin = s.app.demo("admin@vendor.example").await;
    let r = admin
        .post(
            "/api/modules",
            json!({ "code": "fax", "name": "Fax", "business_price": "5", "user_price": "0.5" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.body["code"].as_str(),
            r.body["business_price"].as_str(),
            r.body["user_price"].as_str()
        ),
        (Some("FAX"), Some("5.00"), Some("0.50"))
    );
    admin
        .post(
            "/api/modules",
            json!({ "code": "FAX", "name": "Fax", "business_price": "5", "user_price": "1" }),
        )
        .await
        .assert_problem(409, "module_code_taken");
    let r = admin.post("/api/modules", json!({ "code": "bad code", "name": "", "currency": "euro", "business_price": "-1", "user_price": "1.234" })).await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["business_price", "code", "currency", "name", "user_price"]);
    let fax = r.body.clone();
    let _ = fax;
    let id = admin
        .get("/api/modules")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "FAX")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        admin
            .patch(&format!("/api/modules/{id}"), json!({ "active": false }))
            .await
            .body["active"],
        false
    );
    let codes: Vec<String> = s
        .anna
        .get("/api/modules")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["CRM", "REC", "WALLBOARD"], "partners see active modules only");
}

#[tokio::test(flavor = "multi_thread")]
async fn production_cannot_move_the_clock() {
    let app = TestApp::spawn().await;
    app.anonymous()
        .post("/api/dev/clock", json!({ "by": "7d" }))
        .await
        .assert_problem(404, "not_found");
    app.anonymous()
        .get("/api/dev/clock")
        .await
        .assert_problem(404, "not_found");
    let mut conn = app.conn().await;
    assert!(
        partnerdesk_core::platform::devclock::advance(&mut conn, &app.ctx, Duration::days(1))
            .await
            .is_err()
    );
}

// --- Done when ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_done_when_journey_from_trial_to_payment_and_download() {
    // As from `just run`: the demo partner starts a trial, the clock is moved with the
    // development command, the trial e-mails appear in the mailbox, the trial is upgraded,
    // the payment link opens and is paid, and a customer user downloads the stable release.
    let s = shop_with(Options {
        smtp: false,
        development: true,
        extra: vec![("MAINTENANCE_INTERVAL_SECONDS", "1".into())],
        ..Default::default()
    })
    .await;
    let trial = s
        .anna
        .post(
            &format!("/api/organizations/{}/trials", s.jansen),
            json!({ "module_id": s.crm }),
        )
        .await
        .id();
    let eva = s.app.user_id("eva@jansen.example").await;
    s.anna
        .post(
            &format!("/api/organizations/{}/trials/{trial}/users", s.jansen),
            json!({ "user_ids": [eva] }),
        )
        .await;

    let anon = s.app.anonymous();
    let moved = anon.post("/api/dev/clock", json!({ "by": "23d" })).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["offset_seconds"], 23 * 86_400);
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let mails = anon.get("/api/dev/mailbox?to=eva@jansen.example").await.body;
        if mails
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["subject"].as_str().unwrap().contains("7"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 7-day reminder reaches the mailbox: {mails}"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }

    let anna = s.app.demo("anna@northwind.example").await;
    let q = anna
        .post(
            &format!("/api/organizations/{}/trials/{trial}/upgrade-quote", s.jansen),
            json!({}),
        )
        .await;
    let order = confirm(&anna, q.body["id"].as_str().unwrap()).await;
    assert_eq!(order.status, 201, "{}", order.body);
    let pay_url = order.body["payment_url"].as_str().unwrap().to_owned();
    let http = crate::harness::browser_client();
    let html = http.get(&pay_url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("now</button>"), "{html}");
    let paid = http
        .post(&pay_url)
        .form(&[("csrf_token", crate::harness::csrf_token(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    assert!(paid.text().await.unwrap().contains("Paid"));

    let eva = s.app.demo("eva@jansen.example").await;
    let software = eva.get("/api/software").await.body;
    let stable = software
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["channel"] == "stable")
        .unwrap()
        .clone();
    let download = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(stable["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 302);
}
