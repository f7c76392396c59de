//! Test support for the web and worker test suites (a dev-dependency): an isolated database per test, cloned from a
//! template migrated once per migration set, and an SMTP sink that records what it
//! receives; and a reader of the Prometheus text the `/metrics` endpoints serve.
//! For load benchmarks: a recording proxy for PostgreSQL's wire protocol (`pgwire`), and
//! pgbench scripts made from what it recorded (`pgbench`).

mod db;
pub mod pgbench;
mod pgtypes;
pub mod pgwire;
mod smtp;

/// The sum of the samples of `name` with these labels (among others) in Prometheus text;
/// 0 when there are none. Panics when the text does not parse.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

pub use db::{TestDb, failures, finish_on_own_thread};
pub use pgbench::{PgbenchReport, Script, run_pgbench};
pub use pgwire::{Executed, Param, Recorder, TypeNames, WireError};
pub use smtp::{ReceivedMail, SmtpSink};
