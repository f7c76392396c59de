//! Organizations: creating one, its details, its settings and its sign-in policy.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::values::CustomerType;
use partnerdesk_core::tenancy::organizations::{self, CreateOrganizationInput, DetailsInput, Organization};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct OrganizationsApi;

#[derive(Object, Debug)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    pub active: bool,
    /// CUSTOMER, PROSPECT, PARTNER, TEST or INTERNAL.
    pub customer_type: CustomerType,
    /// ISO 3166-1 alpha-2.
    #[oai(nullable)]
    pub country: Option<String>,
    pub language: String,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    #[oai(nullable)]
    pub website: Option<String>,
    /// The vendor running this Partnerdesk.
    pub is_vendor: bool,
    /// Never included in billing files (a partner's own account).
    pub billing_exempt: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        OrganizationView {
            id: o.id,
            name: o.name,
            active: o.active,
            customer_type: o.customer_type,
            country: o.country,
            language: o.language,
            contact_email: o.contact_email,
            website: o.website,
            is_vendor: o.is_vendor,
            billing_exempt: o.billing_exempt,
            created_at: o.created_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct CreateOrganizationRequest {
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. NL.
    #[oai(nullable)]
    pub country: Option<String>,
    /// en (default), nl or de.
    #[oai(nullable)]
    pub language: Option<String>,
    #[oai(nullable)]
    pub website: Option<String>,
    /// From a partner's affiliate link: credits that partner with commission.
    #[oai(nullable)]
    pub affiliate_code: Option<String>,
}

impl Example for CreateOrganizationRequest {
    fn example() -> Self {
        CreateOrganizationRequest {
            name: "Jansen Installatietechniek".into(),
            country: Some("NL".into()),
            language: Some("nl".into()),
            website: Some("https://jansen.example".into()),
            affiliate_code: None,
        }
    }
}

impl From<CreateOrganizationRequest> for CreateOrganizationInput {
    fn from(b: CreateOrganizationRequest) -> Self {
        CreateOrganizationInput {
            name: b.name,
            country: b.country,
            language: b.language,
            website: b.website,
            affiliate_code: b.affiliate_code,
            affiliate_visited_on: None,
        }
    }
}

#[derive(Object, Debug, Default)]
#[oai(example)]
pub struct UpdateOrganizationRequest {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub country: Option<String>,
    #[oai(nullable)]
    pub language: Option<String>,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    #[oai(nullable)]
    pub website: Option<String>,
}

impl Example for UpdateOrganizationRequest {
    fn example() -> Self {
        UpdateOrganizationRequest {
            name: Some("Jansen Installatietechniek B.V.".into()),
            ..Default::default()
        }
    }
}

impl From<UpdateOrganizationRequest> for DetailsInput {
    fn from(b: UpdateOrganizationRequest) -> Self {
        DetailsInput {
            name: b.name,
            country: b.country,
            language: b.language,
            contact_email: b.contact_email,
            website: b.website,
        }
    }
}

#[derive(Object, Debug)]
pub struct SettingsView {
    /// The installed software may update itself.
    pub allow_updates: bool,
    /// Beta versions are offered.
    pub allow_beta: bool,
    /// Members act for the organization only after signing in with single sign-on
    /// (changed with `setSignInPolicy`).
    pub require_sso: bool,
}

impl From<organizations::Organization> for SettingsView {
    fn from(org: organizations::Organization) -> Self {
        SettingsView {
            allow_updates: org.allow_updates,
            allow_beta: org.allow_beta,
            require_sso: org.require_sso,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct SignInPolicyRequest {
    /// Require single sign-on of every member.
    pub require_sso: bool,
}

impl Example for SignInPolicyRequest {
    fn example() -> Self {
        SignInPolicyRequest { require_sso: true }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct UpdateSettingsRequest {
    #[oai(nullable)]
    pub allow_updates: Option<bool>,
    #[oai(nullable)]
    pub allow_beta: Option<bool>,
}

impl Example for UpdateSettingsRequest {
    fn example() -> Self {
        UpdateSettingsRequest {
            allow_updates: Some(true),
            allow_beta: Some(false),
        }
    }
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl OrganizationsApi {
    /// Create an organization
    ///
    /// You become its administrator.
    #[oai(operation_id = "createOrganization", path = "/organizations", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<CreateOrganizationRequest>,
    ) -> ApiResult<Created<OrganizationView>> {
        let mut conn = state.conn().await?;
        let org = organizations::create_own(&mut conn, &state.ctx, auth.personal()?, body.0.into()).await?;
        Ok(Created::Created(Json(org.into())))
    }

    /// Get an organization
    #[oai(operation_id = "getOrganization", path = "/organizations/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<OrganizationView>> {
        let mut conn = state.conn().await?;
        Ok(Json(organizations::get(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// Change company details
    ///
    /// Not for company administrators: the organization's administrator, the partner
    /// with the customer's grant, or the vendor.
    #[oai(operation_id = "updateOrganization", path = "/organizations/:id", method = "patch")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<UpdateOrganizationRequest>,
    ) -> ApiResult<Json<OrganizationView>> {
        let mut conn = state.conn().await?;
        let org = organizations::update_details(&mut conn, &state.ctx, &auth.actor, id.0, body.0.into()).await?;
        Ok(Json(org.into()))
    }

    /// Get company settings
    #[oai(operation_id = "getSettings", path = "/organizations/:id/settings", method = "get")]
    async fn settings(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<SettingsView>> {
        let mut conn = state.conn().await?;
        let org = organizations::get(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(org.into()))
    }

    /// Change company settings
    ///
    /// Allow updates and allow beta versions. Not for company administrators.
    #[oai(
        operation_id = "updateSettings",
        path = "/organizations/:id/settings",
        method = "put"
    )]
    async fn update_settings(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<UpdateSettingsRequest>,
    ) -> ApiResult<Json<SettingsView>> {
        let mut conn = state.conn().await?;
        let org = organizations::update_settings(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            body.0.allow_updates,
            body.0.allow_beta,
        )
        .await?;
        Ok(Json(org.into()))
    }

    /// Require single sign-on
    ///
    /// Whether members act for the organization only in sessions opened with single
    /// sign-on: a password session is refused with `sso_required`. Only the
    /// organization's own administrators decide (`own_administrators_only` for anyone
    /// else, its service provider included), and switching it on needs a configured
    /// provider (`sso_not_configured`) and an identity linked to the administrator's own
    /// account (`sso_not_linked`), so that nobody locks themselves out. API tokens keep
    /// working.
    #[oai(
        operation_id = "setSignInPolicy",
        path = "/organizations/:id/sign-in-policy",
        method = "put"
    )]
    async fn set_sign_in_policy(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<SignInPolicyRequest>,
    ) -> ApiResult<Json<SettingsView>> {
        let mut conn = state.conn().await?;
        let org =
            organizations::set_sso_requirement(&mut conn, &state.ctx, &auth.actor, id.0, body.0.require_sso).await?;
        Ok(Json(org.into()))
    }
}
