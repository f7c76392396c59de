//! Who someone is: accounts and the ways into them.
//!
//! * [`accounts`]: passwords (argon2id, off the connection), log-in with throttling
//!   ([`throttle`]), portal sessions, API bearer tokens, set-password and reset links,
//!   and what a person changes about themselves.
//! * [`signups`]: a new account from a confirmed e-mail address.
//! * [`sso`]: signing in with Microsoft, Google or any OpenID Connect provider, and the
//!   identities linked to an account (the protocol itself is `platform::oidc`).
//!
//! Which organizations a person acts for is `tenancy`; acting inside a customer for a
//! partner is `delegation`.

pub mod accounts;
pub mod signups;
pub mod sso;
pub(crate) mod throttle;
