//! Delegated administration in the portal: a partner starts a management session for a
//! customer or logs in as one of its users (the banner and Exit are in the layout) and
//! asks for more permissions; the customer answers requests, ends sessions and reads
//! what its service provider did. The same core calls as `api::delegation`.

use partnerdesk_core::{
    Error as CoreError,
    delegation::service_providers,
    delegation::{activity, sessions},
    identity::accounts,
    platform::authz::{DelegationKind, Permission},
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use partnerdesk_core::platform::db::PooledConn;

use super::{Pairs, db, json_of, organization::permission_label, portal::Portal, reads, redirect};
use crate::{
    api::delegation::{ActivityView, DelegatedSessionView, GrantRequestView},
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/customers/:id/manage", post(start_management))
        .at("/customers/:id/login-as", get(login_as_form).post(login_as))
        .at("/customers/:id/grant-requests", get(request_form).post(request_grants))
        .at("/delegated-sessions/exit", post(exit))
        .at("/organizations/:id/delegated-sessions/:session/end", post(end_session))
        .at(
            "/organizations/:id/grant-requests/:request/accept",
            post(accept_request),
        )
        .at(
            "/organizations/:id/grant-requests/:request/decline",
            post(decline_request),
        )
        .at("/organizations/:id/service-provider/activity", get(activity_page))
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
        Ok(customer) => redirect(&format!("/organizations/{customer}?notice=managing")),
        Err(e) => portal.failed(&state, "Management session", &e),
    })
}

#[derive(Deserialize, Default)]
struct UserQuery {
    #[serde(default)]
    user: Option<Uuid>,
}

/// The user a partner is about to log in as, from the customer's users.
async fn login_as_context(
    conn: &mut PooledConn,
    portal: &Portal,
    customer: Uuid,
    user: Option<Uuid>,
) -> Result<Value, CoreError> {
    let company = partnerdesk_core::tenancy::organizations::get(conn, &portal.actor, customer).await?;
    let user = user.ok_or(CoreError::not_found("user"))?;
    let name = sessions::login_as_target(conn, &portal.actor, customer, user).await?;
    Ok(json!({
        "customer": { "id": customer, "name": company.name },
        "user": { "id": user, "name": name },
    }))
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
            Ok(ctx) => portal.render(&state, "login_as", ctx),
            Err(e) => portal.failed(&state, "Log in as", &e),
        },
    )
}

#[handler]
async fn login_as(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let user = form.get("user_id").and_then(|u| u.parse::<Uuid>().ok());
    let reason = form.get("reason").unwrap_or_default();
    let mut conn = db(&state).await?;
    let started = match user {
        Some(user) => sessions::login_as(&mut conn, &state.ctx, &portal.actor, id, user, &reason).await,
        None => Err(CoreError::not_found("user")),
    };
    Ok(match enter(&mut conn, &portal, started).await {
        Ok(_) => redirect("/"),
        Err(e) => match login_as_context(&mut conn, &portal, id, user).await {
            Ok(ctx) => portal.error(&state, "login_as", merge_reason(ctx, &reason), &e),
            Err(_) => portal.failed(&state, "Log in as", &e),
        },
    })
}

fn merge_reason(mut ctx: Value, reason: &str) -> Value {
    ctx["reason"] = json!(reason);
    ctx
}

/// Exit: the session ends and the portal returns to the person's own view.
#[handler]
async fn exit(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let Some(d) = portal.principal.delegation.clone() else {
        return Ok(redirect("/"));
    };
    let ended = sessions::exit(&mut conn, &state.ctx, portal.principal.user_id, d.id).await;
    let left = match &portal.principal.credential {
        accounts::Credential::Session { id, .. } => {
            partnerdesk_core::identity::sessions::leave_delegation(&mut conn, *id).await
        }
        accounts::Credential::Token { .. } => Ok(()),
    };
    Ok(match ended.and(left) {
        Ok(_) if d.kind == DelegationKind::LoginAs => redirect("/customers?notice=logged_in_as_ended"),
        Ok(_) => redirect(&format!("/organizations/{}?notice=session_ended", d.customer_id)),
        Err(e) => portal.failed(&state, "Management session", &e),
    })
}

#[handler]
async fn end_session(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, session)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let ended = sessions::end_for_customer(&mut *db(&state).await?, &state.ctx, &portal.actor, id, session).await;
    Ok(match ended {
        Ok(_) => redirect(&format!("/organizations/{id}/service-provider?notice=session_ended")),
        Err(e) => portal.failed(&state, "Service provider", &e),
    })
}

async fn answer(portal: &Portal, state: &AppState, id: Uuid, request: Uuid, accept: bool) -> poem::Result<Response> {
    let answered =
        service_providers::answer_request(&mut *db(state).await?, &state.ctx, &portal.actor, id, request, accept).await;
    let notice = if accept { "request_accepted" } else { "request_declined" };
    Ok(match answered {
        Ok(_) => redirect(&format!("/organizations/{id}/service-provider?notice={notice}")),
        Err(e) => portal.failed(state, "Service provider", &e),
    })
}

#[handler]
async fn accept_request(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, request)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    answer(&portal, &state, id, request, true).await
}

#[handler]
async fn decline_request(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, request)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    answer(&portal, &state, id, request, false).await
}

/// The permissions a partner may ask for: every delegable one it does not hold yet.
async fn askable(
    conn: &mut PooledConn,
    portal: &Portal,
    customer: Uuid,
    chosen: &[String],
) -> Result<Value, CoreError> {
    let company = partnerdesk_core::tenancy::organizations::get(conn, &portal.actor, customer).await?;
    let partner = portal.org().unwrap_or_default();
    let granted = partnerdesk_core::platform::authz::granted_to(conn, portal.actor.now, partner, customer)
        .await?
        .map(|(_, g)| g)
        .unwrap_or_default();
    let options: Vec<Value> = Permission::DELEGABLE
        .iter()
        .filter(|p| !granted.contains(p))
        .map(|p| json!({ "name": p.as_str(), "label": permission_label(*p), "chosen": chosen.iter().any(|c| c == p.as_str()) }))
        .collect();
    Ok(json!({ "customer": { "id": customer, "name": company.name }, "options": options }))
}

#[handler]
async fn request_form(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    Ok(match askable(&mut db(&state).await?, &portal, id, &[]).await {
        Ok(ctx) => portal.render(&state, "grant_request", ctx),
        Err(e) => portal.failed(&state, "Ask for more permissions", &e),
    })
}

#[handler]
async fn request_grants(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let (names, message) = (form.all("permissions"), form.get("message"));
    let mut conn = db(&state).await?;
    let asked =
        service_providers::request_grants(&mut conn, &state.ctx, &portal.actor, id, &names, message.as_deref()).await;
    Ok(match asked {
        Ok(_) => redirect(&format!("/organizations/{id}?notice=grants_requested")),
        Err(e) => match askable(&mut conn, &portal, id, &names).await {
            Ok(mut ctx) => {
                ctx["message"] = json!(message);
                portal.error(&state, "grant_request", ctx, &e)
            }
            Err(_) => portal.failed(&state, "Ask for more permissions", &e),
        },
    })
}

#[derive(Deserialize, Default)]
struct ActivityQuery {
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

/// "What my service provider did": filters, one page, the next page, the CSV.
#[handler]
async fn activity_page(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<ActivityQuery>,
) -> poem::Result<Response> {
    const PAGE: i64 = 50;
    let date = |s: &Option<String>| {
        s.as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let query = activity::Query {
        person: q.person.as_deref().and_then(|p| p.parse().ok()),
        from: date(&q.from),
        to: date(&q.to),
        before_id: q.before,
    };
    let mut conn = reads(&state).await?;
    let loaded = async {
        let rows = activity::list(&mut conn, &portal.actor, id, &query, PAGE).await?;
        let people = activity::people(&mut conn, &portal.actor, id).await?;
        let sessions = sessions::list_for_customer(&mut conn, &portal.actor, id)
            .await
            .unwrap_or_default();
        Ok::<_, CoreError>((rows, people, sessions))
    };
    let filters = json!({ "person": q.person, "from": q.from, "to": q.to });
    let export = format!(
        "/api/organizations/{id}/service-provider/activity/export?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.person.map(|p| ("person_id", p.to_string())))
            .extend_pairs(query.from.map(|d| ("from", d.to_string())))
            .extend_pairs(query.to.map(|d| ("to", d.to_string())))
            .finish()
    );
    let ctx = match loaded.await {
        Ok((rows, people, sessions)) => {
            let next = (rows.len() as i64 == PAGE).then(|| rows.last().map(|r| r.id)).flatten();
            let rows: Vec<Value> = rows.into_iter().map(|r| json_of(ActivityView::from(r))).collect();
            let sessions: Vec<Value> = sessions
                .into_iter()
                .map(|s| json_of(DelegatedSessionView::from(s)))
                .collect();
            json!({
                "org": { "id": id },
                "rows": rows,
                "people": people.into_iter().map(|(id, name)| json!({ "id": id, "name": name })).collect::<Vec<_>>(),
                "sessions": sessions,
                "filters": filters,
                "next": next,
                "export": export,
            })
        }
        Err(e) => return Ok(portal.failed(&state, "What my service provider did", &e)),
    };
    Ok(portal.render(&state, "provider_activity", ctx))
}

/// Requests for more permissions and the service provider's sessions, for the customer's
/// service-provider tab.
pub(super) async fn provider_extras(conn: &mut PooledConn, portal: &Portal, id: Uuid) -> Value {
    let requests = service_providers::grant_requests(conn, &portal.actor, id)
        .await
        .unwrap_or_default();
    let sessions = sessions::list_for_customer(conn, &portal.actor, id)
        .await
        .unwrap_or_default();
    json!({
        "requests": requests.into_iter().map(|r| {
            let labels: Vec<&str> = r.permissions.iter().map(|p| permission_label(*p)).collect();
            let mut v = json_of(GrantRequestView::from(r));
            v["labels"] = json!(labels);
            v
        }).collect::<Vec<_>>(),
        "sessions": sessions.into_iter().filter(|s| s.active).map(|s| json_of(DelegatedSessionView::from(s))).collect::<Vec<_>>(),
    })
}
