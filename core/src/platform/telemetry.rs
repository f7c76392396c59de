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

/// The process's Prometheus recorder (installed on first use): every `metrics` counter,
/// gauge and histogram of the process, rendered by `/metrics`.
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
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("buckets are not empty")
            .set_buckets_for_metric(Matcher::Suffix("_db_statements".into()), STATEMENTS)
            .expect("buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed in this process")
    })
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
