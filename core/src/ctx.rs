//! What every service needs besides a connection: configuration, the clock, and the
//! bound on password hashing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::{clock::Clock, config::Config};

#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Password hashes computed at once in this process (each takes about 19 MiB).
    pub hashing: Arc<Semaphore>,
}

impl Ctx {
    pub fn new(config: Config, clock: Clock) -> Self {
        let hashing = Arc::new(Semaphore::new(config.limits.password_hash_concurrency));
        Self {
            config: Arc::new(config),
            clock,
            hashing,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn secret(&self) -> &[u8] {
        &self.config.secret_key
    }
}
