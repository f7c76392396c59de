//! What everyone has: the start page, their profile and password, their organizations
//! (switching, joining, leaving, creating one), API tokens, the software they may
//! download, and asking to become a partner.

use partnerdesk_core::identity::api_tokens;
use partnerdesk_core::identity::sessions;
use partnerdesk_core::{
    Error as CoreError,
    commerce::releases,
    identity::profile::ProfileInput,
    identity::sso,
    platform::domain::format_time,
    tenancy::memberships,
    tenancy::organizations::{self, CreateOrganizationInput},
    tenancy::partners::{self, PartnerStatus, RequestInput},
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde_json::json;
use uuid::Uuid;

use super::{Pairs, db, json_of, organization::NoticeQuery, portal::Portal, redirect};
use crate::{
    api::{
        commerce::catalogue::release_view,
        identity::auth::{ApiTokenView, PendingInvitationView},
        tenancy::partners::{PartnerRequestForm, PartnerRequestView, partner_view},
    },
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/", get(home))
        .at("/profile", get(profile).post(save_profile))
        .at("/profile/password", post(change_password))
        .at("/profile/identities/link/:provider", post(link_identity))
        .at("/profile/identities/:id/remove", post(remove_identity))
        .at("/organizations", get(organizations_page).post(create_organization))
        .at("/organizations/switch", post(switch))
        .at("/organizations/:id/leave", post(leave))
        .at("/tokens", get(tokens).post(create_token))
        .at("/tokens/:id/revoke", post(revoke_token))
        .at("/software", get(software))
        .at("/partner-request", get(partner_request).post(submit_partner_request))
}

#[handler]
async fn home(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    // Logged in as someone else: not their invitations.
    let pending = match portal.personal() {
        Ok(_) => memberships::pending_for(&mut conn, portal.user.id).await,
        Err(_) => Ok(Vec::new()),
    };
    Ok(match pending {
        Ok(pending) => portal.render_noticed(
            &state,
            "home",
            q.notice.as_deref(),
            json!({ "pending": pending.into_iter().map(|p| json_of(PendingInvitationView::from(p))).collect::<Vec<_>>() }),
        ),
        Err(e) => portal.failed(&state, "Home", &e),
    })
}

/// The profile's form values and the linked identities.
async fn profile_ctx(portal: &Portal, state: &AppState, form: serde_json::Value) -> poem::Result<serde_json::Value> {
    let mut conn = db(state).await?;
    let identities = sso::list(&mut conn, &portal.principal).await.unwrap_or_default();
    let config = &state.ctx.config;
    Ok(json!({
        "form": form,
        "identities": identities.into_iter().map(|i| json!({
            "id": i.id,
            "label": config.sso_provider(&i.provider).map(|p| p.label.clone()).unwrap_or(i.provider),
            "email": i.email,
            "linked_at": format_time(i.created_at),
            "last_used_at": i.last_used_at.map(format_time),
        })).collect::<Vec<_>>(),
    }))
}

fn own_names(portal: &Portal) -> serde_json::Value {
    json!({ "first_name": portal.user.first_name, "last_name": portal.user.last_name, "language": portal.user.language })
}

#[handler]
async fn profile(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
    Ok(portal.render_noticed(&state, "profile", q.notice.as_deref(), ctx))
}

/// Starts linking an identity at a provider to the signed-in person's account.
#[handler]
async fn link_identity(portal: Portal, state: Data<&AppState>, Path(provider): Path<String>) -> poem::Result<Response> {
    let user_id = match portal.personal() {
        Ok(id) => id,
        Err(e) => return Ok(portal.failed(&state, "Account", &e)),
    };
    match sso::start(&state.ctx, &provider, Some(user_id), Some("/profile")).await {
        Ok(started) => {
            let mut resp = redirect(&started.authorization_url);
            let cookie = crate::auth::set_sso_cookie(&state, &started.cookie, std::time::Duration::from_secs(600));
            if let Ok(v) = cookie.parse() {
                resp.headers_mut().append(poem::http::header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(e) => {
            let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
            Ok(portal.error(&state, "profile", ctx, &e))
        }
    }
}

#[handler]
async fn remove_identity(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    match sso::remove(&mut conn, &state.ctx, &portal.principal, id).await {
        Ok(()) => Ok(redirect("/profile?notice=identity_removed")),
        Err(e) => {
            drop(conn);
            let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
            Ok(portal.error(&state, "profile", ctx, &e))
        }
    }
}

#[handler]
async fn save_profile(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let input = ProfileInput {
        first_name: form.get("first_name"),
        last_name: form.get("last_name"),
        language: form.get("language"),
    };
    let mut conn = db(&state).await?;
    Ok(
        match partnerdesk_core::identity::profile::update_me(&mut conn, &state.ctx, portal.user.id, input).await {
            Ok(_) => redirect("/profile?notice=profile_saved"),
            Err(e) => {
                drop(conn);
                let ctx = profile_ctx(&portal, &state, form.to_json()).await?;
                portal.error(&state, "profile", ctx, &e)
            }
        },
    )
}

#[handler]
async fn change_password(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let current = form.get("current_password").unwrap_or_default();
    let new = form.get("new_password").unwrap_or_default();
    Ok(
        match partnerdesk_core::identity::profile::change_password(
            &state.pool,
            &state.ctx,
            &portal.principal,
            &current,
            &new,
        )
        .await
        {
            Ok(_) => redirect("/profile?notice=password_changed"),
            Err(e) => {
                let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
                portal.error(&state, "profile", ctx, &e)
            }
        },
    )
}

async fn organizations_ctx(portal: &Portal, state: &AppState) -> poem::Result<serde_json::Value> {
    let mut conn = db(state).await?;
    let pending = memberships::pending_for(&mut conn, portal.user.id)
        .await
        .unwrap_or_default();
    Ok(json!({
        "memberships": portal.memberships.iter().map(|m| json!({
            "id": m.organization_id, "name": m.organization_name, "role": m.role.as_str(),
            "permissions": m.permissions.iter().map(|p| super::organization::permission_label(*p)).collect::<Vec<_>>(),
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
    Ok(portal.render_noticed(&state, "organizations", q.notice.as_deref(), ctx))
}

#[handler]
async fn create_organization(
    portal: Portal,
    state: Data<&AppState>,
    req: &poem::Request,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let followed = crate::affiliate::followed(&state, req);
    let input = CreateOrganizationInput {
        name: form.get("name").unwrap_or_default(),
        country: form.get("country"),
        language: form.get("language"),
        website: form.get("website"),
        affiliate_code: followed.as_ref().map(|f| f.0.clone()),
        affiliate_visited_on: followed.map(|f| f.1),
    };
    let mut conn = db(&state).await?;
    let created = organizations::create_own(&mut conn, &state.ctx, portal.user.id, input).await;
    drop(conn);
    Ok(match created {
        Ok(_) => redirect("/organizations?notice=organization_created"),
        Err(e) => {
            let ctx = organizations_ctx(&portal, &state).await?;
            portal.error(
                &state,
                "organizations",
                super::merge(ctx, json!({ "form": form.to_json() })),
                &e,
            )
        }
    })
}

/// The organization switcher in the layout's header.
#[handler]
async fn switch(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let org = form.get("organization_id").and_then(|o| Uuid::parse_str(&o).ok());
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
        Ok(()) => redirect("/?notice=switched"),
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
        match memberships::leave(&mut conn, &state.ctx, portal.user.id, id).await {
            Ok(()) => redirect("/organizations?notice=organization_left"),
            Err(e) => portal.failed(&state, "Organizations", &e),
        },
    )
}

async fn tokens_ctx(portal: &Portal, state: &AppState) -> poem::Result<serde_json::Value> {
    let mut conn = db(state).await?;
    let list = api_tokens::list_api_tokens(&mut conn, &portal.principal)
        .await
        .unwrap_or_default();
    Ok(json!({ "tokens": list.into_iter().map(|t| json_of(ApiTokenView::from(t))).collect::<Vec<_>>() }))
}

#[handler]
async fn tokens(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let ctx = tokens_ctx(&portal, &state).await?;
    Ok(portal.render_noticed(&state, "tokens", q.notice.as_deref(), ctx))
}

/// Creates a token and shows it once, on this answer only.
#[handler]
async fn create_token(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let name = form.get("name").unwrap_or_default();
    let days = form.get("expires_in_days").map(|d| d.parse::<u32>());
    let mut conn = db(&state).await?;
    let created = match days {
        Some(Err(_)) => Err(CoreError::field(
            "expires_in_days",
            "invalid",
            "Enter a whole number of days",
        )),
        Some(Ok(d)) => api_tokens::create_api_token(&mut conn, &state.ctx, &portal.actor, &name, Some(d)).await,
        None => api_tokens::create_api_token(&mut conn, &state.ctx, &portal.actor, &name, None).await,
    };
    drop(conn);
    let ctx = tokens_ctx(&portal, &state).await?;
    Ok(match created {
        Ok((token, raw)) => portal.render(
            &state,
            "tokens",
            super::merge(ctx, json!({ "created": { "name": token.name, "token": raw } })),
        ),
        Err(e) => portal.error(
            &state,
            "tokens",
            super::merge(ctx, json!({ "form": form.to_json() })),
            &e,
        ),
    })
}

#[handler]
async fn revoke_token(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let mut conn = db(&state).await?;
    Ok(
        match api_tokens::revoke_api_token(&mut conn, &state.ctx, &portal.principal, id).await {
            Ok(_) => redirect("/tokens?notice=token_revoked"),
            Err(e) => portal.failed(&state, "API tokens", &e),
        },
    )
}

#[handler]
async fn software(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match releases::visible(&mut conn, &portal.actor).await {
        Ok(list) => portal.render(
            &state,
            "software",
            json!({ "releases": list.into_iter().map(|r| json_of(release_view(&state, r))).collect::<Vec<_>>() }),
        ),
        Err(e) => portal.failed(&state, "Software", &e),
    })
}

#[handler]
async fn partner_request(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let ctx = match partners::status(&mut conn, &portal.actor).await {
        Ok(PartnerStatus::Eligible { prefill }) => {
            json!({ "state": "eligible", "form": json_of(PartnerRequestForm::from(prefill)) })
        }
        Ok(PartnerStatus::Requested(r)) => {
            json!({ "state": "requested", "request": json_of(PartnerRequestView::from(r)) })
        }
        Ok(PartnerStatus::Partner(p)) => {
            json!({ "state": "partner", "partner": json_of(partner_view(&state, p, None)) })
        }
        Err(e) => return Ok(portal.failed(&state, "Become a partner", &e)),
    };
    Ok(portal.render_noticed(&state, "partner_request", q.notice.as_deref(), ctx))
}

#[handler]
async fn submit_partner_request(
    portal: Portal,
    state: Data<&AppState>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let expected = form.get("expected_customers").map(|e| e.parse::<i64>());
    let input = RequestInput {
        company: form.get("company").unwrap_or_default(),
        contact_name: form.get("contact_name").unwrap_or_default(),
        contact_email: form.get("contact_email").unwrap_or_default(),
        website: form.get("website"),
        country: form.get("country").unwrap_or_default(),
        expected_customers: expected.clone().and_then(Result::ok),
        message: form.get("message"),
    };
    let mut conn = db(&state).await?;
    let result = match expected {
        Some(Err(_)) => Err(CoreError::field(
            "expected_customers",
            "invalid",
            "Enter a whole number",
        )),
        _ => partners::submit_request(&mut conn, &state.ctx, &portal.actor, input).await,
    };
    Ok(match result {
        Ok(_) => redirect("/partner-request?notice=partner_requested"),
        Err(e) => portal.error(
            &state,
            "partner_request",
            json!({ "state": "eligible", "form": form.to_json() }),
            &e,
        ),
    })
}
