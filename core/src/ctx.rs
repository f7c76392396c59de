//! What every service needs besides a connection: configuration and the clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{clock::Clock, config::Config};

#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub clock: Clock,
}

impl Ctx {
    pub fn new(config: Config, clock: Clock) -> Self {
        Self {
            config: Arc::new(config),
            clock,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn secret(&self) -> &[u8] {
        &self.config.secret_key
    }
}
