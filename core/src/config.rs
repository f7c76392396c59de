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

/// How invoices are paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentProvider {
    /// The customer transfers the amount; finance marks the invoice paid.
    BankTransfer,
    /// Pays at once from the payment page (development and tests).
    Test,
}

impl PaymentProvider {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "bank_transfer" => Some(PaymentProvider::BankTransfer),
            "test" => Some(PaymentProvider::Test),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            PaymentProvider::BankTransfer => "bank_transfer",
            PaymentProvider::Test => "test",
        }
    }

    /// Whether the payment page itself can take the payment.
    pub fn pays_online(&self) -> bool {
        matches!(self, PaymentProvider::Test)
    }
}

/// Limits on what a stranger can make the service do (see the README).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, except the CSV import.
    pub max_body_bytes: usize,
    /// Largest CSV import body.
    pub max_import_bytes: usize,
    /// A request body must arrive within this time.
    pub body_read_timeout: Duration,
    /// Password hashes computed at once (each takes about 19 MiB).
    pub password_hash_concurrency: usize,
    /// Failed log-ins per account before each further one waits longer.
    pub login_failures_per_account: u32,
    /// Failed log-ins per client address before each further one waits longer.
    pub login_failures_per_address: u32,
    /// Failures older than this are forgotten.
    pub login_window: Duration,
    /// The longest wait a throttled log-in is given.
    pub login_max_delay: Duration,
    /// E-mails the service sends to one typed address per hour (sign-up, registration,
    /// password reset, invitations).
    pub emails_per_address_per_hour: u32,
    /// Use X-Forwarded-For for the client address (behind a reverse proxy).
    pub trust_proxy_headers: bool,
}

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub database_pool_size: usize,
    /// How long a request waits for a database connection before it gets 503.
    pub database_pool_timeout: Duration,
    /// Longest a statement may run.
    pub database_statement_timeout: Duration,
    /// Longest a statement waits for a row lock.
    pub database_lock_timeout: Duration,
    pub http_addr: SocketAddr,
    pub public_url: Url,
    pub secret_key: Vec<u8>,
    pub smtp_url: Option<String>,
    /// Production without SMTP: keep e-mails in the database outbox on purpose.
    pub mail_outbox: bool,
    pub mail_from: String,
    pub templates_dir: Option<PathBuf>,
    pub session_ttl: Duration,
    /// A session ends this long after log-in, however active.
    pub session_max_age: Duration,
    pub registration_link_ttl: Duration,
    pub signup_link_ttl: Duration,
    pub password_reset_ttl: Duration,
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
    pub payment_provider: PaymentProvider,
    pub payment_due_days: u32,
    pub download_link_ttl: Duration,
    pub limits: Limits,
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
        let secret_missing = secret_raw.is_empty();
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
        let database_pool_size = number("DATABASE_POOL_SIZE", 10).max(1) as usize;
        let database_pool_timeout = Duration::from_millis(number("DATABASE_POOL_TIMEOUT_MS", 5000).max(1));
        let database_statement_timeout = Duration::from_millis(number("DATABASE_STATEMENT_TIMEOUT_MS", 30_000).max(1));
        let database_lock_timeout = Duration::from_millis(number("DATABASE_LOCK_TIMEOUT_MS", 5000).max(1));
        let session_ttl = hours(number("SESSION_TTL_HOURS", 12));
        let session_max_age = hours(number("SESSION_MAX_HOURS", 168).max(1));
        let registration_link_ttl = hours(number("REGISTRATION_LINK_TTL_HOURS", 48));
        let signup_link_ttl = hours(number("SIGNUP_LINK_TTL_HOURS", 48).max(1));
        let password_reset_ttl = Duration::from_secs(60 * number("PASSWORD_RESET_TTL_MINUTES", 60).max(1));
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
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(2);
        let limits = Limits {
            max_body_bytes: number("MAX_BODY_BYTES", 1024 * 1024).max(1024) as usize,
            max_import_bytes: number("MAX_IMPORT_BYTES", 16 * 1024 * 1024).max(1024) as usize,
            body_read_timeout: Duration::from_secs(number("BODY_READ_TIMEOUT_SECONDS", 30).max(1)),
            password_hash_concurrency: number("PASSWORD_HASH_CONCURRENCY", cpus).max(1) as usize,
            login_failures_per_account: number("LOGIN_FAILURES_PER_ACCOUNT", 5).max(1) as u32,
            login_failures_per_address: number("LOGIN_FAILURES_PER_ADDRESS", 20).max(1) as u32,
            login_window: Duration::from_secs(60 * number("LOGIN_WINDOW_MINUTES", 15).max(1)),
            login_max_delay: Duration::from_secs(number("LOGIN_MAX_DELAY_SECONDS", 900).max(1)),
            emails_per_address_per_hour: number("EMAILS_PER_ADDRESS_PER_HOUR", 5).max(1) as u32,
            trust_proxy_headers: false,
        };
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
        let payment_provider = PaymentProvider::parse(&provider_raw).unwrap_or_else(|| {
            errors.push(format!(
                "PAYMENT_PROVIDER: expected bank_transfer or test, got {provider_raw:?}"
            ));
            PaymentProvider::BankTransfer
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

        let mut flag = |key: &str| -> bool {
            match parse(key, "false").trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    errors.push(format!("{key}: expected true or false, got {other:?}"));
                    false
                }
            }
        };
        let mail_outbox = flag("MAIL_OUTBOX");
        let allow_http_public_url = flag("ALLOW_HTTP_PUBLIC_URL");
        let mut limits = limits;
        limits.trust_proxy_headers = flag("TRUST_PROXY_HEADERS");
        let smtp_url = get("SMTP_URL").filter(|v| !v.trim().is_empty());

        if environment == Environment::Production {
            errors.extend(production_refusals(
                &public_url,
                &secret_key,
                smtp_url.is_some(),
                mail_outbox,
                payment_provider,
                allow_http_public_url,
                secret_missing,
            ));
        }

        let config = Config {
            environment,
            database_url,
            database_pool_size,
            database_pool_timeout,
            database_statement_timeout,
            database_lock_timeout,
            http_addr,
            public_url,
            secret_key,
            smtp_url,
            mail_outbox,
            mail_from: parse("MAIL_FROM", "Partnerdesk <no-reply@partnerdesk.localhost>"),
            templates_dir: get("TEMPLATES_DIR").filter(|v| !v.trim().is_empty()).map(PathBuf::from),
            session_ttl,
            session_max_age,
            registration_link_ttl,
            signup_link_ttl,
            password_reset_ttl,
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
            limits,
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

/// What production refuses to start with: each entry names its variable.
fn production_refusals(
    public_url: &Url,
    secret_key: &[u8],
    smtp: bool,
    mail_outbox: bool,
    payment_provider: PaymentProvider,
    allow_http_public_url: bool,
    secret_missing: bool,
) -> Vec<String> {
    let mut refusals = Vec::new();
    if payment_provider == PaymentProvider::Test {
        refusals.push(
            "PAYMENT_PROVIDER: the test provider marks invoices paid without money; use bank_transfer in production"
                .to_owned(),
        );
    }
    if !smtp && !mail_outbox {
        refusals.push(
            "SMTP_URL: required in production (set MAIL_OUTBOX=true to keep e-mails in the database outbox on purpose)"
                .to_owned(),
        );
    }
    if secret_key == DEV_SECRET.as_bytes() && !secret_missing {
        refusals.push("SECRET_KEY: the built-in development key is not allowed in production".to_owned());
    }
    if public_url.scheme() != "https" {
        let loopback = match public_url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !(allow_http_public_url && loopback) {
            refusals.push(
                "PUBLIC_URL: must be https in production (ALLOW_HTTP_PUBLIC_URL=true permits http only for a reverse proxy on localhost)"
                    .to_owned(),
            );
        }
    }
    refusals
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(extra: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![
            ("DATABASE_URL", "postgres://db/x".to_owned()),
            ("PARTNERDESK_ENV", "production".to_owned()),
            ("SECRET_KEY", "a-production-secret-of-at-least-32-chars".to_owned()),
            ("PUBLIC_URL", "https://portal.example".to_owned()),
            ("SMTP_URL", "smtp://mail.example:25".to_owned()),
        ];
        for (k, v) in extra {
            vars.retain(|(key, _)| key != k);
            vars.push((k, (*v).to_owned()));
        }
        Config::from_pairs(vars)
    }

    fn refusal(extra: &[(&'static str, &str)]) -> String {
        match production(extra) {
            Ok(_) => panic!("{extra:?} was accepted in production"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn production_starts_with_safe_settings() {
        let config = production(&[]).expect("safe settings");
        assert_eq!(config.payment_provider, PaymentProvider::BankTransfer);
        assert!(production(&[("SMTP_URL", ""), ("MAIL_OUTBOX", "true")]).is_ok());
        assert!(
            production(&[
                ("PUBLIC_URL", "http://127.0.0.1:8080"),
                ("ALLOW_HTTP_PUBLIC_URL", "true")
            ])
            .is_ok()
        );
    }

    #[test]
    fn production_refuses_each_unsafe_setting_by_name() {
        assert!(refusal(&[("PAYMENT_PROVIDER", "test")]).contains("PAYMENT_PROVIDER"));
        assert!(refusal(&[("SMTP_URL", "")]).contains("SMTP_URL"));
        assert!(refusal(&[("SECRET_KEY", DEV_SECRET)]).contains("SECRET_KEY"));
        assert!(refusal(&[("PUBLIC_URL", "http://portal.example")]).contains("PUBLIC_URL"));
        // Plain http is only for a reverse proxy on this machine.
        assert!(
            refusal(&[
                ("PUBLIC_URL", "http://portal.example"),
                ("ALLOW_HTTP_PUBLIC_URL", "true")
            ])
            .contains("PUBLIC_URL")
        );
        assert!(refusal(&[("MAIL_OUTBOX", "maybe")]).contains("MAIL_OUTBOX"));
    }

    #[test]
    fn development_needs_none_of_it() {
        let config = Config::from_pairs([
            ("DATABASE_URL", "postgres://db/x".to_owned()),
            ("PARTNERDESK_ENV", "development".to_owned()),
        ])
        .expect("development defaults");
        assert_eq!(config.payment_provider, PaymentProvider::Test);
        assert!(config.smtp_url.is_none());
    }
}
