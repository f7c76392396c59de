//! The organizations a person belongs to: switching between them, creating one,
//! leaving one.

use partnerdesk_core::{
    Error as CoreError, identity::sessions, tenancy::memberships, tenancy::organizations,
    tenancy::organizations::CreateOrganizationInput,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::api::identity::auth::PendingInvitationView;
use crate::pages::{
    NoticeQuery, db, form::Form, json_of, notice::Notice, notice::noticed, portal::Portal, tabs::permission_label,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations", get(organizations_page).post(create_organization))
        .at("/organizations/switch", post(switch))
        .at("/organizations/:id/leave", post(leave))
}

async fn organizations_ctx(portal: &Portal, state: &AppState) -> poem::Result<serde_json::Value> {
    let mut conn = db(state).await?;
    let pending = memberships::pending_for(&mut conn, portal.user.id)
        .await
        .unwrap_or_default();
    Ok(json!({
        "memberships": portal.memberships.iter().map(|m| json!({
            "id": m.organization_id, "name": m.organization_name, "role": m.role.as_str(),
            "permissions": m.permissions.iter().map(|p| permission_label(*p)).collect::<Vec<_>>(),
            "current": Some(m.organization_id) == portal.org(),
        })).collect::<Vec<_>>(),
        "pending": pending.into_iter().map(|p| json_of(PendingInvitationView::from(p))).collect::<Vec<_>>(),
    }))
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
                crate::pages::merge(ctx, json!({ "form": form.typed.to_json() })),
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
