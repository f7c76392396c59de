//! Forgotten passwords and password links: ask for a link, then choose a password.

use partnerdesk_core::{Error as CoreError, identity::password_links};
use poem::{Response, Route, get, handler, http::StatusCode, web::Data, web::Form, web::Path};
use serde::{Deserialize, Serialize};

use crate::pages::context::{Message, Shown};
use crate::pages::{error_page, page, unavailable};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/password/forgot", get(forgot_form).post(forgot))
        .at("/password/:token", get(password_form).post(password_set))
}

#[handler]
async fn password_form(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = password_links::inspect_password_link(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(info) => {
            let ctx = Whose {
                email: info.email,
                first_name: info.first_name,
            };
            page(&state, StatusCode::OK, "identity/password_form", ctx)
        }
        Err(e) => error_page(&state, "message", Message::titled("Set your password"), &e),
    }
}

/// Whose e-mailed link this is (to set a password, to confirm an address).
#[derive(Serialize)]
pub(crate) struct Whose {
    pub email: String,
    pub first_name: String,
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

#[handler]
async fn password_set(state: Data<&AppState>, Path(token): Path<String>, Form(form): Form<PasswordForm>) -> Response {
    let result = password_links::set_password_with_link(&state.pool, &state.ctx, &token, &form.password).await;
    match result {
        Ok(user) => {
            let done = Message::titled("Password set")
                .saying(format!("Your password is set. Log in with {}.", user.email))
                .with_login();
            page(&state, StatusCode::OK, "message", done)
        }
        Err(e @ CoreError::Validation(_)) => page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "identity/password_form",
            Shown::of(&e),
        ),
        Err(e) => error_page(&state, "message", Message::titled("Set your password"), &e),
    }
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

#[handler]
fn forgot_form(state: Data<&AppState>) -> Response {
    page(&state, StatusCode::OK, "identity/password_forgot", ())
}

#[handler]
async fn forgot(state: Data<&AppState>, Form(form): Form<ForgotForm>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match password_links::request_password_reset(&mut conn, &state.ctx, &form.email).await {
        Ok(()) => page(
            &state,
            StatusCode::OK,
            "tenancy/register_sent",
            Address { email: &form.email },
        ),
        Err(e) => error_page(&state, "identity/password_forgot", Address { email: &form.email }, &e),
    }
}

/// The address a link was (or would be) sent to.
#[derive(Serialize)]
pub(crate) struct Address<'a> {
    pub email: &'a str,
}
