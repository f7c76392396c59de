//! The one place that reads configuration. Every variable, its default and its meaning
//! is listed in the README; `Config::from_env` is called once at start-up.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use rust_decimal::Decimal;
use url::Url;

/// Where the process runs. Development enables the open dev mailbox and the movable
/// clock; production has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub database_pool_size: usize,
    pub http_addr: SocketAddr,
    pub public_url: Url,
    pub secret_key: Vec<u8>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub templates_dir: Option<PathBuf>,
    pub session_ttl: Duration,
    pub registration_link_ttl: Duration,
    pub password_link_ttl: Duration,
    pub invitation_ttl: Duration,
    pub default_commission_rate: Decimal,
    pub job_retention: Duration,
    pub job_failed_retention: Duration,
    pub job_backoff_base: Duration,
    pub job_backoff_max: Duration,
    pub worker_concurrency: usize,
    pub worker_poll_interval: Duration,
    pub maintenance_interval: Duration,
    pub log_format: LogFormat,
    pub trial_days: u32,
    pub trial_max_users: i32,
    /// Days before a trial's end that reminders go out (1 = on the last day).
    pub trial_reminder_days: Vec<u32>,
    pub quote_ttl: Duration,
    pub payment_provider: crate::orders::PaymentProvider,
    pub payment_due_days: u32,
    pub download_link_ttl: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("http_addr", &self.http_addr)
            .field("public_url", &self.public_url.as_str())
            .field("smtp", &self.smtp_url.is_some())
            .finish_non_exhaustive()
    }
}

/// The secret used in development when SECRET_KEY is not set. Never valid in production.
const DEV_SECRET: &str = "partnerdesk-development-secret-do-not-use-in-production";

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds a configuration from explicit variables (tests), on top of no environment.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Result<Self, ConfigError> {
        let map: HashMap<&str, String> = pairs.into_iter().collect();
        Self::from_lookup(|key| map.get(key).cloned())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let parse = |key: &str, default: &str| -> String {
            get(key)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };

        let environment = match parse("PARTNERDESK_ENV", "production").as_str() {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => {
                errors.push(format!(
                    "PARTNERDESK_ENV: expected development or production, got {other:?}"
                ));
                Environment::Production
            }
        };
        let database_url = parse("DATABASE_URL", "");
        if database_url.is_empty() {
            errors.push("DATABASE_URL: required (postgres://user@host:port/database)".to_owned());
        }
        let http_addr_raw = parse("HTTP_ADDR", "127.0.0.1:8080");
        let http_addr = http_addr_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!("HTTP_ADDR: not a socket address: {http_addr_raw:?}"));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let public_raw = parse("PUBLIC_URL", &format!("http://{http_addr}"));
        let public_url = Url::parse(&public_raw).unwrap_or_else(|_| {
            errors.push(format!("PUBLIC_URL: not a URL: {public_raw:?}"));
            Url::parse("http://127.0.0.1:8080").expect("static URL")
        });
        let secret_raw = get("SECRET_KEY").unwrap_or_default();
        let secret_key = if secret_raw.is_empty() {
            if environment == Environment::Production {
                errors.push("SECRET_KEY: required in production (at least 32 characters)".to_owned());
            }
            DEV_SECRET.as_bytes().to_vec()
        } else {
            if secret_raw.len() < 32 {
                errors.push("SECRET_KEY: must be at least 32 characters".to_owned());
            }
            secret_raw.into_bytes()
        };

        let mut number = |key: &str, default: u64| -> u64 {
            let raw = parse(key, &default.to_string());
            raw.trim().parse::<u64>().unwrap_or_else(|_| {
                errors.push(format!("{key}: expected a whole number, got {raw:?}"));
                default
            })
        };
        let database_pool_size = number("DATABASE_POOL_SIZE", 10) as usize;
        let session_ttl = hours(number("SESSION_TTL_HOURS", 12));
        let registration_link_ttl = hours(number("REGISTRATION_LINK_TTL_HOURS", 48));
        let password_link_ttl = hours(number("PASSWORD_LINK_TTL_HOURS", 72));
        let invitation_ttl = hours(24 * number("INVITATION_TTL_DAYS", 14));
        let job_retention = hours(24 * number("JOB_RETENTION_DAYS", 7));
        let job_failed_retention = hours(24 * number("JOB_FAILED_RETENTION_DAYS", 30));
        let job_backoff_base = Duration::from_secs(number("JOB_BACKOFF_BASE_SECONDS", 10));
        let job_backoff_max = Duration::from_secs(number("JOB_BACKOFF_MAX_SECONDS", 3600));
        let worker_concurrency = number("WORKER_CONCURRENCY", 4).max(1) as usize;
        let worker_poll_interval = Duration::from_secs(number("WORKER_POLL_SECONDS", 5).max(1));
        let maintenance_interval = Duration::from_secs(number("MAINTENANCE_INTERVAL_SECONDS", 60).max(1));

        let trial_days = number("TRIAL_DAYS", 30).max(1) as u32;
        let trial_max_users = number("TRIAL_MAX_USERS", 5).max(1) as i32;
        let quote_ttl = Duration::from_secs(60 * number("QUOTE_TTL_MINUTES", 30).max(1));
        let payment_due_days = number("PAYMENT_DUE_DAYS", 14) as u32;
        let download_link_ttl = hours(number("DOWNLOAD_LINK_TTL_HOURS", 168).max(1));
        let reminders_raw = parse("TRIAL_REMINDER_DAYS", "7,1");
        let trial_reminder_days: Vec<u32> = reminders_raw
            .split(',')
            .map(|d| d.trim().parse::<u32>().ok().filter(|d| *d >= 1))
            .collect::<Option<Vec<u32>>>()
            .unwrap_or_else(|| {
                errors.push(format!(
                    "TRIAL_REMINDER_DAYS: expected days such as 7,1 (1 = the last day), got {reminders_raw:?}"
                ));
                vec![7, 1]
            });
        let provider_default = if environment == Environment::Development {
            "test"
        } else {
            "bank_transfer"
        };
        let provider_raw = parse("PAYMENT_PROVIDER", provider_default);
        let payment_provider = crate::orders::PaymentProvider::parse(&provider_raw).unwrap_or_else(|| {
            errors.push(format!(
                "PAYMENT_PROVIDER: expected bank_transfer or test, got {provider_raw:?}"
            ));
            crate::orders::PaymentProvider::BankTransfer
        });

        let rate_raw = parse("DEFAULT_COMMISSION_RATE", "20.00");
        let default_commission_rate = crate::domain::CommissionRate::parse(&rate_raw)
            .map(|r| r.value())
            .unwrap_or_else(|_| {
                errors.push(format!(
                    "DEFAULT_COMMISSION_RATE: expected a percentage 0-100 with at most two decimals, got {rate_raw:?}"
                ));
                Decimal::new(2000, 2)
            });

        let log_format = match parse("LOG_FORMAT", "text").as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => {
                errors.push(format!("LOG_FORMAT: expected text or json, got {other:?}"));
                LogFormat::Text
            }
        };

        let config = Config {
            environment,
            database_url,
            database_pool_size,
            http_addr,
            public_url,
            secret_key,
            smtp_url: get("SMTP_URL").filter(|v| !v.trim().is_empty()),
            mail_from: parse("MAIL_FROM", "Partnerdesk <no-reply@partnerdesk.localhost>"),
            templates_dir: get("TEMPLATES_DIR").filter(|v| !v.trim().is_empty()).map(PathBuf::from),
            session_ttl,
            registration_link_ttl,
            password_link_ttl,
            invitation_ttl,
            default_commission_rate,
            job_retention,
            job_failed_retention,
            job_backoff_base,
            job_backoff_max,
            worker_concurrency,
            worker_poll_interval,
            maintenance_interval,
            log_format,
            trial_days,
            trial_max_users,
            trial_reminder_days,
            quote_ttl,
            payment_provider,
            payment_due_days,
            download_link_ttl,
        };
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }

    /// An absolute URL below PUBLIC_URL.
    pub fn url(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}/{}", path.trim_start_matches('/'))
    }
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}
