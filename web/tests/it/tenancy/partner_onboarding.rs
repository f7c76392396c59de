//! Requesting partner status, the exact refusals, and the sales team's decision with its
//! e-mail.

use std::time::Duration;

use partnerdesk_core::platform::{
    authz::Permission,
    values::{PartnerRequestStatus, PartnerStanding},
};
use partnerdesk_web::api::{
    dev::MailView,
    identity::auth::MeView,
    tenancy::{
        audit::AuditEntryView,
        partners::{ApprovalView, PartnerRequestView, PartnerState, PartnerStatusView},
    },
};
use serde_json::json;

use crate::harness::{Client, Options, Problem, TestApp};

/// The state `client`'s organization is in, as far as partner status goes.
async fn partner_state(client: &Client) -> PartnerState {
    let r = client.get("/api/partner-status").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view::<PartnerStatusView>().state
}

const NO_ORGANIZATION: &str = "Your account does not yet have an organization";
const NOT_AUTHORIZED: &str = "You do not have the necessary authorization to view this page";

fn request_form(email: &str) -> serde_json::Value {
    json!({
        "company": "Fabrikam Networks",
        "contact_name": "Frank Bakker",
        "contact_email": email,
        "website": "fabrikam.example",
        "country": "NL",
        "expected_customers": 40,
        "message": "We serve 40 dental practices."
    })
}

/// An account with an organization it administers.
async fn org_admin(app: &TestApp, email: &str, org_name: &str) -> crate::harness::Client {
    let client = app.sign_up(email, "Frank", "Bakker", "long enough password").await;
    let r = client
        .post("/api/organizations", json!({ "name": org_name, "country": "NL" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_without_an_organization_is_told_so() {
    let app = TestApp::spawn().await;
    let client = app
        .sign_up("solo@example.com", "Solo", "User", "long enough password")
        .await;

    for r in [
        client.get("/api/partner-status").await,
        client
            .post("/api/partner-requests", request_form("solo@example.com"))
            .await,
    ] {
        r.assert_problem(403, "no_organization");
        assert_eq!(r.parse::<Problem>().detail, NO_ORGANIZATION);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_without_the_permission_is_refused_until_granted() {
    let app = TestApp::spawn().await;
    // Eva is a plain user of a customer.
    let eva = app.demo("eva@jansen.example").await;
    for r in [
        eva.get("/api/partner-status").await,
        eva.post("/api/partner-requests", request_form("eva@jansen.example"))
            .await,
    ] {
        r.assert_problem(403, "not_authorized");
        assert_eq!(r.parse::<Problem>().detail, NOT_AUTHORIZED);
    }

    // Dave is a member of Frank's organization without permissions.
    let frank = org_admin(&app, "frank@fabrikam.example", "Fabrikam Networks").await;
    let dave = app
        .sign_up("dave@fabrikam.example", "Dave", "Smit", "long enough password")
        .await;
    let org = frank
        .get("/api/me")
        .await
        .view::<MeView>()
        .acting_organization_id
        .unwrap();
    let r = frank
        .post(
            &format!("/api/organizations/{org}/members"),
            json!({ "email": "dave@fabrikam.example", "first_name": "Dave", "last_name": "Smit" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Dave has an account: he joins only once he accepts.
    dave.get("/api/partner-status")
        .await
        .assert_problem(403, "no_organization");
    app.accept_invitation(&dave, org).await;
    let r = dave.get("/api/partner-status").await;
    r.assert_problem(403, "not_authorized");
    assert_eq!(r.parse::<Problem>().detail, NOT_AUTHORIZED);

    // His administrator grants "request partner status"; now he sees the form.
    let dave_id = app.user_id("dave@fabrikam.example").await;
    let r = frank
        .patch(
            &format!("/api/organizations/{org}/members/{dave_id}"),
            json!({ "permissions": ["request_partner_status"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = dave.get("/api/partner-status").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let status: PartnerStatusView = r.view();
    assert_eq!(status.state, PartnerState::Eligible);
    let prefill = status.prefill.expect("a prefilled form");
    assert_eq!(prefill.company, "Fabrikam Networks");
    assert_eq!(prefill.contact_email, "dave@fabrikam.example");
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_creates_the_partner_and_emails_the_decision_once() {
    let app = TestApp::spawn().await;
    let frank = org_admin(&app, "frank@fabrikam.example", "Fabrikam Networks").await;

    let r = frank
        .post("/api/partner-requests", request_form("frank@fabrikam.example"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let request_id = r.id();
    assert_eq!(r.view::<PartnerRequestView>().status, PartnerRequestStatus::Open);
    app.smtp
        .expect_one("frank@fabrikam.example", "We received your partner request")
        .await;

    // The request waits for sales; a second one is refused.
    assert_eq!(partner_state(&frank).await, PartnerState::Requested);
    frank
        .post("/api/partner-requests", request_form("frank@fabrikam.example"))
        .await
        .assert_problem(409, "partner_request_open");

    let sales = app.demo("sales@vendor.example").await;
    let open = sales.get("/api/partner-requests?status=open").await;
    assert_eq!(open.status, 200);
    let companies: Vec<String> = open
        .view::<Vec<PartnerRequestView>>()
        .into_iter()
        .map(|r| r.company)
        .collect();
    assert_eq!(companies, ["Contoso Consulting", "Fabrikam Networks"]);

    let r = sales
        .post(
            &format!("/api/partner-requests/{request_id}/approve"),
            json!({ "default_commission_rate": "22.5" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let approval: ApprovalView = r.view();
    assert_eq!(approval.request.status, PartnerRequestStatus::Approved);
    let partner = &approval.partner;
    assert_eq!(partner.default_commission_rate, "22.50");
    assert_eq!(partner.status, PartnerStanding::Active);
    let partner_code = partner.partner_code.clone();
    assert_eq!(partner_code.len(), 8);
    assert_ne!(partner.partner_code, partner.affiliate_code);
    assert!(partner.affiliate_link.ends_with(&partner.affiliate_code));

    // Deciding twice is refused.
    sales
        .post(
            &format!("/api/partner-requests/{request_id}/reject"),
            json!({ "reason": "changed my mind" }),
        )
        .await
        .assert_problem(409, "request_decided");

    app.settle().await;
    let mail = app.smtp.expect_one("frank@fabrikam.example", "is now a partner").await;
    assert!(mail.text.contains(&partner_code), "{}", mail.text);
    assert!(mail.text.contains("22.50 %"));
    assert!(mail.html.contains(&partner_code));
    // Exactly once, even after the queue has settled and a little time has passed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.settle().await;
    let decisions: Vec<_> = app
        .smtp
        .to("frank@fabrikam.example")
        .into_iter()
        .filter(|m| m.subject.contains("is now a partner"))
        .collect();
    assert_eq!(decisions.len(), 1);

    // The organization's administrator now holds the partner permissions.
    let me: MeView = frank.get("/api/me").await.view();
    let perms = &me.organizations[0].permissions;
    assert!(perms.contains(&Permission::ManagePartnerPortal), "{perms:?}");
    let status: PartnerStatusView = frank.get("/api/partner-status").await.view();
    assert_eq!(status.state, PartnerState::Partner);
    assert_eq!(status.partner.expect("the partner").partner_code, partner_code);

    // The decision is in the organization's audit log with both identities.
    let org = me.organizations[0].organization_id;
    let audit = frank.get(&format!("/api/organizations/{org}/audit")).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let approved = audit
        .view::<Vec<AuditEntryView>>()
        .into_iter()
        .find(|e| e.action == "partner_request.approved")
        .expect("audited");
    assert_eq!(approved.actor_user_id, Some(app.user_id("sales@vendor.example").await));
    assert_eq!(
        approved.acting_organization_id,
        Some(app.org_id("Partnerdesk Software B.V.").await)
    );
    assert_eq!(approved.on_behalf_of_organization_id, Some(org));
    assert_eq!(approved.changes["status"]["new"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn rejection_emails_the_reason_once() {
    let app = TestApp::spawn().await;
    let sales = app.demo("sales@vendor.example").await;
    let open = sales.get("/api/partner-requests?status=open").await;
    let id = open
        .view::<Vec<PartnerRequestView>>()
        .into_iter()
        .find(|r| r.company == "Contoso Consulting")
        .unwrap()
        .id;

    sales
        .post(&format!("/api/partner-requests/{id}/reject"), json!({ "reason": "  " }))
        .await
        .assert_problem(422, "validation_failed");
    let r = sales
        .post(
            &format!("/api/partner-requests/{id}/reject"),
            json!({ "reason": "We already have enough partners in Flanders." }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rejected: PartnerRequestView = r.view();
    assert_eq!(rejected.status, PartnerRequestStatus::Rejected);
    assert_eq!(
        rejected.decision_reason.as_deref(),
        Some("We already have enough partners in Flanders.")
    );
    sales
        .post(&format!("/api/partner-requests/{id}/approve"), json!({}))
        .await
        .assert_problem(409, "request_decided");

    app.settle().await;
    let mail = app
        .smtp
        .expect_one("carla@contoso.example", "Your partner request")
        .await;
    assert!(mail.text.contains("We already have enough partners in Flanders."));
    assert_eq!(app.smtp.to("carla@contoso.example").len(), 1);

    // Carla may request again now that nothing is open.
    let carla = app.demo("carla@contoso.example").await;
    assert_eq!(partner_state(&carla).await, PartnerState::Eligible);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_form_names_every_invalid_field() {
    let app = TestApp::spawn().await;
    let carla = app.demo("carla@contoso.example").await;
    // Contoso has an open request; use a fresh organization.
    let frank = org_admin(&app, "frank@fabrikam.example", "Fabrikam").await;
    let _ = carla;
    let r = frank
        .post(
            "/api/partner-requests",
            json!({ "company": " ", "contact_name": "Frank", "contact_email": "not-an-email", "website": "not a url", "country": "XX", "expected_customers": -1 }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["company", "contact_email", "country", "expected_customers", "website"]
    );
    // Nothing was written.
    assert_eq!(partner_state(&frank).await, PartnerState::Eligible);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_approval_lands_in_the_development_mailbox() {
    // As with `just run`: no SMTP server, development mode, the demo data.
    let app = TestApp::spawn_with(Options {
        smtp: false,
        development: true,
        ..Options::default()
    })
    .await;
    let sales = app.demo("sales@vendor.example").await;
    let open = sales.get("/api/partner-requests?status=open").await;
    let id = open.view::<Vec<PartnerRequestView>>()[0].id;
    let r = sales
        .post(&format!("/api/partner-requests/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.view::<ApprovalView>().partner.default_commission_rate, "20.00");
    app.settle().await;

    let mailbox = app.anonymous().get("/api/dev/mailbox?to=carla@contoso.example").await;
    assert_eq!(mailbox.status, 200, "{}", mailbox.body);
    let mails: Vec<MailView> = mailbox.view();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].subject, "Welcome aboard: Contoso Consulting is now a partner");
    assert!(
        app.smtp.messages().is_empty(),
        "nothing goes over SMTP without SMTP_URL"
    );
}
