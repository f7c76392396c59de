//! Web service tests: the real service on a random port, its own database, the real
//! worker, and an SMTP sink. The tests of each area live in the folder of its name, as in
//! `core` and `web/src`; `harness` (the service under test), `fixtures` (shared steps),
//! `browser` (headless Chromium) and `oidc` (a real OpenID provider) serve them all.

mod browser;
mod fixtures;
mod harness;
mod oidc;

mod billing;
mod commerce;
mod delegation;
mod earnings;
mod identity;
mod ops;
mod platform;
mod portal;
mod tenancy;
