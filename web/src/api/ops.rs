//! The job queue for vendor ops: queues at a glance, jobs, workers; retry, discard,
//! pause and resume.

use chrono::{DateTime, Utc};
use partnerdesk_core::ops::queue::{self as ops, JobDetail, JobFilter, JobItem, JobRun, QueueSummary, WorkerProcess};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{ApiTags, NoContent};
use crate::{auth::Auth, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct OpsApi;

#[derive(Object, Debug)]
pub struct QueueView {
    pub queue: String,
    /// Due and waiting for a worker (or fetched by one, not started).
    pub pending: i64,
    /// Waiting for a later time.
    pub scheduled: i64,
    pub running: i64,
    /// Failed, waiting for their next attempt.
    pub retrying: i64,
    /// Failed permanently or out of attempts.
    pub given_up: i64,
    /// Taken out of processing by ops.
    pub discarded: i64,
    pub done_last_hour: i64,
    pub done_last_day: i64,
    /// Seconds the oldest due job has waited; null when none waits.
    #[oai(nullable)]
    pub oldest_pending_seconds: Option<f64>,
    /// Executions finished per minute over the last hour.
    pub throughput_per_minute: f64,
    /// Failed executions of all finished over the last hour (0 to 1); null without any.
    #[oai(nullable)]
    pub failure_rate: Option<f64>,
    /// Given-up e-mail jobs whose e-mail was never sent (send_email only).
    pub unsent_emails: i64,
    pub paused: bool,
    #[oai(nullable)]
    pub paused_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub paused_by: Option<Uuid>,
}

impl From<QueueSummary> for QueueView {
    fn from(q: QueueSummary) -> Self {
        QueueView {
            queue: q.queue.to_owned(),
            pending: q.pending,
            scheduled: q.scheduled,
            running: q.running,
            retrying: q.retrying,
            given_up: q.given_up,
            discarded: q.discarded,
            done_last_hour: q.done_last_hour,
            done_last_day: q.done_last_day,
            oldest_pending_seconds: q.oldest_pending_seconds,
            throughput_per_minute: q.throughput_per_minute,
            failure_rate: q.failure_rate,
            unsent_emails: q.unsent_emails,
            paused: q.paused.is_some(),
            paused_at: q.paused.as_ref().map(|p| p.at),
            paused_by: q.paused.and_then(|p| p.by),
        }
    }
}

#[derive(Object, Debug)]
pub struct JobView {
    /// A ULID: sorts by creation time.
    pub id: String,
    pub queue: String,
    pub state: partnerdesk_core::ops::queue::JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    #[oai(nullable)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    #[oai(nullable)]
    pub done_at: Option<DateTime<Utc>>,
    /// The worker holding it now.
    #[oai(nullable)]
    pub worker: Option<String>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// E-mail jobs: the delivery's status (queued, sending, sent, failed, skipped).
    #[oai(nullable)]
    pub email_status: Option<partnerdesk_core::platform::mail::DeliveryStatus>,
    /// A given-up e-mail job whose e-mail was never sent.
    pub email_unsent: bool,
}

impl From<JobItem> for JobView {
    fn from(j: JobItem) -> Self {
        JobView {
            created_at: j.created_at(),
            email_unsent: j.email_unsent(),
            id: j.id,
            queue: j.queue,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            done_at: j.done_at,
            worker: j.worker,
            last_error: j.last_error,
            email_status: j.email_status,
        }
    }
}

#[derive(Object, Debug)]
pub struct JobPage {
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Object, Debug)]
pub struct JobRunView {
    pub attempt: i32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// done, retry or failed; null while running or when its worker was lost.
    #[oai(nullable)]
    pub outcome: Option<String>,
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<JobRun> for JobRunView {
    fn from(r: JobRun) -> Self {
        JobRunView {
            attempt: r.attempt,
            worker: r.worker,
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome,
            error: r.error,
        }
    }
}

#[derive(Object, Debug)]
pub struct JobDetailView {
    pub job: JobView,
    /// The payload, with values under secret-looking keys replaced by "[redacted]".
    pub payload: serde_json::Value,
    #[oai(nullable)]
    pub idempotency_key: Option<String>,
    #[oai(nullable)]
    pub locked_at: Option<DateTime<Utc>>,
    /// The last attempt is over and its worker is still writing the end of its run (a
    /// moment): `runs` does not show how it ended yet.
    pub recording: bool,
    /// Executions, newest first.
    pub runs: Vec<JobRunView>,
}

impl From<JobDetail> for JobDetailView {
    fn from(d: JobDetail) -> Self {
        JobDetailView {
            job: d.job.into(),
            payload: d.payload,
            idempotency_key: d.idempotency_key,
            locked_at: d.locked_at,
            recording: d.recording,
            runs: d.runs.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Object, Debug)]
pub struct WorkerView {
    pub name: String,
    pub host: String,
    pub pid: i32,
    pub queues: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// No heartbeat within the lease: its running jobs go back to their queues.
    pub gone: bool,
    /// Jobs it runs now.
    pub running: i64,
}

impl From<WorkerProcess> for WorkerView {
    fn from(w: WorkerProcess) -> Self {
        WorkerView {
            name: w.name,
            host: w.host,
            pid: w.pid,
            queues: w.queues,
            started_at: w.started_at,
            last_seen: w.last_seen,
            gone: w.gone,
            running: w.running,
        }
    }
}

#[derive(Object, Debug)]
pub struct RetriedJobs {
    /// How many given-up jobs were made due again.
    pub retried: i64,
}

#[OpenApi(tag = "ApiTags::Operations")]
impl OpsApi {
    /// Queues at a glance
    ///
    /// Every queue with its jobs by state, done in the last hour and day, the oldest
    /// waiting job's age, throughput and failure rate over the last hour, and whether it
    /// is paused. Vendor ops and administrators.
    #[oai(operation_id = "listQueues", path = "/ops/queues", method = "get")]
    async fn queues(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<QueueView>>> {
        let mut conn = state.read_conn().await?;
        let queues = ops::queues(&mut conn, &auth.actor).await?;
        Ok(Json(queues.into_iter().map(Into::into).collect()))
    }

    /// Jobs
    ///
    /// Jobs of a queue (or all), optionally in one state, newest first; keyset paging
    /// with `cursor`.
    #[oai(operation_id = "listJobs", path = "/ops/jobs", method = "get")]
    async fn jobs(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 100))] queue: Query<Option<String>>,
        /// pending, scheduled, running, retrying, given_up, discarded or done.
        #[oai(name = "state", validator(max_length = 20))]
        state_filter: Query<Option<String>>,
        #[oai(validator(max_length = 40))] cursor: Query<Option<String>>,
        #[oai(
            default = "super::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<JobPage>> {
        let mut conn = state.read_conn().await?;
        let filter = JobFilter {
            queue: queue.0,
            state: state_filter.0,
            cursor: cursor.0,
        };
        let page = ops::jobs(&mut conn, &auth.actor, &filter, limit.0).await?;
        Ok(Json(JobPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// A job
    ///
    /// Its payload (secrets redacted), attempts, every execution and the worker holding it.
    #[oai(operation_id = "getJob", path = "/ops/jobs/:id", method = "get")]
    async fn job(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 40))] id: Path<String>,
    ) -> ApiResult<Json<JobDetailView>> {
        let mut conn = state.conn().await?;
        Ok(Json(ops::job(&mut conn, &state.ctx, &auth.actor, &id.0).await?.into()))
    }

    /// Retry a job now
    ///
    /// A retrying, given-up, scheduled or discarded job becomes due now (with one more
    /// attempt if it had none left). Audited.
    #[oai(operation_id = "retryJob", path = "/ops/jobs/:id/retry", method = "post")]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 40))] id: Path<String>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        ops::retry(&mut conn, &state.ctx, &auth.actor, &id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Discard a job
    ///
    /// A pending, scheduled or retrying job is never run (again). Audited.
    #[oai(operation_id = "discardJob", path = "/ops/jobs/:id/discard", method = "post")]
    async fn discard(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 40))] id: Path<String>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        ops::discard(&mut conn, &state.ctx, &auth.actor, &id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Retry every given-up job of a queue
    #[oai(
        operation_id = "retryGivenUpJobs",
        path = "/ops/queues/:queue/retry-given-up",
        method = "post"
    )]
    async fn retry_given_up(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 100))] queue: Path<String>,
    ) -> ApiResult<Json<RetriedJobs>> {
        let mut conn = state.conn().await?;
        let retried = ops::retry_given_up(&mut conn, &state.ctx, &auth.actor, &queue.0).await?;
        Ok(Json(RetriedJobs { retried }))
    }

    /// Pause a queue
    ///
    /// Workers take no more of its jobs within seconds (running ones finish). Audited.
    #[oai(operation_id = "pauseQueue", path = "/ops/queues/:queue/pause", method = "post")]
    async fn pause(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 100))] queue: Path<String>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        ops::pause(&mut conn, &state.ctx, &auth.actor, &queue.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Resume a queue
    #[oai(operation_id = "resumeQueue", path = "/ops/queues/:queue/resume", method = "post")]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(validator(max_length = 100))] queue: Path<String>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        ops::resume(&mut conn, &state.ctx, &auth.actor, &queue.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Worker processes
    ///
    /// Name, host, queues, start, last heartbeat and running jobs; a worker without a
    /// heartbeat for the lease is gone.
    #[oai(operation_id = "listWorkers", path = "/ops/workers", method = "get")]
    async fn workers(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<WorkerView>>> {
        let mut conn = state.read_conn().await?;
        let workers = ops::workers(&mut conn, &state.ctx, &auth.actor).await?;
        Ok(Json(workers.into_iter().map(Into::into).collect()))
    }
}
