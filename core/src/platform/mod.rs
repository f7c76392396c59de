//! The platform every room stands on; it knows no business area.
//!
//! * The two frames: [`op`] (a write: transaction, authorization inside it, one typed
//!   audit event, its e-mails and jobs, all or nothing) and [`authz`] (the one
//!   authorization function, whose answer a read takes).
//! * What every call carries: [`ctx`] (configuration, [`clock`], the password
//!   [`hashing`] pool, the [`oidc`] providers), [`error`] (one error type, turned into
//!   problem+json by `web`), [`db`] (pools, migrations, replica reads).
//! * Values parsed at the edge ([`domain`]), fixed sets of values ([`values`]), ids that
//!   say what they name ([`ids`]), and [`money`] (currencies, amounts, rounding to cents).
//! * What leaves the process: [`mail`] (queued in the transaction, sent by the worker),
//!   [`jobs`] (payloads and transactional enqueue), [`links`] (every public link),
//!   [`tokens`] (secrets in cookies, headers and links), [`csv_export`], [`audit`].
//! * The process: [`app`] (building the application), [`config`], [`telemetry`],
//!   [`templating`], [`devclock`] (moving time in development).

pub mod app;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod config;
pub(crate) mod csv_export;
pub mod ctx;
pub mod db;
pub mod devclock;
pub mod domain;
pub(crate) mod error;
pub(crate) mod hashing;
pub mod ids;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod money;
pub(crate) mod oidc;
pub(crate) mod op;
pub mod telemetry;
pub mod templating;
pub mod tokens;
pub mod values;
