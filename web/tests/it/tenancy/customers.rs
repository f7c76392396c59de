//! My customers: the customer form, debtor numbers, list filters/search/sort/paging,
//! activation, tenants, and My account.

use partnerdesk_core::platform::{
    authz::Permission,
    values::{CustomerOrigin, CustomerType},
};
use partnerdesk_web::api::tenancy::{
    audit::AuditEntryView,
    customers::{CustomerPage, CustomerView, MyAccountView},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Client, Problem, Resp, TestApp};

fn form(name: &str) -> Value {
    json!({ "name": name, "active": true, "commission_rate": "15", "country": "nl", "debtor_number": null, "language": "nl" })
}

async fn create(client: &Client, body: Value) -> Uuid {
    let r = client.post("/api/customers", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.id()
}

fn companies(page: &Resp) -> Vec<String> {
    page.view::<CustomerPage>()
        .items
        .into_iter()
        .map(|c| c.company)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_is_created_with_defaults_and_listed() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let northwind = app.org_id("Northwind IT Services").await;
    let r = anna
        .post("/api/customers", json!({ "name": "Visser Transport", "active": true, "commission_rate": "12.5", "country": "nl", "debtor_number": "D-3000", "contact_email": "Info@Visser.example" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c: CustomerView = r.view();
    assert_eq!(c.company, "Visser Transport");
    assert_eq!(c.customer_type, CustomerType::Customer);
    assert_eq!(c.partner_account_id, northwind);
    assert_eq!(c.commission_rate, "12.50");
    assert_eq!(c.country.as_deref(), Some("NL"));
    assert_eq!(c.contact_email.as_deref(), Some("info@visser.example"));
    assert_eq!(c.origin, CustomerOrigin::CreatedByPartner);
    assert_eq!((c.usage.used, c.usage.total), (0, 0));
    assert!(c.coming_expiry_date.is_none());
    assert!(c.granted_permissions.contains(&Permission::ImportUsers));

    let list = anna.get("/api/customers").await;
    assert_eq!(
        companies(&list),
        ["Bakkerij de Vries", "Jansen Installatietechniek", "Visser Transport"]
    );
    let jansen = list
        .view::<CustomerPage>()
        .items
        .into_iter()
        .find(|c| c.company == "Jansen Installatietechniek")
        .unwrap();
    assert_eq!(jansen.name.as_deref(), Some("Jan Jansen"), "the primary contact");
    assert_eq!(jansen.debtor_number.as_deref(), Some("D-1001"));

    // The creation is in the customer's audit log, done by Anna acting as Northwind.
    let id = r.id();
    let audit = app
        .demo("admin@vendor.example")
        .await
        .get(&format!("/api/organizations/{id}/audit"))
        .await
        .view::<Vec<AuditEntryView>>();
    let entry = audit
        .into_iter()
        .find(|e| e.action == "customer.created")
        .expect("audited");
    assert_eq!(entry.actor_user_id, Some(app.user_id("anna@northwind.example").await));
    assert_eq!(entry.acting_organization_id, Some(northwind));
    assert_eq!(entry.on_behalf_of_organization_id, Some(id));
    assert_eq!(entry.changes["debtor_number"], "D-3000");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_invalid_field_of_the_form_is_named_in_one_response() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let alpine = app.org_id("Alpine Systems GmbH").await;

    // Required fields.
    let r = anna.post("/api/customers", json!({ "country": "NL" })).await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["active", "commission_rate", "name"]);

    // Every other rule at once.
    let r = anna
        .post(
            "/api/customers",
            json!({
                "name": " ", "active": true, "commission_rate": "100.01", "customer_type": "VIP",
                "partner_account_id": alpine, "country": "XX", "contact_email": "nope", "language": "fr", "debtor_number": "x".repeat(51)
            }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "commission_rate",
            "contact_email",
            "country",
            "customer_type",
            "debtor_number",
            "language",
            "name",
            "partner_account_id"
        ]
    );
    let errors = r.field_errors();
    let code = |f: &str| errors.iter().find(|e| e.field == f).unwrap().code.clone();
    assert_eq!(code("commission_rate"), "invalid_rate");
    assert_eq!(code("country"), "invalid_country");
    assert_eq!(code("partner_account_id"), "invalid_partner_account");

    // Rate rules one by one.
    for (rate, ok) in [
        ("0", true),
        ("100", true),
        ("99.99", true),
        ("12.345", false),
        ("-0.01", false),
        ("abc", false),
        ("", false),
    ] {
        let r = anna
            .post(
                "/api/customers",
                json!({ "name": format!("Rate {rate}"), "active": true, "commission_rate": rate }),
            )
            .await;
        assert_eq!(r.status == 201, ok, "rate {rate:?}: {}", r.body);
        if !ok {
            assert_eq!(r.error_fields(), ["commission_rate"]);
        }
    }
    // Nothing half-written: only the valid ones exist.
    let all = anna.get("/api/customers?status=both&q=Rate&limit=50").await;
    assert_eq!(companies(&all), ["Rate 0", "Rate 100", "Rate 99.99"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn debtor_numbers_are_unique_per_partner() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let max = app.demo("max@alpine.example").await;
    // D-1001 is Jansen's at Northwind.
    let r = anna
        .post(
            "/api/customers",
            json!({ "name": "Other", "active": true, "commission_rate": "10", "debtor_number": "D-1001" }),
        )
        .await;
    r.assert_problem(409, "debtor_number_taken");
    assert_eq!(r.parse::<Problem>().field.as_deref(), Some("debtor_number"));
    // The same number at another partner is fine.
    create(
        &max,
        json!({ "name": "Alpine's own D-1001", "active": true, "commission_rate": "10", "debtor_number": "D-1001" }),
    )
    .await;
    // Editing into a taken number is refused too; keeping one's own is fine.
    let id = create(
        &anna,
        json!({ "name": "Other", "active": true, "commission_rate": "10", "debtor_number": "D-5000" }),
    )
    .await;
    anna.patch(&format!("/api/customers/{id}"), json!({ "debtor_number": "D-1002" }))
        .await
        .assert_problem(409, "debtor_number_taken");
    assert_eq!(
        anna.patch(
            &format!("/api/customers/{id}"),
            json!({ "debtor_number": "D-5000", "commission_rate": "11" })
        )
        .await
        .status,
        200
    );
    // An open invitation holds its number too.
    let r = anna
        .post(
            "/api/customer-invitations",
            json!({ "email": "x@example.com", "company_name": "X", "debtor_number": "D-7000" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    anna.post(
        "/api/customers",
        json!({ "name": "Y", "active": true, "commission_rate": "10", "debtor_number": "D-7000" }),
    )
    .await
    .assert_problem(409, "debtor_number_taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_are_audited_and_deactivation_switches_licences_off() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    // A module and licences, as the licences capability will create them.
    app.sql(&format!(
        "INSERT INTO business_licences (id, organization_id, module_id, kind, starts_at, created_at) VALUES (gen_random_uuid(), '{jansen}', (SELECT id FROM modules WHERE code = 'CRM'), 'paid', now(), now())"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO user_licences (id, organization_id, module_id, user_id, kind, starts_at, ends_at, created_at)
           SELECT gen_random_uuid(), '{jansen}', (SELECT id FROM modules WHERE code = 'CRM'), u.id, 'paid', now(), now() + interval '20 days', now() FROM users u WHERE u.email = 'jan@jansen.example'"
    ))
    .await;
    app.sql(&format!(
        "INSERT INTO user_licences (id, organization_id, module_id, kind, starts_at, created_at) VALUES (gen_random_uuid(), '{jansen}', (SELECT id FROM modules WHERE code = 'CRM'), 'paid', now(), now())"
    ))
    .await;
    let before: CustomerView = anna.get(&format!("/api/customers/{jansen}")).await.view();
    assert_eq!((before.usage.used, before.usage.total), (1, 2));
    assert!(before.coming_expiry_date.is_some());

    let r = anna
        .post(&format!("/api/customers/{jansen}/deactivate"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after: CustomerView = r.view();
    assert!(!after.active);
    assert_eq!(
        (after.usage.used, after.usage.total),
        (0, 0),
        "every licence switched off"
    );

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel_async::RunQueryDsl;
    let active: N = diesel::sql_query(format!(
        "SELECT (SELECT count(*) FROM business_licences WHERE organization_id = '{jansen}' AND active)
              + (SELECT count(*) FROM user_licences WHERE organization_id = '{jansen}' AND active) AS n"
    ))
    .get_result(&mut app.conn().await)
    .await
    .unwrap();
    assert_eq!(active.n, 0);

    // Inactive customers leave the default list and show under inactive.
    assert!(!companies(&anna.get("/api/customers").await).contains(&"Jansen Installatietechniek".to_owned()));
    assert_eq!(
        companies(&anna.get("/api/customers?status=inactive").await),
        ["Jansen Installatietechniek"]
    );
    let r = anna.post(&format!("/api/customers/{jansen}/activate"), json!({})).await;
    assert!(r.view::<CustomerView>().active);

    let admin = app.demo("admin@vendor.example").await;
    let audit: Vec<AuditEntryView> = admin.get(&format!("/api/organizations/{jansen}/audit")).await.view();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.starts_with(&["customer.activated", "customer.deactivated"]),
        "{actions:?}"
    );
    let deactivated = audit.iter().find(|e| e.action == "customer.deactivated").unwrap();
    assert_eq!(deactivated.changes["licences_deactivated"], 3);
    assert_eq!(deactivated.changes["active"], json!({ "old": true, "new": false }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_cannot_see_or_change_another_partners_customers() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let max = app.demo("max@alpine.example").await;
    let mueller = app.org_id("Müller Logistik").await;
    assert!(!companies(&anna.get("/api/customers?status=both").await).contains(&"Müller Logistik".to_owned()));
    anna.get(&format!("/api/customers/{mueller}"))
        .await
        .assert_problem(404, "not_found");
    anna.patch(&format!("/api/customers/{mueller}"), json!({ "commission_rate": "50" }))
        .await
        .assert_problem(404, "not_found");
    anna.post(&format!("/api/customers/{mueller}/deactivate"), json!({}))
        .await
        .assert_problem(404, "not_found");
    anna.get(&format!("/api/organizations/{mueller}/users"))
        .await
        .assert_problem(404, "not_found");
    anna.post(
        &format!("/api/organizations/{mueller}/users"),
        json!({ "email": "x@example.com", "first_name": "X", "last_name": "Y" }),
    )
    .await
    .assert_problem(404, "not_found");
    anna.post_bytes(
        &format!("/api/organizations/{mueller}/users/import"),
        "text/csv",
        b"email,first_name,last_name\nx@example.com,X,Y\n".to_vec(),
    )
    .await
    .assert_problem(404, "not_found");
    // Max's own view is untouched.
    let r: CustomerView = max.get(&format!("/api/customers/{mueller}")).await.view();
    assert_eq!(r.commission_rate, "10.00");
    assert!(r.active);
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_need_the_create_permission_to_add_or_edit() {
    let app = TestApp::spawn().await;
    let pieter = app.demo("pieter@northwind.example").await; // manage customers only
    assert_eq!(pieter.get("/api/customers").await.status, 200);
    pieter
        .post("/api/customers", form("Nope"))
        .await
        .assert_problem(403, "not_authorized");
    let jansen = app.org_id("Jansen Installatietechniek").await;
    pieter
        .patch(&format!("/api/customers/{jansen}"), json!({ "commission_rate": "1" }))
        .await
        .assert_problem(403, "not_authorized");
    pieter
        .post(
            "/api/customer-invitations",
            json!({ "email": "x@example.com", "company_name": "X" }),
        )
        .await
        .assert_problem(403, "not_authorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_who_only_came_through_the_affiliate_link_are_not_listed() {
    let app = TestApp::spawn().await;
    let aff = app.sign_up("aff@example.com", "A", "F", "long enough password").await;
    let r = aff
        .post(
            "/api/organizations",
            json!({ "name": "Came Through The Link", "affiliate_code": "nwaffil1" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let anna = app.demo("anna@northwind.example").await;
    let list = companies(&anna.get("/api/customers?status=both").await);
    assert!(!list.contains(&"Came Through The Link".to_owned()), "{list:?}");
    // The attribution is kept for commissions.
    #[derive(diesel::QueryableByName)]
    struct A {
        #[diesel(sql_type = diesel::sql_types::Text)]
        origin: String,
    }
    use diesel_async::RunQueryDsl;
    let a: A = diesel::sql_query(format!(
        "SELECT signup_origin AS origin FROM organizations WHERE name = 'Came Through The Link' AND affiliate_partner_id = '{}'",
        app.org_id("Northwind IT Services").await
    ))
    .get_result(&mut app.conn().await)
    .await
    .unwrap();
    assert_eq!(a.origin, "affiliate");
    // An unknown code is a field error.
    aff.post("/api/organizations", json!({ "name": "X", "affiliate_code": "NOPE" }))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_search_sort_and_keyset_paging() {
    let app = TestApp::spawn().await;
    let max = app.demo("max@alpine.example").await; // starts with one customer: Müller Logistik
    for (name, active, debtor) in [
        ("Delta", true, "A-10"),
        ("alpha", true, "A-11"),
        ("Echo", false, "A-12"),
        ("Charlie", true, "X-99"),
        ("Bravo", true, "A-13"),
    ] {
        create(
            &max,
            json!({ "name": name, "active": active, "commission_rate": "10", "debtor_number": debtor }),
        )
        .await;
    }
    let get = |q: &str| {
        let max = max.clone();
        let q = q.to_owned();
        async move { max.get(&format!("/api/customers?{q}")).await }
    };
    assert_eq!(
        companies(&get("").await),
        ["alpha", "Bravo", "Charlie", "Delta", "Müller Logistik"],
        "name, case-insensitive"
    );
    assert_eq!(companies(&get("status=inactive").await), ["Echo"]);
    assert_eq!(
        companies(&get("status=both&dir=desc").await),
        ["Müller Logistik", "Echo", "Delta", "Charlie", "Bravo", "alpha"]
    );
    assert_eq!(companies(&get("q=ALP").await), ["alpha"], "search on name");
    assert_eq!(
        companies(&get("q=X-9&status=both").await),
        ["Charlie"],
        "search on debtor number"
    );
    assert_eq!(
        companies(&get("q=%25").await),
        Vec::<String>::new(),
        "% is matched literally"
    );
    assert_eq!(
        companies(&get("sort=created&status=both").await),
        ["Müller Logistik", "Delta", "alpha", "Echo", "Charlie", "Bravo"]
    );

    // Coming expiry: soonest first, customers without one last.
    let id_of = |n: &str| {
        let app = &app;
        let n = n.to_owned();
        async move { app.org_id(&n).await }
    };
    for (name, days) in [("Charlie", 20), ("Delta", 5), ("Bravo", 40)] {
        let id = id_of(name).await;
        app.sql(&format!(
            "INSERT INTO trials (id, organization_id, module_id, max_users, starts_at, ends_at, created_at) VALUES (gen_random_uuid(), '{id}', (SELECT id FROM modules WHERE code = 'CRM'), 5, now(), now() + interval '{days} days', now())"
        ))
        .await;
    }
    // Without an expiry, oldest first (ascending) or newest first (descending), always last.
    assert_eq!(
        companies(&get("sort=expiry").await),
        ["Delta", "Charlie", "Bravo", "Müller Logistik", "alpha"]
    );
    assert_eq!(
        companies(&get("sort=expiry&dir=desc").await),
        ["Bravo", "Charlie", "Delta", "alpha", "Müller Logistik"]
    );

    // Keyset paging stays stable while customers are added.
    for sort in ["name", "created", "expiry"] {
        for dir in ["asc", "desc"] {
            let q = format!("status=both&sort={sort}&dir={dir}&limit=2");
            let mut seen = Vec::new();
            let first = get(&q).await;
            seen.extend(companies(&first));
            let mut cursor = first.view::<CustomerPage>().next_cursor;
            // Customers arrive between page loads, before and after the cursor.
            create(
                &max,
                json!({ "name": format!("Aaa {sort} {dir}"), "active": true, "commission_rate": "1" }),
            )
            .await;
            create(
                &max,
                json!({ "name": format!("Zzz {sort} {dir}"), "active": true, "commission_rate": "1" }),
            )
            .await;
            while let Some(c) = cursor {
                let page = get(&format!("{q}&cursor={c}")).await;
                assert_eq!(page.status, 200, "{}", page.body);
                seen.extend(companies(&page));
                cursor = page.view::<CustomerPage>().next_cursor;
            }
            let originals = ["alpha", "Bravo", "Charlie", "Delta", "Echo", "Müller Logistik"];
            for name in originals {
                assert_eq!(
                    seen.iter().filter(|s| *s == name).count(),
                    1,
                    "{name} exactly once ({sort} {dir}): {seen:?}"
                );
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), seen.len(), "no duplicates ({sort} {dir}): {seen:?}");
        }
    }

    // A cursor that was not issued for this query is a malformed request, not a field error.
    let garbage = get("cursor=garbage").await;
    garbage.assert_problem(400, "invalid_cursor");
    assert_eq!(garbage.parse::<Problem>().field.as_deref(), Some("cursor"));
    let first = get("limit=1").await;
    let c = first.view::<CustomerPage>().next_cursor.unwrap();
    get(&format!("limit=1&sort=created&cursor={c}"))
        .await
        .assert_problem(400, "invalid_cursor");
}

#[tokio::test(flavor = "multi_thread")]
async fn my_account_is_never_billed_and_can_have_users() {
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    let r = anna.get("/api/my-account").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let account: MyAccountView = r.view();
    assert!(account.never_billed);
    assert_eq!(account.organization.name, "Northwind IT Services");
    let northwind = app.org_id("Northwind IT Services").await;
    // The partner uses the product itself: users in its own account.
    let r = anna
        .post(
            &format!("/api/organizations/{northwind}/users"),
            json!({ "email": "desk@northwind.example", "first_name": "Help", "last_name": "Desk" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // It is not one of its own customers.
    assert!(!companies(&anna.get("/api/customers?status=both").await).contains(&"Northwind IT Services".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_whose_key_does_not_fit_its_sort_is_refused_not_a_server_error() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let anna = app.demo("anna@northwind.example").await;
    for (sort, key) in [
        ("created", json!("garbage")),
        ("expiry", json!("garbage")),
        ("created", Value::Null),
        ("name", Value::Null),
    ] {
        let cursor = json!({ "sort": sort, "desc": false, "key": key, "id": Uuid::nil() }).to_string();
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor);
        anna.get(&format!("/api/customers?sort={sort}&cursor={cursor}"))
            .await
            .assert_problem(400, "invalid_cursor");
    }
}
