//! Accounts: the person behind a login (one account per person; names, language and
//! password belong to the person, what an organization sets for them lives on the
//! membership, see `tenancy::memberships`), looked up and created, and who is calling:
//! the principal a session or a token resolves to.

use chrono::{DateTime, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable, SelectableHelper,
    sql_types::{Array, Bool, Nullable, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    Ctx, Error, Result,
    platform::authz::{self, Actor, Delegation, DelegationKind, Permission, Role},
    platform::domain::{Email, Language},
    schema::{memberships as m, organizations, users},
    tenancy::memberships,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub language: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// Inserts the account of a person who proved their address (sign-up confirmation,
/// registration or invitation link); a taken address is a 409 on `email`.
pub(crate) async fn insert_user(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    email: &Email,
    password_hash: Option<String>,
    first_name: &str,
    last_name: &str,
    language: Language,
) -> Result<User> {
    let user = diesel::insert_into(users::table)
        .values((
            users::id.eq(Uuid::now_v7()),
            users::email.eq(email.as_str()),
            users::password_hash.eq(password_hash),
            users::first_name.eq(first_name),
            users::last_name.eq(last_name),
            users::language.eq(language.as_str()),
            users::email_verified_at.eq(Some(now)),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?;
    Ok(user)
}

pub async fn find_user_by_email(conn: &mut AsyncPgConnection, email: &Email) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email.as_str()))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// A person's first name (how e-mails greet them), if the account exists.
pub async fn first_name(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<String>> {
    Ok(users::table
        .find(id)
        .select(users::first_name)
        .first(conn)
        .await
        .optional()?)
}

pub async fn get_user(conn: &mut AsyncPgConnection, id: Uuid) -> Result<User> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("user"))
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session {
        id: Uuid,
        acting_org: Option<Uuid>,
        /// Opened with single sign-on, with an identity that satisfies organizations
        /// that require it (see `identity_links.counts_for_sso`).
        sso: bool,
    },
    /// An API token acts for the organization it was created in.
    Token { id: Uuid, organization_id: Option<Uuid> },
}

pub(crate) fn sso_required() -> Error {
    Error::Forbidden {
        code: "sso_required",
        message: "This organization requires single sign-on: log out and sign in with your organization's provider"
            .to_owned(),
    }
}

pub(crate) fn not_while_logged_in_as() -> Error {
    Error::Forbidden {
        code: "not_while_logged_in_as",
        message: "Not while logged in as another user: exit first".to_owned(),
    }
}

/// An authenticated user: always the real person, also inside a delegated session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub credential: Credential,
    /// The delegated session the request runs in (the portal session's, or the one an
    /// API client names in `X-Delegated-Session`), checked for this request.
    pub delegation: Option<Delegation>,
    /// The person's standing in `standing_for`, the organization the request asked for
    /// (else the session's choice, or the token's organization), read with the
    /// credential; `None` when not a member there.
    pub(crate) standing: Option<authz::Standing>,
    pub(crate) standing_for: Option<Uuid>,
}

/// The organization a person acts for: one whose standing is known, or the first of
/// theirs (with whether it requires single sign-on).
enum Acting {
    Member(authz::Standing),
    First(Option<(Uuid, bool)>),
}

impl Principal {
    /// Runs the request inside delegated session `id` of this person (API clients).
    pub async fn enter_delegation(&mut self, conn: &mut AsyncPgConnection, ctx: &Ctx, id: Uuid) -> Result<()> {
        self.delegation =
            Some(crate::delegation::sessions::resolve(conn, ctx.now(), self.user_id.into(), id.into()).await?);
        Ok(())
    }

    /// The person's own account, for what only they may see or change (profile,
    /// password, tokens, memberships): refused while logged in as someone else.
    pub fn personal(&self) -> Result<Uuid> {
        match &self.delegation {
            Some(d) if d.kind == DelegationKind::LoginAs => Err(not_while_logged_in_as()),
            _ => Ok(self.user_id),
        }
    }

    /// The actor for this request. A token acts for its own organization (a different
    /// `X-Organization` is refused). Otherwise `requested_org` (the X-Organization
    /// header) must be one of the user's organizations; without it the session's
    /// choice, else the user's first organization.
    pub async fn actor(&self, conn: &mut AsyncPgConnection, ctx: &Ctx, requested_org: Option<Uuid>) -> Result<Actor> {
        let now = ctx.now();
        if let Some(d) = &self.delegation {
            // A token made for one organization runs no session of another.
            if let Credential::Token {
                organization_id: Some(org),
                ..
            } = &self.credential
                && *org != d.partner_id
            {
                return Err(Error::forbidden());
            }
            // A partner that requires single sign-on delegates only from such sessions.
            if !self.sso_session()
                && self
                    .standing_in(conn, d.partner_id)
                    .await?
                    .is_some_and(|s| s.require_sso)
            {
                return Err(sso_required());
            }
            let actor = Actor::delegated(d.clone(), now);
            if requested_org.is_some_and(|r| Some(r) != actor.acting_org) {
                return Err(Error::forbidden());
            }
            return Ok(actor);
        }
        if let Credential::Token {
            organization_id: Some(org),
            ..
        } = &self.credential
        {
            if requested_org.is_some_and(|r| r != *org) {
                return Err(Error::forbidden());
            }
            return match self.standing_in(conn, *org).await? {
                Some(standing) => Ok(Actor::standing_in(self.user_id, &standing, now)),
                None => Err(Error::forbidden()),
            };
        }
        let (session_choice, sso) = match &self.credential {
            Credential::Session { acting_org, sso, .. } => (*acting_org, *sso),
            Credential::Token { .. } => (None, false),
        };
        let acting = match (requested_org, session_choice) {
            (Some(org), _) => match self.standing_in(conn, org).await? {
                Some(standing) => Acting::Member(standing),
                None => return Err(Error::forbidden()),
            },
            (None, Some(org)) => match self.standing_in(conn, org).await? {
                Some(standing) => Acting::Member(standing),
                None => Acting::First(memberships::first_organization(conn, self.user_id, sso).await?),
            },
            (None, None) => Acting::First(memberships::first_organization(conn, self.user_id, sso).await?),
        };
        // An organization that requires single sign-on is acted for only from a session
        // opened that way (or with a token made for it): asked for, anything else is
        // refused; chosen by default, the session acts for no organization (the person
        // can still sign in with a provider).
        let requires_sso = match &acting {
            Acting::Member(standing) => standing.require_sso,
            Acting::First(first) => first.is_some_and(|(_, require_sso)| require_sso),
        };
        if requires_sso && !self.sso_session() {
            if requested_org.is_some() {
                return Err(sso_required());
            }
            return Ok(Actor::new(self.user_id.into(), None, now));
        }
        Ok(match acting {
            Acting::Member(standing) => Actor::standing_in(self.user_id, &standing, now),
            Acting::First(first) => Actor::new(self.user_id.into(), first.map(|(org, _)| org.into()), now),
        })
    }

    /// The person's standing in `org`: the one read with the credential when it is
    /// about `org`, else read now.
    async fn standing_in(&self, conn: &mut AsyncPgConnection, org: Uuid) -> Result<Option<authz::Standing>> {
        if self.standing_for == Some(org) {
            return Ok(self.standing.clone());
        }
        authz::standing(conn, self.user_id.into(), org.into()).await
    }

    /// A portal session opened with single sign-on that satisfies organizations that
    /// require it.
    pub fn sso_session(&self) -> bool {
        matches!(self.credential, Credential::Session { sso: true, .. })
    }

    pub(crate) fn session_id(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Session { id, .. } => Some(id),
            Credential::Token { .. } => None,
        }
    }
}

/// One of the user's organizations with what the user may do there.
#[derive(Debug, Clone)]
pub struct MembershipSummary {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub role: Role,
    pub permissions: Vec<Permission>,
    /// The organization requires single sign-on of its members.
    pub require_sso: bool,
}

/// The organizations the user belongs to (accepted memberships).
pub async fn memberships_of(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<MembershipSummary>> {
    let rows: Vec<(Uuid, String, String, bool)> = m::table
        .inner_join(organizations::table)
        .filter(m::user_id.eq(user_id))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .order((m::created_at.asc(), m::id.asc()))
        .select((
            organizations::id,
            organizations::name,
            m::role,
            organizations::require_sso,
        ))
        .load(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (org_id, name, role, require_sso) in rows {
        let permissions = authz::grants_in(conn, user_id.into(), org_id.into())
            .await?
            .map(|g| g.to_vec())
            .unwrap_or_default();
        out.push(MembershipSummary {
            organization_id: org_id,
            organization_name: name,
            role: Role::from_db(&role),
            permissions,
            require_sso,
        });
    }
    Ok(out)
}

/// The member's standing in one organization, read beside a credential: `{user}` and
/// `{org}` are SQL expressions for the person and the organization wanted.
pub(crate) fn standing_joins(user: &str, org: &str) -> String {
    format!(
        "LEFT JOIN memberships m ON m.user_id = {user} AND m.organization_id = {org} \
            AND m.active AND m.accepted_at IS NOT NULL \
         LEFT JOIN organizations mo ON mo.id = m.organization_id \
         LEFT JOIN partners mp ON mp.organization_id = m.organization_id AND mp.status = 'active'"
    )
}

pub(crate) const STANDING_COLUMNS: &str = "m.organization_id AS member_org, m.role AS member_role, \
    m.permissions AS member_permissions, mo.require_sso AS member_require_sso, \
    mo.is_vendor AS member_is_vendor, mp.organization_id IS NOT NULL AS member_is_partner";

/// The columns of [`STANDING_COLUMNS`].
#[derive(QueryableByName)]
pub(crate) struct StandingRow {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    member_org: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    member_role: Option<String>,
    #[diesel(sql_type = Nullable<Array<Nullable<Text>>>)]
    member_permissions: Option<Vec<Option<String>>>,
    #[diesel(sql_type = Nullable<Bool>)]
    member_require_sso: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    member_is_vendor: Option<bool>,
    #[diesel(sql_type = Bool)]
    member_is_partner: bool,
}

impl StandingRow {
    pub(crate) fn standing(self) -> Option<authz::Standing> {
        let kind = authz::OrgKind {
            is_vendor: self.member_is_vendor?,
            is_partner: self.member_is_partner,
        };
        Some(authz::Standing::new(
            self.member_org?,
            self.member_require_sso?,
            &self.member_role?,
            &self.member_permissions?,
            kind,
        ))
    }
}
