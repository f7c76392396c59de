//! Memberships: a person's place in an organization, and the consent joining takes.
//!
//! An account is one person; organizations are tenants. The lifecycle:
//!
//! * **Added.** An organization adds an address (member invitation, add user, CSV
//!   import). An address with an account gets a *pending* membership and an e-mail with
//!   a link to accept it; a new address gets an account managed by the organization, a
//!   pending membership and a set-password link (setting the password accepts it). The
//!   organization is answered the same way in both cases.
//! * **Pending.** Grants nothing. The organization sees only the address it typed, and
//!   what it set itself (role, permissions, extension, profile).
//! * **Accepted.** Through the e-mailed link or in the portal (`/me`); from then on the
//!   membership counts for authorization, licences and the user overview.
//! * **Declined / left / removed.** The person declines a pending membership or leaves
//!   an accepted one (not as the last administrator); the organization may remove it.
//!
//! Every query that decides access reads accepted memberships only.

use std::collections::HashMap;

use crate::platform::db::sql_query;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl, QueryableByName,
    sql_types::{Array, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, Result,
    platform::audit::Who,
    platform::authz::{self, Permission, Role},
    platform::domain::{Email, Language},
    platform::ids::{OrgId, UserId},
    platform::links::Link,
    platform::mail::{EmailKind, Outgoing},
    platform::tokens,
    schema::{memberships as m, organizations as orgs, users},
};

/// Inserts an accepted membership (a person creating or registering an organization
/// themselves, or the demo seed).
pub(crate) async fn insert_active(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org_id: OrgId,
    user_id: UserId,
    role: Role,
    permissions: &[Permission],
    extension: Option<&str>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(m::table)
        .values((
            m::id.eq(id),
            m::organization_id.eq(org_id),
            m::user_id.eq(user_id),
            m::role.eq(role.as_str()),
            m::permissions.eq(authz::permission_names(permissions)),
            m::extension.eq(extension),
            m::accepted_at.eq(Some(now)),
            m::created_at.eq(now),
            m::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// A person an organization adds.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub email: Email,
    /// Names and language for a new account (an existing account keeps its own).
    pub first_name: String,
    pub last_name: String,
    pub language: Language,
    pub role: Role,
    pub permissions: Vec<Permission>,
    pub extension: Option<String>,
}

/// What adding one person created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    pub membership_id: Uuid,
    pub user_id: Uuid,
}

#[derive(QueryableByName)]
struct Existing {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    language: String,
}

/// Adds people to an organization as pending members, with one statement per table
/// whatever their number: accounts for new addresses (managed by the organization),
/// the memberships, set-password links, and the e-mails. The caller has checked that
/// none of them is a member yet and records the audit event.
pub(crate) async fn add_people(
    op: &mut Op<'_>,
    org_id: OrgId,
    invited_by: UserId,
    people: &[NewMember],
) -> Result<Vec<Added>> {
    let (ctx, now) = (op.ctx, op.now);
    let emails: Vec<String> = people.iter().map(|p| p.email.as_str().to_owned()).collect();
    let existing: HashMap<String, (Uuid, String)> =
        sql_query("SELECT id, email, language FROM users WHERE email = ANY($1)")
            .bind::<Array<Text>, _>(&emails)
            .load::<Existing>(op.conn)
            .await?
            .into_iter()
            .map(|e| (e.email, (e.id, e.language)))
            .collect();
    let invite_expires = now + Duration::from_std(ctx.config.invitation_ttl).unwrap_or(Duration::days(14));
    let password_expires = now + Duration::from_std(ctx.config.password_link_ttl).unwrap_or(Duration::hours(72));

    let mut added = Vec::with_capacity(people.len());
    let mut new_users = NewUsers::default();
    let mut rows = MembershipRows::default();
    let mut links = PasswordLinks::default();
    let mut outgoing = Vec::with_capacity(people.len());
    for p in people {
        let membership_id = Uuid::now_v7();
        let (user_id, token_hash, kind, lang) = match existing.get(p.email.as_str()) {
            Some((id, lang)) => (
                *id,
                Some(Link::MembershipInvitation.token_hash(ctx.secret(), membership_id, 1)),
                EmailKind::MembershipInvitation { membership_id },
                Language::from_db(lang),
            ),
            None => {
                let id = Uuid::now_v7();
                new_users.push(id, p);
                let link_id = Uuid::now_v7();
                links.push(link_id, id.into(), membership_id, ctx);
                (
                    id,
                    None,
                    EmailKind::MemberInvitation {
                        organization_id: org_id.into(),
                        password_link_id: link_id,
                    },
                    p.language,
                )
            }
        };
        rows.push(membership_id, user_id.into(), p, token_hash);
        outgoing.push(Outgoing {
            event_key: format!("membership.invited:{membership_id}"),
            recipient: p.email.clone(),
            lang,
            kind,
        });
        added.push(Added { membership_id, user_id });
    }
    new_users.insert(op.conn, org_id.into(), now).await?;
    rows.insert(op.conn, org_id, invited_by, now, invite_expires).await?;
    links.insert(op.conn, now, password_expires).await?;
    op.emails(outgoing).await?;
    Ok(added)
}

#[derive(Default)]
struct NewUsers {
    ids: Vec<Uuid>,
    emails: Vec<String>,
    first: Vec<String>,
    last: Vec<String>,
    langs: Vec<String>,
}

impl NewUsers {
    fn push(&mut self, id: Uuid, p: &NewMember) {
        self.ids.push(id);
        self.emails.push(p.email.as_str().to_owned());
        self.first.push(p.first_name.clone());
        self.last.push(p.last_name.clone());
        self.langs.push(p.language.as_str().to_owned());
    }

    async fn insert(&self, conn: &mut AsyncPgConnection, org_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sql_query(
            "INSERT INTO users (id, email, first_name, last_name, language, managed_by_organization_id, created_at, updated_at)
             SELECT id, email, first_name, last_name, language, $6, $7, $7
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(id, email, first_name, last_name, language)",
        )
        .bind::<Array<SqlUuid>, _>(&self.ids)
        .bind::<Array<Text>, _>(&self.emails)
        .bind::<Array<Text>, _>(&self.first)
        .bind::<Array<Text>, _>(&self.last)
        .bind::<Array<Text>, _>(&self.langs)
        .bind::<SqlUuid, _>(org_id)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct MembershipRows {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    roles: Vec<String>,
    permissions: Vec<String>,
    extensions: Vec<Option<String>>,
    emails: Vec<String>,
    token_hashes: Vec<Option<String>>,
}

impl MembershipRows {
    fn push(&mut self, id: Uuid, user: UserId, p: &NewMember, token_hash: Option<String>) {
        self.ids.push(id);
        self.users.push(user.into());
        self.roles.push(p.role.as_str().to_owned());
        self.permissions
            .push(p.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","));
        self.extensions.push(p.extension.clone());
        self.emails.push(p.email.as_str().to_owned());
        self.token_hashes.push(token_hash);
    }

    async fn insert(
        &self,
        conn: &mut AsyncPgConnection,
        org_id: OrgId,
        invited_by: UserId,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        sql_query(
            "INSERT INTO memberships (id, organization_id, user_id, role, permissions, extension, invited_email,
                                      invited_by, invite_token_hash, invite_expires_at, created_at, updated_at)
             SELECT id, $8, user_id, role, string_to_array(permissions, ','), extension, email, $9, token_hash, $10, $11, $11
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                  AS t(id, user_id, role, permissions, extension, email, token_hash)",
        )
        .bind::<Array<SqlUuid>, _>(&self.ids)
        .bind::<Array<SqlUuid>, _>(&self.users)
        .bind::<Array<Text>, _>(&self.roles)
        .bind::<Array<Text>, _>(&self.permissions)
        .bind::<Array<Nullable<Text>>, _>(&self.extensions)
        .bind::<Array<Text>, _>(&self.emails)
        .bind::<Array<Nullable<Text>>, _>(&self.token_hashes)
        .bind::<SqlUuid, _>(org_id)
        .bind::<SqlUuid, _>(invited_by)
        .bind::<Timestamptz, _>(expires)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct PasswordLinks {
    ids: Vec<Uuid>,
    users: Vec<Uuid>,
    memberships: Vec<Uuid>,
    hashes: Vec<String>,
}

impl PasswordLinks {
    fn push(&mut self, id: Uuid, user: UserId, membership: Uuid, ctx: &Ctx) {
        self.ids.push(id);
        self.users.push(user.into());
        self.memberships.push(membership);
        self.hashes.push(Link::Password.token_hash(ctx.secret(), id, 1));
    }

    async fn insert(&self, conn: &mut AsyncPgConnection, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sql_query(
            "INSERT INTO password_links (id, user_id, membership_id, token_hash, generation, purpose, expires_at, created_at)
             SELECT id, user_id, membership_id, token_hash, 1, 'invitation', $5, $6
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[]) AS t(id, user_id, membership_id, token_hash)",
        )
        .bind::<Array<SqlUuid>, _>(&self.ids)
        .bind::<Array<SqlUuid>, _>(&self.users)
        .bind::<Array<SqlUuid>, _>(&self.memberships)
        .bind::<Array<Text>, _>(&self.hashes)
        .bind::<Timestamptz, _>(expires)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The user's first (oldest) accepted, active membership.
pub async fn default_organization(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Option<Uuid>> {
    Ok(first_organization(conn, user_id, true).await?.map(|(org, _)| org))
}

/// The user's first (oldest) accepted, active membership with whether that organization
/// requires single sign-on; without `sso`, organizations that require it come last.
pub async fn first_organization(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    sso: bool,
) -> Result<Option<(Uuid, bool)>> {
    let query = m::table
        .inner_join(orgs::table.on(orgs::id.eq(m::organization_id)))
        .filter(m::user_id.eq(user_id))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .select((m::organization_id, orgs::require_sso));
    Ok(if sso {
        query.order((m::created_at.asc(), m::id.asc())).first(conn).await
    } else {
        query
            .order((orgs::require_sso.asc(), m::created_at.asc(), m::id.asc()))
            .first(conn)
            .await
    }
    .optional()?)
}

/// Whether the user is an accepted, active member of the organization (`None` if not)
/// and whether it requires single sign-on: one query for both.
pub async fn standing(conn: &mut AsyncPgConnection, user_id: UserId, org_id: OrgId) -> Result<Option<bool>> {
    let (user_id, org_id) = (user_id.uuid(), org_id.uuid());
    Ok(m::table
        .inner_join(orgs::table.on(orgs::id.eq(m::organization_id)))
        .filter(m::user_id.eq(user_id))
        .filter(m::organization_id.eq(org_id))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .select(orgs::require_sso)
        .first(conn)
        .await
        .optional()?)
}

/// The organization's accepted, active members with an active account, oldest first:
/// the people licences and trials can be given to.
pub(crate) async fn active_member_ids(conn: &mut AsyncPgConnection, org: Uuid) -> Result<Vec<Uuid>> {
    Ok(m::table
        .inner_join(users::table.on(users::id.eq(m::user_id)))
        .filter(m::organization_id.eq(org))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .filter(users::active.eq(true))
        .order((m::created_at.asc(), m::id.asc()))
        .select(m::user_id)
        .load(conn)
        .await?)
}

/// Active administrators of an organization: (user id, e-mail, language).
pub(crate) async fn administrators(conn: &mut AsyncPgConnection, org: Uuid) -> Result<Vec<(Uuid, String, String)>> {
    Ok(m::table
        .inner_join(users::table.on(users::id.eq(m::user_id)))
        .filter(m::organization_id.eq(org))
        .filter(m::role.eq(Role::Administrator.as_str()))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .filter(users::active.eq(true))
        .order(m::created_at.asc())
        .select((users::id, users::email, users::language))
        .load(conn)
        .await?)
}

/// Accepted, active administrators other than `except`.
pub(crate) async fn other_active_administrators(
    conn: &mut AsyncPgConnection,
    org_id: OrgId,
    except: UserId,
) -> Result<i64> {
    Ok(m::table
        .filter(m::organization_id.eq(org_id))
        .filter(m::user_id.ne(except))
        .filter(m::role.eq(Role::Administrator.as_str()))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .count()
        .get_result(conn)
        .await?)
}

pub(crate) fn last_administrator(field: &str) -> Error {
    Error::conflict(
        "last_administrator",
        Some(field),
        "An organization keeps at least one active administrator",
    )
}

/// A membership waiting for the person's answer, as the person sees it.
#[derive(Debug, Clone)]
pub struct PendingMembership {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub invited_at: DateTime<Utc>,
}

/// The invitations waiting for this person, oldest first.
pub async fn pending_for(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<PendingMembership>> {
    let rows: Vec<(Uuid, String, DateTime<Utc>)> = m::table
        .inner_join(orgs::table.on(orgs::id.eq(m::organization_id)))
        .filter(m::user_id.eq(user_id))
        .filter(m::accepted_at.is_null())
        .order((m::created_at.asc(), m::id.asc()))
        .select((orgs::id, orgs::name, m::created_at))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(organization_id, organization_name, invited_at)| PendingMembership {
            organization_id,
            organization_name,
            invited_at,
        })
        .collect())
}

/// Marks one pending membership accepted; returns whether it was pending.
pub(crate) async fn mark_accepted(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    membership_id: Uuid,
) -> Result<bool> {
    let n = diesel::update(m::table.find(membership_id).filter(m::accepted_at.is_null()))
        .set((
            m::accepted_at.eq(Some(now)),
            m::invite_token_hash.eq(None::<String>),
            m::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

fn no_invitation() -> Error {
    Error::not_found("invitation")
}

/// The person accepts a pending membership (in the portal).
pub async fn accept(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: UserId, org_id: OrgId) -> Result<()> {
    let (user_id, org_id) = (user_id.uuid(), org_id.uuid());
    op::run_as(conn, ctx, Who::user(user_id.into(), Some(org_id.into())), async |op| {
        let (id, accepted_at): (Uuid, Option<DateTime<Utc>>) = m::table
            .filter(m::organization_id.eq(org_id))
            .filter(m::user_id.eq(user_id))
            .select((m::id, m::accepted_at))
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or_else(no_invitation)?;
        if accepted_at.is_some() {
            return Ok(());
        }
        record_acceptance(op, id, user_id.into(), org_id.into(), "portal").await
    })
    .await
}

async fn record_acceptance(
    op: &mut Op<'_>,
    membership_id: Uuid,
    user_id: UserId,
    org_id: OrgId,
    through: &str,
) -> Result<()> {
    mark_accepted(op.conn, op.now, membership_id).await?;
    op.who = Who::user(user_id, Some(org_id));
    op.audit(Action::MembershipAccepted, membership_id, json!({ "through": through }))
        .await
}

/// What the invitation page shows.
#[derive(Debug, Clone)]
pub struct InvitationPreview {
    pub membership_id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub user_id: Uuid,
    /// The address the organization typed.
    pub email: String,
    pub expires_at: Option<DateTime<Utc>>,
}

type PreviewRow = (Uuid, Uuid, String, Uuid, Option<String>, Option<DateTime<Utc>>);

async fn open_link(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str, lock: bool) -> Result<InvitationPreview> {
    let query = m::table
        .inner_join(orgs::table.on(orgs::id.eq(m::organization_id)))
        .filter(m::invite_token_hash.eq(tokens::hash(token)))
        .filter(m::accepted_at.is_null())
        .select((
            m::id,
            orgs::id,
            orgs::name,
            m::user_id,
            m::invited_email,
            m::invite_expires_at,
        ));
    let row: Option<PreviewRow> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let Some((membership_id, organization_id, organization_name, user_id, email, expires_at)) = row else {
        return Err(Error::gone(
            "link_invalid",
            "This invitation link is not valid any more. Log in to see your invitations.",
        ));
    };
    if expires_at.is_some_and(|e| e <= ctx.now()) {
        return Err(Error::gone(
            "link_expired",
            "This invitation link has expired. Log in to see your invitations.",
        ));
    }
    Ok(InvitationPreview {
        membership_id,
        organization_id,
        organization_name,
        user_id,
        email: email.unwrap_or_default(),
        expires_at,
    })
}

/// The invitation behind an e-mailed link.
pub async fn inspect_link(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<InvitationPreview> {
    open_link(conn, ctx, token, false).await
}

/// The person, logged in, accepts through the e-mailed link. The link is only for the
/// account it was sent to.
pub async fn accept_link(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: Uuid, token: &str) -> Result<Uuid> {
    op::run_as(conn, ctx, Who::user(user_id.into(), None), async |op| {
        let preview = open_link(op.conn, ctx, token, true).await?;
        if preview.user_id != user_id {
            return Err(Error::Forbidden {
                code: "invitation_for_another_account",
                message: "This invitation is for another account. Log in with the address it was sent to.".into(),
            });
        }
        record_acceptance(
            op,
            preview.membership_id,
            user_id.into(),
            preview.organization_id.into(),
            "link",
        )
        .await?;
        Ok(preview.organization_id)
    })
    .await
}

/// The person declines a pending membership; the organization may invite again.
pub async fn decline(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: UserId, org_id: OrgId) -> Result<()> {
    let (user_id, org_id) = (user_id.uuid(), org_id.uuid());
    op::run_as(conn, ctx, Who::person(user_id.into(), org_id.into()), async |op| {
        let id: Uuid = diesel::delete(
            m::table
                .filter(m::organization_id.eq(org_id))
                .filter(m::user_id.eq(user_id))
                .filter(m::accepted_at.is_null()),
        )
        .returning(m::id)
        .get_result(op.conn)
        .await
        .optional()?
        .ok_or_else(no_invitation)?;
        op.audit(Action::MembershipDeclined, id, json!({})).await
    })
    .await
}

/// The person leaves an organization (not as its last administrator).
pub async fn leave(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: UserId, org_id: OrgId) -> Result<()> {
    let (user_id, org_id) = (user_id.uuid(), org_id.uuid());
    op::run_as(conn, ctx, Who::person(user_id.into(), org_id.into()), async |op| {
        let (id, role): (Uuid, String) = m::table
            .filter(m::organization_id.eq(org_id))
            .filter(m::user_id.eq(user_id))
            .filter(m::accepted_at.is_not_null())
            .select((m::id, m::role))
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("membership"))?;
        if role == Role::Administrator.as_str()
            && other_active_administrators(op.conn, org_id.into(), user_id.into()).await? == 0
        {
            return Err(last_administrator("organization_id"));
        }
        diesel::delete(m::table.find(id)).execute(op.conn).await?;
        op.audit(Action::MembershipLeft, id, json!({ "role": role })).await
    })
    .await
}

// ---------------------------------------------------------------------------------
// E-mails about joining an organization

use crate::{platform::config::Config, platform::domain::format_time};

/// A new address: set a password (which accepts the membership).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberInvitationEmail {
    pub organization: String,
    pub first_name: String,
    pub link: String,
    pub expires_at: String,
}

impl MemberInvitationEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        config: &Config,
        organization_id: OrgId,
        password_link_id: Uuid,
    ) -> Result<Option<Self>> {
        use crate::schema::password_links as pl;
        let organization: Option<String> = orgs::table
            .find(organization_id)
            .select(orgs::name)
            .first(conn)
            .await
            .optional()?;
        let link: Option<(i32, DateTime<Utc>, String)> = pl::table
            .inner_join(users::table.on(users::id.eq(pl::user_id)))
            .filter(pl::id.eq(password_link_id))
            .select((pl::generation, pl::expires_at, users::first_name))
            .first(conn)
            .await
            .optional()?;
        Ok(match (organization, link) {
            (Some(organization), Some((generation, expires_at, first_name))) => Some(MemberInvitationEmail {
                organization,
                first_name,
                link: Link::Password.url(config, password_link_id, generation),
                expires_at: format_time(expires_at),
            }),
            _ => None,
        })
    }
}

/// An address with an account: accept or decline joining.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MembershipInvitationEmail {
    pub organization: String,
    pub first_name: String,
    /// Who invited, or empty.
    pub inviter: String,
    pub link: String,
    pub expires_at: String,
}

impl MembershipInvitationEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, membership_id: Uuid) -> Result<Option<Self>> {
        type Row = (String, String, Option<Uuid>, i32, Option<DateTime<Utc>>);
        let row: Option<Row> = m::table
            .inner_join(orgs::table.on(orgs::id.eq(m::organization_id)))
            .inner_join(users::table.on(users::id.eq(m::user_id)))
            .filter(m::id.eq(membership_id))
            .filter(m::accepted_at.is_null())
            .select((
                orgs::name,
                users::first_name,
                m::invited_by,
                m::invite_generation,
                m::invite_expires_at,
            ))
            .first(conn)
            .await
            .optional()?;
        let Some((organization, first_name, invited_by, generation, expires_at)) = row else {
            return Ok(None);
        };
        let inviter = match invited_by {
            Some(id) => users::table
                .find(id)
                .select((users::first_name, users::last_name))
                .first::<(String, String)>(conn)
                .await
                .optional()?
                .map(|(f, l)| format!("{f} {l}").trim().to_owned())
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some(MembershipInvitationEmail {
            organization,
            first_name,
            inviter,
            link: Link::MembershipInvitation.url(config, membership_id, generation),
            expires_at: expires_at.map(format_time).unwrap_or_default(),
        }))
    }
}
