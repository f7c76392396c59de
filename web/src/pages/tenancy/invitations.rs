//! A partner's invitations of new customers, and the invited customer's answer.

use partnerdesk_core::{Error as CoreError, tenancy::invitations, tenancy::invitations::InvitationInput};
use poem::{
    Request, Response, Route, get, handler, http::StatusCode, post, web::Data, web::Form, web::Path, web::Query,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::invitations::{InvitationView, view};
use crate::pages::context::{Message, Shown, Typed, View, with};
use crate::pages::{
    NoticeQuery, caller, db, error_page, filled, notice::Notice, notice::noticed, page, portal::Portal, reads,
    unavailable,
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

/// A partner's open invitations.
#[derive(Serialize)]
struct InvitationsPage {
    invitations: View<Vec<InvitationView>>,
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
            Ok(found) => {
                let ctx = InvitationsPage {
                    invitations: View(found.into_iter().map(|i| view(i, now)).collect()),
                };
                portal.render_noticed(&state, "tenancy/invitations", q.notice, ctx)
            }
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

/// The invite-a-customer form as typed; shown again with the messages when refused.
#[derive(Deserialize, Serialize, Default, Clone)]
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
        Typed {
            form: InviteForm::default(),
        },
    )
}

#[handler]
async fn invite(portal: Portal, state: Data<&AppState>, Form(form): Form<InviteForm>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match invitations::create(&mut conn, &state.ctx, &portal.actor, form.clone().into()).await {
            Ok(_) => noticed("/invitations", Notice::InvitationSent),
            Err(e) => portal.error(&state, "tenancy/invitation_new", Typed { form: &form }, &e),
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

/// The invited customer's registration: who invited whom, whether the address has an
/// account (and whether it is the one logged in), and the form, prefilled or as typed.
#[derive(Serialize)]
struct CustomerRegisterPage<'a, F> {
    email: String,
    partner: String,
    form: F,
    has_account: bool,
    logged_in: bool,
    next: &'a str,
}

/// The registration form as the partner's invitation fills it in.
#[derive(Serialize)]
struct Prefilled {
    company_name: String,
}

#[handler]
async fn customer_form(state: Data<&AppState>, req: &Request, Path(token): Path<String>) -> Response {
    let logged_in = caller(&state, req).await.is_some();
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = invitations::inspect(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(p) => {
            let ctx = CustomerRegisterPage {
                email: p.email,
                partner: p.partner_name,
                form: Prefilled {
                    company_name: p.company_name,
                },
                has_account: p.has_account,
                logged_in,
                next: req.uri().path(),
            };
            page(&state, StatusCode::OK, "tenancy/customer_register", ctx)
        }
        Err(e) => error_page(&state, "message", Message::titled("Invitation"), &e),
    }
}

/// The invited customer's registration form; shown again (never the password) when refused.
#[derive(Deserialize, Serialize)]
struct AcceptForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default, skip_serializing)]
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
    let input = invitations::AcceptInput {
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        password: form.password.clone(),
        company_name: Some(form.company_name.clone()),
        country: form.country.clone().filter(|c| !c.trim().is_empty()),
    };
    match invitations::accept(&state.pool, &state.ctx, &token, user, input).await {
        Ok(done) => {
            let created = format!("{} has been created. You can log in now.", done.organization.name);
            page(
                &state,
                StatusCode::OK,
                "message",
                Message::titled("Welcome").saying(created).with_login(),
            )
        }
        Err(e @ CoreError::Gone { .. }) => page(
            &state,
            StatusCode::GONE,
            "message",
            with(Message::titled("Invitation"), Shown::of(&e)),
        ),
        Err(e) => {
            let (email, partner, has_account) = preview
                .map(|p| (p.email, p.partner_name, p.has_account))
                .unwrap_or_default();
            let ctx = CustomerRegisterPage {
                email,
                partner,
                form: &form,
                has_account,
                logged_in: user.is_some(),
                next: req.uri().path(),
            };
            error_page(&state, "tenancy/customer_register", ctx, &e)
        }
    }
}
