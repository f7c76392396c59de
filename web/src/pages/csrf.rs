//! Cross-site request forgery protection for the portal's forms, in one middleware.
//!
//! Each browser gets a random `pd_csrf` cookie; a form's token is an HMAC (with
//! `SECRET_KEY`) over that cookie and the session cookie, so it is bound to both and
//! changes at log-in and log-out. Pages read the token of the request they render
//! ([`current`]) into a hidden `csrf_token` field. A state-changing request to a page
//! must carry it and, when the browser names an Origin, come from this site; anything
//! else is refused with a page saying so. A state-changing API request authenticated by
//! the session cookie (not a bearer token) is held to the same Origin rule: a
//! cross-site page can send a form-encoded or empty POST with the cookie, so a foreign
//! Origin (or `Sec-Fetch-Site: cross-site`) is refused with 403 `cross_site_request`.

use std::sync::Arc;

use partnerdesk_core::platform::tokens;
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
    web::cookie::{Cookie, SameSite},
};
use subtle::ConstantTimeEq;

use crate::state::AppState;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";
const COOKIE: &str = "pd_csrf";

tokio::task_local! {
    static TOKEN: String;
}

/// The token of the request being answered, for the forms of the page it renders.
pub fn current() -> Option<String> {
    TOKEN.try_with(Clone::clone).ok()
}

fn token(secret: &[u8], browser: &str, session: Option<&str>) -> String {
    tokens::sign(secret, "csrf", &format!("{browser}\n{}", session.unwrap_or("")))
}

pub(crate) fn is_page(path: &str) -> bool {
    !(path == "/api" || path.starts_with("/api/") || path.starts_with("/assets/"))
}

/// The field's value in a URL-encoded form body.
fn field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Whether the browser says the request comes from another site: an Origin other than
/// `PUBLIC_URL`'s, or `Sec-Fetch-Site: cross-site`.
fn cross_site(req: &Request) -> bool {
    let state = req.data::<AppState>().expect("AppState is attached");
    let public = state.ctx.config.public_url.origin().ascii_serialization();
    req.header("origin").is_some_and(|origin| origin != public) || req.header("sec-fetch-site") == Some("cross-site")
}

/// Whether the session cookie is what authenticates the request (a bearer token wins
/// when both are sent, as in `auth`).
fn cookie_authenticated(req: &Request) -> bool {
    req.headers().get(header::AUTHORIZATION).is_none() && crate::auth::session_cookie(req).is_some()
}

/// Checks the token (and Origin) of state-changing page requests; lends the token to
/// the pages it renders; gives a new browser its cookie.
pub async fn protect<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !is_page(req.uri().path()) {
        if !safe && cookie_authenticated(&req) && cross_site(&req) {
            return Ok(crate::error::problem_response(crate::error::Problem::new(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                "A request with the session cookie must come from this site; API clients send a bearer token",
            )));
        }
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    let state = req.data::<AppState>().expect("AppState is attached").clone();
    let existing = req
        .cookie()
        .get(COOKIE)
        .map(|c| c.value_str().to_owned())
        .filter(|v| v.len() == 43);
    let browser = existing.clone().unwrap_or_else(tokens::random_token);
    let expected = token(
        state.ctx.secret(),
        &browser,
        crate::auth::session_cookie(&req).as_deref(),
    );
    if !safe {
        let cross_site = cross_site(&req);
        let body = req.take_body().into_vec().await?;
        // A file upload (multipart) carries its token in the form's address instead.
        let sent = field(&body, FIELD)
            .or_else(|| field(req.uri().query().unwrap_or_default().as_bytes(), FIELD))
            .unwrap_or_default();
        if cross_site || existing.is_none() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return Ok(super::refused(
                &state,
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        }
        req.set_body(body);
    }
    let mut resp = TOKEN.scope(expected, ep.call(req)).await?.into_response();
    if existing.is_none() {
        let mut cookie = Cookie::new_with_str(COOKIE, &browser);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(state.ctx.config.public_url.scheme() == "https");
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            resp.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(resp)
}
