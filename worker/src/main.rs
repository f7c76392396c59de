//! `partnerdesk-worker`: runs the background jobs until SIGINT or SIGTERM.

use std::sync::Arc;

use partnerdesk_core::{
    Ctx,
    clock::Clock,
    config::Config,
    db,
    jobs::JobContext,
    mail::{Mailer, Templates},
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    db::migrate(&config.database_url).await?;
    let pool = db::pool_for(&config)?;
    let templates = Arc::new(Templates::load(&config));
    let mailer = Arc::new(Mailer::from_config(&config, templates)?);
    let clock = if config.is_development() {
        Clock::movable()
    } else {
        Clock::system()
    };
    let jc = JobContext {
        ctx: Ctx::new(config, clock),
        pool,
        mailer,
    };
    partnerdesk_worker::run(jc, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
