//! Partnerdesk web service: turns HTTP into calls of `partnerdesk_core`.
//!
//! * `/api/...`: the JSON API (poem-openapi), documented at `/api/docs` and
//!   `/api/openapi.json`.
//! * `/healthz`, `/readyz`: liveness and readiness.
//! * Everything else: the portal pages people reach from e-mails and the browser.

use std::sync::Arc;

use partnerdesk_core::{
    Ctx,
    db::{self, Pool, PooledConn},
    mail::Templates,
};
use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler,
    http::StatusCode,
    middleware::{AddData, Tracing},
    web::Data,
};

pub mod api;
pub mod auth;
pub mod body;
pub mod error;
pub mod pages;

use error::ApiError;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub ctx: Ctx,
    pub pool: Pool,
    pub templates: Arc<Templates>,
}

impl AppState {
    pub async fn conn(&self) -> Result<PooledConn, ApiError> {
        self.pool
            .get()
            .await
            .map_err(|e| ApiError::from(partnerdesk_core::Error::from(e)))
    }
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    match db::ping(&state.pool).await {
        Ok(()) => "ready".into_response(),
        Err(err) => {
            tracing::warn!(%err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// The whole service.
pub fn app(state: AppState) -> impl Endpoint {
    let service = api::service(&state.ctx.config);
    let spec = service.spec_endpoint();
    let docs = service.swagger_ui();
    Route::new()
        .nest("/api", service)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .nest("/", pages::routes())
        .catch_all_error(error::to_problem)
        .with(AddData::new(state))
        .with(Tracing)
}
