//! Portal pages: server-rendered minijinja templates (`templates/pages/<area>/`) on one
//! base layout. Handlers call the same `core` services as the API; they hold no SQL and
//! no business rules.
//!
//! The frame every page shares lives here: [`portal`] (who is calling, the navigation
//! their permissions allow, the organization switcher, the start page), [`tabs`] (an
//! organization's tabs), [`desk`] (the vendor's desks), [`csrf`] and the helpers below.
//! Each area of the house has its pages in the folder of its name, as in `core` and
//! `api`: [`identity`] (log-in, sign-up, passwords, profile, API tokens), [`tenancy`]
//! (organizations, members, customers, invitations, registrations, partners, users,
//! integrations, the audit log), [`delegation`] (service providers, delegated sessions,
//! their activity), [`commerce`] (licences, quotes, trials, orders, the catalogue),
//! [`earnings`] (commissions, payouts), [`billing`] and [`ops`].

use crate::pages::context::{Message, Shown, with};
use crate::pages::notice::Notice;
use partnerdesk_core::{Error as CoreError, platform::db::PooledConn};
use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response, Route,
    http::{StatusCode, header},
    web::Html,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{auth, error::status_of, state::AppState};

mod billing;
mod commerce;
pub(crate) mod context;
pub mod csrf;
mod delegation;
mod desk;
mod dev;
mod earnings;
mod form;
mod identity;
mod notice;
mod ops;
pub(crate) mod portal;
mod tabs;
mod tenancy;

pub fn routes() -> Route {
    let route = portal::routes(Route::new());
    let route = identity::routes(route);
    let route = tenancy::routes(route);
    let route = delegation::routes(route);
    let route = commerce::routes(route);
    let route = earnings::routes(route);
    let route = billing::routes(route);
    let route = ops::routes(route);
    dev::routes(route)
}

/// An address that may carry a notice to show (`?notice=saved`).
#[derive(Deserialize, Default)]
struct NoticeQuery {
    #[serde(default, deserialize_with = "crate::pages::notice::lenient")]
    notice: Option<Notice>,
}

/// The person the browser is logged in as, if any (for pages anyone may open); nobody
/// while logged in as someone else (`Principal::personal`).
async fn caller(state: &AppState, req: &Request) -> Option<uuid::Uuid> {
    auth::principal_from(req, state)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.personal().ok())
}

/// A CSV file to download as `name`.
fn csv_response(csv: Vec<u8>, name: &str) -> Response {
    Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .body(csv)
}

tokio::task_local! {
    /// The language the browser asks for (Accept-Language), for pages shown to someone
    /// not logged in.
    static BROWSER_LANGUAGE: &'static str;
}

/// Around every page: the browser's language for the pages it renders, and a page, never
/// problem+json, for an unknown address, a wrong method or a form that does not parse.
pub async fn around_pages<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let page_request = csrf::is_page(req.uri().path());
    let state = req.data::<AppState>().cloned();
    // Enough of the request to find the person again for an error page.
    let asked = page_request.then(|| (req.uri().path().to_owned(), auth::session_cookie(&req)));
    let lang = crate::i18n::from_accept_language(req.header(header::ACCEPT_LANGUAGE));
    let resp = BROWSER_LANGUAGE
        .scope(lang, async move { ep.call(req).await.map(IntoResponse::into_response) })
        .await?;
    let problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let (true, true, Some(state)) = (page_request, problem, state) else {
        return Ok(resp);
    };
    let status = resp.status();
    let allow = resp.headers().get(header::ALLOW).cloned();
    let body = resp.into_body().into_bytes().await.unwrap_or_default();
    let detail = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_owned));
    let title = status.canonical_reason().unwrap_or("Error");
    // An address the page cannot read (a parameter twice, or of the wrong kind) says so
    // in the person's words, not the parser's.
    let detail = match status {
        StatusCode::BAD_REQUEST => Some("This address is not valid. Go back and try again.".to_owned()),
        _ => detail,
    };
    let ctx = Message {
        title,
        error: detail,
        ..Default::default()
    };
    // Someone logged in sees it in the portal's layout and their language.
    let portal = match asked {
        Some((path, Some(raw))) => signed_in(&state, &raw, &path).await,
        _ => None,
    };
    let mut resp = match portal {
        Some(portal) => portal.render_status(&state, status, "message", ctx),
        None => page(&state, status, "message", with(ctx, Lang { lang })),
    };
    if let Some(allow) = allow {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(resp)
}

/// The person logged in with the request's session, for a page shown instead of the one
/// asked for.
async fn signed_in(state: &AppState, raw: &str, path: &str) -> Option<portal::Portal> {
    let mut conn = state.conn().await.ok()?;
    portal::Portal::load(&mut conn, state, raw, path).await.ok().flatten()
}

/// The language a page is shown in (the person's; the browser's when nobody is logged in).
#[derive(Serialize)]
struct Lang {
    lang: &'static str,
}

/// What every page's template may read beside its own context.
#[derive(Serialize)]
struct Layout<C> {
    dev: bool,
    csrf_token: Option<String>,
    /// The browser's language; a page that knows the person's says so in its context.
    lang: &'static str,
    #[serde(flatten)]
    page: C,
}

/// Renders `templates/pages/<name>.html` with its context and the request's CSRF token.
fn page(state: &AppState, status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
    let layout = Layout {
        dev: state.ctx.config.is_development(),
        csrf_token: csrf::current(),
        lang: BROWSER_LANGUAGE.try_with(|l| *l).unwrap_or("en"),
        page: ctx,
    };
    let rendered = serde_json::to_value(layout)
        .map_err(|e| CoreError::internal(format!("a page's context: {e}")))
        .and_then(|ctx| state.pages.render(name, &ctx));
    match rendered {
        Ok(html) => Html(html).with_status(status).into_response(),
        Err(err) => {
            tracing::error!(%err, page = name, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response()
        }
    }
}

/// A page showing a service error: the status it maps to, the message, and each
/// failing field next to its input.
fn error_page(state: &AppState, name: &str, ctx: impl Serialize, err: &CoreError) -> Response {
    page(state, status_of(err), name, with(ctx, Shown::of(err)))
}

/// A single sign-on provider, for its button.
#[derive(Serialize)]
pub(crate) struct SsoButton<'a> {
    name: &'a str,
    label: &'a str,
}

/// The configured single sign-on providers, for buttons.
pub(crate) fn sso_providers(state: &AppState) -> Vec<SsoButton<'_>> {
    state
        .ctx
        .config
        .sso
        .iter()
        .map(|p| SsoButton {
            name: &p.name,
            label: &p.label,
        })
        .collect()
}

/// A request refused before any handler ran (an expired or foreign form).
pub(crate) fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    let ctx = Message {
        error: Some(message.to_owned()),
        ..Message::titled("Refused")
    };
    page(state, status, "message", ctx)
}

/// The page shown when the database cannot be reached.
fn unavailable(state: &AppState) -> Response {
    let ctx = Message {
        error: Some("The service cannot reach its database. Try again later.".into()),
        ..Message::titled("Unavailable")
    };
    page(state, StatusCode::SERVICE_UNAVAILABLE, "message", ctx)
}

/// The request's database connection, or the unavailable page.
async fn db(state: &AppState) -> poem::Result<PooledConn> {
    state
        .conn()
        .await
        .map_err(|_| poem::Error::from_response(unavailable(state)))
}

/// A connection for a list page or an export: the replica's when one is configured.
async fn reads(state: &AppState) -> poem::Result<PooledConn> {
    state
        .read_conn()
        .await
        .map_err(|_| poem::Error::from_response(unavailable(state)))
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// A form's optional text: `None` when left empty.
fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
