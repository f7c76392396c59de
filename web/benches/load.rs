//! Benchmark: the hot endpoints under load, on the scale data set, each next to pgbench
//! running the very SQL one request of it sends, with as many clients, in the same run.
//!
//! * The service is the real release binary (`partnerdesk-web serve`, production
//!   settings, default pool), driven by `LOAD_CLIENTS` (32) clients over keep-alive
//!   connections for `LOAD_SECONDS` (10) after two seconds of warm-up.
//! * The SQL is recorded from a second instance of the service whose one connection goes
//!   through a recording proxy (`partnerdesk_testkit::pgwire`): every statement one request sends,
//!   with its values. pgbench replays it as one transaction (`partnerdesk_testkit::pgbench`, with
//!   `-M prepared`, as many clients, two threads); writes are recorded twice so that new
//!   ids and addresses are fresh in every replayed transaction.
//! * The goal, per read: at least half of pgbench's rate for its SQL, p99 under 15 ms.
//!
//! The data set comes from `just seed-scale` (`SCALE_DATABASE_URL`); `just bench` makes
//! it when missing. Run with `just bench` (or `cargo bench -p partnerdesk-web --bench load`;
//! `LOAD_ONLY=<part of a name>` runs the endpoints whose name holds it).

#[path = "load/client.rs"]
mod client;
#[path = "load/service.rs"]
mod service;

use std::{sync::Arc, time::Duration};

use client::{Caller, Figures, Op, drive};
use futures::FutureExt;
use partnerdesk_testkit::{PgbenchReport, Recorder, Script, TypeNames, run_pgbench};
use serde_json::json;
use service::Service;

const PASSWORD: &str = partnerdesk_seeds::PASSWORD;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One endpoint under test: who calls it and what one operation does.
struct Endpoint {
    name: String,
    write: bool,
    caller: Caller,
    op: Op,
}

fn read(name: &str, caller: &Caller, path: String) -> Endpoint {
    Endpoint {
        name: name.to_owned(),
        write: false,
        caller: caller.clone(),
        op: Arc::new(move |c: Caller, _| {
            let path = path.clone();
            async move { c.fetch(&path).await }.boxed()
        }),
    }
}

fn write(name: &str, caller: &Caller, op: Op) -> Endpoint {
    Endpoint {
        name: name.to_owned(),
        write: true,
        caller: caller.clone(),
        op,
    }
}

/// The people the benchmark acts as, and what it needs to know of the data.
struct Cast {
    big: Caller,
    small: Caller,
    vendor: Caller,
    /// A customer of the big partner, and a deep cursor into its list.
    big_customer: String,
    deep_cursor: String,
    /// The page (of 50) the deep cursor starts.
    deep_page: u64,
    /// Customers of the small partner that pay for the first module (credits can be
    /// bought for them), and that module.
    small_customers: Vec<String>,
    module: String,
    /// Tells this run's new names and addresses from an earlier run's.
    run: u64,
}

async fn cast(base: &str) -> Cast {
    let big = Caller::log_in(base, "admin@p1.scale.example", PASSWORD).await;
    let small = Caller::log_in(base, "admin@p2.scale.example", PASSWORD).await;
    let vendor = Caller::log_in(base, "admin@vendor.scale.example", PASSWORD).await;
    let first = big.get("/api/customers?limit=1").await.expect("my customers");
    let big_customer = first["items"][0]["id"].as_str().expect("a customer").to_owned();
    // A cursor 20,000 customers into the big partner's list (or as deep as it goes).
    let (mut cursor, mut deep_page) = (String::new(), 1);
    for _ in 0..100 {
        let after = if cursor.is_empty() {
            String::new()
        } else {
            format!("&cursor={cursor}")
        };
        let page = big
            .get(&format!("/api/customers?limit=200{after}"))
            .await
            .expect("a page");
        let Some(next) = page["next_cursor"].as_str() else {
            break;
        };
        if page["items"].as_array().is_none_or(|i| i.len() < 200) {
            break;
        }
        cursor = urlencode(next);
        deep_page += 4;
    }
    let mut small_customers = Vec::new();
    let mut after = String::new();
    while small_customers.len() < 32 {
        let page = small
            .get(&format!("/api/customers?limit=200{after}"))
            .await
            .expect("my customers");
        for c in page["items"].as_array().expect("items") {
            let id = c["id"].as_str().expect("id");
            if c["customer_type"] != "CUSTOMER" || c["active"] != true {
                continue;
            }
            // Credits need the module's paid business licence.
            let licences = small
                .get(&format!("/api/organizations/{id}/licences"))
                .await
                .expect("a customer's licences");
            let pays = licences
                .as_array()
                .expect("modules")
                .iter()
                .any(|m| m["module"]["code"] == "SCALE-PHONE" && m["business_kind"] == "paid");
            if pays {
                small_customers.push(id.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => after = format!("&cursor={}", urlencode(next)),
            None => break,
        }
    }
    assert!(
        !small_customers.is_empty(),
        "a customer of the small partner that pays for SCALE-PHONE"
    );
    let modules = small.get("/api/modules").await.expect("modules");
    let module = modules
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["code"] == "SCALE-PHONE")
        .expect("the first module")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    Cast {
        big,
        small,
        vendor,
        big_customer,
        deep_cursor: cursor,
        deep_page,
        small_customers,
        module,
        run,
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn endpoints(c: &Cast) -> Vec<Endpoint> {
    let mut list = vec![
        read("My customers, 1,000 (first page)", &c.small, "/api/customers".into()),
        read("My customers, 100,000 (first page)", &c.big, "/api/customers".into()),
        read("My customers, 100,000, search", &c.big, "/api/customers?q=42424".into()),
        read(
            "My customers, 100,000, inactive",
            &c.big,
            "/api/customers?status=inactive".into(),
        ),
        read(
            "My customers, 100,000, by expiry",
            &c.big,
            "/api/customers?sort=expiry".into(),
        ),
        read(
            "My customers, 100,000, newest first",
            &c.big,
            "/api/customers?sort=created&dir=desc".into(),
        ),
        read(
            &format!("My customers, 100,000, page {}", c.deep_page),
            &c.big,
            format!("/api/customers?cursor={}", c.deep_cursor),
        ),
        read(
            "A customer's users",
            &c.big,
            format!("/api/organizations/{}/users", c.big_customer),
        ),
        read("Trials overview", &c.big, "/api/trials".into()),
        read("Dashboard", &c.big, "/api/partner/dashboard".into()),
        read("Commission table", &c.big, "/api/commissions".into()),
        read("Job queue", &c.vendor, "/api/ops/queues".into()),
    ];
    list.extend(writes(c));
    list
}

fn writes(c: &Cast) -> Vec<Endpoint> {
    let run = c.run;
    let add: Op = Arc::new(move |caller: Caller, seq| {
        let body = json!({ "name": format!("Load {run}-{seq} BV"), "active": true, "commission_rate": "20" });
        async move { caller.post("/api/customers", body).await.map(drop) }.boxed()
    });
    let invite: Op = Arc::new(move |caller: Caller, seq| {
        let body =
            json!({ "email": format!("load-{run}-{seq}@invite.example"), "company_name": format!("Invited {seq}") });
        async move { caller.post("/api/customer-invitations", body).await.map(drop) }.boxed()
    });
    let (customers, module) = (Arc::new(c.small_customers.clone()), c.module.clone());
    let order: Op = Arc::new(move |caller: Caller, seq| {
        // Four operations in a row buy for the same customer: the two recorded for
        // pgbench (after one to warm up) must differ only in what each makes anew.
        let customer = customers[(seq / 4) as usize % customers.len()].clone();
        let items = json!({ "items": [{ "type": "credits", "module_id": module, "quantity": 1 }] });
        async move {
            let quote = caller
                .post(&format!("/api/organizations/{customer}/quotes"), items)
                .await?;
            let id = quote["id"].as_str().ok_or("a quote id")?;
            caller
                .post(&format!("/api/quotes/{id}/confirm"), json!({}))
                .await
                .map(drop)
        }
        .boxed()
    });
    vec![
        write("Add a customer", &c.small, add),
        write("Invite a customer", &c.small, invite),
        write("Quote and confirm (two requests)", &c.small, order),
    ]
}

/// The SQL of one operation of `endpoint`, as a pgbench script, from the recording
/// service.
async fn script_of(endpoint: &Endpoint, recorder: &Recorder, recording: &str, types: &TypeNames, seq: u64) -> Script {
    let caller = endpoint.caller.to(recording);
    // Warm the connection and its prepared statements; then record.
    (endpoint.op)(caller.clone(), seq).await.expect("warm-up");
    recorder.take();
    (endpoint.op)(caller.clone(), seq + 1)
        .await
        .expect("the recorded request");
    let a = recorder.take();
    if !endpoint.write {
        return Script::from_requests(&[a], types).expect("a script");
    }
    (endpoint.op)(caller, seq + 2)
        .await
        .expect("the second recorded request");
    let b = recorder.take();
    Script::from_requests_with_fresh(&[a], &[b], types).expect("a script with fresh values")
}

fn print_header(clients: usize, seconds: u64) {
    println!("\n{clients} clients, {seconds} s each (after 2 s of warm-up); latencies in ms");
    println!(
        "{:<38} {:>5} | {:>8} {:>6} {:>6} {:>6} | {:>8} {:>6} {:>6} {:>6} | {:>5}  goal",
        "endpoint", "stmts", "req/s", "p50", "p95", "p99", "pgbench", "p50", "p95", "p99", "ratio"
    );
}

fn print_row(e: &Endpoint, statements: usize, s: &Figures, pg: &PgbenchReport) {
    let ratio = s.rate / pg.tps;
    let goal = if e.write {
        "-"
    } else if ratio >= 0.5 && s.p99_ms < 15.0 {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "{:<38} {:>5} | {:>8.0} {:>6.2} {:>6.2} {:>6.2} | {:>8.0} {:>6.2} {:>6.2} {:>6.2} | {:>5.2}  {goal}",
        e.name, statements, s.rate, s.p50_ms, s.p95_ms, s.p99_ms, pg.tps, pg.p50_ms, pg.p95_ms, pg.p99_ms, ratio
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let database_url = std::env::var("SCALE_DATABASE_URL")
        .expect("SCALE_DATABASE_URL: the scale data set (`just seed-scale`; `just bench` sets it)");
    let _forget = ForgetQueuedJobs {
        database_url: database_url.clone(),
        since: chrono::Utc::now(),
    };
    let clients: usize = env_or("LOAD_CLIENTS", 32);
    let seconds: u64 = env_or("LOAD_SECONDS", 10);
    let service = Service::start(&database_url, env_or("LOAD_POOL_SIZE", 10)).await;
    let (recorder, proxied) = Recorder::for_url(&database_url).await.expect("the recording proxy");
    let recording = Service::start(&proxied, 1).await;
    let types = TypeNames::load(&database_url).await.expect("the server's types");
    let cast = cast(&service.base).await;
    print_header(clients, seconds);
    let only = std::env::var("LOAD_ONLY").unwrap_or_default();
    let mut seq = 0;
    for endpoint in endpoints(&cast).into_iter().filter(|e| e.name.contains(&only)) {
        seq += 1_000_000;
        let script = script_of(&endpoint, &recorder, &recording.base, &types, seq).await;
        let callers = (0..clients).map(|_| endpoint.caller.to(&service.base)).collect();
        seq += 1_000_000;
        let ours = drive(
            callers,
            endpoint.op.clone(),
            seq,
            Duration::from_secs(2),
            Duration::from_secs(seconds),
        )
        .await;
        let theirs = run_pgbench(&database_url, &script, clients as u32, 2, seconds as u32)
            .await
            .unwrap_or_else(|e| panic!("pgbench for {}: {e:?}\n{}", endpoint.name, script.text()));
        print_row(&endpoint, script.statements(), &ours, &theirs);
    }
    let problems = recorder.problems();
    assert!(problems.is_empty(), "the recording proxy lost track: {problems:?}");
}

/// The writes queued e-mails and no worker runs here: those jobs and deliveries go again
/// when the run ends, however it ends, so that the next run's queue view sees the same
/// queue.
struct ForgetQueuedJobs {
    database_url: String,
    since: chrono::DateTime<chrono::Utc>,
}

impl Drop for ForgetQueuedJobs {
    fn drop(&mut self) {
        let (url, since) = (self.database_url.clone(), self.since);
        partnerdesk_testkit::finish_on_own_thread(async move {
            use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
            let mut conn = AsyncPgConnection::establish(&url).await.expect("a connection");
            for forget in [
                "DELETE FROM apalis.jobs WHERE status = 'Pending' AND run_at >= $1",
                "DELETE FROM email_deliveries WHERE status NOT IN ('sent', 'skipped') AND created_at >= $1",
            ] {
                diesel::sql_query(forget)
                    .bind::<diesel::sql_types::Timestamptz, _>(since)
                    .execute(&mut conn)
                    .await
                    .expect("forgetting the queued jobs and e-mails");
            }
        });
    }
}
