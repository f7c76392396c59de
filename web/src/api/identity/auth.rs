//! Sign-up with a confirmed address, log-in, log-out, the current person (names,
//! password, invitations, organizations), API tokens, set-password and reset links.

use chrono::{DateTime, Utc};
use partnerdesk_core::identity::password_links;
use partnerdesk_core::platform::authz::{Permission, Role};
use partnerdesk_core::{
    identity::signups::{self, SignUpInput},
    identity::{
        accounts::{self, MembershipSummary, User},
        api_tokens::{self, ApiToken},
        profile::{self, ProfileInput},
        sessions::{self, LoginInput},
    },
    tenancy::memberships::{self, PendingMembership},
};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{AcceptedResponse, ApiTags, NoContent};
use crate::{
    auth::{self as session_auth, Auth},
    body::Body,
    error::ApiResult,
    state::AppState,
};

#[derive(Default)]
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
    #[oai(nullable)]
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

impl From<SignUpRequest> for SignUpInput {
    fn from(b: SignUpRequest) -> Self {
        SignUpInput {
            email: b.email,
            password: b.password,
            first_name: b.first_name,
            last_name: b.last_name,
            language: b.language,
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
    /// The organization the session acts as (null when the account has none yet).
    #[oai(nullable)]
    pub acting_organization_id: Option<Uuid>,
    /// Idle expiry; each request moves it forward.
    pub session_expires_at: DateTime<Utc>,
}

#[derive(Object, Debug)]
pub struct SignupView {
    pub email: String,
    pub first_name: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct PasswordResetRequest {
    pub email: String,
}

impl Example for PasswordResetRequest {
    fn example() -> Self {
        PasswordResetRequest {
            email: "ann@example.com".into(),
        }
    }
}

#[derive(Object, Debug, Default)]
#[oai(example)]
pub struct UpdateMeRequest {
    #[oai(nullable)]
    pub first_name: Option<String>,
    #[oai(nullable)]
    pub last_name: Option<String>,
    /// en, nl or de.
    #[oai(nullable)]
    pub language: Option<String>,
}

impl Example for UpdateMeRequest {
    fn example() -> Self {
        UpdateMeRequest {
            language: Some("nl".into()),
            ..Default::default()
        }
    }
}

impl From<UpdateMeRequest> for ProfileInput {
    fn from(b: UpdateMeRequest) -> Self {
        ProfileInput {
            first_name: b.first_name,
            last_name: b.last_name,
            language: b.language,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 10 characters.
    pub new_password: String,
}

impl Example for ChangePasswordRequest {
    fn example() -> Self {
        ChangePasswordRequest {
            current_password: "correct horse battery".into(),
            new_password: "a new and longer passphrase".into(),
        }
    }
}

#[derive(Object, Debug)]
pub struct PasswordChanged {
    /// Your other sessions that ended.
    pub sessions_ended: u64,
}

#[derive(Object, Debug)]
pub struct MembershipInvitationView {
    pub organization_id: Uuid,
    pub organization_name: String,
    /// The address the organization invited.
    pub email: String,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug)]
pub struct JoinedView {
    pub organization_id: Uuid,
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
    pub role: Role,
    /// What the caller may do there (administrators: everything their organization allows).
    pub permissions: Vec<Permission>,
}

impl From<MembershipSummary> for MembershipView {
    fn from(m: MembershipSummary) -> Self {
        MembershipView {
            organization_id: m.organization_id,
            organization_name: m.organization_name,
            role: m.role,
            permissions: m.permissions,
        }
    }
}

/// An organization that asked you to join it.
#[derive(Object, Debug)]
pub struct PendingInvitationView {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub invited_at: DateTime<Utc>,
}

impl From<PendingMembership> for PendingInvitationView {
    fn from(p: PendingMembership) -> Self {
        PendingInvitationView {
            organization_id: p.organization_id,
            organization_name: p.organization_name,
            invited_at: p.invited_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct MeView {
    pub user: UserView,
    /// The organization this request acts as.
    #[oai(nullable)]
    pub acting_organization_id: Option<Uuid>,
    /// The organizations you belong to.
    pub organizations: Vec<MembershipView>,
    /// Organizations waiting for you to accept or decline their invitation.
    pub pending_invitations: Vec<PendingInvitationView>,
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
    #[oai(nullable)]
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
    /// The organization the token acts for (the one you acted as when you created it).
    #[oai(nullable)]
    pub organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        ApiTokenView {
            id: t.id,
            name: t.name,
            prefix: t.token_prefix,
            organization_id: t.organization_id,
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

pub(crate) fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A log-in attempt from this request: client address and the session it replaces.
pub(crate) fn login_input(state: &AppState, req: &Request, email: String, password: String) -> LoginInput {
    LoginInput {
        email,
        password,
        user_agent: user_agent(req),
        client_address: state.client_address(req),
        previous_session: session_auth::session_cookie(req),
    }
}

const CHECK_YOUR_EMAIL: &str = "We sent an e-mail to this address. Follow its link to go on.";

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Sign up
    ///
    /// E-mails a link that confirms the address; the account exists (and can log in)
    /// only once the link is used. The answer is the same whether or not the address
    /// already has an account (that address gets a note instead of a link). At most
    /// `EMAILS_PER_ADDRESS_PER_HOUR` such e-mails go to one address per hour (429).
    #[oai(operation_id = "signUp", path = "/auth/signup", method = "post")]
    async fn sign_up(&self, state: Data<&AppState>, body: Body<SignUpRequest>) -> ApiResult<AcceptedResponse> {
        signups::start(&state.pool, &state.ctx, body.0.into()).await?;
        Ok(AcceptedResponse::accepted(CHECK_YOUR_EMAIL))
    }

    /// Check a sign-up confirmation link
    #[oai(operation_id = "getSignup", path = "/auth/signups/:token", method = "get")]
    async fn inspect_signup(&self, state: Data<&AppState>, token: Path<String>) -> ApiResult<Json<SignupView>> {
        let mut conn = state.conn().await?;
        let p = signups::inspect(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(SignupView {
            email: p.email,
            first_name: p.first_name,
            expires_at: p.expires_at,
        }))
    }

    /// Confirm a sign-up
    ///
    /// Creates the account with the password chosen at sign-up. The link works once.
    #[oai(
        operation_id = "confirmSignup",
        path = "/auth/signups/:token/confirm",
        method = "post"
    )]
    async fn confirm_signup(&self, state: Data<&AppState>, token: Path<String>) -> ApiResult<Json<UserView>> {
        let mut conn = state.conn().await?;
        Ok(Json(signups::confirm(&mut conn, &state.ctx, &token.0).await?.into()))
    }

    /// Log in
    ///
    /// Sets the portal session cookie (a new session every time). A wrong password, an
    /// unknown address and an unconfirmed or disabled account all get
    /// `invalid_credentials`; repeated failures per account and per client address are
    /// answered 429 with Retry-After for a growing time.
    #[oai(operation_id = "logIn", path = "/auth/login", method = "post")]
    async fn login(&self, state: Data<&AppState>, req: &Request, body: Body<LoginRequest>) -> ApiResult<LoginResponse> {
        let b = body.0;
        let input = login_input(&state, req, b.email, b.password);
        let (session, raw) = sessions::login(&state.pool, &state.ctx, input).await?;
        let mut conn = state.conn().await?;
        let user = accounts::get_user(&mut conn, session.user_id).await?;
        Ok(LoginResponse::Ok(
            Json(LoginResult {
                user: user.into(),
                acting_organization_id: session.acting_organization_id,
                session_expires_at: session.expires_at,
            }),
            session_auth::set_session_cookie(&state, &raw, state.ctx.config.session_ttl),
        ))
    }

    /// Log out
    #[oai(operation_id = "logOut", path = "/auth/logout", method = "post")]
    async fn logout(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<LogoutResponse> {
        let mut conn = state.conn().await?;
        sessions::logout(&mut conn, &state.ctx, &auth.principal).await?;
        Ok(LogoutResponse::Ok(session_auth::set_session_cookie(
            &state,
            "",
            std::time::Duration::ZERO,
        )))
    }

    /// Forgot password
    ///
    /// E-mails a single-use link to set a new password. The answer is the same whether
    /// or not the address has an account.
    #[oai(
        operation_id = "requestPasswordReset",
        path = "/auth/password-reset",
        method = "post"
    )]
    async fn request_password_reset(
        &self,
        state: Data<&AppState>,
        body: Body<PasswordResetRequest>,
    ) -> ApiResult<AcceptedResponse> {
        let mut conn = state.conn().await?;
        password_links::request_password_reset(&mut conn, &state.ctx, &body.0.email).await?;
        Ok(AcceptedResponse::accepted(CHECK_YOUR_EMAIL))
    }

    /// Who am I
    #[oai(operation_id = "getMe", path = "/me", method = "get")]
    async fn me(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<MeView>> {
        let mut conn = state.conn().await?;
        let user = accounts::get_user(&mut conn, auth.personal()?).await?;
        let organizations = accounts::memberships_of(&mut conn, user.id).await?;
        let pending = memberships::pending_for(&mut conn, user.id).await?;
        Ok(Json(MeView {
            user: user.into(),
            acting_organization_id: auth.actor.acting_org,
            organizations: organizations.into_iter().map(Into::into).collect(),
            pending_invitations: pending.into_iter().map(Into::into).collect(),
        }))
    }

    /// Change my names or language
    #[oai(operation_id = "updateMe", path = "/me", method = "patch")]
    async fn update_me(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<UpdateMeRequest>,
    ) -> ApiResult<Json<UserView>> {
        let mut conn = state.conn().await?;
        let user = profile::update_me(&mut conn, &state.ctx, auth.personal()?, body.0.into()).await?;
        Ok(Json(user.into()))
    }

    /// Change my password
    ///
    /// Needs the current password. Every other session of yours ends.
    #[oai(operation_id = "changePassword", path = "/me/password", method = "put")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<ChangePasswordRequest>,
    ) -> ApiResult<Json<PasswordChanged>> {
        let ended = profile::change_password(
            &state.pool,
            &state.ctx,
            &auth.principal,
            &body.0.current_password,
            &body.0.new_password,
        )
        .await?;
        Ok(Json(PasswordChanged {
            sessions_ended: ended as u64,
        }))
    }

    /// Accept an invitation to join an organization
    #[oai(
        operation_id = "acceptMyInvitation",
        path = "/me/invitations/:organization_id/accept",
        method = "post"
    )]
    async fn accept_invitation(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        organization_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        memberships::accept(&mut conn, &state.ctx, auth.personal()?.into(), organization_id.0.into()).await?;
        Ok(NoContent::NoContent)
    }

    /// Decline an invitation to join an organization
    #[oai(
        operation_id = "declineMyInvitation",
        path = "/me/invitations/:organization_id/decline",
        method = "post"
    )]
    async fn decline_invitation(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        organization_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        memberships::decline(&mut conn, &state.ctx, auth.personal()?.into(), organization_id.0.into()).await?;
        Ok(NoContent::NoContent)
    }

    /// Leave an organization
    ///
    /// Not as its last administrator (409 `last_administrator`).
    #[oai(
        operation_id = "leaveOrganization",
        path = "/me/memberships/:organization_id",
        method = "delete"
    )]
    async fn leave(&self, state: Data<&AppState>, auth: Auth, organization_id: Path<Uuid>) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        memberships::leave(&mut conn, &state.ctx, auth.personal()?.into(), organization_id.0.into()).await?;
        Ok(NoContent::NoContent)
    }

    /// Check an invitation link
    #[oai(
        operation_id = "getMembershipInvitation",
        path = "/membership-invitations/:token",
        method = "get"
    )]
    async fn inspect_membership_invitation(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> ApiResult<Json<MembershipInvitationView>> {
        let mut conn = state.conn().await?;
        let p = memberships::inspect_link(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(MembershipInvitationView {
            organization_id: p.organization_id,
            organization_name: p.organization_name,
            email: p.email,
            expires_at: p.expires_at,
        }))
    }

    /// Accept an invitation through its link
    ///
    /// Log in as the invited account first; the link is for that account only.
    #[oai(
        operation_id = "acceptMembershipInvitation",
        path = "/membership-invitations/:token/accept",
        method = "post"
    )]
    async fn accept_membership_invitation(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        token: Path<String>,
    ) -> ApiResult<Json<JoinedView>> {
        let mut conn = state.conn().await?;
        let organization_id = memberships::accept_link(&mut conn, &state.ctx, auth.personal()?, &token.0).await?;
        Ok(Json(JoinedView { organization_id }))
    }

    /// Switch the session's organization
    ///
    /// For portal sessions. API clients send the `X-Organization` header instead.
    #[oai(operation_id = "switchOrganization", path = "/me/organization", method = "put")]
    async fn switch_organization(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<SwitchOrganizationRequest>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        sessions::switch_organization(&mut conn, &state.ctx, &auth.principal, body.0.organization_id).await?;
        Ok(NoContent::NoContent)
    }

    /// List my API tokens
    #[oai(operation_id = "listTokens", path = "/me/tokens", method = "get")]
    async fn list_tokens(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<ApiTokenView>>> {
        let mut conn = state.conn().await?;
        let tokens = api_tokens::list_api_tokens(&mut conn, &auth.principal).await?;
        Ok(Json(tokens.into_iter().map(Into::into).collect()))
    }

    /// Create an API token
    ///
    /// The token acts with the same rights as you, for the organization you act as now.
    /// It is shown once.
    #[oai(operation_id = "createToken", path = "/me/tokens", method = "post")]
    async fn create_token(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<CreateTokenRequest>,
    ) -> ApiResult<crate::api::Created<CreatedToken>> {
        let mut conn = state.conn().await?;
        let (token, raw) =
            api_tokens::create_api_token(&mut conn, &state.ctx, &auth.actor, &body.0.name, body.0.expires_in_days)
                .await?;
        Ok(crate::api::Created::Created(Json(CreatedToken {
            token: raw,
            details: token.into(),
        })))
    }

    /// Revoke an API token
    #[oai(operation_id = "revokeToken", path = "/me/tokens/:id", method = "delete")]
    async fn revoke_token(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<ApiTokenView>> {
        let mut conn = state.conn().await?;
        let token = api_tokens::revoke_api_token(&mut conn, &state.ctx, &auth.principal, id.0).await?;
        Ok(Json(token.into()))
    }

    /// Check a set-password link
    #[oai(
        operation_id = "getPasswordLink",
        path = "/auth/password-links/:token",
        method = "get"
    )]
    async fn inspect_password_link(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> ApiResult<Json<PasswordLinkView>> {
        let mut conn = state.conn().await?;
        let info = password_links::inspect_password_link(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(PasswordLinkView {
            email: info.email,
            first_name: info.first_name,
        }))
    }

    /// Set a password through a link
    ///
    /// The link from an invitation or a password reset works once and expires. An
    /// invitation link also accepts the invitation; every session of the account ends.
    #[oai(operation_id = "setPassword", path = "/auth/password-links/:token", method = "post")]
    async fn set_password(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
        body: Body<SetPasswordRequest>,
    ) -> ApiResult<Json<UserView>> {
        let user = password_links::set_password_with_link(&state.pool, &state.ctx, &token.0, &body.0.password).await?;
        Ok(Json(user.into()))
    }
}
