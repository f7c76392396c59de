//! Who is calling: sign-up, log-in, sessions, the current user, API tokens, and single sign-on.

pub mod auth;
pub mod sso;

/// The area's resources, for `api::Api`.
pub type Api = (auth::AuthApi, sso::SsoApi);
