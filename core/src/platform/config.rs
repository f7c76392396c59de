//! The one place that reads configuration. Every variable, its default and its meaning
//! is listed in docs/operations.md; `Config::from_env` is called once at start-up.

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

impl Environment {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "development" | "dev" => Some(Environment::Development),
            "production" | "prod" => Some(Environment::Production),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "json" => Some(LogFormat::Json),
            "text" => Some(LogFormat::Text),
            _ => None,
        }
    }
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

/// Limits on what a stranger can make the service do (see docs/operations.md).
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
    /// Failed log-ins per account from one client address before each further one from
    /// there waits longer.
    pub login_failures_per_account_and_address: u32,
    /// Failed log-ins per account from all addresses together before each further one
    /// waits longer, wherever it comes from (a softer limit against guessing spread over
    /// many addresses).
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
    /// A read-only replica of the database (streaming replication) for list pages and
    /// exports; without one, or while it cannot be reached, they read the primary.
    pub database_replica_url: Option<String>,
    /// After a browser changes something, its lists read the primary for this long (the
    /// replica may not have replayed the change yet).
    pub database_replica_after_write: Duration,
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
    pub delegation: DelegationLimits,
    /// A session ends this long after log-in, however active.
    pub session_max_age: Duration,
    pub registration_link_ttl: Duration,
    pub signup_link_ttl: Duration,
    pub password_reset_ttl: Duration,
    pub password_link_ttl: Duration,
    pub invitation_ttl: Duration,
    pub default_commission_rate: Decimal,
    /// How long a commission is held (pending) before it is approved: the refund window.
    pub commission_hold: Duration,
    /// How long after following an affiliate link a sign-up is attributed to its partner.
    pub affiliate_window: Duration,
    /// Where the affiliate link sends the visitor (a path on this site or a URL).
    pub affiliate_landing: String,
    /// The least a payout may be (approved commissions below it wait for more).
    pub payout_minimum: Decimal,
    /// How long a billing run's files are kept.
    pub billing_retention: Duration,
    /// Whether the worker queues the previous month's billing run on the first of a month.
    pub billing_monthly_run: bool,
    pub job_retention: Duration,
    pub job_failed_retention: Duration,
    pub job_backoff_base: Duration,
    pub job_backoff_max: Duration,
    pub worker_concurrency: usize,
    pub worker_poll_interval: Duration,
    /// Jobs a worker fetches (and locks) per query.
    pub worker_fetch_batch: usize,
    /// A worker process without a heartbeat for this long is gone: the surviving workers
    /// put its running jobs back in their queues.
    pub worker_lease: Duration,
    /// Where the worker serves `/metrics` and `/healthz`.
    pub worker_metrics_addr: SocketAddr,
    /// When set, the web service's `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// When set, the web service serves `/metrics` on this address only (a private
    /// listener), not beside the portal. Production needs this or `metrics_token`.
    pub metrics_addr: Option<SocketAddr>,
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
    /// The single sign-on providers shown on the log-in page, in the configured order.
    pub sso: Vec<SsoProvider>,
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
        let mut v = Vars {
            get: &get,
            errors: Vec::new(),
        };
        let environment = v.choice(
            "PARTNERDESK_ENV",
            "production",
            "development or production",
            Environment::parse,
        );
        let (http_addr, public_url) = v.addresses();
        let (secret_key, secret_missing) = v.secret(environment);
        let config = Config {
            environment,
            database_url: v.required("DATABASE_URL", "postgres://user@host:port/database"),
            database_replica_url: get("DATABASE_REPLICA_URL").filter(|v| !v.trim().is_empty()),
            database_replica_after_write: Duration::from_secs(v.number("DATABASE_REPLICA_AFTER_WRITE_SECONDS", 5)),
            database_pool_size: v.number("DATABASE_POOL_SIZE", 10).max(1) as usize,
            database_pool_timeout: v.millis("DATABASE_POOL_TIMEOUT_MS", 5000),
            database_statement_timeout: v.millis("DATABASE_STATEMENT_TIMEOUT_MS", 30_000),
            database_lock_timeout: v.millis("DATABASE_LOCK_TIMEOUT_MS", 5000),
            http_addr,
            public_url,
            secret_key,
            smtp_url: get("SMTP_URL").filter(|v| !v.trim().is_empty()),
            mail_outbox: v.flag("MAIL_OUTBOX"),
            mail_from: v.text("MAIL_FROM", "Partnerdesk <no-reply@partnerdesk.localhost>"),
            templates_dir: get("TEMPLATES_DIR").filter(|v| !v.trim().is_empty()).map(PathBuf::from),
            session_ttl: hours(v.number("SESSION_TTL_HOURS", 12)),
            session_max_age: hours(v.number("SESSION_MAX_HOURS", 168).max(1)),
            delegation: DelegationLimits::from_vars(&mut v),
            registration_link_ttl: hours(v.number("REGISTRATION_LINK_TTL_HOURS", 48)),
            signup_link_ttl: hours(v.number("SIGNUP_LINK_TTL_HOURS", 48).max(1)),
            password_reset_ttl: minutes(v.number("PASSWORD_RESET_TTL_MINUTES", 60).max(1)),
            password_link_ttl: hours(v.number("PASSWORD_LINK_TTL_HOURS", 72)),
            invitation_ttl: hours(24 * v.number("INVITATION_TTL_DAYS", 14)),
            default_commission_rate: v.commission_rate(),
            commission_hold: hours(24 * v.number("COMMISSION_HOLD_DAYS", 30)),
            affiliate_window: hours(24 * v.number("AFFILIATE_WINDOW_DAYS", 90).max(1)),
            affiliate_landing: v.text("AFFILIATE_LANDING_URL", "/signup"),
            payout_minimum: v.payout_minimum(),
            billing_retention: hours(24 * v.number("BILLING_RETENTION_DAYS", 90).max(1)),
            billing_monthly_run: v.flag_default("BILLING_MONTHLY_RUN", true),
            job_retention: hours(24 * v.number("JOB_RETENTION_DAYS", 7)),
            job_failed_retention: hours(24 * v.number("JOB_FAILED_RETENTION_DAYS", 30)),
            job_backoff_base: Duration::from_secs(v.number("JOB_BACKOFF_BASE_SECONDS", 10)),
            job_backoff_max: Duration::from_secs(v.number("JOB_BACKOFF_MAX_SECONDS", 3600)),
            worker_concurrency: v.number("WORKER_CONCURRENCY", 4).max(1) as usize,
            worker_poll_interval: Duration::from_secs(v.number("WORKER_POLL_SECONDS", 5).max(1)),
            worker_fetch_batch: v.number("WORKER_FETCH_BATCH", 100).clamp(1, 1000) as usize,
            worker_lease: Duration::from_secs(v.number("WORKER_LEASE_SECONDS", 60).max(2)),
            worker_metrics_addr: v.worker_metrics_addr(),
            metrics_token: get("METRICS_TOKEN").filter(|v| !v.trim().is_empty()),
            metrics_addr: v.metrics_addr(),
            maintenance_interval: Duration::from_secs(v.number("MAINTENANCE_INTERVAL_SECONDS", 60).max(1)),
            log_format: v.choice("LOG_FORMAT", "text", "text or json", LogFormat::parse),
            trial_days: v.number("TRIAL_DAYS", 30).max(1) as u32,
            trial_max_users: v.number("TRIAL_MAX_USERS", 5).max(1) as i32,
            trial_reminder_days: v.reminder_days(),
            quote_ttl: minutes(v.number("QUOTE_TTL_MINUTES", 30).max(1)),
            payment_provider: v.payment_provider(environment),
            payment_due_days: v.number("PAYMENT_DUE_DAYS", 14) as u32,
            download_link_ttl: hours(v.number("DOWNLOAD_LINK_TTL_HOURS", 168).max(1)),
            limits: v.limits(),
            sso: v.sso_providers(),
        };
        let allow_http_public_url = v.flag("ALLOW_HTTP_PUBLIC_URL");
        let mut errors = v.errors;
        if environment == Environment::Production {
            errors.extend(production_refusals(&config, allow_http_public_url, secret_missing));
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }

    /// What the web service (not the worker, whose metrics listener is private) refuses
    /// to serve with in production: `/metrics` open to everyone beside the portal.
    pub fn web_refusals(&self) -> Result<(), ConfigError> {
        if self.environment == Environment::Production && self.metrics_token.is_none() && self.metrics_addr.is_none() {
            return Err(ConfigError(vec![
                "METRICS_TOKEN or METRICS_ADDR: /metrics lists every route with its counts; require a bearer token or serve it on a private address"
                    .to_owned(),
            ]));
        }
        Ok(())
    }

    /// An absolute URL below PUBLIC_URL.
    pub fn url(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}/{}", path.trim_start_matches('/'))
    }
}

/// What production refuses to start with: each entry names its variable.
fn production_refusals(config: &Config, allow_http_public_url: bool, secret_missing: bool) -> Vec<String> {
    let (public_url, secret_key, payment_provider) = (&config.public_url, &config.secret_key, config.payment_provider);
    let (smtp, mail_outbox) = (config.smtp_url.is_some(), config.mail_outbox);
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
    if public_url.scheme() != "https" && !(allow_http_public_url && loopback(public_url)) {
        refusals.push(
            "PUBLIC_URL: must be https in production (ALLOW_HTTP_PUBLIC_URL=true permits http only for a reverse proxy on localhost)"
                .to_owned(),
        );
    }
    refusals
}

/// Which rules a single sign-on provider's ID tokens follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoKind {
    /// Microsoft Entra ID: each directory issues as itself; addresses count as verified
    /// only with `email_verified`, `xms_edov` or a personal Microsoft account.
    Microsoft,
    /// Google: `email_verified` says whether the address is confirmed.
    Google,
    /// Any OpenID Connect issuer by its discovery URL.
    Generic,
}

/// The Microsoft directory of personal accounts (outlook.com, live.com).
pub const MICROSOFT_CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// One configured OpenID Connect provider (`SSO_PROVIDERS` and `SSO_<NAME>_*`).
#[derive(Clone)]
pub struct SsoProvider {
    /// Lower-case name in URLs: `/auth/sso/<name>/callback`.
    pub name: String,
    /// The button's text: "Sign in with <label>".
    pub label: String,
    pub kind: SsoKind,
    pub discovery_url: Url,
    /// The issuer ID tokens must name (for Microsoft, the template with `{tenantid}`).
    pub issuer: String,
    /// Microsoft: common, organizations, consumers or one directory's id.
    pub tenant: Option<String>,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for SsoProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoProvider")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("discovery_url", &self.discovery_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The address a provider sends the browser back to: register it at the provider.
    pub fn sso_redirect_url(&self, provider: &str) -> String {
        self.url(&format!("/auth/sso/{provider}/callback"))
    }

    pub fn sso_provider(&self, name: &str) -> Option<&SsoProvider> {
        self.sso.iter().find(|p| p.name == name)
    }
}

/// http is allowed for a provider on this machine only (tests, development).
fn loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Vars<'_> {
    fn sso_providers(&mut self) -> Vec<SsoProvider> {
        let names = self.text("SSO_PROVIDERS", "");
        let mut providers: Vec<SsoProvider> = Vec::new();
        for name in names
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
        {
            let valid = name.len() <= 32
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid || providers.iter().any(|p| p.name == name) {
                self.errors.push(format!(
                    "SSO_PROVIDERS: {name:?} is not a distinct name of at most 32 letters, digits and dashes"
                ));
                continue;
            }
            if let Some(p) = self.sso_provider(&name) {
                providers.push(p);
            }
        }
        providers
    }

    fn sso_provider(&mut self, name: &str) -> Option<SsoProvider> {
        let key = |suffix: &str| format!("SSO_{}_{suffix}", name.to_ascii_uppercase().replace('-', "_"));
        let default_kind = match name {
            "microsoft" => "microsoft",
            "google" => "google",
            _ => "oidc",
        };
        let kind = self.choice(
            &key("KIND"),
            default_kind,
            "microsoft, google or oidc",
            |raw| match raw {
                "microsoft" => Some(SsoKind::Microsoft),
                "google" => Some(SsoKind::Google),
                "oidc" => Some(SsoKind::Generic),
                _ => None,
            },
        );
        let tenant = (kind == SsoKind::Microsoft).then(|| self.text(&key("TENANT"), "organizations"));
        let (default_discovery, default_label) = match (kind, &tenant) {
            (SsoKind::Microsoft, Some(t)) => (
                format!("https://login.microsoftonline.com/{t}/v2.0/.well-known/openid-configuration"),
                "Microsoft",
            ),
            (SsoKind::Google, _) => (
                "https://accounts.google.com/.well-known/openid-configuration".to_owned(),
                "Google",
            ),
            _ => (String::new(), name),
        };
        let discovery = self.text(&key("DISCOVERY_URL"), &default_discovery);
        let label = self.text(&key("LABEL"), default_label);
        let client_id = self.required(
            &key("CLIENT_ID"),
            "the client (application) id registered at the provider",
        );
        let client_secret = self.required(&key("CLIENT_SECRET"), "the client secret registered at the provider");
        let Some(discovery_url) = discovery
            .ends_with("/.well-known/openid-configuration")
            .then(|| Url::parse(&discovery).ok())
            .flatten()
        else {
            self.errors.push(format!(
                "{}: expected the provider's discovery URL ending in /.well-known/openid-configuration, got {discovery:?}",
                key("DISCOVERY_URL")
            ));
            return None;
        };
        if discovery_url.scheme() != "https" && !(discovery_url.scheme() == "http" && loopback(&discovery_url)) {
            self.errors.push(format!("{}: must be https", key("DISCOVERY_URL")));
        }
        let issuer = match kind {
            SsoKind::Microsoft => "https://login.microsoftonline.com/{tenantid}/v2.0".to_owned(),
            _ => discovery
                .trim_end_matches("/.well-known/openid-configuration")
                .to_owned(),
        };
        Some(SsoProvider {
            name: name.to_owned(),
            label: label.chars().take(40).collect(),
            kind,
            discovery_url,
            issuer,
            tenant,
            client_id,
            client_secret,
        })
    }
}

/// The bounds of delegated administration (see `delegation`).
#[derive(Debug, Clone)]
pub struct DelegationLimits {
    /// The longest a partner's management session for a customer lasts.
    pub management_session: Duration,
    /// The longest a partner stays logged in as a customer's user.
    pub login_as: Duration,
    /// The latest end date a customer may give its grants to a partner (from today).
    pub grant_max_lifetime: Duration,
    /// How long a partner's request for more permissions waits for the customer.
    pub grant_request: Duration,
}

impl DelegationLimits {
    fn from_vars(v: &mut Vars<'_>) -> Self {
        DelegationLimits {
            management_session: minutes(v.number("MANAGEMENT_SESSION_MINUTES", 60).clamp(1, 24 * 60)),
            login_as: minutes(v.number("LOGIN_AS_MINUTES", 30).clamp(1, 24 * 60)),
            grant_max_lifetime: hours(24 * v.number("GRANT_MAX_DAYS", 730).max(1)),
            grant_request: hours(24 * v.number("GRANT_REQUEST_DAYS", 14).max(1)),
        }
    }
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Reads variables, collecting every problem so that all are reported at once.
struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<String>,
}

impl Vars<'_> {
    /// The value, or `default` when unset or blank.
    fn text(&self, key: &str, default: &str) -> String {
        (self.get)(key)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn required(&mut self, key: &str, example: &str) -> String {
        let value = self.text(key, "");
        if value.is_empty() {
            self.errors.push(format!("{key}: required ({example})"));
        }
        value
    }

    fn number(&mut self, key: &str, default: u64) -> u64 {
        let raw = self.text(key, &default.to_string());
        raw.trim().parse::<u64>().unwrap_or_else(|_| {
            self.errors.push(format!("{key}: expected a whole number, got {raw:?}"));
            default
        })
    }

    fn metrics_addr(&mut self) -> Option<SocketAddr> {
        let raw = self.text("METRICS_ADDR", "");
        if raw.trim().is_empty() {
            return None;
        }
        raw.trim().parse().map(Some).unwrap_or_else(|_| {
            self.errors.push(format!("METRICS_ADDR: not a socket address: {raw:?}"));
            None
        })
    }

    fn worker_metrics_addr(&mut self) -> SocketAddr {
        self.parsed(
            "WORKER_METRICS_ADDR",
            "127.0.0.1:9187",
            "a socket address",
            SocketAddr::from(([127, 0, 0, 1], 9187)),
        )
    }

    fn millis(&mut self, key: &str, default: u64) -> Duration {
        Duration::from_millis(self.number(key, default).max(1))
    }

    fn flag(&mut self, key: &str) -> bool {
        self.flag_default(key, false)
    }

    fn flag_default(&mut self, key: &str, default: bool) -> bool {
        self.choice(
            key,
            if default { "true" } else { "false" },
            "true or false",
            |raw| match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
        )
    }

    /// One of a fixed set of values; an unknown one is reported and `default` used.
    fn choice<T>(&mut self, key: &str, default: &str, expected: &str, parse: impl Fn(&str) -> Option<T>) -> T {
        let raw = self.text(key, default);
        parse(raw.trim()).unwrap_or_else(|| {
            self.errors.push(format!("{key}: expected {expected}, got {raw:?}"));
            parse(default).expect("the default parses")
        })
    }

    fn parsed<T: std::str::FromStr>(&mut self, key: &str, default: &str, expected: &str, fallback: T) -> T {
        let raw = self.text(key, default);
        raw.parse::<T>().unwrap_or_else(|_| {
            self.errors.push(format!("{key}: not {expected}: {raw:?}"));
            fallback
        })
    }

    /// Where the service listens, and the address people reach it at.
    fn addresses(&mut self) -> (SocketAddr, Url) {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 8080));
        let http_addr = self.parsed("HTTP_ADDR", "127.0.0.1:8080", "a socket address", fallback);
        let fallback = Url::parse("http://127.0.0.1:8080").expect("static URL");
        let public_url = self.parsed("PUBLIC_URL", &format!("http://{http_addr}"), "a URL", fallback);
        (http_addr, public_url)
    }

    /// Development pays at once from the payment page; production by bank transfer.
    fn payment_provider(&mut self, environment: Environment) -> PaymentProvider {
        let default = match environment {
            Environment::Development => "test",
            Environment::Production => "bank_transfer",
        };
        self.choice(
            "PAYMENT_PROVIDER",
            default,
            "bank_transfer or test",
            PaymentProvider::parse,
        )
    }

    /// The secret key, and whether it was left unset.
    fn secret(&mut self, environment: Environment) -> (Vec<u8>, bool) {
        let raw = (self.get)("SECRET_KEY").unwrap_or_default();
        if raw.is_empty() {
            if environment == Environment::Production {
                self.errors
                    .push("SECRET_KEY: required in production (at least 32 characters)".to_owned());
            }
            return (DEV_SECRET.as_bytes().to_vec(), true);
        }
        if raw.len() < 32 {
            self.errors
                .push("SECRET_KEY: must be at least 32 characters".to_owned());
        }
        (raw.into_bytes(), false)
    }

    fn commission_rate(&mut self) -> Decimal {
        let raw = self.text("DEFAULT_COMMISSION_RATE", "20.00");
        crate::platform::domain::CommissionRate::parse(&raw)
            .map(|r| r.value())
            .unwrap_or_else(|_| {
                self.errors.push(format!(
                    "DEFAULT_COMMISSION_RATE: expected a percentage 0-100 with at most two decimals, got {raw:?}"
                ));
                Decimal::new(2000, 2)
            })
    }

    fn payout_minimum(&mut self) -> Decimal {
        let raw = self.text("PAYOUT_MINIMUM", "50.00");
        crate::platform::domain::plain_amount("PAYOUT_MINIMUM", &raw, "invalid_amount")
            .ok()
            .filter(|d| !d.is_sign_negative())
            .unwrap_or_else(|| {
                self.errors
                    .push(format!("PAYOUT_MINIMUM: expected an amount such as 50.00, got {raw:?}"));
                Decimal::new(5000, 2)
            })
    }

    fn reminder_days(&mut self) -> Vec<u32> {
        let raw = self.text("TRIAL_REMINDER_DAYS", "7,1");
        raw.split(',')
            .map(|d| d.trim().parse::<u32>().ok().filter(|d| *d >= 1))
            .collect::<Option<Vec<u32>>>()
            .unwrap_or_else(|| {
                self.errors.push(format!(
                    "TRIAL_REMINDER_DAYS: expected days such as 7,1 (1 = the last day), got {raw:?}"
                ));
                vec![7, 1]
            })
    }

    fn limits(&mut self) -> Limits {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(2);
        Limits {
            max_body_bytes: self.number("MAX_BODY_BYTES", 1024 * 1024).max(1024) as usize,
            max_import_bytes: self.number("MAX_IMPORT_BYTES", 16 * 1024 * 1024).max(1024) as usize,
            body_read_timeout: Duration::from_secs(self.number("BODY_READ_TIMEOUT_SECONDS", 30).max(1)),
            password_hash_concurrency: self.number("PASSWORD_HASH_CONCURRENCY", cpus).max(1) as usize,
            login_failures_per_account_and_address: self.number("LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", 5).max(1)
                as u32,
            login_failures_per_account: self.number("LOGIN_FAILURES_PER_ACCOUNT", 50).max(1) as u32,
            login_failures_per_address: self.number("LOGIN_FAILURES_PER_ADDRESS", 20).max(1) as u32,
            login_window: minutes(self.number("LOGIN_WINDOW_MINUTES", 15).max(1)),
            login_max_delay: Duration::from_secs(self.number("LOGIN_MAX_DELAY_SECONDS", 900).max(1)),
            emails_per_address_per_hour: self.number("EMAILS_PER_ADDRESS_PER_HOUR", 5).max(1) as u32,
            trust_proxy_headers: self.flag("TRUST_PROXY_HEADERS"),
        }
    }
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
            ("METRICS_TOKEN", "a-scrape-token".to_owned()),
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
        assert!(refusal(&[("METRICS_ADDR", "not an address")]).contains("METRICS_ADDR"));
        // The web service's /metrics is never public in production: a token, or a
        // private listener.
        let open = production(&[("METRICS_TOKEN", "")]).expect("the worker starts");
        let refused = open.web_refusals().expect_err("the web service does not").to_string();
        assert!(refused.contains("METRICS_TOKEN or METRICS_ADDR"), "{refused}");
        assert!(production(&[]).unwrap().web_refusals().is_ok());
        let private =
            production(&[("METRICS_TOKEN", ""), ("METRICS_ADDR", "127.0.0.1:9188")]).expect("a private listener");
        assert!(private.web_refusals().is_ok());
        assert_eq!(private.metrics_addr, Some(SocketAddr::from(([127, 0, 0, 1], 9188))));
    }

    fn with_sso(extra: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![
            ("DATABASE_URL", "postgres://db/x".to_owned()),
            ("PARTNERDESK_ENV", "development".to_owned()),
            ("PUBLIC_URL", "https://portal.example".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Config::from_pairs(vars)
    }

    #[test]
    fn single_sign_on_providers_are_read_with_their_defaults() {
        let config = with_sso(&[
            ("SSO_PROVIDERS", "microsoft, google,acme-id"),
            ("SSO_MICROSOFT_CLIENT_ID", "ms-client"),
            ("SSO_MICROSOFT_CLIENT_SECRET", "ms-secret"),
            ("SSO_GOOGLE_CLIENT_ID", "g-client"),
            ("SSO_GOOGLE_CLIENT_SECRET", "g-secret"),
            (
                "SSO_ACME_ID_DISCOVERY_URL",
                "https://id.acme.example/realms/x/.well-known/openid-configuration",
            ),
            ("SSO_ACME_ID_CLIENT_ID", "a-client"),
            ("SSO_ACME_ID_CLIENT_SECRET", "a-secret"),
            ("SSO_ACME_ID_LABEL", "Acme"),
        ])
        .expect("three providers");
        let names: Vec<&str> = config.sso.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["microsoft", "google", "acme-id"]);
        let ms = &config.sso[0];
        assert_eq!(ms.kind, SsoKind::Microsoft);
        assert_eq!(ms.tenant.as_deref(), Some("organizations"));
        assert_eq!(
            ms.discovery_url.as_str(),
            "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(ms.issuer, "https://login.microsoftonline.com/{tenantid}/v2.0");
        assert_eq!(config.sso[1].issuer, "https://accounts.google.com");
        assert_eq!(config.sso[1].label, "Google");
        assert_eq!(config.sso[2].kind, SsoKind::Generic);
        assert_eq!(config.sso[2].issuer, "https://id.acme.example/realms/x");
        assert_eq!(config.sso[2].label, "Acme");
        assert_eq!(
            config.sso_redirect_url("microsoft"),
            "https://portal.example/auth/sso/microsoft/callback"
        );
        let common = with_sso(&[
            ("SSO_PROVIDERS", "microsoft"),
            ("SSO_MICROSOFT_TENANT", "common"),
            ("SSO_MICROSOFT_CLIENT_ID", "c"),
            ("SSO_MICROSOFT_CLIENT_SECRET", "s"),
        ])
        .expect("the common tenant");
        assert!(common.sso[0].discovery_url.as_str().contains("/common/v2.0/"));
    }

    #[test]
    fn single_sign_on_misconfiguration_is_named() {
        let problems = |extra: &[(&'static str, &str)]| match with_sso(extra) {
            Ok(_) => panic!("{extra:?} was accepted"),
            Err(e) => e.to_string(),
        };
        let missing = problems(&[("SSO_PROVIDERS", "google")]);
        assert!(
            missing.contains("SSO_GOOGLE_CLIENT_ID") && missing.contains("SSO_GOOGLE_CLIENT_SECRET"),
            "{missing}"
        );
        let no_discovery = problems(&[
            ("SSO_PROVIDERS", "acme"),
            ("SSO_ACME_CLIENT_ID", "c"),
            ("SSO_ACME_CLIENT_SECRET", "s"),
        ]);
        assert!(no_discovery.contains("SSO_ACME_DISCOVERY_URL"), "{no_discovery}");
        let plain_http = problems(&[
            ("SSO_PROVIDERS", "acme"),
            (
                "SSO_ACME_DISCOVERY_URL",
                "http://id.acme.example/.well-known/openid-configuration",
            ),
            ("SSO_ACME_CLIENT_ID", "c"),
            ("SSO_ACME_CLIENT_SECRET", "s"),
        ]);
        assert!(plain_http.contains("must be https"), "{plain_http}");
        assert!(problems(&[("SSO_PROVIDERS", "a b")]).contains("SSO_PROVIDERS"));
        assert!(problems(&[("SSO_PROVIDERS", "google,google")]).contains("SSO_PROVIDERS"));
        // A provider on this machine may use http (tests, development).
        let local = with_sso(&[
            ("SSO_PROVIDERS", "local"),
            (
                "SSO_LOCAL_DISCOVERY_URL",
                "http://127.0.0.1:9000/.well-known/openid-configuration",
            ),
            ("SSO_LOCAL_CLIENT_ID", "c"),
            ("SSO_LOCAL_CLIENT_SECRET", "s"),
        ]);
        assert!(local.is_ok());
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
