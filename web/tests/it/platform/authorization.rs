//! Every endpoint refuses a caller without the permission and a caller from another
//! tenant; a final check makes sure no endpoint in the OpenAPI document is left out.

use std::collections::BTreeSet;

use partnerdesk_core::platform::values::{InvitationStatus, PartnerRequestStatus};
use partnerdesk_web::api::{
    commerce::{catalogue::ModuleView, licences::ModuleLicencesView, quotes::QuoteView},
    identity::{auth::ApiTokenView, sso::IdentityView},
    ops::JobPage,
    tenancy::{
        integrations::IntegrationView, invitations::InvitationView, partners::PartnerRequestView,
        partners::PartnerView, users::UserOverviewView,
    },
};
use serde_json::{Value, json};

use crate::{
    fixtures::{buy, module_id, quote},
    harness::{Client, TestApp},
};

/// Endpoints anyone may call.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/auth/signup"),
    ("get", "/auth/signups/{token}"),
    ("post", "/auth/signups/{token}/confirm"),
    ("post", "/auth/password-reset"),
    ("get", "/membership-invitations/{token}"),
    ("post", "/auth/login"),
    ("get", "/auth/password-links/{token}"),
    ("post", "/auth/password-links/{token}"),
    ("post", "/partner-registrations"),
    ("get", "/partner-registrations/{token}"),
    ("post", "/partner-registrations/{token}"),
    ("get", "/customer-registrations/{token}"),
    ("post", "/customer-registrations/{token}"),
    ("get", "/payments/{token}"),
    ("post", "/payments/{token}/pay"),
    ("get", "/auth/sso/providers"),
    ("post", "/auth/sso/{provider}/start"),
    ("post", "/auth/sso/{provider}/complete"),
];

struct Check<'a> {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Value,
    /// Who must be refused, and with which status and code.
    refused: Vec<(&'a str, &'a Client, u16, &'static str)>,
}

async fn call(client: &Client, method: &str, path: &str, body: &Value) -> crate::harness::Resp {
    let path = format!("/api{path}");
    match method {
        "get" => client.get(&path).await,
        "post" => client.post(&path, body.clone()).await,
        "put" => client.put(&path, body.clone()).await,
        "patch" => client.patch(&path, body.clone()).await,
        "delete" => client.delete(&path).await,
        "post_csv" => {
            client
                .post_bytes(&path, "text/csv", body.as_str().unwrap_or_default().as_bytes().to_vec())
                .await
        }
        other => panic!("method {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_refuses_the_unauthorized_and_other_tenants() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let eva = app.demo("eva@jansen.example").await; // plain customer user
    let anna = app.demo("anna@northwind.example").await; // Northwind partner admin
    let pieter = app.demo("pieter@northwind.example").await; // Northwind staff, manage customers only
    let max = app.demo("max@alpine.example").await; // another partner: another tenant
    let carla = app.demo("carla@contoso.example").await; // requested partner status
    let sales = app.demo("sales@vendor.example").await;
    let finance = app.demo("finance@vendor.example").await;

    let northwind = app.org_id("Northwind IT Services").await;
    let alpine = app.org_id("Alpine Systems GmbH").await;
    let pieter_id = app.user_id("pieter@northwind.example").await;
    let request_id = sales
        .get("/api/partner-requests?status=open")
        .await
        .view::<Vec<PartnerRequestView>>()[0]
        .id;
    let token_id = anna.post("/api/me/tokens", json!({ "name": "anna's" })).await.id();
    // Whole answers kept as JSON, to check below that they are exactly as they were.
    let members_before = anna.get(&format!("/api/organizations/{northwind}/members")).await.body;
    let max_as_northwind = max.acting_as(northwind);
    let jan = app.demo("jan@jansen.example").await; // company administrator
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let eva_id = app.user_id("eva@jansen.example").await;
    let invitation = anna
        .post(
            "/api/customer-invitations",
            json!({ "email": "new@example.com", "company_name": "New" }),
        )
        .await
        .id();
    let integration = jan
        .post(
            &format!("/api/organizations/{jansen}/integrations"),
            json!({ "kind": "crm", "name": "CRM" }),
        )
        .await
        .id();

    // Licences, a trial, an order and an open quote at Jansen.
    let (crm, rec) = (module_id(&anna, "CRM").await, module_id(&anna, "REC").await);
    let order = buy(
        &anna,
        jansen,
        json!([{ "type": "business", "module_id": crm }, { "type": "users", "module_id": crm, "all_users": true }]),
    )
    .await;
    let (order_id, invoice_id) = (order.id, order.invoice.id);
    let overview: Vec<ModuleLicencesView> = anna.get(&format!("/api/organizations/{jansen}/licences")).await.view();
    let business_licence = overview[0].business_licence_id.unwrap();
    let user_licence = overview[0].users[0].id;
    let trial = anna
        .post(
            &format!("/api/organizations/{jansen}/trials"),
            json!({ "module_id": rec }),
        )
        .await
        .id();
    let open_quote = quote(
        &anna,
        jansen,
        json!([{ "type": "credits", "module_id": crm, "quantity": 2 }]),
    )
    .await
    .view::<QuoteView>()
    .id;
    let licences_before = anna.get(&format!("/api/organizations/{jansen}/licences")).await.body;
    // Northwind's own billing run.
    let billing_run = anna.post("/api/billing-runs", json!({})).await.id();
    let customers_before = anna.get("/api/customers?status=both").await.body;
    // A job of the queue (the invitation above queued an e-mail).
    let ops = app.demo("ops@vendor.example").await;
    let job = ops
        .get("/api/ops/jobs?queue=send_email&limit=1")
        .await
        .view::<JobPage>()
        .items
        .into_iter()
        .next()
        .expect("an e-mail job")
        .id;

    let invite =
        json!({ "email": "intruder@example.com", "first_name": "In", "last_name": "Truder", "role": "administrator" });
    let form = json!({ "company": "X", "contact_name": "X", "contact_email": "x@example.com", "country": "NL", "expected_customers": 1 });
    // The job queue is vendor ops' (and vendor administrators'): nobody else's.
    let not_ops = vec![
        ("anonymous", &anon, 401, "authentication_required"),
        ("a plain user", &eva, 403, "not_authorized"),
        ("a partner administrator", &anna, 403, "not_authorized"),
        ("vendor sales", &sales, 403, "not_authorized"),
        ("vendor finance", &finance, 403, "not_authorized"),
    ];
    let checks = vec![
        Check {
            method: "post",
            template: "/auth/logout",
            path: "/auth/logout".into(),
            body: json!({}),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "get",
            template: "/me",
            path: "/me".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "another tenant's organization",
                    &max_as_northwind,
                    403,
                    "not_authorized",
                ),
            ],
        },
        Check {
            method: "put",
            template: "/me/organization",
            path: "/me/organization".into(),
            body: json!({ "organization_id": alpine }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("not a member", &anna, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/me/tokens",
            path: "/me/tokens".into(),
            body: json!(null),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "post",
            template: "/me/tokens",
            path: "/me/tokens".into(),
            body: json!({ "name": "x" }),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "delete",
            template: "/me/tokens/{id}",
            path: format!("/me/tokens/{token_id}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another user's token", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations",
            path: "/organizations".into(),
            body: json!({ "name": "X" }),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "get",
            template: "/organizations/{id}",
            path: format!("/organizations/{northwind}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("a customer of it, another tenant", &eva, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/members",
            path: format!("/organizations/{northwind}/members"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without manage_members", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/members",
            path: format!("/organizations/{northwind}/members"),
            body: invite.clone(),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without manage_members", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "patch",
            template: "/organizations/{id}/members/{user_id}",
            path: format!("/organizations/{northwind}/members/{pieter_id}"),
            body: json!({ "role": "administrator" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without manage_members", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "delete",
            template: "/organizations/{id}/members/{user_id}",
            path: format!("/organizations/{northwind}/members/{pieter_id}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without manage_members", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/audit",
            path: format!("/organizations/{northwind}/audit"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without view_audit", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/partner-status",
            path: "/partner-status".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain member", &eva, 403, "not_authorized"),
                (
                    "another tenant's organization",
                    &max_as_northwind,
                    403,
                    "not_authorized",
                ),
            ],
        },
        Check {
            method: "post",
            template: "/partner-requests",
            path: "/partner-requests".into(),
            body: form.clone(),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain member", &eva, 403, "not_authorized"),
                (
                    "another tenant's organization",
                    &max_as_northwind,
                    403,
                    "not_authorized",
                ),
            ],
        },
        Check {
            method: "get",
            template: "/partner-requests",
            path: "/partner-requests".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/partner-requests/{id}",
            path: format!("/partner-requests/{request_id}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/partner-requests/{id}/approve",
            path: format!("/partner-requests/{request_id}/approve"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("the requester", &carla, 403, "not_authorized"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/partner-requests/{id}/reject",
            path: format!("/partner-requests/{request_id}/reject"),
            body: json!({ "reason": "no" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("the requester", &carla, 403, "not_authorized"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/partners",
            path: "/partners".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/payouts/due",
            path: "/payouts/due".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "patch",
            template: "/partners/{organization_id}",
            path: format!("/partners/{northwind}"),
            body: json!({ "default_commission_rate": "99.00" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("the partner itself", &anna, 403, "not_authorized"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/dev/mailbox",
            path: "/dev/mailbox".into(),
            body: json!(null),
            refused: vec![
                ("anyone in production", &anon, 404, "not_found"),
                ("a partner in production", &anna, 404, "not_found"),
                ("vendor sales in production", &sales, 404, "not_found"),
            ],
        },
        Check {
            method: "patch",
            template: "/me",
            path: "/me".into(),
            body: json!({ "first_name": "X" }),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "put",
            template: "/me/password",
            path: "/me/password".into(),
            body: json!({ "current_password": "x", "new_password": "long enough password" }),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "post",
            template: "/me/invitations/{organization_id}/accept",
            path: format!("/me/invitations/{alpine}/accept"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("someone not invited", &anna, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/me/invitations/{organization_id}/decline",
            path: format!("/me/invitations/{alpine}/decline"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("someone not invited", &anna, 404, "not_found"),
            ],
        },
        Check {
            method: "delete",
            template: "/me/memberships/{organization_id}",
            path: format!("/me/memberships/{alpine}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("not a member", &anna, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/membership-invitations/{token}/accept",
            path: "/membership-invitations/not-a-token/accept".into(),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("with a link that is not valid", &anna, 410, "link_invalid"),
            ],
        },
    ];

    let customer = |name: &str| json!({ "name": name, "active": true, "commission_rate": "10" });
    let checks2 = vec![
        Check {
            method: "get",
            template: "/customers",
            path: "/customers".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a customer user", &eva, 403, "not_authorized"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/customers",
            path: "/customers".into(),
            body: customer("X"),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("a customer user", &eva, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/customers/{id}",
            path: format!("/customers/{jansen}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("a customer user", &eva, 403, "not_authorized"),
            ],
        },
        Check {
            method: "patch",
            template: "/customers/{id}",
            path: format!("/customers/{jansen}"),
            body: json!({ "commission_rate": "99" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/customers/{id}/activate",
            path: format!("/customers/{jansen}/activate"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/customers/{id}/deactivate",
            path: format!("/customers/{jansen}/deactivate"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/my-account",
            path: "/my-account".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a customer", &jan, 403, "not_authorized"),
                ("the vendor", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/customer-invitations",
            path: "/customer-invitations".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a customer", &jan, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/customer-invitations",
            path: "/customer-invitations".into(),
            body: json!({ "email": "x@example.com", "company_name": "X" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("a customer", &jan, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/customer-invitations/{id}/resend",
            path: format!("/customer-invitations/{invitation}/resend"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/customer-invitations/{id}/revoke",
            path: format!("/customer-invitations/{invitation}/revoke"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("staff without create", &pieter, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "patch",
            template: "/organizations/{id}",
            path: format!("/organizations/{jansen}"),
            body: json!({ "name": "X" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/settings",
            path: format!("/organizations/{jansen}/settings"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "put",
            template: "/organizations/{id}/settings",
            path: format!("/organizations/{jansen}/settings"),
            body: json!({ "allow_beta": false }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/service-provider",
            path: format!("/organizations/{jansen}/service-provider"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "put",
            template: "/organizations/{id}/service-provider",
            path: format!("/organizations/{jansen}/service-provider"),
            body: json!({ "partner_code": "ALPINESY" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "delete",
            template: "/organizations/{id}/service-provider",
            path: format!("/organizations/{jansen}/service-provider"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("the partner", &anna, 403, "not_authorized"),
            ],
        },
        Check {
            method: "put",
            template: "/organizations/{id}/service-provider/grants",
            path: format!("/organizations/{jansen}/service-provider/grants"),
            body: json!({ "permissions": [] }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("the partner", &anna, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/integrations",
            path: format!("/organizations/{jansen}/integrations"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/integrations",
            path: format!("/organizations/{jansen}/integrations"),
            body: json!({ "kind": "erp", "name": "X" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "patch",
            template: "/organizations/{id}/integrations/{integration_id}",
            path: format!("/organizations/{jansen}/integrations/{integration}"),
            body: json!({ "active": false }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "delete",
            template: "/organizations/{id}/integrations/{integration_id}",
            path: format!("/organizations/{jansen}/integrations/{integration}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/users",
            path: format!("/organizations/{jansen}/users"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/users",
            path: format!("/organizations/{jansen}/users"),
            body: json!({ "email": "x@jansen.example", "first_name": "X", "last_name": "Y" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post_csv",
            template: "/organizations/{id}/users/import",
            path: format!("/organizations/{jansen}/users/import"),
            body: json!("email,first_name,last_name\nx@jansen.example,X,Y\n"),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "patch",
            template: "/organizations/{id}/users/{user_id}",
            path: format!("/organizations/{jansen}/users/{eva_id}"),
            body: json!({ "first_name": "X" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/client/heartbeat",
            path: "/client/heartbeat".into(),
            body: json!({ "software_version": "1" }),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
    ];

    let checks3 = vec![
        Check {
            method: "get",
            template: "/modules",
            path: "/modules".into(),
            body: json!(null),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "post",
            template: "/modules",
            path: "/modules".into(),
            body: json!({ "code": "X", "name": "X", "business_price": "1", "user_price": "1" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor finance", &finance, 403, "not_authorized"),
            ],
        },
        Check {
            method: "patch",
            template: "/modules/{id}",
            path: format!("/modules/{crm}"),
            body: json!({ "business_price": "0" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/software",
            path: "/software".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "another tenant's organization",
                    &max_as_northwind,
                    403,
                    "not_authorized",
                ),
            ],
        },
        Check {
            method: "get",
            template: "/releases",
            path: "/releases".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/releases",
            path: "/releases".into(),
            body: json!({ "version": "9", "channel": "stable", "file_location": "https://x.example/9" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/licences",
            path: format!("/organizations/{jansen}/licences"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/quotes",
            path: format!("/organizations/{jansen}/quotes"),
            body: json!({ "items": [{ "type": "business", "module_id": rec }] }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/quotes/{id}",
            path: format!("/quotes/{open_quote}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 404, "not_found"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/quotes/{id}/confirm",
            path: format!("/quotes/{open_quote}/confirm"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 404, "not_found"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/business-licences/{licence_id}/deactivate",
            path: format!("/organizations/{jansen}/business-licences/{business_licence}/deactivate"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/user-licences/{licence_id}/deactivate",
            path: format!("/organizations/{jansen}/user-licences/{user_licence}/deactivate"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/credits/assign",
            path: format!("/organizations/{jansen}/credits/assign"),
            body: json!({ "module_id": crm, "user_ids": [eva_id] }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/trials",
            path: "/trials".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a customer", &jan, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/trials",
            path: format!("/organizations/{jansen}/trials"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/trials",
            path: format!("/organizations/{jansen}/trials"),
            body: json!({ "module_id": crm }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/trials/{trial_id}/users",
            path: format!("/organizations/{jansen}/trials/{trial}/users"),
            body: json!({ "user_ids": [eva_id] }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/trials/{trial_id}/upgrade-quote",
            path: format!("/organizations/{jansen}/trials/{trial}/upgrade-quote"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/orders",
            path: format!("/organizations/{jansen}/orders"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/orders/{id}",
            path: format!("/orders/{order_id}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("company administrator", &jan, 404, "not_found"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/invoices",
            path: "/invoices".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/invoices/{id}/mark-paid",
            path: format!("/invoices/{invoice_id}/mark-paid"),
            body: json!({ "reference": "x" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/users/{user_id}/profile",
            path: format!("/organizations/{jansen}/users/{eva_id}/profile"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "put",
            template: "/organizations/{id}/users/{user_id}/profile",
            path: format!("/organizations/{jansen}/users/{eva_id}/profile"),
            body: json!({ "profile": { "x": 1 } }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/organizations/{id}/users/{user_id}/clone-profile",
            path: format!("/organizations/{jansen}/users/{eva_id}/clone-profile"),
            body: json!({ "user_ids": [eva_id] }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/dev/clock",
            path: "/dev/clock".into(),
            body: json!(null),
            refused: vec![
                ("anyone in production", &anon, 404, "not_found"),
                ("vendor admin in production", &finance, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/dev/clock",
            path: "/dev/clock".into(),
            body: json!({ "by": "1d" }),
            refused: vec![
                ("anyone in production", &anon, 404, "not_found"),
                ("vendor finance in production", &finance, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/partner/dashboard",
            path: "/partner/dashboard".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("a plain user", &eva, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/partner/affiliate",
            path: "/partner/affiliate".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("a plain user", &eva, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/commissions",
            path: format!("/commissions?partner_id={northwind}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("another partner", &max, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/commissions/export",
            path: format!("/commissions/export?partner_id={northwind}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("another partner", &max, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/commissions/{id}/decline",
            path: format!("/commissions/{}/decline", uuid::Uuid::now_v7()),
            body: json!({ "reason": "x" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/invoices/{id}/credit-notes",
            path: format!("/invoices/{invoice_id}/credit-notes"),
            body: json!({ "order_line_id": order_id, "amount": "1.00", "reason": "x" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/payouts",
            path: format!("/payouts?partner_id={northwind}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("a plain user", &eva, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/payouts",
            path: "/payouts".into(),
            body: json!({ "partner_id": northwind, "up_to": "2030-01-01" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("the partner itself", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/payouts/{id}",
            path: format!("/payouts/{}", uuid::Uuid::now_v7()),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/payouts/{id}/export",
            path: format!("/payouts/{}/export", uuid::Uuid::now_v7()),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
            ],
        },
        Check {
            method: "post",
            template: "/billing-runs",
            path: "/billing-runs".into(),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a plain user", &eva, 403, "not_authorized"),
                ("a company administrator", &jan, 403, "not_authorized"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "post",
            template: "/billing-runs",
            path: "/billing-runs".into(),
            body: json!({ "partner_id": alpine }),
            refused: vec![(
                "a partner, for another partner's customers",
                &anna,
                403,
                "not_authorized",
            )],
        },
        Check {
            method: "get",
            template: "/billing-runs",
            path: "/billing-runs".into(),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a company administrator", &jan, 403, "not_authorized"),
                (
                    "partner staff without manage partner portal",
                    &pieter,
                    403,
                    "not_authorized",
                ),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/billing-runs/{id}",
            path: format!("/billing-runs/{billing_run}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("a company administrator", &jan, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/billing-runs/{id}/csv",
            path: format!("/billing-runs/{billing_run}/csv"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("a company administrator", &jan, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/billing-runs/{id}/xlsx",
            path: format!("/billing-runs/{billing_run}/xlsx"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("a company administrator", &jan, 403, "not_authorized"),
            ],
        },
        Check {
            method: "get",
            template: "/ops/queues",
            path: "/ops/queues".into(),
            body: json!(null),
            refused: not_ops.clone(),
        },
        Check {
            method: "get",
            template: "/ops/jobs",
            path: "/ops/jobs".into(),
            body: json!(null),
            refused: not_ops.clone(),
        },
        Check {
            method: "get",
            template: "/ops/jobs/{id}",
            path: format!("/ops/jobs/{job}"),
            body: json!(null),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/ops/jobs/{id}/retry",
            path: format!("/ops/jobs/{job}/retry"),
            body: json!({}),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/ops/jobs/{id}/discard",
            path: format!("/ops/jobs/{job}/discard"),
            body: json!({}),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/ops/queues/{queue}/retry-given-up",
            path: "/ops/queues/send_email/retry-given-up".into(),
            body: json!({}),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/ops/queues/{queue}/pause",
            path: "/ops/queues/no-such-queue/pause".into(),
            body: json!({}),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/ops/queues/{queue}/pause",
            path: "/ops/queues/send_email/pause".into(),
            body: json!({}),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/ops/queues/{queue}/resume",
            path: "/ops/queues/send_email/resume".into(),
            body: json!({}),
            refused: not_ops.clone(),
        },
        Check {
            method: "get",
            template: "/ops/workers",
            path: "/ops/workers".into(),
            body: json!(null),
            refused: not_ops.clone(),
        },
        Check {
            method: "post",
            template: "/payouts/{id}/mark-paid",
            path: format!("/payouts/{}/mark-paid", uuid::Uuid::now_v7()),
            body: json!({ "reference": "x" }),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("a partner", &anna, 403, "not_authorized"),
                ("vendor sales", &sales, 403, "not_authorized"),
            ],
        },
    ];

    // Delegated administration: Jansen is Northwind's customer and grants it everything.
    let session = anna
        .post(&format!("/api/customers/{jansen}/management-sessions"), json!({}))
        .await
        .id();
    let outsiders = vec![
        ("anonymous", &anon, 401, "authentication_required"),
        ("a plain customer user", &eva, 403, "not_authorized"),
        ("another tenant", &max, 404, "not_found"),
    ];
    let mut outsiders_and_partner = outsiders.clone();
    outsiders_and_partner.push(("the partner", &anna, 403, "not_authorized"));
    let mut outsiders_and_vendor = outsiders.clone();
    outsiders_and_vendor.push(("vendor sales", &sales, 403, "not_authorized"));
    let random = uuid::Uuid::now_v7();
    // An identity of Anna's at a single sign-on provider (as a sign-in would link it).
    let anna_identity = uuid::Uuid::now_v7();
    app.sql(&format!(
        "INSERT INTO identity_links (id, user_id, provider, issuer, subject, linked_via, counts_for_sso, created_at) \
         SELECT '{anna_identity}', id, 'test', 'https://id.example', 'anna', 'profile', false, now() FROM users WHERE email = 'anna@northwind.example'"
    ))
    .await;
    // The customer's own administrators only: not its company administrator, nor its
    // partner although the partner may edit its users.
    let mut outsiders_and_company_admin = outsiders.clone();
    outsiders_and_company_admin.push(("company administrator", &jan, 403, "not_authorized"));
    outsiders_and_company_admin.push(("the partner", &anna, 403, "own_administrators_only"));
    let checks4 = vec![
        Check {
            method: "get",
            template: "/me/identities",
            path: "/me/identities".into(),
            body: json!(null),
            refused: vec![("anonymous", &anon, 401, "authentication_required")],
        },
        Check {
            method: "delete",
            template: "/me/identities/{id}",
            path: format!("/me/identities/{anna_identity}"),
            body: json!(null),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another user's identity", &max, 404, "not_found"),
                ("a colleague's identity", &pieter, 404, "not_found"),
            ],
        },
        Check {
            method: "put",
            template: "/organizations/{id}/sign-in-policy",
            path: format!("/organizations/{jansen}/sign-in-policy"),
            body: json!({ "require_sso": true }),
            refused: outsiders_and_company_admin,
        },
        Check {
            method: "post",
            template: "/customers/{id}/management-sessions",
            path: format!("/customers/{jansen}/management-sessions"),
            body: json!({}),
            refused: outsiders_and_vendor.clone(),
        },
        Check {
            method: "post",
            template: "/customers/{id}/login-as",
            path: format!("/customers/{jansen}/login-as"),
            body: json!({ "user_id": eva_id, "reason": "support" }),
            refused: outsiders_and_vendor.clone(),
        },
        Check {
            method: "post",
            template: "/delegated-sessions/{id}/exit",
            path: format!("/delegated-sessions/{session}/exit"),
            body: json!({}),
            refused: vec![
                ("anonymous", &anon, 401, "authentication_required"),
                ("another tenant", &max, 404, "not_found"),
                ("a colleague", &pieter, 404, "not_found"),
            ],
        },
        Check {
            method: "get",
            template: "/organizations/{id}/delegated-sessions",
            path: format!("/organizations/{jansen}/delegated-sessions"),
            body: json!(null),
            refused: outsiders_and_partner.clone(),
        },
        Check {
            method: "post",
            template: "/organizations/{id}/delegated-sessions/{session_id}/end",
            path: format!("/organizations/{jansen}/delegated-sessions/{session}/end"),
            body: json!({}),
            refused: outsiders_and_partner.clone(),
        },
        Check {
            method: "post",
            template: "/customers/{id}/grant-requests",
            path: format!("/customers/{jansen}/grant-requests"),
            body: json!({ "permissions": ["import_users"] }),
            refused: outsiders_and_vendor.clone(),
        },
        Check {
            method: "get",
            template: "/organizations/{id}/grant-requests",
            path: format!("/organizations/{jansen}/grant-requests"),
            body: json!(null),
            refused: outsiders.clone(),
        },
        Check {
            method: "post",
            template: "/organizations/{id}/grant-requests/{request_id}/accept",
            path: format!("/organizations/{jansen}/grant-requests/{random}/accept"),
            body: json!({}),
            refused: outsiders_and_partner.clone(),
        },
        Check {
            method: "post",
            template: "/organizations/{id}/grant-requests/{request_id}/decline",
            path: format!("/organizations/{jansen}/grant-requests/{random}/decline"),
            body: json!({}),
            refused: outsiders_and_partner.clone(),
        },
        Check {
            method: "get",
            template: "/organizations/{id}/service-provider/activity",
            path: format!("/organizations/{jansen}/service-provider/activity"),
            body: json!(null),
            refused: outsiders.clone(),
        },
        Check {
            method: "get",
            template: "/organizations/{id}/service-provider/activity/export",
            path: format!("/organizations/{jansen}/service-provider/activity/export"),
            body: json!(null),
            refused: outsiders.clone(),
        },
    ];

    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    for check in checks.iter().chain(&checks2).chain(&checks3).chain(&checks4) {
        for (who, client, status, code) in &check.refused {
            let r = call(client, check.method, &check.path, &check.body).await;
            if (r.status, r.code()) != (*status, *code) {
                wrong.push(format!(
                    "{} {} as {who}: expected {status} {code}, got {}",
                    check.method, check.path, r.body
                ));
            }
        }
        let method = if check.method == "post_csv" {
            "post"
        } else {
            check.method
        };
        covered.insert((method.to_owned(), check.template.to_owned()));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Another tenant learns nothing from the answer: the same 404 comes back when every
    // id in the path is replaced by one that does not exist.
    for check in checks.iter().chain(&checks2).chain(&checks3).chain(&checks4) {
        if !check
            .refused
            .iter()
            .any(|(who, _, status, _)| *who == "another tenant" && *status == 404)
        {
            continue;
        }
        // The whole answers compared as JSON: exactly alike, whatever their type.
        let existing = call(&max, check.method, &check.path, &check.body).await;
        let unknown = check
            .path
            .split('/')
            .map(|s| match s.parse::<uuid::Uuid>() {
                Ok(_) => uuid::Uuid::now_v7().to_string(),
                Err(_) => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let missing = call(&max, check.method, &unknown, &check.body).await;
        if (existing.status, &existing.body) != (missing.status, &missing.body) {
            wrong.push(format!(
                "{} {}: another tenant's resource gets {} {}, a missing one {} {}",
                check.method, check.template, existing.status, existing.body, missing.status, missing.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing a refused call attempted happened (the whole answers taken before are
    // compared as JSON, exactly).
    assert_eq!(
        anna.get(&format!("/api/organizations/{northwind}/members")).await.body,
        members_before
    );
    assert_eq!(
        sales
            .get(&format!("/api/partner-requests/{request_id}"))
            .await
            .view::<PartnerRequestView>()
            .status,
        PartnerRequestStatus::Open
    );
    let nw = sales
        .get("/api/partners")
        .await
        .view::<Vec<PartnerView>>()
        .into_iter()
        .find(|p| p.organization_id == northwind)
        .unwrap();
    assert_eq!(nw.default_commission_rate, "20.00");
    assert!(
        anna.get("/api/me/tokens").await.view::<Vec<ApiTokenView>>()[0]
            .revoked_at
            .is_none()
    );
    assert_eq!(
        anna.get("/api/me/identities").await.view::<Vec<IdentityView>>()[0].id,
        anna_identity
    );
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE require_sso").await,
        0,
        "no refused caller required single sign-on"
    );
    assert_eq!(anna.get("/api/customers?status=both").await.body, customers_before);
    assert_eq!(
        app.count("SELECT count(*) FROM billing_runs").await,
        1,
        "no refused run was started"
    );
    assert_eq!(
        app.count("SELECT count(*) AS count FROM delegated_sessions").await,
        1,
        "no refused session was started, nor the one open ended"
    );
    assert_eq!(
        app.count("SELECT count(*) AS count FROM delegated_sessions WHERE ended_at IS NULL")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM queue_pauses").await,
        0,
        "no queue was paused"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'job%' OR action LIKE 'queue.%'")
            .await,
        0,
        "no refused job action was taken"
    );
    assert_eq!(
        anna.get("/api/customer-invitations")
            .await
            .view::<Vec<InvitationView>>()[0]
            .status,
        InvitationStatus::Open
    );
    assert!(
        jan.get(&format!("/api/organizations/{jansen}/integrations"))
            .await
            .view::<Vec<IntegrationView>>()[0]
            .active
    );
    let users: Vec<UserOverviewView> = jan.get(&format!("/api/organizations/{jansen}/users")).await.view();
    assert_eq!(users.len(), 2, "no user was added");
    assert_eq!(
        anna.get(&format!("/api/organizations/{jansen}/licences")).await.body,
        licences_before,
        "no licence changed"
    );
    assert!(
        anna.get(&format!("/api/quotes/{open_quote}"))
            .await
            .view::<QuoteView>()
            .confirmed_at
            .is_none()
    );
    let modules: Vec<ModuleView> = anna.get("/api/modules").await.view();
    assert_eq!(modules[0].business_price, "25.00");

    // Every documented operation is either public or checked above (the OpenAPI
    // document is read as JSON: it is the contract, not a view).
    let spec = anon.get("/api/openapi.json").await.body;
    let public: BTreeSet<(String, String)> = PUBLIC.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let key = (method.clone(), path.clone());
            assert!(
                covered.contains(&key) || public.contains(&key),
                "{method} {path} has no authorization check in this test"
            );
        }
    }
}
