//! What every service needs besides a connection: configuration, the clock, and the
//! bound on password hashing.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{platform::clock::Clock, platform::config::Config, platform::hashing::HashPool};

#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub clock: Clock,
    /// The threads that hash passwords (each hash takes about 19 MiB).
    pub hashing: Arc<HashPool>,
    /// The single sign-on providers' discovery documents and keys.
    pub sso: Arc<crate::platform::oidc::Providers>,
}

impl Ctx {
    pub fn new(config: Config, clock: Clock) -> Self {
        let hashing = Arc::new(HashPool::new(
            config.limits.password_hash_concurrency,
            config.database_pool_timeout.max(std::time::Duration::from_secs(5)),
        ));
        let sso = Arc::new(crate::platform::oidc::Providers::new(&config));
        Self {
            config: Arc::new(config),
            clock,
            hashing,
            sso,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn secret(&self) -> &[u8] {
        &self.config.secret_key
    }
}
