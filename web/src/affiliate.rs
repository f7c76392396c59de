//! The affiliate link's memory in the browser: `/a/{code}` counts the visit and sets a
//! signed cookie with the partner's code and the day of the visit, kept for the
//! attribution window. An organization created in that browser within the window is
//! attributed to the partner.

use chrono::NaiveDate;
use partnerdesk_core::platform::tokens;
use poem::{
    Request,
    web::cookie::{Cookie, SameSite},
};

use crate::state::AppState;

pub const COOKIE: &str = "pd_aff";

/// The `Set-Cookie` value remembering a visit through `code` on `day`.
pub fn remember(state: &AppState, code: &str, day: NaiveDate) -> String {
    let message = format!("{code}.{day}");
    let signature = tokens::sign(state.ctx.secret(), "affiliate", &message);
    let mut cookie = Cookie::new_with_str(COOKIE, format!("{message}.{signature}"));
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(state.ctx.config.affiliate_window);
    cookie.set_secure(state.ctx.config.public_url.scheme() == "https");
    cookie.to_string()
}

/// The affiliate code this browser followed and the day it did, if the cookie is ours
/// and the visit is within the attribution window.
pub fn followed(state: &AppState, req: &Request) -> Option<(String, NaiveDate)> {
    let raw = req.cookie().get(COOKIE)?.value_str().to_owned();
    let mut parts = raw.splitn(3, '.');
    let (code, day, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if !tokens::verify(state.ctx.secret(), "affiliate", &format!("{code}.{day}"), signature) {
        return None;
    }
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    let window = chrono::Duration::from_std(state.ctx.config.affiliate_window).ok()?;
    (day + window >= state.ctx.now().date_naive()).then(|| (code.to_owned(), day))
}
