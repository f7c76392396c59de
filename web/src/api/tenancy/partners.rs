//! Partner status, partner requests and the sales team's decisions, partner terms.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::values::{PartnerRequestStatus, PartnerStanding};
use partnerdesk_core::{
    platform::money::Fixed2,
    tenancy::partners::{self, Partner, PartnerRequest, PartnerStatus, PartnerSummary, RequestInput},
};
use poem::web::Data;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::api::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct PartnersApi;

#[derive(Object, Debug)]
#[oai(example)]
pub struct PartnerRequestForm {
    pub company: String,
    pub contact_name: String,
    pub contact_email: String,
    #[oai(nullable)]
    pub website: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// How many customers you expect to serve.
    #[oai(nullable)]
    pub expected_customers: Option<i64>,
    #[oai(nullable)]
    pub message: Option<String>,
}

impl Example for PartnerRequestForm {
    fn example() -> Self {
        PartnerRequestForm {
            company: "Contoso Consulting".into(),
            contact_name: "Carla Ortiz".into(),
            contact_email: "carla@contoso.example".into(),
            website: Some("https://contoso.example".into()),
            country: "DE".into(),
            expected_customers: Some(25),
            message: Some("We resell to SMBs in Bavaria.".into()),
        }
    }
}

impl From<PartnerRequestForm> for RequestInput {
    fn from(b: PartnerRequestForm) -> Self {
        RequestInput {
            company: b.company,
            contact_name: b.contact_name,
            contact_email: b.contact_email,
            website: b.website,
            country: b.country,
            expected_customers: b.expected_customers,
            message: b.message,
        }
    }
}

impl From<RequestInput> for PartnerRequestForm {
    fn from(r: RequestInput) -> Self {
        PartnerRequestForm {
            company: r.company,
            contact_name: r.contact_name,
            contact_email: r.contact_email,
            website: r.website,
            country: r.country,
            expected_customers: r.expected_customers,
            message: r.message,
        }
    }
}

#[derive(Object, Debug)]
pub struct PartnerRequestView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub company: String,
    pub contact_name: String,
    pub contact_email: String,
    #[oai(nullable)]
    pub website: Option<String>,
    pub country: String,
    pub expected_customers: i32,
    #[oai(nullable)]
    pub message: Option<String>,
    /// open, approved or rejected.
    pub status: PartnerRequestStatus,
    #[oai(nullable)]
    pub decided_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<PartnerRequest> for PartnerRequestView {
    fn from(r: PartnerRequest) -> Self {
        PartnerRequestView {
            id: r.id,
            organization_id: r.organization_id,
            company: r.company,
            contact_name: r.contact_name,
            contact_email: r.contact_email,
            website: r.website,
            country: r.country,
            expected_customers: r.expected_customers,
            message: r.message,
            status: r.status,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            created_at: r.created_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct PartnerView {
    pub organization_id: Uuid,
    /// Organization name (in lists).
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// active or suspended.
    pub status: PartnerStanding,
    /// The public code a customer enters to choose this partner.
    pub partner_code: String,
    pub affiliate_code: String,
    pub affiliate_link: String,
    /// Percent, two decimals, e.g. "20.00".
    pub default_commission_rate: Fixed2,
    pub approved_at: DateTime<Utc>,
}

pub(crate) fn partner_view(state: &AppState, p: Partner, name: Option<String>) -> PartnerView {
    PartnerView {
        organization_id: p.organization_id,
        name,
        status: p.status,
        affiliate_link: partnerdesk_core::platform::links::affiliate(&state.ctx.config, &p.affiliate_code),
        partner_code: p.partner_code,
        affiliate_code: p.affiliate_code,
        default_commission_rate: Fixed2::from(p.default_commission_rate),
        approved_at: p.approved_at,
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum PartnerState {
    /// May request partner status; `prefill` holds what is known.
    Eligible,
    /// A request is waiting for the sales team.
    Requested,
    /// Already a partner.
    Partner,
}

#[derive(Object, Debug)]
pub struct PartnerStatusView {
    pub state: PartnerState,
    #[oai(skip_serializing_if_is_none)]
    pub prefill: Option<PartnerRequestForm>,
    #[oai(skip_serializing_if_is_none)]
    pub request: Option<PartnerRequestView>,
    #[oai(skip_serializing_if_is_none)]
    pub partner: Option<PartnerView>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct ApproveRequest {
    /// Percent with at most two decimals; defaults to DEFAULT_COMMISSION_RATE.
    #[oai(nullable)]
    pub default_commission_rate: Option<String>,
}

impl Example for ApproveRequest {
    fn example() -> Self {
        ApproveRequest {
            default_commission_rate: Some("22.50".into()),
        }
    }
}

#[derive(Object, Debug)]
pub struct ApprovalView {
    pub request: PartnerRequestView,
    pub partner: PartnerView,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct RejectRequest {
    /// Sent to the requester.
    pub reason: String,
}

impl Example for RejectRequest {
    fn example() -> Self {
        RejectRequest {
            reason: "We already have enough partners in your region.".into(),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct UpdatePartnerRequest {
    /// Percent with at most two decimals.
    #[oai(nullable)]
    pub default_commission_rate: Option<String>,
    /// active or suspended.
    #[oai(nullable)]
    pub status: Option<PartnerStanding>,
}

impl Example for UpdatePartnerRequest {
    fn example() -> Self {
        UpdatePartnerRequest {
            default_commission_rate: Some("25.00".into()),
            status: None,
        }
    }
}

#[OpenApi(tag = "ApiTags::Partners")]
impl PartnersApi {
    /// My partner status
    ///
    /// For the organization you act as: eligible (with a pre-filled form), requested, or
    /// partner. Refused with `no_organization` ("Your account does not yet have an
    /// organization") or `not_authorized` ("You do not have the necessary authorization to
    /// view this page") without the Administrator role or the "request partner status"
    /// permission.
    #[oai(operation_id = "getPartnerStatus", path = "/partner-status", method = "get")]
    async fn status(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<PartnerStatusView>> {
        let mut conn = state.conn().await?;
        let view = match partners::status(&mut conn, &auth.actor).await? {
            PartnerStatus::Eligible { prefill } => PartnerStatusView {
                state: PartnerState::Eligible,
                prefill: Some(prefill.into()),
                request: None,
                partner: None,
            },
            PartnerStatus::Requested(r) => PartnerStatusView {
                state: PartnerState::Requested,
                prefill: None,
                request: Some(r.into()),
                partner: None,
            },
            PartnerStatus::Partner(p) => PartnerStatusView {
                state: PartnerState::Partner,
                prefill: None,
                request: None,
                partner: Some(partner_view(&state, p, None)),
            },
        };
        Ok(Json(view))
    }

    /// Request partner status
    ///
    /// One open request per organization. The sales team decides; the contact is e-mailed
    /// now and when they do. Refusals as for GET /partner-status.
    #[oai(operation_id = "requestPartnerStatus", path = "/partner-requests", method = "post")]
    async fn submit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<PartnerRequestForm>,
    ) -> ApiResult<Created<PartnerRequestView>> {
        let mut conn = state.conn().await?;
        let request = partners::submit_request(&mut conn, &state.ctx, &auth.actor, body.0.into()).await?;
        Ok(Created::Created(Json(request.into())))
    }

    /// List partner requests (sales)
    #[oai(operation_id = "listPartnerRequests", path = "/partner-requests", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        status: Query<Option<PartnerRequestStatus>>,
    ) -> ApiResult<Json<Vec<PartnerRequestView>>> {
        let mut conn = state.read_conn().await?;
        let list = partners::list_requests(&mut conn, &auth.actor, status.0).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Get a partner request
    ///
    /// For the sales team, or for the organization that made it.
    #[oai(operation_id = "getPartnerRequest", path = "/partner-requests/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<PartnerRequestView>> {
        let mut conn = state.conn().await?;
        Ok(Json(partners::get_request(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// Approve a partner request (sales)
    ///
    /// Creates the partner with its commission rate, partner code and affiliate code, and
    /// e-mails the requester.
    #[oai(
        operation_id = "approvePartnerRequest",
        path = "/partner-requests/:id/approve",
        method = "post"
    )]
    async fn approve(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<ApproveRequest>,
    ) -> ApiResult<Json<ApprovalView>> {
        let mut conn = state.conn().await?;
        let (request, partner) = partners::approve(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            body.0.default_commission_rate.as_deref(),
        )
        .await?;
        Ok(Json(ApprovalView {
            request: request.into(),
            partner: partner_view(&state, partner, None),
        }))
    }

    /// Reject a partner request (sales)
    ///
    /// The reason is e-mailed to the requester.
    #[oai(
        operation_id = "rejectPartnerRequest",
        path = "/partner-requests/:id/reject",
        method = "post"
    )]
    async fn reject(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<RejectRequest>,
    ) -> ApiResult<Json<PartnerRequestView>> {
        let mut conn = state.conn().await?;
        let request = partners::reject(&mut conn, &state.ctx, &auth.actor, id.0, &body.0.reason).await?;
        Ok(Json(request.into()))
    }

    /// List partners (sales, finance)
    #[oai(operation_id = "listPartners", path = "/partners", method = "get")]
    async fn list_partners(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<PartnerView>>> {
        let mut conn = state.read_conn().await?;
        let list = partners::list_partners(&mut conn, &auth.actor).await?;
        Ok(Json(
            list.into_iter()
                .map(|PartnerSummary { partner, name, .. }| partner_view(&state, partner, Some(name)))
                .collect(),
        ))
    }

    /// Change a partner's commission terms or status (sales)
    #[oai(
        operation_id = "updatePartner",
        path = "/partners/:organization_id",
        method = "patch"
    )]
    async fn update_partner(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        organization_id: Path<Uuid>,
        body: Body<UpdatePartnerRequest>,
    ) -> ApiResult<Json<PartnerView>> {
        let mut conn = state.conn().await?;
        let partner = partners::update_terms(
            &mut conn,
            &state.ctx,
            &auth.actor,
            organization_id.0,
            body.0.default_commission_rate.as_deref(),
            body.0.status,
        )
        .await?;
        Ok(Json(partner_view(&state, partner, None)))
    }
}
