//! Inviting customers by e-mail, and the public side of the registration link.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::values::{CustomerType, InvitationStatus};
use partnerdesk_core::{
    platform::money::Fixed2,
    tenancy::invitations::{self, AcceptInput, Invitation, InvitationInput},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::api::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct InvitationsApi;

#[derive(Object, Debug)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub company_name: String,
    #[oai(nullable)]
    pub contact_name: Option<String>,
    pub language: String,
    #[oai(nullable)]
    pub country: Option<String>,
    /// Percent, two decimals.
    pub commission_rate: Fixed2,
    #[oai(nullable)]
    pub debtor_number: Option<String>,
    pub customer_type: CustomerType,
    /// open, accepted, revoked or expired.
    pub status: InvitationStatus,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[oai(nullable)]
    pub accepted_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The customer's organization once accepted.
    #[oai(nullable)]
    pub organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub(crate) fn view(i: Invitation, now: DateTime<Utc>) -> InvitationView {
    InvitationView {
        status: i.status(now).to_owned(),
        id: i.id,
        email: i.email,
        company_name: i.company_name,
        contact_name: i.contact_name,
        language: i.language,
        country: i.country,
        commission_rate: Fixed2::from(i.commission_rate),
        debtor_number: i.debtor_number,
        customer_type: i.customer_type,
        sent_at: i.sent_at,
        expires_at: i.expires_at,
        accepted_at: i.accepted_at,
        revoked_at: i.revoked_at,
        organization_id: i.organization_id,
        created_at: i.created_at,
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct InviteCustomerRequest {
    pub email: String,
    pub company_name: String,
    #[oai(nullable)]
    pub contact_name: Option<String>,
    /// Language of the e-mail and the customer: en (default), nl or de.
    #[oai(nullable)]
    pub language: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[oai(nullable)]
    pub country: Option<String>,
    /// Percent; defaults to your default commission rate.
    #[oai(nullable)]
    pub commission_rate: Option<String>,
    #[oai(nullable)]
    pub debtor_number: Option<String>,
    /// CUSTOMER (default), PROSPECT, PARTNER, TEST or INTERNAL.
    #[oai(nullable)]
    pub customer_type: Option<String>,
}

impl Example for InviteCustomerRequest {
    fn example() -> Self {
        InviteCustomerRequest {
            email: "info@bakkerij-devries.example".into(),
            company_name: "Bakkerij de Vries".into(),
            contact_name: Some("Kees de Vries".into()),
            language: Some("nl".into()),
            country: Some("NL".into()),
            commission_rate: Some("12.50".into()),
            debtor_number: Some("D-1002".into()),
            customer_type: None,
        }
    }
}

impl From<InviteCustomerRequest> for InvitationInput {
    fn from(b: InviteCustomerRequest) -> Self {
        InvitationInput {
            email: b.email,
            company_name: b.company_name,
            contact_name: b.contact_name,
            language: b.language,
            country: b.country,
            commission_rate: b.commission_rate,
            debtor_number: b.debtor_number,
            customer_type: b.customer_type,
        }
    }
}

#[derive(Object, Debug)]
pub struct InvitationPreview {
    pub email: String,
    pub company_name: String,
    #[oai(nullable)]
    pub contact_name: Option<String>,
    pub language: String,
    /// The partner that invited you and will be your service provider.
    pub partner_name: String,
    pub expires_at: DateTime<Utc>,
    /// The address has an account: log in with it and register the company with it.
    pub has_account: bool,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct AcceptInvitationRequest {
    /// For a new account.
    #[oai(default)]
    pub first_name: String,
    /// For a new account.
    #[oai(default)]
    pub last_name: String,
    /// For a new account: at least 10 characters.
    #[oai(default)]
    pub password: String,
    /// Defaults to the company name in the invitation.
    #[oai(nullable)]
    pub company_name: Option<String>,
    #[oai(nullable)]
    pub country: Option<String>,
}

impl Example for AcceptInvitationRequest {
    fn example() -> Self {
        AcceptInvitationRequest {
            first_name: "Kees".into(),
            last_name: "de Vries".into(),
            password: "a long passphrase".into(),
            company_name: None,
            country: Some("NL".into()),
        }
    }
}

impl From<AcceptInvitationRequest> for AcceptInput {
    fn from(b: AcceptInvitationRequest) -> Self {
        AcceptInput {
            first_name: b.first_name,
            last_name: b.last_name,
            password: b.password,
            company_name: b.company_name,
            country: b.country,
        }
    }
}

#[derive(Object, Debug)]
pub struct AcceptedView {
    pub user_id: Uuid,
    pub organization_id: Uuid,
}

#[OpenApi(tag = "ApiTags::CustomerInvitations")]
impl InvitationsApi {
    /// List invitations
    ///
    /// Default: the open ones (sent, not yet registered). `status` may be open, accepted,
    /// revoked, expired or all.
    #[oai(
        operation_id = "listCustomerInvitations",
        path = "/customer-invitations",
        method = "get"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        status: Query<Option<String>>,
    ) -> ApiResult<Json<Vec<InvitationView>>> {
        let mut conn = state.read_conn().await?;
        let now = state.ctx.now();
        let list = invitations::list(&mut conn, &state.ctx, &auth.actor, status.0.as_deref()).await?;
        Ok(Json(list.into_iter().map(|i| view(i, now)).collect()))
    }

    /// Invite a customer ("Create organization")
    ///
    /// The customer receives an e-mail in its language with a registration link; who
    /// registers through it has you as service provider. Needs "create organizations for
    /// customers".
    #[oai(operation_id = "inviteCustomers", path = "/customer-invitations", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<InviteCustomerRequest>,
    ) -> ApiResult<Created<InvitationView>> {
        let mut conn = state.conn().await?;
        let invitation = invitations::create(&mut conn, &state.ctx, &auth.actor, body.0.into()).await?;
        Ok(Created::Created(Json(view(invitation, state.ctx.now()))))
    }

    /// Resend an invitation
    ///
    /// A new link with a new expiry; the previous link stops working.
    #[oai(
        operation_id = "resendCustomerInvitation",
        path = "/customer-invitations/:id/resend",
        method = "post"
    )]
    async fn resend(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<InvitationView>> {
        let mut conn = state.conn().await?;
        let invitation = invitations::resend(&mut conn, &state.ctx, &auth.actor, id.0).await?;
        Ok(Json(view(invitation, state.ctx.now())))
    }

    /// Revoke an invitation
    #[oai(
        operation_id = "revokeCustomerInvitation",
        path = "/customer-invitations/:id/revoke",
        method = "post"
    )]
    async fn revoke(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<InvitationView>> {
        let mut conn = state.conn().await?;
        let invitation = invitations::revoke(&mut conn, &state.ctx, &auth.actor, id.0).await?;
        Ok(Json(view(invitation, state.ctx.now())))
    }

    /// Check an invitation link
    ///
    /// `410` with `link_invalid`, `link_used`, `link_revoked` or `link_expired`.
    #[oai(
        operation_id = "getCustomerRegistration",
        path = "/customer-registrations/:token",
        method = "get"
    )]
    async fn inspect(&self, state: Data<&AppState>, token: Path<String>) -> ApiResult<Json<InvitationPreview>> {
        let mut conn = state.conn().await?;
        let p = invitations::inspect(&mut conn, &state.ctx, &token.0).await?;
        Ok(Json(InvitationPreview {
            email: p.email,
            company_name: p.company_name,
            contact_name: p.contact_name,
            language: p.language.as_str().into(),
            partner_name: p.partner_name,
            expires_at: p.expires_at,
            has_account: p.has_account,
        }))
    }

    /// Register through an invitation
    ///
    /// Creates your organization with you as its administrator; the inviting partner
    /// becomes your service provider. The link works once. When the invited address
    /// already has an account (`has_account` in the check), log in with it first (session
    /// cookie or bearer token) and send only the company fields; otherwise
    /// `log_in_first` (409). A new address sends names and a password.
    #[oai(
        operation_id = "acceptCustomerRegistration",
        path = "/customer-registrations/:token",
        method = "post"
    )]
    async fn accept(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        token: Path<String>,
        body: Body<AcceptInvitationRequest>,
    ) -> ApiResult<Created<AcceptedView>> {
        // Logged in as someone else, nobody registers as the person behind it.
        let caller = match crate::auth::principal_from(req, &state).await {
            Ok(Some(principal)) => Some(principal.personal().map_err(crate::error::ApiError::from)?),
            _ => None,
        };
        let done = invitations::accept(&state.pool, &state.ctx, &token.0, caller, body.0.into()).await?;
        Ok(Created::Created(Json(AcceptedView {
            user_id: done.user.id,
            organization_id: done.organization.id,
        })))
    }
}
