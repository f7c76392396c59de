//! Who is calling: sign-up, log-in, sessions, the current user, API tokens, and single sign-on.

pub mod auth;
pub mod sso;
