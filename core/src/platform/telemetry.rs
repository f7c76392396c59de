//! Logging: one `init()`, filtered by RUST_LOG, text or JSON.

use tracing_subscriber::{EnvFilter, fmt};

use crate::platform::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,apalis=warn"));
    // Colours only for a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt().with_env_filter(filter).with_target(true).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process's Prometheus recorder: every `metrics` counter, gauge and histogram of
/// the process, rendered by `/metrics`. Each binary calls it as it starts, so nothing
/// counted before the first scrape is lost; every metric is described (`# HELP`,
/// `# TYPE`) from then on.
pub fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        // Seconds, from half a millisecond (a no-op job) to ten minutes (a billing run).
        const BUCKETS: &[f64] = &[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 600.0,
        ];
        // Statements a request sends: an N+1 shows as a tail here.
        const STATEMENTS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0];
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("buckets are not empty")
            .set_buckets_for_metric(Matcher::Suffix("_db_statements".into()), STATEMENTS)
            .expect("buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed in this process");
        describe();
        handle
    })
}

/// What every metric of the service means (Prometheus's `# HELP`), and the build this
/// process runs (`partnerdesk_build_info`, always 1), so that the first scrape after a
/// start already names the process.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    metrics::gauge!("partnerdesk_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_gauge!("partnerdesk_build_info", "The version this process runs (always 1)");
    describe_counter!(
        "partnerdesk_http_requests_total",
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        "partnerdesk_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route pattern"
    );
    describe_histogram!(
        "partnerdesk_http_request_db_statements",
        Unit::Count,
        "Database statements one HTTP request sent, by method and route pattern"
    );
    describe_counter!(
        "partnerdesk_db_replica_fallbacks_total",
        "Reads meant for the replica that went to the primary because the replica was unavailable"
    );
    describe_gauge!("partnerdesk_db_pool_size", "Most connections the pool opens, by pool");
    describe_gauge!(
        "partnerdesk_db_pool_connections",
        "Connections the pool holds now, by pool"
    );
    describe_gauge!("partnerdesk_db_pool_in_use", "Connections in use now, by pool");
    describe_gauge!(
        "partnerdesk_db_pool_waiting",
        "Tasks waiting for a connection now, by pool"
    );
    describe_counter!("partnerdesk_emails_sent_total", "E-mails the SMTP server accepted");
    describe_counter!("partnerdesk_emails_failed_total", "E-mail sending attempts that failed");
    describe_counter!("partnerdesk_jobs_started_total", "Job executions started, by queue");
    describe_counter!(
        "partnerdesk_jobs_succeeded_total",
        "Job executions that succeeded, by queue"
    );
    describe_counter!(
        "partnerdesk_jobs_retried_total",
        "Job executions that failed and will be retried, by queue"
    );
    describe_counter!(
        "partnerdesk_jobs_failed_total",
        "Job executions that failed for good (given up), by queue"
    );
    describe_histogram!(
        "partnerdesk_job_duration_seconds",
        Unit::Seconds,
        "Time a job execution took, by queue"
    );
    describe_gauge!("partnerdesk_queue_depth", "Jobs due and waiting, by queue");
    describe_gauge!("partnerdesk_queue_jobs", "Jobs by queue and state");
    describe_gauge!(
        "partnerdesk_queue_oldest_pending_seconds",
        Unit::Seconds,
        "Age of the oldest job waiting, by queue"
    );
    describe_gauge!("partnerdesk_queue_paused", "1 when ops paused the queue, by queue");
}

/// The database pools' gauges (label `pool`: primary, replica), read when metrics are
/// rendered.
pub fn record_pools(primary: &crate::platform::db::Pool, reads: &crate::platform::db::Reads) {
    record_pool(primary, "primary");
    if let Some(replica) = reads.replica() {
        record_pool(replica, "replica");
    }
}

fn record_pool(pool: &crate::platform::db::Pool, name: &'static str) {
    let status = pool.status();
    metrics::gauge!("partnerdesk_db_pool_size", "pool" => name).set(status.max_size as f64);
    metrics::gauge!("partnerdesk_db_pool_connections", "pool" => name).set(status.size as f64);
    metrics::gauge!("partnerdesk_db_pool_in_use", "pool" => name)
        .set(status.size.saturating_sub(status.available) as f64);
    metrics::gauge!("partnerdesk_db_pool_waiting", "pool" => name).set(status.waiting as f64);
}

/// The queue view's figures as gauges, per queue (the worker refreshes them).
pub fn record_queues(summaries: &[crate::ops::queue::QueueSummary]) {
    for s in summaries {
        let queue = s.queue;
        metrics::gauge!("partnerdesk_queue_depth", "queue" => queue).set(s.pending as f64);
        for (state, n) in [
            ("pending", s.pending),
            ("scheduled", s.scheduled),
            ("running", s.running),
            ("retrying", s.retrying),
            ("given_up", s.given_up),
            ("discarded", s.discarded),
        ] {
            metrics::gauge!("partnerdesk_queue_jobs", "queue" => queue, "state" => state).set(n as f64);
        }
        metrics::gauge!("partnerdesk_queue_oldest_pending_seconds", "queue" => queue)
            .set(s.oldest_pending_seconds.unwrap_or(0.0));
        metrics::gauge!("partnerdesk_queue_paused", "queue" => queue).set(if s.paused.is_some() { 1.0 } else { 0.0 });
    }
}
