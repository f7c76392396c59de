//! Identity: logging in, sessions and API tokens, single sign-on.

mod auth;
mod sso;
