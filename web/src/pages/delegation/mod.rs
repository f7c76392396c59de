//! Delegation's pages: a customer's service provider and its permissions, delegated
//! sessions (manage, log in as), and what the service provider did.

use poem::Route;

mod activity;
mod service_providers;
mod sessions;

pub(super) fn routes(route: Route) -> Route {
    let route = service_providers::routes(route);
    let route = sessions::routes(route);
    activity::routes(route)
}
