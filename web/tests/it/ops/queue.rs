//! The ops view of the job queue through the API: counts by state, job lists and pages,
//! retry, discard, retry all given-up, pause and resume, the audit of each, and the
//! service's `/metrics`.

use std::time::Duration;

use partnerdesk_core::ops::queue::JobState;
use partnerdesk_testkit::metric;
use partnerdesk_web::api::ops::{JobDetailView, JobPage, QueueView, RetriedJobs};
use serde_json::json;

use crate::harness::{Client, Options, Resp, TestApp};

/// Inserts a `ping` job (its handler does nothing and succeeds) in an apalis state.
async fn ping_job(app: &TestApp, status: &str, attempts: i32, max_attempts: i32, run_at: &str) -> String {
    let id = ulid::Ulid::new().to_string();
    let done = if matches!(status, "Done" | "Killed" | "Failed") {
        "now()"
    } else {
        "NULL"
    };
    let error = if matches!(status, "Killed" | "Failed") {
        r#"'{"Err": "it broke"}'::jsonb"#
    } else {
        "NULL"
    };
    app.sql(&format!(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, done_at, last_result)
         VALUES ('{id}', 'ping', convert_to('{{}}', 'UTF8'), '{status}', {attempts}, {max_attempts}, {run_at}, 0, {done}, {error})"
    ))
    .await;
    // ULIDs of the same millisecond do not sort by creation; keep them apart.
    tokio::time::sleep(Duration::from_millis(2)).await;
    id
}

/// A worker's count of finished `ping` executions in the minute `minutes_ago`, as a
/// worker records it.
async fn counted(app: &TestApp, minutes_ago: i64, done: i64, failed: i64) {
    use chrono::{DurationRound, TimeDelta, Utc};
    let minute = (Utc::now() - TimeDelta::minutes(minutes_ago))
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap();
    let count = partnerdesk_core::ops::queue::MinuteCount {
        queue: "ping",
        minute,
        done,
        failed,
    };
    partnerdesk_core::ops::queue::record_counts(&mut *app.conn().await, "test", &[count])
        .await
        .expect("recording counts");
}

fn queue(queues: &Resp, name: &str) -> QueueView {
    queues
        .view::<Vec<QueueView>>()
        .into_iter()
        .find(|q| q.queue == name)
        .unwrap_or_else(|| panic!("queue {name} in {}", queues.body))
}

/// A job's page (GET /api/ops/jobs/{id}).
async fn job_page(ops: &Client, id: &str) -> JobDetailView {
    let r = ops.get(&format!("/api/ops/jobs/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view()
}

fn no_worker() -> Options {
    Options {
        worker: false,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_by_state_match_the_jobs_and_lists_page_newest_first() {
    let app = TestApp::spawn_with(no_worker()).await;
    app.expect_failures();
    let ops = app.demo("ops@vendor.example").await;

    let mut made: Vec<(String, &str)> = Vec::new();
    for _ in 0..3 {
        made.push((
            ping_job(&app, "Pending", 0, 1, "now() - interval '90 seconds'").await,
            "pending",
        ));
    }
    for _ in 0..2 {
        made.push((
            ping_job(&app, "Pending", 0, 1, "now() + interval '1 hour'").await,
            "scheduled",
        ));
    }
    made.push((ping_job(&app, "Running", 1, 1, "now()").await, "running"));
    for _ in 0..2 {
        made.push((
            ping_job(&app, "Failed", 1, 3, "now() + interval '1 minute'").await,
            "retrying",
        ));
    }
    made.push((ping_job(&app, "Killed", 1, 3, "now()").await, "given_up"));
    made.push((ping_job(&app, "Failed", 3, 3, "now()").await, "given_up"));
    for _ in 0..4 {
        made.push((ping_job(&app, "Done", 1, 1, "now()").await, "done"));
    }
    // What the workers counted: 4 done and 2 failed executions in the last hour, and
    // older work in the day's figures only (and none from the day before).
    counted(&app, 10, 4, 0).await;
    counted(&app, 5, 0, 2).await;
    counted(&app, 5 * 60, 1, 0).await;
    counted(&app, 25 * 60, 7, 7).await;
    // The hour the day starts in counts from its minutes: the one just inside the day
    // counts, the one just before does not.
    counted(&app, 24 * 60 - 1, 10, 0).await;
    counted(&app, 24 * 60 + 1, 100, 0).await;
    let old = ping_job(&app, "Done", 1, 1, "now() - interval '5 hours'").await;

    let queues = ops.get("/api/ops/queues").await;
    assert_eq!(queues.status, 200, "{}", queues.body);
    let ping = queue(&queues, "ping");
    for (field, got, n) in [
        ("pending", ping.pending, 3),
        ("scheduled", ping.scheduled, 2),
        ("running", ping.running, 1),
        ("retrying", ping.retrying, 2),
        ("given_up", ping.given_up, 2),
        ("discarded", ping.discarded, 0),
        ("done_last_hour", ping.done_last_hour, 4),
        ("done_last_day", ping.done_last_day, 15),
    ] {
        assert_eq!(got, n, "{field} in {}", queues.body);
    }
    let oldest = ping.oldest_pending_seconds.unwrap();
    assert!((90.0..600.0).contains(&oldest), "the oldest waits 90 s: {oldest}");
    assert_eq!(ping.failure_rate.unwrap(), 2.0 / 6.0);
    assert_eq!(ping.throughput_per_minute, 6.0 / 60.0);
    assert!(!ping.paused);
    // Every queue the worker runs is listed, even without jobs.
    let names: Vec<String> = queues.view::<Vec<QueueView>>().into_iter().map(|q| q.queue).collect();
    assert_eq!(names, partnerdesk_core::platform::jobs::QUEUES);

    // Each state's list holds exactly its jobs, newest first.
    for state in ["pending", "scheduled", "running", "retrying", "given_up", "done"] {
        let list = ops.get(&format!("/api/ops/jobs?queue=ping&state={state}")).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let items = list.view::<JobPage>().items;
        let got: Vec<&str> = items.iter().map(|j| j.id.as_str()).collect();
        let mut expected: Vec<&str> = made
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(id, _)| id.as_str())
            .collect();
        if state == "done" {
            expected.push(&old);
        }
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(got, expected, "{state}");
        assert!(items.iter().all(|j| j.state.as_str() == state));
    }

    // Keyset paging over all of them: every job once, newest first.
    let mut seen: Vec<String> = Vec::new();
    let mut path = "/api/ops/jobs?queue=ping&limit=4".to_owned();
    loop {
        let page: JobPage = ops.get(&path).await.view();
        seen.extend(page.items.into_iter().map(|j| j.id));
        match page.next_cursor {
            Some(cursor) => path = format!("/api/ops/jobs?queue=ping&limit=4&cursor={cursor}"),
            None => break,
        }
    }
    let mut all: Vec<String> = made.iter().map(|(id, _)| id.clone()).chain([old]).collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, all);

    for (query, field, code) in [
        ("state=sleeping", "state", "unknown_state"),
        ("queue=nope", "queue", "unknown_queue"),
        ("cursor=nope", "cursor", "invalid_cursor"),
    ] {
        let refused = ops.get(&format!("/api/ops/jobs?{query}")).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.field_errors()[0].pair(), (field, code));
    }
    ops.get(&format!("/api/ops/jobs/{}", ulid::Ulid::new()))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_given_up_job_runs_and_succeeds_and_the_retry_is_audited() {
    let app = TestApp::spawn().await;
    let ops = app.demo("ops@vendor.example").await;
    let ops_id = app.user_id("ops@vendor.example").await;
    let job = ping_job(&app, "Killed", 1, 1, "now()").await;
    let page = job_page(&ops, &job).await;
    assert_eq!(page.job.state, JobState::GivenUp);
    assert_eq!(page.job.last_error.as_deref(), Some("it broke"));

    // Someone without ops may not, and nothing changes.
    let finance = app.demo("finance@vendor.example").await;
    finance
        .post(&format!("/api/ops/jobs/{job}/retry"), json!({}))
        .await
        .assert_problem(403, "not_authorized");
    assert_eq!(job_page(&ops, &job).await.job.state, JobState::GivenUp);

    let retried = ops.post(&format!("/api/ops/jobs/{job}/retry"), json!({})).await;
    assert_eq!(retried.status, 204, "{}", retried.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let r = ops.get(&format!("/api/ops/jobs/{job}")).await;
        let detail: JobDetailView = r.view();
        if detail.job.state == JobState::Done && !detail.recording {
            break detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retried job runs: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(detail.job.attempts, 2);
    assert_eq!(detail.runs.len(), 1);
    assert_eq!(detail.runs[0].outcome.as_deref(), Some("done"));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'job.retried' AND subject_id = '{job}'
               AND actor_user_id = '{ops_id}' AND changes #>> '{{state,before}}' = 'given_up'"
        ))
        .await,
        1
    );
    // A done job is not retried again.
    ops.post(&format!("/api/ops/jobs/{job}/retry"), json!({}))
        .await
        .assert_problem(409, "job_state");
}

/// A job apalis shows as done while its worker has not written the end of the run yet
/// (the two are written apart) says so, in the API and on its page, instead of showing a
/// run without an outcome; once the end is written it shows the outcome. A worker that is
/// gone leaves its run unfinished: lost, not being recorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_job_whose_run_is_not_written_yet_says_it_is_being_recorded() {
    use partnerdesk_core::{
        ops::queue::heartbeat,
        platform::jobs::{self, RunEnd, RunStart},
    };
    let app = TestApp::spawn_with(no_worker()).await;
    let ops = app.demo("ops@vendor.example").await;
    let started = chrono::Utc::now();
    heartbeat(&mut *app.conn().await, "w-1", "host", 1, &["ping"], started)
        .await
        .unwrap();
    app.sql("INSERT INTO apalis.workers (id, worker_type, storage_name) VALUES ('w-1:ping', 'ping', 'test')")
        .await;
    let job = ping_job(&app, "Done", 1, 8, "now()").await;
    app.sql(&format!(
        "UPDATE apalis.jobs SET lock_by = 'w-1:ping' WHERE id = '{job}'"
    ))
    .await;
    let start = RunStart {
        job_id: job.clone(),
        queue: "ping",
        worker: "w-1:ping".into(),
        attempt: 1,
        at: started,
    };
    jobs::record_runs(&mut *app.conn().await, &[start], &[]).await.unwrap();

    let detail = job_page(&ops, &job).await;
    assert_eq!(detail.job.state, JobState::Done);
    assert!(detail.recording, "the run is being recorded");
    assert_eq!(detail.runs[0].outcome, None);
    let page = ops.get(&format!("/vendor/jobs/{job}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.as_str().unwrap().contains("id=\"run-recording\""),
        "{}",
        page.body
    );
    assert!(
        page.body.as_str().unwrap().contains("http-equiv=\"refresh\""),
        "the page refreshes itself"
    );

    let end = RunEnd {
        job_id: job.clone(),
        worker: "w-1:ping".into(),
        attempt: 1,
        at: chrono::Utc::now(),
        outcome: "done",
        error: None,
    };
    jobs::record_runs(&mut *app.conn().await, &[], &[end]).await.unwrap();
    let detail = job_page(&ops, &job).await;
    assert!(!detail.recording);
    assert_eq!(detail.runs[0].outcome.as_deref(), Some("done"));
    let page = ops.get(&format!("/vendor/jobs/{job}")).await;
    assert!(!page.body.as_str().unwrap().contains("id=\"run-recording\""));

    // The same gap on a worker that stopped answering: its run is lost, not pending.
    let lost = ping_job(&app, "Done", 1, 8, "now()").await;
    app.sql(&format!(
        "UPDATE apalis.jobs SET lock_by = 'w-1:ping' WHERE id = '{lost}'"
    ))
    .await;
    app.sql("UPDATE worker_processes SET last_seen = now() - interval '1 hour'")
        .await;
    assert!(!job_page(&ops, &lost).await.recording);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discarded_pending_job_is_never_run_while_the_others_are() {
    let app = TestApp::spawn_with(no_worker()).await;
    let ops = app.demo("ops@vendor.example").await;
    let discarded = ping_job(&app, "Pending", 0, 1, "now()").await;
    let kept = ping_job(&app, "Pending", 0, 1, "now()").await;

    let sales = app.demo("sales@vendor.example").await;
    sales
        .post(&format!("/api/ops/jobs/{discarded}/discard"), json!({}))
        .await
        .assert_problem(403, "not_authorized");
    let answer = ops.post(&format!("/api/ops/jobs/{discarded}/discard"), json!({})).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    ops.post(&format!("/api/ops/jobs/{discarded}/discard"), json!({}))
        .await
        .assert_problem(409, "job_state");

    let (stop, worker) = app.start_extra_worker();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while job_page(&ops, &kept).await.job.state != JobState::Done {
        assert!(tokio::time::Instant::now() < deadline, "the other job runs");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more polls of the worker: still nothing for the discarded one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(true);
    let _ = worker.await;
    let detail = job_page(&ops, &discarded).await;
    assert_eq!(detail.job.state, JobState::Discarded);
    assert!(detail.runs.is_empty());
    assert_eq!(queue(&ops.get("/api/ops/queues").await, "ping").discarded, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'job.discarded' AND subject_id = '{discarded}'"
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_all_given_up_and_pause_and_resume_are_shown_and_audited() {
    let app = TestApp::spawn_with(no_worker()).await;
    app.expect_failures();
    let ops = app.demo("ops@vendor.example").await;
    for _ in 0..3 {
        ping_job(&app, "Killed", 1, 1, "now()").await;
    }
    let retrying = ping_job(&app, "Failed", 1, 3, "now() + interval '1 hour'").await;

    let answer = ops.post("/api/ops/queues/ping/retry-given-up", json!({})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.view::<RetriedJobs>().retried, 3);
    let ping = queue(&ops.get("/api/ops/queues").await, "ping");
    assert_eq!((ping.given_up, ping.pending), (0, 3));
    assert_eq!(ping.retrying, 1, "a job with attempts left is not touched");
    assert_eq!(job_page(&ops, &retrying).await.job.state, JobState::Retrying);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'jobs.retried' AND subject_id = 'ping' AND changes ->> 'jobs' = '3'")
            .await,
        1
    );

    assert_eq!(ops.post("/api/ops/queues/ping/pause", json!({})).await.status, 204);
    ops.post("/api/ops/queues/ping/pause", json!({}))
        .await
        .assert_problem(409, "queue_paused");
    let ping = queue(&ops.get("/api/ops/queues").await, "ping");
    assert!(ping.paused);
    assert_eq!(ping.paused_by, Some(app.user_id("ops@vendor.example").await));
    assert_eq!(ops.post("/api/ops/queues/ping/resume", json!({})).await.status, 204);
    ops.post("/api/ops/queues/ping/resume", json!({}))
        .await
        .assert_problem(409, "queue_not_paused");
    assert!(!queue(&ops.get("/api/ops/queues").await, "ping").paused);
    let refused = ops.post("/api/ops/queues/nope/pause", json!({})).await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.field_errors()[0].code, "unknown_queue");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('queue.paused', 'queue.resumed') AND subject_id = 'ping'"
        )
        .await,
        2
    );

    // A vendor administrator holds ops too.
    let admin = app.demo("admin@vendor.example").await;
    assert_eq!(admin.get("/api/ops/queues").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_as_prometheus_text_and_count_requests() {
    let app = TestApp::spawn().await;
    let ops = app.demo("ops@vendor.example").await;
    // `/metrics` is Prometheus text, not an API view: read raw.
    let scrape = || async {
        let resp = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        resp.text().await.unwrap()
    };
    let route = [("route", "/api/ops/queues"), ("method", "GET"), ("status", "200")];
    let before = metric(&scrape().await, "partnerdesk_http_requests_total", &route);
    for _ in 0..3 {
        assert_eq!(ops.get("/api/ops/queues").await.status, 200);
    }
    let text = scrape().await;
    assert_eq!(
        metric(&text, "partnerdesk_http_requests_total", &route) - before,
        3.0,
        "{text}"
    );
    assert!(metric(&text, "partnerdesk_http_request_duration_seconds_count", &route[..2]) >= 3.0);
    // Ids never become labels: a job page counts under its pattern.
    ops.get(&format!("/api/ops/jobs/{}", ulid::Ulid::new())).await;
    let text = scrape().await;
    assert_eq!(
        metric(
            &text,
            "partnerdesk_http_requests_total",
            &[("route", "/api/ops/jobs/:param0"), ("status", "404")]
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("route=\"/api/ops/jobs/0"), "no raw paths as labels");
    // A path nothing serves counts as unmatched, however many there are.
    ops.get(&format!("/api/{}", ulid::Ulid::new())).await;
    assert_eq!(
        metric(
            &scrape().await,
            "partnerdesk_http_requests_total",
            &[("route", "unmatched")]
        ),
        1.0
    );
    assert!(metric(&text, "partnerdesk_db_pool_size", &[]) >= 1.0);
}

/// A free port on this machine.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service binary counts from its start, not from the first scrape: requests answered
/// before anyone scraped are in the first scrape, every metric carries its `# HELP` and
/// `# TYPE`, and with `METRICS_ADDR` the metrics are served there only, not beside the
/// portal.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_process_counts_from_its_start_and_serves_metrics_on_its_private_address() {
    let db = partnerdesk_testkit::TestDb::new().await;
    let (http, private) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let _service = tokio::process::Command::new(env!("CARGO_BIN_EXE_partnerdesk-web"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("HTTP_ADDR", &http)
        .env("METRICS_ADDR", &private)
        .env("MAIL_OUTBOX", "true")
        // Production, which accepts a private metrics listener instead of a token.
        .env("SECRET_KEY", "a-production-secret-of-at-least-32-chars")
        .env("PUBLIC_URL", format!("http://{http}"))
        .env("ALLOW_HTTP_PUBLIC_URL", "true")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the service");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !reqwest::get(format!("http://{http}/healthz"))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(tokio::time::Instant::now() < deadline, "the service starts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        assert_eq!(
            reqwest::get(format!("http://{http}/login")).await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        reqwest::get(format!("http://{http}/metrics")).await.unwrap().status(),
        404,
        "no metrics beside the portal"
    );
    let text = reqwest::get(format!("http://{private}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let login = [("route", "/login"), ("method", "GET"), ("status", "200")];
    assert_eq!(metric(&text, "partnerdesk_http_requests_total", &login), 3.0, "{text}");
    for (name, kind) in [
        ("partnerdesk_http_requests_total", "counter"),
        ("partnerdesk_http_request_duration_seconds", "histogram"),
        ("partnerdesk_db_pool_size", "gauge"),
        ("partnerdesk_build_info", "gauge"),
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} described: {text}");
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} typed: {text}"
        );
    }
}
