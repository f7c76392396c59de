//! The organizations a person belongs to: switching between them, creating one,
//! leaving one.

use partnerdesk_core::platform::authz::Role;
use partnerdesk_core::{
    Error as CoreError, identity::sessions, tenancy::memberships, tenancy::organizations,
    tenancy::organizations::CreateOrganizationInput,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::identity::auth::PendingInvitationView;
use crate::pages::context::{Typed, View, views, with};
use crate::pages::{
    NoticeQuery, db, form::Form, notice::Notice, notice::noticed, portal::Portal, tabs::permission_label,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations", get(organizations_page).post(create_organization))
        .at("/organizations/switch", post(switch))
        .at("/organizations/:id/leave", post(leave))
}

/// A person's organizations (the one they act for marked), and the organizations
/// waiting for their answer to an invitation.
#[derive(Serialize)]
struct OrganizationsPage<'a> {
    memberships: Vec<MembershipRow<'a>>,
    pending: View<Vec<PendingInvitationView>>,
}

/// An organization the person belongs to: their role and permissions in plain words.
#[derive(Serialize)]
struct MembershipRow<'a> {
    id: Uuid,
    name: &'a str,
    role: Role,
    permissions: Vec<&'static str>,
    current: bool,
}

async fn organizations_ctx<'a>(portal: &'a Portal, state: &AppState) -> poem::Result<OrganizationsPage<'a>> {
    let mut conn = db(state).await?;
    let pending = memberships::pending_for(&mut conn, portal.user.id)
        .await
        .unwrap_or_default();
    let memberships = portal
        .memberships
        .iter()
        .map(|m| MembershipRow {
            id: m.organization_id,
            name: &m.organization_name,
            role: m.role,
            permissions: m.permissions.iter().map(|p| permission_label(*p)).collect(),
            current: Some(m.organization_id) == portal.org(),
        })
        .collect();
    Ok(OrganizationsPage {
        memberships,
        pending: views(pending),
    })
}

#[handler]
async fn organizations_page(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let ctx = organizations_ctx(&portal, &state).await?;
    Ok(portal.render_noticed(&state, "tenancy/organizations", q.notice, ctx))
}

/// The new-organization form.
#[derive(Deserialize)]
struct CreateOrganizationForm {
    #[serde(default)]
    name: String,
    country: Option<String>,
    language: Option<String>,
    website: Option<String>,
}

#[handler]
async fn create_organization(
    portal: Portal,
    state: Data<&AppState>,
    req: &poem::Request,
    form: Form<CreateOrganizationForm>,
) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let followed = crate::affiliate::followed(&state, req);
    let input = CreateOrganizationInput {
        name: form.fields.name,
        country: form.fields.country,
        language: form.fields.language,
        website: form.fields.website,
        affiliate_code: followed.as_ref().map(|f| f.0.clone()),
        affiliate_visited_on: followed.map(|f| f.1),
    };
    let mut conn = db(&state).await?;
    let created = organizations::create_own(&mut conn, &state.ctx, portal.user.id, input).await;
    drop(conn);
    Ok(match created {
        Ok(_) => noticed("/organizations", Notice::OrganizationCreated),
        Err(e) => {
            let ctx = organizations_ctx(&portal, &state).await?;
            portal.error(
                &state,
                "tenancy/organizations",
                with(ctx, Typed { form: &form.typed }),
                &e,
            )
        }
    })
}

/// The organization switcher in the layout's header.
#[derive(Deserialize)]
struct SwitchForm {
    organization_id: Option<String>,
}

/// The organization switcher in the layout's header.
#[handler]
async fn switch(portal: Portal, state: Data<&AppState>, form: Form<SwitchForm>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let org = form.fields.organization_id.and_then(|o| Uuid::parse_str(&o).ok());
    let mut conn = db(&state).await?;
    let switched = match org {
        Some(org) => sessions::switch_organization(&mut conn, &state.ctx, &portal.principal, org).await,
        None => Err(CoreError::field(
            "organization_id",
            "required",
            "Choose an organization",
        )),
    };
    Ok(match switched {
        Ok(()) => noticed("/", Notice::Switched),
        Err(e) => portal.failed(&state, "Organizations", &e),
    })
}

#[handler]
async fn leave(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let mut conn = db(&state).await?;
    Ok(
        match memberships::leave(&mut conn, &state.ctx, portal.user.id.into(), id.into()).await {
            Ok(()) => noticed("/organizations", Notice::OrganizationLeft),
            Err(e) => portal.failed(&state, "Organizations", &e),
        },
    )
}
