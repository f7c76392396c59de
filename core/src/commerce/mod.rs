//! What is sold and what a customer holds.
//!
//! * [`modules`]: the catalogue and its monthly prices; [`releases`]: software
//!   releases per channel and their signed download links.
//! * [`licences`]: business licences, user licences and credits, quoted before they
//!   are bought; [`licensing`]: every write to the licence tables and the one check of
//!   who may hold a user licence.
//! * [`trials`]: free, bounded trials with reminders and an upgrade to paid.
//! * [`orders`]: orders, their lines and invoices, payment links and payment;
//!   [`pricing`]: the money arithmetic (periods, proration, rounding to cents).
//!
//! A paid order earns commission (`earnings`); billing runs bill what customers hold
//! (`billing`).

pub mod licences;
pub(crate) mod licensing;
pub mod modules;
pub mod orders;
pub mod pricing;
pub mod releases;
pub mod trials;
