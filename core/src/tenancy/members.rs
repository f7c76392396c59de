//! Members of an organization, as its administrators manage them: the list, inviting,
//! roles and permissions, removing. The person's side (accepting, declining, leaving)
//! is in `memberships`.
//!
//! Rules: nobody changes their own role, permissions or status; only administrators
//! (for the vendor, vendor administrators) give or take the Administrator role or the
//! company-administrator flag, or change an administrator; nobody hands out a
//! permission they do not hold; an organization keeps an active administrator.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{self, Access, Actor, Permission, Role, Via},
    platform::domain::{Email, Language, required_text},
    platform::error::{Validator, validated},
    platform::ids::{OrgId, UserId},
    platform::mail,
    schema::{memberships as m, users},
    tenancy::memberships::{self, NewMember},
};

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Uuid,
    /// The person's address; for a pending member, the address the organization typed.
    pub email: String,
    /// Empty while the membership is pending.
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    /// Permissions given explicitly (administrators hold everything their organization allows).
    pub permissions: Vec<Permission>,
    pub extension: Option<String>,
    pub active: bool,
    /// False until the person accepted the membership.
    pub accepted: bool,
    pub created_at: DateTime<Utc>,
}

type MemberRow = (
    Uuid,
    String,
    Option<String>,
    String,
    String,
    String,
    Vec<Option<String>>,
    Option<String>,
    bool,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

fn to_member(row: MemberRow) -> Member {
    let (user_id, email, invited_email, first_name, last_name, role, perms, extension, active, accepted_at, created_at) =
        row;
    let accepted = accepted_at.is_some();
    Member {
        user_id,
        // Until the person accepts, the organization sees only what it typed itself.
        email: if accepted {
            email
        } else {
            invited_email.unwrap_or(email)
        },
        first_name: if accepted { first_name } else { String::new() },
        last_name: if accepted { last_name } else { String::new() },
        role: Role::from_db(&role),
        permissions: authz::parse_permissions(&perms),
        extension,
        active,
        accepted,
        created_at,
    }
}

async fn load(conn: &mut AsyncPgConnection, org_id: OrgId, user_id: Option<UserId>) -> Result<Vec<Member>> {
    let mut query = m::table
        .inner_join(users::table.on(users::id.eq(m::user_id)))
        .filter(m::organization_id.eq(org_id))
        .order((users::last_name.asc(), users::first_name.asc(), users::id.asc()))
        .select((
            users::id,
            users::email,
            m::invited_email,
            users::first_name,
            users::last_name,
            m::role,
            m::permissions,
            m::extension,
            m::active,
            m::accepted_at,
            m::created_at,
        ))
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(users::id.eq(user_id));
    }
    let rows: Vec<MemberRow> = query.load(conn).await?;
    Ok(rows.into_iter().map(to_member).collect())
}

async fn load_one(conn: &mut AsyncPgConnection, org_id: OrgId, user_id: UserId) -> Result<Member> {
    load(conn, org_id, Some(user_id))
        .await?
        .pop()
        .ok_or(Error::not_found("member"))
}

/// The members of an organization, pending ones included.
pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor, org_id: Uuid) -> Result<Vec<Member>> {
    op::read(conn, actor, org_id, Permission::ManageMembers, async |conn, access| {
        load(conn, access.org().into(), None).await
    })
    .await
}

/// Checks requested permission names: known, available in this organization, and
/// (unless the vendor acts) held by the person handing them out.
async fn check_permissions(
    conn: &mut AsyncPgConnection,
    access: &Access,
    org_id: Uuid,
    names: &[String],
    v: &mut Validator,
) -> Result<Vec<Permission>> {
    let kind = authz::org_kind(conn, org_id).await?;
    let available = authz::effective_permissions(Role::Administrator, &[], kind);
    let granter = if access.via() == Via::Own {
        authz::grants_in(conn, access.user_id().into(), access.acting_org().into()).await?
    } else {
        None
    };
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let field = format!("permissions[{i}]");
        match Permission::parse_grantable(name.trim()) {
            None => v.push(FieldError::new(
                field,
                "unknown_permission",
                format!("Unknown permission {name:?}"),
            )),
            Some(p) if !available.holds(p) => v.push(FieldError::new(
                field,
                "permission_not_available",
                format!("{name} is not available in this organization"),
            )),
            Some(p) if granter.as_ref().is_some_and(|g| !authz::may_grant(g, p)) => v.push(FieldError::new(
                field,
                "permission_not_held",
                format!("You cannot give {name}, which you do not hold yourself"),
            )),
            Some(p) => out.push(p),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn administrators_only() -> Error {
    Error::Forbidden {
        code: "not_authorized",
        message: "Only the organization's administrators can give or take the administrator role or the company administrator flag, or change an administrator".into(),
    }
}

fn not_yourself() -> Error {
    Error::Forbidden {
        code: "own_membership",
        message: "You cannot change your own role, permissions or status; ask another administrator".into(),
    }
}

/// Requires the right to assign roles (administrators; vendor administrators for the
/// vendor; a partner the customer granted "edit users").
pub(crate) async fn require_role_assignment(op: &mut op::Op<'_>, actor: &Actor, org_id: Uuid) -> Result<()> {
    op.authorize(actor, org_id, Permission::AssignRoles)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            Error::Forbidden { .. } => administrators_only(),
            other => other,
        })
}

fn is_elevated(role: Role) -> bool {
    matches!(role, Role::Administrator | Role::CompanyAdmin)
}

#[derive(Debug, Clone, Default)]
pub struct InviteInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Option<Role>,
    pub permissions: Vec<String>,
    pub language: Option<String>,
}

/// Invites a person into the organization. The membership is pending until the person
/// accepts (a new address: by setting a password through the e-mailed link); the answer
/// is the same whether or not the address has an account.
pub async fn invite(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    input: InviteInput,
) -> Result<Member> {
    op::run(conn, ctx, actor, org_id, Permission::ManageMembers, async |op| {
        let role = input.role.unwrap_or(Role::Member);
        if is_elevated(role) {
            require_role_assignment(op, actor, org_id).await?;
        }
        let mut v = Validator::new();
        let email = v.check(Email::parse(&input.email));
        let first_name = v.check(required_text("first_name", &input.first_name, 100));
        let last_name = v.check(required_text("last_name", &input.last_name, 100));
        let language = v.check(Language::parse(input.language.as_deref().unwrap_or("en")));
        let permissions = check_permissions(op.conn, &op.access()?, org_id, &input.permissions, &mut v).await?;
        v.finish()?;
        let person = NewMember {
            email: validated(email),
            first_name: validated(first_name),
            last_name: validated(last_name),
            language: validated(language),
            role,
            permissions: if role == Role::Administrator {
                Vec::new()
            } else {
                permissions
            },
            extension: None,
        };
        mail::check_address_rate(op.conn, ctx, &person.email).await?;
        let added =
            memberships::add_people(op, org_id.into(), actor.user_id.into(), std::slice::from_ref(&person)).await?;
        let user_id = added[0].user_id;
        op.audit(
            Action::MemberInvited,
            added[0].membership_id,
            json!({
                "email": person.email.as_str(),
                "role": role.as_str(),
                "permissions": authz::permission_names(&person.permissions),
            }),
        )
        .await?;
        load_one(op.conn, org_id.into(), user_id.into()).await
    })
    .await
}

#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    pub role: Option<Role>,
    pub permissions: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Changes a member's role, permissions or active flag.
pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: OrgId,
    user_id: UserId,
    input: UpdateInput,
) -> Result<Member> {
    let (org_id, user_id) = (org_id.uuid(), user_id.uuid());
    op::run(conn, ctx, actor, org_id, Permission::ManageMembers, async |op| {
        if user_id == actor.user_id {
            return Err(not_yourself());
        }
        let mut v = Validator::new();
        let permissions = match &input.permissions {
            Some(names) => Some(check_permissions(op.conn, &op.access()?, org_id, names, &mut v).await?),
            None => None,
        };
        v.finish()?;
        let current: (String, Vec<Option<String>>, bool) = m::table
            .filter(m::organization_id.eq(org_id))
            .filter(m::user_id.eq(user_id))
            .select((m::role, m::permissions, m::active))
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("member"))?;
        let (old_role, old_perms, old_active) = (
            Role::from_db(&current.0),
            authz::parse_permissions(&current.1),
            current.2,
        );
        let role = input.role.unwrap_or(old_role);
        let active = input.active.unwrap_or(old_active);
        let perms = permissions.clone().unwrap_or_else(|| old_perms.clone());
        if is_elevated(old_role) || is_elevated(role) {
            require_role_assignment(op, actor, org_id).await?;
        }
        let was_admin = old_role == Role::Administrator && old_active;
        let stays_admin = role == Role::Administrator && active;
        if was_admin
            && !stays_admin
            && memberships::other_active_administrators(op.conn, org_id.into(), user_id.into()).await? == 0
        {
            return Err(memberships::last_administrator("role"));
        }
        diesel::update(
            m::table
                .filter(m::organization_id.eq(org_id))
                .filter(m::user_id.eq(user_id)),
        )
        .set((
            m::role.eq(role.as_str()),
            m::permissions.eq(authz::permission_names(&perms)),
            m::active.eq(active),
            m::updated_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
        op.audit(
            Action::MemberUpdated,
            user_id,
            json!({
                "role": { "old": old_role.as_str(), "new": role.as_str() },
                "permissions": { "old": authz::permission_names(&old_perms), "new": authz::permission_names(&perms) },
                "active": { "old": old_active, "new": active },
            }),
        )
        .await?;
        load_one(op.conn, org_id.into(), user_id.into()).await
    })
    .await
}

/// Removes a member (pending or accepted) from the organization; the account remains.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: OrgId,
    user_id: UserId,
) -> Result<()> {
    let (org_id, user_id) = (org_id.uuid(), user_id.uuid());
    op::run(conn, ctx, actor, org_id, Permission::ManageMembers, async |op| {
        let (membership_id, role): (Uuid, String) = m::table
            .filter(m::organization_id.eq(org_id))
            .filter(m::user_id.eq(user_id))
            .select((m::id, m::role))
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("member"))?;
        let role = Role::from_db(&role);
        if is_elevated(role) && user_id != actor.user_id {
            require_role_assignment(op, actor, org_id).await?;
        }
        if role == Role::Administrator
            && memberships::other_active_administrators(op.conn, org_id.into(), user_id.into()).await? == 0
        {
            return Err(memberships::last_administrator("role"));
        }
        diesel::delete(m::table.find(membership_id)).execute(op.conn).await?;
        op.audit(
            Action::MemberRemoved,
            user_id,
            json!({ "role": role.as_str(), "membership_id": membership_id }),
        )
        .await
    })
    .await
}
