//! Modules, quotes and orders, credits, trials with reminders, upgrades, payment links,
//! software releases, clone profiles and the development clock.

use std::time::Duration as StdDuration;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use partnerdesk_core::platform::values::{
    Channel, InvoiceStatus, LicenceKind, LicencePlan, OrderSource, OrderStatus, TrialStatus,
};
use partnerdesk_web::api::{
    commerce::{
        catalogue::{ModuleView, ReleaseView},
        licences::ModuleLicencesView,
        orders::{InvoiceView, OrderView, PaymentPageView},
        quotes::QuoteView,
        trials::{TrialOverviewPage, TrialView},
    },
    dev::{ClockView, MailView},
    tenancy::{
        audit::AuditEntryView,
        customers::CustomerView,
        users::{ProfileBody, UserOverviewView},
    },
};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::{buy, confirm, d, module_id, quote};
use crate::harness::{Client, FieldError, Options, Problem, Resp, TestApp};

struct Shop {
    app: TestApp,
    anna: Client, // Northwind partner admin
    jan: Client,  // company administrator of Jansen
    jansen: Uuid,
    crm: Uuid, // business 25.00, user 4.50
    rec: Uuid, // business 15.00, user 2.95
}

async fn shop_with(options: Options) -> Shop {
    let app = TestApp::spawn_with(options).await;
    let anna = app.demo("anna@northwind.example").await;
    let jan = app.demo("jan@jansen.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let crm = module_id(&anna, "CRM").await;
    let rec = module_id(&anna, "REC").await;
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

async fn licences(s: &Shop) -> Vec<ModuleLicencesView> {
    licences_as(&s.anna, s.jansen).await
}

/// Jansen's seats as its partner sees them: used and total.
async fn seats(s: &Shop) -> (i64, i64) {
    let usage = s
        .anna
        .get(&format!("/api/customers/{}", s.jansen))
        .await
        .view::<CustomerView>()
        .usage;
    (usage.used, usage.total)
}

/// Jansen's licences as `client` sees them.
async fn licences_as(client: &Client, org: Uuid) -> Vec<ModuleLicencesView> {
    let r = client.get(&format!("/api/organizations/{org}/licences")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view()
}

/// The licences of a module in an overview, if any are on.
fn module_entry(overview: Vec<ModuleLicencesView>, code: &str) -> Option<ModuleLicencesView> {
    overview.into_iter().find(|m| m.module.code == code)
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
    let q: QuoteView = q.view();
    let lines = &q.lines;
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (lines[0].licence_kind, lines[0].quantity, lines[0].unit_price.as_str()),
        (LicenceKind::Business, 1, "25.00")
    );
    assert_eq!(
        (
            lines[1].licence_kind,
            lines[1].quantity,
            lines[1].monthly_amount.as_str()
        ),
        (LicenceKind::User, 2, "9.00")
    );
    assert_eq!(
        (
            lines[2].licence_kind,
            lines[2].quantity,
            lines[2].monthly_amount.as_str()
        ),
        (LicenceKind::Credit, 3, "13.50")
    );
    assert_eq!(q.monthly_total, "47.50");
    let expected: Vec<Decimal> = [d("25.00"), d("9.00"), d("13.50")]
        .into_iter()
        .map(rest_of_month)
        .collect();
    for (line, want) in lines.iter().zip(&expected) {
        assert_eq!(d(&line.amount), *want, "{line:?}");
    }
    let period_total: Decimal = expected.iter().sum();
    assert_eq!(d(&q.period_total), period_total);

    // Nothing is active before confirmation.
    assert!(module_entry(licences(&s).await, "CRM").is_none());

    let o = confirm(&s.anna, q.id).await;
    assert_eq!(o.status, 201, "{}", o.body);
    let o: OrderView = o.view();
    assert_eq!(o.total, q.period_total);
    assert_eq!(o.invoice.amount, q.period_total);
    assert_eq!(o.invoice.status, InvoiceStatus::Open);
    assert_eq!(
        o.source,
        OrderSource::AddProducts,
        "the partner added products for its customer"
    );
    assert_eq!(o.lines.len(), 3);
    assert!(o.invoice.number.starts_with("INV-"));

    let crm = module_entry(licences(&s).await, "CRM").unwrap();
    assert_eq!(crm.business_kind, Some(LicencePlan::Paid));
    let holders: Vec<Uuid> = crm.users.iter().map(|u| u.user_id).collect();
    assert!(holders.contains(&jan_id) && holders.contains(&eva_id));
    assert_eq!(crm.free_credits, 3);

    // The customer list and user overview see it.
    let c: CustomerView = s.anna.get(&format!("/api/customers/{}", s.jansen)).await.view();
    assert_eq!((c.usage.used, c.usage.total), (2, 5));
    let users: Vec<UserOverviewView> = s
        .jan
        .get(&format!("/api/organizations/{}/users", s.jansen))
        .await
        .view();
    assert!(users.iter().all(|u| u.activated_modules == ["CRM"]));

    // The confirmation with the payment link reaches the partner.
    let mail = s.app.smtp.expect_one("anna@northwind.example", "INV-").await;
    assert!(mail.text.contains(&o.payment_url), "{}", mail.text);

    // A second confirmation is refused.
    confirm(&s.anna, q.id).await.assert_problem(409, "quote_confirmed");
    // Activating the business licence again is refused at quote time.
    let r = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].code, "licence_exists");
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
    confirm(&s.anna, q.view::<QuoteView>().id)
        .await
        .assert_problem(409, "quote_stale");

    // Stale: the state changed (someone else activated it first).
    let first = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.rec }])).await;
    let second = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.rec }])).await;
    assert_eq!(confirm(&s.anna, first.view::<QuoteView>().id).await.status, 201);
    confirm(&s.anna, second.view::<QuoteView>().id)
        .await
        .assert_problem(409, "quote_stale");

    // Foreign: another partner, or the customer's own company administrator.
    let q = quote(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    let id = q.view::<QuoteView>().id;
    let max = s.app.demo("max@alpine.example").await;
    confirm(&max, id).await.assert_problem(404, "not_found");
    confirm(&s.jan, id).await.assert_problem(404, "not_found");
    max.get(&format!("/api/quotes/{id}"))
        .await
        .assert_problem(404, "not_found");

    // Expired.
    s.app.advance(Duration::minutes(31));
    let anna = s.app.demo("anna@northwind.example").await;
    confirm(&anna, id).await.assert_problem(409, "quote_expired");
    assert!(
        module_entry(licences(&s).await, "CRM").is_none(),
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
    let credit_line = order
        .lines
        .iter()
        .find(|l| l.licence_kind == LicenceKind::Credit)
        .unwrap();
    assert_eq!(
        d(&credit_line.amount),
        rest_of_month(d("13.50")),
        "billed from the moment they exist"
    );
    assert_eq!(seats(&s).await, (0, 3));

    let jan = s.app.user_id("jan@jansen.example").await;
    let eva = s.app.user_id("eva@jansen.example").await;
    let url = format!("/api/organizations/{}/credits/assign", s.jansen);
    let r = s
        .anna
        .post(&url, json!({ "module_id": s.crm, "user_ids": [jan, eva] }))
        .await;
    assert_eq!(r.body, json!({ "assigned": 2 }));
    assert_eq!(module_entry(licences(&s).await, "CRM").unwrap().free_credits, 1);
    assert_eq!(seats(&s).await, (2, 3));
    // No new order for assignments.
    assert_eq!(
        s.anna
            .get(&format!("/api/organizations/{}/orders", s.jansen))
            .await
            .view::<Vec<OrderView>>()
            .len(),
        1
    );

    let more = add_users(&s, 2).await;
    let r = s.anna.post(&url, json!({ "module_id": s.crm, "user_ids": more })).await;
    r.assert_problem(409, "not_enough_credits");
    assert_eq!(
        module_entry(licences(&s).await, "CRM").unwrap().free_credits,
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
    let crm = module_entry(licences(&s).await, "CRM").unwrap();
    assert_eq!(crm.free_credits, 0);
    assert_eq!(crm.users.len(), 5);
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
    let crm = module_entry(licences(&s).await, "CRM").unwrap();
    assert_eq!(crm.free_credits, 0);
    assert_eq!(crm.users.len(), 6);
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
    let t: TrialView = r.view();
    assert_eq!(t.max_users, 5);
    let trial = t.id;
    assert_eq!(t.ends_at - t.starts_at, Duration::days(30));
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
    assert_eq!(r.field_errors()[0].code, "trial_active");

    let overview: TrialOverviewPage = s.anna.get("/api/trials").await.view();
    let row = overview.items.iter().find(|t| t.trial_id == trial).unwrap();
    assert_eq!(
        (row.company.as_str(), row.users_assigned, row.active),
        ("Jansen Installatietechniek", 5, true)
    );
    assert!(
        s.app
            .demo("max@alpine.example")
            .await
            .get("/api/trials")
            .await
            .view::<TrialOverviewPage>()
            .items
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
    let overview = licences_as(&anna, s.jansen).await;
    assert_eq!(module_entry(overview, "REC").unwrap().users.len(), 2);

    s.app.advance(Duration::days(1));
    s.app
        .smtp
        .wait_for(3, StdDuration::from_secs(20), |m| m.subject.contains("has ended"))
        .await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    s.app.settle().await;
    assert_eq!(trial_mails(&s.app, "has ended"), everyone);
    let anna = s.app.demo("anna@northwind.example").await;
    let overview = licences_as(&anna, s.jansen).await;
    assert!(module_entry(overview, "REC").is_none(), "the trial licences are off");
    let row = &anna.get("/api/trials").await.view::<TrialOverviewPage>().items[0];
    assert_eq!((row.status, row.active), (TrialStatus::Ended, false));
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
    let q: QuoteView = q.view();
    assert_eq!(q.monthly_total, "34.00", "25.00 + 2 × 4.50");
    let o = confirm(&s.anna, q.id).await;
    assert_eq!(o.status, 201, "{}", o.body);
    let o: OrderView = o.view();
    assert_eq!(o.source, OrderSource::TrialUpgrade);
    assert_eq!(d(&o.total), rest_of_month(d("25.00")) + rest_of_month(d("9.00")));

    let crm = module_entry(licences(&s).await, "CRM").unwrap();
    assert_eq!(crm.business_kind, Some(LicencePlan::Paid));
    assert!(crm.business_ends_at.is_none());
    let mut holders: Vec<Uuid> = crm.users.iter().map(|u| u.user_id).collect();
    holders.sort();
    let mut expected = vec![jan, eva];
    expected.sort();
    assert_eq!(holders, expected, "the same users keep their licences");
    assert!(
        crm.users
            .iter()
            .all(|u| u.kind == LicencePlan::Paid && u.ends_at.is_none())
    );
    let trials: Vec<TrialView> = s
        .anna
        .get(&format!("/api/organizations/{}/trials", s.jansen))
        .await
        .view();
    assert_eq!(trials[0].status, TrialStatus::Upgraded);
    // The upgraded trial is not ended by the clock any more.
    s.app.advance(Duration::days(40));
    let mut conn = s.app.conn().await;
    partnerdesk_core::commerce::trials::sweep(&mut conn, &s.app.ctx)
        .await
        .unwrap();
    let anna = s.app.demo("anna@northwind.example").await;
    let overview = licences_as(&anna, s.jansen).await;
    assert_eq!(module_entry(overview, "CRM").unwrap().users.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deactivated_customers_earlier_download_links_stop_working() {
    let s = shop().await;
    let eva = s.app.demo("eva@jansen.example").await;
    let software: Vec<ReleaseView> = eva.get("/api/software").await.view();
    let link = &software
        .iter()
        .find(|r| r.channel == Channel::Stable)
        .unwrap()
        .download_url;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(http.get(link).send().await.unwrap().status(), 302);

    let r = s
        .anna
        .post(&format!("/api/customers/{}/deactivate", s.jansen), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let used = http.get(link).send().await.unwrap();
    assert_eq!(
        used.status(),
        409,
        "the link downloads nothing once its organization is off"
    );
    assert!(used.headers().get("location").is_none());

    // Another organization's link cannot be made from this one.
    let northwind = s.app.org_id("Northwind IT Services").await;
    let forged = link.replace(&format!("org={}", s.jansen), &format!("org={northwind}"));
    assert_ne!(&forged, link);
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);
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
    assert_eq!(licences(&s).await.len(), 2);
    let r = s
        .anna
        .post(&format!("/api/customers/{}/deactivate", s.jansen), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        licences(&s).await.is_empty(),
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
        .await
        .view::<Vec<AuditEntryView>>();
    let entry = audit.into_iter().find(|e| e.action == "customer.deactivated").unwrap();
    assert_eq!(
        entry.changes["licences_deactivated"], 6,
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
    let crm = module_entry(licences(&s).await, "CRM").unwrap();
    let single = crm.users[0].id;
    let r = s
        .anna
        .post(
            &format!("/api/organizations/{}/user-licences/{single}/deactivate", s.jansen),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(module_entry(licences(&s).await, "CRM").unwrap().users.len(), 1);
    let bl = crm.business_licence_id.unwrap();
    let r = s
        .anna
        .post(
            &format!("/api/organizations/{}/business-licences/{bl}/deactivate", s.jansen),
            json!({}),
        )
        .await;
    assert_eq!(r.body, json!({ "deactivated": 2 }));
    assert!(licences(&s).await.is_empty());
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
    let url = order.payment_url.clone();
    let token = token_of(&url);
    assert_eq!(token.len(), 43, "256 bits of HMAC, not derived from anything public");
    assert!(!token.contains(&order.invoice.id.to_string()[..8]));

    let anon = s.app.anonymous();
    let page = anon.get(&format!("/api/payments/{token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page: PaymentPageView = page.view();
    assert_eq!(page.invoice.number, order.invoice.number);
    assert_eq!(page.invoice.amount, order.total);
    assert_eq!(page.customer, "Jansen Installatietechniek");
    assert!(page.pays_online);

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
        html.contains(&order.invoice.number) && html.contains("Pay EUR"),
        "{html}"
    );

    let paid = anon.post(&format!("/api/payments/{token}/pay"), json!({})).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    let paid: InvoiceView = paid.view();
    assert_eq!(paid.status, InvoiceStatus::Paid);
    assert!(paid.paid_at.is_some());
    anon.post(&format!("/api/payments/{token}/pay"), json!({}))
        .await
        .assert_problem(409, "invoice_paid");
    let o: OrderView = s.anna.get(&format!("/api/orders/{}", order.id)).await.view();
    assert_eq!(o.status, OrderStatus::Paid);
    s.app.smtp.expect_one("anna@northwind.example", "is paid").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bank_transfer_is_recorded_by_finance_once() {
    let s = shop().await;
    let order = buy(&s.anna, s.jansen, json!([{ "type": "business", "module_id": s.crm }])).await;
    let token = token_of(&order.payment_url);
    let r = s
        .app
        .anonymous()
        .post(&format!("/api/payments/{token}/pay"), json!({}))
        .await;
    r.assert_problem(409, "pay_by_bank_transfer");
    assert!(
        r.parse::<Problem>().detail.contains(&order.invoice.number),
        "{}",
        r.body
    );

    let finance = s.app.demo("finance@vendor.example").await;
    let open = finance.get("/api/invoices?status=open").await;
    assert_eq!(open.view::<Vec<InvoiceView>>().len(), 1);
    let invoice = order.invoice.id;
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

fn versions(r: &Resp) -> Vec<String> {
    r.view::<Vec<ReleaseView>>().into_iter().map(|r| r.version).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_see_the_releases_their_settings_allow() {
    let s = shop().await;
    let settings = format!("/api/organizations/{}/settings", s.jansen);
    // Default: updates and beta allowed; alpha is for test organizations.
    assert_eq!(
        versions(&s.jan.get("/api/software").await),
        ["4.13.0-beta.2", "4.12.1", "4.11.2"]
    );
    let eva = s.app.demo("eva@jansen.example").await;
    let r = eva.get("/api/software").await;
    assert_eq!(r.status, 200, "a plain user may download");
    assert!(
        r.view::<Vec<ReleaseView>>()[1]
            .notes_html
            .contains("<strong>CRM connector</strong>")
    );

    s.anna.put(&settings, json!({ "allow_beta": false })).await;
    assert_eq!(versions(&s.jan.get("/api/software").await), ["4.12.1", "4.11.2"]);

    // Updates off: nothing published afterwards shows.
    s.anna.put(&settings, json!({ "allow_updates": false })).await;
    let admin = s.app.demo("admin@vendor.example").await;
    s.app.advance(Duration::seconds(1));
    let r = admin.post("/api/releases", json!({ "version": "4.12.2", "channel": "stable", "notes": "fixes", "file_location": "https://downloads.vendor.example/4.12.2.msi" })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(versions(&s.jan.get("/api/software").await), ["4.12.1", "4.11.2"]);
    s.anna.put(&settings, json!({ "allow_updates": true })).await;
    assert_eq!(
        versions(&s.jan.get("/api/software").await),
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
        versions(&s.jan.get("/api/software").await)[..3],
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
    let list: Vec<ReleaseView> = s.jan.get("/api/software").await.view();
    let stable = list.iter().find(|r| r.version == "4.12.1").unwrap();
    let url = stable.download_url.clone();
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
    let other = list.iter().find(|r| r.version == "4.11.2").unwrap().id;
    let swapped = url.replace(&stable.id.to_string(), &other.to_string());
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
            .view::<ProfileBody>()
            .profile,
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
                .view::<ProfileBody>()
                .profile,
            profile
        );
    }
    let audit: Vec<AuditEntryView> = s
        .anna
        .get(&format!("/api/organizations/{}/audit", s.jansen))
        .await
        .view();
    assert!(audit.iter().any(|e| e.action == "user.profile_cloned"));
    let plain = s.app.demo("eva@jansen.example").await;
    plain
        .post(&clone_url, json!({ "user_ids": [eva] }))
        .await
        .assert_problem(403, "not_authorized");
}

/// Whatever number a profile is saved with reads back exactly, in a read, an update and a
/// clone: the largest and smallest floats, a tiny one, a long integer. jsonb keeps a
/// float as its full decimal expansion, which once could not be read back, and the
/// user's profile was lost to every read after.
#[tokio::test(flavor = "multi_thread")]
async fn a_profile_with_extreme_numbers_reads_back_exactly() {
    let s = shop().await;
    let jan = s.app.user_id("jan@jansen.example").await;
    let eva = s.app.user_id("eva@jansen.example").await;
    let url = |u: uuid::Uuid| format!("/api/organizations/{}/users/{u}/profile", s.jansen);
    let profile: serde_json::Value = serde_json::from_str(
        r#"{ "max": 1.7976931348623157e308, "min": -1.7976931348623157e308, "tiny": 5e-324,
             "third": 0.3333333333333333, "big": 18446744073709551615, "list": [1e300, -2.5e-300] }"#,
    )
    .unwrap();
    let r = s.jan.put(&url(jan), json!({ "profile": profile })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let read = s.jan.get(&url(jan)).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.view::<ProfileBody>().profile, profile);
    let r = s
        .jan
        .post(
            &format!("/api/organizations/{}/users/{jan}/clone-profile", s.jansen),
            json!({ "user_ids": [eva] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.jan.get(&url(eva)).await.view::<ProfileBody>().profile, profile);
    let r = s.jan.put(&url(jan), json!({ "profile": { "max": 1 } })).await;
    assert_eq!(r.status, 200, "the profile is updated again: {}", r.body);
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
    let fax: ModuleView = r.view();
    assert_eq!(
        (fax.code.as_str(), fax.business_price.as_str(), fax.user_price.as_str()),
        ("FAX", "5.00", "0.50")
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
    let id = module_id(&admin, "FAX").await;
    assert!(
        !admin
            .patch(&format!("/api/modules/{id}"), json!({ "active": false }))
            .await
            .view::<ModuleView>()
            .active
    );
    let codes: Vec<String> = s
        .anna
        .get("/api/modules")
        .await
        .view::<Vec<ModuleView>>()
        .into_iter()
        .map(|m| m.code)
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
    assert_eq!(moved.view::<ClockView>().offset_seconds, 23 * 86_400);
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let mails = anon.get("/api/dev/mailbox?to=eva@jansen.example").await;
        if mails.view::<Vec<MailView>>().iter().any(|m| m.subject.contains("7")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 7-day reminder reaches the mailbox: {}",
            mails.body
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
    let order = confirm(&anna, q.view::<QuoteView>().id).await;
    assert_eq!(order.status, 201, "{}", order.body);
    let pay_url = order.view::<OrderView>().payment_url;
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
    let software: Vec<ReleaseView> = eva.get("/api/software").await.view();
    let stable = software.iter().find(|r| r.channel == Channel::Stable).unwrap();
    let download = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&stable.download_url)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 302);
}
