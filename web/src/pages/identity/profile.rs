//! A person's profile: name and language, password, and the identities of single
//! sign-on providers linked to the account.

use partnerdesk_core::{identity::profile::ProfileInput, identity::sso, platform::domain::format_time};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pages::{NoticeQuery, db, form::Form, notice::Notice, notice::noticed, portal::Portal, redirect};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/profile", get(profile).post(save_profile))
        .at("/profile/password", post(change_password))
        .at("/profile/identities/link/:provider", post(link_identity))
        .at("/profile/identities/:id/remove", post(remove_identity))
}

/// The profile page: the form's values and the linked identities.
#[derive(Serialize)]
struct ProfilePage<F> {
    form: F,
    identities: Vec<Identity>,
}

/// An identity at a single sign-on provider, linked to the account.
#[derive(Serialize)]
struct Identity {
    id: Uuid,
    label: String,
    email: Option<String>,
    linked_at: String,
    last_used_at: Option<String>,
}

/// The name and language the profile form starts with.
#[derive(Serialize)]
struct OwnNames<'a> {
    first_name: &'a str,
    last_name: &'a str,
    language: &'a str,
}

async fn profile_ctx<F: Serialize>(portal: &Portal, state: &AppState, form: F) -> poem::Result<ProfilePage<F>> {
    let mut conn = db(state).await?;
    let identities = sso::list(&mut conn, &portal.principal).await.unwrap_or_default();
    let config = &state.ctx.config;
    let identities = identities
        .into_iter()
        .map(|i| Identity {
            id: i.id,
            label: config
                .sso_provider(&i.provider)
                .map(|p| p.label.clone())
                .unwrap_or(i.provider),
            email: i.email,
            linked_at: format_time(i.created_at),
            last_used_at: i.last_used_at.map(format_time),
        })
        .collect();
    Ok(ProfilePage { form, identities })
}

fn own_names(portal: &Portal) -> OwnNames<'_> {
    let me = &portal.user;
    OwnNames {
        first_name: &me.first_name,
        last_name: &me.last_name,
        language: &me.language,
    }
}

#[handler]
async fn profile(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
    Ok(portal.render_noticed(&state, "identity/profile", q.notice, ctx))
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
            Ok(portal.error(&state, "identity/profile", ctx, &e))
        }
    }
}

#[handler]
async fn remove_identity(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    match sso::remove(&mut conn, &state.ctx, &portal.principal, id).await {
        Ok(()) => Ok(noticed("/profile", Notice::IdentityRemoved)),
        Err(e) => {
            drop(conn);
            let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
            Ok(portal.error(&state, "identity/profile", ctx, &e))
        }
    }
}

/// The profile form: name and language.
#[derive(Deserialize)]
struct SaveProfileForm {
    first_name: Option<String>,
    last_name: Option<String>,
    language: Option<String>,
}

#[handler]
async fn save_profile(portal: Portal, state: Data<&AppState>, form: Form<SaveProfileForm>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let input = ProfileInput {
        first_name: form.fields.first_name,
        last_name: form.fields.last_name,
        language: form.fields.language,
    };
    let mut conn = db(&state).await?;
    Ok(
        match partnerdesk_core::identity::profile::update_me(&mut conn, &state.ctx, portal.user.id, input).await {
            Ok(_) => noticed("/profile", Notice::ProfileSaved),
            Err(e) => {
                drop(conn);
                let ctx = profile_ctx(&portal, &state, &form.typed).await?;
                portal.error(&state, "identity/profile", ctx, &e)
            }
        },
    )
}

/// The change-password form.
#[derive(Deserialize)]
struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[handler]
async fn change_password(
    portal: Portal,
    state: Data<&AppState>,
    form: Form<ChangePasswordForm>,
) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let current = form.fields.current_password;
    let new = form.fields.new_password;
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
            Ok(_) => noticed("/profile", Notice::PasswordChanged),
            Err(e) => {
                let ctx = profile_ctx(&portal, &state, own_names(&portal)).await?;
                portal.error(&state, "identity/profile", ctx, &e)
            }
        },
    )
}
