//! Organizations, their members and their audit log.

use chrono::{DateTime, Utc};
use partnerdesk_core::{
    audit::{self, AuditEntry},
    authz::Role,
    members::{self, InviteInput, Member, UpdateInput},
    organizations::{self, CreateOrganizationInput, Organization},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use super::{ApiTags, Created, NoContent};
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
    pub customer_type: String,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub language: String,
    pub contact_email: Option<String>,
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
    pub country: Option<String>,
    /// en (default), nl or de.
    pub language: Option<String>,
    pub website: Option<String>,
    /// From a partner's affiliate link: credits that partner with commission.
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

#[derive(Object, Debug)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// administrator or member.
    pub role: String,
    /// Permissions given to a member; administrators hold everything their organization allows.
    pub permissions: Vec<String>,
    pub extension: Option<String>,
    pub active: bool,
    /// False while an invited person has not set a password yet.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user_id: m.user_id,
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            role: m.role.as_str().into(),
            permissions: m.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            extension: m.extension,
            active: m.active,
            has_password: m.has_password,
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
    pub role: Option<String>,
    /// For members, e.g. `request_partner_status`, `manage_members`,
    /// `partner.manage_customers`, `partner.create_customers`, `partner.manage_portal`,
    /// `vendor.sales`, `vendor.finance`, `vendor.ops`.
    #[oai(default)]
    pub permissions: Vec<String>,
    /// Language of the invitation e-mail: en (default), nl or de.
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
    pub role: Option<String>,
    /// Replaces the member's permissions.
    pub permissions: Option<Vec<String>>,
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
    pub actor_user_id: Option<Uuid>,
    /// The organization the actor acted as.
    pub acting_organization_id: Option<Uuid>,
    /// The organization the action was for.
    pub on_behalf_of_organization_id: Option<Uuid>,
    /// The partner user behind a "login as" session.
    pub impersonator_user_id: Option<Uuid>,
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
    #[oai(path = "/organizations", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<CreateOrganizationRequest>,
    ) -> ApiResult<Created<OrganizationView>> {
        let mut conn = state.conn().await?;
        let b = body.0;
        let org = organizations::create_own(
            &mut conn,
            &state.ctx,
            auth.principal.user_id,
            CreateOrganizationInput {
                name: b.name,
                country: b.country,
                language: b.language,
                website: b.website,
                affiliate_code: b.affiliate_code,
            },
        )
        .await?;
        Ok(Created::Created(Json(org.into())))
    }

    /// Get an organization
    #[oai(path = "/organizations/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<OrganizationView>> {
        let mut conn = state.conn().await?;
        Ok(Json(organizations::get(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// List members
    ///
    /// Needs `manage_members` (administrators have it).
    #[oai(path = "/organizations/:id/members", method = "get")]
    async fn list_members(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<MemberView>>> {
        let mut conn = state.conn().await?;
        let list = members::list(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Invite a member
    ///
    /// A new person receives an e-mail with a link to set a password; someone with an
    /// account is added and told so. You can only give permissions you hold yourself.
    #[oai(path = "/organizations/:id/members", method = "post")]
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
    #[oai(path = "/organizations/:id/members/:user_id", method = "patch")]
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
    #[oai(path = "/organizations/:id/members/:user_id", method = "delete")]
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
    #[oai(path = "/organizations/:id/audit", method = "get")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        before: Query<Option<i64>>,
        #[oai(default = "default_limit")] limit: Query<i64>,
    ) -> ApiResult<Json<Vec<AuditEntryView>>> {
        let mut conn = state.conn().await?;
        let entries = audit::list_for_organization(&mut conn, &auth.actor, id.0, before.0, limit.0).await?;
        Ok(Json(entries.into_iter().map(Into::into).collect()))
    }
}

fn default_limit() -> i64 {
    50
}
