//! Sign-up, login, logout, the current user, organization switching, API tokens and
//! set-password links.

use chrono::{DateTime, Utc};
use partnerdesk_core::accounts::{self, ApiToken, MembershipSummary, SignUpInput, User};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use super::{ApiTags, Created, NoContent};
use crate::{
    AppState,
    auth::{Auth, SESSION_COOKIE},
    body::Body,
    error::ApiResult,
};

pub struct AuthApi;

/// An account.
#[derive(Object, Debug)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// en, nl or de.
    pub language: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            language: u.language,
            active: u.active,
            created_at: u.created_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct SignUpRequest {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    /// en (default), nl or de.
    pub language: Option<String>,
}

impl Example for SignUpRequest {
    fn example() -> Self {
        SignUpRequest {
            email: "ann@example.com".into(),
            password: "correct horse battery".into(),
            first_name: "Ann".into(),
            last_name: "Jansen".into(),
            language: Some("nl".into()),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl Example for LoginRequest {
    fn example() -> Self {
        LoginRequest {
            email: "sales@vendor.example".into(),
            password: "demo-password".into(),
        }
    }
}

#[derive(Object, Debug)]
pub struct LoginResult {
    pub user: UserView,
    /// The organization the session acts as (absent when the account has none yet).
    pub acting_organization_id: Option<Uuid>,
    /// Idle expiry; each request moves it forward.
    pub session_expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum LoginResponse {
    /// Logged in; the session cookie is set (HttpOnly, SameSite=Lax).
    #[oai(status = 200)]
    Ok(Json<LoginResult>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Logged out; the cookie is cleared.
    #[oai(status = 204)]
    Ok(#[oai(header = "Set-Cookie")] String),
}

/// One of the caller's organizations.
#[derive(Object, Debug)]
pub struct MembershipView {
    pub organization_id: Uuid,
    pub organization_name: String,
    /// administrator or member.
    pub role: String,
    /// What the caller may do there (administrators: everything their organization allows).
    pub permissions: Vec<String>,
}

impl From<MembershipSummary> for MembershipView {
    fn from(m: MembershipSummary) -> Self {
        MembershipView {
            organization_id: m.organization_id,
            organization_name: m.organization_name,
            role: m.role.as_str().into(),
            permissions: m.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
        }
    }
}

#[derive(Object, Debug)]
pub struct MeView {
    pub user: UserView,
    /// The organization this request acts as.
    pub acting_organization_id: Option<Uuid>,
    pub organizations: Vec<MembershipView>,
}

#[derive(Object, Debug)]
pub struct SwitchOrganizationRequest {
    pub organization_id: Uuid,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct CreateTokenRequest {
    /// What the token is for.
    pub name: String,
    /// Lifetime in days (1-3650); without it the token lives until revoked.
    pub expires_in_days: Option<u32>,
}

impl Example for CreateTokenRequest {
    fn example() -> Self {
        CreateTokenRequest {
            name: "CRM integration".into(),
            expires_in_days: Some(90),
        }
    }
}

#[derive(Object, Debug)]
pub struct ApiTokenView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, to recognize it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        ApiTokenView {
            id: t.id,
            name: t.name,
            prefix: t.token_prefix,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct CreatedToken {
    /// The bearer token. Shown once; only its hash is stored.
    pub token: String,
    #[oai(flatten)]
    pub details: ApiTokenView,
}

#[derive(Object, Debug)]
pub struct PasswordLinkView {
    pub email: String,
    pub first_name: String,
}

#[derive(Object, Debug)]
pub struct SetPasswordRequest {
    /// At least 10 characters.
    pub password: String,
}

pub(crate) fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> String {
    let secure = if state.ctx.config.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account
    ///
    /// The account has no organization yet; create one with POST /organizations, or
    /// register a partner company through /partner-registrations.
    #[oai(path = "/auth/signup", method = "post")]
    async fn sign_up(&self, state: Data<&AppState>, body: Body<SignUpRequest>) -> ApiResult<Created<UserView>> {
        let mut conn = state.conn().await?;
        let b = body.0;
        let user = accounts::sign_up(
            &mut conn,
            &state.ctx,
            SignUpInput {
                email: b.email,
                password: b.password,
                first_name: b.first_name,
                last_name: b.last_name,
                language: b.language,
            },
        )
        .await?;
        Ok(Created::Created(Json(user.into())))
    }

    /// Log in
    ///
    /// Sets the portal session cookie. A wrong password, an unknown e-mail address and a
    /// disabled account all get `invalid_credentials`.
    #[oai(path = "/auth/login", method = "post")]
    async fn login(&self, state: Data<&AppState>, req: &Request, body: Body<LoginRequest>) -> ApiResult<LoginResponse> {
        let mut conn = state.conn().await?;
        let (session, raw) = accounts::login(
            &mut conn,
            &state.ctx,
            &body.0.email,
            &body.0.password,
            user_agent(req).as_deref(),
        )
        .await?;
        let user = accounts::get_user(&mut conn, session.user_id).await?;
        let max_age = state.ctx.config.session_ttl.as_secs() as i64;
        Ok(LoginResponse::Ok(
            Json(LoginResult {
                user: user.into(),
                acting_organization_id: session.acting_organization_id,
                session_expires_at: session.expires_at,
            }),
            session_cookie(&state, &raw, max_age),
        ))
    }

    /// Log out
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<LogoutResponse> {
        let mut conn = state.conn().await?;
        accounts::logout(&mut conn, &state.ctx, &auth.principal).await?;
        Ok(LogoutResponse::Ok(session_cookie(&state, "", 0)))
    }

    /// Who am I
    #[oai(path = "/me", method = "get")]
    async fn me(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<MeView>> {
        let mut conn = state.conn().await?;
        let user = accounts::get_user(&mut conn, auth.principal.user_id).await?;
        let organizations = accounts::memberships_of(&mut conn, user.id).await?;
        Ok(Json(MeView {
            user: user.into(),
            acting_organization_id: auth.actor.acting_org,
            organizations: organizations.into_iter().map(Into::into).collect(),
        }))
    }

    /// Switch the session's organization
    ///
    /// For portal sessions. API clients send the `X-Organization` header instead.
    #[oai(path = "/me/organization", method = "put")]
    async fn switch_organization(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<SwitchOrganizationRequest>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        accounts::switch_organization(&mut conn, &state.ctx, &auth.principal, body.0.organization_id).await?;
        Ok(NoContent::NoContent)
    }

    /// List my API tokens
    #[oai(path = "/me/tokens", method = "get")]
    async fn list_tokens(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<ApiTokenView>>> {
        let mut conn = state.conn().await?;
        let tokens = accounts::list_api_tokens(&mut conn, &auth.principal).await?;
        Ok(Json(tokens.into_iter().map(Into::into).collect()))
    }

    /// Create an API token
    ///
    /// The token acts with the same rights as you. It is shown once.
    #[oai(path = "/me/tokens", method = "post")]
    async fn create_token(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<CreateTokenRequest>,
    ) -> ApiResult<Created<CreatedToken>> {
        let mut conn = state.conn().await?;
        let (token, raw) = accounts::create_api_token(
            &mut conn,
            &state.ctx,
            &auth.principal,
            &body.0.name,
            body.0.expires_in_days,
        )
        .await?;
        Ok(Created::Created(Json(CreatedToken {
            token: raw,
            details: token.into(),
        })))
    }

    /// Revoke an API token
    #[oai(path = "/me/tokens/:id", method = "delete")]
    async fn revoke_token(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<ApiTokenView>> {
        let mut conn = state.conn().await?;
        let token = accounts::revoke_api_token(&mut conn, &state.ctx, &auth.principal, id.0).await?;
        Ok(Json(token.into()))
    }

    /// Check a set-password link
    #[oai(path = "/auth/password-links/:token", method = "get")]
    async fn inspect_password_link(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> ApiResult<Json<PasswordLinkView>> {
        let mut conn = state.conn().await?;
        let info = accounts::inspect_password_link(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(PasswordLinkView {
            email: info.email,
            first_name: info.first_name,
        }))
    }

    /// Set a password through a link
    ///
    /// The link from an invitation e-mail works once and expires.
    #[oai(path = "/auth/password-links/:token", method = "post")]
    async fn set_password(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
        body: Body<SetPasswordRequest>,
    ) -> ApiResult<Json<UserView>> {
        let mut conn = state.conn().await?;
        let user = accounts::set_password_with_link(&mut conn, &state.ctx, &token.0, &body.0.password).await?;
        Ok(Json(user.into()))
    }
}
