//! `partnerdesk-worker`: runs the background jobs until SIGINT or SIGTERM, and serves
//! `/metrics` and `/healthz` on `WORKER_METRICS_ADDR`.

use partnerdesk_core::{
    platform::app::{self, App},
    platform::config::Config,
    platform::db,
    platform::telemetry,
};

/// See the workspace's Cargo.toml: glibc's allocator cost a third of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    db::migrate(&config.database_url).await?;
    let addr = config.worker_metrics_addr;
    let app = App::build(config)?;
    let (_, listener) = partnerdesk_worker::metrics_server::start(app.clone(), addr).await?;
    let outcome = partnerdesk_worker::run(app, app::shutdown_signal()).await;
    listener.abort();
    outcome
}
