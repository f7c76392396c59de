//! Who someone is: accounts and the ways into them.
//!
//! * [`accounts`]: the person behind a login, and who is calling (the principal a
//!   session or a token resolves to).
//! * [`passwords`]: argon2id hashes, off the connection.
//! * [`sessions`]: log-in with throttling ([`throttle`]) and portal sessions.
//! * [`api_tokens`]: bearer tokens for the API.
//! * [`password_links`]: set-password links (invitations of new addresses, resets).
//! * [`profile`]: what a person changes about themselves.
//! * [`signups`]: a new account from a confirmed e-mail address.
//! * [`sso`]: signing in with Microsoft, Google or any OpenID Connect provider, and the
//!   identities linked to an account (the protocol itself is `platform::oidc`).
//!
//! Which organizations a person acts for is `tenancy`; acting inside a customer for a
//! partner is `delegation`.

pub mod accounts;
pub mod api_tokens;
pub mod password_links;
pub mod passwords;
pub mod profile;
pub mod sessions;
pub mod signups;
pub mod sso;
pub(crate) mod throttle;
