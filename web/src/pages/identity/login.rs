//! Logging in and out: the log-in form, single sign-on through a provider, and the
//! end of a portal session.

use partnerdesk_core::{identity::sessions, identity::sso, identity::sso::local_path};
use poem::{Request, Response, Route, get, handler, http::StatusCode, http::header, web::Data, web::Form, web::Path};
use serde::{Deserialize, Serialize};

use crate::api::identity::auth::login_input;
use crate::auth;
use crate::pages::{SsoButton, error_page, notice::Notice, notice::noticed, page, redirect};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/login", get(login_form).post(login))
        .at("/logout", poem::post(logout))
        .at("/auth/sso/:provider", get(sso_start))
        .at("/auth/sso/:provider/callback", get(sso_callback))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[handler]
fn login_form(state: Data<&AppState>, poem::web::Query(q): poem::web::Query<NextQuery>) -> Response {
    let ctx = LoginPage::new(&state, None, local_path(q.next.as_deref()));
    page(&state, StatusCode::OK, "identity/login", ctx)
}

/// The log-in page: the address typed, where to go after, and the single sign-on
/// buttons.
#[derive(Serialize)]
struct LoginPage<'a> {
    email: Option<String>,
    next: Option<String>,
    sso_providers: Vec<SsoButton<'a>>,
}

impl<'a> LoginPage<'a> {
    fn new(state: &'a AppState, email: Option<String>, next: Option<String>) -> Self {
        LoginPage {
            email,
            next,
            sso_providers: crate::pages::sso_providers(state),
        }
    }
}

fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = cookie.parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// A log-in button: starts signing in with the provider (its cookie, then the
/// provider's page).
#[handler]
async fn sso_start(
    state: Data<&AppState>,
    Path(provider): Path<String>,
    poem::web::Query(q): poem::web::Query<NextQuery>,
) -> Response {
    match sso::start(&state.ctx, &provider, None, q.next.as_deref()).await {
        Ok(started) => with_cookie(
            redirect(&started.authorization_url),
            auth::set_sso_cookie(&state, &started.cookie, std::time::Duration::from_secs(600)),
        ),
        Err(e) => error_page(&state, "identity/login", LoginPage::new(&state, None, None), &e),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back: signed in (or the identity linked), or
/// the log-in page with what went wrong.
#[handler]
async fn sso_callback(
    state: Data<&AppState>,
    req: &Request,
    Path(provider): Path<String>,
    poem::web::Query(q): poem::web::Query<CallbackQuery>,
) -> Response {
    let callback = sso::Callback {
        code: q.code,
        state: q.state,
        iss: q.iss,
        error: q.error,
    };
    let done = auth::set_sso_cookie(&state, "", std::time::Duration::ZERO);
    let resp = match crate::api::identity::sso::complete(&state, req, &provider, callback).await {
        Ok(sso::Outcome::SignedIn { token, next, .. }) => with_cookie(
            redirect(next.as_deref().unwrap_or("/")),
            auth::set_session_cookie(&state, &token, state.ctx.config.session_ttl),
        ),
        Ok(sso::Outcome::Linked { .. }) => noticed("/profile", Notice::IdentityLinked),
        Err(e) => error_page(&state, "identity/login", LoginPage::new(&state, None, None), &e),
    };
    with_cookie(resp, done)
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

#[handler]
async fn login(state: Data<&AppState>, req: &Request, Form(form): Form<LoginForm>) -> Response {
    let next = local_path(form.next.as_deref());
    let input = login_input(&state, req, form.email.clone(), form.password);
    match sessions::login(&state.pool, &state.ctx, input).await {
        Ok((_, raw)) => {
            let mut resp = redirect(next.as_deref().unwrap_or("/"));
            let cookie = auth::set_session_cookie(&state, &raw, state.ctx.config.session_ttl);
            if let Ok(v) = cookie.parse() {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => error_page(
            &state,
            "identity/login",
            LoginPage::new(&state, Some(form.email), next),
            &e,
        ),
    }
}

#[handler]
async fn logout(state: Data<&AppState>, req: &Request) -> Response {
    if let Ok(Some(principal)) = auth::principal_from(req, &state).await
        && let Ok(mut conn) = state.conn().await
    {
        let _ = sessions::logout(&mut conn, &state.ctx, &principal).await;
    }
    let mut resp = redirect("/login");
    if let Ok(v) = auth::set_session_cookie(&state, "", std::time::Duration::ZERO).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
