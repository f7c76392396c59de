//! Identity's pages: logging in (with a password or single sign-on) and out, signing
//! up, forgotten passwords, a person's profile and API tokens.

use poem::Route;

mod api_tokens;
mod login;
mod passwords;
mod profile;
mod signups;

pub(super) fn routes(route: Route) -> Route {
    let route = login::routes(route);
    let route = signups::routes(route);
    let route = passwords::routes(route);
    let route = profile::routes(route);
    api_tokens::routes(route)
}
