//! Inviting members, setting a password through the e-mailed link, permissions and the
//! rule that an organization keeps an administrator.

use partnerdesk_core::platform::authz::{Permission, Role};
use partnerdesk_web::api::{
    identity::auth::{JoinedView, PasswordLinkView},
    tenancy::{audit::AuditEntryView, members::MemberView},
};
use serde_json::json;

use crate::fixtures::me;
use crate::harness::{Problem, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_person_sets_a_password_through_the_link_once() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;

    let r = anna
        .post(
            &format!("/api/organizations/{northwind}/members"),
            json!({ "email": "Sophie@Northwind.example", "first_name": "Sophie", "last_name": "Visser", "permissions": ["partner.create_customers"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sophie: MemberView = r.view();
    assert_eq!(sophie.email, "sophie@northwind.example");
    assert_eq!(sophie.role, Role::Member);
    assert_eq!(sophie.permissions, [Permission::CreateCustomers]);
    // Pending until she sets her password: only the address Anna typed is shown.
    assert!(sophie.pending);
    assert_eq!((sophie.first_name.as_str(), sophie.last_name.as_str()), ("", ""));

    let mail = app
        .smtp
        .expect_one(
            "sophie@northwind.example",
            "You have been invited to Northwind IT Services",
        )
        .await;
    let link = mail
        .link(&format!("{}/password/", app.base))
        .expect("a set-password link");
    let token = link.rsplit('/').next().unwrap().to_owned();
    assert!(mail.html.contains(&token), "the HTML part carries the same link");

    let anon = app.anonymous();
    let info = anon.get(&format!("/api/auth/password-links/{token}")).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.view::<PasswordLinkView>().email, "sophie@northwind.example");
    anon.post(
        &format!("/api/auth/password-links/{token}"),
        json!({ "password": "short" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let set = anon
        .post(
            &format!("/api/auth/password-links/{token}"),
            json!({ "password": "sophie's long password" }),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    anon.post(
        &format!("/api/auth/password-links/{token}"),
        json!({ "password": "another long password" }),
    )
    .await
    .assert_problem(410, "link_used");
    anon.get("/api/auth/password-links/not-a-token")
        .await
        .assert_problem(410, "link_invalid");

    // She can log in and holds what she was given, and what it implies.
    let sophie = app.login("sophie@northwind.example", "sophie's long password").await;
    let perms = me(&sophie).await.organizations.remove(0).permissions;
    assert!(
        perms.contains(&Permission::CreateCustomers) && perms.contains(&Permission::ManageCustomers),
        "{perms:?}"
    );
    assert!(!perms.contains(&Permission::ManagePartnerPortal));

    // The invitation is audited for the organization.
    let audit: Vec<AuditEntryView> = anna.get(&format!("/api/organizations/{northwind}/audit")).await.view();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "member.invited" && e.changes["email"] == "sophie@northwind.example")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn someone_with_an_account_joins_only_after_accepting() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let url = format!("/api/organizations/{northwind}/members");
    // Max has an account (Alpine's administrator); a new address is answered alike.
    let max = anna
        .post(
            &url,
            json!({ "email": "max@alpine.example", "first_name": "Maximilian", "last_name": "H" }),
        )
        .await;
    let new = anna
        .post(
            &url,
            json!({ "email": "nieuw@northwind.example", "first_name": "Nieuw", "last_name": "N" }),
        )
        .await;
    assert_eq!((max.status, new.status), (201, 201), "{} {}", max.body, new.body);
    let shape = |b: &serde_json::Value| {
        let mut b = b.clone();
        for key in ["user_id", "email", "created_at"] {
            b.as_object_mut().unwrap().remove(key);
        }
        b
    };
    // The wire itself, field for field: the two answers differ in nothing else.
    assert_eq!(shape(&max.body), shape(&new.body), "no account enumeration");
    let max: MemberView = max.view();
    assert!(max.pending);
    assert_eq!(max.first_name, "", "Northwind does not see his name yet");

    // He is asked, in his own language; until he accepts he gains nothing.
    let mail = app
        .smtp
        .expect_one("max@alpine.example", "Einladung, Northwind IT Services beizutreten")
        .await;
    let link = mail
        .link(&format!("{}/invitations/", app.base))
        .expect("an invitation link");
    let token = link.rsplit('/').next().unwrap().to_owned();
    let max_client = app.demo("max@alpine.example").await;
    let who = me(&max_client).await;
    assert_eq!(who.pending_invitations[0].organization_name, "Northwind IT Services");
    assert!(
        !who.organizations
            .iter()
            .any(|o| o.organization_name == "Northwind IT Services")
    );
    max_client
        .acting_as(northwind)
        .get(&format!("/api/organizations/{northwind}"))
        .await
        .assert_problem(403, "not_authorized");

    // The link is his alone.
    anna.post(&format!("/api/membership-invitations/{token}/accept"), json!({}))
        .await
        .assert_problem(403, "invitation_for_another_account");
    let joined = max_client
        .post(&format!("/api/membership-invitations/{token}/accept"), json!({}))
        .await;
    assert_eq!(joined.status, 200, "{}", joined.body);
    assert_eq!(joined.view::<JoinedView>().organization_id, northwind);
    assert_eq!(
        max_client
            .acting_as(northwind)
            .get(&format!("/api/organizations/{northwind}"))
            .await
            .status,
        200
    );
    let listed: Vec<MemberView> = anna.get(&url).await.view();
    let max_row = listed.iter().find(|m| m.email == "max@alpine.example").unwrap();
    assert_eq!((max_row.pending, max_row.first_name.as_str()), (false, "Max"));

    // Adding the same person twice is a conflict on the e-mail field.
    let again = anna
        .post(
            &url,
            json!({ "email": "max@alpine.example", "first_name": "Max", "last_name": "Huber" }),
        )
        .await;
    again.assert_problem(409, "already_member");
    assert_eq!(again.parse::<Problem>().field.as_deref(), Some("email"));

    // Removed and added again, he is asked again (one e-mail per membership).
    let max_id = app.user_id("max@alpine.example").await;
    assert_eq!(anna.delete(&format!("{url}/{max_id}")).await.status, 204);
    let r = anna
        .post(
            &url,
            json!({ "email": "max@alpine.example", "first_name": "Max", "last_name": "Huber" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.smtp
        .wait_for(2, std::time::Duration::from_secs(15), |m| {
            m.envelope_to.contains(&"max@alpine.example".to_owned()) && m.subject.contains("Einladung")
        })
        .await;

    // He may also decline; then the organization may invite again later.
    app.smtp
        .expect_one("nieuw@northwind.example", "Northwind IT Services")
        .await;
    let decline = max_client
        .post(&format!("/api/me/invitations/{northwind}/decline"), json!({}))
        .await;
    assert_eq!(decline.status, 204, "{}", decline.body);
    assert!(me(&max_client).await.pending_invitations.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_are_checked_when_given() {
    let app = TestApp::spawn().await;
    let northwind = app.org_id("Northwind IT Services").await;
    let anna = app.demo("anna@northwind.example").await;
    let url = format!("/api/organizations/{northwind}/members");
    let person = |perms: serde_json::Value| json!({ "email": "new@northwind.example", "first_name": "N", "last_name": "W", "permissions": perms });

    let r = anna
        .post(
            &url,
            person(json!(["vendor.sales", "nonsense", "partner.manage_customers"])),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let errors = r.field_errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].pair(), ("permissions[0]", "permission_not_available"));
    assert_eq!(errors[1].pair(), ("permissions[1]", "unknown_permission"));

    // A member with manage_members cannot hand out what they do not hold.
    let pieter_id = app.user_id("pieter@northwind.example").await;
    let r = anna
        .patch(
            &format!("{url}/{pieter_id}"),
            json!({ "permissions": ["partner.manage_customers", "manage_members"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pieter = app.demo("pieter@northwind.example").await;
    let r = pieter.post(&url, person(json!(["partner.manage_portal"]))).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.field_errors()[0].code, "permission_not_held");
    let r = pieter.post(&url, person(json!(["partner.manage_customers"]))).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organization_keeps_an_administrator() {
    let app = TestApp::spawn().await;
    let northwind = app.org_id("Northwind IT Services").await;
    let anna_id = app.user_id("anna@northwind.example").await;
    let pieter_id = app.user_id("pieter@northwind.example").await;
    let anna = app.demo("anna@northwind.example").await;
    let url = format!("/api/organizations/{northwind}/members");

    // Nobody changes their own role or status, administrators included.
    anna.patch(&format!("{url}/{anna_id}"), json!({ "role": "member" }))
        .await
        .assert_problem(403, "own_membership");
    anna.patch(&format!("{url}/{anna_id}"), json!({ "active": false }))
        .await
        .assert_problem(403, "own_membership");
    // The last administrator can neither leave nor be removed, demoted or deactivated,
    // not even by the vendor's administrator.
    anna.delete(&format!("{url}/{anna_id}"))
        .await
        .assert_problem(409, "last_administrator");
    anna.delete(&format!("/api/me/memberships/{northwind}"))
        .await
        .assert_problem(409, "last_administrator");
    let vendor_admin = app.demo("admin@vendor.example").await;
    for change in [json!({ "role": "member" }), json!({ "active": false })] {
        vendor_admin
            .patch(&format!("{url}/{anna_id}"), change)
            .await
            .assert_problem(409, "last_administrator");
    }
    vendor_admin
        .delete(&format!("{url}/{anna_id}"))
        .await
        .assert_problem(409, "last_administrator");

    // With a second administrator, the other one may demote Anna.
    let r = anna
        .patch(&format!("{url}/{pieter_id}"), json!({ "role": "administrator" }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.view::<MemberView>().role, Role::Administrator);
    let pieter = app.demo("pieter@northwind.example").await;
    let r = pieter
        .patch(
            &format!("{url}/{anna_id}"),
            json!({ "role": "member", "permissions": ["partner.manage_customers"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Anna no longer manages members.
    anna.get(&url).await.assert_problem(403, "not_authorized");
    assert_eq!(pieter.delete(&format!("{url}/{anna_id}")).await.status, 204);
    let names: Vec<String> = pieter
        .get(&url)
        .await
        .view::<Vec<MemberView>>()
        .into_iter()
        .map(|m| m.email)
        .collect();
    assert_eq!(names, ["pieter@northwind.example"]);
    anna.get("/api/partner-status")
        .await
        .assert_problem(403, "no_organization");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_who_manages_members_cannot_promote_anyone() {
    let app = TestApp::spawn().await;
    let northwind = app.org_id("Northwind IT Services").await;
    let anna_id = app.user_id("anna@northwind.example").await;
    let pieter_id = app.user_id("pieter@northwind.example").await;
    let anna = app.demo("anna@northwind.example").await;
    let url = format!("/api/organizations/{northwind}/members");
    // Pieter may manage members, nothing more.
    let r = anna
        .patch(
            &format!("{url}/{pieter_id}"),
            json!({ "permissions": ["partner.manage_customers", "manage_members"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pieter = app.demo("pieter@northwind.example").await;

    // Not himself...
    for change in [
        json!({ "role": "administrator" }),
        json!({ "permissions": ["partner.manage_customers", "manage_members", "partner.manage_portal"] }),
    ] {
        pieter
            .patch(&format!("{url}/{pieter_id}"), change)
            .await
            .assert_problem(403, "own_membership");
    }
    // ...nor anyone else: no administrators or company administrators, by invitation or
    // promotion, and no change to an administrator.
    let sophie = pieter
        .post(
            &url,
            json!({ "email": "sophie@northwind.example", "first_name": "Sophie", "last_name": "V" }),
        )
        .await;
    assert_eq!(sophie.status, 201, "{}", sophie.body);
    let sophie_id = sophie.view::<MemberView>().user_id;
    for role in ["administrator", "company_admin"] {
        pieter
            .patch(&format!("{url}/{sophie_id}"), json!({ "role": role }))
            .await
            .assert_problem(403, "not_authorized");
        pieter
            .post(
                &url,
                json!({ "email": format!("{role}@northwind.example"), "first_name": "A", "last_name": "B", "role": role }),
            )
            .await
            .assert_problem(403, "not_authorized");
    }
    pieter
        .patch(&format!("{url}/{anna_id}"), json!({ "active": false }))
        .await
        .assert_problem(403, "not_authorized");
    pieter
        .delete(&format!("{url}/{anna_id}"))
        .await
        .assert_problem(403, "not_authorized");
    // Nothing changed.
    let members: Vec<MemberView> = anna.get(&url).await.view();
    let role_of = |email: &str| members.iter().find(|m| m.email == email).map(|m| (m.role, m.active));
    assert_eq!(role_of("anna@northwind.example"), Some((Role::Administrator, true)));
    assert_eq!(role_of("pieter@northwind.example"), Some((Role::Member, true)));
    assert_eq!(role_of("sophie@northwind.example"), Some((Role::Member, true)));
    assert_eq!(role_of("administrator@northwind.example"), None);
}
