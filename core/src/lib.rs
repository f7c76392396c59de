//! Partnerdesk domain: data layer, services, the one authorization function, jobs and mail.
//!
//! `web` and `worker` only translate HTTP requests and jobs into calls of this crate;
//! neither writes SQL of its own. The crate is a house of rooms, one per business
//! context, each a folder whose `mod.rs` is its plan; the same names are used in
//! `web/src/api`, `web/src/pages`, `templates/pages` and `web/tests/it`:
//!
//! * [`platform`]: the frames (a write, a read's authorization), context, errors,
//!   values, mail, jobs, links, audit: what every room stands on.
//! * [`identity`]: accounts, sessions, API tokens, sign-up, single sign-on.
//! * [`tenancy`]: organizations, members, partners, customers and their users.
//! * [`delegation`]: a customer's service provider, grants and delegated sessions.
//! * [`commerce`]: modules, releases, licences, trials, orders and prices.
//! * [`earnings`]: commissions and payouts.
//! * [`billing`]: billing runs and their files.
//! * [`ops`]: the job queue as ops see it.
//!
//! Above the rooms: [`emails`] (which room builds each e-mail) and [`seed`] (demo data).

pub mod billing;
pub mod commerce;
pub mod delegation;
pub mod earnings;
pub mod emails;
pub mod identity;
pub mod ops;
pub mod platform;
pub mod schema;
pub mod seed;
pub mod tenancy;

pub use platform::{
    ctx::Ctx,
    error::{Error, FieldError, Result},
};
