//! The worker: one apalis worker per queue (LISTEN/NOTIFY with a polling fallback),
//! each job handed to the function its queue names in [`registry`], plus a maintenance
//! loop that prunes finished jobs.

use std::{future::Future, sync::Arc, time::Duration};

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use partnerdesk_core::{
    app::App,
    config::Config,
    jobs::{self, JobError},
};
use rand::RngExt;

pub mod registry;

/// A name no other worker process shares: host, process id and a random suffix.
pub fn unique_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into());
    let suffix: u32 = rand::rng().random_range(0..0xFFFF);
    format!("{host}-{}-{suffix:04x}", std::process::id())
}

/// Which worker and queue a handler runs in.
#[derive(Clone)]
struct WorkerInfo {
    name: Arc<str>,
    queue: &'static str,
}

/// Runs every queue until `shutdown` resolves, then lets running jobs finish.
pub async fn run(app: App, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    run_named(app, unique_name(), shutdown).await
}

pub async fn run_named(
    app: App,
    name: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config: Arc<Config> = app.ctx.config.clone();
    let connections = (registry::QUEUES.len() * (config.worker_concurrency + 2)) as u32;
    let job_pool = partnerdesk_core::db::job_pool(&config.database_url, connections)?;
    tracing::info!(worker = %name, queues = ?registry::QUEUES, "worker starting");

    let mut monitor = Monitor::new().shutdown_timeout(Duration::from_secs(30));
    for &queue in registry::QUEUES {
        let app = app.clone();
        let job_pool = job_pool.clone();
        let worker_name = format!("{name}:{queue}");
        let config = config.clone();
        monitor = monitor.register(move |_restarts| {
            let storage_config = apalis_postgres::Config::default()
                .queue(queue)
                .batch_size(config.worker_concurrency.max(1))
                .heartbeat_interval(Duration::from_secs(10))
                .missed_heartbeats(6);
            let backend = PostgresStorage::<serde_json::Value>::new(&job_pool)
                .with_config(storage_config)
                .with_pubsub()
                .poll_with_interval(config.worker_poll_interval);
            WorkerBuilder::new(worker_name.as_str())
                .backend(backend)
                .data(app.clone())
                .data(WorkerInfo {
                    name: Arc::from(worker_name.as_str()),
                    queue,
                })
                .concurrency(config.worker_concurrency)
                .build(handle)
        });
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(maintenance_loop(app.clone(), stop_rx));
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        tracing::info!("worker stopping: waiting for running jobs");
        Ok(())
    };
    monitor.run_with_signal(signal).await?;
    maintenance.await?;
    tracing::info!(worker = %name, "worker stopped");
    Ok(())
}

/// Job bookkeeping follows real time, like apalis's own columns (the database clock),
/// not the business clock that development and tests may move forward.
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Every job goes through here: record the run, dispatch, schedule a retry with backoff
/// or give up.
async fn handle(
    payload: serde_json::Value,
    app: Data<App>,
    info: Data<WorkerInfo>,
    task_id: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let job_id = task_id.to_string();
    let attempt = attempt.current() as i32;
    let queue = info.queue;
    let run_id = {
        let mut conn = app.pool.get().await?;
        jobs::run_started(&mut conn, &job_id, queue, &info.name, attempt, wall_clock()).await?
    };
    let outcome = registry::run(&app, queue, payload).await;
    let mut conn = app.pool.get().await?;
    let now = wall_clock();
    match outcome {
        Ok(()) => {
            jobs::run_finished(&mut conn, run_id, "done", None, now).await?;
            Ok(())
        }
        Err(JobError::Permanent(message)) => {
            tracing::error!(%queue, job = %job_id, %message, "job failed permanently");
            jobs::run_finished(&mut conn, run_id, "failed", Some(&message), now).await?;
            Err(Box::new(AbortError::new(message)))
        }
        Err(JobError::Retry(message)) => {
            let delay = jobs::backoff(&app.ctx.config, attempt as u32);
            let retries_left = jobs::schedule_retry(&mut conn, &job_id, attempt, delay).await?;
            let outcome = if retries_left { "retry" } else { "failed" };
            tracing::warn!(%queue, job = %job_id, attempt, ?delay, retries_left, %message, "job failed");
            jobs::run_finished(&mut conn, run_id, outcome, Some(&message), now).await?;
            Err(message.into())
        }
    }
}

/// Periodic housekeeping: follow the development clock, send trial reminders and end
/// trials whose time is up, approve commissions whose holding period ended, queue the
/// monthly billing run, delete expired billing files, prune finished jobs past their
/// retention. Every step is safe
/// to run in several workers at once.
async fn maintenance_loop(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = app.ctx.config.maintenance_interval;
    loop {
        match app.pool.get().await {
            Ok(mut conn) => {
                if let Err(err) = partnerdesk_core::devclock::sync(&mut conn, &app.ctx).await {
                    tracing::warn!(%err, "reading the development clock failed");
                }
                match partnerdesk_core::trials::sweep(&mut conn, &app.ctx).await {
                    Ok(sweep) if sweep != partnerdesk_core::trials::Sweep::default() => {
                        tracing::info!(?sweep, "trials swept")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "sweeping trials failed"),
                }
                match partnerdesk_core::commissions::approve_due(&mut conn, &app.ctx).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(approved = n, "commissions approved"),
                    Err(err) => tracing::warn!(%err, "approving commissions failed"),
                }
                match partnerdesk_core::billing::schedule_monthly(&mut conn, &app.ctx).await {
                    Ok(Some(run)) => tracing::info!(%run, "monthly billing run queued"),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(%err, "queueing the monthly billing run failed"),
                }
                match partnerdesk_core::billing::prune_expired(&mut conn, app.ctx.now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(files = n, "expired billing files deleted"),
                    Err(err) => tracing::warn!(%err, "deleting expired billing files failed"),
                }
                match jobs::prune(&mut conn, wall_clock(), &app.ctx.config).await {
                    Ok(pruned) if pruned != jobs::Pruned::default() => tracing::info!(?pruned, "pruned finished jobs"),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "pruning jobs failed"),
                }
            }
            Err(err) => tracing::warn!(%err, "maintenance: no database connection"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
