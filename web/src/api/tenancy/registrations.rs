//! Self-registration of a partner company: link by e-mail, form, confirmation.

use chrono::{DateTime, Utc};
use partnerdesk_core::tenancy::registrations::{self, CompleteInput};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{AcceptedResponse, ApiTags, Created};
use crate::{body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct RegistrationApi;

#[derive(Object, Debug)]
#[oai(example)]
pub struct StartRegistrationRequest {
    pub email: String,
    /// en (default), nl or de.
    #[oai(nullable)]
    pub language: Option<String>,
}

impl Example for StartRegistrationRequest {
    fn example() -> Self {
        StartRegistrationRequest {
            email: "info@fabrikam.example".into(),
            language: Some("en".into()),
        }
    }
}

#[derive(Object, Debug)]
pub struct RegistrationView {
    pub email: String,
    pub language: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct CompleteRegistrationRequest {
    pub first_name: String,
    pub last_name: String,
    /// At least 10 characters.
    pub password: String,
    pub company: String,
    #[oai(nullable)]
    pub website: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[oai(nullable)]
    pub expected_customers: Option<i64>,
    #[oai(nullable)]
    pub message: Option<String>,
}

impl Example for CompleteRegistrationRequest {
    fn example() -> Self {
        CompleteRegistrationRequest {
            first_name: "Frank".into(),
            last_name: "Bakker".into(),
            password: "a long passphrase".into(),
            company: "Fabrikam Networks".into(),
            website: Some("fabrikam.example".into()),
            country: "NL".into(),
            expected_customers: Some(40),
            message: None,
        }
    }
}

impl From<CompleteRegistrationRequest> for CompleteInput {
    fn from(b: CompleteRegistrationRequest) -> Self {
        CompleteInput {
            first_name: b.first_name,
            last_name: b.last_name,
            password: b.password,
            company: b.company,
            website: b.website,
            country: b.country,
            expected_customers: b.expected_customers,
            message: b.message,
        }
    }
}

#[derive(Object, Debug)]
pub struct CompletedRegistrationView {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    /// The partner request now waiting for the sales team.
    pub partner_request_id: Uuid,
}

#[OpenApi(tag = "ApiTags::PartnerRegistration")]
impl RegistrationApi {
    /// Register as a partner: send the confirmation link
    ///
    /// Always answers 202, whether or not the address is known.
    #[oai(
        operation_id = "startPartnerRegistration",
        path = "/partner-registrations",
        method = "post"
    )]
    async fn start(&self, state: Data<&AppState>, body: Body<StartRegistrationRequest>) -> ApiResult<AcceptedResponse> {
        let mut conn = state.conn().await?;
        registrations::start(&mut conn, &state.ctx, &body.0.email, body.0.language.as_deref()).await?;
        Ok(AcceptedResponse::accepted(
            "We sent you an e-mail with a link to complete the registration.",
        ))
    }

    /// Check a registration link
    ///
    /// `410` with `link_invalid`, `link_used` or `link_expired` when it cannot be used.
    #[oai(
        operation_id = "getPartnerRegistration",
        path = "/partner-registrations/:token",
        method = "get"
    )]
    async fn inspect(&self, state: Data<&AppState>, token: Path<String>) -> ApiResult<Json<RegistrationView>> {
        let mut conn = state.conn().await?;
        let r = registrations::inspect(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(RegistrationView {
            email: r.email,
            language: r.language.as_str().into(),
            expires_at: r.expires_at,
        }))
    }

    /// Complete the registration form
    ///
    /// Creates your account and organization and a partner request for the sales team,
    /// and sends a confirmation e-mail. The link works once.
    #[oai(
        operation_id = "completePartnerRegistration",
        path = "/partner-registrations/:token",
        method = "post"
    )]
    async fn complete(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
        body: Body<CompleteRegistrationRequest>,
    ) -> ApiResult<Created<CompletedRegistrationView>> {
        let done = registrations::complete(&state.pool, &state.ctx, &token.0, body.0.into()).await?;
        Ok(Created::Created(Json(CompletedRegistrationView {
            user_id: done.user.id,
            organization_id: done.organization.id,
            partner_request_id: done.request.id,
        })))
    }
}
