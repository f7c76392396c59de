//! Development only: the mailbox of e-mails the service sent.

use poem::{IntoResponse, Response, Route, get, handler, http::StatusCode, web::Data};
use serde::Serialize;

use crate::pages::{context::Message, error_page, page, unavailable};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route.at("/dev/mailbox", get(mailbox))
}

#[handler]
async fn mailbox(state: Data<&AppState>) -> Response {
    if !state.ctx.config.is_development() {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let mails = partnerdesk_core::platform::mail::outbox(&mut conn, None, 100).await;
    match mails {
        Ok(mails) => page(&state, StatusCode::OK, "mailbox", Mailbox { mails }),
        Err(e) => error_page(&state, "message", Message::titled("Mailbox"), &e),
    }
}

/// The mailbox: the latest e-mails, newest first.
#[derive(Serialize)]
struct Mailbox {
    mails: Vec<partnerdesk_core::platform::mail::OutboxMessage>,
}
