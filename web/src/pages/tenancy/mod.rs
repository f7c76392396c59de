//! Tenancy's pages: a person's organizations; one organization's details, settings,
//! integrations, members and audit log; a partner's customers and invitations; becoming a
//! partner and the vendor's partners; an organization's users.

use poem::Route;

mod audit;
mod customers;
mod integrations;
mod invitations;
mod members;
mod organization;
mod organizations;
mod partners;
mod registrations;
mod users;

pub(super) fn routes(route: Route) -> Route {
    let route = organizations::routes(route);
    let route = organization::routes(route);
    let route = integrations::routes(route);
    let route = members::routes(route);
    let route = audit::routes(route);
    let route = customers::routes(route);
    let route = invitations::routes(route);
    let route = registrations::routes(route);
    let route = partners::routes(route);
    users::routes(route)
}
