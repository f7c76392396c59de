//! When a worker fetches: on a NOTIFY of a new job in its own queue, coalesced.
//!
//! One listener per process takes every notification of apalis-postgres's insert
//! trigger and wakes only the queue it names. (Each queue listening for itself would
//! wake every queue's worker on every job, and a woken apalis worker always fetches:
//! measured, four fetches per job, the one that mattered slowed by the others.)
//!
//! apalis's poll loop drops a wake-up that arrives while a fetch is on its way (started
//! before the job committed), and that fetch comes back empty; so each wake-up is
//! followed by another a moment later, and a job that committed during a fetch is
//! fetched by the next one. (apalis-postgres's own listener could sleep through
//! notifications until the polling interval: measured, stalls of the whole interval at
//! 50 jobs/s.)

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, task::AtomicWaker};
use sqlx::postgres::{PgListener, PgPool};

/// apalis-postgres's insert trigger notifies this channel with the job's type and id.
const CHANNEL: &str = "apalis::job::insert";

/// How long after a wake-up the worker looks again.
const AGAIN_AFTER: Duration = Duration::from_millis(2);

/// How long to wait before listening again after the connection was lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A queue's pending wake-ups: for a notification, and for the look again after one.
#[derive(Default)]
struct Signal {
    notified: AtomicBool,
    again: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn raise(&self) {
        self.notified.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn raise_again(&self) {
        self.again.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether a wake-up is pending, and whether it was a notification.
    fn take(&self) -> Option<bool> {
        let notified = self.notified.swap(false, Ordering::AcqRel);
        let again = self.again.swap(false, Ordering::AcqRel);
        (notified || again).then_some(notified)
    }
}

/// The process's one listener; dropping it stops listening.
pub struct Listener {
    signals: HashMap<&'static str, Arc<Signal>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    pub fn start(pool: &PgPool, queues: &[&'static str]) -> Listener {
        let signals: HashMap<&'static str, Arc<Signal>> =
            queues.iter().map(|q| (*q, Arc::new(Signal::default()))).collect();
        let task = tokio::spawn(listen(pool.clone(), signals.clone()));
        Listener { signals, task }
    }

    /// The wake-ups of one queue (one stream per queue).
    pub fn wakeups(&self, queue: &str) -> Wakeups {
        Wakeups {
            signal: self.signals.get(queue).cloned().unwrap_or_default(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens until the process stops, reconnecting after a lost connection (and then
/// waking every queue, for what it may have missed meanwhile).
async fn listen(pool: PgPool, signals: HashMap<&'static str, Arc<Signal>>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(%err, "cannot listen for new jobs");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(%err, "cannot listen for new jobs");
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        }
        signals.values().for_each(|s| s.raise());
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    tracing::trace!(payload = notification.payload(), "job notification");
                    if let Some(signal) = queue_of(notification.payload()).and_then(|q| signals.get(q.as_str())) {
                        signal.raise();
                    }
                }
                // The connection was lost and is re-established by the next call.
                Ok(None) => signals.values().for_each(|s| s.raise()),
                Err(err) => {
                    tracing::warn!(%err, "job notifications interrupted");
                    tokio::time::sleep(RECONNECT_AFTER).await;
                    break;
                }
            }
        }
    }
}

/// The queue a notification is about: the trigger's payload is
/// `{"job_type" : "<queue>", "id" : "<id>", ...}`.
fn queue_of(payload: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    value.get("job_type")?.as_str().map(str::to_owned)
}

/// A queue's wake-ups, as the stream apalis polls before fetching.
pub struct Wakeups {
    signal: Arc<Signal>,
}

impl Stream for Wakeups {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        // Registered on every poll, also one that returns a wake-up: apalis may park
        // after this poll, and only the registered waker brings it back.
        self.signal.waker.register(cx.waker());
        match self.signal.take() {
            Some(notified) => {
                // A notification is followed by a look again; a look again by nothing.
                if notified {
                    let signal = self.signal.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(AGAIN_AFTER).await;
                        signal.raise_again();
                    });
                }
                Poll::Ready(Some(()))
            }
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::queue_of;

    #[test]
    fn a_notification_names_its_queue() {
        assert_eq!(
            queue_of(r#"{"job_type" : "send_email", "id" : "01J", "run_at" : "2026-11-22"}"#).as_deref(),
            Some("send_email")
        );
        assert_eq!(queue_of("not json"), None);
    }
}
