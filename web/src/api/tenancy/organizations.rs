//! Organizations, their members and their audit log.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::values::{CustomerOrigin, CustomerType, IntegrationKind};
use partnerdesk_core::{
    delegation::service_providers::{self, ServiceProvider},
    platform::audit::{self, AuditEntry},
    platform::authz::{Permission, Role},
    tenancy::integrations::{self, Integration, IntegrationInput},
    tenancy::members::{self, InviteInput, Member, UpdateInput},
    tenancy::organizations::{self, CreateOrganizationInput, DetailsInput, Organization},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::api::{ApiTags, Created, NoContent};
use crate::{
    AppState,
    auth::Auth,
    body::Body,
    error::{ApiError, ApiResult},
};

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

#[derive(Object, Debug)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// administrator or member.
    pub role: Role,
    /// Permissions given to a member; administrators hold everything their organization allows.
    pub permissions: Vec<Permission>,
    #[oai(nullable)]
    pub extension: Option<String>,
    pub active: bool,
    /// The person has not accepted the invitation yet: only the address you typed is
    /// shown, and the membership grants nothing.
    pub pending: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user_id: m.user_id,
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            role: m.role,
            permissions: m.permissions,
            extension: m.extension,
            active: m.active,
            pending: !m.accepted,
            created_at: m.created_at,
        }
    }
}

fn parse_role(raw: Option<&str>) -> Result<Option<Role>, ApiError> {
    match raw {
        None => Ok(None),
        Some(raw) => Role::parse(raw).map(Some).ok_or_else(|| {
            partnerdesk_core::Error::field(
                "role",
                "invalid_role",
                "Role must be administrator, company_admin or member",
            )
            .into()
        }),
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct InviteMemberRequest {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// administrator, company_admin or member (default).
    #[oai(nullable)]
    pub role: Option<String>,
    /// For members, e.g. `request_partner_status`, `manage_members`,
    /// `partner.manage_customers`, `partner.create_customers`, `partner.manage_portal`,
    /// `vendor.sales`, `vendor.finance`, `vendor.ops`.
    #[oai(default)]
    pub permissions: Vec<String>,
    /// Language of the invitation e-mail: en (default), nl or de.
    #[oai(nullable)]
    pub language: Option<String>,
}

impl Example for InviteMemberRequest {
    fn example() -> Self {
        InviteMemberRequest {
            email: "piet@northwind.example".into(),
            first_name: "Piet".into(),
            last_name: "de Vries".into(),
            role: Some("member".into()),
            permissions: vec!["partner.manage_customers".into()],
            language: Some("nl".into()),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct UpdateMemberRequest {
    /// administrator, company_admin or member.
    #[oai(nullable)]
    pub role: Option<String>,
    /// Replaces the member's permissions.
    #[oai(nullable)]
    pub permissions: Option<Vec<String>>,
    #[oai(nullable)]
    pub active: Option<bool>,
}

impl Example for UpdateMemberRequest {
    fn example() -> Self {
        UpdateMemberRequest {
            role: None,
            permissions: Some(vec!["partner.create_customers".into()]),
            active: None,
        }
    }
}

#[derive(Object, Debug)]
pub struct AuditEntryView {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// Who did it.
    #[oai(nullable)]
    pub actor_user_id: Option<Uuid>,
    /// The organization the actor acted as.
    #[oai(nullable)]
    pub acting_organization_id: Option<Uuid>,
    /// The organization the action was for.
    #[oai(nullable)]
    pub on_behalf_of_organization_id: Option<Uuid>,
    /// The partner user behind a "login as" session.
    #[oai(nullable)]
    pub impersonator_user_id: Option<Uuid>,
    /// The delegated session (management or "login as") it happened in.
    #[oai(nullable)]
    pub delegated_session_id: Option<Uuid>,
    /// What happened, e.g. `member.invited`.
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    /// The changed fields.
    pub changes: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        AuditEntryView {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_user_id: e.actor_user_id,
            acting_organization_id: e.acting_organization_id,
            on_behalf_of_organization_id: e.on_behalf_of_organization_id,
            impersonator_user_id: e.impersonator_user_id,
            delegated_session_id: e.delegated_session_id,
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            changes: e.changes,
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
        let org = organizations::create_own(&mut conn, &state.ctx, auth.principal.user_id, body.0.into()).await?;
        Ok(Created::Created(Json(org.into())))
    }

    /// Get an organization
    #[oai(operation_id = "getOrganization", path = "/organizations/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<OrganizationView>> {
        let mut conn = state.conn().await?;
        Ok(Json(organizations::get(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// List members
    ///
    /// Needs `manage_members` (administrators have it).
    #[oai(operation_id = "listMembers", path = "/organizations/:id/members", method = "get")]
    async fn list_members(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<MemberView>>> {
        let mut conn = state.read_conn().await?;
        let list = members::list(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Invite a member
    ///
    /// The membership is pending until the person accepts: a new address receives a
    /// link to set a password (which accepts), an address with an account a link to
    /// accept. Until then you see only the address you typed; the answer is the same
    /// either way. You can only give permissions you hold yourself; only administrators
    /// invite administrators or company administrators.
    #[oai(operation_id = "inviteMember", path = "/organizations/:id/members", method = "post")]
    async fn invite_member(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<InviteMemberRequest>,
    ) -> ApiResult<Created<MemberView>> {
        let b = body.0;
        let role = parse_role(b.role.as_deref())?;
        let mut conn = state.conn().await?;
        let member = members::invite(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            InviteInput {
                email: b.email,
                first_name: b.first_name,
                last_name: b.last_name,
                role,
                permissions: b.permissions,
                language: b.language,
            },
        )
        .await?;
        Ok(Created::Created(Json(member.into())))
    }

    /// Change a member's role, permissions or active flag
    ///
    /// An organization keeps at least one active administrator.
    #[oai(
        operation_id = "updateMember",
        path = "/organizations/:id/members/:user_id",
        method = "patch"
    )]
    async fn update_member(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Body<UpdateMemberRequest>,
    ) -> ApiResult<Json<MemberView>> {
        let b = body.0;
        let role = parse_role(b.role.as_deref())?;
        let mut conn = state.conn().await?;
        let member = members::update(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            user_id.0,
            UpdateInput {
                role,
                permissions: b.permissions,
                active: b.active,
            },
        )
        .await?;
        Ok(Json(member.into()))
    }

    /// Remove a member
    #[oai(
        operation_id = "removeMember",
        path = "/organizations/:id/members/:user_id",
        method = "delete"
    )]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        members::remove(&mut conn, &state.ctx, &auth.actor, id.0, user_id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Read the audit log
    ///
    /// Everything done by or on behalf of the organization, newest first: who, acting as
    /// which organization, for whom, what and when. Page with `before` (the last id seen).
    #[oai(operation_id = "listAuditEntries", path = "/organizations/:id/audit", method = "get")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        before: Query<Option<i64>>,
        #[oai(
            default = "crate::api::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<Vec<AuditEntryView>>> {
        let mut conn = state.read_conn().await?;
        let entries = audit::list_for_organization(&mut conn, &auth.actor, id.0, before.0, limit.0).await?;
        Ok(Json(entries.into_iter().map(Into::into).collect()))
    }
}

// ---------------------------------------------------------------------------------
// Company details and settings, service provider, integrations

pub struct CompanyApi;

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

#[derive(Object, Debug)]
pub struct ServiceProviderView {
    pub partner_id: Uuid,
    pub name: String,
    pub partner_code: String,
    #[oai(nullable)]
    pub country: Option<String>,
    #[oai(nullable)]
    pub website: Option<String>,
    /// invitation, created_by_partner or chosen_by_customer.
    pub origin: CustomerOrigin,
    pub since: DateTime<Utc>,
    /// What the partner may do inside your organization.
    pub granted_permissions: Vec<Permission>,
    /// When those permissions end (then the partner holds none of them); null: no end.
    #[oai(nullable)]
    pub grants_end_at: Option<DateTime<Utc>>,
}

impl From<ServiceProvider> for ServiceProviderView {
    fn from(s: ServiceProvider) -> Self {
        ServiceProviderView {
            partner_id: s.partner_id,
            name: s.name,
            partner_code: s.partner_code,
            country: s.country,
            website: s.website,
            origin: s.origin,
            since: s.since,
            granted_permissions: s.granted_permissions,
            grants_end_at: s.grants_end_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct ServiceProviderState {
    /// Absent when the organization has no service provider.
    #[oai(skip_serializing_if_is_none)]
    pub service_provider: Option<ServiceProviderView>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct ChooseServiceProviderRequest {
    /// The partner's public partner code.
    pub partner_code: String,
}

impl Example for ChooseServiceProviderRequest {
    fn example() -> Self {
        ChooseServiceProviderRequest {
            partner_code: "NORTHWND".into(),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct GrantsRequest {
    /// Any of edit_company_details, edit_company_settings, view_users, edit_users,
    /// create_users, import_users, manage_integrations, manage_licences, view_audit,
    /// edit_company_status (activate, deactivate, change the customer type),
    /// login_as_user (log in as one of your users, giving a reason).
    pub permissions: Vec<String>,
    /// When the permissions end (at most `GRANT_MAX_DAYS`, 730 by default, from now);
    /// omitted or null: no end.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Example for GrantsRequest {
    fn example() -> Self {
        GrantsRequest {
            permissions: vec!["view_users".into(), "create_users".into(), "edit_users".into()],
            ends_at: None,
        }
    }
}

#[derive(Object, Debug)]
pub struct IntegrationView {
    pub id: Uuid,
    /// phone_connector, crm or erp.
    pub kind: IntegrationKind,
    pub name: String,
    pub settings: serde_json::Value,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        IntegrationView {
            id: i.id,
            kind: i.kind,
            name: i.name,
            settings: i.settings,
            active: i.active,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct IntegrationRequest {
    /// phone_connector, crm or erp (required when creating).
    #[oai(nullable)]
    pub kind: Option<IntegrationKind>,
    /// Required when creating.
    #[oai(nullable)]
    pub name: Option<String>,
    /// Connector settings, a JSON object.
    #[oai(nullable)]
    pub settings: Option<serde_json::Value>,
    #[oai(nullable)]
    pub active: Option<bool>,
}

impl Example for IntegrationRequest {
    fn example() -> Self {
        IntegrationRequest {
            kind: Some(IntegrationKind::Crm),
            name: Some("HubSpot".into()),
            settings: Some(serde_json::json!({ "portal_id": "12345" })),
            active: Some(true),
        }
    }
}

impl From<IntegrationRequest> for IntegrationInput {
    fn from(b: IntegrationRequest) -> Self {
        IntegrationInput {
            kind: b.kind,
            name: b.name,
            settings: b.settings,
            active: b.active,
        }
    }
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl CompanyApi {
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

    /// My service provider
    #[oai(
        operation_id = "getServiceProvider",
        path = "/organizations/:id/service-provider",
        method = "get"
    )]
    async fn service_provider(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ServiceProviderState>> {
        let mut conn = state.conn().await?;
        let sp = service_providers::get(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(ServiceProviderState {
            service_provider: sp.map(Into::into),
        }))
    }

    /// Choose a service provider
    ///
    /// By the partner's public partner code. One service provider at a time: remove the
    /// current one first. Both sides are e-mailed. The partner may do nothing inside your
    /// organization until you grant it.
    #[oai(
        operation_id = "chooseServiceProvider",
        path = "/organizations/:id/service-provider",
        method = "put"
    )]
    async fn choose(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<ChooseServiceProviderRequest>,
    ) -> ApiResult<Json<ServiceProviderView>> {
        let mut conn = state.conn().await?;
        let sp = service_providers::choose(&mut conn, &state.ctx, &auth.actor, id.0, &body.0.partner_code).await?;
        Ok(Json(sp.into()))
    }

    /// Remove the service provider
    ///
    /// The partner can no longer act for you; both sides are e-mailed.
    #[oai(
        operation_id = "removeServiceProvider",
        path = "/organizations/:id/service-provider",
        method = "delete"
    )]
    async fn remove(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        service_providers::remove(&mut conn, &state.ctx, &auth.actor, id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Decide what the service provider may do
    #[oai(
        operation_id = "setServiceProviderGrants",
        path = "/organizations/:id/service-provider/grants",
        method = "put"
    )]
    async fn grants(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<GrantsRequest>,
    ) -> ApiResult<Json<ServiceProviderView>> {
        let mut conn = state.conn().await?;
        let sp = service_providers::set_grants(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            &body.0.permissions,
            body.0.ends_at,
        )
        .await?;
        Ok(Json(sp.into()))
    }

    /// List connectors and integrations
    #[oai(
        operation_id = "listIntegrations",
        path = "/organizations/:id/integrations",
        method = "get"
    )]
    async fn integrations(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<IntegrationView>>> {
        let mut conn = state.conn().await?;
        Ok(Json(
            integrations::list(&mut conn, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Add a connector or integration
    #[oai(
        operation_id = "addIntegration",
        path = "/organizations/:id/integrations",
        method = "post"
    )]
    async fn add_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<IntegrationRequest>,
    ) -> ApiResult<Created<IntegrationView>> {
        let mut conn = state.conn().await?;
        let i = integrations::create(&mut conn, &state.ctx, &auth.actor, id.0, body.0.into()).await?;
        Ok(Created::Created(Json(i.into())))
    }

    /// Change a connector or integration
    #[oai(
        operation_id = "updateIntegration",
        path = "/organizations/:id/integrations/:integration_id",
        method = "patch"
    )]
    async fn update_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        integration_id: Path<Uuid>,
        body: Body<IntegrationRequest>,
    ) -> ApiResult<Json<IntegrationView>> {
        let mut conn = state.conn().await?;
        let i = integrations::update(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            integration_id.0,
            body.0.into(),
        )
        .await?;
        Ok(Json(i.into()))
    }

    /// Remove a connector or integration
    #[oai(
        operation_id = "deleteIntegration",
        path = "/organizations/:id/integrations/:integration_id",
        method = "delete"
    )]
    async fn delete_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        integration_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        integrations::delete(&mut conn, &state.ctx, &auth.actor, id.0, integration_id.0).await?;
        Ok(NoContent::NoContent)
    }
}
