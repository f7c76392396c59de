//! Delegated administration: a partner's management session and "login as" for one
//! customer act within exactly what the customer granted, for a bounded time, audited
//! with both identities; the customer sees and ends them.

use partnerdesk_core::{
    delegation::service_providers::RequestStatus,
    platform::authz::{DelegationKind, Permission},
};
use partnerdesk_web::api::{
    delegation::{ActivityView, DelegatedSessionView, GrantRequestView, ServiceProviderState, ServiceProviderView},
    identity::auth::CreatedToken,
    tenancy::audit::AuditEntryView,
};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{Client, Resp, TestApp};

/// A self-registered company whose administrator chose Northwind and granted `grants`.
async fn customer_of_northwind(app: &TestApp, grants: &[&str]) -> (Client, Uuid) {
    let olga = app
        .sign_up("olga@olsen.example", "Olga", "Olsen", "long enough password")
        .await;
    let org = olga
        .post("/api/organizations", json!({ "name": "Olsen Bakery", "country": "DK" }))
        .await
        .id();
    let provider = format!("/api/organizations/{org}/service-provider");
    assert_eq!(
        olga.put(&provider, json!({ "partner_code": "northwnd" })).await.status,
        200
    );
    let r = olga
        .put(&format!("{provider}/grants"), json!({ "permissions": grants }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (olga, org)
}

fn session_id(r: &Resp) -> Uuid {
    r.view::<DelegatedSessionView>().id
}

/// The permissions `org` granted its service provider.
async fn granted(olga: &Client, org: Uuid) -> Vec<Permission> {
    let r = olga.get(&format!("/api/organizations/{org}/service-provider")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.view::<ServiceProviderState>()
        .service_provider
        .expect("a service provider")
        .granted_permissions
}

/// The audit entries of `org` made in delegated session `session`.
async fn entries_in(olga: &Client, org: Uuid, session: Uuid) -> Vec<AuditEntryView> {
    let audit = olga.get(&format!("/api/organizations/{org}/audit")).await;
    audit
        .view::<Vec<AuditEntryView>>()
        .into_iter()
        .filter(|e| e.delegated_session_id == Some(session))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_management_session_acts_with_exactly_the_grants_until_it_ends() {
    let app = TestApp::spawn().await;
    let (olga, org) = customer_of_northwind(&app, &["view_users", "edit_users"]).await;
    let olga_id = app.user_id("olga@olsen.example").await;
    let anna = app.demo("anna@northwind.example").await;

    let r = anna
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let started: DelegatedSessionView = r.view();
    assert_eq!(started.kind, DelegationKind::Manage);
    assert_eq!(started.customer_name, "Olsen Bakery");
    assert!(started.active);
    let session = started.id;
    let inside = anna.in_delegated_session(session);

    // Granted: seeing and editing users. Not granted: ordering licences, company details.
    assert_eq!(inside.get(&format!("/api/organizations/{org}/users")).await.status, 200);
    // An API client sends its token and the session's id.
    let token = anna.post("/api/me/tokens", json!({ "name": "support tool" })).await;
    let client = anna
        .with_bearer(&token.view::<CreatedToken>().token)
        .in_delegated_session(session);
    assert_eq!(client.get(&format!("/api/organizations/{org}/users")).await.status, 200);
    let r = inside
        .patch(
            &format!("/api/organizations/{org}/users/{olga_id}"),
            json!({ "extension": "101" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    inside
        .post(&format!("/api/organizations/{org}/quotes"), json!({ "items": [] }))
        .await
        .assert_problem(403, "not_authorized");
    inside
        .patch(&format!("/api/organizations/{org}"), json!({ "name": "Renamed" }))
        .await
        .assert_problem(403, "not_authorized");

    // The customer reads who did it, for which partner, in which session.
    let entries = entries_in(&olga, org, session).await;
    let edit = entries
        .iter()
        .find(|e| e.action == "user.updated")
        .unwrap_or_else(|| panic!("the edit is in the customer's log: {entries:?}"));
    let anna_id = app.user_id("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    assert_eq!(edit.actor_user_id, Some(anna_id));
    assert_eq!(edit.acting_organization_id, Some(northwind));
    assert_eq!(edit.on_behalf_of_organization_id, Some(org));
    assert!(entries.iter().any(|e| e.action == "delegation.started"));

    // Revoking a grant mid-session takes effect on the next request.
    olga.put(
        &format!("/api/organizations/{org}/service-provider/grants"),
        json!({ "permissions": ["edit_users"] }),
    )
    .await;
    inside
        .get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(403, "not_authorized");

    // The customer sees the open session and ends it; the next request is refused.
    let list = olga.get(&format!("/api/organizations/{org}/delegated-sessions")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let sessions: Vec<DelegatedSessionView> = list.view();
    assert_eq!(sessions[0].id, session);
    assert!(sessions[0].active);
    let r = olga
        .post(
            &format!("/api/organizations/{org}/delegated-sessions/{session}/end"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.view::<DelegatedSessionView>().active);
    inside
        .get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(410, "delegated_session_ended");

    // A session ends by itself after its time (60 minutes by default).
    let r = anna
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await;
    let inside = anna.in_delegated_session(session_id(&r));
    assert_eq!(inside.get(&format!("/api/customers/{org}")).await.status, 200);
    app.advance(chrono::Duration::minutes(61));
    inside
        .get(&format!("/api/customers/{org}"))
        .await
        .assert_problem(410, "delegated_session_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_for_a_partners_own_customers_and_its_staff_only() {
    let app = TestApp::spawn().await;
    let (olga, org) = customer_of_northwind(&app, &["view_users"]).await;
    // Another partner, the customer itself, and vendor staff cannot start one.
    let max = app.demo("max@alpine.example").await;
    max.post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await
        .assert_problem(404, "not_found");
    olga.post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await
        .assert_problem(403, "not_authorized");
    let admin = app.demo("admin@vendor.example").await;
    admin
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await
        .assert_problem(403, "not_authorized");

    // Someone else's session id is not theirs to use.
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await;
    let session = session_id(&r);
    let pieter = app.demo("pieter@northwind.example").await;
    pieter
        .in_delegated_session(session)
        .get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(404, "not_found");
    // Another customer cannot list or end it.
    let jan = app.demo("jan@jansen.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    jan.post(
        &format!("/api/organizations/{jansen}/delegated-sessions/{session}/end"),
        json!({}),
    )
    .await
    .assert_problem(403, "not_authorized");
    assert!(
        olga.get(&format!("/api/organizations/{org}/delegated-sessions"))
            .await
            .view::<Vec<DelegatedSessionView>>()[0]
            .active
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_with_an_end_date_are_gone_once_it_passes() {
    let app = TestApp::spawn().await;
    let (olga, org) = customer_of_northwind(&app, &[]).await;
    let grants = format!("/api/organizations/{org}/service-provider/grants");
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = olga
        .put(&grants, json!({ "permissions": ["view_users"], "ends_at": in_an_hour }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.view::<ServiceProviderView>().grants_end_at.is_some(), "{}", r.body);

    let anna = app.demo("anna@northwind.example").await;
    assert_eq!(anna.get(&format!("/api/organizations/{org}/users")).await.status, 200);
    app.advance(chrono::Duration::hours(2));
    anna.get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(403, "not_authorized");

    // The moved clock decides what is past.
    let past = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = olga.put(&grants, json!({ "permissions": [], "ends_at": past })).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["ends_at"]);
    let far = (chrono::Utc::now() + chrono::Duration::days(800)).to_rfc3339();
    let r = olga.put(&grants, json!({ "permissions": [], "ends_at": far })).await;
    assert_eq!(r.field_errors()[0].code, "too_far");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_as_shows_the_users_view_within_the_grants_never_their_credentials() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let jan_id = app.user_id("jan@jansen.example").await;
    let eva_id = app.user_id("eva@jansen.example").await;
    let login_as = format!("/api/customers/{jansen}/login-as");

    let r = anna.post(&login_as, json!({ "user_id": jan_id, "reason": " " })).await;
    assert_eq!(r.error_fields(), ["reason"]);
    let r = anna
        .post(
            &login_as,
            json!({ "user_id": jan_id, "reason": "Ticket 4711: sync stops" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let started: DelegatedSessionView = r.view();
    assert_eq!(started.kind, DelegationKind::LoginAs);
    assert_eq!(started.impersonated_user_id, Some(jan_id));
    let session = started.id;
    app.smtp
        // Jan reads Dutch.
        .expect_one(
            "jan@jansen.example",
            "Anna de Boer van Northwind IT Services heeft als u ingelogd",
        )
        .await;

    // Jan's view: the company administrator sees and edits users.
    let as_jan = anna.in_delegated_session(session);
    assert_eq!(
        as_jan.get(&format!("/api/organizations/{jansen}/users")).await.status,
        200
    );
    let r = as_jan
        .patch(
            &format!("/api/organizations/{jansen}/users/{eva_id}"),
            json!({ "extension": "212" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing outside Jansen, and none of the credentials.
    as_jan
        .get(&format!("/api/customers/{jansen}"))
        .await
        .assert_problem(403, "not_authorized");
    for path in ["/api/me", "/api/me/tokens"] {
        as_jan.get(path).await.assert_problem(403, "not_while_logged_in_as");
    }
    as_jan
        .post("/api/me/tokens", json!({ "name": "mine now" }))
        .await
        .assert_problem(403, "not_while_logged_in_as");
    as_jan
        .put(
            "/api/me/password",
            json!({ "current_password": "x", "new_password": "a long new password" }),
        )
        .await
        .assert_problem(403, "not_while_logged_in_as");
    as_jan
        .patch("/api/me", json!({ "first_name": "Mallory" }))
        .await
        .assert_problem(403, "not_while_logged_in_as");

    // Both identities in the audit: Jan as the actor, Anna behind him, for Northwind.
    let northwind = app.org_id("Northwind IT Services").await;
    let anna_id = app.user_id("anna@northwind.example").await;
    let mut conn = app.conn().await;
    use diesel::QueryDsl;
    use diesel_async::RunQueryDsl;
    use partnerdesk_core::schema::audit_log as a;
    let row: (Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<Uuid>) = a::table
        .filter(diesel::ExpressionMethods::eq(a::action, "user.updated"))
        .filter(diesel::ExpressionMethods::eq(a::delegated_session_id, session))
        .select((
            a::actor_user_id,
            a::impersonator_user_id,
            a::acting_organization_id,
            a::on_behalf_of_organization_id,
        ))
        .first(&mut conn)
        .await
        .expect("the edit is audited in the session");
    assert_eq!(row, (Some(jan_id), Some(anna_id), Some(northwind), Some(jansen)));

    // Exit returns to Anna's own view; the session no longer works.
    let r = anna
        .post(&format!("/api/delegated-sessions/{session}/exit"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.view::<DelegatedSessionView>().active);
    as_jan
        .get(&format!("/api/organizations/{jansen}/users"))
        .await
        .assert_problem(410, "delegated_session_ended");
    assert_eq!(anna.get(&format!("/api/customers/{jansen}")).await.status, 200);

    // It ends by itself after its time (30 minutes by default).
    let r = anna
        .post(&login_as, json!({ "user_id": eva_id, "reason": "Check her licence" }))
        .await;
    let as_eva = anna.in_delegated_session(session_id(&r));
    assert_eq!(as_eva.get(&format!("/api/organizations/{jansen}")).await.status, 200);
    app.advance(chrono::Duration::minutes(31));
    as_eva
        .get(&format!("/api/organizations/{jansen}"))
        .await
        .assert_problem(410, "delegated_session_expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_logs_in_as_staff_or_across_partners_or_without_the_grant() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let eva_id = app.user_id("eva@jansen.example").await;
    let login_as = format!("/api/customers/{jansen}/login-as");
    let reason = "Support";

    // Another partner cannot reach Northwind's customer.
    let max = app.demo("max@alpine.example").await;
    max.post(&login_as, json!({ "user_id": eva_id, "reason": reason }))
        .await
        .assert_problem(404, "not_found");
    // A user of another partner's customer is not a user of this customer.
    let lena_id = app.user_id("lena@mueller.example").await;
    anna.post(&login_as, json!({ "user_id": lena_id, "reason": reason }))
        .await
        .assert_problem(404, "not_found");
    // Vendor staff and a partner's own staff, even when also users of the customer.
    for staff in ["ops@vendor.example", "pieter@northwind.example"] {
        let id = app.user_id(staff).await;
        app.sql(&format!(
            "INSERT INTO memberships (id, user_id, organization_id, role, permissions, active, accepted_at, created_at, updated_at)
             VALUES (gen_random_uuid(), '{id}', '{jansen}', 'member', '{{}}', true, now(), now(), now())"
        ))
        .await;
        let r = anna.post(&login_as, json!({ "user_id": id, "reason": reason })).await;
        assert_eq!(r.field_errors()[0].code, "not_impersonable", "{staff}: {}", r.body);
    }
    // Without the customer's grant.
    app.sql(&format!(
        "UPDATE service_provider_links SET granted_permissions = array_remove(granted_permissions, 'login_as_user') WHERE customer_id = '{jansen}'"
    ))
    .await;
    anna.post(&login_as, json!({ "user_id": eva_id, "reason": reason }))
        .await
        .assert_problem(403, "not_authorized");
    assert_eq!(app.count("SELECT count(*) AS count FROM delegated_sessions").await, 0);
}

/// Who received an e-mail whose subject contains `part`, sorted.
fn recipients(app: &TestApp, part: &str) -> Vec<String> {
    let mut to: Vec<String> = app
        .smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains(part))
        .flat_map(|m| m.envelope_to)
        .collect();
    to.sort();
    to
}

#[tokio::test(flavor = "multi_thread")]
async fn both_sides_are_warned_30_7_and_1_days_before_the_grants_end_once_each() {
    use std::time::Duration as StdDuration;
    let app = TestApp::spawn_with(crate::harness::Options {
        extra: vec![("MAINTENANCE_INTERVAL_SECONDS", "1".into())],
        ..Default::default()
    })
    .await;
    let (olga, org) = customer_of_northwind(&app, &["view_users"]).await;
    app.sql("UPDATE users SET language = 'en'").await;
    let ends_at = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
    let r = olga
        .put(
            &format!("/api/organizations/{org}/service-provider/grants"),
            json!({ "permissions": ["view_users"], "ends_at": ends_at }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let both = ["anna@northwind.example", "olga@olsen.example"];

    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    assert!(recipients(&app, "ends").is_empty(), "nothing is due 40 days ahead");
    for (after, subject) in [
        (
            chrono::Duration::days(10) + chrono::Duration::minutes(1),
            "ends in 30 days",
        ),
        (chrono::Duration::days(23), "ends in 7 days"),
        (chrono::Duration::days(6), "ends tomorrow"),
    ] {
        app.advance(after);
        app.smtp
            .wait_for(2, StdDuration::from_secs(20), |m| m.subject.contains(subject))
            .await;
        // Several sweeps later, still once each.
        tokio::time::sleep(StdDuration::from_millis(2500)).await;
        app.settle().await;
        assert_eq!(recipients(&app, subject), both, "{subject}");
    }
    assert_eq!(recipients(&app, "ends in 30 days"), both, "no 30-day warning again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_asks_for_more_and_the_customer_accepts_declines_or_lets_it_expire() {
    let app = TestApp::spawn().await;
    let (olga, org) = customer_of_northwind(&app, &["view_users"]).await;
    app.sql("UPDATE users SET language = 'en'").await;
    let anna = app.demo("anna@northwind.example").await;
    let ask = format!("/api/customers/{org}/grant-requests");
    let requests = format!("/api/organizations/{org}/grant-requests");

    let r = anna.post(&ask, json!({ "permissions": ["view_users"] })).await;
    assert_eq!(r.field_errors()[0].code, "nothing_new");
    let r = anna
        .post(
            &ask,
            json!({ "permissions": ["import_users", "view_users"], "message": "For the HR export" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let asked: GrantRequestView = r.view();
    assert_eq!(asked.status, RequestStatus::Open);
    let first = asked.id;
    app.smtp
        .expect_one("olga@olsen.example", "Northwind IT Services asks for more permissions")
        .await;

    // Another partner cannot ask; the partner cannot answer its own request.
    let max = app.demo("max@alpine.example").await;
    max.post(&ask, json!({ "permissions": ["import_users"] }))
        .await
        .assert_problem(404, "not_found");
    anna.post(&format!("{requests}/{first}/accept"), json!({}))
        .await
        .assert_problem(403, "not_authorized");
    assert_eq!(anna.get(&requests).await.view::<Vec<GrantRequestView>>()[0].id, first);

    let r = olga.post(&format!("{requests}/{first}/accept"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.view::<GrantRequestView>().status, RequestStatus::Accepted);
    assert_eq!(
        granted(&olga, org).await,
        [Permission::ViewUsers, Permission::ImportUsers]
    );
    app.smtp
        .expect_one("anna@northwind.example", "Olsen Bakery accepted your request")
        .await;
    olga.post(&format!("{requests}/{first}/accept"), json!({}))
        .await
        .assert_problem(409, "grant_request_answered");

    // Declined: nothing changes.
    let second = anna
        .post(&ask, json!({ "permissions": ["manage_licences"] }))
        .await
        .id();
    let r = olga.post(&format!("{requests}/{second}/decline"), json!({})).await;
    assert_eq!(r.view::<GrantRequestView>().status, RequestStatus::Declined);
    assert_eq!(
        granted(&olga, org).await,
        [Permission::ViewUsers, Permission::ImportUsers]
    );

    // Unanswered, a request expires (14 days by default).
    let third = anna
        .post(&ask, json!({ "permissions": ["manage_licences"] }))
        .await
        .id();
    app.advance(chrono::Duration::days(15));
    let olga = app.login("olga@olsen.example", "long enough password").await;
    olga.post(&format!("{requests}/{third}/accept"), json!({}))
        .await
        .assert_problem(410, "grant_request_expired");
    assert_eq!(
        olga.get(&requests).await.view::<Vec<GrantRequestView>>()[0].status,
        RequestStatus::Expired
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_asks_one_customer_a_bounded_number_of_times_an_hour() {
    let app = TestApp::spawn().await;
    let (_olga, org) = customer_of_northwind(&app, &["view_users"]).await;
    app.sql("UPDATE users SET language = 'en'").await;
    let anna = app.demo("anna@northwind.example").await;
    let ask = format!("/api/customers/{org}/grant-requests");
    for permission in [
        "import_users",
        "edit_users",
        "manage_licences",
        "import_users",
        "edit_users",
    ] {
        let r = anna.post(&ask, json!({ "permissions": [permission] })).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let refused = anna.post(&ask, json!({ "permissions": ["manage_licences"] })).await;
    refused.assert_problem(429, "too_many_grant_requests");
    assert!(refused.headers.get("retry-after").is_some());
    let asked = |m: &partnerdesk_testkit::ReceivedMail| {
        m.envelope_to.iter().any(|t| t == "olga@olsen.example") && m.subject.contains("asks for more permissions")
    };
    app.smtp.wait_for(5, std::time::Duration::from_secs(20), asked).await;
    app.settle().await;
    assert_eq!(
        app.smtp.messages().iter().filter(|m| asked(m)).count(),
        5,
        "as many as anyone may e-mail one address in an hour"
    );

    // An hour later the partner may ask again.
    app.advance(chrono::Duration::minutes(61));
    let anna = app.demo("anna@northwind.example").await;
    let r = anna.post(&ask, json!({ "permissions": ["manage_licences"] })).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_customer_reads_and_exports_what_its_service_provider_did_and_nobody_else_does() {
    let app = TestApp::spawn().await;
    let (olga, org) = customer_of_northwind(&app, &["view_users", "edit_users", "login_as_user"]).await;
    let olga_id = app.user_id("olga@olsen.example").await;
    let anna = app.demo("anna@northwind.example").await;
    let pieter = app.demo("pieter@northwind.example").await;
    let users = format!("/api/organizations/{org}/users/{olga_id}");

    // Anna edits in a management session, Pieter directly.
    let session = session_id(
        &anna
            .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
            .await,
    );
    let r = anna
        .in_delegated_session(session)
        .patch(&users, json!({ "extension": "100" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pieter.patch(&users, json!({ "extension": "200" })).await.status, 200);
    // The customer's own edit is not the provider's.
    assert_eq!(olga.patch(&users, json!({ "extension": "300" })).await.status, 200);

    let activity = format!("/api/organizations/{org}/service-provider/activity");
    let all = olga.get(&activity).await;
    assert_eq!(all.status, 200, "{}", all.body);
    let edits: Vec<ActivityView> = all
        .view::<Vec<ActivityView>>()
        .into_iter()
        .filter(|a| a.action == "user.updated")
        .collect();
    assert_eq!(edits.len(), 2, "{}", all.body);
    assert_eq!(edits[0].person_name.as_deref(), Some("Pieter Smit"));
    assert_eq!(edits[0].delegated_session_id, None);
    assert_eq!(edits[1].person_name.as_deref(), Some("Anna de Boer"));
    assert_eq!(edits[1].partner_name.as_deref(), Some("Northwind IT Services"));
    assert_eq!(edits[1].delegated_session_id, Some(session));
    assert!(
        edits[1].changes.to_string().contains("100"),
        "before/after: {:?}",
        edits[1]
    );

    let anna_id = app.user_id("anna@northwind.example").await;
    let only_anna = olga.get(&format!("{activity}?person_id={anna_id}")).await;
    assert!(
        only_anna
            .view::<Vec<ActivityView>>()
            .iter()
            .all(|a| a.person_id == Some(anna_id))
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d");
    let none = olga.get(&format!("{activity}?from={tomorrow}")).await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert!(none.view::<Vec<ActivityView>>().is_empty());
    let page = olga
        .get(&format!("{activity}?limit=1"))
        .await
        .view::<Vec<ActivityView>>();
    let next = olga
        .get(&format!("{activity}?limit=1&before_id={}", page[0].id))
        .await
        .view::<Vec<ActivityView>>();
    assert!(next[0].id < page[0].id);

    let (status, headers, csv) = olga.get_bytes(&format!("{activity}/export")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("time,person,partner,as user,session,action"), "{csv}");
    assert!(
        csv.contains("Pieter Smit") && csv.contains(&session.to_string()),
        "{csv}"
    );

    // Another customer's administrator, the partner without the grant, a stranger: none.
    let jan = app.demo("jan@jansen.example").await;
    jan.get(&activity).await.assert_problem(404, "not_found");
    anna.get(&activity).await.assert_problem(403, "not_authorized");
    anna.get(&format!("{activity}/export"))
        .await
        .assert_problem(403, "not_authorized");
}

/// Every delegable permission, through the one authorization function: refused until
/// granted, allowed in and out of a management session once granted, refused once the
/// grant's end date passed, and refused at once when the customer revokes it while a
/// session is open.
#[tokio::test(flavor = "multi_thread")]
async fn every_delegable_permission_follows_the_customers_grant() {
    use partnerdesk_core::{
        Error,
        delegation::sessions,
        platform::authz::{self, Actor, Permission, Via},
    };
    let app = TestApp::spawn().await;
    let (olga, org) = customer_of_northwind(&app, &[]).await;
    let grants = format!("/api/organizations/{org}/service-provider/grants");
    let anna = app.demo("anna@northwind.example").await;
    let anna_id = app.user_id("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let session = session_id(
        &anna
            .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
            .await,
    );
    let mut conn = app.conn().await;
    // Each check is a new request: a new actor, nothing reused.
    let now = chrono::Utc::now();
    let direct = |at| Actor::new(anna_id.into(), Some(northwind.into()), at);
    for perm in Permission::DELEGABLE {
        let name = perm.as_str();
        let refused = |r: Result<authz::Access, Error>| matches!(r, Err(Error::Forbidden { .. }));

        olga.put(&grants, json!({ "permissions": [] })).await;
        assert!(
            refused(authz::authorize(&mut conn, &direct(now), org, *perm).await),
            "{name}: refused while not granted"
        );

        let r = olga.put(&grants, json!({ "permissions": [name] })).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        let access = authz::authorize(&mut conn, &direct(now), org, *perm)
            .await
            .unwrap_or_else(|e| panic!("{name}: allowed once granted: {e:?}"));
        assert_eq!(access.via(), Via::ServiceProvider);
        let d = sessions::resolve(&mut conn, now, anna_id.into(), session.into())
            .await
            .expect("the session is open");
        let access = authz::authorize(&mut conn, &Actor::delegated(d.clone(), now), org, *perm)
            .await
            .unwrap_or_else(|e| panic!("{name}: allowed in the session: {e:?}"));
        assert_eq!(
            access.delegated(),
            Some((session, northwind)),
            "{name}: audited with the session"
        );

        // Revoked while the session is open: the session's next request is refused.
        olga.put(&grants, json!({ "permissions": [] })).await;
        assert!(
            refused(authz::authorize(&mut conn, &Actor::delegated(d, now), org, *perm).await),
            "{name}: refused right after the customer revoked it"
        );

        // Granted until an hour from now: refused two hours from now.
        let ends_at = (now + chrono::Duration::hours(1)).to_rfc3339();
        olga.put(&grants, json!({ "permissions": [name], "ends_at": ends_at }))
            .await;
        assert!(
            authz::authorize(&mut conn, &direct(now), org, *perm).await.is_ok(),
            "{name}"
        );
        assert!(
            refused(authz::authorize(&mut conn, &direct(now + chrono::Duration::hours(2)), org, *perm).await),
            "{name}: refused after the grant ended"
        );
    }
}

/// Suspending the partner, deactivating the customer or ending the partner's link ends
/// every open management and login-as session at once: the next request in any of them
/// is refused, each is shown ended to the customer with the reason, and a partner made
/// active again does not bring them back.
#[tokio::test(flavor = "multi_thread")]
async fn suspension_deactivation_and_removal_end_every_open_session_at_once() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let sales = app.demo("sales@vendor.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let jan_id = app.user_id("jan@jansen.example").await;
    let users = format!("/api/organizations/{jansen}/users");
    let start = async |anna: &Client| {
        let as_jan = anna
            .post(
                &format!("/api/customers/{jansen}/login-as"),
                json!({ "user_id": jan_id, "reason": "Ticket 4711" }),
            )
            .await;
        assert_eq!(as_jan.status, 201, "{}", as_jan.body);
        let managing = anna
            .post(&format!("/api/customers/{jansen}/management-sessions"), json!({}))
            .await;
        assert_eq!(managing.status, 201, "{}", managing.body);
        [session_id(&as_jan), session_id(&managing)]
    };

    // Vendor sales suspends Northwind: both sessions end with the request that did it.
    let sessions = start(&anna).await;
    for s in sessions {
        assert_eq!(anna.in_delegated_session(s).get(&users).await.status, 200);
    }
    let r = sales
        .patch(&format!("/api/partners/{northwind}"), json!({ "status": "suspended" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for s in sessions {
        let inside = anna.in_delegated_session(s);
        inside.get(&users).await.assert_problem(410, "delegated_session_ended");
        inside
            .post(
                &users,
                json!({ "email": "new@jansen.example", "first_name": "N", "last_name": "N" }),
            )
            .await
            .assert_problem(410, "delegated_session_ended");
    }
    let reasons = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'delegation.ended'
               AND on_behalf_of_organization_id = '{jansen}' AND changes ->> 'reason' = 'partner_suspended'"
        ))
        .await;
    assert_eq!(reasons, 2);
    // Active again, Northwind's old sessions stay ended.
    let r = sales
        .patch(&format!("/api/partners/{northwind}"), json!({ "status": "active" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for s in sessions {
        anna.in_delegated_session(s)
            .get(&users)
            .await
            .assert_problem(410, "delegated_session_ended");
    }

    // Northwind deactivates Jansen: the same.
    let sessions = start(&anna).await;
    let r = anna
        .post(&format!("/api/customers/{jansen}/deactivate"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for s in sessions {
        anna.in_delegated_session(s)
            .get(&format!("/api/organizations/{jansen}"))
            .await
            .assert_problem(410, "delegated_session_ended");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM delegated_sessions WHERE customer_id = '{jansen}' AND ended_at IS NULL"
        ))
        .await,
        0
    );

    // A customer that drops its service provider: its sessions end with the link.
    let (olga, org) = customer_of_northwind(&app, &["view_users"]).await;
    let managing = anna
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await;
    let inside = anna.in_delegated_session(session_id(&managing));
    assert_eq!(inside.get(&format!("/api/organizations/{org}/users")).await.status, 200);
    assert_eq!(
        olga.delete(&format!("/api/organizations/{org}/service-provider"))
            .await
            .status,
        204
    );
    inside
        .get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(410, "delegated_session_ended");
    let list: Vec<DelegatedSessionView> = olga
        .get(&format!("/api/organizations/{org}/delegated-sessions"))
        .await
        .view();
    assert!(list.iter().all(|s| !s.active), "{list:?}");
}

/// Logged in as a customer's user, nothing runs as the partner's staff member behind
/// it: founding an organization is refused and founds none.
#[tokio::test(flavor = "multi_thread")]
async fn inside_login_as_nothing_runs_as_the_staff_member() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let jan_id = app.user_id("jan@jansen.example").await;
    let r = anna
        .post(
            &format!("/api/customers/{jansen}/login-as"),
            json!({ "user_id": jan_id, "reason": "Ticket 4711" }),
        )
        .await;
    let as_jan = anna.in_delegated_session(session_id(&r));
    as_jan
        .post("/api/organizations", json!({ "name": "Founded inside" }))
        .await
        .assert_problem(403, "not_while_logged_in_as");
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE name = 'Founded inside'")
            .await,
        0
    );
    // Outside the session Anna founds it herself.
    let r = anna
        .post("/api/organizations", json!({ "name": "Founded outside" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}
