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

use crate::pages::notice::Notice;
use partnerdesk_core::{Error as CoreError, platform::db::PooledConn};
use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response, Route,
    http::{StatusCode, header},
    web::Html,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{auth, error::status_of, state::AppState};

mod billing;
mod commerce;
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

/// The person the browser is logged in as, if any (for pages anyone may open).
async fn caller(state: &AppState, req: &Request) -> Option<uuid::Uuid> {
    auth::principal_from(req, state).await.ok().flatten().map(|p| p.user_id)
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
    let ctx = json!({ "title": title, "error": detail, "lang": lang });
    let mut resp = page(&state, status, "message", ctx);
    if let Some(allow) = allow {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(resp)
}

/// Renders `templates/pages/<name>.html` with the request's CSRF token.
fn page(state: &AppState, status: StatusCode, name: &str, mut ctx: Value) -> Response {
    ctx["dev"] = json!(state.ctx.config.is_development());
    ctx["csrf_token"] = json!(csrf::current());
    if ctx["lang"].is_null() {
        ctx["lang"] = json!(BROWSER_LANGUAGE.try_with(|l| *l).unwrap_or("en"));
    }
    match state.pages.render(name, &ctx) {
        Ok(html) => Html(html).with_status(status).into_response(),
        Err(err) => {
            tracing::error!(%err, page = name, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response()
        }
    }
}

/// A page showing a service error: the status it maps to, the message, and each
/// failing field next to its input.
fn error_page(state: &AppState, name: &str, ctx: Value, err: &CoreError) -> Response {
    page(state, status_of(err), name, merge(ctx, error_context(err)))
}

/// A request refused before any handler ran (an expired or foreign form).
/// The configured single sign-on providers, for buttons.
pub(crate) fn sso_providers(state: &AppState) -> Vec<Value> {
    state
        .ctx
        .config
        .sso
        .iter()
        .map(|p| json!({ "name": p.name, "label": p.label }))
        .collect()
}

pub(crate) fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    page(
        state,
        status,
        "message",
        json!({ "title": "Refused", "error": message }),
    )
}

/// The page shown when the database cannot be reached.
fn unavailable(state: &AppState) -> Response {
    page(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "message",
        json!({ "title": "Unavailable", "error": "The service cannot reach its database. Try again later." }),
    )
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

/// Renders a service error on a page: field errors next to the form, anything else as a
/// message.
fn error_context(err: &CoreError) -> Value {
    match err {
        CoreError::Validation(fields) => {
            let map: serde_json::Map<String, Value> = fields
                .iter()
                .map(|f| (f.field.clone(), Value::String(f.message.clone())))
                .collect();
            json!({ "field_errors": map, "error": "Please correct the marked fields." })
        }
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error on a page");
            json!({ "error": "Something went wrong on our side. Please try again later." })
        }
        other => json!({ "error": other.to_string() }),
    }
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

/// A form's optional text: `None` when left empty.
fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An API view as the JSON a template reads: pages show what the API shows.
fn json_of<T: poem_openapi::types::ToJSON>(view: T) -> Value {
    view.to_json().unwrap_or(Value::Null)
}
