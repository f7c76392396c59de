//! Becoming a partner: the public registration, a logged-in organization's request, and
//! the vendor's desk of requests to approve or reject.

use partnerdesk_core::{
    Error as CoreError, platform::values::PartnerRequestStatus, tenancy::partners, tenancy::partners::PartnerStatus,
    tenancy::partners::RequestInput, tenancy::registrations,
};
use poem::{Response, Route, get, handler, http::StatusCode, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::partners::{PartnerRequestForm, PartnerRequestView, PartnerView, partner_view};
use crate::pages::context::{Failed, Message, Shown, View, views, with};
use crate::pages::{
    NoticeQuery, db, desk::Desk, desk::ListQuery, error_page, form::Form, notice::Notice, notice::noticed, page,
    portal::Portal, reads, unavailable,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/register/partner", get(register_start_form).post(register_start))
        .at("/register/partner/:token", get(register_form).post(register_complete))
        .at("/partner-request", get(partner_request).post(submit_partner_request))
        .at("/vendor/requests", get(requests))
        .at("/vendor/requests/:id/approve", post(approve))
        .at("/vendor/requests/:id/reject", post(reject))
}

const REQUESTS: Desk = Desk {
    path: "/vendor/requests",
    template: "tenancy/vendor_requests",
};

/// The vendor's partner requests of one status (or `all`), and the statuses to choose from.
#[derive(Serialize)]
struct RequestsPage {
    status: &'static str,
    statuses: Vec<(&'static str, &'static str)>,
    requests: View<Vec<PartnerRequestView>>,
}

/// A partner request's status in plain words.
fn status_label(status: PartnerRequestStatus) -> &'static str {
    match status {
        PartnerRequestStatus::Open => "Open",
        PartnerRequestStatus::Approved => "Approved",
        PartnerRequestStatus::Rejected => "Rejected",
    }
}

/// Partner requests, read from the replica when there is one: open ones by default,
/// every one for `all`.
async fn requests_of(
    portal: &Portal,
    state: &AppState,
    status: Option<&str>,
) -> poem::Result<Result<RequestsPage, CoreError>> {
    let mut conn = reads(state).await?;
    let status = status.map_or(Some(PartnerRequestStatus::Open), PartnerRequestStatus::parse);
    Ok(partners::list_requests(&mut conn, &portal.actor, status)
        .await
        .map(|list| RequestsPage {
            status: status.map_or("all", |s| s.as_str()),
            statuses: PartnerRequestStatus::ALL
                .iter()
                .map(|s| (s.as_str(), status_label(*s)))
                .collect(),
            requests: views(list),
        }))
}

/// The address a registration link went to.
#[derive(Serialize)]
struct SentPage<'a> {
    email: &'a str,
}

#[handler]
fn register_start_form(state: Data<&AppState>) -> Response {
    page(&state, StatusCode::OK, "tenancy/register_start", ())
}

#[derive(Deserialize)]
struct StartForm {
    email: String,
    #[serde(default)]
    language: Option<String>,
}

#[handler]
async fn register_start(state: Data<&AppState>, poem::web::Form(form): poem::web::Form<StartForm>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = registrations::start(&mut conn, &state.ctx, &form.email, form.language.as_deref()).await;
    drop(conn);
    match result {
        Ok(()) => page(
            &state,
            StatusCode::OK,
            "tenancy/register_sent",
            SentPage { email: &form.email },
        ),
        Err(e) => error_page(&state, "tenancy/register_start", SentPage { email: &form.email }, &e),
    }
}

/// The partner registration form for the address the link went to: blank, or as typed.
#[derive(Serialize)]
struct RegisterFormPage<'a, F> {
    email: &'a str,
    form: F,
}

/// A form not filled in yet.
#[derive(Serialize)]
struct Blank {}

#[handler]
async fn register_form(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = registrations::inspect(&mut conn, &state.ctx, &token).await;
    match result {
        Ok(r) => {
            let ctx = RegisterFormPage {
                email: &r.email,
                form: Blank {},
            };
            page(&state, StatusCode::OK, "tenancy/register_form", ctx)
        }
        Err(e) => error_page(&state, "message", Message::titled("Registration link"), &e),
    }
}

/// The partner registration form; shown again (never the password) when refused.
#[derive(Deserialize, Serialize)]
struct CompleteForm {
    first_name: String,
    last_name: String,
    #[serde(skip_serializing)]
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
    poem::web::Form(form): poem::web::Form<CompleteForm>,
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
    let expected = match expected {
        Some(Err(_)) => {
            let ctx = RegisterFormPage {
                email: &email,
                form: &form,
            };
            let shown = Shown::field("expected_customers", "Enter a whole number");
            return page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "tenancy/register_form",
                with(ctx, shown),
            );
        }
        Some(Ok(n)) => Some(n),
        None => None,
    };
    let input = registrations::CompleteInput {
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        password: form.password.clone(),
        company: form.company.clone(),
        website: form.website.clone(),
        country: form.country.clone(),
        expected_customers: expected,
        message: form.message.clone(),
    };
    drop(conn);
    match registrations::complete(&state.pool, &state.ctx, &token, input).await {
        Ok(done) => {
            let ctx = RegisterDonePage {
                company: done.organization.name,
                email: done.user.email,
            };
            page(&state, StatusCode::OK, "tenancy/register_done", ctx)
        }
        Err(e @ CoreError::Gone { .. }) => page(
            &state,
            StatusCode::GONE,
            "message",
            with(Message::titled("Registration link"), Shown::of(&e)),
        ),
        Err(e) => {
            let ctx = RegisterFormPage {
                email: &email,
                form: &form,
            };
            error_page(&state, "tenancy/register_form", ctx, &e)
        }
    }
}

/// A registered partner's company and the address its log-in details went to.
#[derive(Serialize)]
struct RegisterDonePage {
    company: String,
    email: String,
}

/// Becoming a partner, as far as the organization got: the request form (prefilled, or
/// as typed when refused), the request waiting for the vendor, or its partner terms.
#[derive(Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
enum PartnerRequestPage<F> {
    Eligible { form: F },
    Requested { request: View<PartnerRequestView> },
    Partner { partner: View<PartnerView> },
}

#[handler]
async fn partner_request(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let ctx = match partners::status(&mut conn, &portal.actor).await {
        Ok(PartnerStatus::Eligible { prefill }) => PartnerRequestPage::Eligible {
            form: View(PartnerRequestForm::from(prefill)),
        },
        Ok(PartnerStatus::Requested(r)) => PartnerRequestPage::Requested {
            request: View(r.into()),
        },
        Ok(PartnerStatus::Partner(p)) => PartnerRequestPage::Partner {
            partner: View(partner_view(&state, p, None)),
        },
        Err(e) => return Ok(portal.failed(&state, "Become a partner", &e)),
    };
    Ok(portal.render_noticed(&state, "tenancy/partner_request", q.notice, ctx))
}

/// The become-a-partner form.
#[derive(Deserialize)]
struct SubmitPartnerRequestForm {
    expected_customers: Option<String>,
    #[serde(default)]
    company: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    website: Option<String>,
    #[serde(default)]
    country: String,
    message: Option<String>,
}

#[handler]
async fn submit_partner_request(
    portal: Portal,
    state: Data<&AppState>,
    form: Form<SubmitPartnerRequestForm>,
) -> poem::Result<Response> {
    let expected = form.fields.expected_customers.map(|e| e.parse::<i64>());
    let input = RequestInput {
        company: form.fields.company,
        contact_name: form.fields.contact_name,
        contact_email: form.fields.contact_email,
        website: form.fields.website,
        country: form.fields.country,
        expected_customers: expected.clone().and_then(Result::ok),
        message: form.fields.message,
    };
    let mut conn = db(&state).await?;
    let result = match expected {
        Some(Err(_)) => Err(CoreError::field(
            "expected_customers",
            "invalid",
            "Enter a whole number",
        )),
        _ => partners::submit_request(&mut conn, &state.ctx, &portal.actor, input).await,
    };
    Ok(match result {
        Ok(_) => noticed("/partner-request", Notice::PartnerRequested),
        Err(e) => portal.error(
            &state,
            "tenancy/partner_request",
            PartnerRequestPage::Eligible { form: &form.typed },
            &e,
        ),
    })
}

#[handler]
async fn requests(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = requests_of(&portal, &state, q.status.as_deref()).await?;
    Ok(REQUESTS.show(&portal, &state, q.notice, loaded))
}

/// Approving a partner request, at a default commission rate.
#[derive(Deserialize)]
struct ApproveForm {
    default_commission_rate: Option<String>,
}

#[handler]
async fn approve(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<ApproveForm>,
) -> poem::Result<Response> {
    let rate = form.fields.default_commission_rate;
    let result = partners::approve(&mut *db(&state).await?, &state.ctx, &portal.actor, id, rate.as_deref()).await;
    let shown = Failed { failed: id };
    REQUESTS
        .answer(&portal, &state, result, Notice::Approved, shown, || {
            requests_of(&portal, &state, None)
        })
        .await
}

/// Rejecting a partner request, with the reason.
#[derive(Deserialize)]
struct RejectForm {
    #[serde(default)]
    reason: String,
}

#[handler]
async fn reject(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<RejectForm>,
) -> poem::Result<Response> {
    let reason = form.fields.reason;
    let result = partners::reject(&mut *db(&state).await?, &state.ctx, &portal.actor, id, &reason).await;
    let shown = Failed { failed: id };
    REQUESTS
        .answer(&portal, &state, result, Notice::Rejected, shown, || {
            requests_of(&portal, &state, None)
        })
        .await
}
