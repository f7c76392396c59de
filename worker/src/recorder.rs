//! What the handlers record, written in batches: the start and end of every execution
//! (`job_runs`), so that a job costs the database no statement of its own for its
//! history; and the finished executions per queue and minute (`job_stats`).
//!
//! A record waits at most for the statement before it; a worker killed with SIGKILL
//! loses only the records of that moment (the jobs themselves are rescued after the
//! lease), and a graceful stop writes everything first.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use partnerdesk_core::{
    ops::queue,
    platform::app::App,
    platform::jobs::{self, RunEnd, RunStart},
};
use tokio::sync::mpsc;

/// Most records one batch writes.
const BATCH: usize = 2_000;

enum Record {
    Start(RunStart),
    End(RunEnd),
}

/// Hands records to the writer task (cheap to clone; the task ends when every clone is
/// dropped, after writing what it holds).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    pub fn start(app: App) -> (Recorder, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(10 * BATCH);
        (Recorder { tx }, tokio::spawn(write(app, rx)))
    }

    pub async fn started(&self, run: RunStart) {
        let _ = self.tx.send(Record::Start(run)).await;
    }

    pub async fn ended(&self, run: RunEnd) {
        let _ = self.tx.send(Record::End(run)).await;
    }
}

async fn write(app: App, mut rx: mpsc::Receiver<Record>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for record in batch.drain(..) {
            match record {
                Record::Start(s) => starts.push(s),
                Record::End(e) => ends.push(e),
            }
        }
        // A few tries: a busy pool or a restarting database should not cost history.
        for attempt in 1..=5 {
            let written = match app.pool.get().await {
                Ok(mut conn) => jobs::record_runs(&mut conn, &starts, &ends).await,
                Err(err) => Err(err),
            };
            match written {
                Ok(()) => break,
                Err(err) if attempt == 5 => {
                    tracing::error!(%err, starts = starts.len(), ends = ends.len(), "job runs not recorded");
                }
                Err(err) => {
                    tracing::warn!(%err, "recording job runs failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
    }
}

/// Finished executions per queue and minute, counted in memory by the handlers and added
/// to `job_stats` by the control loop every few seconds (one statement, no row that
/// every job of every worker would update).
#[derive(Default)]
pub struct Counts(Mutex<HashMap<Minute, (i64, i64)>>);

/// A queue and a minute (Unix seconds / 60); its count is (done, failed).
type Minute = (&'static str, i64);

impl Counts {
    pub fn add(&self, queue: &'static str, failed: bool) {
        let minute = chrono::Utc::now().timestamp().div_euclid(60);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry((queue, minute)).or_default();
        if failed {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }

    fn take(&self) -> Vec<queue::MinuteCount> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.drain()
            .filter_map(|((queue, minute), (done, failed))| {
                Some(queue::MinuteCount {
                    queue,
                    minute: chrono::DateTime::from_timestamp(minute * 60, 0)?,
                    done,
                    failed,
                })
            })
            .collect()
    }

    fn put_back(&self, counts: Vec<queue::MinuteCount>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for c in counts {
            let entry = map.entry((c.queue, c.minute.timestamp().div_euclid(60))).or_default();
            entry.0 += c.done;
            entry.1 += c.failed;
        }
    }

    /// Adds the counts to `job_stats`; kept for the next flush when that fails.
    pub async fn flush(&self, conn: &mut diesel_async::AsyncPgConnection, worker: &str) {
        let counts = self.take();
        if let Err(err) = queue::record_counts(conn, worker, &counts).await {
            tracing::warn!(%err, "recording finished jobs failed");
            self.put_back(counts);
        }
    }
}
