//! Signing up for an account of one's own, confirmed by e-mail.

use partnerdesk_core::identity::signups;
use poem::{Response, Route, get, handler, http::StatusCode, web::Data, web::Form, web::Path};
use serde::Deserialize;
use serde_json::json;

use crate::pages::{error_page, page, unavailable};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/signup", get(signup_form).post(signup))
        .at("/signup/confirm/:token", get(signup_confirm_form).post(signup_confirm))
}

#[derive(Deserialize, serde::Serialize, Default)]
struct SignupForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    language: Option<String>,
}

#[handler]
fn signup_form(state: Data<&AppState>) -> Response {
    page(&state, StatusCode::OK, "identity/signup", json!({ "form": {} }))
}

#[handler]
async fn signup(state: Data<&AppState>, Form(form): Form<SignupForm>) -> Response {
    let mut shown = serde_json::to_value(&form).unwrap_or_default();
    shown["password"] = json!("");
    let input = signups::SignUpInput {
        email: form.email.clone(),
        password: form.password,
        first_name: form.first_name,
        last_name: form.last_name,
        language: form.language,
    };
    match signups::start(&state.pool, &state.ctx, input).await {
        Ok(()) => page(
            &state,
            StatusCode::OK,
            "tenancy/register_sent",
            json!({ "email": form.email }),
        ),
        Err(e) => error_page(&state, "identity/signup", json!({ "form": shown }), &e),
    }
}

#[handler]
async fn signup_confirm_form(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match signups::inspect(&mut conn, &state.ctx, &token).await {
        Ok(p) => page(
            &state,
            StatusCode::OK,
            "identity/signup_confirm",
            json!({ "email": p.email, "first_name": p.first_name }),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Confirm your e-mail address" }), &e),
    }
}

#[handler]
async fn signup_confirm(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match signups::confirm(&mut conn, &state.ctx, &token).await {
        Ok(user) => page(
            &state,
            StatusCode::OK,
            "message",
            json!({ "title": "Account created", "message": format!("Your address {} is confirmed. Log in to go on.", user.email), "login": true }),
        ),
        Err(e) => error_page(
            &state,
            "message",
            json!({ "title": "Confirm your e-mail address", "login": true }),
            &e,
        ),
    }
}
