//! `partnerdesk-worker`: runs the background jobs until SIGINT or SIGTERM.

use partnerdesk_core::{
    app::{self, App},
    config::Config,
    db, telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    db::migrate(&config.database_url).await?;
    partnerdesk_worker::run(App::build(config)?, app::shutdown_signal()).await
}
