//! A person's API tokens: create one (shown once), list, revoke.

use partnerdesk_core::{Error as CoreError, identity::api_tokens};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::identity::auth::ApiTokenView;
use crate::pages::context::{Typed, View, views, with};
use crate::pages::{NoticeQuery, db, form::Form, notice::Notice, notice::noticed, portal::Portal};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/tokens", get(tokens).post(create_token))
        .at("/tokens/:id/revoke", post(revoke_token))
}

/// The person's API tokens.
#[derive(Serialize)]
struct TokensPage {
    tokens: View<Vec<ApiTokenView>>,
}

/// A token just created, shown this once.
#[derive(Serialize)]
struct Created {
    created: NewToken,
}

#[derive(Serialize)]
struct NewToken {
    name: String,
    token: String,
}

async fn tokens_ctx(portal: &Portal, state: &AppState) -> poem::Result<TokensPage> {
    let mut conn = db(state).await?;
    let list = api_tokens::list_api_tokens(&mut conn, &portal.principal)
        .await
        .unwrap_or_default();
    Ok(TokensPage { tokens: views(list) })
}

#[handler]
async fn tokens(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let ctx = tokens_ctx(&portal, &state).await?;
    Ok(portal.render_noticed(&state, "identity/tokens", q.notice, ctx))
}

/// The new-token form: a name, and how many days it lasts (none: until revoked).
#[derive(Deserialize)]
struct CreateTokenForm {
    #[serde(default)]
    name: String,
    expires_in_days: Option<String>,
}

/// Creates a token and shows it once, on this answer only.
#[handler]
async fn create_token(portal: Portal, state: Data<&AppState>, form: Form<CreateTokenForm>) -> poem::Result<Response> {
    if let Err(e) = portal.personal() {
        return Ok(portal.failed(&state, "Account", &e));
    }
    let name = form.fields.name;
    let days = form.fields.expires_in_days.map(|d| d.parse::<u32>());
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
        Ok((token, raw)) => {
            let created = Created {
                created: NewToken {
                    name: token.name,
                    token: raw,
                },
            };
            portal.render(&state, "identity/tokens", with(ctx, created))
        }
        Err(e) => portal.error(&state, "identity/tokens", with(ctx, Typed { form: &form.typed }), &e),
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
            Ok(_) => noticed("/tokens", Notice::TokenRevoked),
            Err(e) => portal.failed(&state, "API tokens", &e),
        },
    )
}
