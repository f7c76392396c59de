//! Delegated administration: what a customer lets its partner do, and the partner's
//! staff acting inside the customer.
//!
//! * [`service_providers`]: "My service provider": a customer's partner (chosen by the
//!   partner's public code, removed), the grants the customer gives it, grant requests
//!   and their answers, and warnings before grants end.
//! * [`sessions`]: management sessions (with exactly what was granted) and log-in-as
//!   sessions (as one of the customer's users), bounded in time and ended with the
//!   grant.
//! * [`activity`]: "What my service provider did": the partner's audit entries inside
//!   the customer, with the real person behind each.

pub mod activity;
pub mod service_providers;
pub mod sessions;
