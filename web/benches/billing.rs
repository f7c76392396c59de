//! Benchmark: a billing run of 1,000,000 lines (27,778 customers × 3 business licences ×
//! 12 months), written as CSV and as XLSX the way a run writes them (the items stream
//! through a cursor, split into monthly lines), next to PostgreSQL's own
//! `COPY (query) TO STDOUT CSV` of the SQL that yields the same lines, measured in the
//! same run. Each file is written by a fresh child process, so its peak resident memory
//! is a worker's, not this harness's.
//!
//! Then Python's XlsxWriter in constant-memory mode writes the same lines, the baseline
//! the XLSX goal is set against.
//!
//! Goals: CSV at most 1.5× COPY; XLSX at least 10× faster than XlsxWriter (4.8 s where
//! XlsxWriter takes 48 s) with a peak under 32 MB.
//!
//! Run with `just bench`.

mod support;

use std::time::Instant;

use chrono::NaiveDate;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use partnerdesk_core::{
    billing::{
        files::{CsvOptions, CsvSink, XlsxSink},
        lines::{self, Customers, Line},
    },
    platform::db,
};
use sqlx::Connection;

const CUSTOMERS: i64 = 27_778;
const BATCH: i64 = 5_000;
/// The settings a run's reading transaction uses (see `billing::render`).
const SETTINGS: [&str; 2] = ["jit = off", "work_mem = '64MB'"];

fn period() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        return child(&args[i + 1], &args[i + 2]).await;
    }
    let bench = support::demo_database().await;
    let db = &bench.db;
    let mut conn = bench.pool.get().await.expect("connection");
    let started = Instant::now();
    generate(&mut conn).await;
    drop(conn);
    println!(
        "generated {CUSTOMERS} customers with 3 licences each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (first, last) = period();

    // Baseline: PostgreSQL writes the same lines, priced in SQL, as CSV itself.
    let (copy, bytes) = copy_out(&db.url, &lines::lines(first, last, Customers::All, true)).await;
    println!(
        "COPY (the lines, priced in SQL) TO STDOUT CSV: {copy:.2} s, {:.1} MB",
        bytes as f64 / 1e6
    );
    let (items, _) = copy_out(&db.url, &lines::items(first, last, Customers::All)).await;
    println!("(COPY of the items query a run reads: {items:.2} s)");

    let dir = tempfile::tempdir().expect("scratch directory");
    for format in ["csv", "xlsx"] {
        let path = dir.path().join(format!("bench.{format}"));
        let out = std::process::Command::new(std::env::current_exe().expect("this benchmark"))
            .args(["--write", format, path.to_str().unwrap()])
            .env("DATABASE_URL", &db.url)
            .output()
            .expect("a child process");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
        let mut fields = report.split_whitespace();
        let (seconds, peak_kib, lines): (f64, f64, u64) = (
            fields.next().unwrap().parse().unwrap(),
            fields.next().unwrap().parse().unwrap(),
            fields.next().unwrap().parse().unwrap(),
        );
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let peak = peak_kib / 1024.0;
        if format == "csv" {
            println!(
                "CSV of {lines} lines: {seconds:.2} s, {size:.1} MB, peak {peak:.1} MB; ratio to COPY {:.2} (goal ≤ 1.50)",
                seconds / copy
            );
        } else {
            println!("XLSX of {lines} lines: {seconds:.2} s, {size:.1} MB, peak {peak:.1} MB (goal < 32)");
            python_baseline(&dir.path().join("bench.csv"), &dir.path().join("python.xlsx"), seconds);
        }
    }
}

/// Python's XlsxWriter in constant-memory mode writing the same lines, the library the
/// XLSX goal is set against (10× faster). `just bench` installs it in a virtualenv and
/// names its interpreter in `XLSXWRITER_PYTHON`.
fn python_baseline(csv: &std::path::Path, out: &std::path::Path, ours: f64) {
    let Ok(python) = std::env::var("XLSXWRITER_PYTHON") else {
        println!("(Python XlsxWriter baseline skipped: XLSXWRITER_PYTHON is not set; `just bench` sets it)");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/xlsxwriter_baseline.py");
    let run = std::process::Command::new(python)
        .args([script, csv.to_str().unwrap(), out.to_str().unwrap()])
        .output()
        .expect("python");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{report}{}", String::from_utf8_lossy(&run.stderr));
    let mut fields = report.split_whitespace();
    let (seconds, lines): (f64, u64) = (
        fields.next().unwrap().parse().unwrap(),
        fields.next().unwrap().parse().unwrap(),
    );
    println!(
        "Python XlsxWriter (constant memory), the same {lines} lines: {seconds:.2} s; ours is {:.1}× faster (goal ≥ 10×)",
        seconds / ours
    );
}

/// Times `COPY (query) TO STDOUT CSV` with a run's settings; returns seconds and bytes.
async fn copy_out(url: &str, query: &str) -> (f64, usize) {
    let mut raw = sqlx::PgConnection::connect(url).await.expect("sqlx connection");
    sqlx::raw_sql("SET jit = off; SET work_mem = '64MB'")
        .execute(&mut raw)
        .await
        .expect("settings");
    let started = Instant::now();
    let mut out = raw
        .copy_out_raw(&format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"))
        .await
        .expect("COPY");
    let mut bytes = 0usize;
    while let Some(chunk) = out.next().await {
        bytes += chunk.expect("COPY data").len();
    }
    (started.elapsed().as_secs_f64(), bytes)
}

/// The child: writes one file as a run does and prints seconds, peak resident KiB and
/// lines.
async fn child(format: &str, path: &str) {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connection");
    let (first, last) = period();
    let query = lines::items(first, last, Customers::All);
    let path = std::path::Path::new(path);
    let started = Instant::now();
    let lines = match format {
        "csv" => {
            let mut sink = CsvSink::create(
                path,
                CsvOptions {
                    separator: b',',
                    bom: false,
                },
            )
            .expect("csv");
            let n = stream(&mut conn, &query, |line| sink.line(line)).await;
            sink.finish().expect("the CSV");
            n
        }
        _ => {
            let mut sink = XlsxSink::create(path.parent().unwrap(), path).expect("xlsx");
            let n = stream(&mut conn, &query, |line| sink.line(line)).await;
            sink.finish().expect("the XLSX");
            n
        }
    };
    let peak = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!("{:.3} {peak} {lines}", started.elapsed().as_secs_f64());
}

/// Streams the items through a cursor, split into lines, into `sink`; returns the lines.
async fn stream(
    conn: &mut AsyncPgConnection,
    query: &str,
    mut sink: impl FnMut(&Line) -> partnerdesk_core::Result<()>,
) -> u64 {
    let mut n = 0;
    diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(conn)
        .await
        .expect("begin");
    for setting in SETTINGS {
        diesel::sql_query(format!("SET LOCAL {setting}"))
            .execute(conn)
            .await
            .expect(setting);
    }
    diesel::sql_query(format!("DECLARE bench_items NO SCROLL CURSOR FOR {query}"))
        .execute(conn)
        .await
        .expect("cursor");
    loop {
        let batch: Vec<Line> = diesel::sql_query(format!("FETCH {BATCH} FROM bench_items"))
            .load(conn)
            .await
            .expect("fetch");
        let fetched = batch.len() as i64;
        for item in batch {
            item.months(|line| {
                n += 1;
                sink(line)
            })
            .expect("a line");
        }
        if fetched < BATCH {
            break;
        }
    }
    diesel::sql_query("COMMIT").execute(conn).await.expect("commit");
    n
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
