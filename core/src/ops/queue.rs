//! What ops see and do with the job queue: each queue's counts, the jobs of a queue by
//! state, one job with its runs, the worker processes; retry, discard, retry all given-up,
//! pause and resume. Reading needs `vendor.ops` (vendor administrators hold it too);
//! every action is one audited transaction.
//!
//! A job's state, as ops see it, comes from apalis's columns:
//!
//! | state       | apalis                                                   |
//! |-------------|----------------------------------------------------------|
//! | `pending`   | `Pending` or `Queued` (fetched, not started), due         |
//! | `scheduled` | `Pending` (or `Queued`), due later                        |
//! | `running`   | `Running`                                                 |
//! | `retrying`  | `Failed` with attempts left (due at `run_at`)             |
//! | `given_up`  | `Killed` (permanent failure), or `Failed` with none left  |
//! | `discarded` | `Discarded` (by ops; never picked up again)               |
//! | `done`      | `Done`                                                    |

use crate::platform::db::sql_query;
use chrono::{DateTime, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName,
    sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Ctx, Error, Result,
    platform::audit::Action,
    platform::authz::{Access, Actor, Permission},
    platform::domain::{Page, page_limit},
    platform::op::{self, Scope},
    schema::{queue_pauses, worker_processes},
};

use crate::platform::jobs::{self, Job, QUEUES, SendEmail};
use crate::platform::mail::DeliveryStatus;

crate::text_enum! {
    /// A job's state: pending (due), scheduled (due later), running, retrying (failed,
    /// attempts left), given_up, discarded or done.
    pub enum JobState {
        Pending = "pending",
        Scheduled = "scheduled",
        Running = "running",
        Retrying = "retrying",
        GivenUp = "given_up",
        Discarded = "discarded",
        Done = "done",
    }
}

impl JobState {
    /// Not finished: the job may still run.
    pub fn unfinished(self) -> bool {
        matches!(
            self,
            JobState::Pending | JobState::Scheduled | JobState::Running | JobState::Retrying
        )
    }

    /// The states [`retry`] applies to.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            JobState::Retrying | JobState::GivenUp | JobState::Scheduled | JobState::Discarded
        )
    }

    /// The states [`discard`] applies to.
    pub fn discardable(self) -> bool {
        matches!(self, JobState::Pending | JobState::Scheduled | JobState::Retrying)
    }

    /// The state a filter names; anything else is the `state` field's error.
    pub fn parse_field(raw: &str) -> Result<JobState> {
        JobState::parse(raw).ok_or_else(|| Error::field("state", "unknown_state", "Not a job state"))
    }

    /// The SQL condition on `apalis.jobs` (aliased `j`) that selects this state.
    fn condition(self) -> &'static str {
        match self {
            JobState::Pending => "j.status IN ('Pending', 'Queued') AND j.run_at <= now()",
            JobState::Scheduled => "j.status IN ('Pending', 'Queued') AND j.run_at > now()",
            JobState::Running => "j.status = 'Running'",
            JobState::Retrying => "j.status = 'Failed' AND j.attempts < j.max_attempts",
            JobState::GivenUp => "(j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))",
            JobState::Discarded => "j.status = 'Discarded'",
            JobState::Done => "j.status = 'Done'",
        }
    }
}

/// The state of each row, in SQL: every condition above, in one expression. The arms
/// cover every status apalis writes (and `Discarded`, the project's own); a status it
/// adds later reads as no `JobState` and fails loudly rather than shows as another.
fn state_expression() -> String {
    let arms: String = JobState::ALL
        .iter()
        .map(|s| format!(" WHEN {} THEN '{}'", s.condition(), s.as_str()))
        .collect();
    format!("CASE{arms} ELSE lower(j.status) END")
}

/// Which queue a request names; unknown queues are the `queue` field's error.
pub fn queue_name(raw: &str) -> Result<&'static str> {
    QUEUES
        .iter()
        .copied()
        .find(|q| *q == raw)
        .ok_or_else(|| Error::field("queue", "unknown_queue", "No queue has this name"))
}

/// What every view of the queue needs: vendor ops (administrators hold it too). The
/// queue is the vendor's own, so the views read it whole.
async fn ops_access(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Access> {
    op::grant(conn, actor, Scope::Vendor, Permission::VendorOps).await
}

/// One queue at a glance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueueSummary {
    pub queue: &'static str,
    pub pending: i64,
    pub scheduled: i64,
    pub running: i64,
    pub retrying: i64,
    pub given_up: i64,
    pub discarded: i64,
    pub done_last_hour: i64,
    pub done_last_day: i64,
    /// Seconds the oldest due job has waited; `None` when none waits.
    pub oldest_pending_seconds: Option<f64>,
    /// Jobs finished per minute over the last hour.
    pub throughput_per_minute: f64,
    /// Failed executions of all finished over the last hour, 0 to 1; `None` without runs.
    pub failure_rate: Option<f64>,
    /// Given-up `send_email` jobs whose e-mail was never sent.
    pub unsent_emails: i64,
    pub paused: Option<Pause>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pause {
    pub at: DateTime<Utc>,
    pub by: Option<Uuid>,
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = BigInt)]
    scheduled: i64,
    #[diesel(sql_type = BigInt)]
    running: i64,
    #[diesel(sql_type = BigInt)]
    retrying: i64,
    #[diesel(sql_type = BigInt)]
    given_up: i64,
    #[diesel(sql_type = BigInt)]
    discarded: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest_pending_seconds: Option<f64>,
    #[diesel(sql_type = BigInt)]
    unsent: i64,
    #[diesel(sql_type = BigInt)]
    done_hour: i64,
    #[diesel(sql_type = BigInt)]
    done_day: i64,
    #[diesel(sql_type = BigInt)]
    finished_hour: i64,
    #[diesel(sql_type = BigInt)]
    failed_hour: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    paused_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    paused_by: Option<Uuid>,
}

/// One worker's count of finished executions of a queue in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCount {
    pub queue: &'static str,
    pub minute: DateTime<Utc>,
    pub done: i64,
    pub failed: i64,
}

/// Adds a worker's counts to the per-minute and per-hour figures (one statement for all
/// of them).
pub async fn record_counts(conn: &mut AsyncPgConnection, worker: &str, counts: &[MinuteCount]) -> Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let queues: Vec<&str> = counts.iter().map(|c| c.queue).collect();
    let minutes: Vec<DateTime<Utc>> = counts.iter().map(|c| c.minute).collect();
    let done: Vec<i64> = counts.iter().map(|c| c.done).collect();
    let failed: Vec<i64> = counts.iter().map(|c| c.failed).collect();
    sql_query(
        "WITH t AS (SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int8[], $4::int8[]) AS t(q, m, d, f)),
              minutes AS (
                  INSERT INTO job_stats (queue, minute, worker, done, failed)
                  SELECT q, m, $5, d, f FROM t
                  ON CONFLICT (queue, minute, worker)
                  DO UPDATE SET done = job_stats.done + EXCLUDED.done, failed = job_stats.failed + EXCLUDED.failed)
         INSERT INTO job_stats_hourly (queue, hour, worker, done, failed)
         SELECT q, date_trunc('hour', m, 'UTC'), $5, sum(d), sum(f) FROM t GROUP BY 1, 2
         ON CONFLICT (queue, hour, worker)
         DO UPDATE SET done = job_stats_hourly.done + EXCLUDED.done, failed = job_stats_hourly.failed + EXCLUDED.failed",
    )
    .bind::<Array<Text>, _>(queues)
    .bind::<Array<Timestamptz>, _>(minutes)
    .bind::<Array<BigInt>, _>(done)
    .bind::<Array<BigInt>, _>(failed)
    .bind::<Text, _>(worker)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every queue the worker runs, at a glance.
pub async fn queues(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<QueueSummary>> {
    ops_access(conn, actor).await?;
    summaries(conn).await
}

/// The queue view without authorization (the worker's metrics read it too), in one
/// statement: the unfinished jobs by state, the finished executions of the last hour
/// and day, the unsent e-mails and the pauses, per queue.
pub async fn summaries(conn: &mut AsyncPgConnection) -> Result<Vec<QueueSummary>> {
    let rows: Vec<SummaryRow> = sql_query(summary_sql())
        .bind::<Array<Text>, _>(QUEUES)
        .load(conn)
        .await?;
    Ok(QUEUES
        .iter()
        .map(|&queue| {
            let row = rows.iter().find(|r| r.queue == queue);
            let n = |f: fn(&SummaryRow) -> i64| row.map_or(0, f);
            let finished = n(|r| r.finished_hour);
            QueueSummary {
                queue,
                pending: n(|r| r.pending),
                scheduled: n(|r| r.scheduled),
                running: n(|r| r.running),
                retrying: n(|r| r.retrying),
                given_up: n(|r| r.given_up),
                discarded: n(|r| r.discarded),
                done_last_hour: n(|r| r.done_hour),
                done_last_day: n(|r| r.done_day),
                oldest_pending_seconds: row.and_then(|r| r.oldest_pending_seconds),
                throughput_per_minute: finished as f64 / 60.0,
                failure_rate: (finished > 0).then(|| n(|r| r.failed_hour) as f64 / finished as f64),
                unsent_emails: if queue == SendEmail::QUEUE { n(|r| r.unsent) } else { 0 },
                paused: row.and_then(|r| r.paused_at.map(|at| Pause { at, by: r.paused_by })),
            }
        })
        .collect())
}

/// The summary's statement: `$1` the queues. Unfinished jobs are counted per state from
/// the partial index of everything not done; given-up e-mails that were never sent from
/// the deliveries not sent; finished executions from the workers' counts: per hour
/// (`job_stats_hourly`) for the day, per minute (`job_stats`) for the last hour and the
/// hour the day starts in.
fn summary_sql() -> String {
    format!(
        "WITH per_state AS (
             SELECT j.job_type AS queue, {state} AS state, count(*) AS n, min(j.run_at) AS oldest
             FROM apalis.jobs j
             WHERE j.status <> 'Done'
             GROUP BY 1, 2),
         states AS (
             SELECT queue,
                    sum(n) FILTER (WHERE state = 'pending') AS pending,
                    sum(n) FILTER (WHERE state = 'scheduled') AS scheduled,
                    sum(n) FILTER (WHERE state = 'running') AS running,
                    sum(n) FILTER (WHERE state = 'retrying') AS retrying,
                    sum(n) FILTER (WHERE state = 'given_up') AS given_up,
                    sum(n) FILTER (WHERE state = 'discarded') AS discarded,
                    extract(epoch FROM now() - min(oldest) FILTER (WHERE state = 'pending'))::float8 AS oldest_pending_seconds
             FROM per_state GROUP BY queue),
         not_sent AS MATERIALIZED (
             SELECT d.event_key FROM email_deliveries d WHERE d.status NOT IN ('sent', 'skipped')),
         unsent AS (
             SELECT j.job_type AS queue, count(*) AS unsent
             FROM not_sent d
             JOIN apalis.jobs j ON j.job_type = '{email}' AND j.idempotency_key = d.event_key
             WHERE j.status <> 'Done' AND {given_up}
             GROUP BY 1),
         counted AS (
             SELECT h.queue, h.done, h.failed, false AS last_hour FROM job_stats_hourly h
             WHERE h.hour >= date_trunc('hour', now() - interval '1 day', 'UTC') + interval '1 hour'
             UNION ALL
             SELECT s.queue, s.done, s.failed, false FROM job_stats s
             WHERE s.minute >= now() - interval '1 day'
               AND s.minute < date_trunc('hour', now() - interval '1 day', 'UTC') + interval '1 hour'
             UNION ALL
             SELECT s.queue, s.done, s.failed, true FROM job_stats s
             WHERE s.minute >= now() - interval '1 hour'),
         runs AS (
             SELECT queue,
                    sum(done) FILTER (WHERE NOT last_hour) AS done_day,
                    sum(done) FILTER (WHERE last_hour) AS done_hour,
                    sum(done + failed) FILTER (WHERE last_hour) AS finished_hour,
                    sum(failed) FILTER (WHERE last_hour) AS failed_hour
             FROM counted GROUP BY queue)
         SELECT q.queue,
                coalesce(st.pending, 0)::int8 AS pending, coalesce(st.scheduled, 0)::int8 AS scheduled,
                coalesce(st.running, 0)::int8 AS running, coalesce(st.retrying, 0)::int8 AS retrying,
                coalesce(st.given_up, 0)::int8 AS given_up, coalesce(st.discarded, 0)::int8 AS discarded,
                st.oldest_pending_seconds, coalesce(u.unsent, 0) AS unsent,
                coalesce(r.done_hour, 0)::int8 AS done_hour, coalesce(r.done_day, 0)::int8 AS done_day,
                coalesce(r.finished_hour, 0)::int8 AS finished_hour, coalesce(r.failed_hour, 0)::int8 AS failed_hour,
                p.paused_at, p.paused_by
         FROM unnest($1::text[]) AS q(queue)
         LEFT JOIN states st ON st.queue = q.queue
         LEFT JOIN unsent u ON u.queue = q.queue
         LEFT JOIN runs r ON r.queue = q.queue
         LEFT JOIN queue_pauses p ON p.queue = q.queue",
        state = state_expression(),
        given_up = JobState::GivenUp.condition(),
        email = SendEmail::QUEUE,
    )
}

/// One job in a list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct JobItem {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub queue: String,
    #[diesel(sql_type = Text)]
    pub state: JobState,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Integer)]
    pub max_attempts: i32,
    /// When it is (or was) due.
    #[diesel(sql_type = Timestamptz)]
    pub run_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub done_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub worker: Option<String>,
    /// The last execution's error, if it failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// For an e-mail job: the delivery's status.
    #[diesel(sql_type = Nullable<Text>)]
    pub email_status: Option<DeliveryStatus>,
}

impl JobItem {
    /// When the job was created (its ULID's time).
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        let ulid = ulid::Ulid::from_string(&self.id).ok()?;
        DateTime::<Utc>::from_timestamp_millis(ulid.timestamp_ms() as i64)
    }

    /// A given-up e-mail job whose e-mail never went out.
    pub fn email_unsent(&self) -> bool {
        self.state == JobState::GivenUp && self.email_status.is_some_and(|s| !s.is_settled())
    }
}

fn item_columns() -> String {
    format!(
        "j.id, j.job_type AS queue, {state} AS state, j.attempts, j.max_attempts, j.run_at, j.done_at,
         CASE WHEN j.status IN ('Queued', 'Running') THEN j.lock_by END AS worker,
         CASE WHEN j.status <> 'Done' THEN j.last_result ->> 'Err' END AS last_error,
         (SELECT d.status FROM email_deliveries d
          WHERE j.job_type = '{email}' AND d.event_key = j.idempotency_key) AS email_status",
        state = state_expression(),
        email = SendEmail::QUEUE,
    )
}

/// Which jobs a list shows.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub queue: Option<String>,
    pub state: Option<String>,
    pub cursor: Option<String>,
}

/// Jobs of one queue (or all), optionally in one state, newest first; keyset paging on
/// the id (ULIDs sort by creation time).
pub async fn jobs(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    filter: &JobFilter,
    limit: i64,
) -> Result<Page<JobItem>> {
    ops_access(conn, actor).await?;
    let limit = page_limit(limit)?;
    let queue = filter
        .queue
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(queue_name)
        .transpose()?;
    let state = filter
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(JobState::parse_field)
        .transpose()?;
    if let Some(cursor) = filter.cursor.as_deref() {
        ulid::Ulid::from_string(cursor)
            .map_err(|_| Error::field("cursor", "invalid_cursor", "Not a cursor from this list"))?;
    }
    // The text varies with what is given (never `$1 IS NULL OR ...`), so that every
    // variant gets its own plan; the state's condition is wrapped in a CASE, whose
    // selectivity the planner does not guess from the whole table's statistics (a rare
    // status there is most of the unfinished jobs a list walks).
    let queue_filter = if queue.is_some() {
        "j.job_type = $1"
    } else {
        "$1::text IS NULL"
    };
    let cursor_filter = if filter.cursor.is_some() {
        "j.id < $2"
    } else {
        "$2::text IS NULL"
    };
    let state_filter = state.map_or("TRUE".to_owned(), |s| {
        format!("(CASE WHEN {} THEN true ELSE false END)", s.condition())
    });
    // Everything but the done jobs is in a partial index; say so when it applies.
    let unfinished = if state.is_some_and(|s| s != JobState::Done) {
        "j.status <> 'Done'"
    } else {
        "TRUE"
    };
    let rows: Vec<JobItem> = sql_query(format!(
        "SELECT {columns}
         FROM apalis.jobs j
         WHERE {queue_filter} AND {cursor_filter} AND {unfinished} AND {state_filter}
         ORDER BY j.id DESC
         LIMIT $3",
        columns = item_columns(),
    ))
    .bind::<Nullable<Text>, _>(queue)
    .bind::<Nullable<Text>, _>(filter.cursor.as_deref())
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await?;
    Ok(Page::of(rows, limit, |j| j.id.clone()))
}

/// One execution of a job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, QueryableByName)]
pub struct JobRun {
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Text)]
    pub worker: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    /// `done`, `retry`, `failed`; `None` while running, or when its worker was lost.
    #[diesel(sql_type = Nullable<Text>)]
    pub outcome: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

/// One job with its payload (secrets redacted) and every execution.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobItem,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    pub locked_at: Option<DateTime<Utc>>,
    /// The last attempt is over and its worker is still writing the end of its run (a
    /// moment): `runs` does not show how it ended yet.
    pub recording: bool,
    pub runs: Vec<JobRun>,
}

#[derive(QueryableByName)]
struct JobExtra {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    job: Vec<u8>,
    #[diesel(sql_type = Nullable<Text>)]
    idempotency_key: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    lock_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    recording: bool,
}

/// Keys whose values a job page never shows.
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "password",
    "key",
    "code",
    "signature",
    "authorization",
    "cookie",
];

/// The payload with every value under a secret-looking key replaced.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS.iter().any(|s| lower.contains(s)) {
                        (k, Value::String("[redacted]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

pub async fn job(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: &str) -> Result<JobDetail> {
    ops_access(conn, actor).await?;
    let item: JobItem = sql_query(format!("SELECT {} FROM apalis.jobs j WHERE j.id = $1", item_columns()))
        .bind::<Text, _>(id)
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("job"))?;
    let extra: JobExtra = sql_query(format!(
        "SELECT j.job, j.idempotency_key, j.lock_at, ({}) AS recording FROM apalis.jobs j WHERE j.id = $2",
        jobs::RUN_BEING_RECORDED
    ))
    .bind::<Double, _>(ctx.config.worker_lease.as_secs_f64())
    .bind::<Text, _>(id)
    .get_result(conn)
    .await?;
    let payload = serde_json::from_slice(&extra.job)
        .unwrap_or_else(|_| Value::String(format!("({} bytes that are not JSON)", extra.job.len())));
    let runs: Vec<JobRun> = sql_query(
        "SELECT attempt, worker, started_at, finished_at, outcome, error
         FROM job_runs WHERE job_id = $1 ORDER BY started_at DESC, id DESC LIMIT 100",
    )
    .bind::<Text, _>(id)
    .load(conn)
    .await?;
    Ok(JobDetail {
        job: item,
        payload: redact(payload),
        idempotency_key: extra.idempotency_key,
        locked_at: extra.lock_at,
        recording: extra.recording,
        runs,
    })
}

/// Wakes the workers of `queue` for a job that is due now (what the insert trigger does).
async fn notify(conn: &mut AsyncPgConnection, queue: &str, id: &str) -> Result<()> {
    sql_query("SELECT pg_notify('apalis::job::insert', json_build_object('job_type', $1::text, 'id', $2::text)::text)")
        .bind::<Text, _>(queue)
        .bind::<Text, _>(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Text)]
    before: String,
}

/// What one action does to one job: the columns it sets, which jobs it applies to, and
/// the state the job is in after it.
struct Transition {
    set: &'static str,
    applies: &'static str,
    refusal: &'static str,
    action: Action,
    after: JobState,
}

/// Applies `t` to job `id` (locked while it is read and changed) and audits it.
async fn transition(op: &mut op::Op<'_>, id: &str, t: Transition) -> Result<Changed> {
    let changed: Option<Changed> = sql_query(format!(
        "WITH before AS (SELECT j.id, {state} AS state FROM apalis.jobs j WHERE j.id = $1 FOR UPDATE)
         UPDATE apalis.jobs j SET {set}
         FROM before b
         WHERE j.id = b.id AND ({applies})
         RETURNING j.id, j.job_type AS queue, b.state AS before",
        state = state_expression(),
        set = t.set,
        applies = t.applies,
    ))
    .bind::<Text, _>(id)
    .get_result(op.conn)
    .await
    .optional()?;
    let Some(changed) = changed else {
        return Err(refusal(op.conn, id, t.refusal).await);
    };
    let changes = json!({ "queue": changed.queue, "state": { "before": changed.before, "after": t.after.as_str() } });
    op.audit(t.action, &changed.id, changes).await?;
    Ok(changed)
}

/// Makes a retrying, given-up, scheduled or discarded job due now, with one more attempt
/// if it had none left.
pub async fn retry(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: &str) -> Result<()> {
    op::run(conn, ctx, actor, Scope::Vendor, Permission::VendorOps, async |op| {
        let t = Transition {
            set: "status = 'Pending', run_at = now(), done_at = NULL, lock_by = NULL, lock_at = NULL,
                  max_attempts = GREATEST(j.max_attempts, j.attempts + 1)",
            applies: "b.state IN ('retrying', 'given_up', 'scheduled', 'discarded')",
            refusal: "Only a retrying, given-up, scheduled or discarded job can be retried",
            action: Action::JobRetried,
            after: JobState::Pending,
        };
        let changed = transition(op, id, t).await?;
        notify(op.conn, &changed.queue, &changed.id).await
    })
    .await
}

/// Takes a pending, scheduled or retrying job out of processing for good (a `Queued` job
/// is already in a worker's hands and is left alone).
pub async fn discard(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: &str) -> Result<()> {
    op::run(conn, ctx, actor, Scope::Vendor, Permission::VendorOps, async |op| {
        let t = Transition {
            set: "status = 'Discarded', done_at = now(), lock_by = NULL, lock_at = NULL",
            applies: "j.status = 'Pending' OR (j.status = 'Failed' AND j.attempts < j.max_attempts)",
            refusal: "Only a pending, scheduled or retrying job can be discarded",
            action: Action::JobDiscarded,
            after: JobState::Discarded,
        };
        transition(op, id, t).await.map(|_| ())
    })
    .await
}

/// Not found, or in a state the action does not apply to.
async fn refusal(conn: &mut AsyncPgConnection, id: &str, message: &str) -> Error {
    let exists = sql_query("SELECT id FROM apalis.jobs WHERE id = $1")
        .bind::<Text, _>(id)
        .execute(conn)
        .await;
    match exists {
        Ok(0) => Error::not_found("job"),
        Ok(_) => Error::conflict("job_state", None, message),
        Err(err) => err.into(),
    }
}

#[derive(QueryableByName)]
struct Retried {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Makes every given-up job of `queue` due now with one more attempt. Returns how many.
pub async fn retry_given_up(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, queue: &str) -> Result<i64> {
    op::run(conn, ctx, actor, Scope::Vendor, Permission::VendorOps, async |op| {
        let queue = queue_name(queue)?;
        let row: Retried = sql_query(format!(
            "WITH retried AS (
                 UPDATE apalis.jobs j
                 SET status = 'Pending', run_at = now(), done_at = NULL, lock_by = NULL, lock_at = NULL,
                     max_attempts = GREATEST(j.max_attempts, j.attempts + 1)
                 WHERE j.job_type = $1 AND j.status <> 'Done' AND {given_up}
                 RETURNING 1)
             SELECT count(*) AS n FROM retried",
            given_up = JobState::GivenUp.condition(),
        ))
        .bind::<Text, _>(queue)
        .get_result(op.conn)
        .await?;
        if row.n > 0 {
            notify(op.conn, queue, &ulid::Ulid::new().to_string()).await?;
        }
        op.audit(
            Action::JobsRetried,
            queue,
            json!({ "state": "given_up", "jobs": row.n }),
        )
        .await?;
        Ok(row.n)
    })
    .await
}

/// Pauses a queue: every worker stops taking its jobs within a second or two (jobs
/// already running finish).
pub async fn pause(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, queue: &str) -> Result<()> {
    op::run(conn, ctx, actor, Scope::Vendor, Permission::VendorOps, async |op| {
        let queue = queue_name(queue)?;
        let n = diesel::insert_into(queue_pauses::table)
            .values((
                queue_pauses::queue.eq(queue),
                queue_pauses::paused_at.eq(op.now),
                queue_pauses::paused_by.eq(actor.user_id),
            ))
            .on_conflict_do_nothing()
            .execute(op.conn)
            .await?;
        if n == 0 {
            return Err(Error::conflict("queue_paused", None, "The queue is already paused"));
        }
        op.audit(
            Action::QueuePaused,
            queue,
            json!({ "paused": { "before": false, "after": true } }),
        )
        .await
    })
    .await
}

pub async fn resume(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, queue: &str) -> Result<()> {
    op::run(conn, ctx, actor, Scope::Vendor, Permission::VendorOps, async |op| {
        let queue = queue_name(queue)?;
        let n = diesel::delete(queue_pauses::table.find(queue)).execute(op.conn).await?;
        if n == 0 {
            return Err(Error::conflict("queue_not_paused", None, "The queue is not paused"));
        }
        op.audit(
            Action::QueueResumed,
            queue,
            json!({ "paused": { "before": true, "after": false } }),
        )
        .await
    })
    .await
}

/// The queues paused now (the workers read this).
pub async fn paused_queues(conn: &mut AsyncPgConnection) -> Result<Vec<String>> {
    Ok(queue_pauses::table.select(queue_pauses::queue).load(conn).await?)
}

/// A worker process.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkerProcess {
    pub name: String,
    pub host: String,
    pub pid: i32,
    pub queues: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// No heartbeat within the lease: killed or lost; its jobs go back to the queue.
    pub gone: bool,
    pub running: i64,
}

#[derive(QueryableByName)]
struct WorkerRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    host: String,
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Array<Text>)]
    queues: Vec<String>,
    #[diesel(sql_type = Timestamptz)]
    started_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_seen: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    gone: bool,
    #[diesel(sql_type = BigInt)]
    running: i64,
}

/// Worker processes, most recently seen first; one without a heartbeat for the lease
/// (`WORKER_LEASE_SECONDS`) is gone, and stays listed until the maintenance sweep forgets
/// it a day later.
pub async fn workers(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor) -> Result<Vec<WorkerProcess>> {
    ops_access(conn, actor).await?;
    let rows: Vec<WorkerRow> = sql_query(
        "SELECT w.name, w.host, w.pid, w.queues, w.started_at, w.last_seen,
                w.last_seen < now() - make_interval(secs => $1) AS gone,
                (SELECT count(*) FROM apalis.jobs j
                 WHERE j.status = 'Running'
                   AND j.lock_by = ANY (SELECT w.name || ':' || q FROM unnest(w.queues) AS q)) AS running
         FROM worker_processes w
         ORDER BY w.last_seen DESC, w.name
         LIMIT 200",
    )
    .bind::<Double, _>(ctx.config.worker_lease.as_secs_f64())
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| WorkerProcess {
            name: r.name,
            host: r.host,
            pid: r.pid,
            queues: r.queues,
            started_at: r.started_at,
            last_seen: r.last_seen,
            gone: r.gone,
            running: r.running,
        })
        .collect())
}

/// Records (or refreshes) a worker process's heartbeat.
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    name: &str,
    host: &str,
    pid: u32,
    queues: &[&str],
    started_at: DateTime<Utc>,
) -> Result<()> {
    diesel::insert_into(worker_processes::table)
        .values((
            worker_processes::name.eq(name),
            worker_processes::host.eq(host),
            worker_processes::pid.eq(pid as i32),
            worker_processes::queues.eq(queues),
            worker_processes::started_at.eq(started_at),
            worker_processes::last_seen.eq(diesel::dsl::now),
        ))
        .on_conflict(worker_processes::name)
        .do_update()
        .set(worker_processes::last_seen.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets a worker process that stopped cleanly (its jobs are finished and recorded),
/// so that it no longer shows as live.
pub async fn deregister(conn: &mut AsyncPgConnection, name: &str) -> Result<()> {
    diesel::delete(worker_processes::table.filter(worker_processes::name.eq(name)))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks e-mail deliveries whose claiming job was given up, discarded or removed while
/// they were being sent as failed, so that they show as unsent and a retry sends them.
pub async fn release_abandoned_claims(conn: &mut AsyncPgConnection) -> Result<usize> {
    Ok(sql_query(format!(
        "UPDATE email_deliveries d
         SET status = 'failed', last_error = 'the worker sending it was lost and its job did not run again'
         WHERE d.status = 'sending' AND d.claimed_by_job IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM apalis.jobs j
                           WHERE j.id = d.claimed_by_job AND j.status <> 'Discarded' AND NOT {given_up})",
        given_up = JobState::GivenUp.condition(),
    ))
    .execute(conn)
    .await?)
}
