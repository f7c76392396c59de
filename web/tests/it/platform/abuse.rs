//! Abuse resistance: throttled log-ins, a bounded number of e-mails per typed address,
//! password reset, and sessions that end when they should.

use chrono::Duration;
use partnerdesk_web::api::identity::auth::{CreatedToken, PasswordChanged};
use serde_json::json;

use crate::{
    fixtures::{module_id, quote},
    harness::{DEMO_PASSWORD, Options, TestApp},
};

fn login(email: &str, password: &str) -> serde_json::Value {
    json!({ "email": email, "password": password })
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_wrong_passwords_are_throttled() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let anna = "anna@northwind.example";
    for _ in 0..5 {
        anon.post("/api/auth/login", login(anna, "wrong password"))
            .await
            .assert_problem(401, "invalid_credentials");
    }
    // The sixth failure blocks the account for a while; meanwhile even the right
    // password is not looked at.
    anon.post("/api/auth/login", login(anna, "wrong password"))
        .await
        .assert_problem(401, "invalid_credentials");
    let blocked = anon.post("/api/auth/login", login(anna, DEMO_PASSWORD)).await;
    blocked.assert_problem(429, "too_many_attempts");
    let wait: i64 = blocked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // Each further failure doubles the wait.
    app.advance(Duration::seconds(3));
    anon.post("/api/auth/login", login(anna, "wrong password"))
        .await
        .assert_problem(401, "invalid_credentials");
    let blocked = anon.post("/api/auth/login", login(anna, DEMO_PASSWORD)).await;
    blocked.assert_problem(429, "too_many_attempts");
    let wait: i64 = blocked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3..=4).contains(&wait), "Retry-After {wait}");
    // Once the wait is over the right password works and the count starts again.
    app.advance(Duration::seconds(5));
    assert_eq!(
        anon.post("/api/auth/login", login(anna, DEMO_PASSWORD)).await.status,
        200
    );
    anon.post("/api/auth/login", login(anna, "wrong password"))
        .await
        .assert_problem(401, "invalid_credentials");

    // Per client address too: guessing across many accounts from one place is slowed.
    let app = TestApp::spawn_with(Options {
        extra: vec![("LOGIN_FAILURES_PER_ADDRESS", "3".into())],
        ..Default::default()
    })
    .await;
    let anon = app.anonymous();
    for who in ["a@example.com", "b@example.com", "c@example.com", "d@example.com"] {
        anon.post("/api/auth/login", login(who, "guess"))
            .await
            .assert_problem(401, "invalid_credentials");
    }
    anon.post("/api/auth/login", login("sales@vendor.example", DEMO_PASSWORD))
        .await
        .assert_problem(429, "too_many_attempts");
}

/// A log-in from a given client address (behind a proxy that names it).
async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/auth/login", app.base))
        .header("x-forwarded-for", address)
        .json(&login(email, password))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// Someone guessing an account's password from one address slows down that address, not
/// the account's owner logging in from another; guessing spread over many addresses
/// meets the softer limit per account, which then holds wherever the attempt comes from.
#[tokio::test(flavor = "multi_thread")]
async fn guessing_from_one_address_does_not_lock_the_owner_out() {
    let app = TestApp::spawn_with(Options {
        extra: vec![
            ("TRUST_PROXY_HEADERS", "true".into()),
            ("LOGIN_FAILURES_PER_ACCOUNT", "12".into()),
        ],
        ..Default::default()
    })
    .await;
    let anna = "anna@northwind.example";
    let attacker = "203.0.113.9";
    for _ in 0..6 {
        let (status, _) = login_from(&app, attacker, anna, "guess").await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        login_from(&app, attacker, anna, DEMO_PASSWORD).await,
        (429, "too_many_attempts".to_owned()),
        "the guessing address waits"
    );
    let (status, code) = login_from(&app, "198.51.100.7", anna, DEMO_PASSWORD).await;
    assert_eq!(status, 200, "the owner elsewhere logs in: {code}");
    // The owner's success does not free the guessing address.
    assert_eq!(login_from(&app, attacker, anna, DEMO_PASSWORD).await.0, 429);

    // Spread over many addresses: past the per-account limit every address waits.
    for i in 0..13 {
        let (status, code) = login_from(&app, &format!("192.0.2.{i}"), anna, "guess").await;
        assert_eq!(status, 401, "{code}");
    }
    assert_eq!(
        login_from(&app, "198.51.100.7", anna, DEMO_PASSWORD).await,
        (429, "too_many_attempts".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_requests_for_one_address_send_a_bounded_number_of_emails() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let target = "victim@fabrikam.example";
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            anon.post("/api/partner-registrations", json!({ "email": target }))
                .await
                .status,
        );
    }
    // Sign-up and password reset for the same address count toward the same limit.
    statuses.push(
        anon.post(
            "/api/auth/signup",
            json!({ "email": target, "password": "long enough password", "first_name": "V", "last_name": "T" }),
        )
        .await
        .status,
    );
    let refused = anon.post("/api/auth/password-reset", json!({ "email": target })).await;
    refused.assert_problem(429, "too_many_emails");
    assert!(refused.headers.get("retry-after").is_some());
    anon.post("/api/partner-registrations", json!({ "email": target }))
        .await
        .assert_problem(429, "too_many_emails");
    assert_eq!(statuses, [202, 202, 202, 202, 202]);
    app.settle().await;
    let sent = app
        .smtp
        .messages()
        .iter()
        .filter(|m| m.envelope_to.contains(&target.to_owned()))
        .count();
    assert_eq!(sent, 5, "the default limit is five an hour");

    // An hour later the address may be written to again.
    app.advance(Duration::minutes(61));
    assert_eq!(
        anon.post("/api/partner-registrations", json!({ "email": target }))
            .await
            .status,
        202
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_password_is_reset_once_through_the_emailed_link() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let logged_in = app.demo("sales@vendor.example").await;

    // A known and an unknown address are answered alike.
    let known = anon
        .post("/api/auth/password-reset", json!({ "email": "sales@vendor.example" }))
        .await;
    let unknown = anon
        .post("/api/auth/password-reset", json!({ "email": "nobody@vendor.example" }))
        .await;
    assert_eq!(known.status, 202, "{}", known.body);
    // The whole answers compared as JSON: exactly alike, so nothing tells them apart.
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let note = app
        .smtp
        .expect_one("nobody@vendor.example", "Password reset request")
        .await;
    assert!(note.text.contains(&format!("{}/signup", app.base)), "{}", note.text);

    let token = app
        .link_token("sales@vendor.example", "Reset your password", "/password/")
        .await;
    let r = anon
        .post(
            &format!("/api/auth/password-links/{token}"),
            json!({ "password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    anon.post(
        &format!("/api/auth/password-links/{token}"),
        json!({ "password": "another passphrase" }),
    )
    .await
    .assert_problem(410, "link_used");
    // The old password and the sessions it opened are gone.
    logged_in.get("/api/me").await.assert_problem(401, "session_revoked");
    anon.post("/api/auth/login", login("sales@vendor.example", DEMO_PASSWORD))
        .await
        .assert_problem(401, "invalid_credentials");
    app.login("sales@vendor.example", "a brand new passphrase").await;

    // A second request retires the previous link.
    anon.post("/api/auth/password-reset", json!({ "email": "finance@vendor.example" }))
        .await;
    let first = app
        .link_token("finance@vendor.example", "Reset your password", "/password/")
        .await;
    anon.post("/api/auth/password-reset", json!({ "email": "finance@vendor.example" }))
        .await;
    app.smtp
        .wait_for(2, std::time::Duration::from_secs(15), |m| {
            m.envelope_to.contains(&"finance@vendor.example".to_owned())
        })
        .await;
    anon.post(
        &format!("/api/auth/password-links/{first}"),
        json!({ "password": "a brand new passphrase" }),
    )
    .await
    .assert_problem(410, "link_used");
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let laptop = app.demo("anna@northwind.example").await;
    let phone = app.demo("anna@northwind.example").await;
    let token = laptop
        .post("/api/me/tokens", json!({ "name": "crm" }))
        .await
        .view::<CreatedToken>()
        .token;
    laptop
        .put(
            "/api/me/password",
            json!({ "current_password": "wrong", "new_password": "a brand new passphrase" }),
        )
        .await
        .assert_problem(422, "validation_failed");
    let r = laptop
        .put(
            "/api/me/password",
            json!({ "current_password": DEMO_PASSWORD, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.view::<PasswordChanged>().sessions_ended, 1);
    assert_eq!(laptop.get("/api/me").await.status, 200, "this session goes on");
    phone.get("/api/me").await.assert_problem(401, "session_revoked");
    assert_eq!(
        laptop.with_bearer(&token).get("/api/me").await.status,
        200,
        "API tokens stay"
    );
    app.login("anna@northwind.example", "a brand new passphrase").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_new_after_login_and_ends_after_its_absolute_lifetime() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("SESSION_MAX_HOURS", "24".into())],
        ..Default::default()
    })
    .await;
    let client = app.demo("anna@northwind.example").await;
    let cookie = |r: &crate::harness::Resp| {
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let first = client
        .post("/api/auth/login", login("anna@northwind.example", DEMO_PASSWORD))
        .await;
    let second = client
        .post("/api/auth/login", login("anna@northwind.example", DEMO_PASSWORD))
        .await;
    assert_ne!(cookie(&first), cookie(&second), "a new session id after each log-in");
    // The session the browser had before is over.
    let replay = reqwest::Client::new()
        .get(format!("{}/api/me", app.base))
        .header("cookie", cookie(&first))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);

    // Active all day, the session still ends 24 hours after log-in.
    for _ in 0..2 {
        app.advance(Duration::hours(11));
        assert_eq!(client.get("/api/me").await.status, 200);
    }
    app.advance(Duration::hours(3));
    client.get("/api/me").await.assert_problem(401, "session_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn production_refuses_to_start_with_unsafe_settings() {
    let safe = [
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("PARTNERDESK_ENV", "production"),
        ("SECRET_KEY", "a-production-secret-of-at-least-32-chars"),
        ("PUBLIC_URL", "https://portal.example"),
        ("SMTP_URL", "smtp://127.0.0.1:1"),
        ("METRICS_TOKEN", "a-scrape-token"),
    ];
    let unsafe_settings: [(&str, &str, &str); 5] = [
        ("PAYMENT_PROVIDER", "test", "PAYMENT_PROVIDER"),
        ("SMTP_URL", "", "SMTP_URL"),
        (
            "SECRET_KEY",
            "partnerdesk-development-secret-do-not-use-in-production",
            "SECRET_KEY",
        ),
        ("PUBLIC_URL", "http://portal.example", "PUBLIC_URL"),
        ("METRICS_TOKEN", "", "METRICS_TOKEN or METRICS_ADDR"),
    ];
    for (key, value, named) in unsafe_settings {
        {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_partnerdesk-web"));
            command.env_clear().arg("serve");
            for (k, v) in safe {
                command.env(k, v);
            }
            command.env(key, value);
            let out = tokio::time::timeout(std::time::Duration::from_secs(20), command.output())
                .await
                .expect("start-up refuses quickly")
                .expect("running the binary");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{key}={value:?} was accepted");
            assert!(
                stderr.contains(named) && stderr.contains("invalid configuration"),
                "{key}={value:?}: {stderr}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_is_secure_behind_https() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("PUBLIC_URL", "https://portal.example".into())],
        ..Default::default()
    })
    .await;
    let r = app
        .anonymous()
        .post("/api/auth/login", login("anna@northwind.example", DEMO_PASSWORD))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quote_holds_a_bounded_number_of_items() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    // CRM is the first module listed (the list sorts by code).
    let crm = module_id(&anna, "CRM").await;
    let items: Vec<_> = (0..21)
        .map(|_| json!({ "type": "credits", "module_id": crm, "quantity": 1 }))
        .collect();
    let r = quote(&anna, jansen, json!(items)).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].pair(), ("items", "too_many"));
    let r = quote(
        &anna,
        jansen,
        json!([{ "type": "business", "module_id": crm }, { "type": "credits", "module_id": crm, "quantity": 1001 }]),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].field, "items[1].quantity");
}
