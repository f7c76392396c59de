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
    app::App,
    clock::Clock,
    config::Config,
    db::Pool,
    domain::{Email, Language},
    jobs::{self, Job},
    mail::{self, EmailKind},
    seed,
    testing::{SmtpSink, TestDb},
};
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

async fn settle(pool: &Pool, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = jobs::unfinished_count(&mut pool.get().await.unwrap()).await.unwrap();
        if n == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} jobs still unfinished after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
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
    settle(&s.pool, Duration::from_secs(10)).await;
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
    settle(&s.pool, Duration::from_secs(10)).await;

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
    settle(&s.pool, Duration::from_secs(15)).await;
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
    let spawn = |_n: usize| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_partnerdesk-worker"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &s.db.url)
            .env("SECRET_KEY", SECRET)
            .env("SMTP_URL", s.smtp.url())
            .env("WORKER_CONCURRENCY", "4")
            .env("WORKER_POLL_SECONDS", "1")
            .env("ALLOW_HTTP_PUBLIC_URL", "true")
            .env("BILLING_MONTHLY_RUN", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting a worker process")
    };
    let mut a = spawn(1);
    let mut b = spawn(2);
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
    settle(&s.pool, Duration::from_secs(60)).await;

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
    settle(&s.pool, Duration::from_secs(10)).await;
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
