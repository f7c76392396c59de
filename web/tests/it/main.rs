//! Web service tests: the real service on a random port, its own database, the real
//! worker, and an SMTP sink.

mod harness;

mod api_docs;
mod auth;
mod authorization;
mod members;
mod partner_onboarding;
mod registration;
