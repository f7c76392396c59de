//! An organization's members: the list, inviting, roles and permissions, removing.

use chrono::{DateTime, Utc};
use partnerdesk_core::{
    platform::authz::{Permission, Role},
    tenancy::members::{self, InviteInput, Member, UpdateInput},
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, Created, NoContent};
use crate::{
    auth::Auth,
    body::Body,
    error::{ApiError, ApiResult},
    state::AppState,
};

#[derive(Default)]
pub struct MembersApi;

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

#[OpenApi(tag = "ApiTags::Organizations")]
impl MembersApi {
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
            id.0.into(),
            user_id.0.into(),
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
        members::remove(&mut conn, &state.ctx, &auth.actor, id.0.into(), user_id.0.into()).await?;
        Ok(NoContent::NoContent)
    }
}
