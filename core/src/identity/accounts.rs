//! Accounts: passwords (argon2id, bounded and off the connection), log-in with
//! throttling, portal sessions, API bearer tokens, set-password and reset links, and
//! what a person changes about themselves.
//!
//! An account is one person. Names, language and password belong to the person; what
//! an organization sets for them lives on the membership (see `memberships`).

use std::sync::OnceLock;

use crate::platform::db::sql_query;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable, SelectableHelper,
    sql_types::{Array, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, Result,
    identity::throttle,
    platform::audit::Who,
    platform::authz::{self, Actor, Delegation, DelegationKind, Permission, Role},
    platform::db::Pool,
    platform::domain::{Email, Language, Password, required_text},
    platform::error::{Validator, validated},
    platform::hashing::argon,
    platform::links::Link,
    platform::mail::{self, EmailKind},
    platform::tokens,
    schema::{api_tokens, memberships as m, organizations, password_links, sessions, users},
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

// ---------------------------------------------------------------------------------
// Passwords

/// Hashes a password with argon2id (default OWASP parameters) on the hashing threads.
/// Callers hold no database connection while this runs.
pub async fn hash_password(ctx: &Ctx, password: &Password) -> Result<String> {
    let raw = password.expose().to_owned();
    ctx.hashing
        .run(move || argon::hash(raw.as_bytes()).map_err(|e| Error::internal(format!("hashing a password: {e}"))))
        .await?
}

/// Verifies a password against a stored hash. With no stored hash, a dummy hash is
/// checked so that unknown accounts take as long as known ones.
pub async fn verify_password(ctx: &Ctx, stored: Option<String>, password: String) -> Result<bool> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    ctx.hashing
        .run(move || {
            let (hash, real) = match stored {
                Some(h) => (h, true),
                None => (
                    DUMMY
                        .get_or_init(|| argon::hash(b"not a real password").unwrap_or_default())
                        .clone(),
                    false,
                ),
            };
            argon::verify(password.as_bytes(), &hash) && real
        })
        .await
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

// ---------------------------------------------------------------------------------
// Who is calling

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

fn sso_required() -> Error {
    Error::Forbidden {
        code: "sso_required",
        message: "This organization requires single sign-on: log out and sign in with your organization's provider"
            .to_owned(),
    }
}

fn not_while_logged_in_as() -> Error {
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
    standing: Option<authz::Standing>,
    standing_for: Option<Uuid>,
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
        self.delegation = Some(crate::delegation::sessions::resolve(conn, ctx.now(), self.user_id, id).await?);
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
            return Ok(Actor::new(self.user_id, None, now));
        }
        Ok(match acting {
            Acting::Member(standing) => Actor::standing_in(self.user_id, &standing, now),
            Acting::First(first) => Actor::new(self.user_id, first.map(|(org, _)| org), now),
        })
    }

    /// The person's standing in `org`: the one read with the credential when it is
    /// about `org`, else read now.
    async fn standing_in(&self, conn: &mut AsyncPgConnection, org: Uuid) -> Result<Option<authz::Standing>> {
        if self.standing_for == Some(org) {
            return Ok(self.standing.clone());
        }
        authz::standing(conn, self.user_id, org).await
    }

    /// A portal session opened with single sign-on that satisfies organizations that
    /// require it.
    pub fn sso_session(&self) -> bool {
        matches!(self.credential, Credential::Session { sso: true, .. })
    }

    fn session_id(&self) -> Option<Uuid> {
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
        let permissions = authz::grants_in(conn, user_id, org_id)
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

// ---------------------------------------------------------------------------------
// Log-in and sessions

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub acting_organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub delegated_session_id: Option<Uuid>,
    /// The linked identity a single sign-on session was opened with.
    pub identity_link_id: Option<Uuid>,
}

fn invalid_credentials() -> Error {
    Error::unauthenticated("invalid_credentials", "The e-mail address or password is incorrect")
}

/// A log-in attempt.
#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    pub user_agent: Option<String>,
    /// The client's address, for throttling.
    pub client_address: Option<String>,
    /// The session cookie the browser already had: it ends, so the session id is new
    /// after every log-in.
    pub previous_session: Option<String>,
}

/// id, password hash, account active, address confirmed.
type CredentialRow = (Uuid, Option<String>, bool, Option<DateTime<Utc>>);

/// Logs in: checks throttling, then the password without holding a connection, then
/// opens a new session. Returns the session and the raw token for the cookie. An
/// unknown address, a wrong password, an unconfirmed or disabled account all get the
/// same refusal.
pub async fn login(pool: &Pool, ctx: &Ctx, input: LoginInput) -> Result<(Session, String)> {
    let email = Email::parse(&input.email).ok();
    let keys = throttle::Keys::new(ctx, email.as_ref(), input.client_address.as_deref());
    let row: Option<CredentialRow> = {
        let mut conn = pool.get().await?;
        throttle::check(&mut conn, ctx, &keys).await?;
        match &email {
            Some(email) => users::table
                .filter(users::email.eq(email.as_str()))
                .select((users::id, users::password_hash, users::active, users::email_verified_at))
                .first(&mut conn)
                .await
                .optional()?,
            None => None,
        }
    };
    let (user_id, hash, usable) = match row {
        Some((id, hash, active, verified)) => (Some(id), hash, active && verified.is_some()),
        None => (None, None, false),
    };
    let password_ok = verify_password(ctx, hash, input.password.clone()).await?;
    let mut conn = pool.get().await?;
    let user_id = match user_id {
        Some(id) if password_ok && usable => id,
        _ => {
            throttle::record_failure(&mut conn, ctx, &keys).await?;
            return Err(invalid_credentials());
        }
    };
    throttle::record_success(&mut conn, &keys).await?;
    let meta = SessionMeta {
        user_agent: input.user_agent,
        previous_session: input.previous_session,
    };
    op::run_as(&mut conn, ctx, Who::user(user_id, None), async |op| {
        open_session(op, user_id, &meta, None, false).await
    })
    .await
}

/// What a new session records of the browser that opened it.
#[derive(Debug, Clone, Default)]
pub struct SessionMeta {
    pub user_agent: Option<String>,
    /// The session cookie the browser already had: it ends, so the session id is new
    /// after every log-in.
    pub previous_session: Option<String>,
}

/// Opens a session for a person who proved who they are (a password, or an identity
/// at a single sign-on provider): ends the browser's previous session, picks the
/// organization to act as (organizations that require single sign-on last, unless
/// `sso`), audits. Returns the session and the raw cookie token.
pub(crate) async fn open_session(
    op: &mut op::Op<'_>,
    user_id: Uuid,
    meta: &SessionMeta,
    identity_link: Option<Uuid>,
    sso: bool,
) -> Result<(Session, String)> {
    let raw = tokens::random_token();
    let ttl = Duration::from_std(op.ctx.config.session_ttl).unwrap_or(Duration::hours(12));
    if let Some(previous) = meta.previous_session.as_deref() {
        diesel::update(
            sessions::table
                .filter(sessions::token_hash.eq(tokens::hash(previous)))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(op.now))
        .execute(op.conn)
        .await?;
    }
    let acting = memberships::first_organization(op.conn, user_id, sso)
        .await?
        .map(|(org, _)| org);
    let session = diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(Uuid::now_v7()),
            sessions::token_hash.eq(tokens::hash(&raw)),
            sessions::user_id.eq(user_id),
            sessions::acting_organization_id.eq(acting),
            sessions::user_agent.eq(meta
                .user_agent
                .as_deref()
                .map(|ua| ua.chars().take(300).collect::<String>())),
            sessions::created_at.eq(op.now),
            sessions::last_seen_at.eq(op.now),
            sessions::expires_at.eq(op.now + ttl),
            sessions::identity_link_id.eq(identity_link),
        ))
        .returning(Session::as_returning())
        .get_result(op.conn)
        .await?;
    op.audit_as(
        Who::user(user_id, acting),
        Action::SessionCreated,
        session.id,
        json!({ "method": if identity_link.is_some() { "sso" } else { "password" } }),
    )
    .await?;
    Ok((session, raw))
}

/// The member's standing in one organization, read beside a credential: `{user}` and
/// `{org}` are SQL expressions for the person and the organization wanted.
fn standing_joins(user: &str, org: &str) -> String {
    format!(
        "LEFT JOIN memberships m ON m.user_id = {user} AND m.organization_id = {org} \
            AND m.active AND m.accepted_at IS NOT NULL \
         LEFT JOIN organizations mo ON mo.id = m.organization_id \
         LEFT JOIN partners mp ON mp.organization_id = m.organization_id AND mp.status = 'active'"
    )
}

const STANDING_COLUMNS: &str = "m.organization_id AS member_org, m.role AS member_role, \
    m.permissions AS member_permissions, mo.require_sso AS member_require_sso, \
    mo.is_vendor AS member_is_vendor, mp.organization_id IS NOT NULL AS member_is_partner";

/// The columns of [`STANDING_COLUMNS`].
#[derive(QueryableByName)]
struct StandingRow {
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
    fn standing(self) -> Option<authz::Standing> {
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

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    acting_organization_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    delegated_session_id: Option<Uuid>,
    #[diesel(sql_type = Bool)]
    user_active: bool,
    #[diesel(sql_type = Nullable<Bool>)]
    counts_for_sso: Option<bool>,
    #[diesel(embed)]
    standing: StandingRow,
}

/// Resolves a session cookie; refreshes its idle expiry. A session ends when idle for
/// `SESSION_TTL_HOURS`, and in any case `SESSION_MAX_HOURS` after log-in.
///
/// `wanted` is the organization the request asks to act for (else the session's
/// choice): the person's standing there is read in the same query.
pub async fn resolve_session(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    raw: &str,
    wanted: Option<Uuid>,
) -> Result<Principal> {
    let now = ctx.now();
    let row: Option<SessionRow> = sql_query(format!(
        "SELECT s.id, s.user_id, s.acting_organization_id, s.created_at, s.expires_at, s.last_seen_at, \
                s.revoked_at, s.delegated_session_id, u.active AS user_active, \
                il.counts_for_sso, {STANDING_COLUMNS} \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN identity_links il ON il.id = s.identity_link_id {} \
         WHERE s.token_hash = $1",
        standing_joins("s.user_id", "COALESCE($2, s.acting_organization_id)")
    ))
    .bind::<Text, _>(tokens::hash(raw))
    .bind::<Nullable<SqlUuid>, _>(wanted)
    .get_result(conn)
    .await
    .optional()?;
    let Some(session) = row else {
        return Err(Error::unauthenticated(
            "invalid_session",
            "The session is not valid; log in again",
        ));
    };
    if session.revoked_at.is_some() {
        return Err(Error::unauthenticated(
            "session_revoked",
            "The session has ended; log in again",
        ));
    }
    let max_age = Duration::from_std(ctx.config.session_max_age).unwrap_or(Duration::days(7));
    if session.expires_at <= now || session.created_at + max_age <= now {
        return Err(Error::unauthenticated(
            "session_expired",
            "The session has expired; log in again",
        ));
    }
    if !session.user_active {
        return Err(Error::unauthenticated("account_disabled", "The account is disabled"));
    }
    if now - session.last_seen_at > Duration::minutes(1) {
        let ttl = Duration::from_std(ctx.config.session_ttl).unwrap_or(Duration::hours(12));
        diesel::update(sessions::table.find(session.id))
            .set((
                sessions::last_seen_at.eq(now),
                sessions::expires_at.eq((now + ttl).min(session.created_at + max_age)),
            ))
            .execute(conn)
            .await?;
    }
    // A delegated session that ended or ran out of time returns the portal to the
    // person's own view.
    let delegation = match session.delegated_session_id {
        Some(id) => match crate::delegation::sessions::resolve(conn, now, session.user_id, id).await {
            Ok(d) => Some(d),
            Err(Error::Internal(e)) => return Err(Error::Internal(e)),
            Err(_) => {
                leave_delegation(conn, session.id).await?;
                None
            }
        },
        None => None,
    };
    Ok(Principal {
        user_id: session.user_id,
        credential: Credential::Session {
            id: session.id,
            acting_org: session.acting_organization_id,
            sso: session.counts_for_sso == Some(true),
        },
        delegation,
        standing: session.standing.standing(),
        standing_for: wanted.or(session.acting_organization_id),
    })
}

/// The portal session runs in a delegated session (management or login as) from now on.
pub async fn enter_delegation_in_session(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    delegated: Uuid,
) -> Result<()> {
    let Credential::Session { id, .. } = principal.credential else {
        return Err(Error::conflict(
            "not_a_session",
            None,
            "Only a portal session can enter a delegated session",
        ));
    };
    diesel::update(sessions::table.find(id))
        .set(sessions::delegated_session_id.eq(delegated))
        .execute(conn)
        .await?;
    Ok(())
}

/// The portal session returns to the person's own view.
pub async fn leave_delegation(conn: &mut AsyncPgConnection, session_id: Uuid) -> Result<()> {
    diesel::update(sessions::table.find(session_id))
        .set(sessions::delegated_session_id.eq(None::<Uuid>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a session.
pub async fn logout(conn: &mut AsyncPgConnection, ctx: &Ctx, principal: &Principal) -> Result<()> {
    let Credential::Session { id, acting_org, .. } = &principal.credential else {
        return Err(Error::conflict(
            "not_a_session",
            None,
            "Log out ends a portal session; revoke API tokens instead",
        ));
    };
    op::run_as(conn, ctx, Who::user(principal.user_id, *acting_org), async |op| {
        diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
            .set(sessions::revoked_at.eq(op.now))
            .execute(op.conn)
            .await?;
        op.audit(Action::SessionEnded, id, json!({})).await
    })
    .await
}

/// Ends every session of a user except `keep` (after a password change). Returns how
/// many ended.
async fn end_other_sessions(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<usize> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep.unwrap_or_default())),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
    .await?)
}

/// Chooses the organization a portal session acts as.
pub async fn switch_organization(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    principal: &Principal,
    org_id: Uuid,
) -> Result<()> {
    principal.personal()?;
    let Credential::Session { id, .. } = &principal.credential else {
        return Err(Error::conflict(
            "not_a_session",
            None,
            "API clients choose the organization with the X-Organization header",
        ));
    };
    match memberships::standing(conn, principal.user_id, org_id).await? {
        None => return Err(Error::forbidden()),
        Some(true) if !principal.sso_session() => {
            return Err(sso_required());
        }
        Some(_) => {}
    }
    op::run_as(conn, ctx, Who::user(principal.user_id, Some(org_id)), async |op| {
        diesel::update(sessions::table.find(id))
            .set(sessions::acting_organization_id.eq(org_id))
            .execute(op.conn)
            .await?;
        op.audit(
            Action::SessionOrganizationSwitched,
            id,
            json!({ "acting_organization_id": org_id }),
        )
        .await
    })
    .await
}

// ---------------------------------------------------------------------------------
// What a person changes about themselves

/// The person's own names and language.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub language: Option<String>,
}

/// Changes the caller's own names or language.
pub async fn update_me(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: Uuid, input: ProfileInput) -> Result<User> {
    let mut v = Validator::new();
    let first = input
        .first_name
        .as_deref()
        .map(|f| v.check(required_text("first_name", f, 100)));
    let last = input
        .last_name
        .as_deref()
        .map(|l| v.check(required_text("last_name", l, 100)));
    let language = input.language.as_deref().map(|l| v.check(Language::parse(l)));
    v.finish()?;
    op::run_as(conn, ctx, Who::user(user_id, None), async |op| {
        let old: User = users::table
            .find(user_id)
            .select(User::as_select())
            .for_update()
            .first(op.conn)
            .await?;
        let first = first.flatten().unwrap_or(old.first_name.clone());
        let last = last.flatten().unwrap_or(old.last_name.clone());
        let language = language
            .flatten()
            .map(|l| l.as_str().to_owned())
            .unwrap_or(old.language.clone());
        let user = diesel::update(users::table.find(user_id))
            .set((
                users::first_name.eq(&first),
                users::last_name.eq(&last),
                users::language.eq(&language),
                users::updated_at.eq(op.now),
            ))
            .returning(User::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::UserProfileUpdated,
            user_id,
            json!({
                "old": { "first_name": old.first_name, "last_name": old.last_name, "language": old.language },
                "new": { "first_name": user.first_name, "last_name": user.last_name, "language": user.language },
            }),
        )
        .await?;
        Ok(user)
    })
    .await
}

/// Changes the caller's password after checking the current one; every other session
/// of the person ends.
pub async fn change_password(pool: &Pool, ctx: &Ctx, principal: &Principal, current: &str, new: &str) -> Result<usize> {
    principal.personal()?;
    let new = Password::parse(new)?;
    let stored: Option<String> = {
        let mut conn = pool.get().await?;
        users::table
            .find(principal.user_id)
            .select(users::password_hash)
            .first(&mut conn)
            .await?
    };
    if !verify_password(ctx, stored, current.to_owned()).await? {
        return Err(Error::field(
            "current_password",
            "wrong_password",
            "This is not your current password",
        ));
    }
    let hash = hash_password(ctx, &new).await?;
    let mut conn = pool.get().await?;
    op::run_as(&mut conn, ctx, Who::user(principal.user_id, None), async |op| {
        diesel::update(users::table.find(principal.user_id))
            .set((users::password_hash.eq(Some(&hash)), users::updated_at.eq(op.now)))
            .execute(op.conn)
            .await?;
        let ended = end_other_sessions(op.conn, op.now, principal.user_id, principal.session_id()).await?;
        op.audit(
            Action::UserPasswordChanged,
            principal.user_id,
            json!({ "sessions_ended": ended }),
        )
        .await?;
        Ok(ended)
    })
    .await
}

// ---------------------------------------------------------------------------------
// API tokens

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub token_prefix: String,
    pub organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_PREFIX: &str = "pd_";

/// Creates a bearer token for the caller, acting for the organization the caller acts
/// as now; the raw token is returned once.
pub async fn create_api_token(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<(ApiToken, String)> {
    if actor.impersonator.is_some() {
        return Err(not_while_logged_in_as());
    }
    let mut v = Validator::new();
    let name = v.check(crate::platform::domain::required_text("name", name, 100));
    if let Some(days) = expires_in_days
        && !(1..=3650).contains(&days)
    {
        v.push(crate::FieldError::new(
            "expires_in_days",
            "out_of_range",
            "Between 1 and 3650 days",
        ));
    }
    v.finish()?;
    let name = validated(name);
    let raw = format!("{TOKEN_PREFIX}{}", tokens::random_token());
    op::run_as(conn, ctx, Who::user(actor.user_id, actor.acting_org), async |op| {
        let expires_at = expires_in_days.map(|d| op.now + Duration::days(i64::from(d)));
        let token = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(Uuid::now_v7()),
                api_tokens::user_id.eq(actor.user_id),
                api_tokens::organization_id.eq(actor.acting_org),
                api_tokens::name.eq(&name),
                api_tokens::token_hash.eq(tokens::hash(&raw)),
                api_tokens::token_prefix.eq(&raw[..TOKEN_PREFIX.len() + 6]),
                api_tokens::created_at.eq(op.now),
                api_tokens::expires_at.eq(expires_at),
            ))
            .returning(ApiToken::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::ApiTokenCreated,
            token.id,
            json!({ "name": name, "organization_id": actor.acting_org }),
        )
        .await?;
        Ok((token, raw.clone()))
    })
    .await
}

pub async fn list_api_tokens(conn: &mut AsyncPgConnection, principal: &Principal) -> Result<Vec<ApiToken>> {
    principal.personal()?;
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(principal.user_id))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)
        .await?)
}

/// Revokes one of the caller's tokens. Someone else's token is "not found".
pub async fn revoke_api_token(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    principal: &Principal,
    token_id: Uuid,
) -> Result<ApiToken> {
    principal.personal()?;
    op::run_as(conn, ctx, Who::user(principal.user_id, None), async |op| {
        let token: ApiToken = api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(principal.user_id))
            .select(ApiToken::as_select())
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("api token"))?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let token = diesel::update(api_tokens::table.find(token_id))
            .set(api_tokens::revoked_at.eq(op.now))
            .returning(ApiToken::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit_as(
            Who::user(principal.user_id, token.organization_id),
            Action::ApiTokenRevoked,
            token_id,
            json!({}),
        )
        .await?;
        Ok(token)
    })
    .await
}

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    user_active: bool,
    #[diesel(embed)]
    standing: StandingRow,
}

/// Resolves a bearer token, with the person's standing in the token's organization.
pub async fn resolve_bearer(conn: &mut AsyncPgConnection, ctx: &Ctx, raw: &str) -> Result<Principal> {
    let now = ctx.now();
    let row: Option<TokenRow> = sql_query(format!(
        "SELECT t.id, t.user_id, t.organization_id, t.revoked_at, t.expires_at, t.last_used_at, \
                u.active AS user_active, {STANDING_COLUMNS} \
         FROM api_tokens t JOIN users u ON u.id = t.user_id {} \
         WHERE t.token_hash = $1",
        standing_joins("t.user_id", "t.organization_id")
    ))
    .bind::<Text, _>(tokens::hash(raw.trim()))
    .get_result(conn)
    .await
    .optional()?;
    let Some(token) = row else {
        return Err(Error::unauthenticated("invalid_token", "The API token is not valid"));
    };
    if token.revoked_at.is_some() {
        return Err(Error::unauthenticated(
            "token_revoked",
            "The API token has been revoked",
        ));
    }
    if token.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::unauthenticated("token_expired", "The API token has expired"));
    }
    if !token.user_active {
        return Err(Error::unauthenticated("account_disabled", "The account is disabled"));
    }
    if token.last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Principal {
        user_id: token.user_id,
        credential: Credential::Token {
            id: token.id,
            organization_id: token.organization_id,
        },
        delegation: None,
        standing: token.standing.standing(),
        standing_for: token.organization_id,
    })
}

// ---------------------------------------------------------------------------------
// Set-password links: invitations of new addresses and password resets

#[derive(Debug, Clone)]
pub struct PasswordLinkInfo {
    pub link_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    /// The membership an invitation link accepts.
    pub membership_id: Option<Uuid>,
}

type PasswordLinkRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

async fn open_password_link(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    token: &str,
    lock: bool,
) -> Result<PasswordLinkInfo> {
    let query = password_links::table
        .inner_join(users::table)
        .filter(password_links::token_hash.eq(tokens::hash(token)))
        .select((
            password_links::id,
            users::id,
            users::email,
            users::first_name,
            password_links::membership_id,
            password_links::expires_at,
            password_links::used_at,
        ));
    let row: Option<PasswordLinkRow> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let Some((link_id, user_id, email, first_name, membership_id, expires_at, used_at)) = row else {
        return Err(Error::gone(
            "link_invalid",
            "This link is not valid. Ask for a new one.",
        ));
    };
    if used_at.is_some() {
        return Err(Error::gone("link_used", "This link has already been used."));
    }
    if expires_at <= ctx.now() {
        return Err(Error::gone("link_expired", "This link has expired. Ask for a new one."));
    }
    Ok(PasswordLinkInfo {
        link_id,
        user_id,
        email,
        first_name,
        membership_id,
    })
}

pub async fn inspect_password_link(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<PasswordLinkInfo> {
    open_password_link(conn, ctx, token, false).await
}

/// Sets the password through a link; the link works once. It confirms the address,
/// accepts the membership an invitation link was sent for, and ends every session the
/// account had.
pub async fn set_password_with_link(pool: &Pool, ctx: &Ctx, token: &str, password: &str) -> Result<User> {
    let password = Password::parse(password)?;
    {
        let mut conn = pool.get().await?;
        open_password_link(&mut conn, ctx, token, false).await?;
    }
    let hash = hash_password(ctx, &password).await?;
    let mut conn = pool.get().await?;
    op::run_as(&mut conn, ctx, Who::system(None), async |op| {
        let info = open_password_link(op.conn, ctx, token, true).await?;
        diesel::update(password_links::table.find(info.link_id))
            .set(password_links::used_at.eq(op.now))
            .execute(op.conn)
            .await?;
        let user = diesel::update(users::table.find(info.user_id))
            .set((
                users::password_hash.eq(Some(hash.clone())),
                users::email_verified_at.eq(Some(op.now)),
                users::updated_at.eq(op.now),
            ))
            .returning(User::as_returning())
            .get_result(op.conn)
            .await?;
        let ended = end_other_sessions(op.conn, op.now, user.id, None).await?;
        let accepted_org: Option<Uuid> = match info.membership_id {
            Some(membership) if memberships::mark_accepted(op.conn, op.now, membership).await? => m::table
                .find(membership)
                .select(m::organization_id)
                .first(op.conn)
                .await
                .optional()?,
            _ => None,
        };
        let org = match accepted_org {
            Some(org) => Some(org),
            None => memberships::default_organization(op.conn, user.id).await?,
        };
        op.audit_as(
            Who::user(user.id, org),
            Action::UserPasswordSet,
            user.id,
            json!({ "sessions_ended": ended, "membership_accepted": accepted_org }),
        )
        .await?;
        if let (Some(org), Some(membership)) = (accepted_org, info.membership_id) {
            op.audit_as(
                Who::user(user.id, Some(org)),
                Action::MembershipAccepted,
                membership,
                json!({ "through": "password_link" }),
            )
            .await?;
        }
        Ok(user)
    })
    .await
}

/// "Forgot password": e-mails a single-use reset link to an account's address, and a
/// short note to an address without an account, so the answer never tells whether an
/// account exists. Older reset links of the account stop working.
pub async fn request_password_reset(conn: &mut AsyncPgConnection, ctx: &Ctx, email: &str) -> Result<()> {
    let email = Email::parse(email)?;
    let ttl = Duration::from_std(ctx.config.password_reset_ttl).unwrap_or(Duration::hours(1));
    op::run_as(conn, ctx, Who::system(None), async |op| {
        mail::check_address_rate(op.conn, ctx, &email).await?;
        let user: Option<(Uuid, String)> = users::table
            .filter(users::email.eq(email.as_str()))
            .filter(users::active.eq(true))
            .select((users::id, users::language))
            .first(op.conn)
            .await
            .optional()?;
        let event = Uuid::now_v7();
        match user {
            Some((user_id, language)) => {
                diesel::update(
                    password_links::table
                        .filter(password_links::user_id.eq(user_id))
                        .filter(password_links::purpose.eq("reset"))
                        .filter(password_links::used_at.is_null()),
                )
                .set(password_links::used_at.eq(op.now))
                .execute(op.conn)
                .await?;
                let token_hash = Link::Password.token_hash(ctx.secret(), event, 1);
                diesel::insert_into(password_links::table)
                    .values((
                        password_links::id.eq(event),
                        password_links::user_id.eq(user_id),
                        password_links::token_hash.eq(token_hash),
                        password_links::generation.eq(1),
                        password_links::purpose.eq("reset"),
                        password_links::expires_at.eq(op.now + ttl),
                        password_links::created_at.eq(op.now),
                    ))
                    .execute(op.conn)
                    .await?;
                op.audit(Action::UserPasswordResetRequested, user_id, json!({})).await?;
                op.email(
                    &format!("password_reset:{event}"),
                    &email,
                    Language::from_db(&language),
                    EmailKind::PasswordReset {
                        password_link_id: event,
                    },
                )
                .await
            }
            None => {
                op.email(
                    &format!("password_reset.no_account:{event}"),
                    &email,
                    Language::En,
                    EmailKind::PasswordResetNoAccount {},
                )
                .await
            }
        }
    })
    .await
}

// ---------------------------------------------------------------------------------
// E-mails about passwords

use crate::{platform::config::Config, platform::domain::format_time, platform::links::Page};

/// A link to choose a new password.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PasswordResetEmail {
    pub first_name: String,
    pub link: String,
    pub expires_at: String,
}

impl PasswordResetEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, password_link_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(i32, DateTime<Utc>, String)> = password_links::table
            .inner_join(users::table)
            .filter(password_links::id.eq(password_link_id))
            .filter(password_links::used_at.is_null())
            .select((
                password_links::generation,
                password_links::expires_at,
                users::first_name,
            ))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(generation, expires_at, first_name)| PasswordResetEmail {
            first_name,
            link: Link::Password.url(config, password_link_id, generation),
            expires_at: format_time(expires_at),
        }))
    }
}

/// Someone asked to reset the password of an address without an account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoAccountEmail {
    pub signup_url: String,
}

impl NoAccountEmail {
    pub fn new(config: &Config) -> Self {
        NoAccountEmail {
            signup_url: Page::SignUp.url(config),
        }
    }
}
