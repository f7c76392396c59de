//! Every main page of the portal, for each role: it renders in the layout without an
//! error, and a PNG of it is written (to `SCREENSHOTS_DIR`, which `just screenshots`
//! sets, else a temporary folder). And every page refuses whoever may not see it.

use partnerdesk_web::api::identity::auth::CreatedToken;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::{
    browser::Browser,
    harness::{DEMO_PASSWORD, Options, TestApp, browser_client, csrf_token},
};

/// A customer organization with its own administrator (who registered it) and
/// Northwind as its chosen service provider.
async fn self_registered_customer(app: &TestApp) -> Uuid {
    let olga = app
        .sign_up("olga@olga.example", "Olga", "Bakker", "olga's long password")
        .await;
    let r = olga
        .post(
            "/api/organizations",
            json!({ "name": "Olga Bakker BV", "country": "NL" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let org = r.id();
    let r = olga
        .put(
            &format!("/api/organizations/{org}/service-provider"),
            json!({ "partner_code": "NORTHWND" }),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    // What Northwind may do, asks for, and did in an open session.
    olga.put(
        &format!("/api/organizations/{org}/service-provider/grants"),
        json!({ "permissions": ["view_users", "edit_users"] }),
    )
    .await;
    let anna = app.demo("anna@northwind.example").await;
    anna.post(
        &format!("/api/customers/{org}/grant-requests"),
        json!({ "permissions": ["import_users"], "message": "For your new colleagues" }),
    )
    .await;
    let session = anna
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await
        .id();
    let olga_id = app.user_id("olga@olga.example").await;
    anna.in_delegated_session(session)
        .patch(
            &format!("/api/organizations/{org}/users/{olga_id}"),
            json!({ "extension": "210" }),
        )
        .await;
    org
}

/// A form's fields.
type Form = Vec<(&'static str, &'static str)>;

/// Screenshots to take: file name and page.
type Shots = Vec<(&'static str, String)>;

#[tokio::test(flavor = "multi_thread")]
async fn every_main_page_renders_for_its_role_and_is_photographed() {
    // Single sign-on configured (its providers are reached only when a button is used):
    // the log-in page's buttons, the profile's identities, the sign-in policy.
    let mut options = Options::default();
    for (key, value) in [
        ("SSO_PROVIDERS", "microsoft,google"),
        ("SSO_MICROSOFT_CLIENT_ID", "client"),
        ("SSO_MICROSOFT_CLIENT_SECRET", "secret"),
        ("SSO_GOOGLE_CLIENT_ID", "client"),
        ("SSO_GOOGLE_CLIENT_SECRET", "secret"),
    ] {
        options.extra.push((key, value.to_owned()));
    }
    let app = TestApp::spawn_with(options).await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let olga = self_registered_customer(&app).await;
    // Everyone in one language: English, or SCREENSHOTS_LANGUAGE (`just screenshots`
    // photographs each).
    let lang = std::env::var("SCREENSHOTS_LANGUAGE").unwrap_or_else(|_| "en".into());
    assert!(
        ["en", "nl", "de"].contains(&lang.as_str()),
        "SCREENSHOTS_LANGUAGE: en, nl or de"
    );
    app.sql(&format!("UPDATE users SET language = '{lang}'")).await;
    let dir = std::env::var_os("SCREENSHOTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pd-screens-{}", Uuid::new_v4())));
    std::fs::create_dir_all(&dir).unwrap();
    let j = |tab: &str| format!("/organizations/{jansen}{tab}");
    // A job for the job's page (discarded: neither runs nor counts as a failure).
    let job = app.ping_job("Discarded", "now()").await;
    let eva = app.user_id("eva@jansen.example").await;
    let pages: Vec<(&str, &str, Shots)> = vec![
        (
            "anna@northwind.example",
            DEMO_PASSWORD,
            vec![
                ("home", "/".into()),
                ("my-customers", "/customers".into()),
                ("add-customer", "/customers/new".into()),
                ("create-organization", "/invitations/new".into()),
                ("invitations", "/invitations".into()),
                ("trials", "/trials".into()),
                ("my-account", "/my-account".into()),
                ("customer-details", j("")),
                ("customer-users", j("/users")),
                ("customer-modules", j("/modules")),
                ("customer-orders", j("/orders")),
                ("customer-settings", j("/settings")),
                ("customer-profiles", j("/profiles")),
                ("customer-integrations", j("/integrations")),
                ("customer-audit", j("/audit")),
                ("partner-members", format!("/organizations/{northwind}/members")),
                ("partner-status", "/partner-request".into()),
                ("profile", "/profile".into()),
                ("organizations", "/organizations".into()),
                ("api-tokens", "/tokens".into()),
                ("partner-dashboard", "/dashboard".into()),
                ("partner-commissions", "/commissions".into()),
                ("partner-payouts", "/payouts".into()),
                ("partner-billing-files", "/billing".into()),
                ("partner-affiliate", "/affiliate".into()),
                ("customer-login-as", format!("/customers/{jansen}/login-as?user={eva}")),
                (
                    "customer-ask-permissions",
                    format!("/customers/{jansen}/grant-requests"),
                ),
            ],
        ),
        (
            "jan@jansen.example",
            DEMO_PASSWORD,
            vec![
                ("company-admin-home", "/".into()),
                ("company-admin-users", j("/users")),
                ("company-admin-integrations", j("/integrations")),
                ("company-admin-software", "/software".into()),
            ],
        ),
        (
            "eva@jansen.example",
            DEMO_PASSWORD,
            vec![("user-home", "/".into()), ("user-software", "/software".into())],
        ),
        (
            "olga@olga.example",
            "olga's long password",
            vec![
                ("customer-admin-details", format!("/organizations/{olga}")),
                (
                    "customer-service-provider",
                    format!("/organizations/{olga}/service-provider"),
                ),
                ("customer-members", format!("/organizations/{olga}/members")),
                ("customer-own-settings", format!("/organizations/{olga}/settings")),
                ("customer-audit-log", format!("/organizations/{olga}/audit")),
                (
                    "customer-provider-activity",
                    format!("/organizations/{olga}/service-provider/activity"),
                ),
            ],
        ),
        (
            "sales@vendor.example",
            DEMO_PASSWORD,
            vec![
                ("vendor-partner-requests", "/vendor/requests?status=all".into()),
                ("vendor-partners", "/vendor/partners".into()),
            ],
        ),
        (
            "finance@vendor.example",
            DEMO_PASSWORD,
            vec![
                ("vendor-invoices", "/vendor/invoices?status=all".into()),
                ("vendor-commission-payouts", "/vendor/payouts".into()),
                ("vendor-billing-files", "/billing".into()),
            ],
        ),
        (
            "admin@vendor.example",
            DEMO_PASSWORD,
            vec![
                ("vendor-modules", "/vendor/modules".into()),
                ("vendor-releases", "/vendor/releases".into()),
            ],
        ),
        (
            "ops@vendor.example",
            DEMO_PASSWORD,
            vec![
                ("vendor-job-queue", "/vendor/queues".into()),
                ("vendor-jobs", "/vendor/jobs".into()),
                ("vendor-job", format!("/vendor/jobs/{job}")),
            ],
        ),
    ];
    let expected: usize = pages.iter().map(|(_, _, shots)| shots.len()).sum::<usize>() + 1;
    let browser = Browser::open(&app).await;
    browser.visit("/login").await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#sso-buttons a').length")
            .await,
        2
    );
    browser.screenshot(&dir.join("login.png")).await;
    browser.close().await;
    for (email, password, shots) in pages {
        let browser = Browser::open(&app).await;
        browser.log_in(email, password).await;
        for (name, path) in shots {
            browser.visit(&path).await;
            let error = browser
                .eval("const e = document.querySelector('.error'); return e ? e.innerText : null")
                .await;
            assert!(error.is_null(), "{email} on {path}: {error}");
            assert!(!browser.text_of("h1").await.is_empty(), "{email} on {path}");
            browser.screenshot(&dir.join(format!("{name}.png"))).await;
        }
        browser.close().await;
    }
    let written = std::fs::read_dir(&dir).unwrap().count();
    assert!(
        written >= expected,
        "{written} of {expected} screenshots in {}",
        dir.display()
    );
}

/// A client logged in through the log-in page, as a browser is.
async fn portal_session(app: &TestApp, email: &str) -> reqwest::Client {
    let http = browser_client();
    app.portal_login(&http, email, DEMO_PASSWORD).await;
    http
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_refuse_people_without_the_permission_and_other_tenants() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let j = |tab: &str| format!("/organizations/{jansen}{tab}");
    let eva = portal_session(&app, "eva@jansen.example").await;
    let max = portal_session(&app, "max@alpine.example").await;
    let sales = portal_session(&app, "sales@vendor.example").await;
    let finance = portal_session(&app, "finance@vendor.example").await;
    // Jobs for the job queue's refusals: one to retry, one to discard.
    let discarded = app.ping_job("Discarded", "now()").await;
    let scheduled = app.ping_job("Pending", "now() + interval '1 day'").await;
    // Northwind's own billing run, for the file download refusals.
    let northwind_run = app
        .demo("anna@northwind.example")
        .await
        .post("/api/billing-runs", json!({}))
        .await
        .id();
    let eva_id = app.user_id("eva@jansen.example").await;
    let mut cases: Vec<(&reqwest::Client, &str, String)> = vec![
        // A plain user of the customer: no partner, company or vendor pages.
        (&eva, "a plain user", "/customers".into()),
        (&eva, "a plain user", "/trials".into()),
        (&eva, "a plain user", "/invitations".into()),
        (&eva, "a plain user", "/my-account".into()),
        (&eva, "a plain user", j("/users")),
        (&eva, "a plain user", j("/modules")),
        (&eva, "a plain user", j("/orders")),
        (&eva, "a plain user", j("/integrations")),
        (&eva, "a plain user", j("/members")),
        (&eva, "a plain user", j("/audit")),
        (&eva, "a plain user", "/vendor/requests".into()),
        (&eva, "a plain user", "/vendor/invoices".into()),
        (&eva, "a plain user", "/vendor/modules".into()),
        (&eva, "a plain user", "/vendor/releases".into()),
        (&eva, "a plain user", "/dashboard".into()),
        (&eva, "a plain user", "/commissions".into()),
        (&eva, "a plain user", "/payouts".into()),
        (&eva, "a plain user", "/affiliate".into()),
        (&eva, "a plain user", "/vendor/payouts".into()),
        (&eva, "a plain user", "/billing".into()),
        (&max, "another partner", format!("/billing/{northwind_run}/csv")),
        (&max, "another partner", format!("/billing/{northwind_run}/xlsx")),
        (
            &max,
            "another partner",
            format!("/commissions?partner_id={}", app.org_id("Northwind IT Services").await),
        ),
        // Another partner: none of Northwind's customer's pages.
        (&max, "another partner", j("")),
        (&max, "another partner", j("/users")),
        (&max, "another partner", j("/modules")),
        (&max, "another partner", j("/orders")),
        (&max, "another partner", j("/settings")),
        (&max, "another partner", j("/profiles")),
        (&max, "another partner", j("/integrations")),
        (&max, "another partner", j("/audit")),
        // Delegated administration: only Northwind's staff act for Jansen; only Jansen's
        // administrators read what they did.
        (
            &eva,
            "a plain user",
            format!("/customers/{jansen}/login-as?user={eva_id}"),
        ),
        (
            &max,
            "another partner",
            format!("/customers/{jansen}/login-as?user={eva_id}"),
        ),
        (&max, "another partner", format!("/customers/{jansen}/grant-requests")),
        (&eva, "a plain user", j("/service-provider/activity")),
        (&max, "another partner", j("/service-provider/activity")),
        // Vendor sales: not finance's or the administrators' desks.
        (&sales, "vendor sales", "/vendor/invoices".into()),
        (&sales, "vendor sales", "/vendor/releases".into()),
        (&sales, "vendor sales", "/vendor/payouts".into()),
        (&sales, "vendor sales", "/billing".into()),
    ];
    // The job queue: only vendor ops and administrators, not a customer's user, not a
    // partner, not the vendor's other desks.
    let not_ops = [
        (&eva, "a plain user"),
        (&max, "a partner"),
        (&sales, "vendor sales"),
        (&finance, "vendor finance"),
    ];
    for (client, who) in not_ops {
        cases.push((client, who, "/vendor/queues".into()));
        cases.push((client, who, "/vendor/jobs".into()));
        cases.push((client, who, "/vendor/jobs?queue=ping&state=discarded".into()));
        cases.push((client, who, format!("/vendor/jobs/{discarded}")));
    }
    for (client, who, path) in cases {
        let r = client.get(format!("{}{path}", app.base)).send().await.unwrap();
        let status = r.status();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        let html = r.text().await.unwrap();
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{who} on {path}: {status}"
        );
        assert!(content_type.starts_with("text/html"), "{who} on {path}: {content_type}");
        assert!(
            html.contains("class=\"error\""),
            "{who} on {path}: the refusal is shown in the layout"
        );
        assert!(
            !html.contains("Jan Jansen"),
            "{who} on {path}: nothing of the customer leaks"
        );
    }

    // State-changing forms are refused the same way, and change nothing.
    let (active, beta): (bool, bool) = {
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        use partnerdesk_core::schema::organizations as o;
        o::table
            .filter(o::id.eq(jansen))
            .select((o::active, o::allow_beta))
            .first(&mut app.conn().await)
            .await
            .unwrap()
    };
    let unchanged = format!(
        "SELECT count(*) FROM organizations o JOIN service_provider_links l ON l.customer_id = o.id \
         WHERE o.id = '{jansen}' AND o.active = {active} AND o.allow_beta = {beta} \
         AND l.ended_at IS NULL AND l.commission_rate = 15.00"
    );
    assert_eq!(app.count(&unchanged).await, 1);
    let page = max
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token(&page);
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (j("/customer"), vec![("commission_rate", "1.00")]),
        (j("/deactivate"), vec![]),
        (j("/settings"), vec![("allow_beta", "on")]),
        (
            j("/users"),
            vec![
                ("email", "spy@alpine.example"),
                ("first_name", "S"),
                ("last_name", "Py"),
            ],
        ),
        (
            j("/integrations"),
            vec![("kind", "crm"), ("name", "Spy"), ("settings", "{}")],
        ),
        (
            j("/trials"),
            vec![("module_id", "00000000-0000-0000-0000-000000000000")],
        ),
    ];
    for (path, fields) in posts {
        let mut form = fields.clone();
        form.push(("csrf_token", &token));
        let r = max
            .post(format!("{}{path}", app.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "another partner posting {path}");
    }
    // Anna's invitation and API token, which another partner cannot touch.
    let anna = app.demo("anna@northwind.example").await;
    let invitation = anna
        .post(
            "/api/customer-invitations",
            json!({ "email": "new@customer.example", "company_name": "New Customer" }),
        )
        .await
        .id();
    let anna_token = anna.post("/api/me/tokens", json!({ "name": "anna's" })).await;
    let token_id = anna_token.view::<CreatedToken>().details.id;
    let page = eva
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let eva_token = csrf_token(&page);
    let eva_text: &'static str = Box::leak(eva_id.to_string().into_boxed_str());
    // Anna's identity at a single sign-on provider, which nobody else can remove.
    let anna_identity = Uuid::now_v7();
    app.sql(&format!(
        "INSERT INTO identity_links (id, user_id, provider, issuer, subject, linked_via, counts_for_sso, created_at) \
         SELECT '{anna_identity}', id, 'test', 'https://id.example', 'anna', 'profile', false, now() FROM users WHERE email = 'anna@northwind.example'"
    ))
    .await;
    let mut refused: Vec<(&reqwest::Client, &str, String, Form)> = vec![
        (
            &eva,
            &eva_token,
            "/customers/new".into(),
            vec![("name", "Spy BV"), ("commission_rate", "1")],
        ),
        (
            &eva,
            &eva_token,
            "/invitations/new".into(),
            vec![("email", "x@spy.example"), ("company_name", "Spy BV")],
        ),
        (
            &eva,
            &eva_token,
            j("/users"),
            vec![("email", "spy@jansen.example"), ("first_name", "S"), ("last_name", "P")],
        ),
        (
            &eva,
            &eva_token,
            j("/quotes"),
            vec![
                ("kind", "credits"),
                ("module_id", "00000000-0000-0000-0000-000000000000"),
                ("quantity", "1"),
            ],
        ),
        (
            &eva,
            &eva_token,
            "/vendor/modules".into(),
            vec![
                ("code", "SPY"),
                ("name", "Spy"),
                ("currency", "EUR"),
                ("business_price", "1"),
                ("user_price", "1"),
            ],
        ),
        (
            &eva,
            &eva_token,
            "/vendor/releases".into(),
            vec![
                ("version", "9.9.9"),
                ("channel", "stable"),
                ("file_location", "https://spy.example/x"),
            ],
        ),
        (
            &sales,
            "",
            format!("/vendor/invoices/{}/paid", Uuid::new_v4()),
            vec![("reference", "x")],
        ),
        (&eva, &eva_token, "/billing".into(), vec![("csv_separator", ",")]),
        (&max, &token, format!("/invitations/{invitation}/revoke"), vec![]),
        (&eva, &eva_token, format!("/customers/{jansen}/manage"), vec![]),
        (&max, &token, format!("/customers/{jansen}/manage"), vec![]),
        (
            &max,
            &token,
            format!("/customers/{jansen}/login-as"),
            vec![("user_id", eva_text), ("reason", "spying")],
        ),
        (
            &max,
            &token,
            format!("/customers/{jansen}/grant-requests"),
            vec![("permissions", "import_users")],
        ),
        (
            &eva,
            &eva_token,
            j(&format!("/delegated-sessions/{}/end", Uuid::new_v4())),
            vec![],
        ),
        (
            &max,
            &token,
            j(&format!("/grant-requests/{}/accept", Uuid::new_v4())),
            vec![],
        ),
        (&max, &token, format!("/invitations/{invitation}/resend"), vec![]),
        (&max, &token, format!("/tokens/{token_id}/revoke"), vec![]),
        (
            &max,
            &token,
            format!("/profile/identities/{anna_identity}/remove"),
            vec![],
        ),
        (&eva, &eva_token, j("/sign-in-policy"), vec![("require_sso", "on")]),
        (&max, &token, j("/sign-in-policy"), vec![("require_sso", "on")]),
        (
            &max,
            &token,
            j("/members"),
            vec![("email", "spy@alpine.example"), ("first_name", "S"), ("last_name", "P")],
        ),
    ];
    for (client, csrf) in [
        (&eva, eva_token.as_str()),
        (&max, token.as_str()),
        (&sales, ""),
        (&finance, ""),
    ] {
        for path in [
            format!("/vendor/jobs/{discarded}/retry"),
            format!("/vendor/jobs/{scheduled}/discard"),
            "/vendor/queues/ping/pause".into(),
            "/vendor/queues/ping/resume".into(),
            "/vendor/queues/ping/retry-given-up".into(),
        ] {
            refused.push((client, csrf, path, vec![]));
        }
    }
    for (client, csrf, path, fields) in refused {
        let csrf = if csrf.is_empty() {
            let page = client
                .get(format!("{}/", app.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            csrf_token(&page)
        } else {
            csrf.to_owned()
        };
        let mut form = fields.clone();
        form.push(("csrf_token", &csrf));
        let r = client
            .post(format!("{}{path}", app.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::NOT_FOUND,
            "posting {path}: {}",
            r.status()
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE name = 'Spy BV'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM billing_runs").await,
        1,
        "no refused billing run"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM customer_invitations WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM modules WHERE code = 'SPY'").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM identity_links").await,
        1,
        "Anna's identity stays"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE require_sso").await,
        0,
        "nobody required single sign-on"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM delegated_sessions").await
            + app.count("SELECT count(*) FROM grant_requests").await,
        0,
        "no refused session or request"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM queue_pauses").await,
        0,
        "no queue was paused"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM apalis.jobs WHERE (id = '{discarded}' AND status = 'Discarded') \
             OR (id = '{scheduled}' AND status = 'Pending')"
        ))
        .await,
        2,
        "the jobs are as they were"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'job%' OR action LIKE 'queue.%'")
            .await,
        0,
        "no refused job action was taken"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM releases WHERE version = '9.9.9'").await,
        0
    );

    // A plain user may read the settings (as through the API) but not change them.
    let page = eva
        .get(format!("{}{}", app.base, j("/settings")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = eva
        .post(format!("{}{}", app.base, j("/settings")))
        .form(&[("csrf_token", csrf_token(&page).as_str()), ("allow_beta", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a plain user changing settings");
    assert_eq!(
        app.count(&unchanged).await,
        1,
        "Jansen's status, settings and rate are as they were"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email = 'spy@alpine.example'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM integrations WHERE name = 'Spy'").await,
        0
    );
}

/// A page as a logged-in browser gets it: status and HTML.
async fn fetch(app: &TestApp, http: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let r = http.get(format!("{}{path}", app.base)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Posts one of a page's buttons (a form with only its CSRF token): status and, for a
/// redirect, where to; else the page's HTML.
async fn press(app: &TestApp, http: &reqwest::Client, csrf: &str, path: &str) -> (StatusCode, String) {
    let r = http
        .post(format!("{}{path}", app.base))
        .form(&[("csrf_token", csrf)])
        .send()
        .await
        .unwrap();
    let status = r.status();
    match r.headers().get("location") {
        Some(to) => (status, to.to_str().unwrap().to_owned()),
        None => (status, r.text().await.unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_pages_show_vendor_ops_and_administrators_the_job_queue() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let discarded = app.ping_job("Discarded", "now()").await;
    let scheduled = app.ping_job("Pending", "now() + interval '1 day'").await;
    // A given-up e-mail job whose e-mail never went out, with a secret in its payload.
    let unsent = ulid::Ulid::new().to_string();
    app.sql(
        "INSERT INTO email_deliveries (id, event_key, template, recipient, status, attempts, last_error, created_at)
         VALUES (gen_random_uuid(), 'ops-pages-unsent', 'password_reset', 'x@example.com', 'failed', 1, 'refused', now())",
    )
    .await;
    app.sql(&format!(
        r#"INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, done_at, last_result, idempotency_key)
           VALUES ('{unsent}', 'send_email', convert_to('{{"delivery": "ops-pages-unsent", "reset_token": "s3cret-value"}}', 'UTF8'),
                   'Killed', 1, 1, now(), 0, now(), '{{"Err": "smtp refused"}}'::jsonb, 'ops-pages-unsent')"#
    ))
    .await;

    for email in ["ops@vendor.example", "admin@vendor.example"] {
        let http = portal_session(&app, email).await;
        let (status, html) = fetch(&app, &http, "/vendor/queues").await;
        assert_eq!(status, StatusCode::OK, "{email}: {html}");
        assert!(
            html.contains(">Job queue</a>"),
            "{email}: the navigation has the job queue"
        );
        assert!(
            html.contains("http-equiv=\"refresh\""),
            "{email}: the page refreshes itself"
        );
        for queue in ["send_email", "recompute_commissions", "render_billing_run", "ping"] {
            assert!(html.contains(&format!("id=\"queue-{queue}\"")), "{email}: {queue}");
        }
        assert!(
            html.contains("1 given-up e-mail job never sent its e-mail."),
            "{email}: {html}"
        );
        assert!(html.contains("href=\"/vendor/jobs?queue=send_email&amp;state=given_up\""));
        assert!(html.contains("action=\"/vendor/queues/send_email/retry-given-up\""));
        assert!(
            !html.contains("action=\"/vendor/queues/ping/retry-given-up\""),
            "nothing given up"
        );
        assert!(html.contains("action=\"/vendor/queues/ping/pause\""));

        let (status, html) = fetch(&app, &http, "/vendor/jobs?queue=ping").await;
        assert_eq!(status, StatusCode::OK, "{email}: {html}");
        assert!(html.contains(&discarded) && html.contains(&scheduled), "{html}");
        let (_, html) = fetch(&app, &http, "/vendor/jobs?queue=ping&state=discarded").await;
        assert!(html.contains(&discarded) && !html.contains(&scheduled), "{html}");
        let (_, html) = fetch(&app, &http, "/vendor/jobs?state=given_up").await;
        assert!(html.contains(&unsent) && html.contains("e-mail never sent"), "{html}");

        let (status, html) = fetch(&app, &http, &format!("/vendor/jobs/{unsent}")).await;
        assert_eq!(status, StatusCode::OK, "{email}: {html}");
        assert!(html.contains("This e-mail was never sent."), "{html}");
        assert!(
            html.contains("smtp refused") && html.contains("ops-pages-unsent"),
            "{html}"
        );
        assert!(html.contains("[redacted]") && !html.contains("s3cret-value"), "{html}");
        assert!(
            html.contains("Retry now") && !html.contains(">Discard</button>"),
            "{html}"
        );
        assert!(!html.contains("http-equiv=\"refresh\""), "a given-up job's page stays");
        let (_, html) = fetch(&app, &http, &format!("/vendor/jobs/{scheduled}")).await;
        assert!(
            html.contains(">Discard</button>") && html.contains("Retry now"),
            "{html}"
        );
        assert!(
            html.contains("http-equiv=\"refresh\""),
            "a scheduled job's page refreshes"
        );

        let (status, html) = fetch(&app, &http, "/vendor/jobs?state=sleeping").await;
        assert!(status.is_client_error(), "{status}");
        assert!(
            html.contains("Not a job state") && html.contains("id=\"job-filter\""),
            "{html}"
        );
        let (status, _) = fetch(&app, &http, "/vendor/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // Ops pause and resume a queue, discard a job, and an administrator retries one; a
    // button that does not apply says why on its page.
    let ops = portal_session(&app, "ops@vendor.example").await;
    let csrf = csrf_token(&fetch(&app, &ops, "/vendor/queues").await.1);
    let redirected = |to: &str| (StatusCode::SEE_OTHER, to.to_owned());
    let paused = press(&app, &ops, &csrf, "/vendor/queues/ping/pause").await;
    assert_eq!(paused, redirected("/vendor/queues?notice=queue_paused"));
    let (_, html) = fetch(&app, &ops, "/vendor/queues?notice=queue_paused").await;
    assert!(html.contains("The queue is paused") && html.contains("action=\"/vendor/queues/ping/resume\""));
    let (status, html) = press(&app, &ops, &csrf, "/vendor/queues/ping/pause").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        html.contains("The queue is already paused") && html.contains("id=\"queues\""),
        "{html}"
    );
    let resumed = press(&app, &ops, &csrf, "/vendor/queues/ping/resume").await;
    assert_eq!(resumed, redirected("/vendor/queues?notice=queue_resumed"));
    let retried = press(&app, &ops, &csrf, "/vendor/queues/ping/retry-given-up").await;
    assert_eq!(retried, redirected("/vendor/queues?notice=jobs_retried"));
    let (status, html) = press(&app, &ops, &csrf, "/vendor/queues/nosuch/pause").await;
    assert!(
        status.is_client_error() && html.contains("No queue has this name"),
        "{status}: {html}"
    );

    let gone = press(&app, &ops, &csrf, &format!("/vendor/jobs/{scheduled}/discard")).await;
    assert_eq!(
        gone,
        redirected(&format!("/vendor/jobs/{scheduled}?notice=job_discarded"))
    );
    let (_, html) = fetch(&app, &ops, &format!("/vendor/jobs/{scheduled}?notice=job_discarded")).await;
    assert!(html.contains("The job has been discarded") && !html.contains(">Discard</button>"));
    let (status, html) = press(&app, &ops, &csrf, &format!("/vendor/jobs/{scheduled}/discard")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        html.contains("Only a pending, scheduled or retrying job can be discarded") && html.contains(&scheduled),
        "{html}"
    );

    let admin = portal_session(&app, "admin@vendor.example").await;
    let csrf = csrf_token(&fetch(&app, &admin, "/vendor/queues").await.1);
    let again = press(&app, &admin, &csrf, &format!("/vendor/jobs/{discarded}/retry")).await;
    assert_eq!(
        again,
        redirected(&format!("/vendor/jobs/{discarded}?notice=job_retried"))
    );
    app.settle().await;
    let (_, html) = fetch(&app, &admin, &format!("/vendor/jobs/{discarded}")).await;
    assert!(html.contains("id=\"job-state\">done<"), "{html}");
    for action in [
        "queue.paused",
        "queue.resumed",
        "jobs.retried",
        "job.discarded",
        "job.retried",
    ] {
        let n = app
            .count(&format!("SELECT count(*) FROM audit_log WHERE action = '{action}'"))
            .await;
        assert_eq!(n, 1, "{action}");
    }
    // A long list pages on, keeping its filter: 55 more done ping jobs and the retried one.
    let rows: Vec<String> = (0..55)
        .map(|_| {
            let id = ulid::Ulid::new();
            format!("('{id}', 'ping', convert_to('{{}}', 'UTF8'), 'Done', 1, 1, now(), 0, now())")
        })
        .collect();
    app.sql(&format!(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, done_at) VALUES {}",
        rows.join(", ")
    ))
    .await;
    let (_, html) = fetch(&app, &admin, "/vendor/jobs?queue=ping&state=done").await;
    assert_eq!(html.matches("<tr id=\"job-").count(), 50);
    let cursor = html
        .split("href=\"/vendor/jobs?queue=ping&amp;state=done&amp;cursor=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a next page that keeps the filter: {html}"));
    let next = format!("/vendor/jobs?queue=ping&state=done&cursor={cursor}");
    let (status, html) = fetch(&app, &admin, &next).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(html.matches("<tr id=\"job-").count(), 6, "{html}");
    assert!(!html.contains("rel=\"next\""), "the last page");

    // The given-up e-mail was only shown; it is no failure of this test.
    app.sql("DELETE FROM apalis.jobs WHERE job_type = 'send_email' AND status = 'Killed'")
        .await;
    app.sql("DELETE FROM email_deliveries WHERE event_key = 'ops-pages-unsent'")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_session_a_page_sends_to_log_in_and_back() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let browser = Browser::open(&app).await;
    browser.visit(&format!("/organizations/{jansen}/users")).await;
    assert_eq!(browser.path().await, "/login");
    browser.fill("email", "anna@northwind.example").await;
    browser.fill("password", DEMO_PASSWORD).await;
    browser.press("Log in").await;
    assert_eq!(browser.path().await, format!("/organizations/{jansen}/users"));
    assert!(browser.text_of("#users").await.contains("jan@jansen.example"));

    // An unknown address is a page in the layout, not JSON.
    browser.visit("/no-such-page").await;
    assert!(browser.text().await.contains("Not Found"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organization_switcher_changes_who_one_acts_for() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    // Anna also belongs to a second organization.
    let anna = app.demo("anna@northwind.example").await;
    let r = anna.post("/api/organizations", json!({ "name": "Anna's Lab" })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let browser = Browser::open(&app).await;
    browser.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    assert!(browser.navigation().await.contains(&"My customers".to_owned()));
    browser.choose("organization_id", &r.id().to_string()).await;
    browser.press("Switch").await;
    assert!(browser.text().await.contains("You act for Anna's Lab."));
    assert!(
        !browser.navigation().await.contains(&"My customers".to_owned()),
        "Anna's Lab is no partner"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_its_token_is_refused_in_the_browser() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let browser = Browser::open(&app).await;
    browser.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    browser.visit("/customers/new").await;
    browser.fill("name", "Forged BV").await;
    browser.fill("commission_rate", "10").await;
    browser
        .eval("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.remove()); return null")
        .await;
    browser.press("Add customer").await;
    let text = browser.text().await;
    assert!(
        text.contains("Refused") && text.contains("did not come from this site"),
        "{text}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE name = 'Forged BV'")
            .await,
        0
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_speak_the_persons_language_else_the_browsers() {
    let app = TestApp::spawn().await;
    // Before logging in: the browser's Accept-Language, else English.
    for (accept, expected) in [
        ("de-DE,de;q=0.9,en;q=0.8", "Passwort vergessen?"),
        ("fr-FR, nl;q=0.5", "Wachtwoord vergeten?"),
        ("fr-FR", "Forgot your password?"),
    ] {
        let html = reqwest::Client::new()
            .get(format!("{}/login", app.base))
            .header("accept-language", accept)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(expected), "{accept}: {html}");
    }

    // Logged in: the person's own language (Anna speaks Dutch), whatever the browser
    // says; a form's messages too.
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    assert_eq!(anna.eval("return document.documentElement.lang").await, "nl");
    assert!(anna.navigation().await.contains(&"Mijn klanten".to_owned()));
    anna.visit("/customers/new").await;
    anna.fill("name", "Hoek Advies").await;
    anna.fill("commission_rate", "150").await;
    anna.press("Klant toevoegen").await;
    assert_eq!(
        anna.text_of("#commission_rate-error").await,
        "Een percentage moet tussen 0 en 100 liggen"
    );
    assert!(anna.text().await.contains("Verbeter de gemarkeerde velden."));
    anna.close().await;

    // Max (Alpine) speaks German.
    let max = Browser::open(&app).await;
    max.log_in("max@alpine.example", DEMO_PASSWORD).await;
    let nav = max.navigation().await;
    assert!(
        nav.contains(&"Meine Kunden".to_owned()) && nav.contains(&"Profil".to_owned()),
        "{nav:?}"
    );
    max.close().await;
}
