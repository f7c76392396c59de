//! One organization's details and settings tabs, for its own people and for its partner
//! alike: details and activation, the partner's terms for a customer, settings and the
//! sign-in policy.

use partnerdesk_core::{
    Error as CoreError, platform::authz::Permission, tenancy::customers, tenancy::customers::CustomerInput,
    tenancy::organizations, tenancy::organizations::DetailsInput,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::organizations::OrganizationView;
use crate::pages::context::{Typed, View};
use crate::pages::{NoticeQuery, db, form::Form, notice::Notice, portal::Portal, tabs::Tab};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id", get(details))
        .at("/organizations/:id/customer", post(save_customer))
        .at("/organizations/:id/activate", post(activate))
        .at("/organizations/:id/deactivate", post(deactivate))
        .at("/organizations/:id/details", post(save_details))
        .at("/organizations/:id/settings", get(settings).post(save_settings))
        .at("/organizations/:id/sign-in-policy", post(save_sign_in_policy))
}

const DETAILS: (&str, &str) = ("", "tenancy/org_details");

/// The details tab: the organization's details, as stored or as typed when refused.
#[derive(Serialize)]
struct DetailsPage<D> {
    details: D,
}

#[handler]
async fn details(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let org = match organizations::get(&mut conn, &portal.actor, id).await {
        Ok(o) => Ok(Some(DetailsPage {
            details: View(OrganizationView::from(o)),
        })),
        // The partner's part of the tab shows without the details.
        Err(CoreError::Forbidden { .. }) => Ok(None),
        Err(e) => Err(e),
    };
    Ok(Tab::new(&portal, &state, id, DETAILS)
        .show(&mut conn, q.notice, org)
        .await)
}

/// A partner's terms for its customer: rate, debtor number, type.
#[derive(Deserialize)]
struct SaveCustomerForm {
    commission_rate: Option<String>,
    #[serde(default)]
    debtor_number: String,
    customer_type: Option<String>,
}

#[handler]
async fn save_customer(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<SaveCustomerForm>,
) -> poem::Result<Response> {
    let input = CustomerInput {
        commission_rate: form.fields.commission_rate,
        debtor_number: Some(form.fields.debtor_number),
        customer_type: form.fields.customer_type,
        ..Default::default()
    };
    let mut conn = db(&state).await?;
    let result = customers::update(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| Notice::CustomerSaved)
        .map_err(|e| (e, Typed { form: &form.typed }));
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
        .map(|_| Notice::CustomerSaved)
        .map_err(|e| (e, ()));
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

/// An organization's details form.
#[derive(Deserialize)]
struct SaveDetailsForm {
    name: Option<String>,
    country: Option<String>,
    language: Option<String>,
    contact_email: Option<String>,
    website: Option<String>,
}

#[handler]
async fn save_details(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<SaveDetailsForm>,
) -> poem::Result<Response> {
    let input = DetailsInput {
        name: form.fields.name,
        country: form.fields.country,
        language: form.fields.language,
        contact_email: form.fields.contact_email,
        website: form.fields.website,
    };
    let mut conn = db(&state).await?;
    let result = organizations::update_details(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| Notice::DetailsSaved)
        .map_err(|e| (e, DetailsPage { details: &form.typed }));
    Ok(Tab::new(&portal, &state, id, DETAILS).answer(&mut conn, result).await)
}

const SETTINGS: (&str, &str) = ("/settings", "tenancy/org_settings");

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
        .show(&mut conn, q.notice, loaded)
        .await)
}

/// The settings tab: updates and betas, and (for the organization's own
/// administrators) whether members must sign in with single sign-on.
#[derive(Serialize)]
struct SettingsPage {
    allow_updates: bool,
    allow_beta: bool,
    require_sso: bool,
    /// Whether the sign-in policy form shows.
    sign_in_policy: bool,
}

/// The settings tab of `org` as the caller sees it, with updates and betas as given.
fn settings_ctx(
    portal: &Portal,
    state: &AppState,
    org: &organizations::Organization,
    allow_updates: bool,
    allow_beta: bool,
) -> SettingsPage {
    let own_admin = portal.org() == Some(org.id) && portal.delegated.is_none() && portal.holds(Permission::AssignRoles);
    SettingsPage {
        allow_updates,
        allow_beta,
        require_sso: org.require_sso,
        sign_in_policy: own_admin && (!state.ctx.config.sso.is_empty() || org.require_sso),
    }
}

/// The sign-in policy: whether members must use single sign-on.
#[derive(Deserialize)]
struct SaveSignInPolicyForm {
    require_sso: Option<String>,
}

#[handler]
async fn save_sign_in_policy(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<SaveSignInPolicyForm>,
) -> poem::Result<Response> {
    let required = form.fields.require_sso.is_some();
    let mut conn = db(&state).await?;
    let result = match organizations::set_sso_requirement(&mut conn, &state.ctx, &portal.actor, id, required).await {
        Ok(_) => Ok(Notice::SignInPolicySaved),
        Err(e) => match organizations::get(&mut conn, &portal.actor, id).await {
            Ok(org) => Err((
                e,
                Some(settings_ctx(&portal, &state, &org, org.allow_updates, org.allow_beta)),
            )),
            Err(_) => Err((e, None)),
        },
    };
    Ok(Tab::new(&portal, &state, id, SETTINGS).answer(&mut conn, result).await)
}

/// An organization's settings: updates and beta releases.
#[derive(Deserialize)]
struct SaveSettingsForm {
    allow_updates: Option<String>,
    allow_beta: Option<String>,
}

/// The settings as ticked, shown again when refused.
#[derive(Serialize)]
struct SettingsShown {
    allow_updates: bool,
    allow_beta: bool,
}

#[handler]
async fn save_settings(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<SaveSettingsForm>,
) -> poem::Result<Response> {
    let (updates, beta) = (form.fields.allow_updates.is_some(), form.fields.allow_beta.is_some());
    let shown = SettingsShown {
        allow_updates: updates,
        allow_beta: beta,
    };
    let mut conn = db(&state).await?;
    let result = organizations::update_settings(&mut conn, &state.ctx, &portal.actor, id, Some(updates), Some(beta))
        .await
        .map(|_| Notice::SettingsSaved)
        .map_err(|e| (e, shown));
    Ok(Tab::new(&portal, &state, id, SETTINGS).answer(&mut conn, result).await)
}
