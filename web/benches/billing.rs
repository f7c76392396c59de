//! Benchmark: a billing run of 1,000,000 lines (27,778 customers × 3 business licences ×
//! 12 months), written as CSV and as XLSX from the run's own query, next to PostgreSQL's
//! `COPY (query) TO STDOUT CSV` of the same query measured in the same run. Prints time
//! and peak memory (the process's resident high-water mark during each step, and how
//! far it rose over the step's start).
//!
//! Goals: CSV at most 1.5× COPY; XLSX at most 4.8 s with a peak under 32 MB.
//!
//! Run with `just bench`.

use std::time::Instant;

use chrono::NaiveDate;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use partnerdesk_core::{
    Ctx,
    billing::{
        files::{CsvOptions, CsvSink, XlsxSink},
        lines::{self, Customers, Line},
    },
    clock::Clock,
    config::Config,
    db, seed,
    testing::TestDb,
};
use sqlx::Connection;

const CUSTOMERS: i64 = 27_778;
const BATCH: i64 = 5_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let db = TestDb::new().await;
    let config = Config::from_pairs([
        ("DATABASE_URL", db.url.clone()),
        ("PARTNERDESK_ENV", "development".to_owned()),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "600000".to_owned()),
    ])
    .expect("config");
    let pool = db::pool_for(&config).expect("pool");
    let ctx = Ctx::new(config, Clock::system());
    let mut conn = pool.get().await.expect("connection");
    let demo = seed::parse(include_str!("../../seeds/demo.json")).expect("seed");
    seed::load(&mut conn, &ctx, &demo)
        .await
        .expect("seed")
        .expect("empty database");
    let started = Instant::now();
    generate(&mut conn).await;
    println!(
        "generated {CUSTOMERS} customers with 3 licences each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (first, last) = (
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
    );
    let query = lines::query(first, last, Customers::All, true);

    // Baseline: PostgreSQL writes the same query as CSV itself.
    let mut raw = sqlx::PgConnection::connect(&db.url).await.expect("sqlx connection");
    let started = Instant::now();
    let mut out = raw
        .copy_out_raw(&format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"))
        .await
        .expect("COPY");
    let mut copied = 0usize;
    while let Some(chunk) = out.next().await {
        copied += chunk.expect("COPY data").len();
    }
    drop(out);
    let copy = started.elapsed().as_secs_f64();
    println!("COPY (query) TO STDOUT CSV: {copy:.2} s, {:.1} MB", copied as f64 / 1e6);

    let dir = tempfile::tempdir().expect("scratch directory");
    let csv_path = dir.path().join("bench.csv");
    let (csv, csv_memory, n) = measured(&mut conn, &query, {
        let mut sink = Some(
            CsvSink::create(
                &csv_path,
                CsvOptions {
                    separator: b',',
                    bom: false,
                },
            )
            .expect("csv"),
        );
        move |line: Option<&Line>| match line {
            Some(l) => sink.as_mut().unwrap().line(l).expect("a CSV line"),
            None => {
                sink.take().unwrap().finish().expect("the CSV");
            }
        }
    })
    .await;
    let csv_size = std::fs::metadata(&csv_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "CSV of {n} lines: {csv:.2} s, {:.1} MB, peak {} — ratio to COPY {:.2} (goal ≤ 1.50)",
        csv_size as f64 / 1e6,
        csv_memory,
        csv / copy
    );

    let xlsx_path = dir.path().join("bench.xlsx");
    let (xlsx, xlsx_memory, n) = measured(&mut conn, &query, {
        let mut sink = Some(XlsxSink::create(dir.path(), &xlsx_path).expect("xlsx"));
        move |line: Option<&Line>| match line {
            Some(l) => sink.as_mut().unwrap().line(l).expect("an XLSX line"),
            None => {
                sink.take().unwrap().finish().expect("the XLSX");
            }
        }
    })
    .await;
    let xlsx_size = std::fs::metadata(&xlsx_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "XLSX of {n} lines: {xlsx:.2} s (goal ≤ 4.80), {:.1} MB, peak {} (goal < 32 MB)",
        xlsx_size as f64 / 1e6,
        xlsx_memory
    );
}

/// Streams the query through a cursor into `sink` (then `None` to finish), timing it
/// and reading the process's peak resident memory over the step.
async fn measured(conn: &mut db::PooledConn, query: &str, mut sink: impl FnMut(Option<&Line>)) -> (f64, String, usize) {
    let before = reset_peak();
    let started = Instant::now();
    let mut n = 0;
    for statement in [
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "SET LOCAL statement_timeout = 0",
    ] {
        diesel::sql_query(statement)
            .execute(&mut **conn)
            .await
            .expect(statement);
    }
    diesel::sql_query(format!("DECLARE bench_lines NO SCROLL CURSOR FOR {query}"))
        .execute(&mut **conn)
        .await
        .expect("cursor");
    loop {
        let batch: Vec<Line> = diesel::sql_query(format!("FETCH {BATCH} FROM bench_lines"))
            .load(&mut **conn)
            .await
            .expect("fetch");
        for line in &batch {
            sink(Some(line));
        }
        n += batch.len();
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    diesel::sql_query("COMMIT").execute(&mut **conn).await.expect("commit");
    sink(None);
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_kib();
    (
        elapsed,
        format!(
            "{:.1} MB (+{:.1} MB over the start)",
            peak as f64 / 1024.0,
            (peak - before) as f64 / 1024.0
        ),
        n,
    )
}

/// Resets the resident high-water mark (Linux) and returns the resident size now, KiB.
fn reset_peak() -> i64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kib("VmRSS:")
}

fn peak_kib() -> i64 {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Customers of Northwind, each with a paid business licence of every module since
/// before the year; all set-based.
async fn generate(conn: &mut db::PooledConn) {
    let statements = [
        format!("CREATE TEMP TABLE bench_customers AS SELECT gen_random_uuid() AS id, n FROM generate_series(1, {CUSTOMERS}) n"),
        "INSERT INTO organizations (id, name, country, language, signup_origin, customer_type, created_at, updated_at)
         SELECT id, 'Bench customer ' || n, 'NL', 'en', 'created_by_partner', 'CUSTOMER', '2024-12-01', '2024-12-01'
         FROM bench_customers"
            .to_owned(),
        "INSERT INTO service_provider_links (id, customer_id, partner_id, origin, commission_rate, debtor_number,
                                             created_at, updated_at)
         SELECT gen_random_uuid(), c.id, p.id, 'created_by_partner', 15.00, 'B-' || c.n, '2024-12-01', '2024-12-01'
         FROM bench_customers c, (SELECT id FROM organizations WHERE name = 'Northwind IT Services') p"
            .to_owned(),
        "INSERT INTO business_licences (id, organization_id, module_id, kind, active, starts_at, created_at, billable_from)
         SELECT gen_random_uuid(), c.id, m.id, 'paid', true, '2024-12-01', '2024-12-01', '2024-12-01'
         FROM bench_customers c CROSS JOIN modules m"
            .to_owned(),
        "ANALYZE".to_owned(),
    ];
    for sql in &statements {
        diesel::sql_query(sql.as_str())
            .execute(&mut **conn)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
}
