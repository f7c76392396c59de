//! A partner's invitations of new customers, and the invited customer's answer.

use partnerdesk_core::{Error as CoreError, tenancy::invitations, tenancy::invitations::InvitationInput};
use poem::{
    Request, Response, Route, get, handler, http::StatusCode, post, web::Data, web::Form, web::Path, web::Query,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::pages::{
    NoticeQuery, caller, db, error_context, error_page, filled, json_of, merge, notice::Notice, notice::noticed, page,
    portal::Portal, reads, unavailable,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/invitations", get(invitation_list))
        .at("/invitations/new", get(invite_form).post(invite))
        .at("/invitations/:id/resend", post(resend))
        .at("/invitations/:id/revoke", post(revoke))
        .at("/register/customer/:token", get(customer_form).post(customer_accept))
}

#[handler]
async fn invitation_list(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let now = state.ctx.clock.now();
    Ok(
        match invitations::list(&mut conn, &state.ctx, &portal.actor, Some("open")).await {
            Ok(found) => portal.render_noticed(
                &state,
                "tenancy/invitations",
                q.notice,
                json!({ "invitations": found.into_iter().map(|i| json_of(crate::api::tenancy::invitations::view(i, now))).collect::<Vec<Value>>() }),
            ),
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

#[derive(Deserialize, Serialize, Default)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    contact_name: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    commission_rate: Option<String>,
    #[serde(default)]
    debtor_number: Option<String>,
    #[serde(default)]
    customer_type: Option<String>,
}

impl From<InviteForm> for InvitationInput {
    fn from(f: InviteForm) -> Self {
        InvitationInput {
            email: f.email,
            company_name: f.company_name,
            contact_name: filled(f.contact_name),
            language: filled(f.language),
            country: filled(f.country),
            commission_rate: filled(f.commission_rate),
            debtor_number: filled(f.debtor_number),
            customer_type: filled(f.customer_type),
        }
    }
}

#[handler]
fn invite_form(portal: Portal, state: Data<&AppState>) -> Response {
    portal.render(
        &state,
        "tenancy/invitation_new",
        json!({ "form": InviteForm::default() }),
    )
}

#[handler]
async fn invite(portal: Portal, state: Data<&AppState>, Form(form): Form<InviteForm>) -> poem::Result<Response> {
    let shown = json!({ "form": &form });
    let mut conn = db(&state).await?;
    Ok(
        match invitations::create(&mut conn, &state.ctx, &portal.actor, form.into()).await {
            Ok(_) => noticed("/invitations", Notice::InvitationSent),
            Err(e) => portal.error(&state, "tenancy/invitation_new", shown, &e),
        },
    )
}

#[handler]
async fn resend(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match invitations::resend(&mut conn, &state.ctx, &portal.actor, id).await {
            Ok(_) => noticed("/invitations", Notice::InvitationResent),
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

#[handler]
async fn revoke(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match invitations::revoke(&mut conn, &state.ctx, &portal.actor, id).await {
            Ok(_) => noticed("/invitations", Notice::InvitationRevoked),
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

#[handler]
async fn customer_form(state: Data<&AppState>, req: &Request, Path(token): Path<String>) -> Response {
    let logged_in = caller(&state, req).await.is_some();
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = invitations::inspect(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(p) => page(
            &state,
            StatusCode::OK,
            "tenancy/customer_register",
            json!({
                "email": p.email, "partner": p.partner_name, "form": { "company_name": p.company_name },
                "has_account": p.has_account, "logged_in": logged_in, "next": req.uri().path(),
            }),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Invitation" }), &e),
    }
}

#[derive(Deserialize, serde::Serialize)]
struct AcceptForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    password: String,
    company_name: String,
    #[serde(default)]
    country: Option<String>,
}

#[handler]
async fn customer_accept(
    state: Data<&AppState>,
    req: &Request,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let user = caller(&state, req).await;
    let preview = match state.conn().await {
        Ok(mut conn) => invitations::inspect(&mut conn, &state.ctx, &token).await,
        Err(_) => return unavailable(&state),
    };
    let mut shown = serde_json::to_value(&form).unwrap_or_default();
    shown["password"] = json!("");
    let input = invitations::AcceptInput {
        first_name: form.first_name,
        last_name: form.last_name,
        password: form.password,
        company_name: Some(form.company_name),
        country: form.country.filter(|c| !c.trim().is_empty()),
    };
    match invitations::accept(&state.pool, &state.ctx, &token, user, input).await {
        Ok(done) => page(
            &state,
            StatusCode::OK,
            "message",
            json!({ "title": "Welcome", "message": format!("{} has been created. You can log in now.", done.organization.name), "login": true }),
        ),
        Err(e @ CoreError::Gone { .. }) => page(
            &state,
            StatusCode::GONE,
            "message",
            merge(json!({ "title": "Invitation" }), error_context(&e)),
        ),
        Err(e) => {
            let (email, partner, has_account) = preview
                .map(|p| (p.email, p.partner_name, p.has_account))
                .unwrap_or_default();
            let ctx = json!({
                "email": email, "partner": partner, "form": shown, "has_account": has_account,
                "logged_in": user.is_some(), "next": req.uri().path(),
            });
            error_page(&state, "tenancy/customer_register", ctx, &e)
        }
    }
}
