//! Accounts are people, organizations are tenants: joining takes consent, what one
//! organization sets for a person stays in that organization, and licences belong to
//! an organization.

use partnerdesk_core::platform::authz::Role;
use partnerdesk_web::api::{
    commerce::{licences::ModuleLicencesView, quotes::QuoteView},
    identity::auth::CreatedToken,
    tenancy::{
        customers::{CustomerPage, CustomerView},
        invitations::{AcceptedView, InvitationPreview},
        users::{ProfileBody, UserOverviewView},
    },
};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::{confirm, me, module_id, quote};
use crate::harness::{DEMO_PASSWORD, Resp, TestApp, csrf_token};

/// The row of `email` in a list of an organization's users.
fn row(list: &Resp, email: &str) -> UserOverviewView {
    assert_eq!(list.status, 200, "{}", list.body);
    list.view::<Vec<UserOverviewView>>()
        .into_iter()
        .find(|u| u.email == email)
        .unwrap_or_else(|| panic!("{email} in {}", list.body))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_someone_else_signed_up_for_never_becomes_their_account() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    // The attacker signs up first with the victim's address.
    let r = anon
        .post(
            "/api/auth/signup",
            json!({ "email": "victim@example.com", "password": "attacker's password", "first_name": "Evil", "last_name": "Twin" }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    anon.post(
        "/api/auth/login",
        json!({ "email": "victim@example.com", "password": "attacker's password" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let attackers_link = app
        .link_token("victim@example.com", "Confirm your e-mail address", "/signup/confirm/")
        .await;

    // An organization adds the address meanwhile: nobody logs in through that either.
    let jan = app.demo("jan@jansen.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let added = jan
        .post(
            &format!("/api/organizations/{jansen}/users"),
            json!({ "email": "victim@example.com", "first_name": "Vic", "last_name": "Tim" }),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    anon.post(
        "/api/auth/login",
        json!({ "email": "victim@example.com", "password": "attacker's password" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");

    // The mailbox owner sets a password through the organization's link and is in.
    app.set_passwords(&["victim@example.com".to_owned()]).await;
    let victim = app.login("victim@example.com", "a long enough password").await;
    assert_eq!(
        me(&victim).await.organizations[0].organization_name,
        "Jansen Installatietechniek"
    );
    // The attacker's old confirmation link no longer creates anything.
    anon.post(&format!("/api/auth/signups/{attackers_link}/confirm"), json!({}))
        .await
        .assert_problem(409, "account_exists");
    anon.post(
        "/api/auth/login",
        json!({ "email": "victim@example.com", "password": "attacker's password" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");

    // A confirmed account added to another organization gains nothing until it accepts.
    let anna = app.demo("anna@northwind.example").await;
    let devries = app.org_id("Bakkerij de Vries").await;
    let r = anna
        .post(
            &format!("/api/organizations/{devries}/users"),
            json!({ "email": "victim@example.com", "first_name": "X", "last_name": "Y", "company_admin": true }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for path in [
        format!("/api/organizations/{devries}"),
        format!("/api/organizations/{devries}/users"),
    ] {
        victim
            .acting_as(devries)
            .get(&path)
            .await
            .assert_problem(403, "not_authorized");
    }
    app.accept_invitation(&victim, devries).await;
    let users = victim
        .acting_as(devries)
        .get(&format!("/api/organizations/{devries}/users"))
        .await;
    assert_eq!(
        users.status, 200,
        "a company administrator of de Vries now: {}",
        users.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_one_organization_sets_for_a_person_stays_there() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jan = app.demo("jan@jansen.example").await;
    let eva = app.demo("eva@jansen.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let devries = app.org_id("Bakkerij de Vries").await;
    let eva_id = app.user_id("eva@jansen.example").await;
    let users_of = |org: Uuid| format!("/api/organizations/{org}/users");

    // Jansen's settings for Eva, and the version her software reports there.
    let jansen_token = eva
        .post("/api/me/tokens", json!({ "name": "softphone" }))
        .await
        .view::<CreatedToken>()
        .token;
    let software = eva.with_bearer(&jansen_token);
    let r = software
        .post("/api/client/heartbeat", json!({ "software_version": "4.1.0" }))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let profile = json!({ "profile": { "dial_prefix": "0" } });
    assert_eq!(
        jan.put(&format!("{}/{eva_id}/profile", users_of(jansen)), profile)
            .await
            .status,
        200
    );

    // De Vries (served by Northwind) adds Eva: before she accepts it learns nothing about
    // her but the address it typed.
    let added = anna
        .post(
            &users_of(devries),
            json!({ "email": "eva@jansen.example", "first_name": "Typed", "last_name": "By Partner" }),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let before = row(&anna.get(&users_of(devries)).await, "eva@jansen.example");
    assert!(before.pending);
    for (key, value) in [("first_name", &before.first_name), ("last_name", &before.last_name)] {
        assert_eq!(value, "", "{key}: {before:?}");
    }
    assert!(before.software_version.is_none(), "software_version: {before:?}");
    assert!(before.last_online.is_none(), "last_online: {before:?}");
    assert!(before.extension.is_none(), "extension: {before:?}");
    assert!(!before.online);
    assert!(before.activated_modules.is_empty());
    let profile_in_devries = anna.get(&format!("{}/{eva_id}/profile", users_of(devries))).await;
    assert_eq!(
        profile_in_devries.view::<ProfileBody>().profile,
        json!({}),
        "Jansen's profile is not shown"
    );

    // She accepts; de Vries sets its own extension and profile, and her software reports
    // another version there.
    app.accept_invitation(&eva, devries).await;
    let r = anna
        .patch(
            &format!("{}/{eva_id}", users_of(devries)),
            json!({ "extension": "900" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.view::<UserOverviewView>().first_name,
        "Eva",
        "her own name, not what was typed"
    );
    let profile = json!({ "profile": { "dial_prefix": "9" } });
    assert_eq!(
        anna.put(&format!("{}/{eva_id}/profile", users_of(devries)), profile)
            .await
            .status,
        200
    );
    let devries_token = eva
        .acting_as(devries)
        .post("/api/me/tokens", json!({ "name": "bakery softphone" }))
        .await
        .view::<CreatedToken>()
        .token;
    let r = eva
        .with_bearer(&devries_token)
        .post("/api/client/heartbeat", json!({ "software_version": "5.0.0" }))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // A token acts for its own organization only.
    eva.with_bearer(&devries_token)
        .acting_as(jansen)
        .get("/api/me")
        .await
        .assert_problem(403, "not_authorized");

    // Neither organization sees or changes what the other set.
    let (j, d) = (
        row(&jan.get(&users_of(jansen)).await, "eva@jansen.example"),
        row(&anna.get(&users_of(devries)).await, "eva@jansen.example"),
    );
    assert_eq!(
        (j.extension.as_deref(), d.extension.as_deref()),
        (Some("202"), Some("900"))
    );
    assert_eq!(
        (j.software_version.as_deref(), d.software_version.as_deref()),
        (Some("4.1.0"), Some("5.0.0"))
    );
    assert_eq!(
        jan.get(&format!("{}/{eva_id}/profile", users_of(jansen)))
            .await
            .view::<ProfileBody>()
            .profile,
        json!({ "dial_prefix": "0" })
    );
    assert_eq!(
        anna.get(&format!("{}/{eva_id}/profile", users_of(devries)))
            .await
            .view::<ProfileBody>()
            .profile,
        json!({ "dial_prefix": "9" })
    );
    // Her names belong to her: de Vries did not create the account, and Jansen no longer
    // manages it alone now that she is a member elsewhere.
    for (client, org) in [(&anna, devries), (&jan, jansen)] {
        client
            .patch(
                &format!("{}/{eva_id}", users_of(org)),
                json!({ "first_name": "Changed" }),
            )
            .await
            .assert_problem(403, "account_not_managed");
    }
    let r = eva.patch("/api/me", json!({ "first_name": "Eveline" })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        row(&jan.get(&users_of(jansen)).await, "eva@jansen.example").first_name,
        "Eveline"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trial_in_one_organization_does_not_block_a_licence_in_another() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let eva = app.demo("eva@jansen.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let devries = app.org_id("Bakkerij de Vries").await;
    let eva_id = app.user_id("eva@jansen.example").await;
    let crm = module_id(&anna, "CRM").await;

    // Eva takes part in a CRM trial at Jansen.
    let trial = anna
        .post(
            &format!("/api/organizations/{jansen}/trials"),
            json!({ "module_id": crm }),
        )
        .await;
    assert_eq!(trial.status, 201, "{}", trial.body);
    let r = anna
        .post(
            &format!("/api/organizations/{jansen}/trials/{}/users", trial.id()),
            json!({ "user_ids": [eva_id] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // She joins de Vries, which buys the CRM module for her.
    let r = anna
        .post(
            &format!("/api/organizations/{devries}/users"),
            json!({ "email": "eva@jansen.example", "first_name": "Eva", "last_name": "Jansen" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Not licensable while pending.
    anna.post(
        &format!("/api/organizations/{devries}/quotes"),
        json!({ "items": [{ "type": "business", "module_id": crm }, { "type": "users", "module_id": crm, "user_ids": [eva_id] }] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.accept_invitation(&eva, devries).await;
    let q = quote(
        &anna,
        devries,
        json!([{ "type": "business", "module_id": crm }, { "type": "users", "module_id": crm, "user_ids": [eva_id] }]),
    )
    .await;
    assert_eq!(q.status, 201, "{}", q.body);
    let order = confirm(&anna, q.view::<QuoteView>().id).await;
    assert_eq!(order.status, 201, "{}", order.body);
    for org in [jansen, devries] {
        let overview = anna.get(&format!("/api/organizations/{org}/licences")).await;
        let crm = overview
            .view::<Vec<ModuleLicencesView>>()
            .into_iter()
            .find(|m| m.module.code == "CRM")
            .unwrap();
        assert!(
            crm.users.iter().any(|u| u.user_id == eva_id),
            "Eva holds CRM in {org}: {}",
            overview.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_customer_with_an_account_registers_with_it() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post(
            "/api/customer-invitations",
            json!({ "email": "max@alpine.example", "company_name": "Huber Holzbau", "language": "de" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = app.link_token("max@alpine.example", "", "/register/customer/").await;
    let anon = app.anonymous();
    let preview = anon.get(&format!("/api/customer-registrations/{token}")).await;
    assert!(preview.view::<InvitationPreview>().has_account, "{}", preview.body);
    // Without logging in the person is told to, before anything is created.
    anon.post(
        &format!("/api/customer-registrations/{token}"),
        json!({ "company_name": "Huber Holzbau" }),
    )
    .await
    .assert_problem(409, "log_in_first");
    // Someone else's session does not do either.
    anna.post(
        &format!("/api/customer-registrations/{token}"),
        json!({ "company_name": "Huber Holzbau" }),
    )
    .await
    .assert_problem(403, "invitation_for_another_account");

    let max = app.login("max@alpine.example", DEMO_PASSWORD).await;
    let done = max
        .post(
            &format!("/api/customer-registrations/{token}"),
            json!({ "company_name": "Huber Holzbau", "country": "AT" }),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.body);
    assert_eq!(
        done.view::<AcceptedView>().user_id,
        app.user_id("max@alpine.example").await
    );
    let huber = me(&max)
        .await
        .organizations
        .into_iter()
        .find(|o| o.organization_name == "Huber Holzbau")
        .expect("Max runs the new company");
    assert_eq!(huber.role, Role::Administrator);
    // The partner is told and has the customer.
    app.smtp.expect_one("anna@northwind.example", "Huber Holzbau").await;
    let customers = anna.get("/api/customers?status=both").await;
    assert!(
        customers
            .view::<CustomerPage>()
            .items
            .iter()
            .any(|c| c.company == "Huber Holzbau"),
        "{}",
        customers.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_changes_a_customers_status_only_where_it_may() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    // A customer that registered through an invitation grants nothing at first.
    let visser = app
        .invited_customer(&anna, "vera@visser.example", "Visser Transport")
        .await;
    for change in [json!({ "active": false }), json!({ "customer_type": "PROSPECT" })] {
        anna.patch(&format!("/api/customers/{visser}"), change)
            .await
            .assert_problem(403, "not_authorized");
    }
    // Its own fields still change (rate, debtor number).
    let r = anna
        .patch(&format!("/api/customers/{visser}"), json!({ "debtor_number": "D-77" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Once the customer grants it, the partner may deactivate it.
    let vera = app.login("vera@visser.example", "vera's long password").await;
    let r = vera
        .put(
            &format!("/api/organizations/{visser}/service-provider/grants"),
            json!({ "permissions": ["edit_company_status", "manage_licences"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = anna
        .patch(&format!("/api/customers/{visser}"), json!({ "active": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.view::<CustomerView>().active);

    // A deactivated customer buys nothing, starts no trial, and its members download nothing.
    let crm = module_id(&anna, "CRM").await;
    anna.post(
        &format!("/api/organizations/{visser}/quotes"),
        json!({ "items": [{ "type": "business", "module_id": crm }] }),
    )
    .await
    .assert_problem(409, "organization_inactive");
    anna.post(
        &format!("/api/organizations/{visser}/trials"),
        json!({ "module_id": crm }),
    )
    .await
    .assert_problem(409, "organization_inactive");
    vera.get("/api/software")
        .await
        .assert_problem(409, "organization_inactive");

    // A customer the partner created may always be switched off by it.
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let r = anna
        .patch(&format!("/api/customers/{jansen}"), json!({ "active": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.demo("eva@jansen.example")
        .await
        .get("/api/software")
        .await
        .assert_problem(409, "organization_inactive");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_pages_work_in_a_browser() {
    let app = TestApp::spawn().await;
    let browser = crate::harness::browser_client;
    let page = |b: reqwest::Client, path: String| {
        let url = format!("{}{path}", app.base);
        async move {
            let r = b.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // Sign up, then confirm from the e-mailed link with a button (a mail scanner that
    // only opens the link confirms nothing).
    let web = browser();
    let (status, html) = page(web.clone(), "/signup".into()).await;
    assert_eq!(status, 200);
    let sent = web
        .post(format!("{}/signup", app.base))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("first_name", "Paula"),
            ("last_name", "Page"),
            ("email", "paula@example.com"),
            ("password", "paula's long password"),
            ("language", "en"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert!(sent.text().await.unwrap().contains("Check your inbox"));
    let token = app.link_token("paula@example.com", "Confirm", "/signup/confirm/").await;
    let (status, html) = page(web.clone(), format!("/signup/confirm/{token}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("paula@example.com") && html.contains("<form method=\"post\">"),
        "{html}"
    );
    app.anonymous()
        .post(
            "/api/auth/login",
            json!({ "email": "paula@example.com", "password": "paula's long password" }),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    let confirmed = web
        .post(format!("{}/signup/confirm/{token}", app.base))
        .form(&[("csrf_token", csrf_token(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().contains("Account created"));

    // Invited to an organization: the e-mailed page asks to log in, then offers accept.
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let r = anna
        .post(
            &format!("/api/organizations/{northwind}/members"),
            json!({ "email": "paula@example.com", "first_name": "P", "last_name": "P" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let invite = app.link_token("paula@example.com", "Northwind", "/invitations/").await;
    let (status, html) = page(web.clone(), format!("/invitations/{invite}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Join Northwind IT Services?"), "{html}");
    assert!(html.contains(&format!("/login?next=/invitations/{invite}")), "{html}");
    let (_, html) = page(web.clone(), format!("/login?next=/invitations/{invite}")).await;
    let login = web
        .post(format!("{}/login", app.base))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "paula@example.com"),
            ("password", "paula's long password"),
            ("next", &format!("/invitations/{invite}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    assert_eq!(login.headers()["location"], format!("/invitations/{invite}").as_str());
    let (_, html) = page(web.clone(), format!("/invitations/{invite}")).await;
    assert!(html.contains("value=\"accept\""), "{html}");
    let accepted = web
        .post(format!("{}/invitations/{invite}", app.base))
        .form(&[("csrf_token", csrf_token(&html).as_str()), ("answer", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 303);
    let (_, home) = page(web.clone(), "/".into()).await;
    assert!(home.contains("Northwind IT Services"), "{home}");

    // After log-in only a path on this site is followed.
    let other = browser();
    let (_, html) = page(other.clone(), "/login".into()).await;
    let r = other
        .post(format!("{}/login", app.base))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "paula@example.com"),
            ("password", "paula's long password"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");

    // Forgot password.
    let forgetful = browser();
    let (status, html) = page(forgetful.clone(), "/password/forgot".into()).await;
    assert_eq!(status, 200);
    let r = forgetful
        .post(format!("{}/password/forgot", app.base))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "paula@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.link_token("paula@example.com", "Reset your password", "/password/")
        .await;
}
