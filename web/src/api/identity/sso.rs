//! Single sign-on through the API: the same attempt the portal's buttons start, for
//! clients that drive the browser themselves; the person's linked identities.

use chrono::{DateTime, Utc};
use partnerdesk_core::{
    identity::sso::{self, Callback, Identity, Outcome},
    identity::{accounts, sessions::SessionMeta},
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, NoContent, identity::auth::UserView};
use crate::{
    api::identity::auth::user_agent,
    auth::{self as session_auth, Auth},
    body::Body,
    error::ApiResult,
    state::AppState,
};

#[derive(Default)]
pub struct SsoApi;

/// A configured single sign-on provider.
#[derive(Object, Debug)]
pub struct SsoProviderView {
    /// Its name in addresses (`/auth/sso/<name>/...`).
    pub name: String,
    /// What the log-in button says: "Sign in with <label>".
    pub label: String,
    /// The portal's address that starts signing in with it (a browser link).
    pub sign_in_url: String,
    /// Where the provider sends the browser back: registered at the provider.
    pub redirect_url: String,
}

#[derive(Object, Debug, Default)]
#[oai(example)]
pub struct StartSsoRequest {
    /// Link the identity to the signed-in caller's account instead of signing in.
    #[oai(default)]
    pub link: bool,
    /// A path on this site the portal returns to afterwards.
    #[oai(nullable, validator(max_length = 500))]
    pub next: Option<String>,
}

impl Example for StartSsoRequest {
    fn example() -> Self {
        StartSsoRequest {
            link: false,
            next: Some("/".into()),
        }
    }
}

#[derive(Object, Debug)]
pub struct SsoStarted {
    /// Send the person's browser here (the provider's sign-in, with state, nonce and a
    /// PKCE challenge).
    pub authorization_url: String,
    /// The attempt must be completed before this time.
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum SsoStartResponse {
    /// Started; the attempt's cookie is set (HttpOnly): complete it from the same client.
    #[oai(status = 200)]
    Ok(Json<SsoStarted>, #[oai(header = "Set-Cookie")] String),
}

/// The query parameters the provider sent to the redirect URL, as they came.
#[derive(Object, Debug)]
#[oai(example)]
pub struct CompleteSsoRequest {
    #[oai(validator(max_length = 2048))]
    pub code: Option<String>,
    #[oai(validator(max_length = 200))]
    pub state: Option<String>,
    /// The issuer, when the provider sends it (RFC 9207).
    #[oai(validator(max_length = 500))]
    pub iss: Option<String>,
    /// The provider's error code, when it did not sign the person in.
    #[oai(validator(max_length = 200))]
    pub error: Option<String>,
}

impl Example for CompleteSsoRequest {
    fn example() -> Self {
        CompleteSsoRequest {
            code: Some("SplxlOBeZQQYbYS6WxSbIA".into()),
            state: Some("af0ifjsldkj".into()),
            iss: None,
            error: None,
        }
    }
}

/// A provider identity linked to an account.
#[derive(Object, Debug)]
pub struct IdentityView {
    pub id: Uuid,
    /// The provider's name (microsoft, google, ...).
    pub provider: String,
    /// The provider's address for the person at the last sign-in.
    #[oai(nullable)]
    pub email: Option<String>,
    /// verified_email (the provider vouched for the account's address), profile (linked
    /// by the person) or sign_up (the account was made by it).
    pub linked_via: String,
    pub linked_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<Identity> for IdentityView {
    fn from(i: Identity) -> Self {
        IdentityView {
            id: i.id,
            provider: i.provider,
            email: i.email,
            linked_via: i.linked_via,
            linked_at: i.created_at,
            last_used_at: i.last_used_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct SsoCompleted {
    pub user: UserView,
    /// True when the attempt signed in (a session cookie is set); false when it linked
    /// an identity to the signed-in caller.
    pub signed_in: bool,
    /// The sign-in made a new account (it belongs to no organization yet).
    pub new_account: bool,
    /// The organization the new session acts as (null without one).
    #[oai(nullable)]
    pub acting_organization_id: Option<Uuid>,
    #[oai(nullable)]
    pub session_expires_at: Option<DateTime<Utc>>,
    /// The identity this attempt linked: to the signed-in caller, or, signing in, to the
    /// account found by its verified address (or made for it); none when it was linked before.
    #[oai(nullable)]
    pub identity: Option<IdentityView>,
    /// The path the attempt was started with.
    #[oai(nullable)]
    pub next: Option<String>,
}

#[derive(ApiResponse)]
pub enum SsoCompleteResponse {
    /// Signed in (the session cookie is set) or linked.
    #[oai(status = 200)]
    Ok(Json<SsoCompleted>, #[oai(header = "Set-Cookie")] Option<String>),
}

/// Finishes an attempt from a request (API or portal), with the browser's cookies.
pub(crate) async fn complete(
    state: &AppState,
    req: &Request,
    provider: &str,
    callback: Callback,
) -> partnerdesk_core::Result<Outcome> {
    // Only a portal session finishes linking (an API token does not).
    let current = session_auth::principal_from(req, state)
        .await
        .ok()
        .flatten()
        .filter(|p| matches!(p.credential, accounts::Credential::Session { .. }))
        .map(|p| (p.user_id, p.sso_session()));
    let meta = SessionMeta {
        user_agent: user_agent(req),
        previous_session: session_auth::session_cookie(req),
    };
    let cookie = session_auth::sso_cookie(req);
    sso::complete(
        &state.pool,
        &state.ctx,
        provider,
        cookie.as_deref(),
        callback,
        current,
        meta,
    )
    .await
}

#[OpenApi(tag = "ApiTags::Auth")]
impl SsoApi {
    /// Single sign-on providers
    ///
    /// The providers configured for this portal, with the redirect URL each needs
    /// registered.
    #[oai(operation_id = "listSsoProviders", path = "/auth/sso/providers", method = "get")]
    async fn providers(&self, state: Data<&AppState>) -> ApiResult<Json<Vec<SsoProviderView>>> {
        let config = &state.ctx.config;
        Ok(Json(
            config
                .sso
                .iter()
                .map(|p| SsoProviderView {
                    name: p.name.clone(),
                    label: p.label.clone(),
                    sign_in_url: config.url(&format!("/auth/sso/{}", p.name)),
                    redirect_url: config.sso_redirect_url(&p.name),
                })
                .collect(),
        ))
    }

    /// Start single sign-on
    ///
    /// The flow, for a client that drives a browser:
    /// 1. `POST /api/auth/sso/{provider}/start` answers the provider's
    ///    `authorization_url` and sets the attempt's cookie (state, nonce and PKCE
    ///    verifier, signed; ten minutes).
    /// 2. The person signs in there; the provider sends the browser to
    ///    `/auth/sso/{provider}/callback?code=…&state=…`. A browser that arrives there
    ///    with the cookie is signed in by the portal itself.
    /// 3. A client that catches that redirect instead sends its query parameters to
    ///    `POST /api/auth/sso/{provider}/complete` with the same cookie.
    ///
    /// With `link: true` the caller must be signed in with a portal session (not an API
    /// token: `session_required`), and the identity is linked to their account instead.
    /// Linked from a session opened with a password, it does not satisfy organizations
    /// that require single sign-on until the provider vouches for the account's address
    /// at a sign-in.
    #[oai(operation_id = "startSso", path = "/auth/sso/:provider/start", method = "post")]
    async fn start(
        &self,
        state: Data<&AppState>,
        req: &Request,
        provider: Path<String>,
        body: Body<StartSsoRequest>,
    ) -> ApiResult<SsoStartResponse> {
        let link_user = if body.0.link {
            let principal = session_auth::principal_from(req, &state).await?.ok_or_else(|| {
                partnerdesk_core::Error::unauthenticated("authentication_required", "Log in to link an identity")
            })?;
            if !matches!(principal.credential, accounts::Credential::Session { .. }) {
                return Err(partnerdesk_core::Error::Forbidden {
                    code: "session_required",
                    message: "Identities are linked from a portal session, not with an API token".to_owned(),
                }
                .into());
            }
            Some(principal.personal()?)
        } else {
            None
        };
        let started = sso::start(&state.ctx, &provider.0, link_user, body.0.next.as_deref()).await?;
        let cookie = session_auth::set_sso_cookie(&state, &started.cookie, std::time::Duration::from_secs(600));
        Ok(SsoStartResponse::Ok(
            Json(SsoStarted {
                authorization_url: started.authorization_url,
                expires_at: started.expires_at,
            }),
            cookie,
        ))
    }

    /// Complete single sign-on
    ///
    /// Refused when the attempt's cookie is missing, expired or for another provider,
    /// or `state` differs (`sso_state_mismatch`); when the provider's ID token fails
    /// verification: signature against the provider's published keys, issuer,
    /// audience, expiry, nonce (`sso_token_invalid`); when an identity not linked yet
    /// comes without an address the provider verified (`sso_email_not_verified`).
    /// A verified address of an existing account links the identity to it; a verified
    /// address without an account starts one that belongs to no organization.
    #[oai(operation_id = "completeSso", path = "/auth/sso/:provider/complete", method = "post")]
    async fn complete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        provider: Path<String>,
        body: Body<CompleteSsoRequest>,
    ) -> ApiResult<SsoCompleteResponse> {
        let b = body.0;
        let callback = Callback {
            code: b.code,
            state: b.state,
            iss: b.iss,
            error: b.error,
        };
        let outcome = complete(&state, req, &provider.0, callback).await?;
        let mut conn = state.conn().await?;
        Ok(match outcome {
            Outcome::SignedIn {
                session,
                token,
                new_account,
                linked,
                next,
            } => {
                let user = accounts::get_user(&mut conn, session.user_id).await?;
                SsoCompleteResponse::Ok(
                    Json(SsoCompleted {
                        user: user.into(),
                        signed_in: true,
                        new_account,
                        acting_organization_id: session.acting_organization_id,
                        session_expires_at: Some(session.expires_at),
                        identity: linked.map(Into::into),
                        next,
                    }),
                    Some(session_auth::set_session_cookie(
                        &state,
                        &token,
                        state.ctx.config.session_ttl,
                    )),
                )
            }
            Outcome::Linked { identity, next } => {
                let principal = session_auth::principal_on(&mut conn, req, &state).await?;
                let user_id = principal.map(|p| p.user_id).unwrap_or_default();
                let user = accounts::get_user(&mut conn, user_id).await?;
                SsoCompleteResponse::Ok(
                    Json(SsoCompleted {
                        user: user.into(),
                        signed_in: false,
                        new_account: false,
                        acting_organization_id: None,
                        session_expires_at: None,
                        identity: Some(identity.into()),
                        next,
                    }),
                    None,
                )
            }
        })
    }

    /// My linked identities
    #[oai(operation_id = "listMyIdentities", path = "/me/identities", method = "get")]
    async fn identities(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<IdentityView>>> {
        let mut conn = state.conn().await?;
        let list = sso::list(&mut conn, &auth.principal).await?;
        Ok(Json(list.into_iter().map(IdentityView::from).collect()))
    }

    /// Remove a linked identity
    ///
    /// It no longer signs in; other sessions opened with it end. The last way to sign
    /// in of an account without a password stays (`last_sign_in_method`).
    #[oai(operation_id = "removeMyIdentity", path = "/me/identities/:id", method = "delete")]
    async fn remove_identity(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        sso::remove(&mut conn, &state.ctx, &auth.principal, id.0).await?;
        Ok(NoContent::NoContent)
    }
}
