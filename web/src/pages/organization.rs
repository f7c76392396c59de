//! An organization's pages, one tab each, for its own people and for its partner alike
//! (the core services decide who may do what): details and activation, settings,
//! integrations, the service provider and what it may do, members and permissions, the
//! audit log. Users live in [`super::people`]; modules, trials and orders in
//! [`super::purchases`].

use partnerdesk_core::{
    Error as CoreError,
    delegation::service_providers,
    platform::authz::{Permission, Role},
    platform::db::PooledConn,
    platform::values::IntegrationKind,
    tenancy::customers::{self, CustomerInput},
    tenancy::integrations::{self, IntegrationInput},
    tenancy::members::{self, InviteInput, UpdateInput},
    tenancy::organizations::{self, DetailsInput},
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Pairs, db, json_of, merge, portal::Portal, reads, redirect};
use crate::{
    api::{
        delegation::ServiceProviderView,
        tenancy::customers::CustomerView,
        tenancy::{
            audit::AuditEntryView, integrations::IntegrationView, members::MemberView, organizations::OrganizationView,
        },
    },
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id", get(details))
        .at("/organizations/:id/customer", post(save_customer))
        .at("/organizations/:id/activate", post(activate))
        .at("/organizations/:id/deactivate", post(deactivate))
        .at("/organizations/:id/details", post(save_details))
        .at("/organizations/:id/settings", get(settings).post(save_settings))
        .at("/organizations/:id/sign-in-policy", post(save_sign_in_policy))
        .at(
            "/organizations/:id/integrations",
            get(integrations_tab).post(add_integration),
        )
        .at("/organizations/:id/integrations/:iid/delete", post(delete_integration))
        .at(
            "/organizations/:id/service-provider",
            get(provider).post(choose_provider),
        )
        .at("/organizations/:id/service-provider/remove", post(remove_provider))
        .at("/organizations/:id/service-provider/grants", post(save_grants))
        .at("/organizations/:id/members", get(members_tab).post(invite_member))
        .at("/organizations/:id/members/:uid", post(save_member))
        .at("/organizations/:id/members/:uid/remove", post(remove_member))
        .at("/organizations/:id/audit", get(audit))
}

const DETAILS: (&str, &str) = ("", "org_details");
const SETTINGS: (&str, &str) = ("/settings", "org_settings");
const INTEGRATIONS: (&str, &str) = ("/integrations", "org_integrations");
const PROVIDER: (&str, &str) = ("/service-provider", "org_provider");
const MEMBERS: (&str, &str) = ("/members", "org_members");
const AUDIT: (&str, &str) = ("/audit", "org_audit");

/// The tabs every organization page shows.
/// The tabs an organization page shows, with the permission each needs. In its own
/// organization a person sees the tabs they hold the permission for; a partner sees
/// every tab of its customer but the customer's own matters (what the customer granted
/// decides the rest, and a refusal says so).
const TABS: &[(&str, &str, Permission)] = &[
    ("", "Details", Permission::ViewOrganization),
    ("/users", "Users", Permission::ViewUsers),
    ("/modules", "Modules", Permission::ManageLicences),
    ("/orders", "Orders", Permission::ManageLicences),
    ("/settings", "Settings", Permission::EditCompanySettings),
    ("/profiles", "Clone profiles", Permission::EditUsers),
    ("/integrations", "Integrations", Permission::ManageIntegrations),
    (
        "/service-provider",
        "Service provider",
        Permission::ManageServiceProvider,
    ),
    ("/members", "Members", Permission::ManageMembers),
    ("/audit", "Audit log", Permission::ViewAudit),
];

/// The organization a tab is about, as the caller may see it: a partner sees its
/// customer (with its own fields: rate, debtor number, type), anyone else the
/// organization's details. Another partner's customer is "not found".
pub(super) async fn heading(conn: &mut PooledConn, portal: &Portal, id: Uuid, tab: &str) -> Result<Value, CoreError> {
    let own = portal.org() == Some(id);
    let customer = if own {
        None
    } else {
        customers::get(conn, &portal.actor, id).await.ok()
    };
    let (name, customer) = match customer {
        Some(c) => (c.name.clone(), Some(json_of(CustomerView::from(c)))),
        None => (organizations::get(conn, &portal.actor, id).await?.name, None),
    };
    let tabs: Vec<Value> = TABS
        .iter()
        .filter(|(path, _, needs)| {
            *path == tab
                || if own {
                    portal.holds(*needs)
                } else {
                    !matches!(*path, "/service-provider" | "/members")
                }
        })
        .map(|(path, label, _)| json!({ "href": format!("/organizations/{id}{path}"), "label": label, "active": *path == tab }))
        .collect();
    let labels: serde_json::Map<String, Value> = Permission::DELEGABLE
        .iter()
        .map(|p| (p.as_str().to_owned(), json!(permission_label(*p))))
        .collect();
    Ok(json!({ "org": { "id": id, "name": name, "own": own, "customer": customer, "labels": labels }, "tabs": tabs }))
}

/// One tab of an organization's page, as the person on the page sees it.
pub(super) struct Tab<'a> {
    portal: &'a Portal,
    state: &'a AppState,
    id: Uuid,
    /// The tab's path under `/organizations/{id}`, and its template.
    page: (&'static str, &'static str),
}

impl<'a> Tab<'a> {
    pub(super) fn new(portal: &'a Portal, state: &'a AppState, id: Uuid, page: (&'static str, &'static str)) -> Self {
        Tab {
            portal,
            state,
            id,
            page,
        }
    }

    /// The tab: its heading, then what was loaded, or the error in the layout.
    pub(super) async fn show(
        &self,
        conn: &mut PooledConn,
        notice: Option<&str>,
        loaded: Result<Value, CoreError>,
    ) -> Response {
        let (portal, state, (path, name)) = (self.portal, self.state, self.page);
        match (heading(conn, portal, self.id, path).await, loaded) {
            (Ok(head), Ok(ctx)) => portal.render_noticed(state, name, notice, merge(head, ctx)),
            (Ok(head), Err(e)) => portal.error(state, name, head, &e),
            (Err(e), _) => portal.failed(state, "Organization", &e),
        }
    }

    /// The answer to the tab's form: back to the tab with a notice, or the tab again
    /// with the error (field messages next to the fields) and `shown`.
    pub(super) async fn answer(&self, conn: &mut PooledConn, result: Result<&str, (CoreError, Value)>) -> Response {
        let (portal, state, (path, name)) = (self.portal, self.state, self.page);
        match result {
            Ok(notice) => redirect(&format!("/organizations/{}{path}?notice={notice}", self.id)),
            Err((e, shown)) => match heading(conn, portal, self.id, path).await {
                Ok(head) => portal.error(state, name, merge(head, shown), &e),
                Err(e) => portal.failed(state, "Organization", &e),
            },
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct NoticeQuery {
    #[serde(default)]
    pub notice: Option<String>,
}

#[handler]
async fn details(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let org = organizations::get(&mut conn, &portal.actor, id)
        .await
        .map(|o| json!({ "details": json_of(OrganizationView::from(o)) }));
    let org = match org {
        Err(CoreError::Forbidden { .. }) => Ok(json!({})),
        other => other,
    };
    Ok(Tab::new(&portal, &state, id, DETAILS)
        .show(&mut conn, q.notice.as_deref(), org)
        .await)
}

#[handler]
async fn save_customer(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let input = CustomerInput {
        commission_rate: form.get("commission_rate"),
        debtor_number: Some(form.get("debtor_number").unwrap_or_default()),
        customer_type: form.get("customer_type"),
        ..Default::default()
    };
    let mut conn = db(&state).await?;
    let result = customers::update(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| "customer_saved")
        .map_err(|e| (e, json!({ "form": form.to_json() })));
    Ok(Tab::new(&portal, &state, id, DETAILS).answer(&mut conn, result).await)
}

async fn set_active(portal: &Portal, state: &AppState, id: Uuid, active: bool) -> poem::Result<Response> {
    let input = CustomerInput {
        active: Some(active),
        ..Default::default()
    };
    let mut conn = db(state).await?;
    let result = customers::update(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| "customer_saved")
        .map_err(|e| (e, json!({})));
    Ok(Tab::new(portal, state, id, DETAILS).answer(&mut conn, result).await)
}

#[handler]
async fn activate(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    set_active(&portal, &state, id, true).await
}

#[handler]
async fn deactivate(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    set_active(&portal, &state, id, false).await
}

#[handler]
async fn save_details(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let input = DetailsInput {
        name: form.get("name"),
        country: form.get("country"),
        language: form.get("language"),
        contact_email: form.get("contact_email"),
        website: form.get("website"),
    };
    let mut conn = db(&state).await?;
    let result = organizations::update_details(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| "details_saved")
        .map_err(|e| (e, json!({ "details": form.to_json() })));
    Ok(Tab::new(&portal, &state, id, DETAILS).answer(&mut conn, result).await)
}

#[handler]
async fn settings(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = organizations::get(&mut conn, &portal.actor, id)
        .await
        .map(|o| settings_ctx(&portal, &state, &o, o.allow_updates, o.allow_beta));
    Ok(Tab::new(&portal, &state, id, SETTINGS)
        .show(&mut conn, q.notice.as_deref(), loaded)
        .await)
}

/// The settings tab: updates and betas, and (for the organization's own
/// administrators) whether members must sign in with single sign-on.
fn settings_ctx(
    portal: &Portal,
    state: &AppState,
    org: &organizations::Organization,
    allow_updates: bool,
    allow_beta: bool,
) -> serde_json::Value {
    let own_admin = portal.org() == Some(org.id) && portal.delegated.is_none() && portal.holds(Permission::AssignRoles);
    json!({
        "allow_updates": allow_updates,
        "allow_beta": allow_beta,
        "require_sso": org.require_sso,
        "sign_in_policy": own_admin && (!state.ctx.config.sso.is_empty() || org.require_sso),
    })
}

#[handler]
async fn save_sign_in_policy(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let required = form.has("require_sso");
    let mut conn = db(&state).await?;
    let result = match organizations::set_sso_requirement(&mut conn, &state.ctx, &portal.actor, id, required).await {
        Ok(_) => Ok("sign_in_policy_saved"),
        Err(e) => match organizations::get(&mut conn, &portal.actor, id).await {
            Ok(org) => Err((
                e,
                settings_ctx(&portal, &state, &org, org.allow_updates, org.allow_beta),
            )),
            Err(_) => Err((e, json!({}))),
        },
    };
    Ok(Tab::new(&portal, &state, id, SETTINGS).answer(&mut conn, result).await)
}

#[handler]
async fn save_settings(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let (updates, beta) = (form.has("allow_updates"), form.has("allow_beta"));
    let mut conn = db(&state).await?;
    let result = organizations::update_settings(&mut conn, &state.ctx, &portal.actor, id, Some(updates), Some(beta))
        .await
        .map(|_| "settings_saved")
        .map_err(|e| (e, json!({ "allow_updates": updates, "allow_beta": beta })));
    Ok(Tab::new(&portal, &state, id, SETTINGS).answer(&mut conn, result).await)
}

#[handler]
async fn integrations_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = integrations::list(&mut conn, &portal.actor, id).await.map(|list| {
        json!({ "integrations": list.into_iter().map(|i| json_of(IntegrationView::from(i))).collect::<Vec<_>>() })
    });
    let page = INTEGRATIONS;
    Ok(Tab::new(&portal, &state, id, page)
        .show(&mut conn, q.notice.as_deref(), loaded)
        .await)
}

#[handler]
async fn add_integration(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let parsed = match form.get("settings") {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Value>(&raw)
            .map(Some)
            .map_err(|_| CoreError::field("settings", "invalid_json", "Enter the settings as a JSON object")),
    };
    let input = parsed.map(|document| IntegrationInput {
        kind: form.get("kind").and_then(|k| IntegrationKind::parse(&k)),
        name: form.get("name"),
        settings: document,
        active: Some(true),
    });
    let mut conn = db(&state).await?;
    let result = match input {
        Ok(input) => integrations::create(&mut conn, &state.ctx, &portal.actor, id, input)
            .await
            .map(|_| "integration_saved"),
        Err(e) => Err(e),
    };
    let result = result.map_err(|e| (e, json!({ "form": form.to_json(), "integrations": [] })));
    Ok(Tab::new(&portal, &state, id, INTEGRATIONS)
        .answer(&mut conn, result)
        .await)
}

#[handler]
async fn delete_integration(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, iid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = integrations::delete(&mut conn, &state.ctx, &portal.actor, id, iid)
        .await
        .map(|_| "integration_deleted")
        .map_err(|e| (e, json!({ "integrations": [] })));
    Ok(Tab::new(&portal, &state, id, INTEGRATIONS)
        .answer(&mut conn, result)
        .await)
}

/// Every permission a customer may grant its partner, in plain words.
fn delegable(granted: &[Permission]) -> Vec<Value> {
    Permission::DELEGABLE
        .iter()
        .map(|p| json!({ "name": p.as_str(), "label": permission_label(*p), "granted": granted.contains(p) }))
        .collect()
}

/// A permission in plain words.
pub(super) fn permission_label(p: Permission) -> &'static str {
    use Permission::*;
    match p {
        RequestPartnerStatus => "Request partner status",
        ManageMembers => "Manage members and their permissions",
        ViewAudit => "Read the audit log",
        ViewOrganization => "See the organization",
        EditCompanyDetails => "Change company details",
        EditCompanySettings => "Change settings (updates, beta versions)",
        ManageServiceProvider => "Choose or drop the service provider",
        ViewUsers => "See users",
        EditUsers => "Edit users",
        CreateUsers => "Add users one at a time",
        ImportUsers => "Import users from a CSV file",
        ManageIntegrations => "Manage integrations and connectors",
        ManageLicences => "Order licences, credits and trials",
        DownloadSoftware => "Download the software",
        EditCompanyStatus => "Activate or deactivate the company, change its type",
        LoginAsUser => "Log in as one of your users (giving a reason; the user is told)",
        AssignRoles => "Give or take the administrator role",
        ManageCustomers => "Partner: manage customers",
        CreateCustomers => "Partner: create organizations for customers",
        ManagePartnerPortal => "Partner: manage the partner portal",
        VendorSales => "Vendor: sales",
        VendorFinance => "Vendor: finance",
        VendorOps => "Vendor: operations",
        VendorAdmin => "Vendor: administration",
    }
}

#[handler]
async fn provider(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = service_providers::get(&mut conn, &portal.actor, id).await.map(|sp| {
        let granted = sp.as_ref().map(|s| s.granted_permissions.clone()).unwrap_or_default();
        json!({ "provider": sp.map(|s| json_of(ServiceProviderView::from(s))), "grants": delegable(&granted) })
    });
    let loaded = match loaded {
        Ok(ctx) => Ok(merge(
            ctx,
            super::delegation::provider_extras(&mut conn, &portal, id).await,
        )),
        Err(e) => Err(e),
    };
    let page = PROVIDER;
    Ok(Tab::new(&portal, &state, id, page)
        .show(&mut conn, q.notice.as_deref(), loaded)
        .await)
}

#[handler]
async fn choose_provider(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let code = form.get("partner_code").unwrap_or_default();
    let mut conn = db(&state).await?;
    let result = service_providers::choose(&mut conn, &state.ctx, &portal.actor, id, &code)
        .await
        .map(|_| "provider_chosen")
        .map_err(|e| (e, json!({ "partner_code": code, "grants": delegable(&[]) })));
    Ok(Tab::new(&portal, &state, id, PROVIDER).answer(&mut conn, result).await)
}

#[handler]
async fn remove_provider(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = service_providers::remove(&mut conn, &state.ctx, &portal.actor, id)
        .await
        .map(|_| "provider_removed")
        .map_err(|e| (e, json!({ "grants": delegable(&[]) })));
    Ok(Tab::new(&portal, &state, id, PROVIDER).answer(&mut conn, result).await)
}

#[handler]
async fn save_grants(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let names = form.all("permissions");
    let mut conn = db(&state).await?;
    let result = match grants_end(form.get("ends_at")) {
        Ok(ends_at) => service_providers::set_grants(&mut conn, &state.ctx, &portal.actor, id, &names, ends_at).await,
        Err(e) => Err(e),
    };
    let result = result
        .map(|_| "grants_saved")
        .map_err(|e| (e, json!({ "grants": delegable(&[]) })));
    Ok(Tab::new(&portal, &state, id, PROVIDER).answer(&mut conn, result).await)
}

/// The grants' end date from the form: through the chosen day (UTC); empty for none.
fn grants_end(raw: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, CoreError> {
    let raw = raw.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| CoreError::field("ends_at", "invalid_date", "Enter a date"))
}

/// Permissions a member can be given, with whether `held` has each.
fn member_permissions(held: &[Permission]) -> Vec<Value> {
    use Permission::*;
    [
        ManageMembers,
        ViewAudit,
        EditCompanyDetails,
        EditCompanySettings,
        ManageServiceProvider,
        ViewUsers,
        EditUsers,
        CreateUsers,
        ImportUsers,
        ManageIntegrations,
        ManageLicences,
        RequestPartnerStatus,
        ManageCustomers,
        CreateCustomers,
        ManagePartnerPortal,
    ]
    .iter()
    .map(|p| json!({ "name": p.as_str(), "label": permission_label(*p), "held": held.contains(p) }))
    .collect()
}

#[handler]
async fn members_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = members::list(&mut conn, &portal.actor, id).await.map(|list| {
        json!({
            "members": list.into_iter().map(|m| {
                let perms = member_permissions(&m.permissions);
                merge(json_of(MemberView::from(m)), json!({ "choices": perms }))
            }).collect::<Vec<_>>(),
            "choices": member_permissions(&[]),
        })
    });
    Ok(Tab::new(&portal, &state, id, MEMBERS)
        .show(&mut conn, q.notice.as_deref(), loaded)
        .await)
}

fn role_of(form: &Pairs) -> Option<Role> {
    form.get("role").and_then(|r| Role::parse(&r))
}

#[handler]
async fn invite_member(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let input = InviteInput {
        email: form.get("email").unwrap_or_default(),
        first_name: form.get("first_name").unwrap_or_default(),
        last_name: form.get("last_name").unwrap_or_default(),
        role: role_of(&form),
        permissions: form.all("permissions"),
        language: form.get("language"),
    };
    let mut conn = db(&state).await?;
    let result = members::invite(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| "member_invited")
        .map_err(|e| {
            (
                e,
                json!({ "form": form.to_json(), "members": [], "choices": member_permissions(&[]) }),
            )
        });
    Ok(Tab::new(&portal, &state, id, MEMBERS).answer(&mut conn, result).await)
}

#[handler]
async fn save_member(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, uid)): Path<(Uuid, Uuid)>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let input = UpdateInput {
        role: role_of(&form),
        permissions: Some(form.all("permissions")),
        active: Some(form.has("active")),
    };
    let mut conn = db(&state).await?;
    let result = members::update(&mut conn, &state.ctx, &portal.actor, id, uid, input)
        .await
        .map(|_| "member_saved")
        .map_err(|e| (e, json!({ "members": [], "choices": member_permissions(&[]) })));
    Ok(Tab::new(&portal, &state, id, MEMBERS).answer(&mut conn, result).await)
}

#[handler]
async fn remove_member(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, uid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = members::remove(&mut conn, &state.ctx, &portal.actor, id, uid)
        .await
        .map(|_| "member_removed")
        .map_err(|e| (e, json!({ "members": [], "choices": member_permissions(&[]) })));
    Ok(Tab::new(&portal, &state, id, MEMBERS).answer(&mut conn, result).await)
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    before: Option<i64>,
}

#[handler]
async fn audit(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> poem::Result<Response> {
    let limit = partnerdesk_core::platform::domain::DEFAULT_PAGE;
    let mut conn = reads(&state).await?;
    let loaded =
        partnerdesk_core::platform::audit::list_for_organization(&mut conn, &portal.actor, id, q.before, limit)
            .await
            .map(|entries| {
                let older = (entries.len() as i64 == limit)
                    .then(|| {
                        entries
                            .last()
                            .map(|e| format!("/organizations/{id}/audit?before={}", e.id))
                    })
                    .flatten();
                json!({
                    "entries": entries.into_iter().map(|e| json_of(AuditEntryView::from(e))).collect::<Vec<_>>(),
                    "older": older,
                })
            });
    Ok(Tab::new(&portal, &state, id, AUDIT).show(&mut conn, None, loaded).await)
}
