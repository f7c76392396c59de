//! The worker: one apalis worker per queue (LISTEN/NOTIFY with a polling fallback),
//! each job handed to the function its queue names in [`registry`]; a control loop that
//! pauses and resumes queues as ops ask, records the process's heartbeat and refreshes
//! the queue gauges; and a maintenance loop for the periodic work.

use std::{future::Future, sync::Arc, time::Duration};

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use partnerdesk_core::{
    ops::queue,
    platform::app::App,
    platform::config::Config,
    platform::jobs::{self, JobError},
};
use rand::RngExt;

pub mod metrics_server;
mod recorder;
pub mod registry;
mod wakeups;

use recorder::{Counts, Recorder};

fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into())
}

/// A name no other worker process shares: host, process id and a random suffix.
pub fn unique_name() -> String {
    let suffix: u32 = rand::rng().random_range(0..0xFFFF);
    format!("{}-{}-{suffix:04x}", host_name(), std::process::id())
}

/// How often a worker proves it is alive: four heartbeats per lease, so that one late
/// heartbeat never costs a live worker its jobs.
fn heartbeat_interval(config: &Config) -> Duration {
    (config.worker_lease / 4).max(Duration::from_millis(500))
}

/// Which worker and queue a handler runs in, and where it counts what finished.
#[derive(Clone)]
struct WorkerInfo {
    name: Arc<str>,
    queue: &'static str,
    counts: Arc<Counts>,
    recorder: Recorder,
    /// Set once every worker is registered: to wake this one after each job.
    monitor: Arc<std::sync::OnceLock<MonitorContext>>,
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
    let job_pool = partnerdesk_core::platform::db::job_pool(&config.database_url, connections)?;
    tracing::info!(worker = %name, queues = ?registry::QUEUES, "worker starting");

    let counts = Arc::new(Counts::default());
    let (recorder, recording) = Recorder::start(app.clone());
    let listener = Arc::new(wakeups::Listener::start(&job_pool, registry::QUEUES));
    let monitor_context = Arc::new(std::sync::OnceLock::new());
    let mut monitor = Monitor::new().shutdown_timeout(Duration::from_secs(30));
    for &queue in registry::QUEUES {
        let counts = counts.clone();
        let recorder = recorder.clone();
        let monitor_context = monitor_context.clone();
        let app = app.clone();
        let job_pool = job_pool.clone();
        let listener = listener.clone();
        let worker_name = format!("{name}:{queue}");
        let config = config.clone();
        monitor = monitor.register(move |_restarts| {
            let backend = PostgresStorage::<serde_json::Value>::new(&job_pool)
                .with_config(storage_config(queue, &config))
                .poll_with_stream(listener.wakeups(queue))
                .poll_with_interval(config.worker_poll_interval);
            WorkerBuilder::new(worker_name.as_str())
                .backend(backend)
                .data(app.clone())
                .data(WorkerInfo {
                    name: Arc::from(worker_name.as_str()),
                    queue,
                    counts: counts.clone(),
                    recorder: recorder.clone(),
                    monitor: monitor_context.clone(),
                })
                .concurrency(config.worker_concurrency)
                .build(handle)
        });
    }

    let _ = monitor_context.set(monitor.context());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(maintenance_loop(app.clone(), stop_rx.clone()));
    let control = tokio::spawn(control_loop(
        app.clone(),
        name.clone(),
        counts.clone(),
        monitor.context(),
        stop_rx,
    ));
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        tracing::info!("worker stopping: waiting for running jobs");
        Ok(())
    };
    monitor.run_with_signal(signal).await?;
    maintenance.await?;
    control.await?;
    finish(&app, &name, &counts, recorder, recording).await;
    tracing::info!(worker = %name, "worker stopped");
    Ok(())
}

/// After a clean stop: counts and run records of the last jobs written, then the process
/// leaves the list of workers.
async fn finish(app: &App, name: &str, counts: &Counts, recorder: Recorder, recording: tokio::task::JoinHandle<()>) {
    // What finished since the control loop's last flush, the jobs of the stop included.
    if let Ok(mut conn) = app.pool.get().await {
        counts.flush(&mut conn, name).await;
    }
    drop(recorder);
    if tokio::time::timeout(Duration::from_secs(10), recording).await.is_err() {
        tracing::warn!("the last job runs were not recorded in time");
    }
    match app.pool.get().await {
        Ok(mut conn) => {
            if let Err(err) = queue::deregister(&mut conn, name).await {
                tracing::warn!(%err, "the worker could not deregister; it shows as gone after the lease");
            }
        }
        Err(err) => tracing::warn!(%err, "the worker could not deregister; it shows as gone after the lease"),
    }
}

/// How a queue is fetched. A worker silent for the lease has its jobs put back by the
/// others, at their next heartbeat.
fn storage_config(queue: &'static str, config: &Config) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(queue)
        .batch_size(jobs::fetch_batch(queue, config.worker_fetch_batch))
        .heartbeat_interval(heartbeat_interval(config))
        .missed_heartbeats(4)
}

/// Job bookkeeping follows real time, like apalis's own columns (the database clock),
/// not the business clock that development and tests may move forward.
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Every job goes through here: record the run, dispatch, schedule a retry with backoff
/// or give up; count it all in the metrics.
async fn handle(
    payload: serde_json::Value,
    app: Data<App>,
    info: Data<WorkerInfo>,
    task_id: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let started_at = wall_clock();
    let started = std::time::Instant::now();
    let job_id = task_id.to_string();
    let attempt = attempt.current() as i32;
    let queue = info.queue;
    metrics::counter!("partnerdesk_jobs_started_total", "queue" => queue).increment(1);
    info.recorder
        .started(jobs::RunStart {
            job_id: job_id.clone(),
            queue,
            worker: info.name.to_string(),
            attempt,
            at: started_at,
        })
        .await;
    let outcome = registry::run(&app, queue, &job_id, payload).await;
    let (label, run_outcome, error, result) = match outcome {
        Ok(()) => ("succeeded", "done", None, Ok(())),
        Err(JobError::Permanent(message)) => {
            tracing::error!(%queue, job = %job_id, %message, "job failed permanently");
            let error = Box::new(AbortError::new(message.clone())) as BoxDynError;
            ("failed", "failed", Some(message), Err(error))
        }
        Err(JobError::Retry(message)) => {
            let delay = jobs::backoff(&app.ctx.config, attempt as u32);
            let mut conn = app.pool.get().await?;
            let retries_left = jobs::schedule_retry(&mut conn, &job_id, attempt, delay).await?;
            tracing::warn!(%queue, job = %job_id, attempt, ?delay, retries_left, %message, "job failed");
            let (label, outcome) = if retries_left {
                ("retried", "retry")
            } else {
                ("failed", "failed")
            };
            (label, outcome, Some(message.clone()), Err(message.into()))
        }
    };
    info.recorder
        .ended(jobs::RunEnd {
            job_id,
            worker: info.name.to_string(),
            attempt,
            at: wall_clock(),
            outcome: run_outcome,
            error,
        })
        .await;
    metrics::histogram!("partnerdesk_job_duration_seconds", "queue" => queue).record(started.elapsed().as_secs_f64());
    info.counts.add(queue, label != "succeeded");
    wake_soon(&info);
    match label {
        "succeeded" => metrics::counter!("partnerdesk_jobs_succeeded_total", "queue" => queue).increment(1),
        "retried" => metrics::counter!("partnerdesk_jobs_retried_total", "queue" => queue).increment(1),
        _ => metrics::counter!("partnerdesk_jobs_failed_total", "queue" => queue).increment(1),
    }
    result
}

/// Wakes the job's worker a moment after the job, once apalis has queued its
/// acknowledgement: apalis writes acknowledgements only when its worker loop wakes (for
/// the next job, a heartbeat or a poll), so without this a job finished at a quiet time
/// would show as pending until then, and the next job's pick-up would wait for that
/// write.
fn wake_soon(info: &WorkerInfo) {
    if let Some(monitor) = info.monitor.get() {
        let (monitor, name) = (monitor.clone(), info.name.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _ = monitor.wake_worker(&name);
        });
    }
}

/// Follows ops' pauses (checked every second), records the process's heartbeat, adds
/// the finished executions to the queue view's figures and refreshes the queue gauges.
async fn control_loop(
    app: App,
    name: String,
    counts: Arc<Counts>,
    monitor: MonitorContext,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let started_at = wall_clock();
    let host = host_name();
    let heartbeat_every = heartbeat_interval(&app.ctx.config);
    let mut last_heartbeat: Option<tokio::time::Instant> = None;
    let mut last_gauges: Option<tokio::time::Instant> = None;
    loop {
        match app.pool.get().await {
            Ok(mut conn) => {
                match queue::paused_queues(&mut conn).await {
                    Ok(paused) => follow_pauses(&monitor, &paused),
                    Err(err) => tracing::warn!(%err, "reading paused queues failed"),
                }
                if last_heartbeat.is_none_or(|t| t.elapsed() >= heartbeat_every) {
                    let beat = queue::heartbeat(
                        &mut conn,
                        &name,
                        &host,
                        std::process::id(),
                        registry::QUEUES,
                        started_at,
                    );
                    match beat.await {
                        Ok(()) => last_heartbeat = Some(tokio::time::Instant::now()),
                        Err(err) => tracing::warn!(%err, "recording the worker's heartbeat failed"),
                    }
                }
                if last_gauges.is_none_or(|t| t.elapsed() >= GAUGE_INTERVAL) {
                    counts.flush(&mut conn, &name).await;
                    match queue::summaries(&mut conn).await {
                        Ok(summaries) => partnerdesk_core::platform::telemetry::record_queues(&summaries),
                        Err(err) => tracing::warn!(%err, "reading the queue figures failed"),
                    }
                    last_gauges = Some(tokio::time::Instant::now());
                }
            }
            Err(err) => tracing::warn!(%err, "control: no database connection"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PAUSE_CHECK_INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// How soon a pause or resume reaches the workers.
const PAUSE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often the finished executions are recorded and the queue gauges recomputed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// Pauses the workers of paused queues and resumes the others.
fn follow_pauses(monitor: &MonitorContext, paused: &[String]) {
    for worker in monitor.workers() {
        let queue = worker.name().rsplit(':').next().unwrap_or_default();
        let should_pause = paused.iter().any(|p| p == queue);
        let outcome = if should_pause && !worker.is_paused() && worker.is_running() {
            tracing::info!(%queue, worker = %worker.name(), "queue paused: taking no more jobs");
            worker.pause()
        } else if !should_pause && worker.is_paused() {
            tracing::info!(%queue, worker = %worker.name(), "queue resumed");
            worker.resume()
        } else {
            Ok(())
        };
        if let Err(err) = outcome {
            tracing::warn!(%err, %queue, "changing a worker's pause failed");
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
                if let Err(err) = partnerdesk_core::platform::devclock::sync(&mut conn, &app.ctx).await {
                    tracing::warn!(%err, "reading the development clock failed");
                }
                match partnerdesk_core::commerce::trials::sweep(&mut conn, &app.ctx).await {
                    Ok(sweep) if sweep != partnerdesk_core::commerce::trials::Sweep::default() => {
                        tracing::info!(?sweep, "trials swept")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "sweeping trials failed"),
                }
                match partnerdesk_core::delegation::service_providers::warn_grants_ending(&mut conn, &app.ctx).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(emails = n, "warned that grants end"),
                    Err(err) => tracing::warn!(%err, "warning that grants end failed"),
                }
                match partnerdesk_core::earnings::commissions::approve_due(&mut conn, &app.ctx).await {
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
                match queue::release_abandoned_claims(&mut conn).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(
                        deliveries = n,
                        "e-mails whose sending worker was lost are marked unsent"
                    ),
                    Err(err) => tracing::warn!(%err, "releasing abandoned e-mail claims failed"),
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
