//! Billing runs end to end: started through the API, rendered by the real worker, the
//! files downloaded and read back with independent readers (calamine for XLSX, the csv
//! crate for CSV), and compared line by line with what the rules in docs/billing.md say.

use std::{collections::BTreeMap, io::Cursor};

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::{Datelike, NaiveDate};
use partnerdesk_core::billing::BillingRunStatus;
use partnerdesk_web::api::{
    billing::{BillingRunPage, BillingRunView, BillingTotalView},
    commerce::licences::ModuleLicencesView,
};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::d;
use crate::{
    fixtures::{buy, module_id, pay},
    harness::{Client, Options, TestApp},
};

fn cents(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn last_of_month(day: NaiveDate) -> NaiveDate {
    let (y, m) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap().pred_opt().unwrap()
}

/// What docs/billing.md says a licence costs from `from` to `to` (inclusive): per calendar
/// month, unit × quantity × days / days in the month, rounded half away from zero.
fn prorated(unit: Decimal, quantity: i64, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate, Decimal)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let month_end = last_of_month(start);
        let end = month_end.min(to);
        let days = (end - start).num_days() + 1;
        let amount = cents(unit * Decimal::from(quantity) * Decimal::from(days) / Decimal::from(month_end.day()));
        out.push((start, end, amount));
        start = end.succ_opt().unwrap();
    }
    out
}

/// Starts a run and waits until the worker has rendered it.
async fn run(app: &TestApp, client: &Client, body: Value) -> BillingRunView {
    let r = client.post("/api/billing-runs", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let queued: BillingRunView = r.view();
    assert_eq!(queued.status, BillingRunStatus::Queued);
    app.settle().await;
    let done = client.get(&format!("/api/billing-runs/{}", queued.id)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let run: BillingRunView = done.view();
    assert_eq!(run.status, BillingRunStatus::Ready, "{}", done.body);
    run
}

/// A run's recorded totals, every field, to compare two reads of it.
fn totals(run: &BillingRunView) -> Vec<(Option<Uuid>, &str, i64, &str)> {
    run.totals
        .iter()
        .map(|t: &BillingTotalView| (t.partner_id, t.currency.as_str(), t.lines, t.amount.as_str()))
        .collect()
}

/// One line of the CSV, by column name.
type Row = BTreeMap<String, String>;

/// Both files of a run, read back.
struct Files {
    csv_bytes: Vec<u8>,
    csv: Vec<Row>,
    /// Lines sheet, without the header.
    lines: Vec<Vec<Data>>,
    customers: Vec<Vec<Data>>,
    partners: Vec<Vec<Data>>,
}

async fn download(client: &Client, run: &BillingRunView) -> Files {
    let id = run.id;
    let (status, headers, csv_bytes) = client.get_bytes(&format!("/api/billing-runs/{id}/csv")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let (status, headers, xlsx) = client.get_bytes(&format!("/api/billing-runs/{id}/xlsx")).await;
    assert_eq!(status, 200);
    assert!(headers["content-disposition"].to_str().unwrap().ends_with(".xlsx\""));
    // The sizes and checksums shown are the files'.
    use sha2::Digest;
    for (format, bytes) in [("csv", &csv_bytes), ("xlsx", &xlsx)] {
        let f = run.files.iter().find(|f| f.format == format).unwrap();
        assert_eq!(f.size, bytes.len() as i64);
        assert_eq!(f.sha256, hex::encode(sha2::Sha256::digest(bytes)));
    }
    let separator = run.csv_separator.as_bytes()[0];
    let text = csv_bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&csv_bytes);
    let mut reader = csv::ReaderBuilder::new().delimiter(separator).from_reader(text);
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let csv = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(xlsx)).expect("an XLSX file");
    let mut sheet = |name: &str| -> Vec<Vec<Data>> {
        let range = book.worksheet_range(name).unwrap();
        range.rows().skip(1).map(<[Data]>::to_vec).collect()
    };
    Files {
        lines: sheet("Lines"),
        customers: sheet("Customers"),
        partners: sheet("Partners"),
        csv_bytes,
        csv,
    }
}

fn text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn number(cell: &Data) -> Decimal {
    match cell {
        Data::Float(f) => cents(Decimal::try_from(*f).unwrap()),
        Data::Int(i) => Decimal::from(*i),
        other => panic!("expected a number, got {other:?}"),
    }
}

fn date(cell: &Data) -> NaiveDate {
    match cell {
        Data::DateTime(dt) => dt.as_datetime().unwrap().date(),
        other => panic!("expected a date, got {other:?}"),
    }
}

/// The XLSX lines are the CSV lines, cell for cell, and the totals sheets and the
/// run's recorded totals are the sums of the lines, to the cent.
fn assert_files_agree(files: &Files, run: &BillingRunView) {
    assert_eq!(files.csv.len(), files.lines.len());
    assert_eq!(files.csv.len() as i64, run.line_count.unwrap());
    for (row, cells) in files.csv.iter().zip(&files.lines) {
        assert_eq!(row["Partner"], text(&cells[0]));
        assert_eq!(row["Debtor number"], text(&cells[1]));
        assert_eq!(row["Customer"], text(&cells[2]));
        assert_eq!(row["Licence kind"], text(&cells[6]));
        assert_eq!(row["User"], text(&cells[7]));
        assert_eq!(d(&row["Quantity"]), number(&cells[8]));
        assert_eq!(d(&row["Unit price"]), number(&cells[9]));
        assert_eq!(d(&row["Amount"]), number(&cells[10]));
        assert_eq!(row["Period from"], date(&cells[11]).to_string());
        assert_eq!(row["Period to"], date(&cells[12]).to_string());
        assert_eq!(row["Currency"], text(&cells[13]));
    }
    let mut per_customer: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    let mut per_partner: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for row in &files.csv {
        let amount = d(&row["Amount"]);
        *per_customer
            .entry((row["Customer id"].clone(), row["Currency"].clone()))
            .or_default() += amount;
        *per_partner
            .entry((row["Partner"].clone(), row["Currency"].clone()))
            .or_default() += amount;
    }
    let customer_names: BTreeMap<String, String> = files
        .csv
        .iter()
        .map(|r| (r["Customer"].clone(), r["Customer id"].clone()))
        .collect();
    let sheet: BTreeMap<(String, String), Decimal> = files
        .customers
        .iter()
        .map(|c| ((customer_names[&text(&c[2])].clone(), text(&c[4])), number(&c[6])))
        .collect();
    assert_eq!(sheet, per_customer, "the Customers sheet sums the lines");
    let sheet: BTreeMap<(String, String), Decimal> = files
        .partners
        .iter()
        .map(|p| {
            let name = text(&p[0]);
            let name = if name == "(direct customers)" {
                String::new()
            } else {
                name
            };
            ((name, text(&p[1])), number(&p[3]))
        })
        .collect();
    assert_eq!(sheet, per_partner, "the Partners sheet sums the lines");
    let recorded: Decimal = run.totals.iter().map(|t| d(&t.amount)).sum();
    assert_eq!(
        recorded,
        per_partner.values().copied().sum::<Decimal>(),
        "the run's totals are the files'"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_bills_licences_and_credits_prorated_less_payments_plus_refunds_never_trials_or_my_account() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let finance = app.demo("finance@vendor.example").await;
    let (jansen, devries, northwind) = (
        app.org_id("Jansen Installatietechniek").await,
        app.org_id("Bakkerij de Vries").await,
        app.org_id("Northwind IT Services").await,
    );
    let (crm, rec) = (module_id(&anna, "CRM").await, module_id(&anna, "REC").await);
    let jan = app.user_id("jan@jansen.example").await;
    let bought = app.ctx.now().date_naive();

    let order = buy(
        &anna,
        jansen,
        json!([{ "type": "business", "module_id": crm }, { "type": "credits", "module_id": crm, "quantity": 3 },
               { "type": "users", "module_id": crm, "user_ids": [jan] }]),
    )
    .await;
    pay(&finance, &order).await;
    // A refund on the business licence's line.
    let r = finance
        .post(
            &format!("/api/invoices/{}/credit-notes", order.invoice.id),
            json!({ "order_line_id": order.lines[0].id, "amount": "1.00", "reason": "goodwill" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // De Vries: a trial (never billed) and a paid licence switched off four days later;
    // its order is not paid yet, so no payment line.
    let t = anna
        .post(
            &format!("/api/organizations/{devries}/trials"),
            json!({ "module_id": rec }),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    buy(&anna, devries, json!([{ "type": "business", "module_id": crm }])).await;
    // The partner's own account buys too: never billed.
    let own = buy(&anna, northwind, json!([{ "type": "business", "module_id": crm }])).await;
    pay(&finance, &own).await;
    app.advance(chrono::Duration::days(4));
    let anna = app.demo("anna@northwind.example").await;
    let finance = app.demo("finance@vendor.example").await;
    let licences: Vec<ModuleLicencesView> = anna.get(&format!("/api/organizations/{devries}/licences")).await.view();
    let crm_licence = licences
        .iter()
        .find(|m| m.module.id == crm)
        .unwrap()
        .business_licence_id
        .unwrap();
    let off = anna
        .post(
            &format!("/api/organizations/{devries}/business-licences/{crm_licence}/deactivate"),
            json!({}),
        )
        .await;
    assert!(off.status < 300, "{}", off.body);
    let switched_off = app.ctx.now().date_naive();

    let first = bought.with_day(1).unwrap();
    let last = last_of_month(last_of_month(bought).succ_opt().unwrap());
    let run = run(&app, &finance, json!({ "period_start": first, "period_end": last })).await;
    let files = download(&finance, &run).await;
    assert_files_agree(&files, &run);
    let rows = &files.csv;

    // Never billed: the partner's own account, the vendor, trials.
    assert!(
        rows.iter()
            .all(|r| r["Customer"] != "Northwind IT Services" && r["Customer"] != "Partnerdesk Software B.V.")
    );
    assert!(
        rows.iter().all(|r| r["Module"] != "Call recording"),
        "trials are never billed"
    );

    let of = |customer: &str, item: &str, kind: &str| -> Vec<(NaiveDate, NaiveDate, Decimal, String)> {
        rows.iter()
            .filter(|r| r["Customer"] == customer && r["Item"] == item && r["Licence kind"] == kind)
            .map(|r| {
                (
                    r["Period from"].parse().unwrap(),
                    r["Period to"].parse().unwrap(),
                    d(&r["Amount"]),
                    r["Quantity"].clone(),
                )
            })
            .collect()
    };
    let expect = |unit: &str, qty: i64, from, to| -> Vec<(NaiveDate, NaiveDate, Decimal, String)> {
        prorated(d(unit), qty, from, to)
            .into_iter()
            .map(|(f, t, a)| (f, t, a, qty.to_string()))
            .collect()
    };
    let jansen_rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r["Customer"] == "Jansen Installatietechniek")
        .collect();
    assert!(
        jansen_rows
            .iter()
            .all(|r| r["Debtor number"] == "D-1001" && r["Partner"] == "Northwind IT Services")
    );
    assert!(
        jansen_rows
            .iter()
            .all(|r| r["Country"] == "NL" && r["Currency"] == "EUR")
    );
    assert_eq!(
        of("Jansen Installatietechniek", "licence", "business"),
        expect("25.00", 1, bought, last)
    );
    assert_eq!(
        of("Jansen Installatietechniek", "licence", "credit"),
        expect("4.50", 3, bought, last)
    );
    assert_eq!(
        of("Jansen Installatietechniek", "licence", "user"),
        expect("4.50", 1, bought, last)
    );
    assert!(jansen_rows.iter().any(|r| r["User"] == "jan@jansen.example"));
    // What the order charged comes off; the refund goes back on.
    let payments: Decimal = jansen_rows
        .iter()
        .filter(|r| r["Item"] == "payment")
        .map(|r| d(&r["Amount"]))
        .sum();
    assert_eq!(payments, -d(&order.total));
    let refunds: Vec<&&Row> = jansen_rows.iter().filter(|r| r["Item"] == "refund").collect();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["Amount"], "1.00");
    // Switched off after four days: billed up to and including that day.
    assert_eq!(
        of("Bakkerij de Vries", "licence", "business"),
        expect("25.00", 1, bought, switched_off)
    );
    assert!(
        rows.iter()
            .all(|r| !(r["Customer"] == "Bakkerij de Vries" && r["Item"] == "payment"))
    );
    // Alpine's customer holds nothing: no lines.
    assert!(rows.iter().all(|r| r["Customer"] != "Müller Logistik"));
    // The CSV is RFC 4180: CRLF line ends.
    assert!(files.csv_bytes.windows(2).filter(|w| w == b"\r\n").count() == rows.len() + 1);
}

/// Credits of one module bought twice the same day are one line of the month's file,
/// and that line is what the two orders were priced at, to the cent: the customer paid
/// for the month already and is billed nothing more. Quantities are chosen where pricing
/// the merged quantity anew would round a cent apart.
#[tokio::test(flavor = "multi_thread")]
async fn credits_bought_in_two_orders_are_billed_as_they_were_priced() {
    let app = TestApp::spawn().await;
    if app.ctx.now().day() == 1 {
        // On a month's first day a month costs exactly its price: nothing to round.
        app.advance(chrono::Duration::days(1));
    }
    let anna = app.demo("anna@northwind.example").await;
    let finance = app.demo("finance@vendor.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let crm = module_id(&anna, "CRM").await;
    let modules: Vec<partnerdesk_web::api::commerce::catalogue::ModuleView> = anna.get("/api/modules").await.view();
    let price = d(&modules.iter().find(|m| m.id == crm).unwrap().user_price);
    let today = app.ctx.now().date_naive();
    let month_end = last_of_month(today);
    let (days, month) = (
        Decimal::from((month_end - today).num_days() + 1),
        Decimal::from(month_end.day()),
    );
    let priced = |q: i64| cents(price * Decimal::from(q) * days / month);
    let (a, b) = (1..=40i64)
        .flat_map(|a| (1..=40i64).map(move |b| (a, b)))
        .find(|&(a, b)| priced(a) + priced(b) != priced(a + b))
        .expect("quantities whose merged price rounds apart");
    // Credits need the module's business licence: the first order brings it along.
    let mut paid = Decimal::ZERO;
    for (quantity, business) in [(a, true), (b, false)] {
        let mut items = vec![json!({ "type": "credits", "module_id": crm, "quantity": quantity })];
        if business {
            items.insert(0, json!({ "type": "business", "module_id": crm }));
        }
        let order = buy(&anna, jansen, json!(items)).await;
        pay(&finance, &order).await;
        let credits = order.lines.iter().find(|l| {
            l.quantity == quantity as i32 && l.licence_kind != partnerdesk_core::platform::values::LicenceKind::Business
        });
        paid += d(&credits.expect("the credits' line").amount);
    }
    assert_eq!(paid, priced(a) + priced(b));

    app.advance(chrono::Duration::days((month_end - today).num_days() + 1));
    let finance = app.demo("finance@vendor.example").await;
    let run = run(
        &app,
        &finance,
        json!({ "period_start": today.with_day(1).unwrap(), "period_end": month_end }),
    )
    .await;
    let files = download(&finance, &run).await;
    assert_files_agree(&files, &run);
    let credits: Vec<&Row> = files
        .csv
        .iter()
        .filter(|r| r["Customer"] == "Jansen Installatietechniek" && r["Licence kind"] == "credit")
        .filter(|r| r["Item"] == "licence")
        .collect();
    assert_eq!(credits.len(), 1, "one merged credit line: {credits:?}");
    assert_eq!(credits[0]["Quantity"], (a + b).to_string());
    assert_eq!(d(&credits[0]["Amount"]), paid, "billed as the orders were priced");
}

/// A line refunded in full switches off what it bought, and later months bill it no
/// more: refunding the credits line leaves the business licence billed; refunding the
/// business line switches the module off with its user licences.
#[tokio::test(flavor = "multi_thread")]
async fn a_licence_refunded_in_full_is_switched_off_and_billed_no_more() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let finance = app.demo("finance@vendor.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let crm = module_id(&anna, "CRM").await;
    let order = buy(
        &anna,
        jansen,
        json!([{ "type": "business", "module_id": crm }, { "type": "credits", "module_id": crm, "quantity": 2 }]),
    )
    .await;
    pay(&finance, &order).await;
    let active = async |kind: &str| {
        app.count(&format!(
            "SELECT count(*) FROM {kind}_licences WHERE organization_id = '{jansen}' AND active"
        ))
        .await
    };
    let (business, credits) = (active("business").await, active("user").await);
    assert_eq!(credits, 2);
    let refund = async |line: &partnerdesk_web::api::commerce::orders::OrderLineView, amount: &str| {
        let r = finance
            .post(
                &format!("/api/invoices/{}/credit-notes", order.invoice.id),
                json!({ "order_line_id": line.id, "amount": amount, "reason": "returned" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    };
    let credits_line = order.lines.iter().find(|l| l.quantity == 2).unwrap();
    // Part of it: nothing is switched off.
    refund(credits_line, "0.01").await;
    assert_eq!(active("user").await, 2);
    let rest = (d(&credits_line.amount) - Decimal::new(1, 2)).to_string();
    refund(credits_line, &rest).await;
    assert_eq!(active("user").await, 0, "the credits are off");
    assert_eq!(active("business").await, business, "the business licence stays");

    // Next month bills the business licence and no credits.
    let today = app.ctx.now().date_naive();
    let next_first = last_of_month(today).succ_opt().unwrap();
    let next_last = last_of_month(next_first);
    app.advance(chrono::Duration::days((next_last - today).num_days() + 1));
    let finance2 = app.demo("finance@vendor.example").await;
    let billed = async |finance: &Client| {
        let run = run(
            &app,
            finance,
            json!({ "period_start": next_first, "period_end": next_last }),
        )
        .await;
        let files = download(finance, &run).await;
        assert_files_agree(&files, &run);
        files
            .csv
            .into_iter()
            .filter(|r| {
                r["Customer"] == "Jansen Installatietechniek"
                    && r["Item"] == "licence"
                    && r["Module"] == "CRM connector"
            })
            .map(|r| r["Licence kind"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(billed(&finance2).await, ["business"]);

    // The business line refunded in full: the module is off, nothing of it is billed.
    let business_line = order.lines.iter().find(|l| l.quantity == 1).unwrap();
    let r = finance2
        .post(
            &format!("/api/invoices/{}/credit-notes", order.invoice.id),
            json!({ "order_line_id": business_line.id, "amount": business_line.amount, "reason": "returned" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(active("business").await, business - 1);
    // Billed up to the day it was switched off; the month after, not at all.
    let now = app.ctx.now().date_naive();
    let after = last_of_month(now).succ_opt().unwrap();
    let after_last = last_of_month(after);
    app.advance(chrono::Duration::days((after_last - now).num_days() + 1));
    let finance3 = app.demo("finance@vendor.example").await;
    let run = run(
        &app,
        &finance3,
        json!({ "period_start": after, "period_end": after_last }),
    )
    .await;
    let files = download(&finance3, &run).await;
    assert!(
        !files.csv.iter().any(|r| r["Customer"] == "Jansen Installatietechniek"
            && r["Item"] == "licence"
            && r["Module"] == "CRM connector"),
        "nothing of CRM is billed for Jansen"
    );
}

/// Jansen with a business licence, credits and a refund; returns the finance client.
async fn some_billing(app: &TestApp) -> Client {
    let anna = app.demo("anna@northwind.example").await;
    let finance = app.demo("finance@vendor.example").await;
    let crm = module_id(&anna, "CRM").await;
    for name in ["Jansen Installatietechniek", "Bakkerij de Vries"] {
        let org = app.org_id(name).await;
        let order = buy(
            &anna,
            org,
            json!([{ "type": "business", "module_id": crm }, { "type": "credits", "module_id": crm, "quantity": 2 }]),
        )
        .await;
        pay(&finance, &order).await;
    }
    let max = app.demo("max@alpine.example").await;
    let mueller = app.org_id("Müller Logistik").await;
    buy(&max, mueller, json!([{ "type": "business", "module_id": crm }])).await;
    finance
}

fn this_month(app: &TestApp) -> Value {
    let today = app.ctx.now().date_naive();
    json!({ "period_start": today.with_day(1).unwrap(), "period_end": last_of_month(today) })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_is_a_new_version_with_the_same_bytes_and_the_csv_can_use_semicolons_and_a_bom() {
    let app = TestApp::spawn().await;
    let finance = some_billing(&app).await;
    let first = run(&app, &finance, this_month(&app)).await;
    let second = run(&app, &finance, this_month(&app)).await;
    assert_eq!((first.version, second.version), (1, 2));
    let (a, b) = (download(&finance, &first).await, download(&finance, &second).await);
    assert_eq!(a.csv_bytes, b.csv_bytes, "the same data gives a byte-identical CSV");
    assert_eq!(first.files[1].sha256, second.files[1].sha256);
    assert_eq!(a.lines, b.lines, "and the same XLSX cells");
    assert_eq!((a.customers.len(), a.partners.len()), (3, 2));
    assert_files_agree(&a, &first);
    // The first version is still there, unchanged.
    let listed: BillingRunPage = finance.get("/api/billing-runs").await.view();
    assert_eq!(listed.items.len(), 2);

    let mut body = this_month(&app);
    body["csv_separator"] = json!(";");
    body["csv_bom"] = json!(true);
    let semi = run(&app, &finance, body).await;
    assert_eq!(semi.version, 3);
    let c = download(&finance, &semi).await;
    assert!(c.csv_bytes.starts_with("\u{feff}Partner;Debtor number;".as_bytes()));
    assert_eq!(c.csv, a.csv, "the same lines, read with the separator");

    // Bad input names the field.
    let bad = finance
        .post(
            "/api/billing-runs",
            json!({ "period_start": "2026-03-01", "period_end": "2026-02-01", "csv_separator": "|" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["csv_separator", "period_end"]);
    let long = finance
        .post(
            "/api/billing-runs",
            json!({ "period_start": "2025-01-01", "period_end": "2026-06-30" }),
        )
        .await;
    assert_eq!(long.field_errors()[0].pair(), ("period_end", "period_too_long"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_bills_its_own_customers_and_sees_only_its_own_runs() {
    let app = TestApp::spawn().await;
    let finance = some_billing(&app).await;
    let anna = app.demo("anna@northwind.example").await;
    let max = app.demo("max@alpine.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let own = run(&app, &anna, this_month(&app)).await;
    assert_eq!((own.audience.as_str(), own.partner_id), ("partner", Some(northwind)));
    let files = download(&anna, &own).await;
    assert_files_agree(&files, &own);
    let customers: std::collections::BTreeSet<&str> = files.csv.iter().map(|r| r["Customer"].as_str()).collect();
    assert_eq!(
        customers.into_iter().collect::<Vec<_>>(),
        ["Bakkerij de Vries", "Jansen Installatietechniek"]
    );
    assert!(files.csv.iter().all(|r| r["Partner"] == "Northwind IT Services"));

    // Finance's run for Northwind has the same lines; for all partners, Alpine's too.
    let mut body = this_month(&app);
    body["partner_id"] = json!(northwind);
    let for_northwind = run(&app, &finance, body).await;
    assert_eq!(download(&finance, &for_northwind).await.csv, files.csv);
    let all = run(&app, &finance, this_month(&app)).await;
    let all_files = download(&finance, &all).await;
    assert!(
        all_files
            .csv
            .iter()
            .any(|r| r["Customer"] == "Müller Logistik" && r["Debtor number"] == "A-2001")
    );

    // Each sees its own runs only; another's run is not found.
    let ids =
        |r: crate::harness::Resp| -> Vec<Uuid> { r.view::<BillingRunPage>().items.into_iter().map(|r| r.id).collect() };
    assert_eq!(ids(anna.get("/api/billing-runs").await), [own.id]);
    assert!(ids(max.get("/api/billing-runs").await).is_empty());
    assert_eq!(ids(finance.get("/api/billing-runs").await).len(), 2);
    let own_id = own.id;
    assert_eq!(max.get(&format!("/api/billing-runs/{own_id}")).await.status, 404);
    assert_eq!(max.get_bytes(&format!("/api/billing-runs/{own_id}/xlsx")).await.0, 404);
    assert_eq!(finance.get(&format!("/api/billing-runs/{own_id}")).await.status, 404);
    let all_id = all.id;
    assert_eq!(anna.get_bytes(&format!("/api/billing-runs/{all_id}/csv")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_during_a_run_leaves_it_retryable_and_the_next_attempt_is_complete() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let finance = some_billing(&app).await;
    let queued = finance.post("/api/billing-runs", this_month(&app)).await;
    assert_eq!(queued.status, 201, "{}", queued.body);
    let id = queued.view::<BillingRunView>().id;
    let payload = json!({ "run_id": id });

    // Hold the file table so the attempt stops after writing every line, then kill it.
    let mut blocker = app.conn().await;
    for statement in ["BEGIN", "LOCK TABLE billing_files IN ACCESS EXCLUSIVE MODE"] {
        diesel::sql_query(statement).execute(&mut *blocker).await.unwrap();
    }
    let application = app.application().clone();
    let attempt = {
        let payload = payload.clone();
        tokio::spawn(async move {
            partnerdesk_worker::registry::run(&application, "render_billing_run", "test", payload).await
        })
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    // (Read the run directly: the API also reads the locked table.)
    let progress = format!(
        "SELECT coalesce(max(lines_written), 0) AS count FROM billing_runs WHERE id = '{id}' AND status = 'running'"
    );
    loop {
        if app.count(&progress).await > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the attempt never got going");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    attempt.abort();
    let _ = attempt.await;
    diesel::sql_query("ROLLBACK").execute(&mut *blocker).await.unwrap();
    drop(blocker);

    // Nothing half-written: running, no files, no totals.
    let r: BillingRunView = finance.get(&format!("/api/billing-runs/{id}")).await.view();
    assert_eq!(r.status, BillingRunStatus::Running);
    assert!(r.files.is_empty() && r.totals.is_empty());
    // The job's next attempt produces the whole, correct file.
    partnerdesk_worker::registry::run(app.application(), "render_billing_run", "test", payload)
        .await
        .unwrap();
    let done: BillingRunView = finance.get(&format!("/api/billing-runs/{id}")).await.view();
    assert_eq!(done.status, BillingRunStatus::Ready, "{done:?}");
    let files = download(&finance, &done).await;
    assert_files_agree(&files, &done);
    // Licence and credit lines of two customers and Müller's licence; the two paid
    // orders' lines as payments.
    assert_eq!(files.csv.len(), 2 * 2 + 1 + 2 * 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monthly_run_is_queued_once_however_many_workers_try() {
    let app = TestApp::spawn_with(Options {
        worker: false,
        extra: vec![("BILLING_MONTHLY_RUN", "true".into())],
        ..Default::default()
    })
    .await;
    let ctx = app.ctx.clone();
    let tries = (0..6).map(|_| {
        let (pool, ctx) = (app.pool.clone(), ctx.clone());
        tokio::spawn(async move {
            let mut conn = pool.get().await.unwrap();
            partnerdesk_core::billing::schedule_monthly(&mut conn, &ctx)
                .await
                .unwrap()
        })
    });
    let made: Vec<Option<Uuid>> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(made.iter().flatten().count(), 1, "{made:?}");
    let (first, last) = partnerdesk_core::billing::previous_month(app.ctx.now().date_naive());
    let finance = app.demo("finance@vendor.example").await;
    let runs: BillingRunPage = finance.get("/api/billing-runs").await.view();
    let run = &runs.items[0];
    assert_eq!((run.scheduled, run.status), (true, BillingRunStatus::Queued));
    assert_eq!((run.period_start, run.period_end), (first, last));
    assert_eq!(
        app.count("SELECT count(*) FROM apalis.jobs WHERE job_type = 'render_billing_run'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'billing_run.started'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_queues_and_renders_the_monthly_run_by_itself() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BILLING_MONTHLY_RUN", "true".into())],
        ..Default::default()
    })
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app
        .count("SELECT count(*) FROM billing_runs WHERE scheduled AND status = 'ready'")
        .await
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "no monthly run was rendered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM billing_files").await, 2);
}

/// Customer, licence kind, module, first and last day.
type Group = (String, String, String, NaiveDate, NaiveDate);
/// The same and the amount.
type Billed = (String, String, String, NaiveDate, NaiveDate, Decimal);

/// A licence as stored, for the property test's own arithmetic.
#[derive(diesel::QueryableByName, Debug)]
struct Held {
    #[diesel(sql_type = diesel::sql_types::Text)]
    customer: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    module: String,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    unit: Decimal,
    #[diesel(sql_type = diesel::sql_types::Date)]
    first: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    last: Option<NaiveDate>,
    /// The order it was bought in (credits of several orders merge into one line, each
    /// order's part priced on its own).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    order_id: Option<uuid::Uuid>,
}

#[derive(diesel::QueryableByName, Debug)]
struct Money {
    #[diesel(sql_type = diesel::sql_types::Text)]
    customer: String,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    amount: Decimal,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_files_agree_with_the_database_to_the_cent_on_random_purchases_refunds_and_switch_offs() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn().await;
    let period_first = app.ctx.now().date_naive().with_day(1).unwrap();
    let anna = app.demo("anna@northwind.example").await;
    let max = app.demo("max@alpine.example").await;
    let (crm, rec) = (module_id(&anna, "CRM").await, module_id(&anna, "REC").await);
    let customers = [
        ("anna@northwind.example", app.org_id("Jansen Installatietechniek").await),
        ("anna@northwind.example", app.org_id("Bakkerij de Vries").await),
        ("max@alpine.example", app.org_id("Müller Logistik").await),
    ];
    drop((anna, max));
    let mut seed: u64 = 0x0b11_1e55;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for _round in 0..10 {
        let finance = app.demo("finance@vendor.example").await;
        let (email, org) = customers[next(3) as usize];
        let partner = app.demo(email).await;
        let module = if next(2) == 0 { &crm } else { &rec };
        let licences: Vec<ModuleLicencesView> = partner.get(&format!("/api/organizations/{org}/licences")).await.view();
        let business = licences
            .iter()
            .find(|m| m.module.id == *module)
            .and_then(|m| m.business_licence_id);
        match (business, next(4)) {
            (None, _) => {
                let order = buy(&partner, org, json!([{ "type": "business", "module_id": module }])).await;
                if next(2) == 0 {
                    pay(&finance, &order).await;
                }
            }
            (Some(licence), 0) => {
                let r = partner
                    .post(
                        &format!("/api/organizations/{org}/business-licences/{licence}/deactivate"),
                        json!({}),
                    )
                    .await;
                assert!(r.status < 300, "{}", r.body);
            }
            (Some(_), _) => {
                let order = buy(
                    &partner,
                    org,
                    json!([{ "type": "credits", "module_id": module, "quantity": 1 + next(4) }]),
                )
                .await;
                pay(&finance, &order).await;
                if next(2) == 0 {
                    let line = &order.lines[0];
                    let cents = 1 + next((d(&line.amount) * Decimal::from(100)).try_into().unwrap_or(1u64));
                    let r = finance
                        .post(
                            &format!("/api/invoices/{}/credit-notes", order.invoice.id),
                            json!({ "order_line_id": line.id, "amount": Decimal::new(cents as i64, 2).to_string(), "reason": "random" }),
                        )
                        .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                }
            }
        }
        app.advance(chrono::Duration::days(1 + next(9) as i64));
    }
    let today = app.ctx.now().date_naive();
    let finance = app.demo("finance@vendor.example").await;
    let run = run(
        &app,
        &finance,
        json!({ "period_start": period_first, "period_end": today }),
    )
    .await;
    let files = download(&finance, &run).await;
    assert_files_agree(&files, &run);

    // Licence lines: the arithmetic of docs/billing.md over the stored licences, credits of a
    // module with the same days together.
    let mut conn = app.conn().await;
    let held: Vec<Held> = diesel::sql_query(
        "SELECT o.name AS customer, 'business' AS kind, m.name AS module, m.business_price AS unit,
                (b.billable_from AT TIME ZONE 'UTC')::date AS first, (b.deactivated_at AT TIME ZONE 'UTC')::date AS last,
                NULL::uuid AS order_id
         FROM business_licences b JOIN organizations o ON o.id = b.organization_id JOIN modules m ON m.id = b.module_id
         WHERE b.billable_from IS NOT NULL AND o.name IN ('Jansen Installatietechniek', 'Bakkerij de Vries', 'Müller Logistik')
         UNION ALL
         SELECT o.name, CASE WHEN u.user_id IS NULL THEN 'credit' ELSE 'user' END, m.name, m.user_price,
                (u.billable_from AT TIME ZONE 'UTC')::date, (u.deactivated_at AT TIME ZONE 'UTC')::date, u.order_id
         FROM user_licences u JOIN organizations o ON o.id = u.organization_id JOIN modules m ON m.id = u.module_id
         WHERE u.billable_from IS NOT NULL AND o.name IN ('Jansen Installatietechniek', 'Bakkerij de Vries', 'Müller Logistik')"
    )
    .load(&mut *conn)
    .await
    .unwrap();
    // Per group, the quantity of each order.
    let mut groups: BTreeMap<Group, (Decimal, BTreeMap<Option<uuid::Uuid>, i64>)> = BTreeMap::new();
    for h in &held {
        let to = h.last.unwrap_or(today).min(today);
        let entry = groups
            .entry((h.customer.clone(), h.kind.clone(), h.module.clone(), h.first, to))
            .or_insert((h.unit, BTreeMap::new()));
        *entry.1.entry(h.order_id).or_default() += 1;
    }
    let mut expected: Vec<Billed> = Vec::new();
    for ((customer, kind, module, from, to), (unit, orders)) in groups {
        let n: i64 = orders.values().sum();
        // A credit line merges its orders; each order's part is priced on its own.
        let lines: Vec<Vec<i64>> = if kind == "credit" {
            vec![orders.values().copied().collect()]
        } else {
            vec![vec![1]; n as usize]
        };
        for parts in lines {
            let mut months = prorated(unit, 0, from.max(period_first), to);
            for q in parts {
                for (month, (_, _, amount)) in months.iter_mut().zip(prorated(unit, q, from.max(period_first), to)) {
                    month.2 += amount;
                }
            }
            for (f, t, amount) in months {
                expected.push((customer.clone(), kind.clone(), module.clone(), f, t, amount));
            }
        }
    }
    let mut billed: Vec<Billed> = files
        .csv
        .iter()
        .filter(|r| r["Item"] == "licence")
        .map(|r| {
            (
                r["Customer"].clone(),
                r["Licence kind"].clone(),
                r["Module"].clone(),
                r["Period from"].parse().unwrap(),
                r["Period to"].parse().unwrap(),
                d(&r["Amount"]),
            )
        })
        .collect();
    expected.sort();
    billed.sort();
    assert_eq!(billed, expected);

    // Payments and refunds per customer: the database's sums.
    let sums = |sql: &str| {
        let sql = sql.to_owned();
        let pool = app.pool.clone();
        async move {
            let mut conn = pool.get().await.unwrap();
            let rows: Vec<Money> = diesel::sql_query(sql).load(&mut *conn).await.unwrap();
            rows.into_iter()
                .map(|m| (m.customer, m.amount))
                .collect::<BTreeMap<String, Decimal>>()
        }
    };
    let paid = sums(
        "SELECT o.name AS customer, -sum(l.amount) AS amount FROM invoices i JOIN organizations o ON o.id = i.organization_id
         JOIN order_lines l ON l.order_id = i.order_id
         WHERE i.paid_at IS NOT NULL AND o.name IN ('Jansen Installatietechniek', 'Bakkerij de Vries', 'Müller Logistik')
         GROUP BY o.name",
    )
    .await;
    let refunded = sums(
        "SELECT o.name AS customer, sum(c.amount) AS amount FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id
         JOIN organizations o ON o.id = i.organization_id GROUP BY o.name",
    )
    .await;
    for (item, expected) in [("payment", paid), ("refund", refunded)] {
        let mut billed: BTreeMap<String, Decimal> = BTreeMap::new();
        for r in files.csv.iter().filter(|r| r["Item"] == item) {
            *billed.entry(r["Customer"].clone()).or_default() += d(&r["Amount"]);
        }
        assert_eq!(billed, expected, "{item} lines");
    }
    assert!(
        files.csv.iter().any(|r| r["Licence kind"] == "credit"),
        "the run reached credits"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_shows_its_error_and_expired_files_are_deleted_while_the_run_stays() {
    let app = TestApp::spawn().await;
    let finance = some_billing(&app).await;
    // Storage refuses the files: every attempt fails, the run says why.
    app.sql(
        "CREATE FUNCTION refuse_chunks() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'the disk is full'; END $$",
    )
    .await;
    app.sql("CREATE TRIGGER refuse_chunks BEFORE INSERT ON billing_file_chunks FOR EACH ROW EXECUTE FUNCTION refuse_chunks()")
        .await;
    app.expect_failures();
    let r = finance.post("/api/billing-runs", this_month(&app)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.view::<BillingRunView>().id;
    let attempts = "SELECT count(*) FROM job_runs r JOIN apalis.jobs j ON j.id = r.job_id
                    WHERE j.job_type = 'render_billing_run' AND r.finished_at IS NOT NULL";
    // Waits on the attempts themselves; the deadline only stops a run that never ends
    // (five renders and their backoffs took 20 s alone and over 40 s beside the suite).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while app.count(attempts).await < 5 {
        assert!(tokio::time::Instant::now() < deadline, "the attempts did not run");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let failed: BillingRunView = finance.get(&format!("/api/billing-runs/{id}")).await.view();
    assert_eq!(failed.status, BillingRunStatus::Failed, "{failed:?}");
    assert!(
        failed.error.as_deref().unwrap().contains("the disk is full"),
        "{failed:?}"
    );
    assert!(failed.files.is_empty() && failed.totals.is_empty());
    assert_eq!(app.count(attempts).await, 5, "every attempt was made, no more");
    app.sql("DROP TRIGGER refuse_chunks ON billing_file_chunks").await;

    // A new version works; after the retention its files go, the run and totals stay.
    let ok = run(&app, &finance, this_month(&app)).await;
    assert_eq!(ok.version, 2);
    let ok_id = ok.id;
    app.advance(chrono::Duration::days(91));
    let deleted = partnerdesk_core::billing::prune_expired(&mut *app.conn().await, app.ctx.now())
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let finance = app.demo("finance@vendor.example").await;
    let kept: BillingRunView = finance.get(&format!("/api/billing-runs/{ok_id}")).await.view();
    assert_eq!(kept.status, BillingRunStatus::Ready);
    assert!(kept.files.is_empty());
    assert_eq!(totals(&kept), totals(&ok));
    assert_eq!(
        finance.get_bytes(&format!("/api/billing-runs/{ok_id}/csv")).await.0,
        404
    );
    assert_eq!(app.count("SELECT count(*) FROM billing_file_chunks").await, 0);
}
