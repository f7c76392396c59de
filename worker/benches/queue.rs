//! Benchmark: the job queue's own speed, with one release-built worker process on its own
//! database.
//!
//! * Throughput: 50,000 no-op `ping` jobs committed at once, drained by one worker
//!   process (every queue running, as in production); jobs per second from the commit to
//!   the last one done, at the defaults and at the tuned settings.
//! * Pickup latency: one job at a time at a steady 50 per second for 10 s; from the
//!   enqueue call (its transaction included) and from its commit to the handler starting
//!   (all read off the same machine's clock), p50 / p95 / p99.
//!
//! Anchors on this machine with the same Postgres: graphile-worker 0.18 drains 3,586
//! jobs/s at its defaults and 23,164/s with batching; its pickup latency is p50 1.42 ms,
//! p95 3.39 ms. Goals: pickup p95 ≤ 3.4 ms; throughput never below 3,600/s.
//!
//! Run with `just bench`.

use std::{process::Stdio, time::Duration};

use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, RunQueryDsl};
use partnerdesk_core::{
    platform::config::Config,
    platform::db,
    platform::jobs::{self, Ping},
};
use partnerdesk_testkit::TestDb;
use tokio::time::Instant;

const DRAIN_JOBS: usize = 50_000;
const LATENCY_RATE: u64 = 50;
const LATENCY_SECONDS: u64 = 10;

/// Worker settings: a name and its environment.
struct Settings {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const DEFAULTS: Settings = Settings {
    name: "defaults (WORKER_FETCH_BATCH=100, WORKER_CONCURRENCY=4, DATABASE_POOL_SIZE=10)",
    env: &[],
};

const TUNED: Settings = Settings {
    name: "tuned (WORKER_FETCH_BATCH=500, WORKER_CONCURRENCY=32, DATABASE_POOL_SIZE=40)",
    env: &[
        ("WORKER_FETCH_BATCH", "500"),
        ("WORKER_CONCURRENCY", "32"),
        ("DATABASE_POOL_SIZE", "40"),
    ],
};

fn spawn_worker(db: &TestDb, settings: &Settings) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_partnerdesk-worker"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("SECRET_KEY", "queue-benchmark-secret-that-is-long-enough-0123")
        .env("MAIL_OUTBOX", "true")
        .env("WORKER_METRICS_ADDR", "127.0.0.1:0")
        .env("ALLOW_HTTP_PUBLIC_URL", "true")
        .env("BILLING_MONTHLY_RUN", "false")
        .env("RUST_LOG", "error");
    for (key, value) in settings.env {
        command.env(key, value);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the worker")
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(pool: &db::Pool, sql: &str) -> i64 {
    let mut conn = pool.get().await.expect("connection");
    sql_query(sql).get_result::<N>(&mut conn).await.expect("count").n
}

async fn wait_for(pool: &db::Pool, sql: &str, expected: i64, poll: Duration) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while count(pool, sql).await < expected {
        assert!(Instant::now() < deadline, "the worker keeps up: {sql}");
        tokio::time::sleep(poll).await;
    }
}

/// A fresh database and a worker process that has registered its queues.
async fn started(settings: &Settings) -> (TestDb, db::Pool, tokio::process::Child) {
    let db = TestDb::new().await;
    let config = Config::from_pairs([
        ("DATABASE_URL", db.url.clone()),
        ("PARTNERDESK_ENV", "development".to_owned()),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "600000".to_owned()),
    ])
    .expect("config");
    let pool = db::pool_for(&config).expect("pool");
    let worker = spawn_worker(&db, settings);
    wait_for(
        &pool,
        "SELECT count(*) AS n FROM apalis.workers WHERE worker_type = 'ping'",
        1,
        Duration::from_millis(50),
    )
    .await;
    // Let the worker finish starting: every queue's listener connected, first fetches done.
    tokio::time::sleep(Duration::from_secs(3)).await;
    (db, pool, worker)
}

async fn stop(mut worker: tokio::process::Child) {
    let pid = worker.id().expect("running");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker.wait()).await;
}

/// Jobs per second drained by one worker process.
async fn throughput(settings: &Settings) -> f64 {
    let (_db, pool, worker) = started(settings).await;
    let jobs: Vec<(Ping, Option<String>)> = (0..DRAIN_JOBS).map(|_| (Ping {}, None)).collect();
    let mut conn = pool.get().await.expect("connection");
    conn.transaction::<_, partnerdesk_core::Error, _>(async |c| {
        for chunk in jobs.chunks(5_000) {
            jobs::enqueue_many(c, chunk).await?;
        }
        Ok(())
    })
    .await
    .expect("enqueue");
    let committed = Instant::now();
    drop(conn);
    wait_for(
        &pool,
        "SELECT count(*) AS n FROM apalis.jobs WHERE job_type = 'ping' AND status = 'Done'",
        DRAIN_JOBS as i64,
        Duration::from_millis(20),
    )
    .await;
    let rate = DRAIN_JOBS as f64 / committed.elapsed().as_secs_f64();
    stop(worker).await;
    rate
}

type Time = chrono::DateTime<chrono::Utc>;
/// When the enqueue call began, and when its commit returned.
type Sent = (Time, Time);

#[derive(QueryableByName)]
struct Started {
    #[diesel(sql_type = diesel::sql_types::Text)]
    job_id: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    started_at: chrono::DateTime<chrono::Utc>,
}

/// p50, p95 and p99 of `ms`, in milliseconds.
fn percentiles(mut ms: Vec<f64>) -> [f64; 3] {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    [at(0.50), at(0.95), at(0.99)]
}

/// Enqueue→start latency at a steady low rate, in milliseconds: from the call that
/// enqueues (its transaction included) and from the moment its commit returned, to the
/// handler's start (all read off this machine's clock).
async fn pickup(settings: &Settings) -> ([f64; 3], [f64; 3]) {
    let (_db, pool, worker) = started(settings).await;
    let total = LATENCY_RATE * LATENCY_SECONDS;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE));
    let mut conn = pool.get().await.expect("connection");
    let mut sent = std::collections::HashMap::new();
    for _ in 0..total {
        tick.tick().await;
        let called = chrono::Utc::now();
        let id = jobs::enqueue(&mut conn, &Ping {}, None)
            .await
            .expect("enqueue")
            .expect("an id");
        sent.insert(id, (called, chrono::Utc::now()));
    }
    drop(conn);
    wait_for(
        &pool,
        "SELECT count(*) AS n FROM job_runs WHERE queue = 'ping'",
        total as i64,
        Duration::from_millis(20),
    )
    .await;
    let mut conn = pool.get().await.expect("connection");
    let runs: Vec<Started> = sql_query("SELECT job_id, started_at FROM job_runs WHERE queue = 'ping'")
        .load(&mut conn)
        .await
        .expect("runs");
    drop(conn);
    stop(worker).await;
    let ms = |from: fn(&Sent) -> Time| {
        runs.iter()
            .map(|r| (r.started_at - from(&sent[&r.job_id])).num_microseconds().unwrap_or(0) as f64 / 1000.0)
            .collect::<Vec<_>>()
    };
    (percentiles(ms(|s| s.0)), percentiles(ms(|s| s.1)))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!(
        "queue benchmark: one worker process, {DRAIN_JOBS} no-op jobs drained; pickup at {LATENCY_RATE}/s for {LATENCY_SECONDS} s"
    );
    println!(
        "anchors (graphile-worker 0.18, same machine and Postgres): 3,586 jobs/s at its defaults, 23,164/s batched; pickup p50 1.42 ms, p95 3.39 ms"
    );
    for settings in [&DEFAULTS, &TUNED] {
        let rate = throughput(settings).await;
        let (call, commit) = pickup(settings).await;
        println!("{}:", settings.name);
        println!(
            "  drained {rate:>8.0} jobs/s  (goal ≥ 3,600/s: {}; {:.2}× graphile-worker's defaults, {:.2}× its batched rate)",
            if rate >= 3600.0 { "met" } else { "NOT met" },
            rate / 3586.0,
            rate / 23164.0
        );
        println!(
            "  pickup from the enqueue call   p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (goal p95 ≤ 3.4 ms: {})",
            call[0],
            call[1],
            call[2],
            if call[1] <= 3.4 { "met" } else { "NOT met" }
        );
        println!(
            "  pickup from its commit         p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
            commit[0], commit[1], commit[2]
        );
    }
}
