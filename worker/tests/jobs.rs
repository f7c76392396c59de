//! The job system against real PostgreSQL and a real SMTP sink: transactional enqueue,
//! payloads that do not decode, retries with backoff, two worker processes sharing a
//! queue, and retention.

use std::{process::Stdio, time::Duration};

use diesel::{
    QueryableByName, sql_query,
    sql_types::{BigInt, Text},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use partnerdesk_core::{
    Ctx, Error,
    ops::queue,
    platform::app::App,
    platform::clock::Clock,
    platform::config::Config,
    platform::db::Pool,
    platform::domain::{Email, Language},
    platform::jobs::{self, Job},
    platform::mail::{self, EmailKind},
    seed,
};
use partnerdesk_testkit::{SmtpSink, TestDb, metric};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

const SECRET: &str = "worker-test-secret-that-is-long-enough-012345";

struct Setup {
    db: TestDb,
    smtp: SmtpSink,
    pool: Pool,
    ctx: Ctx,
    app: App,
    user: Uuid,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    let smtp = SmtpSink::start().await;
    let config = Config::from_pairs([
        ("DATABASE_URL", db.url.clone()),
        ("SECRET_KEY", SECRET.to_owned()),
        ("SMTP_URL", smtp.url()),
        ("WORKER_POLL_SECONDS", "1".to_owned()),
        ("JOB_BACKOFF_BASE_SECONDS", "1".to_owned()),
        ("WORKER_LEASE_SECONDS", "3".to_owned()),
        ("ALLOW_HTTP_PUBLIC_URL", "true".to_owned()),
        // These tests count jobs; the monthly billing run is tested on its own.
        ("BILLING_MONTHLY_RUN", "false".to_owned()),
    ])
    .expect("config");
    let app = App::build_with_clock(config, Clock::movable()).expect("the application");
    let (pool, ctx) = (app.pool.clone(), app.ctx.clone());
    let seed = seed::parse(
        r#"{ "vendor": { "name": "Vendor", "country": "NL",
              "staff": [{ "email": "ops@vendor.example", "first_name": "Otto", "last_name": "Ops", "role": "administrator" }] } }"#,
    )
    .expect("seed");
    seed::load(&mut pool.get().await.expect("conn"), &ctx, &seed)
        .await
        .expect("seed")
        .expect("empty");
    let user = ids(&pool).await;
    Setup {
        db,
        smtp,
        pool,
        ctx,
        app,
        user,
    }
}

#[derive(QueryableByName)]
struct Ids {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    usr: Uuid,
}

async fn ids(pool: &Pool) -> Uuid {
    let row: Ids = sql_query("SELECT m.user_id AS usr FROM memberships m LIMIT 1")
        .get_result(&mut pool.get().await.unwrap())
        .await
        .unwrap();
    row.usr
}

fn start_worker(app: App) -> (watch::Sender<bool>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (stop, mut rx) = watch::channel(false);
    let handle = tokio::spawn(partnerdesk_worker::run(app, async move {
        let _ = rx.changed().await;
    }));
    (stop, handle)
}

async fn queue_email(conn: &mut AsyncPgConnection, s: &Setup, key: &str, to: &str) -> Result<(), Error> {
    let to = Email::parse(to).map_err(|e| Error::Validation(vec![e]))?;
    mail::queue(
        conn,
        s.ctx.now(),
        key,
        &to,
        Language::En,
        EmailKind::SignupExistingAccount { user_id: s.user },
    )
    .await
}

/// A worker process on the test's database and SMTP sink, with `extra` settings.
fn spawn_worker(s: &Setup, extra: &[(&str, &str)]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_partnerdesk-worker"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &s.db.url)
        .env("SECRET_KEY", SECRET)
        .env("SMTP_URL", s.smtp.url())
        .env("WORKER_CONCURRENCY", "4")
        .env("WORKER_POLL_SECONDS", "1")
        .env("WORKER_METRICS_ADDR", "127.0.0.1:0")
        .env("ALLOW_HTTP_PUBLIC_URL", "true")
        .env("BILLING_MONTHLY_RUN", "false")
        .env("RUST_LOG", "warn");
    for (key, value) in extra {
        command.env(key, value);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting a worker process")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(pool: &Pool, sql: &str) -> i64 {
    sql_query(sql)
        .get_result::<Count>(&mut pool.get().await.unwrap())
        .await
        .unwrap()
        .n
}

/// Waits until no job is unfinished (or finished with its run still being recorded)
/// twice in a row, 50 ms apart.
async fn settle(s: &Setup, timeout: Duration) {
    let pool = &s.pool;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut idle_checks = 0;
    loop {
        let n = jobs::unfinished_count(&mut pool.get().await.unwrap(), s.ctx.config.worker_lease)
            .await
            .unwrap();
        idle_checks = if n == 0 { idle_checks + 1 } else { 0 };
        if idle_checks >= 2 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} jobs still unfinished after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_job_runs_and_a_rolled_back_one_leaves_nothing() {
    let s = setup().await;
    let mut conn = s.pool.get().await.unwrap();
    conn.transaction::<_, Error, _>(async |c| queue_email(c, &s, "test:committed", "kept@example.com").await)
        .await
        .unwrap();
    let rolled_back: Result<(), Error> = conn
        .transaction(async |c| {
            queue_email(c, &s, "test:rolled-back", "dropped@example.com").await?;
            Err(Error::internal("the change failed after the job was enqueued"))
        })
        .await;
    assert!(rolled_back.is_err());
    drop(conn);

    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM apalis.jobs WHERE idempotency_key = 'test:rolled-back'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM email_deliveries WHERE event_key = 'test:rolled-back'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM apalis.jobs WHERE idempotency_key = 'test:committed'"
        )
        .await,
        1
    );

    let (stop, worker) = start_worker(s.app.clone());
    let mail = s
        .smtp
        .expect_one("kept@example.com", "You already have an account at Partnerdesk")
        .await;
    assert_eq!(mail.envelope_from, "no-reply@partnerdesk.localhost");
    settle(&s, Duration::from_secs(10)).await;
    assert!(s.smtp.to("dropped@example.com").is_empty());
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM email_deliveries WHERE status = 'sent'"
        )
        .await,
        1
    );
    stop.send(true).unwrap();
    worker.await.unwrap().unwrap();
}

/// A payload of the right queue but the wrong shape.
#[derive(Serialize, Deserialize)]
struct NotAnEmail {
    nonsense: bool,
}

impl Job for NotAnEmail {
    const QUEUE: &'static str = jobs::SendEmail::QUEUE;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_that_does_not_decode_fails_and_the_worker_goes_on() {
    let s = setup().await;
    let mut conn = s.pool.get().await.unwrap();
    let bad = jobs::enqueue(&mut conn, &NotAnEmail { nonsense: true }, None)
        .await
        .unwrap()
        .unwrap();
    queue_email(&mut conn, &s, "test:after-the-bad-one", "next@example.com")
        .await
        .unwrap();

    // Bytes that are not JSON never get in.
    let raw = sql_query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at) VALUES ('01J00000000000000000000000', 'send_email', '\\xff00'::bytea, 'Pending', 0, 5, now())",
    )
    .execute(&mut conn)
    .await;
    assert!(raw.is_err(), "a non-JSON payload must be refused");
    drop(conn);

    let (stop, worker) = start_worker(s.app.clone());
    s.smtp
        .expect_one("next@example.com", "You already have an account")
        .await;
    settle(&s, Duration::from_secs(10)).await;

    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = Text)]
        status: String,
    }
    let status: Status = sql_query("SELECT status FROM apalis.jobs WHERE id = $1")
        .bind::<Text, _>(&bad)
        .get_result(&mut s.pool.get().await.unwrap())
        .await
        .unwrap();
    assert_eq!(status.status, "Killed", "failed for good, not retried");
    assert_eq!(count(&s.pool, &format!("SELECT count(*) AS n FROM job_runs WHERE job_id = '{bad}' AND outcome = 'failed' AND error LIKE '%does not decode%'")).await, 1);
    assert_eq!(
        count(&s.pool, "SELECT count(*) AS n FROM apalis.jobs WHERE status = 'Done'").await,
        1
    );
    stop.send(true).unwrap();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_smtp_failure_is_retried_after_a_backoff_and_sent_once() {
    let s = setup().await;
    s.smtp.fail_next(1);
    queue_email(&mut s.pool.get().await.unwrap(), &s, "test:retry", "retry@example.com")
        .await
        .unwrap();
    let (stop, worker) = start_worker(s.app.clone());
    s.smtp
        .expect_one("retry@example.com", "You already have an account")
        .await;
    settle(&s, Duration::from_secs(15)).await;
    assert_eq!(s.smtp.to("retry@example.com").len(), 1);

    #[derive(QueryableByName)]
    struct Run {
        #[diesel(sql_type = Text)]
        outcome: String,
        #[diesel(sql_type = diesel::sql_types::Double)]
        gap: f64,
    }
    let runs: Vec<Run> = sql_query(
        "SELECT outcome, COALESCE(EXTRACT(EPOCH FROM started_at - lag(finished_at) OVER (ORDER BY id)), 0)::float8 AS gap
         FROM job_runs ORDER BY id",
    )
    .load(&mut s.pool.get().await.unwrap())
    .await
    .unwrap();
    assert_eq!(
        runs.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["retry", "done"]
    );
    assert!(
        runs[1].gap >= 0.9,
        "the retry waited for the backoff ({}s)",
        runs[1].gap
    );
    assert_eq!(
        count(&s.pool, "SELECT attempts::bigint AS n FROM email_deliveries").await,
        2
    );
    stop.send(true).unwrap();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_worker_processes_never_run_the_same_job_twice() {
    let s = setup().await;
    let mut a = spawn_worker(&s, &[]);
    let mut b = spawn_worker(&s, &[]);
    // Wait until both processes have registered before any job exists.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count(
        &s.pool,
        "SELECT count(DISTINCT split_part(id, ':', 1)) AS n FROM apalis.workers",
    )
    .await
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "both workers register");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    const JOBS: usize = 1000;
    let mut conn = s.pool.get().await.unwrap();
    conn.transaction::<_, Error, _>(async |c| {
        for i in 0..JOBS {
            queue_email(c, &s, &format!("bulk:{i}"), &format!("person{i}@example.com")).await?;
        }
        Ok(())
    })
    .await
    .unwrap();
    drop(conn);

    s.smtp.wait_for(JOBS, Duration::from_secs(180), |_| true).await;
    settle(&s, Duration::from_secs(60)).await;

    let received = s.smtp.messages();
    assert_eq!(received.len(), JOBS, "each e-mail exactly once");
    let mut recipients: Vec<&String> = received.iter().flat_map(|m| &m.envelope_to).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), JOBS);
    assert_eq!(
        count(&s.pool, "SELECT count(*) AS n FROM job_runs").await,
        JOBS as i64,
        "one run per job"
    );
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM (SELECT job_id FROM job_runs GROUP BY job_id HAVING count(*) > 1) d"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(DISTINCT split_part(worker, ':', 1)) AS n FROM job_runs"
        )
        .await,
        2,
        "both processes did work"
    );
    assert_eq!(
        count(&s.pool, "SELECT count(*) AS n FROM apalis.jobs WHERE status = 'Done'").await,
        JOBS as i64
    );

    for child in [&mut a, &mut b] {
        let pid = child.id().expect("running") as i32;
        // Graceful stop on SIGTERM.
        std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
    }
    for child in [&mut a, &mut b] {
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("stops in time")
            .unwrap();
        assert!(status.success(), "worker exits cleanly: {status:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_jobs_are_pruned_after_their_retention() {
    let s = setup().await;
    let mut conn = s.pool.get().await.unwrap();
    queue_email(&mut conn, &s, "test:prune", "prune@example.com")
        .await
        .unwrap();
    jobs::enqueue(&mut conn, &NotAnEmail { nonsense: true }, None)
        .await
        .unwrap();
    drop(conn);
    let (stop, worker) = start_worker(s.app.clone());
    s.smtp
        .expect_one("prune@example.com", "You already have an account")
        .await;
    settle(&s, Duration::from_secs(10)).await;
    stop.send(true).unwrap();
    worker.await.unwrap().unwrap();

    let mut conn = s.pool.get().await.unwrap();
    let config = &s.ctx.config;
    let now = s.ctx.now();
    // Within the retention nothing goes.
    assert_eq!(jobs::prune(&mut conn, now, config).await.unwrap().jobs, 0);
    // After a week the done job goes; the failed one stays for the ops view.
    let pruned = jobs::prune(&mut conn, now + chrono::Duration::days(8), config)
        .await
        .unwrap();
    assert_eq!((pruned.jobs, pruned.runs), (1, 1));
    assert_eq!(count(&s.pool, "SELECT count(*) AS n FROM apalis.jobs").await, 1);
    let pruned = jobs::prune(&mut conn, now + chrono::Duration::days(31), config)
        .await
        .unwrap();
    assert_eq!((pruned.jobs, pruned.runs, pruned.workers), (1, 1, 1));
    assert_eq!(count(&s.pool, "SELECT count(*) AS n FROM apalis.jobs").await, 0);
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn text(pool: &Pool, sql: &str) -> String {
    sql_query(sql)
        .get_result::<Name>(&mut pool.get().await.unwrap())
        .await
        .unwrap()
        .name
}

async fn wait_until(pool: &Pool, what: &str, sql: &str, expected: i64, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = count(pool, sql).await;
        if n == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {n}, not {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The seeded vendor administrator, acting for the vendor.
async fn vendor_actor(s: &Setup) -> partnerdesk_core::platform::authz::Actor {
    let vendor = partnerdesk_core::platform::authz::vendor_org_id(&mut s.pool.get().await.unwrap())
        .await
        .unwrap();
    partnerdesk_core::platform::authz::Actor::new(s.user.into(), Some(vendor.into()), chrono::Utc::now())
}

/// Two worker processes; the one that takes an e-mail job is killed with SIGKILL after
/// it claimed the delivery and before the SMTP server answered; the other rescues the
/// job after the lease and the e-mail is delivered exactly once.
async fn killed_mid_delivery(backoff_base: &str, backoff_max: &str) {
    let s = setup().await;
    let settings = [
        ("WORKER_LEASE_SECONDS", "3"),
        ("JOB_BACKOFF_BASE_SECONDS", backoff_base),
        ("JOB_BACKOFF_MAX_SECONDS", backoff_max),
    ];
    let mut workers = [spawn_worker(&s, &settings), spawn_worker(&s, &settings)];
    wait_until(
        &s.pool,
        "workers registered",
        "SELECT count(*) AS n FROM worker_processes",
        2,
        Duration::from_secs(30),
    )
    .await;

    s.smtp.hold(true);
    let mut conn = s.pool.get().await.unwrap();
    queue_email(&mut conn, &s, "crash:1", "victim@example.com")
        .await
        .unwrap();
    drop(conn);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while s.smtp.held() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "a worker starts sending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM email_deliveries WHERE status = 'sending'"
        )
        .await,
        1
    );
    let holder = text(
        &s.pool,
        "SELECT split_part(lock_by, ':', 1) AS name FROM apalis.jobs WHERE job_type = 'send_email'",
    )
    .await;
    let pid: u32 = holder.rsplit('-').nth(1).unwrap().parse().unwrap();
    let (mut killed, survivor): (Vec<_>, Vec<_>) = workers.iter_mut().partition(|w| w.id() == Some(pid));
    std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status()
        .unwrap();
    killed[0].wait().await.unwrap();
    // Nothing was sent; new transactions go through again.
    s.smtp.hold(false);

    s.smtp
        .wait_for(1, Duration::from_secs(60), |m| m.envelope_to == ["victim@example.com"])
        .await;
    settle(&s, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.smtp.to("victim@example.com").len(), 1, "delivered exactly once");
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM email_deliveries WHERE status = 'sent' AND attempts = 2"
        )
        .await,
        1
    );
    // The lost run has no end; the rescuing run is the survivor's.
    assert_eq!(
        count(
            &s.pool,
            &format!("SELECT count(*) AS n FROM job_runs WHERE outcome IS NULL AND worker LIKE '{holder}:%'")
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &s.pool,
            &format!("SELECT count(*) AS n FROM job_runs WHERE outcome = 'done' AND worker NOT LIKE '{holder}:%'")
        )
        .await,
        1
    );
    let seen = queue::workers(&mut s.pool.get().await.unwrap(), &s.ctx, &vendor_actor(&s).await)
        .await
        .unwrap();
    let gone: Vec<(bool, i64)> = seen
        .iter()
        .filter(|w| w.name == holder)
        .map(|w| (w.gone, w.running))
        .collect();
    assert_eq!(gone, [(true, 0)], "the killed worker shows as gone");
    assert!(
        seen.iter().any(|w| w.name != holder && !w.gone),
        "the survivor is alive"
    );

    let survivor_name = seen.iter().find(|w| w.name != holder).unwrap().name.clone();

    // A worker stopped cleanly leaves the list at once instead of showing as live until
    // its lease runs out.
    let survivor = &mut *survivor.into_iter().next().unwrap();
    let pid = survivor.id().unwrap();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    survivor.wait().await.unwrap();
    let seen = queue::workers(&mut s.pool.get().await.unwrap(), &s.ctx, &vendor_actor(&s).await)
        .await
        .unwrap();
    assert!(
        seen.iter().all(|w| w.name != survivor_name),
        "the stopped worker is no longer listed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_delivery_is_rescued_after_its_lease_and_sends_once() {
    killed_mid_delivery("10", "3600").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_delivery_is_rescued_with_the_smallest_backoff_too() {
    killed_mid_delivery("0", "0").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pausing_a_queue_stops_pick_up_and_resuming_restarts_it() {
    let s = setup().await;
    let actor = vendor_actor(&s).await;
    let (stop, worker) = start_worker(s.app.clone());
    wait_until(
        &s.pool,
        "worker registered",
        "SELECT count(*) AS n FROM worker_processes",
        1,
        Duration::from_secs(30),
    )
    .await;
    queue::pause(&mut s.pool.get().await.unwrap(), &s.ctx, &actor, "ping")
        .await
        .unwrap();
    // The worker follows pauses every second.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let mut conn = s.pool.get().await.unwrap();
    for _ in 0..3 {
        jobs::enqueue(&mut conn, &jobs::Ping {}, None).await.unwrap();
    }
    queue_email(&mut conn, &s, "while-paused", "other@example.com")
        .await
        .unwrap();
    drop(conn);
    // Other queues go on; the paused one takes nothing.
    s.smtp.wait_for(1, Duration::from_secs(30), |_| true).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(
            &s.pool,
            "SELECT count(*) AS n FROM apalis.jobs WHERE job_type = 'ping' AND status = 'Pending'"
        )
        .await,
        3
    );
    assert_eq!(
        count(&s.pool, "SELECT count(*) AS n FROM job_runs WHERE queue = 'ping'").await,
        0
    );

    queue::resume(&mut s.pool.get().await.unwrap(), &s.ctx, &actor, "ping")
        .await
        .unwrap();
    wait_until(
        &s.pool,
        "ping jobs done after resuming",
        "SELECT count(*) AS n FROM apalis.jobs WHERE job_type = 'ping' AND status = 'Done'",
        3,
        Duration::from_secs(15),
    )
    .await;
    // The queue view's figures count them within a few seconds.
    wait_until(
        &s.pool,
        "ping executions counted",
        "SELECT coalesce(sum(done), 0)::int8 AS n FROM job_stats WHERE queue = 'ping' AND failed = 0",
        3,
        Duration::from_secs(15),
    )
    .await;
    let _ = stop.send(true);
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_serves_metrics_and_health_and_its_counters_move() {
    let s = setup().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut worker = spawn_worker(&s, &[("WORKER_METRICS_ADDR", addr.as_str())]);
    let get = |path: &'static str| {
        let url = format!("http://{addr}{path}");
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(resp) = reqwest::get(&url).await {
                    return resp.text().await.unwrap();
                }
                assert!(tokio::time::Instant::now() < deadline, "{url} answers");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(get("/healthz").await, "ok");
    let ping = [("queue", "ping")];
    let before = get("/metrics").await;

    let mut conn = s.pool.get().await.unwrap();
    for _ in 0..2 {
        jobs::enqueue(&mut conn, &jobs::Ping {}, None).await.unwrap();
    }
    queue_email(&mut conn, &s, "metrics", "counted@example.com")
        .await
        .unwrap();
    drop(conn);
    s.smtp.wait_for(1, Duration::from_secs(30), |_| true).await;
    settle(&s, Duration::from_secs(30)).await;
    let after = get("/metrics").await;
    for name in [
        "partnerdesk_jobs_started_total",
        "partnerdesk_jobs_succeeded_total",
        "partnerdesk_job_duration_seconds_count",
    ] {
        assert_eq!(
            metric(&after, name, &ping) - metric(&before, name, &ping),
            2.0,
            "{name}: {after}"
        );
    }
    assert_eq!(
        metric(&after, "partnerdesk_emails_sent_total", &[]) - metric(&before, "partnerdesk_emails_sent_total", &[]),
        1.0
    );
    assert_eq!(metric(&after, "partnerdesk_jobs_failed_total", &ping), 0.0);
    assert!(after.contains("partnerdesk_queue_depth{queue=\"ping\"}"), "{after}");
    assert!(metric(&after, "partnerdesk_db_pool_size", &[]) >= 1.0);

    let pid = worker.id().unwrap();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    worker.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_given_up_job_whose_email_was_never_sent_shows_as_unsent_and_a_retry_sends_it() {
    let s = setup().await;
    let actor = vendor_actor(&s).await;
    let mut conn = s.pool.get().await.unwrap();
    queue_email(&mut conn, &s, "lost:1", "lost@example.com").await.unwrap();
    // A worker claimed it and was lost, and the job ran out of attempts.
    let job = text(
        &s.pool,
        "SELECT id AS name FROM apalis.jobs WHERE job_type = 'send_email'",
    )
    .await;
    sql_query(format!(
        "UPDATE email_deliveries SET status = 'sending', claimed_at = now(), claimed_by_job = '{job}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    sql_query(format!(
        "UPDATE apalis.jobs SET status = 'Failed', attempts = max_attempts, done_at = now(),
                last_result = '{{\"Err\": \"worker lost\"}}' WHERE id = '{job}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(queue::release_abandoned_claims(&mut conn).await.unwrap(), 1);
    assert_eq!(queue::release_abandoned_claims(&mut conn).await.unwrap(), 0, "once");

    let summaries = queue::queues(&mut conn, &actor).await.unwrap();
    let email = summaries.iter().find(|q| q.queue == "send_email").unwrap();
    assert_eq!((email.given_up, email.unsent_emails), (1, 1));
    let listed = queue::jobs(&mut conn, &actor, &queue::JobFilter::default(), 10)
        .await
        .unwrap();
    assert!(listed.items[0].email_unsent(), "{:?}", listed.items[0]);

    let (stop, worker) = start_worker(s.app.clone());
    queue::retry(&mut conn, &s.ctx, &actor, &job).await.unwrap();
    s.smtp
        .wait_for(1, Duration::from_secs(30), |m| m.envelope_to == ["lost@example.com"])
        .await;
    settle(&s, Duration::from_secs(30)).await;
    let email = queue::queues(&mut conn, &actor).await.unwrap();
    let email = email.iter().find(|q| q.queue == "send_email").unwrap();
    assert_eq!((email.given_up, email.unsent_emails), (0, 0));
    assert_eq!(s.smtp.to("lost@example.com").len(), 1);
    let _ = stop.send(true);
    worker.await.unwrap().unwrap();
}
