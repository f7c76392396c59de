//! Members of an organization: listed, invited and given permissions by an administrator.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Ctx, Error, FieldError, Result, accounts, audit,
    authz::{self, Access, Actor, Permission, Role, Via},
    domain::{Email, Language, required_text},
    error::{Validator, validated},
    mail::{self, EmailKind},
    organizations,
    schema::{memberships, users},
};

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    /// Permissions given explicitly (administrators hold everything their organization allows).
    pub permissions: Vec<Permission>,
    pub extension: Option<String>,
    pub active: bool,
    /// False until an invited member has set a password.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

type MemberRow = (
    Uuid,
    String,
    String,
    String,
    String,
    Vec<Option<String>>,
    Option<String>,
    bool,
    bool,
    DateTime<Utc>,
);

fn to_member(row: MemberRow) -> Member {
    let (user_id, email, first_name, last_name, role, perms, extension, active, has_password, created_at) = row;
    Member {
        user_id,
        email,
        first_name,
        last_name,
        role: Role::from_db(&role),
        permissions: authz::parse_permissions(&perms),
        extension,
        active,
        has_password,
        created_at,
    }
}

async fn load(conn: &mut AsyncPgConnection, org_id: Uuid, user_id: Option<Uuid>) -> Result<Vec<Member>> {
    let mut query = memberships::table
        .inner_join(users::table)
        .filter(memberships::organization_id.eq(org_id))
        .order((users::last_name.asc(), users::first_name.asc(), users::id.asc()))
        .select((
            users::id,
            users::email,
            users::first_name,
            users::last_name,
            memberships::role,
            memberships::permissions,
            memberships::extension,
            memberships::active,
            users::password_hash.is_not_null(),
            memberships::created_at,
        ))
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(users::id.eq(user_id));
    }
    let rows: Vec<MemberRow> = query.load(conn).await?;
    Ok(rows.into_iter().map(to_member).collect())
}

/// The members of an organization.
pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor, org_id: Uuid) -> Result<Vec<Member>> {
    authz::authorize(conn, actor, org_id, Permission::ManageMembers).await?;
    load(conn, org_id, None).await
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
    let granter = if access.via == Via::Own {
        authz::grants_in(conn, access.user_id, access.acting_org).await?
    } else {
        None
    };
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let field = format!("permissions[{i}]");
        match Permission::parse(name.trim()) {
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

#[derive(Debug, Clone, Default)]
pub struct InviteInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Option<Role>,
    pub permissions: Vec<String>,
    pub language: Option<String>,
}

/// Invites a person into the organization. A new person gets an account and a link to
/// set a password; someone who already has an account is added and told so.
pub async fn invite(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    input: InviteInput,
) -> Result<Member> {
    let access = authz::authorize(conn, actor, org_id, Permission::ManageMembers).await?;
    let mut v = Validator::new();
    let email = v.check(Email::parse(&input.email));
    let first_name = v.check(required_text("first_name", &input.first_name, 100));
    let last_name = v.check(required_text("last_name", &input.last_name, 100));
    let language = v.check(Language::parse(input.language.as_deref().unwrap_or("en")));
    let role = input.role.unwrap_or(Role::Member);
    let permissions = check_permissions(conn, &access, org_id, &input.permissions, &mut v).await?;
    v.finish()?;
    let (email, first_name, last_name, language) = (
        validated(email),
        validated(first_name),
        validated(last_name),
        validated(language),
    );
    let now = ctx.now();
    let permissions = if role == Role::Administrator {
        Vec::new()
    } else {
        permissions
    };

    conn.transaction(async |conn| {
        let existing = accounts::find_user_by_email(conn, &email).await?;
        let (user_id, kind) = match existing {
            Some(user) => {
                organizations::insert_membership(conn, now, org_id, user.id, role, &permissions, None).await?;
                (user.id, EmailKind::MemberAdded { organization_id: org_id, user_id: user.id })
            }
            None => {
                let user = accounts::insert_user(conn, now, &email, None, &first_name, &last_name, language).await?;
                organizations::insert_membership(conn, now, org_id, user.id, role, &permissions, None).await?;
                let link = accounts::create_password_link(conn, ctx, user.id, "invitation").await?;
                (user.id, EmailKind::MemberInvitation { organization_id: org_id, password_link_id: link })
            }
        };
        audit::record(
            conn,
            now,
            &access,
            "member.invited",
            "user",
            user_id,
            json!({ "email": email.as_str(), "role": role.as_str(), "permissions": authz::permission_names(&permissions) }),
        )
        .await?;
        mail::queue(conn, now, &format!("member.invited:{org_id}:{user_id}"), &email, language, kind).await?;
        let member = load(conn, org_id, Some(user_id)).await?.pop().ok_or(Error::not_found("member"))?;
        Ok(member)
    })
    .await
}

#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    pub role: Option<Role>,
    pub permissions: Option<Vec<String>>,
    pub active: Option<bool>,
}

async fn other_active_administrators(conn: &mut AsyncPgConnection, org_id: Uuid, except: Uuid) -> Result<i64> {
    Ok(memberships::table
        .filter(memberships::organization_id.eq(org_id))
        .filter(memberships::user_id.ne(except))
        .filter(memberships::role.eq("administrator"))
        .filter(memberships::active.eq(true))
        .count()
        .get_result(conn)
        .await?)
}

fn last_administrator() -> Error {
    Error::conflict(
        "last_administrator",
        Some("role"),
        "An organization keeps at least one active administrator",
    )
}

/// Changes a member's role, permissions or active flag.
pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    user_id: Uuid,
    input: UpdateInput,
) -> Result<Member> {
    let access = authz::authorize(conn, actor, org_id, Permission::ManageMembers).await?;
    let mut v = Validator::new();
    let permissions = match &input.permissions {
        Some(names) => Some(check_permissions(conn, &access, org_id, names, &mut v).await?),
        None => None,
    };
    v.finish()?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let current: (String, Vec<Option<String>>, bool) = memberships::table
            .filter(memberships::organization_id.eq(org_id))
            .filter(memberships::user_id.eq(user_id))
            .select((memberships::role, memberships::permissions, memberships::active))
            .for_update()
            .first(conn)
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
        let was_admin = old_role == Role::Administrator && old_active;
        let stays_admin = role == Role::Administrator && active;
        if was_admin && !stays_admin && other_active_administrators(conn, org_id, user_id).await? == 0 {
            return Err(last_administrator());
        }
        diesel::update(
            memberships::table
                .filter(memberships::organization_id.eq(org_id))
                .filter(memberships::user_id.eq(user_id)),
        )
        .set((
            memberships::role.eq(role.as_str()),
            memberships::permissions.eq(authz::permission_names(&perms)),
            memberships::active.eq(active),
            memberships::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
        audit::record(
            conn,
            now,
            &access,
            "member.updated",
            "user",
            user_id,
            json!({
                "role": { "old": old_role.as_str(), "new": role.as_str() },
                "permissions": { "old": authz::permission_names(&old_perms), "new": authz::permission_names(&perms) },
                "active": { "old": old_active, "new": active },
            }),
        )
        .await?;
        load(conn, org_id, Some(user_id))
            .await?
            .pop()
            .ok_or(Error::not_found("member"))
    })
    .await
}

/// Removes a member from the organization (the account remains).
pub async fn remove(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, org_id: Uuid, user_id: Uuid) -> Result<()> {
    let access = authz::authorize(conn, actor, org_id, Permission::ManageMembers).await?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let role: String = memberships::table
            .filter(memberships::organization_id.eq(org_id))
            .filter(memberships::user_id.eq(user_id))
            .select(memberships::role)
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(Error::not_found("member"))?;
        if role == "administrator" && other_active_administrators(conn, org_id, user_id).await? == 0 {
            return Err(last_administrator());
        }
        diesel::delete(
            memberships::table
                .filter(memberships::organization_id.eq(org_id))
                .filter(memberships::user_id.eq(user_id)),
        )
        .execute(conn)
        .await?;
        audit::record(
            conn,
            now,
            &access,
            "member.removed",
            "user",
            user_id,
            json!({ "role": role }),
        )
        .await
    })
    .await
}
