//! What every request shares: the context, the pools and the page templates.

use std::sync::Arc;

use partnerdesk_core::{
    Ctx,
    platform::{
        app::App,
        db::{Pool, PooledConn, Reads},
    },
};
use poem::Request;

use crate::{error::ApiError, templates};

tokio::task_local! {
    /// Whether this request's lists read the primary: its browser has just written
    /// (`middleware::read_your_writes` sets it).
    pub(crate) static READS_PRIMARY: bool;
}

/// Whether the current request reads its lists from the primary.
fn reads_primary() -> bool {
    READS_PRIMARY.try_with(|p| *p).unwrap_or(false)
}

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
        if reads_primary() {
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
