//! Users of a customer: adding one, CSV import, the company administrator's rights line
//! by line, a plain user, the user overview and the software heartbeat.

use chrono::Duration;
use partnerdesk_core::platform::authz::Permission;
use partnerdesk_web::api::{
    identity::auth::CreatedToken,
    tenancy::{
        audit::AuditEntryView,
        integrations::IntegrationView,
        users::{ImportResult, UserOverviewView},
    },
};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::me;
use crate::harness::{Client, Resp, TestApp};

struct Jansen {
    app: TestApp,
    org: Uuid,
    jan: Client,  // company administrator
    eva: Client,  // plain user
    anna: Client, // the partner
}

async fn jansen() -> Jansen {
    let app = TestApp::spawn().await;
    let org = app.org_id("Jansen Installatietechniek").await;
    let jan = app.demo("jan@jansen.example").await;
    let eva = app.demo("eva@jansen.example").await;
    let anna = app.demo("anna@northwind.example").await;
    Jansen {
        app,
        org,
        jan,
        eva,
        anna,
    }
}

async fn import(client: &Client, org: Uuid, csv: &str, valid_only: bool) -> Resp {
    client
        .post_bytes(
            &format!("/api/organizations/{org}/users/import?valid_only={valid_only}"),
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await
}

async fn emails(client: &Client, org: Uuid) -> Vec<String> {
    let r = client.get(&format!("/api/organizations/{org}/users")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut e: Vec<String> = r.view::<Vec<UserOverviewView>>().into_iter().map(|u| u.email).collect();
    e.sort();
    e
}

// --- The company administrator, line by line (Red Cactus) -------------------------

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_can_see_users_with_status_and_software_version() {
    let t = jansen().await;
    let r = t.jan.get(&format!("/api/organizations/{}/users", t.org)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The wire itself: every column is sent, null or not.
    let raw = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "eva@jansen.example")
        .unwrap()
        .clone();
    for key in [
        "online",
        "software_version",
        "last_online",
        "activated_modules",
        "extension",
        "active",
        "created_at",
    ] {
        assert!(raw.get(key).is_some(), "{key} is shown");
    }
    let eva = r
        .view::<Vec<UserOverviewView>>()
        .into_iter()
        .find(|u| u.email == "eva@jansen.example")
        .unwrap();
    assert!(!eva.online);
    assert_eq!(eva.extension.as_deref(), Some("202"));
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_can_edit_names() {
    let t = jansen().await;
    let eva = t.app.user_id("eva@jansen.example").await;
    let r = t
        .jan
        .patch(
            &format!("/api/organizations/{}/users/{eva}", t.org),
            json!({ "first_name": "Eveline", "last_name": "Jansen-Bos" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let eva: UserOverviewView = r.view();
    assert_eq!(
        (eva.first_name.as_str(), eva.last_name.as_str()),
        ("Eveline", "Jansen-Bos")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_can_add_internal_numbers() {
    let t = jansen().await;
    let eva = t.app.user_id("eva@jansen.example").await;
    let r = t
        .jan
        .patch(
            &format!("/api/organizations/{}/users/{eva}", t.org),
            json!({ "extension": "299" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.view::<UserOverviewView>().extension.as_deref(), Some("299"));
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_can_create_users_one_at_a_time() {
    let t = jansen().await;
    let r = t
        .jan
        .post(
            &format!("/api/organizations/{}/users", t.org),
            json!({ "email": "piet@jansen.example", "first_name": "Piet", "last_name": "Jansen" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.view::<UserOverviewView>().company_admin);
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_cannot_import_users_in_bulk() {
    let t = jansen().await;
    import(
        &t.jan,
        t.org,
        "email,first_name,last_name\npiet@jansen.example,Piet,Jansen\n",
        false,
    )
    .await
    .assert_problem(403, "not_authorized");
    assert!(!emails(&t.anna, t.org).await.contains(&"piet@jansen.example".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_can_manage_connectors_and_integrations() {
    let t = jansen().await;
    let url = format!("/api/organizations/{}/integrations", t.org);
    let r = t
        .jan
        .post(
            &url,
            json!({ "kind": "phone_connector", "name": "Office PBX", "settings": { "host": "pbx.jansen.example" } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.id();
    let r = t.jan.patch(&format!("{url}/{id}"), json!({ "active": false })).await;
    assert!(!r.view::<IntegrationView>().active);
    let r = t.jan.post(&url, json!({ "kind": "crm", "name": "HubSpot" })).await;
    assert_eq!(r.status, 201);
    assert_eq!(t.jan.get(&url).await.view::<Vec<IntegrationView>>().len(), 2);
    assert_eq!(t.jan.delete(&format!("{url}/{id}")).await.status, 204);
    t.jan
        .post(&url, json!({ "kind": "fax", "name": "" }))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_cannot_change_company_details() {
    let t = jansen().await;
    t.jan
        .patch(
            &format!("/api/organizations/{}", t.org),
            json!({ "name": "Jan's Company" }),
        )
        .await
        .assert_problem(403, "not_authorized");
    // The partner, whom the customer granted it, can.
    let r = t
        .anna
        .patch(
            &format!("/api/organizations/{}", t.org),
            json!({ "name": "Jansen Installatietechniek B.V." }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_cannot_buy_or_assign_licences() {
    let t = jansen().await;
    // Licences are bought and assigned through the one authorization function with
    // "manage licences"; the company administrator does not hold it, the partner does.
    let mut conn = t.app.conn().await;
    let jan = partnerdesk_core::platform::authz::Actor::new(
        t.app.user_id("jan@jansen.example").await.into(),
        Some(t.org.into()),
        chrono::Utc::now(),
    );
    let refused = partnerdesk_core::platform::authz::authorize(
        &mut conn,
        &jan,
        t.org,
        partnerdesk_core::platform::authz::Permission::ManageLicences,
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(partnerdesk_core::Error::Forbidden {
                code: "not_authorized",
                ..
            })
        ),
        "{refused:?}"
    );
    let northwind = t.app.org_id("Northwind IT Services").await;
    let anna = partnerdesk_core::platform::authz::Actor::new(
        t.app.user_id("anna@northwind.example").await.into(),
        Some(northwind.into()),
        chrono::Utc::now(),
    );
    assert!(
        partnerdesk_core::platform::authz::authorize(
            &mut conn,
            &anna,
            t.org,
            partnerdesk_core::platform::authz::Permission::ManageLicences
        )
        .await
        .is_ok()
    );
    assert!(
        !me(&t.jan).await.organizations[0]
            .permissions
            .contains(&Permission::ManageLicences)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_cannot_change_company_settings() {
    let t = jansen().await;
    let url = format!("/api/organizations/{}/settings", t.org);
    assert_eq!(
        t.jan.get(&url).await.body,
        json!({ "allow_updates": true, "allow_beta": true, "require_sso": false })
    );
    t.jan
        .put(&url, json!({ "allow_beta": false }))
        .await
        .assert_problem(403, "not_authorized");
    let r = t.anna.put(&url, json!({ "allow_beta": false })).await;
    assert_eq!(
        r.body,
        json!({ "allow_updates": true, "allow_beta": false, "require_sso": false })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn company_admin_cannot_make_company_administrators_or_deactivate_users() {
    let t = jansen().await;
    let eva = t.app.user_id("eva@jansen.example").await;
    t.jan
        .post(
            &format!("/api/organizations/{}/users", t.org),
            json!({ "email": "x@jansen.example", "first_name": "X", "last_name": "Y", "company_admin": true }),
        )
        .await
        .assert_problem(403, "not_authorized");
    t.jan
        .patch(
            &format!("/api/organizations/{}/users/{eva}", t.org),
            json!({ "company_admin": true }),
        )
        .await
        .assert_problem(403, "not_authorized");
    t.jan
        .patch(
            &format!("/api/organizations/{}/users/{eva}", t.org),
            json!({ "active": false }),
        )
        .await
        .assert_problem(403, "not_authorized");
    // The partner can.
    let r = t
        .anna
        .patch(
            &format!("/api/organizations/{}/users/{eva}", t.org),
            json!({ "company_admin": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.view::<UserOverviewView>().company_admin);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_administrator_rights_sees_only_software_downloads() {
    let t = jansen().await;
    assert_eq!(
        me(&t.eva).await.organizations[0].permissions,
        [Permission::ViewOrganization, Permission::DownloadSoftware]
    );
    let org = t.org;
    let eva_id = t.app.user_id("eva@jansen.example").await;
    for r in [
        t.eva.get(&format!("/api/organizations/{org}/users")).await,
        t.eva
            .post(
                &format!("/api/organizations/{org}/users"),
                json!({ "email": "x@jansen.example", "first_name": "X", "last_name": "Y" }),
            )
            .await,
        t.eva
            .patch(
                &format!("/api/organizations/{org}/users/{eva_id}"),
                json!({ "extension": "1" }),
            )
            .await,
        t.eva.get(&format!("/api/organizations/{org}/integrations")).await,
        t.eva
            .patch(&format!("/api/organizations/{org}"), json!({ "name": "X" }))
            .await,
        t.eva
            .put(
                &format!("/api/organizations/{org}/settings"),
                json!({ "allow_beta": false }),
            )
            .await,
        t.eva.get(&format!("/api/organizations/{org}/members")).await,
        t.eva.get(&format!("/api/organizations/{org}/audit")).await,
    ] {
        r.assert_problem(403, "not_authorized");
    }
}

// --- Adding users ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_added_user_gets_a_set_password_email_in_the_companys_language() {
    let t = jansen().await;
    let r = t
        .anna
        .post(&format!("/api/organizations/{}/users", t.org), json!({ "email": "Piet@Jansen.example", "first_name": "Piet", "last_name": "Jansen", "extension": "205", "company_admin": true }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let piet: UserOverviewView = r.view();
    assert!(piet.company_admin);
    assert!(piet.pending);
    let mail = t
        .app
        .smtp
        .expect_one("piet@jansen.example", "Jansen Installatietechniek")
        .await;
    assert!(!mail.text.contains("Hello"), "Dutch for a Dutch company: {}", mail.text);
    let link = mail
        .link(&format!("{}/password/", t.app.base))
        .expect("set-password link");
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(
        t.app
            .anonymous()
            .post(
                &format!("/api/auth/password-links/{token}"),
                json!({ "password": "piet's long password" })
            )
            .await
            .status,
        200
    );
    let piet = t.app.login("piet@jansen.example", "piet's long password").await;
    assert_eq!(
        piet.get(&format!("/api/organizations/{}/users", t.org)).await.status,
        200,
        "a company administrator"
    );

    t.anna
        .post(
            &format!("/api/organizations/{}/users", t.org),
            json!({ "email": "piet@jansen.example", "first_name": "P", "last_name": "J" }),
        )
        .await
        .assert_problem(409, "already_member");
    let r = t
        .anna
        .post(
            &format!("/api/organizations/{}/users", t.org),
            json!({ "email": "x", "first_name": "", "last_name": "J", "extension": "123456789012345678901" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "extension", "first_name"]);
}

// --- CSV import -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_file_is_imported_with_invitation_emails() {
    let t = jansen().await;
    let csv = "email,first_name,last_name,extension,company_admin\nann@jansen.example,Ann,Smit,301,false\nbob@jansen.example,Bob,Bakker,,true\nmax@alpine.example,Max,Huber,302,\n";
    let r = import(&t.anna, t.org, csv, false).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Max has an account; the report does not tell.
    assert_eq!(r.body, json!({ "rows": 3, "imported": 3, "skipped": [] }));
    let users: Vec<UserOverviewView> = t.anna.get(&format!("/api/organizations/{}/users", t.org)).await.view();
    let bob = users.iter().find(|u| u.email == "bob@jansen.example").unwrap();
    assert!(bob.company_admin);
    assert!(bob.extension.is_none());
    assert!(bob.pending);
    // Each new person is invited to set a password; Max, who has an account, is asked
    // to join.
    t.app
        .smtp
        .expect_one("ann@jansen.example", "Jansen Installatietechniek")
        .await;
    t.app
        .smtp
        .expect_one("bob@jansen.example", "Jansen Installatietechniek")
        .await;
    t.app
        .smtp
        .expect_one("max@alpine.example", "Jansen Installatietechniek")
        .await;
    let audit: Vec<AuditEntryView> = t.anna.get(&format!("/api/organizations/{}/audit", t.org)).await.view();
    let entry = audit.iter().find(|e| e.action == "users.imported").unwrap();
    assert_eq!(entry.changes["imported"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_uploaded_in_a_form_is_imported() {
    let t = jansen().await;
    let path = format!("/api/organizations/{}/users/import", t.org);
    let form = |field: &str| {
        format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\nemail,first_name,last_name\nann@jansen.example,Ann,Smit\n\r\n--XyZ--\r\n"
        )
        .into_bytes()
    };
    let r = t
        .anna
        .post_bytes(&path, "multipart/form-data; boundary=XyZ", form("file"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body, json!({ "rows": 1, "imported": 1, "skipped": [] }));
    assert!(emails(&t.anna, t.org).await.contains(&"ann@jansen.example".to_owned()));
    // A form without the `file` field names what is missing.
    let r = t
        .anna
        .post_bytes(&path, "multipart/form-data; boundary=XyZ", form("upload"))
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["file"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bom_and_semicolons_are_understood() {
    let t = jansen().await;
    let csv = "\u{feff}Email;First_Name;Last_Name;Extension\r\nann@jansen.example;Ann;Smit;301\r\ncees@jansen.example;Cees;Kok;302\r\n";
    let r = import(&t.anna, t.org, csv, false).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.view::<ImportResult>().imported, 2);
    assert!(emails(&t.anna, t.org).await.contains(&"ann@jansen.example".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_bad_row_is_reported_and_nothing_is_imported() {
    let t = jansen().await;
    let before = emails(&t.anna, t.org).await;
    let csv = "email,first_name,last_name,extension,company_admin
ann@jansen.example,Ann,Smit,301,no
not-an-email,Bob,Bakker,,no
cees@jansen.example,,Kok,,no
ann@jansen.example,Ann,Again,,no
eva@jansen.example,Eva,Jansen,,no
dirk@jansen.example,Dirk,Dam,,perhaps
";
    let r = import(&t.anna, t.org, csv, false).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.error_fields(),
        [
            "rows[3].email",
            "rows[4].first_name",
            "rows[5].email",
            "rows[6].email",
            "rows[7].company_admin"
        ]
    );
    let errors = r.field_errors();
    let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "invalid_email",
            "required",
            "duplicate_in_file",
            "already_a_user",
            "invalid_boolean"
        ]
    );
    assert!(errors[2].message.contains("line 2"), "{:?}", errors[2]);
    assert_eq!(emails(&t.anna, t.org).await, before, "nothing imported");
    t.app.settle().await;
    assert!(t.app.smtp.messages().is_empty(), "no invitations for a refused file");

    // Asking for the valid rows only imports Ann and reports the rest.
    let r = import(&t.anna, t.org, csv, true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let result: ImportResult = r.view();
    assert_eq!(result.imported, 1);
    let lines: Vec<u64> = result.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7]);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_columns_empty_files_and_too_many_rows_are_refused() {
    let t = jansen().await;
    let r = import(&t.anna, t.org, "mail;name\nann@jansen.example;Ann\n", false).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.error_fields(),
        ["rows[1].email", "rows[1].first_name", "rows[1].last_name"]
    );
    import(&t.anna, t.org, "", false)
        .await
        .assert_problem(422, "validation_failed");
    import(&t.anna, t.org, "email,first_name,last_name\n", false)
        .await
        .assert_problem(422, "validation_failed");
    let mut big = String::from("email,first_name,last_name\n");
    for i in 0..10_001 {
        big.push_str(&format!("u{i}@jansen.example,U,{i}\n"));
    }
    let r = import(&t.anna, t.org, &big, false).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["file"]);
    let r = t
        .anna
        .post_bytes(
            &format!("/api/organizations/{}/users/import", t.org),
            "text/csv",
            vec![0xff, 0xfe, 0x00],
        )
        .await;
    r.assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_rows_are_imported_in_one_transaction() {
    let t = jansen().await;
    let mut csv = String::from("email;first_name;last_name;extension\n");
    for i in 0..10_000 {
        csv.push_str(&format!("user{i}@big.example;User;Number {i};{}\n", 1000 + i));
    }
    let r = import(&t.anna, t.org, &csv, false).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.view::<ImportResult>().imported, 10_000);
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel_async::RunQueryDsl;
    let counts: N = diesel::sql_query(format!(
        "SELECT (SELECT count(*) FROM memberships WHERE organization_id = '{}') * 1000000
              + (SELECT count(*) FROM email_deliveries WHERE template = 'member_invitation') AS n",
        t.org
    ))
    .get_result(&mut t.app.conn().await)
    .await
    .unwrap();
    assert_eq!(
        counts.n,
        10_002 * 1_000_000 + 10_000,
        "members and their invitation e-mails"
    );
}

// --- Overview and heartbeat ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_software_reports_presence_and_version() {
    let t = jansen().await;
    let token = t
        .eva
        .post("/api/me/tokens", json!({ "name": "desktop app" }))
        .await
        .view::<CreatedToken>()
        .token;
    let software = t.eva.with_bearer(&token);
    assert_eq!(
        software
            .post("/api/client/heartbeat", json!({ "software_version": "4.12.1" }))
            .await
            .status,
        204
    );

    let find = |r: Resp| {
        r.view::<Vec<UserOverviewView>>()
            .into_iter()
            .find(|u| u.email == "eva@jansen.example")
            .unwrap()
    };
    let eva = find(t.jan.get(&format!("/api/organizations/{}/users", t.org)).await);
    assert!(eva.online);
    assert_eq!(eva.software_version.as_deref(), Some("4.12.1"));
    assert!(eva.last_online.is_some());

    t.app.advance(Duration::minutes(6));
    let jan = t.app.demo("jan@jansen.example").await;
    let eva = find(jan.get(&format!("/api/organizations/{}/users", t.org)).await);
    assert!(!eva.online, "offline after five minutes without a heartbeat");
    assert_eq!(eva.software_version.as_deref(), Some("4.12.1"));

    t.app
        .anonymous()
        .post("/api/client/heartbeat", json!({}))
        .await
        .assert_problem(401, "authentication_required");
}
