//! Partnerdesk web service: turns HTTP into calls of `partnerdesk_core`.
//!
//! * `/api/...`: the JSON API (poem-openapi), documented at `/api/docs` and
//!   `/api/openapi.json`.
//! * `/healthz`, `/readyz`: liveness and readiness.
//! * Everything else: the portal pages people reach from e-mails and the browser.

use std::time::Duration;

use partnerdesk_core::platform::db;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, http::StatusCode, middleware::AddData,
    web::Data,
};

pub mod affiliate;
pub mod api;
pub mod assets;
pub mod auth;
pub mod body;
pub mod choices;
pub mod error;
pub mod i18n;
pub mod middleware;
pub mod pages;
pub mod state;
pub mod templates;

use state::AppState;

/// How long `/readyz` waits for the database before it answers 503.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    match db::ping(&state.pool, READINESS_TIMEOUT).await {
        Ok(()) => "ready".into_response(),
        Err(err) => {
            tracing::warn!(%err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Prometheus text: the HTTP, e-mail and pool figures of this process.
#[handler]
fn metrics(state: Data<&AppState>, req: &Request) -> Response {
    if let Some(token) = &state.ctx.config.metrics_token {
        let given = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes())) {
            return (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response();
        }
    }
    partnerdesk_core::platform::telemetry::record_pools(&state.pool, &state.reads);
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(partnerdesk_core::platform::telemetry::metrics().render())
}

/// The private metrics listener's routes (`METRICS_ADDR`): `/metrics` only.
pub fn metrics_app(state: AppState) -> impl Endpoint {
    Route::new().at("/metrics", get(metrics)).with(AddData::new(state))
}

/// The whole service.
pub fn app(state: AppState) -> impl Endpoint {
    // Counting starts now, not at the first scrape.
    partnerdesk_core::platform::telemetry::metrics();
    // What the layers below the API learn of it: its paths (for `Allow`) and its
    // schemas (for the values a refused enum takes).
    middleware::know_api_routes(<api::Api as poem_openapi::OpenApi>::meta());
    let mut registry = poem_openapi::registry::Registry::new();
    <api::Api as poem_openapi::OpenApi>::register(&mut registry);
    error::know_api_schemas(registry);
    let service = api::service(&state.ctx.config);
    let document = api::document(&state.ctx.config);
    let spec = poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    let docs = service.swagger_ui();
    // With a private metrics listener (`METRICS_ADDR`), the portal's address has none.
    let route = match state.ctx.config.metrics_addr {
        None => Route::new().at("/metrics", get(metrics)),
        Some(_) => Route::new(),
    };
    route
        .nest("/api", service)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/assets/:name", get(assets::serve))
        .nest("/", pages::routes())
        .catch_all_error(error::to_problem)
        .around(middleware::allow)
        .around(pages::around_pages)
        .boxed()
        .around(pages::csrf::protect)
        .around(middleware::security_headers)
        .around(middleware::limits)
        .around(middleware::dev_only)
        .around(middleware::read_your_writes)
        .with(AddData::new(state))
        .with(poem::middleware::CookieJarManager::new())
        .around(middleware::log_requests)
}
