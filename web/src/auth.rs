//! Who is calling: a bearer token (API clients) or the portal session cookie. The
//! X-Organization header chooses which of the caller's organizations they act as.

use partnerdesk_core::identity::api_tokens;
use partnerdesk_core::identity::sessions;
use partnerdesk_core::{Error as CoreError, identity::accounts::Principal, platform::authz::Actor};
use poem::{
    Request, RequestBody,
    http::header,
    web::cookie::{Cookie, SameSite},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme,
    auth::{ApiKey, Bearer},
    registry::Registry,
};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

pub const SESSION_COOKIE: &str = "pd_session";
pub const ORGANIZATION_HEADER: &str = "X-Organization";
/// Runs an API request inside one of the caller's delegated sessions (a management
/// session or "login as", started under /api/customers/{id}/…).
pub const DELEGATED_SESSION_HEADER: &str = "X-Delegated-Session";

/// An API token created under /api/me/tokens, sent as `Authorization: Bearer pd_...`.
#[derive(SecurityScheme)]
#[oai(rename = "bearerToken", ty = "bearer", bearer_format = "opaque")]
#[allow(dead_code)]
struct BearerToken(Bearer);

/// The portal session cookie set by POST /api/auth/login.
#[derive(SecurityScheme)]
#[oai(rename = "sessionCookie", ty = "api_key", key_name = "pd_session", key_in = "cookie")]
#[allow(dead_code)]
struct SessionCookie(ApiKey);

/// The authenticated caller of an endpoint.
pub struct Auth {
    pub principal: Principal,
    pub actor: Actor,
}

/// The raw session cookie the browser sent, if any.
pub(crate) fn session_cookie(req: &Request) -> Option<String> {
    req.cookie().get(SESSION_COOKIE).map(|c| c.value_str().to_owned())
}

/// The `Set-Cookie` value that starts a session (or, with an empty token and no age,
/// ends it): HttpOnly, SameSite=Lax, Secure when the portal is served over https.
pub(crate) fn set_session_cookie(state: &AppState, token: &str, max_age: std::time::Duration) -> String {
    set_cookie(state, SESSION_COOKIE, token, max_age)
}

/// The single sign-on attempt this browser started, if any.
pub(crate) fn sso_cookie(req: &Request) -> Option<String> {
    req.cookie()
        .get(partnerdesk_core::identity::sso::COOKIE)
        .map(|c| c.value_str().to_owned())
}

/// The `Set-Cookie` value of a single sign-on attempt (empty value and no age: gone).
pub(crate) fn set_sso_cookie(state: &AppState, value: &str, max_age: std::time::Duration) -> String {
    set_cookie(state, partnerdesk_core::identity::sso::COOKIE, value, max_age)
}

/// The cookie a browser carries for `DATABASE_REPLICA_AFTER_WRITE_SECONDS` after it
/// changed something.
pub const WROTE_COOKIE: &str = "pd_wrote";

/// The `Set-Cookie` value that has this browser read its lists from the primary for
/// `max_age` (`middleware::read_your_writes`).
pub(crate) fn set_wrote_cookie(state: &AppState, max_age: std::time::Duration) -> String {
    set_cookie(state, WROTE_COOKIE, "1", max_age)
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: std::time::Duration) -> String {
    let mut cookie = Cookie::new_with_str(name, value);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(max_age);
    cookie.set_secure(state.ctx.config.public_url.scheme() == "https");
    cookie.to_string()
}

pub(crate) async fn principal_from(req: &Request, state: &AppState) -> Result<Option<Principal>, ApiError> {
    let mut conn = state.conn().await?;
    principal_on(&mut conn, req, state).await
}

/// The caller, read with the request's one connection, inside the delegated session the
/// request names (`X-Delegated-Session`), if any.
pub(crate) async fn principal_on(
    conn: &mut diesel_async::AsyncPgConnection,
    req: &Request,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    let Some(mut principal) = credential_on(conn, req, state).await? else {
        return Ok(None);
    };
    if let Some(id) = delegated_session(req)? {
        principal
            .enter_delegation(conn, &state.ctx, id)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(Some(principal))
}

/// Whose bearer token or session cookie the request carries.
async fn credential_on(
    conn: &mut diesel_async::AsyncPgConnection,
    req: &Request,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::from(CoreError::unauthenticated(
                    "invalid_token",
                    "Use `Authorization: Bearer <token>`",
                ))
            })?;
        return Ok(Some(api_tokens::resolve_bearer(conn, &state.ctx, token).await?));
    }
    match session_cookie(req) {
        Some(raw) => Ok(Some(
            sessions::resolve_session(conn, &state.ctx, &raw, requested_org(req)?).await?,
        )),
        None => Ok(None),
    }
}

/// A header holding an id, if sent; anything else is a 400 with `code`.
fn id_header(req: &Request, name: &str, code: &'static str, message: &'static str) -> Result<Option<Uuid>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| Uuid::parse_str(s.trim()).ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(code, message)),
    }
}

pub(crate) fn requested_org(req: &Request) -> Result<Option<Uuid>, ApiError> {
    id_header(
        req,
        ORGANIZATION_HEADER,
        "invalid_organization_header",
        "X-Organization must be an organization id (UUID)",
    )
}

fn delegated_session(req: &Request) -> Result<Option<Uuid>, ApiError> {
    id_header(
        req,
        DELEGATED_SESSION_HEADER,
        "invalid_delegated_session_header",
        "X-Delegated-Session must be a delegated session id (UUID)",
    )
}

impl Auth {
    /// The caller's own account (see `Principal::personal`).
    pub fn personal(&self) -> Result<Uuid, ApiError> {
        self.principal.personal().map_err(ApiError::from)
    }
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        BearerToken::register(registry);
        SessionCookie::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec!["bearerToken", "sessionCookie"]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let state = req.data::<AppState>().expect("AppState is attached to every route");
        let mut conn = state.conn().await?;
        let principal = principal_on(&mut conn, req, state).await?.ok_or_else(|| {
            ApiError::from(CoreError::unauthenticated(
                "authentication_required",
                "Log in or send an API token",
            ))
        })?;
        let org = requested_org(req)?;
        let actor = principal
            .actor(&mut conn, &state.ctx, org)
            .await
            .map_err(ApiError::from)?;
        Ok(Auth { principal, actor })
    }
}
