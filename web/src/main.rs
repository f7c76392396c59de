//! `partnerdesk-web`: `serve` (default) runs the web service; `migrate` creates the
//! database if needed and brings it up to date; `seed <file>` loads demo data into an
//! empty database. The development-only commands (the scale data set, moving the
//! clock, printing the demo logins) are `partnerdesk-dev`'s, not this binary's.

use anyhow::Context;
use partnerdesk_core::{
    Ctx,
    platform::app::{App, shutdown_signal},
    platform::clock::Clock,
    platform::config::Config,
    platform::db,
    platform::telemetry,
    seed,
};
use partnerdesk_web::{app, state::AppState};
use poem::{
    Server,
    listener::{Listener, TcpListener},
};

/// See the workspace's Cargo.toml: glibc's allocator cost a third of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(config).await,
        Some("migrate") => {
            let created = db::ensure_database(&config.database_url).await?;
            db::migrate(&config.database_url).await?;
            println!(
                "database {} ({})",
                if created { "created and migrated" } else { "migrated" },
                db::redact(&config.database_url)
            );
            Ok(())
        }
        Some("seed") => {
            let seed = read_seed(args.get(1))?;
            let pool = db::pool(&config.database_url, db::PoolSettings::small())?;
            let mut conn = pool.get().await?;
            let ctx = Ctx::new(config, Clock::system());
            match seed::load(&mut conn, &ctx, &seed).await? {
                Some(_) => println!("Demo data loaded."),
                None => println!("The database already holds data; the demo data was not loaded again."),
            }
            Ok(())
        }
        Some(other) => {
            anyhow::bail!(
                "unknown command {other:?}; use serve, migrate or seed <file> (development commands are in partnerdesk-dev)"
            )
        }
    }
}

fn read_seed(path: Option<&String>) -> anyhow::Result<seed::Seed> {
    let path = path.context("usage: partnerdesk-web seed <file.json>")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(seed::parse(&text)?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    config.web_refusals()?;
    db::migrate(&config.database_url).await?;
    let addr = config.http_addr;
    let state = AppState::new(&App::build(config)?);
    if state.ctx.config.is_development() {
        // Follow the development clock moved by `just clock` or another process.
        let (ctx, pool) = (state.ctx.clone(), state.pool.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut conn) = pool.get().await {
                    let _ = partnerdesk_core::platform::devclock::sync(&mut conn, &ctx).await;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        });
    }
    if let Some(metrics_addr) = state.ctx.config.metrics_addr {
        // Bound now: a taken address stops the start instead of leaving no metrics.
        let acceptor = TcpListener::bind(metrics_addr)
            .into_acceptor()
            .await
            .with_context(|| format!("METRICS_ADDR {metrics_addr}"))?;
        let metrics = partnerdesk_web::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(err) = Server::new_with_acceptor(acceptor).run(metrics).await {
                tracing::error!(%err, "the metrics listener stopped");
            }
        });
        tracing::info!(%metrics_addr, "metrics listening");
    }
    tracing::info!(%addr, "web service listening");
    Server::new(TcpListener::bind(addr))
        .run_with_graceful_shutdown(app(state), shutdown_signal(), Some(std::time::Duration::from_secs(10)))
        .await?;
    Ok(())
}
