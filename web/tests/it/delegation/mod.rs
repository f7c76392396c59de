//! Delegation: service providers, their grants, delegated sessions and their activity.

mod service_provider;
mod sessions;
