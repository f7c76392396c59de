//! The vendor's desks (partner requests, partners, invoices, modules, releases): one list
//! at one address with one template, a form on its rows, and the answer to each form.

use crate::pages::notice::{Notice, noticed};
use partnerdesk_core::Error as CoreError;
use poem::Response;
use serde::{Deserialize, Serialize};

use super::{context::with, portal::Portal};
use crate::state::AppState;

/// A desk's address: which rows (`status`, for the desks that filter) and a notice.
#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::pages::notice::lenient")]
    pub notice: Option<Notice>,
}

/// One of the vendor's desks: where it is and how it is shown.
pub(crate) struct Desk {
    pub path: &'static str,
    pub template: &'static str,
}

impl Desk {
    /// The desk's page with what was loaded, and a notice from the address.
    pub(crate) fn show(
        &self,
        portal: &Portal,
        state: &AppState,
        notice: Option<Notice>,
        loaded: Result<impl Serialize, CoreError>,
    ) -> Response {
        match loaded {
            Ok(ctx) => portal.render_noticed(state, self.template, notice, ctx),
            Err(e) => portal.failed(state, "Vendor", &e),
        }
    }

    /// The answer to one of the desk's forms: back to the list with `notice`, or the
    /// list (loaded again by `reload`) with the error and `shown`: the form as typed, or
    /// which row failed.
    pub(crate) async fn answer<T, C, F>(
        &self,
        portal: &Portal,
        state: &AppState,
        result: Result<T, CoreError>,
        notice: Notice,
        shown: impl Serialize,
        reload: impl FnOnce() -> F,
    ) -> poem::Result<Response>
    where
        C: Serialize,
        F: Future<Output = poem::Result<Result<C, CoreError>>>,
    {
        let e = match result {
            Ok(_) => return Ok(noticed(self.path, notice)),
            Err(e) => e,
        };
        Ok(match reload().await? {
            Ok(ctx) => portal.error(state, self.template, with(ctx, shown), &e),
            Err(e) => portal.failed(state, "Vendor", &e),
        })
    }
}
