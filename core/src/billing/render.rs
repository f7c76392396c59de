//! The worker's part of a billing run: read the items through a server-side cursor in
//! one repeatable-read snapshot, split them into lines and write both files as they
//! come, check the files' totals against the database's own pricing of the same lines
//! over the same snapshot, then store files, totals and
//! the run's new state in one transaction. A worker that dies midway leaves the run
//! `running` with nothing stored; the job's next attempt starts it over.

use std::{io::Read, path::Path};

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Binary, Integer, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Run,
    files::{self, CsvOptions, Total, Writer},
    lines::{self, Customers, Line},
};
use crate::platform::money::Currency;
use crate::{
    Ctx, Error, Result,
    platform::audit::{Action, Who},
    platform::db::Pool,
    platform::op,
};

/// Lines fetched from the cursor at a time.
const BATCH: i64 = 5_000;
/// The most bytes in one stored chunk.
const CHUNK: usize = 1 << 20;

/// Renders run `id`. A ready run is left alone (the job ran before); a failure marks
/// the run failed with the error and returns it, so the job is retried.
pub async fn render(ctx: &Ctx, pool: &Pool, id: Uuid) -> Result<()> {
    let mut conn = pool.get().await?;
    let Some(run) = claim(&mut conn, ctx, id).await? else {
        return Ok(());
    };
    let outcome = produce(ctx, pool, &mut conn, &run).await;
    if let Err(err) = &outcome {
        tracing::warn!(run = %id, %err, "billing run failed");
        diesel::sql_query("UPDATE billing_runs SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1")
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(err.to_string())
            .bind::<Timestamptz, _>(ctx.now())
            .execute(&mut conn)
            .await?;
    }
    outcome
}

/// Marks the run running (again, after a failed or interrupted attempt); `None` when it
/// is ready already or gone.
async fn claim(conn: &mut AsyncPgConnection, ctx: &Ctx, id: Uuid) -> Result<Option<Run>> {
    let n = diesel::sql_query(
        "UPDATE billing_runs SET status = 'running', started_at = $2, lines_written = 0, error = NULL, finished_at = NULL
         WHERE id = $1 AND status <> 'ready'",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(ctx.now())
    .execute(conn)
    .await?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(super::find(conn, id).await?))
}

async fn produce(ctx: &Ctx, pool: &Pool, progress: &mut AsyncPgConnection, run: &Run) -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::internal(format!("a scratch directory: {e}")))?;
    let options = CsvOptions {
        separator: run.csv_separator.as_bytes().first().copied().unwrap_or(b','),
        bom: run.csv_bom,
    };
    let writer = Writer::create(dir.path(), options)?;
    let customers = match run.partner_id {
        Some(p) => Customers::OfPartner(p),
        None => Customers::All,
    };
    let mut reader = pool.get().await?;
    let (written, sums) = stream(&mut reader, progress, run, customers, writer).await?;
    if !agree(&written.totals, &sums) {
        return Err(Error::internal(format!(
            "the files' totals {:?} differ from the database's {:?}",
            written.totals, sums
        )));
    }
    store(ctx, progress, run, &written).await
}

/// Reads every line in one snapshot and writes it; returns the files and the database's
/// own sums over the same snapshot.
async fn stream(
    reader: &mut AsyncPgConnection,
    progress: &mut AsyncPgConnection,
    run: &Run,
    customers: Customers,
    mut writer: Writer,
) -> Result<(files::Written, Vec<Total>)> {
    let items = lines::items(run.period_start, run.period_end, customers);
    let priced_in_sql = lines::lines(run.period_start, run.period_end, customers, false);
    reader
        .build_transaction()
        .repeatable_read()
        .read_only()
        .run(async move |conn| {
            // A batch job: no statement timeout, no JIT compile (seconds on a big plan),
            // room to sort in memory.
            for setting in ["statement_timeout = 0", "jit = off", "work_mem = '64MB'"] {
                diesel::sql_query(format!("SET LOCAL {setting}")).execute(conn).await?;
            }
            diesel::sql_query(format!("DECLARE billing_lines NO SCROLL CURSOR FOR {items}"))
                .execute(conn)
                .await?;
            loop {
                let batch: Vec<Line> = diesel::sql_query(format!("FETCH {BATCH} FROM billing_lines"))
                    .load(conn)
                    .await?;
                let fetched = batch.len() as i64;
                for item in batch {
                    item.months(|line| writer.line(line))?;
                }
                diesel::sql_query("UPDATE billing_runs SET lines_written = $2 WHERE id = $1")
                    .bind::<SqlUuid, _>(run.id)
                    .bind::<BigInt, _>(writer.lines())
                    .execute(progress)
                    .await?;
                if fetched < BATCH {
                    break;
                }
            }
            let sums = sums(conn, &priced_in_sql).await?;
            Ok::<_, Error>((writer.finish()?, sums))
        })
        .await
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    partner_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    currency: Currency,
    #[diesel(sql_type = BigInt)]
    lines: i64,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// The database's own totals per partner and currency, with every line priced in SQL.
async fn sums(conn: &mut AsyncPgConnection, unordered: &str) -> Result<Vec<Total>> {
    let rows: Vec<Sum> = diesel::sql_query(format!(
        "SELECT partner_id, currency, count(*) AS lines, sum(amount) AS amount FROM ({unordered}) q
         GROUP BY partner_id, currency"
    ))
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|s| Total {
            partner_id: s.partner_id,
            currency: s.currency,
            lines: s.lines,
            amount: s.amount,
        })
        .collect())
}

/// Whether the files' totals are the database's, to the cent.
fn agree(files: &[Total], database: &[Total]) -> bool {
    let key = |t: &Total| (t.partner_id, t.currency, t.lines, t.amount.normalize());
    let mut a: Vec<_> = files.iter().map(key).collect();
    let mut b: Vec<_> = database.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// Stores both files, the totals and the run's new state together.
async fn store(ctx: &Ctx, conn: &mut AsyncPgConnection, run: &Run, written: &files::Written) -> Result<()> {
    op::run_as(conn, ctx, Who::system(run.partner_id), async |op| {
        diesel::sql_query("DELETE FROM billing_files WHERE run_id = $1")
            .bind::<SqlUuid, _>(run.id)
            .execute(op.conn)
            .await?;
        diesel::sql_query("DELETE FROM billing_run_totals WHERE run_id = $1")
            .bind::<SqlUuid, _>(run.id)
            .execute(op.conn)
            .await?;
        let mut files = Vec::new();
        for (format, path) in [("xlsx", &written.xlsx), ("csv", &written.csv)] {
            let (size, sha256) = store_file(op.conn, op.now, run.id, format, path).await?;
            files.push(json!({ "format": format, "size": size, "sha256": sha256 }));
        }
        for t in &written.totals {
            diesel::sql_query(
                "INSERT INTO billing_run_totals (run_id, partner_id, currency, lines, amount) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind::<SqlUuid, _>(run.id)
            .bind::<Nullable<SqlUuid>, _>(t.partner_id)
            .bind::<Text, _>(&t.currency)
            .bind::<BigInt, _>(t.lines)
            .bind::<Numeric, _>(t.amount)
            .execute(op.conn)
            .await?;
        }
        diesel::sql_query(
            "UPDATE billing_runs SET status = 'ready', line_count = $2, lines_written = $2, finished_at = $3, error = NULL
             WHERE id = $1",
        )
        .bind::<SqlUuid, _>(run.id)
        .bind::<BigInt, _>(written.lines)
        .bind::<Timestamptz, _>(op.now)
        .execute(op.conn)
        .await?;
        op.audit(Action::BillingRunReady, run.id, json!({ "lines": written.lines, "files": files }))
            .await
    })
    .await
}

/// Copies a file into chunks; returns its size and SHA-256.
async fn store_file(
    conn: &mut AsyncPgConnection,
    now: chrono::DateTime<chrono::Utc>,
    run: Uuid,
    format: &str,
    path: &Path,
) -> Result<(i64, String)> {
    let io = |e: std::io::Error| Error::internal(format!("reading a billing file: {e}"));
    diesel::sql_query(
        "INSERT INTO billing_files (run_id, format, size, sha256, created_at) VALUES ($1, $2, 0, '', $3)",
    )
    .bind::<SqlUuid, _>(run)
    .bind::<Text, _>(format)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let (mut size, mut seq) = (0i64, 0i32);
    loop {
        let mut filled = 0;
        while filled < CHUNK {
            let n = file.read(&mut buffer[filled..]).map_err(io)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        hasher.update(&buffer[..filled]);
        diesel::sql_query("INSERT INTO billing_file_chunks (run_id, format, seq, data) VALUES ($1, $2, $3, $4)")
            .bind::<SqlUuid, _>(run)
            .bind::<Text, _>(format)
            .bind::<Integer, _>(seq)
            .bind::<Binary, _>(&buffer[..filled])
            .execute(conn)
            .await?;
        size += filled as i64;
        seq += 1;
    }
    let sha256 = hex::encode(hasher.finalize());
    diesel::sql_query("UPDATE billing_files SET size = $3, sha256 = $4 WHERE run_id = $1 AND format = $2")
        .bind::<SqlUuid, _>(run)
        .bind::<Text, _>(format)
        .bind::<BigInt, _>(size)
        .bind::<Text, _>(&sha256)
        .execute(conn)
        .await?;
    Ok((size, sha256))
}
