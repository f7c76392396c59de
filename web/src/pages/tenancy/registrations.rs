//! Becoming a partner: the public registration, a logged-in organization's request, and
//! the vendor's desk of requests to approve or reject.

use partnerdesk_core::{
    Error as CoreError, platform::values::PartnerRequestStatus, tenancy::partners, tenancy::partners::PartnerStatus,
    tenancy::partners::RequestInput, tenancy::registrations,
};
use poem::{Response, Route, get, handler, http::StatusCode, post, web::Data, web::Path, web::Query};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::{
    tenancy::partners::PartnerRequestForm, tenancy::partners::PartnerRequestView, tenancy::partners::partner_view,
};
use crate::pages::{
    NoticeQuery, db, desk::Desk, desk::ListQuery, error_context, error_page, form::Form, json_of, merge,
    notice::Notice, notice::noticed, page, portal::Portal, reads, unavailable,
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

/// Partner requests, read from the replica when there is one: open ones by default,
/// every one for `all`.
async fn requests_of(
    portal: &Portal,
    state: &AppState,
    status: Option<&str>,
) -> poem::Result<Result<Value, CoreError>> {
    let mut conn = reads(state).await?;
    let status = status.map_or(Some(PartnerRequestStatus::Open), PartnerRequestStatus::parse);
    Ok(partners::list_requests(&mut conn, &portal.actor, status)
        .await
        .map(|list| {
            json!({
                "status": status.map_or("all", |s| s.as_str()),
                "requests": list.into_iter().map(|r| json_of(PartnerRequestView::from(r))).collect::<Vec<_>>(),
            })
        }))
}

#[handler]
fn register_start_form(state: Data<&AppState>) -> Response {
    page(&state, StatusCode::OK, "tenancy/register_start", json!({}))
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
            json!({ "email": form.email }),
        ),
        Err(e) => error_page(&state, "tenancy/register_start", json!({ "email": form.email }), &e),
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
            "tenancy/register_form",
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
    let mut shown = serde_json::to_value(&form).unwrap_or_default();
    shown["password"] = json!("");
    let expected = match expected {
        Some(Err(_)) => {
            return page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "tenancy/register_form",
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
            "tenancy/register_done",
            json!({ "company": done.organization.name, "email": done.user.email }),
        ),
        Err(e @ CoreError::Gone { .. }) => page(
            &state,
            StatusCode::GONE,
            "message",
            merge(json!({ "title": "Registration link" }), error_context(&e)),
        ),
        Err(e) => error_page(
            &state,
            "tenancy/register_form",
            json!({ "email": email, "form": shown }),
            &e,
        ),
    }
}

#[handler]
async fn partner_request(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let ctx = match partners::status(&mut conn, &portal.actor).await {
        Ok(PartnerStatus::Eligible { prefill }) => {
            json!({ "state": "eligible", "form": json_of(PartnerRequestForm::from(prefill)) })
        }
        Ok(PartnerStatus::Requested(r)) => {
            json!({ "state": "requested", "request": json_of(PartnerRequestView::from(r)) })
        }
        Ok(PartnerStatus::Partner(p)) => {
            json!({ "state": "partner", "partner": json_of(partner_view(&state, p, None)) })
        }
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
            json!({ "state": "eligible", "form": form.typed.to_json() }),
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
    let shown = json!({ "failed": id });
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
    let shown = json!({ "failed": id });
    REQUESTS
        .answer(&portal, &state, result, Notice::Rejected, shown, || {
            requests_of(&portal, &state, None)
        })
        .await
}
