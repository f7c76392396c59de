//! Partnerdesk domain: data layer, services, the one authorization function, jobs and mail.
//!
//! `web` and `worker` only translate HTTP requests and jobs into calls of this crate;
//! neither writes SQL of its own.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod authz;
pub mod billing;
pub mod clock;
pub mod commissions;
pub mod config;
pub mod csv_export;
pub mod ctx;
pub mod customers;
pub mod db;
pub mod delegation;
pub mod devclock;
pub mod domain;
pub mod emails;
pub mod error;
pub mod hashing;
pub mod integrations;
pub mod invitations;
pub mod jobs;
pub mod licences;
pub mod licensing;
pub mod links;
pub mod mail;
pub mod members;
pub mod memberships;
pub mod modules;
pub mod op;
pub mod orders;
pub mod organizations;
pub mod partners;
pub mod payouts;
pub mod pricing;
pub mod provider_activity;
pub mod queue;
pub mod registrations;
pub mod releases;
pub mod scale_seed;
pub mod schema;
pub mod seed;
pub mod service_providers;
pub mod signups;
pub mod sso;
pub mod telemetry;
pub mod templating;
pub mod throttle;
pub mod tokens;
pub mod trials;
pub mod users;
pub mod values;

#[cfg(feature = "test-support")]
pub mod testing;

pub use ctx::Ctx;
pub use error::{Error, FieldError, Result};
