//! `partnerdesk-dev`: the development-only commands, kept out of the production web
//! binary. `seed-scale [sizes]` makes the large deterministic data set (`just
//! seed-scale`); `clock <duration>` moves the development clock forward (`just clock`);
//! `logins <file>` prints the demo logins of a seed file (`just run` shows them).

use anyhow::Context;
use partnerdesk_core::identity::passwords;
use partnerdesk_core::{
    Ctx,
    platform::{clock::Clock, config::Config, telemetry},
    seed,
};

/// See the workspace's Cargo.toml: the seed's COPY streams allocate a great deal.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("logins") => {
            let seed = read_seed(args.get(1))?;
            println!("Demo logins:");
            for l in seed::logins(&seed) {
                println!("  {:<28} {:<18} {}", l.email, l.password, l.description);
            }
            Ok(())
        }
        Some("seed-scale") => {
            let config = Config::from_env()?;
            telemetry::init(config.log_format);
            seed_scale(config, &args[1..]).await
        }
        Some("clock") => {
            let by = args
                .get(1)
                .and_then(|d| partnerdesk_core::platform::devclock::parse_duration(d.trim_start_matches('+')))
                .context("usage: partnerdesk-dev clock <duration>, e.g. 7d, 36h, 1d12h")?;
            let config = Config::from_env()?;
            if !config.is_development() {
                anyhow::bail!("the clock only moves in development mode (PARTNERDESK_ENV=development)");
            }
            let pool = partnerdesk_core::platform::db::pool(
                &config.database_url,
                partnerdesk_core::platform::db::PoolSettings::small(),
            )?;
            let mut conn = pool.get().await?;
            let ctx = Ctx::new(config, Clock::movable());
            let total = partnerdesk_core::platform::devclock::advance(&mut conn, &ctx, by).await?;
            println!(
                "The development clock is now {} ahead: it reads {}.",
                humanize(total),
                ctx.now().format("%Y-%m-%d %H:%M UTC")
            );
            println!("The web service and the worker pick this up within a few seconds.");
            Ok(())
        }
        other => anyhow::bail!(
            "unknown command {other:?}; use seed-scale [--partners N] [--customers N] [--users-per-customer N] [--if-empty], clock <duration> or logins <file>"
        ),
    }
}

/// `seed-scale [--partners N] [--customers N] [--users-per-customer N] [--if-empty]`:
/// the large, deterministic data set (see `partnerdesk_seeds`), into an empty database;
/// with `--if-empty`, a database that already holds data is left as it is.
async fn seed_scale(config: partnerdesk_core::platform::config::Config, args: &[String]) -> anyhow::Result<()> {
    let mut size = partnerdesk_seeds::ScaleSize::default();
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
    let password = partnerdesk_core::platform::domain::Password::parse(partnerdesk_seeds::PASSWORD)
        .map_err(|e| anyhow::anyhow!("the seed password: {e:?}"))?;
    let hash = passwords::hash_password(&ctx, &password).await?;
    println!("Making {size:?} …");
    let made = match partnerdesk_seeds::run(&database_url, size, &hash, &secret).await {
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
        partnerdesk_seeds::PASSWORD
    );
    Ok(())
}

fn humanize(d: chrono::Duration) -> String {
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    format!("{days}d {hours}h {minutes}m")
}

fn read_seed(path: Option<&String>) -> anyhow::Result<seed::Seed> {
    let path = path.context("usage: partnerdesk-dev logins <file.json>")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(seed::parse(&text)?)
}
