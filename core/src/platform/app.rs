//! One way to build the application, used by the web binary, the worker binary and the
//! test harness: configuration → pools → e-mail templates → mailer → clock → context.

use std::sync::Arc;

use crate::{
    Ctx, Result,
    platform::clock::Clock,
    platform::config::Config,
    platform::db::{self, Pool, Reads},
    platform::mail::{Mailer, Templates},
};

/// What the web service and the worker share.
#[derive(Clone)]
pub struct App {
    pub ctx: Ctx,
    pub pool: Pool,
    /// List pages and exports: the replica, or the primary without one.
    pub reads: Reads,
    pub mailer: Arc<Mailer>,
}

impl App {
    /// The application with the clock its environment calls for: movable in
    /// development (`just clock`), the system clock in production.
    pub fn build(config: Config) -> Result<App> {
        let clock = if config.is_development() {
            Clock::movable()
        } else {
            Clock::system()
        };
        Self::build_with_clock(config, clock)
    }

    /// The application with a given clock (tests move theirs).
    pub fn build_with_clock(config: Config, clock: Clock) -> Result<App> {
        let pool = db::pool_for(&config)?;
        let reads = Reads::for_config(&config, &pool)?;
        let templates = Arc::new(Templates::load(&config));
        let mailer = Arc::new(Mailer::from_config(&config, templates)?);
        Ok(App {
            ctx: Ctx::new(config, clock),
            pool,
            reads,
            mailer,
        })
    }
}

/// Resolves on Ctrl-C or SIGTERM: when a binary should stop gracefully.
pub async fn shutdown_signal() {
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
