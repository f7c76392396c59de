//! The job queue for vendor ops (and administrators): every queue at a glance with the
//! worker processes, the jobs of a queue by state, one job with its runs; retry,
//! discard, retry all given-up, pause and resume. The same core calls as the API
//! (`api::ops`), whose views the pages show; who may see and do this is decided there.

use crate::pages::notice::{Notice, noticed};
use partnerdesk_core::{
    Error as CoreError,
    ops::queue::{self as ops, JobFilter, JobState, QueueSummary},
    platform::domain::DEFAULT_PAGE,
    platform::jobs::QUEUES,
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Path, Query},
};
use serde::{Deserialize, Serialize};

use super::context::{View, views, with};
use super::{NoticeQuery, db, filled, portal::Portal, reads};
use crate::{
    api::ops::{JobDetailView, JobView, QueueView, WorkerView},
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/vendor/queues", get(queues_page))
        .at("/vendor/queues/:queue/pause", post(pause))
        .at("/vendor/queues/:queue/resume", post(resume))
        .at("/vendor/queues/:queue/retry-given-up", post(retry_given_up))
        .at("/vendor/jobs", get(jobs_page))
        .at("/vendor/jobs/:id", get(job_page))
        .at("/vendor/jobs/:id/retry", post(retry))
        .at("/vendor/jobs/:id/discard", post(discard))
}

#[derive(Deserialize, Default)]
struct JobsQuery {
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// How long, in the largest two units: `42 s`, `3 min 5 s`, `2 h 10 min`, `4 d 1 h`.
fn age(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    match s {
        ..60 => format!("{s} s"),
        60..3_600 => format!("{} min {} s", s / 60, s % 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_owned(),
    }
}

/// A queue as the table shows it: the API's view, with its age and rates in words.
#[derive(Serialize)]
struct QueueRow {
    #[serde(flatten)]
    view: View<QueueView>,
    oldest_pending: Option<String>,
    throughput: String,
    failure_percent: Option<String>,
}

fn queue_row(q: QueueSummary) -> QueueRow {
    QueueRow {
        oldest_pending: q.oldest_pending_seconds.map(age),
        throughput: format!("{:.1}", q.throughput_per_minute),
        failure_percent: q.failure_rate.map(|r| format!("{:.1}", r * 100.0)),
        view: View(q.into()),
    }
}

/// A job as a list shows it: the API's view, with its last error shortened.
#[derive(Serialize)]
struct JobRow {
    last_error_short: Option<String>,
    #[serde(flatten)]
    view: View<JobView>,
}

fn job_row(view: JobView) -> JobRow {
    JobRow {
        last_error_short: view.last_error.as_deref().map(|e| shorten(e, 80)),
        view: View(view),
    }
}

/// Every queue and the worker processes.
#[derive(Serialize)]
struct QueuesPage {
    queues: Vec<QueueRow>,
    workers: View<Vec<WorkerView>>,
}

async fn queues_ctx(portal: &Portal, state: &AppState) -> poem::Result<Result<QueuesPage, CoreError>> {
    let mut conn = reads(state).await?;
    let loaded = async {
        let queues = ops::queues(&mut conn, &portal.actor).await?;
        let workers = ops::workers(&mut conn, &state.ctx, &portal.actor).await?;
        Ok::<_, CoreError>((queues, workers))
    };
    Ok(loaded.await.map(|(queues, workers)| QueuesPage {
        queues: queues.into_iter().map(queue_row).collect(),
        workers: views(workers),
    }))
}

#[handler]
async fn queues_page(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    Ok(match queues_ctx(&portal, &state).await? {
        Ok(ctx) => portal.render_noticed(&state, "ops/queues", q.notice, ctx),
        Err(e) => portal.failed(&state, "Job queue", &e),
    })
}

/// The answer to a queue's form: back to the queues with `notice`, or the queues with
/// the error.
async fn queue_answer<T>(
    portal: &Portal,
    state: &AppState,
    result: Result<T, CoreError>,
    notice: Notice,
) -> poem::Result<Response> {
    let e = match result {
        Ok(_) => return Ok(noticed("/vendor/queues", notice)),
        Err(e) => e,
    };
    Ok(match queues_ctx(portal, state).await? {
        Ok(ctx) => portal.error(state, "ops/queues", ctx, &e),
        Err(_) => portal.failed(state, "Job queue", &e),
    })
}

#[handler]
async fn pause(portal: Portal, state: Data<&AppState>, Path(queue): Path<String>) -> poem::Result<Response> {
    let result = ops::pause(&mut *db(&state).await?, &state.ctx, &portal.actor, &queue).await;
    queue_answer(&portal, &state, result, Notice::QueuePaused).await
}

#[handler]
async fn resume(portal: Portal, state: Data<&AppState>, Path(queue): Path<String>) -> poem::Result<Response> {
    let result = ops::resume(&mut *db(&state).await?, &state.ctx, &portal.actor, &queue).await;
    queue_answer(&portal, &state, result, Notice::QueueResumed).await
}

#[handler]
async fn retry_given_up(portal: Portal, state: Data<&AppState>, Path(queue): Path<String>) -> poem::Result<Response> {
    let result = ops::retry_given_up(&mut *db(&state).await?, &state.ctx, &portal.actor, &queue).await;
    queue_answer(&portal, &state, result, Notice::JobsRetried).await
}

/// `/vendor/jobs` with the filter and the cursor of the next page.
fn jobs_link(filter: &JobFilter, cursor: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("queue", &filter.queue), ("state", &filter.state)] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    query.append_pair("cursor", cursor);
    format!("/vendor/jobs?{}", query.finish())
}

#[handler]
async fn jobs_page(portal: Portal, state: Data<&AppState>, Query(q): Query<JobsQuery>) -> poem::Result<Response> {
    let filter = JobFilter {
        queue: filled(q.queue),
        state: filled(q.state),
        cursor: filled(q.cursor),
    };
    // The filter form, whatever the list holds.
    let form = JobsFilter {
        queue: filter.queue.clone(),
        state: filter.state.clone(),
        queues: QUEUES,
        states: JobState::ALL.iter().map(JobState::as_str).collect(),
    };
    let mut conn = reads(&state).await?;
    let found = ops::jobs(&mut conn, &portal.actor, &filter, DEFAULT_PAGE).await;
    drop(conn);
    Ok(match found {
        Ok(page) => {
            let jobs = Jobs {
                jobs: page.items.into_iter().map(|j| job_row(j.into())).collect(),
                next: page.next_cursor.map(|c| jobs_link(&filter, &c)),
            };
            portal.render(&state, "ops/jobs", with(form, jobs))
        }
        Err(e @ CoreError::Validation(_)) => portal.error(&state, "ops/jobs", form, &e),
        Err(e) => portal.failed(&state, "Jobs", &e),
    })
}

/// The jobs page's filter form: the chosen queue and state, and the choices.
#[derive(Serialize)]
struct JobsFilter {
    queue: Option<String>,
    state: Option<String>,
    queues: &'static [&'static str],
    states: Vec<&'static str>,
}

/// A page of jobs, and the next page's address.
#[derive(Serialize)]
struct Jobs {
    jobs: Vec<JobRow>,
    next: Option<String>,
}

/// One job with its runs, its payload as indented JSON, and what can be done with it
/// (the same rules as `retry` and `discard`).
#[derive(Serialize)]
struct JobPage {
    #[serde(flatten)]
    detail: View<JobDetailView>,
    payload_text: String,
    /// Not finished: the page refreshes itself.
    unfinished: bool,
    can_retry: bool,
    can_discard: bool,
}

async fn job_ctx(portal: &Portal, state: &AppState, id: &str) -> poem::Result<Result<JobPage, CoreError>> {
    let mut conn = db(state).await?;
    Ok(ops::job(&mut conn, &state.ctx, &portal.actor, id).await.map(|detail| {
        let payload_text = serde_json::to_string_pretty(&detail.payload).unwrap_or_default();
        let job = detail.job.state;
        JobPage {
            payload_text,
            unfinished: job.unfinished() || detail.recording,
            can_retry: job.retryable(),
            can_discard: job.discardable(),
            detail: View(detail.into()),
        }
    }))
}

#[handler]
async fn job_page(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    Ok(match job_ctx(&portal, &state, &id).await? {
        Ok(ctx) => portal.render_noticed(&state, "ops/job", q.notice, ctx),
        Err(e) => portal.failed(&state, "Job", &e),
    })
}

/// The answer to a job's button: back to the job with `notice`, or the job with the
/// error.
async fn job_answer(
    portal: &Portal,
    state: &AppState,
    id: &str,
    result: Result<(), CoreError>,
    notice: Notice,
) -> poem::Result<Response> {
    let e = match result {
        Ok(()) => {
            let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            return Ok(noticed(&format!("/vendor/jobs/{id}"), notice));
        }
        Err(e) => e,
    };
    Ok(match job_ctx(portal, state, id).await? {
        Ok(ctx) => portal.error(state, "ops/job", ctx, &e),
        Err(_) => portal.failed(state, "Job", &e),
    })
}

#[handler]
async fn retry(portal: Portal, state: Data<&AppState>, Path(id): Path<String>) -> poem::Result<Response> {
    let result = ops::retry(&mut *db(&state).await?, &state.ctx, &portal.actor, &id).await;
    job_answer(&portal, &state, &id, result, Notice::JobRetried).await
}

#[handler]
async fn discard(portal: Portal, state: Data<&AppState>, Path(id): Path<String>) -> poem::Result<Response> {
    let result = ops::discard(&mut *db(&state).await?, &state.ctx, &portal.actor, &id).await;
    job_answer(&portal, &state, &id, result, Notice::JobDiscarded).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(age(-1.0), "0 s");
        assert_eq!(age(42.4), "42 s");
        assert_eq!(age(185.0), "3 min 5 s");
        assert_eq!(age(7_800.0), "2 h 10 min");
        assert_eq!(age(90_000.0), "1 d 1 h");
    }

    #[test]
    fn long_errors_are_cut_on_a_character() {
        assert_eq!(shorten("boom", 80), "boom");
        assert_eq!(shorten("ééééé", 3), "ééé…");
        assert_eq!(shorten("ab cd", 3), "ab…");
    }
}
