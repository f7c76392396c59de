//! Background jobs: payload types, transactional enqueue and bookkeeping. Which function
//! runs each queue is the worker's registry (`partnerdesk_worker::registry`).
//!
//! Jobs are rows in apalis-postgres's `apalis.jobs`, inserted with the caller's
//! connection so they commit (and notify the worker) together with the change that
//! caused them, or not at all. Each job type has its own queue with a stable name; the
//! payload carries ids, and the handler re-reads what it needs.

use std::time::Duration;

use crate::platform::db::sql_query;
use chrono::{DateTime, Utc};
use diesel::{
    OptionalExtension, QueryableByName,
    sql_types::{BigInt, Binary, Integer, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Result, platform::config::Config};

pub mod definitions;

pub use definitions::*;

/// Every queue the worker consumes, in the order the ops view lists them.
pub const QUEUES: &[&str] = &[
    SendEmail::QUEUE,
    RecomputeCommissions::QUEUE,
    RenderBillingRun::QUEUE,
    Ping::QUEUE,
];

/// A job type. `QUEUE` is its stable queue name (never a Rust type name).
pub trait Job: Serialize + DeserializeOwned + Send + Sync {
    const QUEUE: &'static str;
    /// Executions before the job is given up (each failure waits with exponential backoff).
    const MAX_ATTEMPTS: i32 = 8;
}

/// How many jobs of `queue` a worker fetches (and locks) at once: `configured`
/// (`WORKER_FETCH_BATCH`), but one billing run at a time: a run renders for seconds,
/// and a worker holding several it has not started would keep them from another.
pub fn fetch_batch(queue: &str, configured: usize) -> usize {
    if queue == RenderBillingRun::QUEUE {
        1
    } else {
        configured
    }
}

#[derive(QueryableByName)]
struct JobId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Enqueues `job` in the caller's transaction. With an idempotency key, a second
/// enqueue of the same key on the same queue is a no-op (returns `None`).
pub async fn enqueue<J: Job>(
    conn: &mut AsyncPgConnection,
    job: &J,
    idempotency_key: Option<&str>,
) -> Result<Option<String>> {
    enqueue_at(conn, job, idempotency_key, None).await
}

/// Like [`enqueue`], to run no earlier than `run_at`.
pub async fn enqueue_at<J: Job>(
    conn: &mut AsyncPgConnection,
    job: &J,
    idempotency_key: Option<&str>,
    run_at: Option<DateTime<Utc>>,
) -> Result<Option<String>> {
    let payload = serde_json::to_vec(job)?;
    let id = ulid::Ulid::new().to_string();
    let inserted: Vec<JobId> = sql_query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
         VALUES ($1, $2, $3, 'Pending', 0, $4, COALESCE($5, now()), 0, $6)
         ON CONFLICT (job_type, idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind::<Text, _>(&id)
    .bind::<Text, _>(J::QUEUE)
    .bind::<Binary, _>(payload)
    .bind::<Integer, _>(J::MAX_ATTEMPTS)
    .bind::<Nullable<Timestamptz>, _>(run_at)
    .bind::<Nullable<Text>, _>(idempotency_key)
    .load(conn)
    .await?;
    Ok(inserted.into_iter().next().map(|row| row.id))
}

/// Enqueues many jobs of one type with a single statement.
pub async fn enqueue_many<J: Job>(conn: &mut AsyncPgConnection, jobs: &[(J, Option<String>)]) -> Result<usize> {
    use diesel::sql_types::Array;
    if jobs.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(jobs.len());
    let mut payloads = Vec::with_capacity(jobs.len());
    let mut keys: Vec<Option<String>> = Vec::with_capacity(jobs.len());
    for (job, key) in jobs {
        ids.push(ulid::Ulid::new().to_string());
        payloads.push(serde_json::to_vec(job)?);
        keys.push(key.clone());
    }
    let n = sql_query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
         SELECT id, $2, job, 'Pending', 0, $3, now(), 0, key
         FROM unnest($1::text[], $4::bytea[], $5::text[]) AS t(id, job, key)
         ON CONFLICT (job_type, idempotency_key) DO NOTHING",
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Text, _>(J::QUEUE)
    .bind::<Integer, _>(J::MAX_ATTEMPTS)
    .bind::<Array<Binary>, _>(&payloads)
    .bind::<Array<Nullable<Text>>, _>(&keys)
    .execute(conn)
    .await?;
    Ok(n)
}

/// How a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Retrying cannot help (the payload does not decode, the input is invalid).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Try again later, with backoff.
    #[error("{0}")]
    Retry(String),
}

impl From<crate::Error> for JobError {
    fn from(err: crate::Error) -> Self {
        JobError::Retry(err.to_string())
    }
}

/// Decodes a payload inside the handler, so a payload that does not decode fails its
/// job permanently instead of stopping the worker.
pub fn decode<J: Job>(payload: serde_json::Value) -> std::result::Result<J, JobError> {
    serde_json::from_value(payload)
        .map_err(|e| JobError::Permanent(format!("payload does not decode as a {} job: {e}", J::QUEUE)))
}

/// Delay before the next attempt: base × 2^(attempt-1), capped.
pub fn backoff(config: &Config, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    config
        .job_backoff_base
        .saturating_mul(factor)
        .min(config.job_backoff_max)
}

/// An execution that started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStart {
    pub job_id: String,
    pub queue: &'static str,
    pub worker: String,
    pub attempt: i32,
    pub at: DateTime<Utc>,
}

/// How an execution ended (`done`, `retry` or `failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    pub job_id: String,
    pub worker: String,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub outcome: &'static str,
    pub error: Option<String>,
}

/// Records executions that started and ended, many at once: one statement for the
/// starts, then one for the ends (an end finds its start by job, attempt and worker,
/// also when both come in the same call).
pub async fn record_runs(conn: &mut AsyncPgConnection, starts: &[RunStart], ends: &[RunEnd]) -> Result<()> {
    use diesel::sql_types::Array;
    if !starts.is_empty() {
        sql_query(
            "INSERT INTO job_runs (job_id, queue, worker, attempt, started_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::timestamptz[])",
        )
        .bind::<Array<Text>, _>(starts.iter().map(|s| s.job_id.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(starts.iter().map(|s| s.queue).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(starts.iter().map(|s| s.worker.as_str()).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(starts.iter().map(|s| s.attempt).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(starts.iter().map(|s| s.at).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    }
    if !ends.is_empty() {
        sql_query(
            "UPDATE job_runs r SET finished_at = e.at, outcome = e.outcome, error = e.error
             FROM unnest($1::text[], $2::text[], $3::int4[], $4::timestamptz[], $5::text[], $6::text[])
                  AS e(job_id, worker, attempt, at, outcome, error)
             WHERE r.job_id = e.job_id AND r.attempt = e.attempt AND r.worker = e.worker AND r.finished_at IS NULL",
        )
        .bind::<Array<Text>, _>(ends.iter().map(|e| e.job_id.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(ends.iter().map(|e| e.worker.as_str()).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(ends.iter().map(|e| e.attempt).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(ends.iter().map(|e| e.at).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(ends.iter().map(|e| e.outcome).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(ends.iter().map(|e| e.error.as_deref()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct MaxAttempts {
    #[diesel(sql_type = Integer)]
    max_attempts: i32,
}

/// Pushes a failed job's next attempt into the future (apalis re-fetches failed jobs
/// whose `run_at` has passed, so this is the backoff). Returns whether attempts remain.
pub async fn schedule_retry(conn: &mut AsyncPgConnection, job_id: &str, attempt: i32, delay: Duration) -> Result<bool> {
    let row: Option<MaxAttempts> = sql_query(
        "UPDATE apalis.jobs SET run_at = now() + make_interval(secs => $2) WHERE id = $1 RETURNING max_attempts",
    )
    .bind::<Text, _>(job_id)
    .bind::<diesel::sql_types::Double, _>(delay.as_secs_f64())
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.is_some_and(|r| attempt < r.max_attempts))
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: usize,
    pub runs: usize,
    pub workers: usize,
}

/// Deletes finished jobs past their retention (done ones sooner than failed ones), their
/// run records, workers that have been silent for a day and hold no job, and per-minute
/// counts older than two days.
pub async fn prune(conn: &mut AsyncPgConnection, now: DateTime<Utc>, config: &Config) -> Result<Pruned> {
    let done_before = now - chrono::Duration::from_std(config.job_retention).unwrap_or_default();
    let failed_before = now - chrono::Duration::from_std(config.job_failed_retention).unwrap_or_default();
    let jobs = sql_query(
        "DELETE FROM apalis.jobs
         WHERE (status = 'Done' AND done_at < $1)
            OR ((status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)) AND done_at < $2)",
    )
    .bind::<Timestamptz, _>(done_before)
    .bind::<Timestamptz, _>(failed_before)
    .execute(conn)
    .await?;
    let runs = sql_query(
        "DELETE FROM job_runs r WHERE r.started_at < $1 AND NOT EXISTS (SELECT 1 FROM apalis.jobs j WHERE j.id = r.job_id)",
    )
    .bind::<Timestamptz, _>(done_before)
    .execute(conn)
    .await?;
    let workers = sql_query(
        "DELETE FROM apalis.workers w
         WHERE w.last_seen < $1 - interval '1 day'
           AND NOT EXISTS (SELECT 1 FROM apalis.jobs j WHERE j.lock_by = w.id)",
    )
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    // Worker processes a day gone, and the per-minute counts the queue view no longer reads.
    sql_query("DELETE FROM worker_processes WHERE last_seen < $1 - interval '1 day'")
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    sql_query("DELETE FROM job_stats WHERE minute < $1 - interval '2 days'")
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    sql_query("DELETE FROM job_stats_hourly WHERE hour < $1 - interval '2 days'")
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
    Ok(Pruned { jobs, runs, workers })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A job (`j`, a row of `apalis.jobs`) whose last attempt is over while the end of its
/// run is not written yet, and whose worker is alive to write it: the handlers hand their
/// run records to a batch writer, and apalis acknowledges the job on its own schedule, so
/// either may land first. A run whose worker is gone stays unfinished (lost), and a worker
/// that stops cleanly writes its records before it leaves.
pub const RUN_BEING_RECORDED: &str = "j.status IN ('Done', 'Failed', 'Killed')
    AND j.lock_by IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM job_runs r
                    WHERE r.job_id = j.id AND r.worker = j.lock_by AND r.attempt = j.attempts
                      AND r.finished_at IS NOT NULL)
    AND EXISTS (SELECT 1 FROM worker_processes w
                WHERE j.lock_by = ANY (SELECT w.name || ':' || q FROM unnest(w.queues) AS q)
                  AND w.last_seen >= now() - make_interval(secs => $1))";

/// Jobs that are waiting, running, failed and due for another attempt, or finished
/// while their run is still being recorded: zero once everything enqueued so far is
/// done and shows as done everywhere.
pub async fn unfinished_count(conn: &mut AsyncPgConnection, lease: Duration) -> Result<i64> {
    let row: Count = sql_query(format!(
        "SELECT count(*) AS n FROM apalis.jobs j
         WHERE j.status IN ('Pending', 'Queued', 'Running')
            OR (j.status = 'Failed' AND j.attempts < j.max_attempts AND j.run_at <= now())
            OR ({RUN_BEING_RECORDED})"
    ))
    .bind::<diesel::sql_types::Double, _>(lease.as_secs_f64())
    .get_result(conn)
    .await?;
    Ok(row.n)
}
