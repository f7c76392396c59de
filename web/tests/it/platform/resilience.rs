//! The service stays up and bounded when strangers push it: large and slow bodies, many
//! password hashes at once, a busy pool, a row lock held for long, NUL characters.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use partnerdesk_web::api::commerce::quotes::QuoteView;

use crate::{
    fixtures::{confirm, module_id, quote},
    harness::{Options, Problem, TestApp},
};

/// Resident memory of this process (the service runs in it), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// Samples the resident memory until stopped; returns the peak.
fn watch_peak() -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<f64>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut peak = rss_mib();
        loop {
            peak = peak.max(rss_mib());
            tokio::select! {
                _ = &mut stopped => return peak,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    });
    (stop, handle)
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connecting")
}

/// Reads what the server answers (up to 8 KiB) within `within`.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + within;
    while got < buf.len() {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                got += n;
                if String::from_utf8_lossy(&buf[..got]).contains("\r\n\r\n{") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&buf[..got]).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_body_is_refused_before_it_is_read() {
    let app = TestApp::spawn().await;
    let before = rss_mib();

    // 64 MiB announced: refused from the headers alone, at once.
    let mut stream = connect(&app).await;
    let started = Instant::now();
    stream
        .write_all(b"POST /api/auth/signup HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 67108864\r\n\r\n{\"email\":\"")
        .await
        .unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("application/problem+json") && answer.contains("payload_too_large"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // 64 MiB sent without a length: reading stops at the limit.
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    let mut sent = 0usize;
    for _ in 0..64 {
        let frame = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if stream.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 413") || answer.is_empty(),
        "refused or cut off after {sent} bytes: {answer}"
    );
    let grown = rss_mib() - before;
    assert!(grown < 48.0, "memory grew by {grown:.0} MiB");

    // The service goes on serving.
    assert_eq!(app.anonymous().get("/readyz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_trickles_in_is_cut_off() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("BODY_READ_TIMEOUT_SECONDS", "1".into())],
        ..Default::default()
    })
    .await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    stream
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"em")
        .await
        .unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_parallel_logins_keep_memory_bounded() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("PASSWORD_HASH_CONCURRENCY", "2".into()),
            ("LOGIN_FAILURES_PER_ADDRESS", "10000".into()),
        ],
        ..Default::default()
    })
    .await;
    // Warm up: one hash of each kind, so allocator pools exist before measuring.
    app.anonymous()
        .post(
            "/api/auth/login",
            json!({ "email": "warm@example.com", "password": "wrong password" }),
        )
        .await;
    // The clients (each with its own TLS setup) exist before measuring.
    let clients: Vec<_> = (0..50).map(|_| app.anonymous()).collect();
    let before = rss_mib();
    let (stop, peak) = watch_peak();
    let logins = clients.into_iter().enumerate().map(|(i, client)| {
        tokio::spawn(async move {
            client
                .post(
                    "/api/auth/login",
                    json!({ "email": format!("stranger{i}@example.com"), "password": "not the password" }),
                )
                .await
                .status
        })
    });
    let statuses: Vec<u16> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    stop.send(()).unwrap();
    let peak = peak.await.unwrap();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let grown = peak - before;
    // Two hashing threads of about 19 MiB each at most, not fifty hashes' worth.
    assert!(grown < 64.0, "memory grew by {grown:.0} MiB at the peak");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_answers_while_strangers_keep_a_small_pool_busy() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("DATABASE_POOL_SIZE", "2".into()),
            ("PASSWORD_HASH_CONCURRENCY", "1".into()),
        ],
        ..Default::default()
    })
    .await;
    let burst: Vec<_> = (0..20)
        .map(|i| {
            let client = app.anonymous();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    client
                        .post("/api/auth/login", json!({ "email": format!("x{i}@example.com"), "password": "wrong password" }))
                        .await
                        .status
                } else {
                    client
                        .post(
                            "/api/auth/signup",
                            json!({ "email": format!("new{i}@example.com"), "password": "long enough password", "first_name": "N", "last_name": "W" }),
                        )
                        .await
                        .status
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let ready = app.anonymous().get("/readyz").await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "/readyz took {took:?}");
    assert!([200, 503].contains(&ready.status), "{}", ready.status);
    let statuses: Vec<u16> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| [401, 202, 429, 503].contains(s)),
        "every request got an answer: {statuses:?}"
    );
    assert_eq!(app.anonymous().get("/readyz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_lock_held_for_long_stops_neither_other_requests_nor_readyz() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("DATABASE_POOL_SIZE", "4".into()),
            ("DATABASE_LOCK_TIMEOUT_MS", "1000".into()),
            ("DATABASE_POOL_TIMEOUT_MS", "3000".into()),
        ],
        ..Default::default()
    })
    .await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    // CRM is the first module listed (the list sorts by code).
    let crm = module_id(&anna, "CRM").await;
    let q = quote(&anna, jansen, json!([{ "type": "business", "module_id": crm }])).await;
    assert_eq!(q.status, 201, "{}", q.body);
    let quote_id = q.view::<QuoteView>().id;

    // Someone holds the quote's row lock (a transaction that does not finish).
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let url = app.ctx.config.database_url.clone();
    let mut holder = diesel_async::AsyncPgConnection::establish(&url).await.unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM quotes WHERE id = '{quote_id}' FOR UPDATE"
        ))
        .await
        .unwrap();

    // Twelve confirmations pile up on it...
    let confirms: Vec<_> = (0..12)
        .map(|_| {
            let client = anna.clone();
            tokio::spawn(async move { confirm(&client, quote_id).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...while other requests and the readiness probe are answered.
    let started = Instant::now();
    let ready = app.anonymous().get("/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "/readyz took {:?}",
        started.elapsed()
    );
    assert!([200, 503].contains(&ready.status));
    let started = Instant::now();
    let me = anna.get("/api/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "/api/me took {:?}",
        started.elapsed()
    );
    for done in futures::future::join_all(confirms).await {
        let r = done.unwrap();
        r.assert_problem(503, "service_busy");
        assert!(r.headers.get("retry-after").is_some(), "Retry-After on {:?}", r.headers);
    }

    // Once the lock is gone the quote confirms normally.
    holder.batch_execute("ROLLBACK").await.unwrap();
    let r = confirm(&anna, quote_id).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_are_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let r = anon
        .post(
            "/api/auth/signup",
            json!({ "email": "nul@example.com", "password": "long enough password", "first_name": "A\u{0}B", "last_name": "C" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].pair(), ("first_name", "invalid_characters"));

    let anna = app.demo("anna@northwind.example").await;
    let r = anna.get("/api/customers?search=a%00b").await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].field, "search");

    let jansen = app.org_id("Jansen Installatietechniek").await;
    let r = anna
        .post_bytes(
            &format!("/api/organizations/{jansen}/users/import"),
            "text/csv",
            b"email,first_name,last_name\nnul@jansen.example,A\x00,B\n".to_vec(),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].pair(), ("rows[2].first_name", "invalid_characters"));

    let form = reqwest::Client::new()
        .post(format!("{}/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a%00b&password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 422);
    let problem: Problem = form.json().await.unwrap();
    assert_eq!(problem.errors[0].field, "email");
}
