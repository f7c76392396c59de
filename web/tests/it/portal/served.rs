//! What every portal page is served with: security headers, and its stylesheet from the
//! binary itself.

use crate::harness::{Options, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_security_headers_and_no_inline_code() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    for path in ["/login", "/signup", "/register/partner", "/no-such-page"] {
        let r = anon.get(path).await;
        let policy = r.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(r.headers["x-frame-options"], "DENY", "{path}");
        if let Some(html) = r.body.as_str() {
            // The policy would block inline code, so there must be none.
            assert!(
                !html.contains("<style") && !html.contains(" style=") && !html.contains("<script>"),
                "{path}: {html}"
            );
        }
    }
    // The API and its interactive docs cannot be framed either; the docs keep their own
    // script, so their policy says only that.
    for path in ["/api/openapi.json", "/api/docs/", "/api/me"] {
        let api = anon.get(path).await;
        assert_eq!(api.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(api.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            api.headers["content-security-policy"], "frame-ancestors 'none'",
            "{path}"
        );
    }
    // Served over http, the site does not ask browsers to insist on https.
    assert!(
        anon.get("/login")
            .await
            .headers
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_served_over_https_asks_browsers_to_keep_to_https() {
    let app = TestApp::spawn_with(Options {
        extra: vec![("PUBLIC_URL", "https://partners.example".into())],
        ..Default::default()
    })
    .await;
    let anon = app.anonymous();
    for path in ["/login", "/api/openapi.json", "/api/docs/"] {
        let r = anon.get(path).await;
        assert_eq!(r.headers["strict-transport-security"], "max-age=31536000", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stylesheet_is_served_by_the_binary_under_its_content_hash() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let html = anon.get("/login").await.body.as_str().unwrap().to_owned();
    let href = html
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link")
        .to_owned();
    assert!(href.starts_with("/assets/portal-") && href.ends_with(".css"), "{href}");
    let css = reqwest::get(format!("{}{href}", app.base)).await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(css.text().await.unwrap().contains("font-family"));
    // Another name (an old release's hash) is not found.
    let old = reqwest::get(format!("{}/assets/portal-0000000000000000.css", app.base))
        .await
        .unwrap();
    assert_eq!(old.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_administrator_logs_in_in_a_real_browser() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let browser = crate::browser::Browser::open(&app).await;
    browser.visit("/login").await;
    browser.fill("email", "anna@northwind.example").await;
    browser.fill("password", "wrong password").await;
    browser.press("Log in").await;
    assert!(browser.text().await.contains("Log in"), "still on the log-in page");
    assert_eq!(browser.path().await, "/login");

    browser.fill("password", crate::harness::DEMO_PASSWORD).await;
    browser.press("Log in").await;
    assert_eq!(browser.path().await, "/");
    let text = browser.text().await;
    assert!(text.contains("Welcome, Anna"), "{text}");
    assert!(text.contains("Northwind IT Services"), "{text}");
    // The stylesheet applied: the header is the portal's blue, not the browser's default.
    let background = browser
        .eval("return getComputedStyle(document.querySelector('header')).backgroundColor")
        .await;
    assert_eq!(background, "rgb(11, 92, 173)");

    browser.press("Log out").await;
    assert_eq!(browser.path().await, "/login");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_posted_without_its_token_or_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let http = crate::harness::browser_client();
    let login = format!("{}/login", app.base);
    let html = http.get(&login).send().await.unwrap().text().await.unwrap();
    let token = crate::harness::csrf_token(&html);
    let form = |token: &str| {
        vec![
            ("csrf_token", token.to_owned()),
            ("email", "anna@northwind.example".to_owned()),
            ("password", crate::harness::DEMO_PASSWORD.to_owned()),
        ]
    };
    for (what, request) in [
        ("no token", http.post(&login).form(&form("")[1..])),
        ("a wrong token", http.post(&login).form(&form("forged"))),
        (
            "another site",
            http.post(&login)
                .header("origin", "https://evil.example")
                .form(&form(&token)),
        ),
        // A stranger's browser has no cookie the token was made for.
        (
            "another browser",
            reqwest::Client::new().post(&login).form(&form(&token)),
        ),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}");
        assert!(
            r.headers()["content-type"].to_str().unwrap().starts_with("text/html"),
            "{what}"
        );
        let page = r.text().await.unwrap();
        assert!(page.contains("This form has expired"), "{what}: {page}");
    }
    // With its token, from this site, the same form logs in; the session then gets
    // tokens of its own.
    let r = http
        .post(&login)
        .header("origin", &app.base)
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let home = http
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(crate::harness::csrf_token(&home), token, "a new token after log-in");
}

/// The API's writes authenticated by the session cookie follow the portal's Origin
/// rule: a page of another site that posts a form (which needs no preflight) with the
/// browser's cookie is refused and changes nothing; the same request from this site, or
/// from an API client with a bearer token, goes through.
#[tokio::test(flavor = "multi_thread")]
async fn cookie_authenticated_api_writes_from_another_site_are_refused() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let url = format!("{}/api/customers/{jansen}/deactivate", app.base);
    let active = async || {
        app.count(&format!(
            "SELECT count(*) FROM organizations WHERE id = '{jansen}' AND active"
        ))
        .await
    };
    for (what, request) in [
        (
            "a foreign Origin",
            anna.http()
                .post(&url)
                .header("origin", "https://evil.example")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=b"),
        ),
        (
            "Sec-Fetch-Site: cross-site",
            anna.http().post(&url).header("sec-fetch-site", "cross-site"),
        ),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
            "{what}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "cross_site_request", "{what}");
        assert_eq!(active().await, 1, "{what} changed nothing");
    }
    // A bearer token is no cookie a foreign page could borrow.
    let token = anna
        .post("/api/me/tokens", serde_json::json!({ "name": "script" }))
        .await
        .view::<partnerdesk_web::api::identity::auth::CreatedToken>()
        .token;
    let reactivate = format!("{}/api/customers/{jansen}/activate", app.base);
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(active().await, 0);
    // From this site, with the cookie.
    let r = anna
        .http()
        .post(&reactivate)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(active().await, 1);
}

/// A page as the client's browser gets it: status and HTML.
async fn page_of(client: &crate::harness::Client, base: &str, path: &str) -> (u16, String) {
    let r = client.http().get(format!("{base}{path}")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The portal keeps to the person's language and layout: a column heading clicked twice
/// sorts the other way (one `dir` in its link), and an address the page cannot read is a
/// page in the layout, in Dutch for Anna; order lines, granted permissions, the sort
/// direction and the copy button's confirmation are Dutch too, and an order is a
/// "Bestelling", not a sort order.
#[tokio::test(flavor = "multi_thread")]
async fn pages_keep_the_persons_language_and_layout_on_errors_and_in_every_detail() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let (status, html) = page_of(&anna, &app.base, "/customers?sort=name&dir=asc").await;
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/customers?sort=name&amp;dir=desc\""), "{html}");
    assert!(html.contains("<label for=\"dir\">Volgorde</label>"));

    let (status, html) = page_of(&anna, &app.base, "/customers?sort=name&dir=asc&dir=desc").await;
    assert_eq!(status, 400);
    assert!(html.contains("Dit adres is niet geldig."), "{html}");
    assert!(!html.contains("duplicate field"), "{html}");
    assert!(html.contains("href=\"/customers\""), "the portal's navigation: {html}");

    let jansen = app.org_id("Jansen Installatietechniek").await;
    let crm = crate::fixtures::module_id(&anna, "CRM").await;
    crate::fixtures::buy(
        &anna,
        jansen,
        serde_json::json!([{ "type": "business", "module_id": crm }]),
    )
    .await;
    let (status, html) = page_of(&anna, &app.base, &format!("/organizations/{jansen}/orders")).await;
    assert_eq!(status, 200);
    assert!(html.contains("CRM connector bedrijfslicentie"), "{html}");
    assert!(html.contains("Bestelling"), "{html}");
    assert!(!html.contains("business licence"), "{html}");
    assert!(html.contains("data-copied=\"Gekopieerd\""), "{html}");

    let (_, html) = page_of(&anna, &app.base, &format!("/organizations/{jansen}")).await;
    assert!(!html.contains("view_users"), "granted permissions in words: {html}");
    let (_, html) = page_of(&anna, &app.base, "/organizations").await;
    assert!(
        !html.contains("manage_customers") && !html.contains("Partner: manage customers"),
        "{html}"
    );
}
