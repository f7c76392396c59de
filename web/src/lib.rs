//! Partnerdesk web service: turns HTTP into calls of `partnerdesk_core`.
//!
//! * `/api/...`: the JSON API (poem-openapi), documented at `/api/docs` and
//!   `/api/openapi.json`.
//! * `/healthz`, `/readyz`: liveness and readiness.
//! * Everything else: the portal pages people reach from e-mails and the browser.

use std::{sync::Arc, time::Duration};

use partnerdesk_core::{
    Ctx,
    app::App,
    db::{self, Pool, PooledConn, Reads},
};
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, http::StatusCode, middleware::AddData,
    web::Data,
};

pub mod affiliate;
pub mod api;
pub mod assets;
pub mod auth;
pub mod body;
pub mod csrf;
pub mod error;
pub mod i18n;
pub mod middleware;
pub mod pages;
pub mod templates;

use error::ApiError;

/// How long `/readyz` waits for the database before it answers 503.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub ctx: Ctx,
    pub pool: Pool,
    /// For list pages and exports: the replica when configured (`DATABASE_REPLICA_URL`).
    pub reads: Reads,
    pub pages: Arc<templates::PageTemplates>,
}

impl AppState {
    pub fn new(app: &App) -> Self {
        AppState {
            ctx: app.ctx.clone(),
            pool: app.pool.clone(),
            reads: app.reads.clone(),
            pages: Arc::new(templates::PageTemplates::load(&app.ctx.config)),
        }
    }

    /// A database connection, or 503 when none becomes free within the pool's wait.
    /// A request holds at most one at a time.
    pub async fn conn(&self) -> Result<PooledConn, ApiError> {
        self.pool.get().await.map_err(ApiError::from)
    }

    /// A connection for a list or an export, which may lag the primary by the
    /// replication delay: the replica's when one is configured and answers (its
    /// transactions read-only), the primary's otherwise, and for a browser that has
    /// just changed something (`middleware::read_your_writes`).
    pub async fn read_conn(&self) -> Result<PooledConn, ApiError> {
        self.reads_now().get().await.map_err(ApiError::from)
    }

    /// Where this request's list and export reads go (see `read_conn`), to take along
    /// into a response body that is read after the handler returned.
    pub fn reads_now(&self) -> Reads {
        if middleware::reads_primary() {
            self.reads.primary_only()
        } else {
            self.reads.clone()
        }
    }

    /// The client's address: the socket's peer, or with `TRUST_PROXY_HEADERS` the last
    /// address a reverse proxy added to X-Forwarded-For.
    pub fn client_address(&self, req: &Request) -> Option<String> {
        if self.ctx.config.limits.trust_proxy_headers
            && let Some(forwarded) = req.header("x-forwarded-for")
            && let Some(last) = forwarded.rsplit(',').next().map(str::trim).filter(|a| !a.is_empty())
        {
            return Some(last.chars().take(64).collect());
        }
        req.remote_addr().as_socket_addr().map(|a| a.ip().to_string())
    }
}

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
    partnerdesk_core::telemetry::record_pools(&state.pool, &state.reads);
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(partnerdesk_core::telemetry::metrics().render())
}

/// The whole service.
pub fn app(state: AppState) -> impl Endpoint {
    let service = api::service(&state.ctx.config);
    let document = api::document(&state.ctx.config);
    let spec = poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    let docs = service.swagger_ui();
    Route::new()
        .nest("/api", service)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics))
        .at("/assets/:name", get(assets::serve))
        .nest("/", pages::routes())
        .catch_all_error(error::to_problem)
        .around(middleware::allow)
        .around(pages::around_pages)
        .boxed()
        .around(csrf::protect)
        .around(middleware::security_headers)
        .around(middleware::limits)
        .around(middleware::dev_only)
        .around(middleware::read_your_writes)
        .with(AddData::new(state))
        .with(poem::middleware::CookieJarManager::new())
        .around(middleware::log_requests)
}
