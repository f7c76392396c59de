//! Inviting members, setting a password through the e-mailed link, permissions and the
//! rule that an organization keeps an administrator.

use serde_json::json;

use crate::harness::TestApp;

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
    assert_eq!(r.body["email"], "sophie@northwind.example");
    assert_eq!(r.body["role"], "member");
    assert_eq!(r.body["permissions"], json!(["partner.create_customers"]));
    assert_eq!(r.body["has_password"], false);

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
    assert_eq!(info.body["email"], "sophie@northwind.example");
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
    let me = sophie.get("/api/me").await;
    let perms = me.body["organizations"][0]["permissions"].as_array().unwrap().clone();
    assert!(
        perms.contains(&json!("partner.create_customers")) && perms.contains(&json!("partner.manage_customers")),
        "{perms:?}"
    );
    assert!(!perms.contains(&json!("partner.manage_portal")));

    // The invitation is audited for the organization.
    let audit = anna.get(&format!("/api/organizations/{northwind}/audit")).await;
    assert!(
        audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "member.invited" && e["changes"]["email"] == "sophie@northwind.example")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn someone_with_an_account_is_added_and_told() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let r = anna
        .post(
            &format!("/api/organizations/{northwind}/members"),
            json!({ "email": "max@alpine.example", "first_name": "Max", "last_name": "Huber" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["has_password"], true);
    app.smtp
        .expect_one("max@alpine.example", "You now have access to Northwind IT Services")
        .await;

    // Adding the same person twice is a conflict on the e-mail field.
    let again = anna
        .post(
            &format!("/api/organizations/{northwind}/members"),
            json!({ "email": "max@alpine.example", "first_name": "Max", "last_name": "Huber" }),
        )
        .await;
    again.assert_problem(409, "already_member");
    assert_eq!(again.body["field"], "email");
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
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["field"], "permissions[0]");
    assert_eq!(errors[0]["code"], "permission_not_available");
    assert_eq!(errors[1]["field"], "permissions[1]");
    assert_eq!(errors[1]["code"], "unknown_permission");

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
    assert_eq!(r.body["errors"][0]["code"], "permission_not_held");
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

    anna.patch(&format!("{url}/{anna_id}"), json!({ "role": "member" }))
        .await
        .assert_problem(409, "last_administrator");
    anna.patch(&format!("{url}/{anna_id}"), json!({ "active": false }))
        .await
        .assert_problem(409, "last_administrator");
    anna.delete(&format!("{url}/{anna_id}"))
        .await
        .assert_problem(409, "last_administrator");

    // With a second administrator, Anna may step down.
    let r = anna
        .patch(&format!("{url}/{pieter_id}"), json!({ "role": "administrator" }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], "administrator");
    let r = anna
        .patch(
            &format!("{url}/{anna_id}"),
            json!({ "role": "member", "permissions": ["partner.manage_customers"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Anna no longer manages members.
    anna.get(&url).await.assert_problem(403, "not_authorized");
    let pieter = app.demo("pieter@northwind.example").await;
    assert_eq!(pieter.delete(&format!("{url}/{anna_id}")).await.status, 204);
    let names: Vec<String> = pieter
        .get(&url)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["pieter@northwind.example"]);
    anna.get("/api/partner-status")
        .await
        .assert_problem(403, "no_organization");
}
