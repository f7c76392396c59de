//! `partnerdesk-web`: `serve` (default) runs the web service; `migrate` creates the
//! database if needed and brings it up to date; `seed <file>` loads demo data into an
//! empty database; `logins <file>` prints the demo logins.

use anyhow::Context;
use partnerdesk_core::{
    Ctx,
    app::{App, shutdown_signal},
    clock::Clock,
    config::Config,
    db, seed, telemetry,
};
use partnerdesk_web::{AppState, app};
use poem::{Server, listener::TcpListener};

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
        Some("seed-scale") => seed_scale(config, &args[1..]).await,
        Some("logins") => {
            let seed = read_seed(args.get(1))?;
            println!("Demo logins:");
            for l in seed::logins(&seed) {
                println!("  {:<28} {:<18} {}", l.email, l.password, l.description);
            }
            Ok(())
        }
        Some("clock") => {
            let by = args
                .get(1)
                .and_then(|d| partnerdesk_core::devclock::parse_duration(d.trim_start_matches('+')))
                .context("usage: partnerdesk-web clock <duration>, e.g. 7d, 36h, 1d12h")?;
            if !config.is_development() {
                anyhow::bail!("the clock only moves in development mode (PARTNERDESK_ENV=development)");
            }
            let pool = db::pool(&config.database_url, db::PoolSettings::small())?;
            let mut conn = pool.get().await?;
            let ctx = Ctx::new(config, Clock::movable());
            let total = partnerdesk_core::devclock::advance(&mut conn, &ctx, by).await?;
            println!(
                "The development clock is now {} ahead: it reads {}.",
                humanize(total),
                ctx.now().format("%Y-%m-%d %H:%M UTC")
            );
            println!("The web service and the worker pick this up within a few seconds.");
            Ok(())
        }
        Some(other) => {
            anyhow::bail!(
                "unknown command {other:?}; use serve, migrate, seed <file>, seed-scale [sizes], logins <file> or clock <duration>"
            )
        }
    }
}

/// `seed-scale [--partners N] [--customers N] [--users-per-customer N] [--if-empty]`:
/// the large, deterministic data set (see `core::scale_seed`), into an empty database;
/// with `--if-empty`, a database that already holds data is left as it is.
async fn seed_scale(config: partnerdesk_core::config::Config, args: &[String]) -> anyhow::Result<()> {
    let mut size = partnerdesk_core::scale_seed::ScaleSize::default();
    let mut if_empty = false;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--if-empty" {
            if_empty = true;
            continue;
        }
        let value: u64 = rest
            .next()
            .and_then(|v| v.replace('_', "").parse().ok())
            .with_context(|| format!("{flag} needs a whole number"))?;
        match flag.as_str() {
            "--partners" => size.partners = value,
            "--customers" => size.customers = value,
            "--users-per-customer" => size.users_per_customer = value,
            other => {
                anyhow::bail!("unknown option {other}; use --partners, --customers, --users-per-customer, --if-empty")
            }
        }
    }
    let database_url = config.database_url.clone();
    let secret = config.secret_key.clone();
    let ctx = Ctx::new(config, Clock::system());
    let password = partnerdesk_core::domain::Password::parse(partnerdesk_core::scale_seed::PASSWORD)
        .map_err(|e| anyhow::anyhow!("the seed password: {e:?}"))?;
    let hash = partnerdesk_core::accounts::hash_password(&ctx, &password).await?;
    println!("Making {size:?} …");
    let made = match partnerdesk_core::scale_seed::run(&database_url, size, &hash, &secret).await {
        Err(partnerdesk_core::Error::Conflict {
            code: "database_not_empty",
            ..
        }) if if_empty => {
            println!("The database already holds data; it is used as it is.");
            return Ok(());
        }
        made => made?,
    };
    println!(
        "Made {} organizations ({} partners), {} service-provider links, {} users, {} memberships, {} modules, {} trials, {} business and {} user licences ({} of them credits).",
        made.organizations,
        made.partners,
        made.links,
        made.users,
        made.memberships,
        made.modules,
        made.trials,
        made.business_licences,
        made.user_licences + made.credits,
        made.credits,
    );
    println!(
        "{} orders with {} lines, {} invoices ({} paid), {} credit notes, {} attributions, {} commissions ({} clawbacks), {} payouts.",
        made.orders,
        made.order_lines,
        made.invoices,
        made.paid_invoices,
        made.credit_notes,
        made.attributions,
        made.commissions,
        made.clawbacks,
        made.payouts,
    );
    println!(
        "{} jobs with {} runs, {} per-minute job counts, {} worker processes; in {:.1} s.",
        made.jobs, made.job_runs, made.job_stats, made.worker_processes, made.seconds
    );
    println!(
        "Log in as admin@vendor.scale.example or admin@p1.scale.example (a tenth of all customers), admin@p2.scale.example (a thousand), password {}.",
        partnerdesk_core::scale_seed::PASSWORD
    );
    Ok(())
}

fn humanize(d: chrono::Duration) -> String {
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    format!("{days}d {hours}h {minutes}m")
}

fn read_seed(path: Option<&String>) -> anyhow::Result<seed::Seed> {
    let path = path.context("usage: partnerdesk-web seed|logins <file.json>")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(seed::parse(&text)?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    db::migrate(&config.database_url).await?;
    let addr = config.http_addr;
    let state = AppState::new(&App::build(config)?);
    if state.ctx.config.is_development() {
        // Follow the development clock moved by `just clock` or another process.
        let (ctx, pool) = (state.ctx.clone(), state.pool.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut conn) = pool.get().await {
                    let _ = partnerdesk_core::devclock::sync(&mut conn, &ctx).await;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        });
    }
    tracing::info!(%addr, "web service listening");
    Server::new(TcpListener::bind(addr))
        .run_with_graceful_shutdown(app(state), shutdown_signal(), Some(std::time::Duration::from_secs(10)))
        .await?;
    Ok(())
}
