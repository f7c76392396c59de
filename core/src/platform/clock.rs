//! Time is injected: every service asks the [`Clock`] in its context. Production uses
//! the system clock; development and tests may move it forward, never backward.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    movable: bool,
}

impl Clock {
    /// The system clock; it cannot be moved.
    pub fn system() -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            movable: false,
        }
    }

    /// A clock that runs with the system clock but can be moved forward (development
    /// and tests).
    pub fn movable() -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            movable: true,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn is_movable(&self) -> bool {
        self.movable
    }

    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by`. Refused on the system clock.
    pub fn advance(&self, by: Duration) -> crate::Result<()> {
        if !self.movable {
            return Err(crate::Error::forbidden());
        }
        if by < Duration::zero() {
            return Err(crate::Error::field(
                "seconds",
                "invalid_duration",
                "The clock only moves forward",
            ));
        }
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
        Ok(())
    }

    /// Sets the offset from the shared development clock row, if this clock is movable.
    pub fn sync_offset(&self, offset: Duration) {
        if self.movable {
            self.offset_ms.fetch_max(offset.num_milliseconds(), Ordering::Relaxed);
        }
    }
}
