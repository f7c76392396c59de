//! Delegated sessions: a partner manages its customer or logs in as one of its users,
//! and leaves again; the customer ends a session.

use partnerdesk_core::{
    Error as CoreError, delegation::sessions, identity::accounts, platform::authz::DelegationKind,
    platform::db::PooledConn,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pages::{db, form::Form, notice::Notice, notice::noticed, portal::Portal, redirect};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/customers/:id/manage", post(start_management))
        .at("/customers/:id/login-as", get(login_as_form).post(login_as))
        .at("/delegated-sessions/exit", post(exit))
        .at("/organizations/:id/delegated-sessions/:session/end", post(end_session))
}

/// The portal session enters the delegated session it just started.
async fn enter(
    conn: &mut PooledConn,
    portal: &Portal,
    session: Result<sessions::DelegatedSession, CoreError>,
) -> Result<Uuid, CoreError> {
    let session = session?;
    partnerdesk_core::identity::sessions::enter_delegation_in_session(conn, &portal.principal, session.id).await?;
    Ok(session.customer_id)
}

#[handler]
async fn start_management(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let started = sessions::start_management(&mut conn, &state.ctx, &portal.actor, id).await;
    Ok(match enter(&mut conn, &portal, started).await {
        Ok(customer) => noticed(&format!("/organizations/{customer}"), Notice::Managing),
        Err(e) => portal.failed(&state, "Management session", &e),
    })
}

#[derive(Deserialize, Default)]
struct UserQuery {
    #[serde(default)]
    user: Option<Uuid>,
}

/// The log-in-as form: which customer, as which of its users, and the reason typed.
#[derive(Serialize)]
struct LoginAsPage {
    customer: Named,
    user: Named,
    reason: Option<String>,
}

/// An organization or a person, by id and name.
#[derive(Serialize)]
pub(crate) struct Named {
    pub id: Uuid,
    pub name: String,
}

/// The user a partner is about to log in as, from the customer's users.
async fn login_as_context(
    conn: &mut PooledConn,
    portal: &Portal,
    customer: Uuid,
    user: Option<Uuid>,
) -> Result<LoginAsPage, CoreError> {
    let company = partnerdesk_core::tenancy::organizations::get(conn, &portal.actor, customer).await?;
    let user = user.ok_or(CoreError::not_found("user"))?;
    let name = sessions::login_as_target(conn, &portal.actor, customer.into(), user.into()).await?;
    Ok(LoginAsPage {
        customer: Named {
            id: customer,
            name: company.name,
        },
        user: Named { id: user, name },
        reason: None,
    })
}

#[handler]
async fn login_as_form(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<UserQuery>,
) -> poem::Result<Response> {
    Ok(
        match login_as_context(&mut db(&state).await?, &portal, id, q.user).await {
            Ok(ctx) => portal.render(&state, "delegation/login_as", ctx),
            Err(e) => portal.failed(&state, "Log in as", &e),
        },
    )
}

/// Logging in as one of the customer's users, with the reason.
#[derive(Deserialize)]
struct LoginAsForm {
    user_id: Option<String>,
    #[serde(default)]
    reason: String,
}

#[handler]
async fn login_as(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<LoginAsForm>,
) -> poem::Result<Response> {
    let user = form.fields.user_id.and_then(|u| u.parse::<Uuid>().ok());
    let reason = form.fields.reason;
    let mut conn = db(&state).await?;
    let started = match user {
        Some(user) => sessions::login_as(&mut conn, &state.ctx, &portal.actor, id.into(), user.into(), &reason).await,
        None => Err(CoreError::not_found("user")),
    };
    Ok(match enter(&mut conn, &portal, started).await {
        Ok(_) => redirect("/"),
        Err(e) => match login_as_context(&mut conn, &portal, id, user).await {
            Ok(ctx) => {
                let ctx = LoginAsPage {
                    reason: Some(reason),
                    ..ctx
                };
                portal.error(&state, "delegation/login_as", ctx, &e)
            }
            Err(_) => portal.failed(&state, "Log in as", &e),
        },
    })
}

/// Exit: the session ends and the portal returns to the person's own view.
#[handler]
async fn exit(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let Some(d) = portal.principal.delegation.clone() else {
        return Ok(redirect("/"));
    };
    let ended = sessions::exit(&mut conn, &state.ctx, portal.principal.user_id.into(), d.id.into()).await;
    let left = match &portal.principal.credential {
        accounts::Credential::Session { id, .. } => {
            partnerdesk_core::identity::sessions::leave_delegation(&mut conn, *id).await
        }
        accounts::Credential::Token { .. } => Ok(()),
    };
    Ok(match ended.and(left) {
        Ok(_) if d.kind == DelegationKind::LoginAs => noticed("/customers", Notice::LoggedInAsEnded),
        Ok(_) => noticed(&format!("/organizations/{}", d.customer_id), Notice::SessionEnded),
        Err(e) => portal.failed(&state, "Management session", &e),
    })
}

#[handler]
async fn end_session(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, session)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let ended =
        sessions::end_for_customer(&mut *db(&state).await?, &state.ctx, &portal.actor, id.into(), session).await;
    Ok(match ended {
        Ok(_) => noticed(&format!("/organizations/{id}/service-provider"), Notice::SessionEnded),
        Err(e) => portal.failed(&state, "Service provider", &e),
    })
}
