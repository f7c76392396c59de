//! Commerce's pages: an organization's licences, quotes, trials and orders; the
//! vendor's invoices, modules and releases; software downloads and payment links.

use poem::Route;

mod catalogue;
mod licences;
mod orders;
mod quotes;
mod trials;

pub(super) fn routes(route: Route) -> Route {
    let route = licences::routes(route);
    let route = quotes::routes(route);
    let route = trials::routes(route);
    let route = orders::routes(route);
    catalogue::routes(route)
}
