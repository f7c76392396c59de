//! Sign-up, login, sessions and API tokens.

use chrono::Duration;
use partnerdesk_core::platform::authz::Role;
use partnerdesk_web::api::identity::auth::{ApiTokenView, CreatedToken, LoginResult, SignupView, UserView};
use serde_json::json;

use crate::fixtures::me;
use crate::harness::{DEMO_PASSWORD, Problem, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_user_get_the_same_refusal() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let wrong = anon
        .post(
            "/api/auth/login",
            json!({ "email": "sales@vendor.example", "password": "not the password" }),
        )
        .await;
    wrong.assert_problem(401, "invalid_credentials");
    let unknown = anon
        .post(
            "/api/auth/login",
            json!({ "email": "nobody@vendor.example", "password": DEMO_PASSWORD }),
        )
        .await;
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    // No cookie is set on failure, so the client is still anonymous.
    anon.get("/api/me").await.assert_problem(401, "authentication_required");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_cookie_identifies_the_user_until_logout() {
    let app = TestApp::spawn().await;
    let client = app.anonymous();
    let r = client
        .post(
            "/api/auth/login",
            json!({ "email": "Anna@Northwind.example ", "password": DEMO_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("pd_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(
        r.view::<LoginResult>().acting_organization_id,
        Some(app.org_id("Northwind IT Services").await)
    );

    let who = me(&client).await;
    assert_eq!(who.user.email, "anna@northwind.example");
    assert_eq!(who.organizations[0].organization_name, "Northwind IT Services");
    assert_eq!(who.organizations[0].role, Role::Administrator);

    let out = client.post("/api/auth/logout", json!({})).await;
    assert_eq!(out.status, 204);
    assert!(
        out.headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    client
        .get("/api/me")
        .await
        .assert_problem(401, "authentication_required");

    // The old cookie value itself no longer works.
    let raw = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("pd_session=")
        .to_owned();
    let replay = reqwest::Client::new()
        .get(format!("{}/api/me", app.base))
        .header("cookie", format!("pd_session={raw}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let problem: Problem = replay.json().await.unwrap();
    assert_eq!(problem.code, "session_revoked");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_expires() {
    let app = TestApp::spawn().await;
    let client = app.demo("anna@northwind.example").await;
    assert_eq!(client.get("/api/me").await.status, 200);
    app.advance(Duration::hours(11));
    // Activity moves the idle expiry forward.
    assert_eq!(client.get("/api/me").await.status, 200);
    app.advance(Duration::hours(11));
    assert_eq!(client.get("/api/me").await.status, 200);
    app.advance(Duration::hours(13));
    client.get("/api/me").await.assert_problem(401, "session_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_work_until_revoked_or_expired() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna.post("/api/me/tokens", json!({ "name": "CRM integration" })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created: CreatedToken = r.view();
    let token = created.token;
    assert!(token.starts_with("pd_"));
    assert!(token.starts_with(&created.details.prefix));
    let token_id = created.details.id;

    let bot = anna.with_bearer(&token);
    assert_eq!(me(&bot).await.user.email, "anna@northwind.example");
    let list = anna.get("/api/me/tokens").await;
    let tokens: Vec<ApiTokenView> = list.view();
    assert_eq!(tokens.len(), 1);
    // The wire itself: the listed token has no `token` field at all.
    assert!(list.body[0].get("token").is_none(), "the raw token is shown once only");
    assert!(tokens[0].last_used_at.is_some());

    let revoked = anna.delete(&format!("/api/me/tokens/{token_id}")).await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.view::<ApiTokenView>().revoked_at.is_some());
    bot.get("/api/me").await.assert_problem(401, "token_revoked");

    anna.with_bearer("pd_made-up")
        .get("/api/me")
        .await
        .assert_problem(401, "invalid_token");
    anna.post("/api/me/tokens", json!({ "name": " " }))
        .await
        .assert_problem(422, "validation_failed");
    anna.post("/api/me/tokens", json!({ "name": "x", "expires_in_days": 0 }))
        .await
        .assert_problem(422, "validation_failed");

    // A token with a lifetime expires.
    let r = anna
        .post("/api/me/tokens", json!({ "name": "short", "expires_in_days": 1 }))
        .await;
    let short = anna.with_bearer(&r.view::<CreatedToken>().token);
    assert_eq!(short.get("/api/me").await.status, 200);
    app.advance(Duration::days(2));
    short.get("/api/me").await.assert_problem(401, "token_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_validates_each_field_and_confirms_the_address_before_the_account_exists() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let r = anon
        .post(
            "/api/auth/signup",
            json!({ "email": "no", "password": "short", "first_name": "", "last_name": "Doe", "language": "fr" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "first_name", "language", "password"]);

    // A taken address and a new one are answered the same way: no account enumeration.
    let taken = anon.post("/api/auth/signup", json!({ "email": "ANNA@northwind.example", "password": "long enough password", "first_name": "A", "last_name": "B" })).await;
    let new = anon.post("/api/auth/signup", json!({ "email": "new@example.com", "password": "long enough password", "first_name": "New", "last_name": "Person" })).await;
    assert_eq!(taken.status, 202, "{}", taken.body);
    assert_eq!((taken.status, &taken.body), (new.status, &new.body));
    // Anna is told she has an account; her password is untouched.
    let note = app
        .smtp
        .expect_one("anna@northwind.example", "U heeft al een account")
        .await;
    assert!(
        note.text.contains(&format!("{}/password/forgot", app.base)),
        "{}",
        note.text
    );
    app.demo("anna@northwind.example").await;

    // Until the address is confirmed there is no account to log in to.
    anon.post(
        "/api/auth/login",
        json!({ "email": "new@example.com", "password": "long enough password" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let token = app
        .link_token("new@example.com", "Confirm your e-mail address", "/signup/confirm/")
        .await;
    let info = anon.get(&format!("/api/auth/signups/{token}")).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.view::<SignupView>().email, "new@example.com");
    let confirmed = anon
        .post(&format!("/api/auth/signups/{token}/confirm"), json!({}))
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.view::<UserView>().first_name, "New");
    anon.post(&format!("/api/auth/signups/{token}/confirm"), json!({}))
        .await
        .assert_problem(410, "link_used");
    let who = me(&app.login("new@example.com", "long enough password").await).await;
    assert!(who.organizations.is_empty());
    assert!(who.acting_organization_id.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organization_header_chooses_among_the_callers_organizations() {
    let app = TestApp::spawn().await;
    // Anna creates a second organization; she now belongs to two.
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post(
            "/api/organizations",
            json!({ "name": "Anna's Side Business", "country": "NL" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let side = r.id();
    let northwind = app.org_id("Northwind IT Services").await;

    assert_eq!(me(&anna).await.acting_organization_id, Some(northwind));
    assert_eq!(me(&anna.acting_as(side)).await.acting_organization_id, Some(side));

    // The session remembers a switch.
    assert_eq!(
        anna.put("/api/me/organization", json!({ "organization_id": side }))
            .await
            .status,
        204
    );
    assert_eq!(me(&anna).await.acting_organization_id, Some(side));

    // Someone else's organization cannot be chosen.
    let alpine = app.org_id("Alpine Systems GmbH").await;
    anna.acting_as(alpine)
        .get("/api/me")
        .await
        .assert_problem(403, "not_authorized");
    anna.put("/api/me/organization", json!({ "organization_id": alpine }))
        .await
        .assert_problem(403, "not_authorized");
    let bad = reqwest::Client::new()
        .get(format!("{}/api/me", app.base))
        .header("X-Organization", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401, "credentials are checked first");
}
