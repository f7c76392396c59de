//! Web service tests: the real service on a random port, its own database, the real
//! worker, and an SMTP sink.

mod harness;

mod abuse;
mod api_docs;
mod api_edge;
mod auth;
mod authorization;
mod billing;
mod browser;
mod commissions;
mod customers;
mod delegation;
mod invitations;
mod left_behind;
mod licences;
mod links;
mod listing;
mod members;
mod oidc;
mod ops;
mod partner_onboarding;
mod plans;
mod portal;
mod portal_journeys;
mod portal_pages;
mod registration;
mod replica;
mod resilience;
mod scale;
mod service_provider;
mod sso;
mod statements;
mod tenancy;
mod users;
