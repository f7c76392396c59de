//! Signing up for an account of one's own, confirmed by e-mail.

use partnerdesk_core::identity::signups;
use poem::{Response, Route, get, handler, http::StatusCode, web::Data, web::Form, web::Path};
use serde::{Deserialize, Serialize};

use super::passwords::{Address, Whose};
use crate::pages::context::{Message, Typed};
use crate::pages::{error_page, page, unavailable};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/signup", get(signup_form).post(signup))
        .at("/signup/confirm/:token", get(signup_confirm_form).post(signup_confirm))
}

#[derive(Deserialize, Serialize, Default)]
struct SignupForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    /// Never shown again.
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default)]
    language: Option<String>,
}

#[handler]
fn signup_form(state: Data<&AppState>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "identity/signup",
        Typed {
            form: SignupForm::default(),
        },
    )
}

#[handler]
async fn signup(state: Data<&AppState>, Form(form): Form<SignupForm>) -> Response {
    let input = signups::SignUpInput {
        email: form.email.clone(),
        password: form.password.clone(),
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        language: form.language.clone(),
    };
    match signups::start(&state.pool, &state.ctx, input).await {
        Ok(()) => page(
            &state,
            StatusCode::OK,
            "tenancy/register_sent",
            Address { email: &form.email },
        ),
        Err(e) => error_page(&state, "identity/signup", Typed { form: &form }, &e),
    }
}

#[handler]
async fn signup_confirm_form(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match signups::inspect(&mut conn, &state.ctx, &token).await {
        Ok(p) => {
            let ctx = Whose {
                email: p.email,
                first_name: p.first_name,
            };
            page(&state, StatusCode::OK, "identity/signup_confirm", ctx)
        }
        Err(e) => error_page(&state, "message", Message::titled("Confirm your e-mail address"), &e),
    }
}

#[handler]
async fn signup_confirm(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match signups::confirm(&mut conn, &state.ctx, &token).await {
        Ok(user) => {
            let done = Message::titled("Account created")
                .saying(format!("Your address {} is confirmed. Log in to go on.", user.email))
                .with_login();
            page(&state, StatusCode::OK, "message", done)
        }
        Err(e) => {
            let ctx = Message::titled("Confirm your e-mail address").with_login();
            error_page(&state, "message", ctx, &e)
        }
    }
}
