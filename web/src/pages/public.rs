//! Pages reached without an organization: log-in, sign-up, the links e-mails carry
//! (registration, invitations, passwords, payment, downloads), the development mailbox.

use partnerdesk_core::identity::password_links;
use partnerdesk_core::identity::sessions;
use partnerdesk_core::{
    Error as CoreError, commerce::orders, commerce::releases, identity::signups, identity::sso,
    platform::money::fixed2, tenancy::invitations, tenancy::memberships, tenancy::registrations,
};
use poem::{
    IntoResponse, Request, Response, Route, get, handler,
    http::{StatusCode, header},
    web::{Data, Form, Path},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{error_context, error_page, merge, page, redirect, unavailable};
use crate::{api::identity::auth::login_input, auth, state::AppState};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/login", get(login_form).post(login))
        .at("/logout", poem::post(logout))
        .at("/auth/sso/:provider", get(sso_start))
        .at("/auth/sso/:provider/callback", get(sso_callback))
        .at("/signup", get(signup_form).post(signup))
        .at("/signup/confirm/:token", get(signup_confirm_form).post(signup_confirm))
        .at("/password/forgot", get(forgot_form).post(forgot))
        .at("/invitations/:token", get(invitation_page).post(invitation_answer))
        .at("/memberships/:org/:answer", poem::post(membership_answer))
        .at("/register/partner", get(register_start_form).post(register_start))
        .at("/register/partner/:token", get(register_form).post(register_complete))
        .at("/register/customer/:token", get(customer_form).post(customer_accept))
        .at("/password/:token", get(password_form).post(password_set))
        .at("/dev/mailbox", get(mailbox))
        .at("/pay/:token", get(payment_page).post(payment_submit))
        .at("/downloads/:release", get(download))
        .at("/a/:code", get(affiliate_landing))
}

/// Where to go after logging in: a path on this site only.
use partnerdesk_core::identity::sso::local_path;

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[handler]
fn login_form(state: Data<&AppState>, poem::web::Query(q): poem::web::Query<NextQuery>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "login",
        login_context(&state, json!({ "next": local_path(q.next.as_deref()) })),
    )
}

/// The log-in page's context: the form's values and the single sign-on buttons.
fn login_context(state: &AppState, ctx: Value) -> Value {
    merge(ctx, json!({ "sso_providers": super::sso_providers(state) }))
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
        Err(e) => error_page(&state, "login", login_context(&state, json!({})), &e),
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
        Ok(sso::Outcome::Linked { .. }) => redirect("/profile?notice=identity_linked"),
        Err(e) => error_page(&state, "login", login_context(&state, json!({})), &e),
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
            "login",
            login_context(&state, json!({ "email": form.email, "next": next })),
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

#[handler]
fn register_start_form(state: Data<&AppState>) -> Response {
    page(&state, StatusCode::OK, "register_start", json!({}))
}

#[derive(Deserialize)]
struct StartForm {
    email: String,
    #[serde(default)]
    language: Option<String>,
}

#[handler]
async fn register_start(state: Data<&AppState>, Form(form): Form<StartForm>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = registrations::start(&mut conn, &state.ctx, &form.email, form.language.as_deref()).await;
    drop(conn);
    match result {
        Ok(()) => page(&state, StatusCode::OK, "register_sent", json!({ "email": form.email })),
        Err(e) => error_page(&state, "register_start", json!({ "email": form.email }), &e),
    }
}

#[handler]
async fn register_form(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = registrations::inspect(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(r) => page(
            &state,
            StatusCode::OK,
            "register_form",
            json!({ "email": r.email, "form": {} }),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Registration link" }), &e),
    }
}

#[derive(Deserialize, serde::Serialize)]
struct CompleteForm {
    first_name: String,
    last_name: String,
    password: String,
    company: String,
    #[serde(default)]
    website: Option<String>,
    country: String,
    #[serde(default)]
    expected_customers: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[handler]
async fn register_complete(
    state: Data<&AppState>,
    Path(token): Path<String>,
    Form(form): Form<CompleteForm>,
) -> Response {
    let expected = form
        .expected_customers
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>());
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let email = registrations::inspect(&mut conn, &state.ctx, &token)
        .await
        .map(|r| r.email)
        .unwrap_or_default();
    let mut shown = serde_json::to_value(&form).unwrap_or_default();
    shown["password"] = json!("");
    let expected = match expected {
        Some(Err(_)) => {
            return page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "register_form",
                json!({ "email": email, "form": shown, "error": "Please correct the marked fields.",
                        "field_errors": { "expected_customers": "Enter a whole number" } }),
            );
        }
        Some(Ok(n)) => Some(n),
        None => None,
    };
    let input = registrations::CompleteInput {
        first_name: form.first_name,
        last_name: form.last_name,
        password: form.password,
        company: form.company,
        website: form.website,
        country: form.country,
        expected_customers: expected,
        message: form.message,
    };
    drop(conn);
    match registrations::complete(&state.pool, &state.ctx, &token, input).await {
        Ok(done) => page(
            &state,
            StatusCode::OK,
            "register_done",
            json!({ "company": done.organization.name, "email": done.user.email }),
        ),
        Err(e @ CoreError::Gone { .. }) => page(
            &state,
            StatusCode::GONE,
            "message",
            merge(json!({ "title": "Registration link" }), error_context(&e)),
        ),
        Err(e) => error_page(&state, "register_form", json!({ "email": email, "form": shown }), &e),
    }
}

#[handler]
async fn password_form(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = password_links::inspect_password_link(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(info) => page(
            &state,
            StatusCode::OK,
            "password_form",
            json!({ "email": info.email, "first_name": info.first_name }),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Set your password" }), &e),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

#[handler]
async fn password_set(state: Data<&AppState>, Path(token): Path<String>, Form(form): Form<PasswordForm>) -> Response {
    let result = password_links::set_password_with_link(&state.pool, &state.ctx, &token, &form.password).await;
    match result {
        Ok(user) => page(
            &state,
            StatusCode::OK,
            "message",
            json!({ "title": "Password set", "message": format!("Your password is set. Log in with {}.", user.email), "login": true }),
        ),
        Err(e @ CoreError::Validation(_)) => page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_form",
            error_context(&e),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Set your password" }), &e),
    }
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
        Ok(mails) => page(&state, StatusCode::OK, "mailbox", json!({ "mails": mails })),
        Err(e) => error_page(&state, "message", json!({ "title": "Mailbox" }), &e),
    }
}

/// The person the browser is logged in as, if any.
async fn caller(state: &AppState, req: &Request) -> Option<uuid::Uuid> {
    auth::principal_from(req, state).await.ok().flatten().map(|p| p.user_id)
}

#[handler]
async fn customer_form(state: Data<&AppState>, req: &Request, Path(token): Path<String>) -> Response {
    let logged_in = caller(&state, req).await.is_some();
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = invitations::inspect(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(p) => page(
            &state,
            StatusCode::OK,
            "customer_register",
            json!({
                "email": p.email, "partner": p.partner_name, "form": { "company_name": p.company_name },
                "has_account": p.has_account, "logged_in": logged_in, "next": req.uri().path(),
            }),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Invitation" }), &e),
    }
}

#[derive(Deserialize, serde::Serialize)]
struct AcceptForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    password: String,
    company_name: String,
    #[serde(default)]
    country: Option<String>,
}

#[handler]
async fn customer_accept(
    state: Data<&AppState>,
    req: &Request,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let user = caller(&state, req).await;
    let preview = match state.conn().await {
        Ok(mut conn) => invitations::inspect(&mut conn, &state.ctx, &token).await,
        Err(_) => return unavailable(&state),
    };
    let mut shown = serde_json::to_value(&form).unwrap_or_default();
    shown["password"] = json!("");
    let input = invitations::AcceptInput {
        first_name: form.first_name,
        last_name: form.last_name,
        password: form.password,
        company_name: Some(form.company_name),
        country: form.country.filter(|c| !c.trim().is_empty()),
    };
    match invitations::accept(&state.pool, &state.ctx, &token, user, input).await {
        Ok(done) => page(
            &state,
            StatusCode::OK,
            "message",
            json!({ "title": "Welcome", "message": format!("{} has been created. You can log in now.", done.organization.name), "login": true }),
        ),
        Err(e @ CoreError::Gone { .. }) => page(
            &state,
            StatusCode::GONE,
            "message",
            merge(json!({ "title": "Invitation" }), error_context(&e)),
        ),
        Err(e) => {
            let (email, partner, has_account) = preview
                .map(|p| (p.email, p.partner_name, p.has_account))
                .unwrap_or_default();
            let ctx = json!({
                "email": email, "partner": partner, "form": shown, "has_account": has_account,
                "logged_in": user.is_some(), "next": req.uri().path(),
            });
            error_page(&state, "customer_register", ctx, &e)
        }
    }
}

fn payment_context(p: &orders::PaymentPage) -> Value {
    json!({
        "customer": p.customer,
        "order_number": p.order_number,
        "number": p.invoice.number,
        "status": p.invoice.status,
        "currency": p.invoice.currency,
        "amount": fixed2(p.invoice.amount),
        "due_on": p.invoice.due_at.format("%Y-%m-%d").to_string(),
        "paid_on": p.invoice.paid_at.map(|d| d.format("%Y-%m-%d").to_string()),
        "pays_online": p.pays_online,
        "lines": p.lines.iter().map(|l| json!({
            "description": l.description, "quantity": l.quantity, "unit_price": fixed2(l.unit_price), "amount": fixed2(l.amount),
            "period": format!("{} – {}", l.period_start, l.period_end),
        })).collect::<Vec<_>>(),
    })
}

#[handler]
async fn payment_page(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = orders::payment_page(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(p) => page(&state, StatusCode::OK, "invoice", payment_context(&p)),
        Err(e) => error_page(&state, "message", json!({ "title": "Invoice" }), &e),
    }
}

#[handler]
async fn payment_submit(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let paid = orders::pay(&mut conn, &state.ctx, &token).await;
    match (paid, orders::payment_page(&mut conn, &state.ctx, &token).await) {
        (Ok(_), Ok(p)) => page(
            &state,
            StatusCode::OK,
            "invoice",
            merge(payment_context(&p), json!({ "just_paid": true })),
        ),
        (Err(e), Ok(p)) => error_page(&state, "invoice", payment_context(&p), &e),
        (_, Err(e)) => error_page(&state, "message", json!({ "title": "Invoice" }), &e),
    }
}

#[derive(Deserialize)]
struct DownloadQuery {
    expires: i64,
    sig: String,
}

#[handler]
async fn download(
    state: Data<&AppState>,
    Path(release): Path<uuid::Uuid>,
    poem::web::Query(q): poem::web::Query<DownloadQuery>,
) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = releases::resolve_download(&mut conn, &state.ctx, release, q.expires, &q.sig).await;
    match result {
        Ok(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location)
            .finish(),
        Err(e) => error_page(&state, "message", json!({ "title": "Download" }), &e),
    }
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
    page(&state, StatusCode::OK, "signup", json!({ "form": {} }))
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
        Ok(()) => page(&state, StatusCode::OK, "register_sent", json!({ "email": form.email })),
        Err(e) => error_page(&state, "signup", json!({ "form": shown }), &e),
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
            "signup_confirm",
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

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

#[handler]
fn forgot_form(state: Data<&AppState>) -> Response {
    page(&state, StatusCode::OK, "password_forgot", json!({}))
}

#[handler]
async fn forgot(state: Data<&AppState>, Form(form): Form<ForgotForm>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match password_links::request_password_reset(&mut conn, &state.ctx, &form.email).await {
        Ok(()) => page(&state, StatusCode::OK, "register_sent", json!({ "email": form.email })),
        Err(e) => error_page(&state, "password_forgot", json!({ "email": form.email }), &e),
    }
}

#[handler]
async fn invitation_page(state: Data<&AppState>, req: &Request, Path(token): Path<String>) -> Response {
    let user = caller(&state, req).await;
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match memberships::inspect_link(&mut conn, &state.ctx, &token).await {
        Ok(p) => page(
            &state,
            StatusCode::OK,
            "invitation",
            json!({
                "organization": p.organization_name, "email": p.email,
                "logged_in": user.is_some(), "next": req.uri().path(),
            }),
        ),
        Err(e) => error_page(&state, "message", json!({ "title": "Invitation", "login": true }), &e),
    }
}

#[derive(Deserialize)]
struct AnswerForm {
    answer: String,
}

#[handler]
async fn invitation_answer(
    state: Data<&AppState>,
    req: &Request,
    Path(token): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let Some(user) = caller(&state, req).await else {
        return redirect(&format!("/login?next={}", req.uri().path()));
    };
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = match form.answer.as_str() {
        "accept" => memberships::accept_link(&mut conn, &state.ctx, user, &token)
            .await
            .map(|_| ()),
        _ => match memberships::inspect_link(&mut conn, &state.ctx, &token).await {
            Ok(p) if p.user_id == user => memberships::decline(&mut conn, &state.ctx, user, p.organization_id).await,
            Ok(_) => Err(CoreError::Forbidden {
                code: "invitation_for_another_account",
                message: "This invitation is for another account.".into(),
            }),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => redirect("/"),
        Err(e) => error_page(&state, "message", json!({ "title": "Invitation" }), &e),
    }
}

#[handler]
async fn membership_answer(
    state: Data<&AppState>,
    req: &Request,
    Path((org, answer)): Path<(uuid::Uuid, String)>,
) -> Response {
    let Some(user) = caller(&state, req).await else {
        return redirect("/login");
    };
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = match answer.as_str() {
        "accept" => memberships::accept(&mut conn, &state.ctx, user, org).await,
        "decline" => memberships::decline(&mut conn, &state.ctx, user, org).await,
        _ => Err(CoreError::not_found("page")),
    };
    match result {
        Ok(()) => redirect("/"),
        Err(e) => error_page(&state, "message", json!({ "title": "Invitation" }), &e),
    }
}

/// A partner's affiliate link: counts the visit, remembers the partner in the browser
/// for the attribution window, and lands the visitor (`AFFILIATE_LANDING_URL`). An
/// unknown or inactive code lands the visitor all the same, remembering nothing.
#[handler]
async fn affiliate_landing(state: Data<&AppState>, Path(code): Path<String>) -> poem::Result<Response> {
    let mut conn = super::db(&state).await?;
    let partner = partnerdesk_core::earnings::commissions::record_visit(&mut conn, &state.ctx, &code).await;
    let mut resp = redirect(&state.ctx.config.affiliate_landing);
    if let Ok(Some(_)) = partner {
        let cookie =
            crate::affiliate::remember(&state, &code.trim().to_ascii_uppercase(), state.ctx.now().date_naive());
        if let Ok(v) = cookie.parse() {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}
