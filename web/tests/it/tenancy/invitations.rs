//! Inviting a customer by e-mail and registering through the link, end to end through
//! the SMTP sink; reuse, expiry, resend and revoke.

use chrono::Duration;
use partnerdesk_core::platform::{
    authz::Role,
    values::{CustomerOrigin, InvitationStatus},
};
use partnerdesk_web::api::{
    delegation::ServiceProviderState,
    dev::MailView,
    tenancy::{
        customers::CustomerPage,
        invitations::{AcceptedView, InvitationPreview, InvitationView},
        users::{ImportResult, UserOverviewView},
    },
};
use serde_json::json;

use crate::fixtures::me;
use crate::harness::{Client, TestApp};

/// The partner's customer invitations, as listed with `query` (e.g. `?status=all`).
async fn invitations(client: &Client, query: &str) -> Vec<InvitationView> {
    let r = client.get(&format!("/api/customer-invitations{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view()
}

/// Invites and returns (invitation id, token from the newest e-mail).
async fn invite(app: &TestApp, client: &crate::harness::Client, email: &str, language: &str) -> (uuid::Uuid, String) {
    let before = app.smtp.to(email).len();
    let r = client
        .post(
            "/api/customer-invitations",
            json!({ "email": email, "company_name": "Visser Transport", "contact_name": "Vera Visser", "language": language, "country": "NL", "debtor_number": format!("D-{email}") }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mails = app
        .smtp
        .wait_for(before + 1, std::time::Duration::from_secs(15), |m| {
            m.envelope_to.contains(&email.to_owned())
        })
        .await;
    let prefix = format!("{}/register/customer/", app.base);
    let token = mails
        .last()
        .unwrap()
        .link(&prefix)
        .expect("a registration link")
        .trim_start_matches(&prefix)
        .to_owned();
    (r.id(), token)
}

fn registration() -> serde_json::Value {
    json!({ "first_name": "Vera", "last_name": "Visser", "password": "vera's long password" })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_customer_registers_and_appears_in_my_customers() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let (id, token) = invite(&app, &anna, "vera@visser.example", "nl").await;

    // The e-mail is in the customer's language and names the partner.
    let mail = app.smtp.to("vera@visser.example").pop().unwrap();
    assert!(mail.subject.contains("Northwind IT Services"), "{}", mail.subject);
    assert!(
        mail.text.contains("Beste Vera Visser") || mail.text.contains("Vera Visser"),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains("Hello"), "Dutch, not English: {}", mail.text);

    let open = invitations(&anna, "").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].status, InvitationStatus::Open);
    assert_eq!(open[0].commission_rate, "20.00", "the partner's default rate");

    let anon = app.anonymous();
    let preview = anon.get(&format!("/api/customer-registrations/{token}")).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let preview: InvitationPreview = preview.view();
    assert_eq!(preview.partner_name, "Northwind IT Services");
    assert_eq!(preview.company_name, "Visser Transport");

    let r = anon
        .post(&format!("/api/customer-registrations/{token}"), registration())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let org = r.view::<AcceptedView>().organization_id;

    // In My customers, with origin invitation and the invitation's details.
    let list: CustomerPage = anna.get("/api/customers").await.view();
    let visser = list
        .items
        .into_iter()
        .find(|c| c.company == "Visser Transport")
        .expect("listed");
    assert_eq!(visser.origin, CustomerOrigin::Invitation);
    assert_eq!(visser.debtor_number.as_deref(), Some("D-vera@visser.example"));
    assert_eq!(visser.name.as_deref(), Some("Vera Visser"));
    assert!(
        visser.granted_permissions.is_empty(),
        "the customer decides what the partner may do"
    );
    assert_eq!(
        invitations(&anna, "?status=accepted").await[0].organization_id,
        Some(org)
    );
    assert!(invitations(&anna, "").await.is_empty());

    // The partner hears about it; the customer's administrator can log in and sees its partner.
    app.smtp.expect_one("anna@northwind.example", "Visser Transport").await;
    let vera = app.login("vera@visser.example", "vera's long password").await;
    let sp = vera
        .get(&format!("/api/organizations/{org}/service-provider"))
        .await
        .view::<ServiceProviderState>()
        .service_provider
        .expect("a service provider");
    assert_eq!(sp.name, "Northwind IT Services");
    assert_eq!(sp.origin, CustomerOrigin::Invitation);
    assert_eq!(me(&vera).await.organizations[0].role, Role::Administrator);

    // The link works once.
    anon.get(&format!("/api/customer-registrations/{token}"))
        .await
        .assert_problem(410, "link_used");
    anon.post(&format!("/api/customer-registrations/{token}"), registration())
        .await
        .assert_problem(410, "link_used");
    anna.post(&format!("/api/customer-invitations/{id}/resend"), json!({}))
        .await
        .assert_problem(409, "invitation_accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn links_expire_can_be_resent_and_revoked() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let anon = app.anonymous();

    // Resend: a new link, the old one stops working.
    let (id, first) = invite(&app, &anna, "vera@visser.example", "en").await;
    let r = anna
        .post(&format!("/api/customer-invitations/{id}/resend"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mails = app
        .smtp
        .wait_for(2, std::time::Duration::from_secs(15), |m| {
            m.envelope_to.contains(&"vera@visser.example".to_owned())
        })
        .await;
    let prefix = format!("{}/register/customer/", app.base);
    let second = mails
        .last()
        .unwrap()
        .link(&prefix)
        .unwrap()
        .trim_start_matches(&prefix)
        .to_owned();
    assert_ne!(first, second);
    anon.get(&format!("/api/customer-registrations/{first}"))
        .await
        .assert_problem(410, "link_invalid");
    assert_eq!(
        anon.get(&format!("/api/customer-registrations/{second}")).await.status,
        200
    );

    // Expiry after 14 days; a resend revives it.
    app.advance(Duration::days(15));
    let anna = app.demo("anna@northwind.example").await;
    anon.get(&format!("/api/customer-registrations/{second}"))
        .await
        .assert_problem(410, "link_expired");
    assert_eq!(invitations(&anna, "?status=expired").await[0].id, id);
    let r = anna
        .post(&format!("/api/customer-invitations/{id}/resend"), json!({}))
        .await;
    assert_eq!(r.view::<InvitationView>().status, InvitationStatus::Open);

    // Revoke.
    let (other, token) = invite(&app, &anna, "kees@example.com", "de").await;
    let r = anna
        .post(&format!("/api/customer-invitations/{other}/revoke"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.view::<InvitationView>().status, InvitationStatus::Revoked);
    anon.get(&format!("/api/customer-registrations/{token}"))
        .await
        .assert_problem(410, "link_revoked");
    anon.post(&format!("/api/customer-registrations/{token}"), registration())
        .await
        .assert_problem(410, "link_revoked");
    anna.post(&format!("/api/customer-invitations/{other}/resend"), json!({}))
        .await
        .assert_problem(409, "invitation_revoked");
    anon.get("/api/customer-registrations/garbage")
        .await
        .assert_problem(410, "link_invalid");

    // A German invitation is in German.
    let de = app.smtp.to("kees@example.com").pop().unwrap();
    assert!(de.text.contains("Guten Tag"), "{}", de.text);

    // Another partner sees none of this and cannot touch it.
    let max = app.demo("max@alpine.example").await;
    assert!(invitations(&max, "?status=all").await.is_empty());
    max.post(&format!("/api/customer-invitations/{id}/resend"), json!({}))
        .await
        .assert_problem(404, "not_found");
    max.post(&format!("/api/customer-invitations/{id}/revoke"), json!({}))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_invitation_form_is_validated() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post("/api/customer-invitations", json!({ "email": "no", "company_name": "", "language": "fr", "country": "ZZ", "commission_rate": "101", "customer_type": "X" }))
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "commission_rate",
            "company_name",
            "country",
            "customer_type",
            "email",
            "language"
        ]
    );
    assert!(invitations(&anna, "?status=all").await.is_empty());
    app.settle().await;
    assert!(app.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_done_when_journey_through_the_development_mailbox() {
    // As from `just run`: the demo partner invites a customer, the e-mail is in the
    // mailbox, the customer registers, appears in My customers, and its administrator
    // imports users from a CSV file with one bad row that is reported.
    let app = TestApp::spawn_with(crate::harness::Options {
        smtp: false,
        development: true,
        ..Default::default()
    })
    .await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post(
            "/api/customer-invitations",
            json!({ "email": "owner@newco.example", "company_name": "NewCo", "language": "en" }),
        )
        .await;
    assert_eq!(r.status, 201);
    app.settle().await;
    let mailbox = app.anonymous().get("/api/dev/mailbox?to=owner@newco.example").await;
    let text = mailbox.view::<Vec<MailView>>().remove(0).text;
    let prefix = format!("{}/register/customer/", app.base);
    let start = text.find(&prefix).unwrap();
    let token: String = text[start + prefix.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let r = app
        .anonymous()
        .post(&format!("/api/customer-registrations/{token}"), registration())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let org = r.view::<AcceptedView>().organization_id;
    assert!(
        anna.get("/api/customers")
            .await
            .view::<CustomerPage>()
            .items
            .iter()
            .any(|c| c.company == "NewCo")
    );

    let owner = app.login("owner@newco.example", "vera's long password").await;
    let csv = "email,first_name,last_name,extension,company_admin\nann@newco.example,Ann,Smit,201,no\nnot-an-email,Bob,Bakker,202,no\ncees@newco.example,Cees,Kok,203,yes\n";
    let r = owner
        .post_bytes(
            &format!("/api/organizations/{org}/users/import"),
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["rows[3].email"]);
    let r = owner
        .post_bytes(
            &format!("/api/organizations/{org}/users/import?valid_only=true"),
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let result: ImportResult = r.view();
    assert_eq!(result.imported, 2);
    assert_eq!(result.skipped[0].line, 3);
    let users: Vec<UserOverviewView> = owner.get(&format!("/api/organizations/{org}/users")).await.view();
    let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(
        emails,
        ["owner@newco.example", "ann@newco.example", "cees@newco.example"],
        "the owner, then the imported people, pending until they accept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registration_page_works_in_a_browser() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let (_, token) = invite(&app, &anna, "vera@visser.example", "en").await;
    let http = crate::harness::browser_client();
    let page = http
        .get(format!("{}/register/customer/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Northwind IT Services"));
    let csrf = crate::harness::csrf_token(&html);
    let done = http
        .post(format!("{}/register/customer/{token}", app.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("first_name", "Vera"),
            ("last_name", "Visser"),
            ("password", "vera's long password"),
            ("company_name", "Visser Transport"),
            ("country", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Visser Transport has been created"));
    let again = http
        .get(format!("{}/register/customer/{token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410);
}
