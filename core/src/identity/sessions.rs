//! Log-in with throttling and portal sessions: opening, resolving a session cookie into
//! a principal, entering and leaving a delegated session, switching organization,
//! logging out.

use crate::platform::db::sql_query;
use crate::platform::ids::UserId;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable, SelectableHelper,
    sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::accounts::{Credential, Principal, STANDING_COLUMNS, StandingRow, sso_required, standing_joins};
use super::passwords::verify_password;
use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, Result,
    identity::throttle,
    platform::audit::Who,
    platform::db::Pool,
    platform::domain::Email,
    platform::tokens,
    schema::{sessions, users},
    tenancy::memberships,
};

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

pub(crate) fn invalid_credentials() -> Error {
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
pub(crate) type CredentialRow = (Uuid, Option<String>, bool, Option<DateTime<Utc>>);

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
    op::run_as(&mut conn, ctx, Who::user(user_id.into(), None), async |op| {
        open_session(op, user_id.into(), &meta, None, false).await
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
    user_id: UserId,
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
    let acting = memberships::first_organization(op.conn, user_id.into(), sso)
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
        Who::user(user_id, acting.map(Into::into)),
        Action::SessionCreated,
        session.id,
        json!({ "method": if identity_link.is_some() { "sso" } else { "password" } }),
    )
    .await?;
    Ok((session, raw))
}

#[derive(QueryableByName)]
pub(crate) struct SessionRow {
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
        Some(id) => match crate::delegation::sessions::resolve(conn, now, session.user_id.into(), id.into()).await {
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
    op::run_as(
        conn,
        ctx,
        Who::user(principal.user_id.into(), (*acting_org).map(Into::into)),
        async |op| {
            diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
                .set(sessions::revoked_at.eq(op.now))
                .execute(op.conn)
                .await?;
            op.audit(Action::SessionEnded, id, json!({})).await
        },
    )
    .await
}

/// Ends every session of a user except `keep` (after a password change). Returns how
/// many ended.
pub(crate) async fn end_other_sessions(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    user_id: UserId,
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
    match memberships::standing(conn, principal.user_id.into(), org_id.into()).await? {
        None => return Err(Error::forbidden()),
        Some(true) if !principal.sso_session() => {
            return Err(sso_required());
        }
        Some(_) => {}
    }
    op::run_as(
        conn,
        ctx,
        Who::user(principal.user_id.into(), Some(org_id.into())),
        async |op| {
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
        },
    )
    .await
}
