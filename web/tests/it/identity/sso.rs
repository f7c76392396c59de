//! Single sign-on against a real OpenID Connect provider started by the tests: sign-in
//! in the portal and through the API, linking by verified address and from the
//! profile, every refusal (state, nonce, audience, expiry, signature, unverified
//! address), key rotation, and organizations that require it.

use partnerdesk_web::api::{
    identity::{
        auth::CreatedToken,
        sso::{IdentityView, SsoCompleted, SsoProviderView, SsoStarted},
    },
    tenancy::organizations::SettingsView,
};
use serde_json::json;

use crate::fixtures::me;
use crate::harness::{Client, DEMO_PASSWORD, Options, TestApp, browser_client, csrf_token};
use crate::oidc::{self, Provider};

const ANNA: &str = "anna@northwind.example";

async fn setup() -> (Provider, TestApp) {
    let provider = Provider::start().await;
    let app = oidc::app_with(&provider, Options::default()).await;
    (provider, app)
}

/// The API client of a browser that signed in with cookies.
fn api_of(app: &TestApp, browser: &reqwest::Client) -> Client {
    Client::from_http(&app.base, browser.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_address_links_the_identity_and_signs_in_for_good() {
    let (provider, app) = setup().await;
    provider.account("anna-at-idp", ANNA, true).await;
    let browser = browser_client();

    let done = oidc::portal_sign_in(&app, &browser, "anna-at-idp").await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        oidc::redirect_target(&done),
        "/profile",
        "back where the sign-in started"
    );
    let who = me(&api_of(&app, &browser)).await;
    assert_eq!(who.user.email, ANNA);
    assert_eq!(
        who.acting_organization_id,
        Some(app.org_id("Northwind IT Services").await)
    );

    let identities: Vec<IdentityView> = api_of(&app, &browser).get("/api/me/identities").await.view();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].provider, "test");
    assert_eq!(identities[0].linked_via, "verified_email");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'identity.linked'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'session.created' AND changes->>'method' = 'sso'")
            .await,
        1
    );

    // The provider's address changes to someone else's: the identity still signs in to
    // Anna's account, not to the owner of the new address.
    provider.account("anna-at-idp", "pieter@northwind.example", true).await;
    let later = browser_client();
    assert_eq!(oidc::portal_sign_in(&app, &later, "anna-at-idp").await.status(), 303);
    assert_eq!(me(&api_of(&app, &later)).await.user.email, ANNA);
    assert_eq!(
        app.count("SELECT count(*) FROM identity_links").await,
        1,
        "no second link was made for the new address"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_verified_address_starts_an_account_without_organizations() {
    let (provider, app) = setup().await;
    provider.account("newcomer", "newcomer@example.org", true).await;
    let browser = browser_client();
    assert_eq!(oidc::portal_sign_in(&app, &browser, "newcomer").await.status(), 303);
    let who = me(&api_of(&app, &browser)).await;
    assert_eq!(who.user.email, "newcomer@example.org");
    assert_eq!(who.user.first_name, "Sam");
    assert!(who.acting_organization_id.is_none());
    assert!(
        who.organizations.is_empty(),
        "no organization without an accepted membership"
    );
    // No password: the password log-in refuses it like any wrong password.
    let login = app
        .anonymous()
        .post(
            "/api/auth/login",
            json!({ "email": "newcomer@example.org", "password": "" }),
        )
        .await;
    login.assert_problem(401, "invalid_credentials");
}

/// The provider's answer, tampered with in transit, is refused; nothing is linked and
/// no session is opened.
#[tokio::test(flavor = "multi_thread")]
async fn id_tokens_that_fail_verification_are_refused() {
    let (provider, app) = setup().await;
    provider.account("anna-at-idp", ANNA, true).await;
    for kind in ["nonce", "audience", "expired", "signature", "none"] {
        provider.tamper(Some(kind)).await;
        let browser = browser_client();
        let resp = oidc::portal_sign_in(&app, &browser, "anna-at-idp").await;
        assert_eq!(resp.status(), 401, "a token with a wrong {kind} is refused");
        let page = resp.text().await.unwrap();
        assert!(page.contains("could not be verified"), "{kind}: {page}");
        assert_eq!(
            api_of(&app, &browser).get("/api/me").await.status,
            401,
            "{kind}: no session"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM identity_links").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
    provider.tamper(None).await;
    let browser = browser_client();
    assert_eq!(
        oidc::portal_sign_in(&app, &browser, "anna-at-idp").await.status(),
        303,
        "an honest token passes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_does_not_belong_to_this_browsers_attempt_is_refused() {
    let (provider, app) = setup().await;
    provider.account("anna-at-idp", ANNA, true).await;

    // Another browser (no attempt cookie) brings the answer: login CSRF.
    let browser = browser_client();
    let callback = oidc::portal_attempt(&app, &browser, "anna-at-idp").await;
    let stranger = browser_client();
    let resp = oidc::follow(&stranger, &callback).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not started in this browser"));

    // The right browser with a state that is not its attempt's.
    let forged = callback.replace("state=", "state=x");
    assert_eq!(oidc::follow(&browser, &forged).await.status(), 400);

    // A code from another attempt with this browser's state: the provider refuses it
    // for the PKCE verifier (and the nonce would not match either).
    let other = browser_client();
    let other_callback = oidc::portal_attempt(&app, &other, "anna-at-idp").await;
    let state = |url: &str| {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned()
    };
    let spliced = other_callback.replace(&state(&other_callback), &state(&callback));
    assert_eq!(oidc::follow(&browser, &spliced).await.status(), 400);

    // The attempt's own answer, after ten minutes: the attempt is over.
    app.advance(chrono::Duration::minutes(11));
    assert_eq!(oidc::follow(&browser, &callback).await.status(), 400);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attackers_identity_with_the_victims_unverified_address_gets_nothing() {
    let (provider, app) = setup().await;
    // The attacker registered at the provider with Anna's address, never confirmed.
    provider.account("attacker", ANNA, false).await;
    let browser = browser_client();
    let resp = oidc::portal_sign_in(&app, &browser, "attacker").await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("did not confirm your e-mail address")
    );
    assert_eq!(api_of(&app, &browser).get("/api/me").await.status, 401);
    assert_eq!(app.count("SELECT count(*) FROM identity_links").await, 0);

    // An unverified address nobody has makes no account either.
    provider.account("drifter", "drifter@example.org", false).await;
    let resp = oidc::portal_sign_in(&app, &browser_client(), "drifter").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email = 'drifter@example.org'")
            .await,
        0
    );

    // Anna herself links her real identity from her profile; the attacker's still
    // signs in to nothing.
    provider.account("anna-at-idp", ANNA, true).await;
    let anna = app.demo(ANNA).await;
    let linked = link_through_api(&anna, "anna-at-idp").await;
    assert_eq!(linked.identity.expect("the linked identity").linked_via, "profile");
    assert_eq!(
        oidc::portal_sign_in(&app, &browser_client(), "attacker").await.status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_providers_new_signing_key_is_fetched_when_a_token_names_it() {
    let (provider, app) = setup().await;
    provider.account("anna-at-idp", ANNA, true).await;
    assert_eq!(
        oidc::portal_sign_in(&app, &browser_client(), "anna-at-idp")
            .await
            .status(),
        303
    );
    assert_eq!(
        oidc::portal_sign_in(&app, &browser_client(), "anna-at-idp")
            .await
            .status(),
        303
    );
    let before = provider.stats().await;
    assert_eq!(before["jwks"], 1, "keys are read once, not per sign-in");

    provider.rotate_keys().await;
    assert_eq!(
        oidc::portal_sign_in(&app, &browser_client(), "anna-at-idp")
            .await
            .status(),
        303,
        "a token signed with the new key is accepted"
    );
    assert_eq!(provider.stats().await["jwks"], 2, "the keys were read again once");
}

/// Links an identity through the API (`link: true`) as `client`, signing in at the
/// provider as `account`: the completion's body.
async fn link_through_api(client: &Client, account: &str) -> SsoCompleted {
    let started = client
        .post("/api/auth/sso/test/start", json!({ "link": true, "next": "/profile" }))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let callback =
        oidc::sign_in_at_provider(&client.http(), &started.view::<SsoStarted>().authorization_url, account).await;
    let done = client.post("/api/auth/sso/test/complete", query_of(&callback)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    done.view()
}

/// The callback's query parameters as the completion's body.
fn query_of(callback: &str) -> serde_json::Value {
    let url = url::Url::parse(callback).unwrap();
    let pairs: serde_json::Map<String, serde_json::Value> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), json!(v.into_owned())))
        .collect();
    serde_json::Value::Object(pairs)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_flow_signs_in_links_lists_and_removes_identities() {
    let (provider, app) = setup().await;
    let providers: Vec<SsoProviderView> = app.anonymous().get("/api/auth/sso/providers").await.view();
    assert_eq!(providers[0].name, "test");
    assert_eq!(providers[0].label, "Test ID");
    assert_eq!(
        providers[0].redirect_url,
        format!("{}/auth/sso/test/callback", app.base)
    );
    app.anonymous()
        .post("/api/auth/sso/nobody/start", json!({}))
        .await
        .assert_problem(404, "not_found");
    app.anonymous()
        .post("/api/auth/sso/test/start", json!({ "link": true }))
        .await
        .assert_problem(401, "authentication_required");

    // Sign in through the API.
    provider.account("newcomer", "api-newcomer@example.org", true).await;
    let client = app.anonymous();
    let started = client.post("/api/auth/sso/test/start", json!({})).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let url = started.view::<SsoStarted>().authorization_url;
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("nonce="),
        "{url}"
    );
    let callback = oidc::sign_in_at_provider(&client.http(), &url, "newcomer").await;
    let done = client.post("/api/auth/sso/test/complete", query_of(&callback)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let done: SsoCompleted = done.view();
    assert!(done.signed_in);
    assert!(done.new_account);
    assert_eq!(
        done.identity
            .expect("the identity this sign-in linked")
            .email
            .as_deref(),
        Some("api-newcomer@example.org")
    );
    assert_eq!(me(&client).await.user.email, "api-newcomer@example.org");
    // The same answer again: the provider's code is used up.
    client
        .post("/api/auth/sso/test/complete", query_of(&callback))
        .await
        .assert_problem(400, "sso_code_refused");

    // Signing in an existing account by its verified address links the identity, and
    // the answer says which; signing in with it again links nothing new.
    provider.account("sales-at-idp", "sales@vendor.example", true).await;
    for first in [true, false] {
        let sales = app.anonymous();
        let started = sales.post("/api/auth/sso/test/start", json!({})).await;
        let callback = oidc::sign_in_at_provider(
            &sales.http(),
            &started.view::<SsoStarted>().authorization_url,
            "sales-at-idp",
        )
        .await;
        let done = sales.post("/api/auth/sso/test/complete", query_of(&callback)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let done: SsoCompleted = done.view();
        assert!(done.signed_in && !done.new_account);
        assert_eq!(done.identity.is_some(), first, "{:?}", done.identity);
    }

    // The only way into a password-less account stays.
    let only = client.get("/api/me/identities").await.view::<Vec<IdentityView>>()[0].id;
    client
        .delete(&format!("/api/me/identities/{only}"))
        .await
        .assert_problem(409, "last_sign_in_method");

    // Anna links an identity from her profile, then removes it.
    provider.account("anna-at-idp", ANNA, false).await;
    let anna = app.demo(ANNA).await;
    let linked = link_through_api(&anna, "anna-at-idp").await;
    assert!(!linked.signed_in);
    assert_eq!(linked.user.email, ANNA);
    // Linked by Anna herself, the identity signs in although its address is unverified.
    assert_eq!(
        oidc::portal_sign_in(&app, &browser_client(), "anna-at-idp")
            .await
            .status(),
        303
    );
    // Somebody else cannot link the identity that is Anna's.
    let max = app.demo("max@alpine.example").await;
    let started = max.post("/api/auth/sso/test/start", json!({ "link": true })).await;
    let callback = oidc::sign_in_at_provider(
        &max.http(),
        &started.view::<SsoStarted>().authorization_url,
        "anna-at-idp",
    )
    .await;
    max.post("/api/auth/sso/test/complete", query_of(&callback))
        .await
        .assert_problem(409, "sso_identity_linked_elsewhere");

    let id = linked.identity.expect("the linked identity").id;
    let gone = anna.delete(&format!("/api/me/identities/{id}")).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    let identities = anna.get("/api/me/identities").await;
    assert_eq!(identities.status, 200, "{}", identities.body);
    assert!(identities.view::<Vec<IdentityView>>().is_empty());
    let resp = oidc::portal_sign_in(&app, &browser_client(), "anna-at-idp").await;
    assert_eq!(
        resp.status(),
        403,
        "a removed identity with an unverified address links nothing"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'identity.removed'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organization_can_require_single_sign_on_of_its_members() {
    let (provider, app) = setup().await;
    let northwind = app.org_id("Northwind IT Services").await;
    let anna = app.demo(ANNA).await;
    let policy = format!("/api/organizations/{northwind}/sign-in-policy");
    // Not before Anna herself can sign in that way: an identity linked from a password
    // session is not enough.
    anna.put(&policy, json!({ "require_sso": true }))
        .await
        .assert_problem(409, "sso_not_linked");
    provider.account("anna-at-idp", ANNA, true).await;
    link_through_api(&anna, "anna-at-idp").await;
    anna.put(&policy, json!({ "require_sso": true }))
        .await
        .assert_problem(409, "sso_not_linked");
    // Signed in with the provider, which vouches for her address, she may.
    let browser = browser_client();
    assert_eq!(oidc::portal_sign_in(&app, &browser, "anna-at-idp").await.status(), 303);
    let sso_anna = api_of(&app, &browser);
    let pieter = app.demo("pieter@northwind.example").await;
    pieter
        .put(&policy, json!({ "require_sso": true }))
        .await
        .assert_problem(403, "not_authorized");
    let set = sso_anna.put(&policy, json!({ "require_sso": true })).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert!(set.view::<SettingsView>().require_sso);
    assert_eq!(me(&sso_anna).await.acting_organization_id, Some(northwind));
    assert_eq!(sso_anna.get("/api/customers").await.status, 200);

    // Password sessions act for Northwind no more, nor tokens they make.
    let pieter = app.demo("pieter@northwind.example").await;
    assert!(me(&pieter).await.acting_organization_id.is_none());
    pieter
        .acting_as(northwind)
        .get("/api/customers")
        .await
        .assert_problem(403, "sso_required");
    let token = pieter
        .post("/api/me/tokens", json!({ "name": "from a password" }))
        .await;
    let bearer = app.anonymous().with_bearer(&token.view::<CreatedToken>().token);
    bearer
        .acting_as(northwind)
        .get("/api/customers")
        .await
        .assert_problem(403, "sso_required");
    bearer
        .post("/api/auth/sso/test/start", json!({ "link": true }))
        .await
        .assert_problem(403, "session_required");

    // Someone with Pieter's password links their own identity: it signs in to Pieter's
    // account but does not satisfy the requirement.
    provider.account("mallory", "mallory@evil.example", true).await;
    link_through_api(&pieter, "mallory").await;
    let browser = browser_client();
    assert_eq!(oidc::portal_sign_in(&app, &browser, "mallory").await.status(), 303);
    let mallory = api_of(&app, &browser);
    assert_eq!(me(&mallory).await.user.email, "pieter@northwind.example");
    mallory
        .acting_as(northwind)
        .get("/api/customers")
        .await
        .assert_problem(403, "sso_required");

    // The portal says why and offers the provider.
    app.in_english().await;
    let browser = browser_client();
    app.portal_login(&browser, "pieter@northwind.example", DEMO_PASSWORD)
        .await;
    let home = browser
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("requires single sign-on") && home.contains("/auth/sso/test"),
        "{home}"
    );

    // API tokens made for Northwind keep working.
    let token = sso_anna.post("/api/me/tokens", json!({ "name": "automation" })).await;
    let bearer = app.anonymous().with_bearer(&token.view::<CreatedToken>().token);
    assert_eq!(bearer.get("/api/customers").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_profile_lists_links_and_removes_identities() {
    let (provider, app) = setup().await;
    app.in_english().await;
    provider.account("anna-at-idp", ANNA, true).await;
    let browser = browser_client();
    app.portal_login(&browser, ANNA, DEMO_PASSWORD).await;
    let profile = format!("{}/profile", app.base);
    let html = browser.get(&profile).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("No identity is linked yet") && html.contains("Link Test ID"),
        "{html}"
    );

    let resp = browser
        .post(format!("{}/profile/identities/link/test", app.base))
        .form(&[("csrf_token", csrf_token(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let callback = oidc::sign_in_at_provider(&browser, &oidc::redirect_target(&resp), "anna-at-idp").await;
    let done = oidc::follow(&browser, &callback).await;
    assert_eq!(oidc::redirect_target(&done), "/profile?notice=identity_linked");
    let html = browser.get(&profile).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Test ID") && html.contains(ANNA) && html.contains("Remove"),
        "{html}"
    );

    let link_id = one_text(&app, "SELECT id::text AS id FROM identity_links").await;
    let resp = browser
        .post(format!("{}/profile/identities/{link_id}/remove", app.base))
        .form(&[("csrf_token", csrf_token(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(oidc::redirect_target(&resp), "/profile?notice=identity_removed");
    assert_eq!(app.count("SELECT count(*) FROM identity_links").await, 0);
}

async fn one_text(app: &TestApp, query: &str) -> String {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let mut conn = app.conn().await;
    let row: Row = diesel::sql_query(query).get_result(&mut conn).await.unwrap();
    row.id
}

/// In a real browser: the log-in page's button, the provider's own sign-in form, and
/// back in the portal, signed in; the profile shows the identity.
#[tokio::test(flavor = "multi_thread")]
async fn a_person_signs_in_with_the_provider_in_the_browser() {
    let (provider, app) = setup().await;
    app.in_english().await;
    provider.account("anna-at-idp", ANNA, true).await;
    let browser = crate::browser::Browser::open(&app).await;
    browser.visit("/login").await;
    assert!(browser.text().await.contains("Sign in with Test ID"));
    browser.click("#sso-test").await;
    assert!(
        browser.text().await.contains("Sign in at the test provider"),
        "the provider's page: {}",
        browser.text().await
    );
    browser.fill("account", "anna-at-idp").await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/", "{}", browser.text().await);
    assert!(browser.navigation().await.contains(&"My customers".to_owned()));

    browser.visit("/profile").await;
    let identities = browser.text_of("#identities").await;
    assert!(
        identities.contains("Test ID") && identities.contains(ANNA),
        "{identities}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_cannot_be_reached_is_answered_at_once_with_503() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = Options::default();
    options.extra.extend([
        ("SSO_PROVIDERS", "down".to_owned()),
        (
            "SSO_DOWN_DISCOVERY_URL",
            format!("http://127.0.0.1:{port}/.well-known/openid-configuration"),
        ),
        ("SSO_DOWN_CLIENT_ID", "c".to_owned()),
        ("SSO_DOWN_CLIENT_SECRET", "s".to_owned()),
    ]);
    let app = TestApp::spawn_with(options).await;
    let client = app.anonymous();
    for _ in 0..3 {
        let r = client.post("/api/auth/sso/down/start", json!({})).await;
        r.assert_problem(503, "sso_unavailable");
        assert!(r.headers.contains_key("retry-after"));
    }
    // The portal's button says the same on the log-in page, with the password form.
    let resp = browser_client()
        .get(format!("{}/auth/sso/down", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("name=\"password\""));
}
