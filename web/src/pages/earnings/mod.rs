//! Earnings' pages: a partner's dashboard, affiliate link and commissions, and payouts
//! for partners and vendor finance.

use poem::Route;

mod commissions;
mod payouts;

pub(super) fn routes(route: Route) -> Route {
    let route = commissions::routes(route);
    payouts::routes(route)
}
