//! Self-registration of a partner company: link by e-mail, form, confirmation e-mail,
//! and every way a link can stop working.

use chrono::Duration;
use partnerdesk_web::api::tenancy::{
    partners::{PartnerRequestView, PartnerState, PartnerStatusView},
    registrations::RegistrationView,
};
use serde_json::json;

use crate::harness::TestApp;

fn form() -> serde_json::Value {
    json!({
        "first_name": "Frank",
        "last_name": "Bakker",
        "password": "a long passphrase",
        "company": "Fabrikam Networks",
        "website": "fabrikam.example",
        "country": "nl",
        "expected_customers": 40,
        "message": "Dental practices in Utrecht"
    })
}

/// Asks for a registration link and returns the token from the newest e-mail.
async fn request_link(app: &TestApp, email: &str) -> String {
    let is_link = |m: &partnerdesk_testkit::ReceivedMail| {
        m.envelope_to.contains(&email.to_owned()) && m.subject == "Confirm your partner registration"
    };
    let before = app.smtp.messages().iter().filter(|m| is_link(m)).count();
    let r = app
        .anonymous()
        .post("/api/partner-registrations", json!({ "email": email }))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let prefix = format!("{}/register/partner/", app.base);
    let mails = app
        .smtp
        .wait_for(before + 1, std::time::Duration::from_secs(15), is_link)
        .await;
    mails
        .last()
        .unwrap()
        .link(&prefix)
        .expect("a registration link")
        .trim_start_matches(&prefix)
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_registers_through_the_emailed_link() {
    let app = TestApp::spawn().await;
    let token = request_link(&app, "frank@fabrikam.example").await;
    let anon = app.anonymous();

    let info = anon.get(&format!("/api/partner-registrations/{token}")).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.view::<RegistrationView>().email, "frank@fabrikam.example");

    // Field errors come back together and nothing is created.
    let (organizations, requests) = (
        "SELECT count(*) AS count FROM organizations",
        "SELECT count(*) AS count FROM partner_requests",
    );
    let (organizations_before, requests_before) = (app.count(organizations).await, app.count(requests).await);
    let r = anon.post(&format!("/api/partner-registrations/{token}"), json!({ "first_name": "Frank", "last_name": "", "password": "short", "company": "F", "country": "Holland" })).await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["country", "expected_customers", "last_name", "password"]);
    let frank = "SELECT count(*) AS count FROM users WHERE email = 'frank@fabrikam.example'";
    assert_eq!(app.count(frank).await, 0, "no account");
    assert_eq!(app.count(organizations).await, organizations_before, "no organization");
    assert_eq!(app.count(requests).await, requests_before, "no partner request");

    let r = anon.post(&format!("/api/partner-registrations/{token}"), form()).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // A confirmation, and the request acknowledgement.
    app.smtp
        .expect_one(
            "frank@fabrikam.example",
            "Your registration for Fabrikam Networks is complete",
        )
        .await;
    app.smtp
        .expect_one(
            "frank@fabrikam.example",
            "We received your partner request for Fabrikam Networks",
        )
        .await;

    // The link works once.
    anon.get(&format!("/api/partner-registrations/{token}"))
        .await
        .assert_problem(410, "link_used");
    anon.post(&format!("/api/partner-registrations/{token}"), form())
        .await
        .assert_problem(410, "link_used");

    // Frank can log in; his organization's request waits for sales.
    let frank = app.login("frank@fabrikam.example", "a long passphrase").await;
    let status = frank.get("/api/partner-status").await;
    assert_eq!(status.status, 200, "{}", status.body);
    let status: PartnerStatusView = status.view();
    assert_eq!(status.state, PartnerState::Requested);
    let request = status.request.expect("the request");
    assert_eq!(request.country, "NL");
    assert_eq!(request.website.as_deref(), Some("https://fabrikam.example/"));
    let sales = app.demo("sales@vendor.example").await;
    let open: Vec<PartnerRequestView> = sales.get("/api/partner-requests?status=open").await.view();
    assert!(open.iter().any(|r| r.company == "Fabrikam Networks"));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_replaced_and_unknown_links_are_refused() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let first = request_link(&app, "frank@fabrikam.example").await;
    // Asking again sends a new link and retires the first.
    let second = request_link(&app, "frank@fabrikam.example").await;
    assert_ne!(first, second);
    anon.get(&format!("/api/partner-registrations/{first}"))
        .await
        .assert_problem(410, "link_invalid");
    assert_eq!(
        anon.get(&format!("/api/partner-registrations/{second}")).await.status,
        200
    );

    app.advance(Duration::hours(49));
    anon.get(&format!("/api/partner-registrations/{second}"))
        .await
        .assert_problem(410, "link_expired");
    anon.post(&format!("/api/partner-registrations/{second}"), form())
        .await
        .assert_problem(410, "link_expired");
    anon.get("/api/partner-registrations/garbage")
        .await
        .assert_problem(410, "link_invalid");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_account_is_sent_to_log_in() {
    let app = TestApp::spawn().await;
    // Asking with an address that has an account is answered like any other address;
    // the mailbox gets a note to log in instead of a registration link.
    let anon = app.anonymous();
    let known = anon
        .post(
            "/api/partner-registrations",
            json!({ "email": "anna@northwind.example" }),
        )
        .await;
    let unknown = anon
        .post(
            "/api/partner-registrations",
            json!({ "email": "nobody@fabrikam.example" }),
        )
        .await;
    // The whole answers compared as JSON: exactly alike, so nothing tells them apart.
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let note = app
        .smtp
        .expect_one("anna@northwind.example", "u heeft al een account")
        .await;
    assert!(note.text.contains(&format!("{}/login", app.base)), "{}", note.text);
    assert!(
        !note.text.contains("/register/partner/"),
        "no registration link: {}",
        note.text
    );

    // An address that got an account after its link went out is sent to log in at the
    // end, and the link keeps working (nothing was half-written).
    let token = request_link(&app, "late@fabrikam.example").await;
    app.sign_up("late@fabrikam.example", "Late", "Comer", "long enough password")
        .await;
    let r = anon.post(&format!("/api/partner-registrations/{token}"), form()).await;
    r.assert_problem(409, "email_taken");
    assert_eq!(
        anon.get(&format!("/api/partner-registrations/{token}")).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registration_pages_work_in_a_browser() {
    let app = TestApp::spawn().await;
    let token = request_link(&app, "frank@fabrikam.example").await;
    let http = crate::harness::browser_client();
    let page = http
        .get(format!("{}/register/partner/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Registering as frank@fabrikam.example"));
    let csrf = crate::harness::csrf_token(&html);

    let submit = http
        .post(format!("{}/register/partner/{token}", app.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("first_name", "Frank"),
            ("last_name", "Bakker"),
            ("password", "a long passphrase"),
            ("company", "Fabrikam Networks"),
            ("website", ""),
            ("country", "NL"),
            ("expected_customers", "12"),
            ("message", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status(), 200);
    assert!(submit.text().await.unwrap().contains("Registration complete"));

    let used = http
        .get(format!("{}/register/partner/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 410);
    assert!(used.text().await.unwrap().contains("already been used"));
}
