//! Accounts: sign-up, passwords (argon2id), portal sessions, API bearer tokens and
//! set-password links.

use std::sync::OnceLock;

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Ctx, Error, Result,
    audit::{self, Who},
    authz::{self, Actor, Permission, Role},
    domain::{Email, Language, Password},
    error::{Validator, validated},
    schema::{api_tokens, memberships, organizations, password_links, sessions, users},
    tokens,
};

pub const PASSWORD_LINK_PURPOSE: &str = "password";

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

/// Hashes a password with argon2id (default OWASP parameters) off the async threads.
pub async fn hash_password(password: &Password) -> Result<String> {
    let raw = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(raw.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

/// Verifies a password against a stored hash. With no stored hash, a dummy hash is
/// checked so that unknown accounts take as long as known ones.
pub async fn verify_password(stored: Option<String>, password: String) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (
                DUMMY
                    .get_or_init(|| {
                        Argon2::default()
                            .hash_password(b"not a real password")
                            .map(|h| h.to_string())
                            .unwrap_or_default()
                    })
                    .clone(),
                false,
            ),
        };
        let ok = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------------
// Sign-up

#[derive(Debug, Clone)]
pub struct SignUpInput {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub language: Option<String>,
}

/// Creates an account (without an organization yet).
pub async fn sign_up(conn: &mut AsyncPgConnection, ctx: &Ctx, input: SignUpInput) -> Result<User> {
    let mut v = Validator::new();
    let email = v.check(Email::parse(&input.email));
    let password = v.check(Password::parse(&input.password));
    let first_name = v.check(crate::domain::required_text("first_name", &input.first_name, 100));
    let last_name = v.check(crate::domain::required_text("last_name", &input.last_name, 100));
    let language = v.check(Language::parse(input.language.as_deref().unwrap_or("en")));
    v.finish()?;
    let (email, password, first_name, last_name, language) = (
        validated(email),
        validated(password),
        validated(first_name),
        validated(last_name),
        validated(language),
    );
    let hash = hash_password(&password).await?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let user = insert_user(conn, now, &email, Some(hash), &first_name, &last_name, language).await?;
        audit::record(
            conn,
            now,
            Who::user(user.id, None),
            "user.signed_up",
            "user",
            user.id,
            json!({ "email": user.email }),
        )
        .await?;
        Ok(user)
    })
    .await
}

/// Inserts a user row; a taken e-mail address is a 409 on `email`.
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
    Session { id: Uuid, acting_org: Option<Uuid> },
    Token { id: Uuid },
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub credential: Credential,
}

impl Principal {
    /// The actor for this request. `requested_org` (the X-Organization header) must be one
    /// of the user's organizations; otherwise the session's choice, else the user's first
    /// organization.
    pub async fn actor(&self, conn: &mut AsyncPgConnection, requested_org: Option<Uuid>) -> Result<Actor> {
        let acting_org = match requested_org {
            Some(org) => {
                if !is_member(conn, self.user_id, org).await? {
                    return Err(Error::forbidden());
                }
                Some(org)
            }
            None => {
                let session_choice = match &self.credential {
                    Credential::Session {
                        acting_org: Some(org), ..
                    } => Some(*org),
                    _ => None,
                };
                match session_choice {
                    Some(org) if is_member(conn, self.user_id, org).await? => Some(org),
                    _ => default_organization(conn, self.user_id).await?,
                }
            }
        };
        Ok(Actor::new(self.user_id, acting_org))
    }
}

async fn is_member(conn: &mut AsyncPgConnection, user_id: Uuid, org_id: Uuid) -> Result<bool> {
    let n: i64 = memberships::table
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::organization_id.eq(org_id))
        .filter(memberships::active.eq(true))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// The user's first (oldest) active membership.
pub async fn default_organization(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Option<Uuid>> {
    Ok(memberships::table
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(true))
        .order((memberships::created_at.asc(), memberships::id.asc()))
        .select(memberships::organization_id)
        .first(conn)
        .await
        .optional()?)
}

/// One of the user's organizations with what the user may do there.
#[derive(Debug, Clone)]
pub struct MembershipSummary {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub role: Role,
    pub permissions: Vec<Permission>,
}

pub async fn memberships_of(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<MembershipSummary>> {
    let rows: Vec<(Uuid, String, String)> = memberships::table
        .inner_join(organizations::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(true))
        .order((memberships::created_at.asc(), memberships::id.asc()))
        .select((organizations::id, organizations::name, memberships::role))
        .load(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (org_id, name, role) in rows {
        let permissions = authz::grants_in(conn, user_id, org_id)
            .await?
            .map(|g| g.to_vec())
            .unwrap_or_default();
        out.push(MembershipSummary {
            organization_id: org_id,
            organization_name: name,
            role: Role::from_db(&role),
            permissions,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Sessions

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub acting_organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn invalid_credentials() -> Error {
    Error::unauthenticated("invalid_credentials", "The e-mail address or password is incorrect")
}

/// Checks e-mail and password; the same refusal for an unknown account, a wrong
/// password and a disabled account.
pub async fn check_credentials(conn: &mut AsyncPgConnection, email: &str, password: &str) -> Result<User> {
    let email = Email::parse(email).map_err(|_| invalid_credentials())?;
    let row: Option<(User, Option<String>)> = users::table
        .filter(users::email.eq(email.as_str()))
        .select((User::as_select(), users::password_hash))
        .first(conn)
        .await
        .optional()?;
    let (user, hash) = match row {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let ok = verify_password(hash, password.to_owned()).await;
    match user {
        Some(user) if ok && user.active => Ok(user),
        _ => Err(invalid_credentials()),
    }
}

/// Logs in: returns the session and the raw token for the cookie.
pub async fn login(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    email: &str,
    password: &str,
    user_agent: Option<&str>,
) -> Result<(Session, String)> {
    let user = check_credentials(conn, email, password).await?;
    let now = ctx.now();
    let raw = tokens::random_token();
    let ttl = Duration::from_std(ctx.config.session_ttl).unwrap_or(Duration::hours(12));
    conn.transaction(async |conn| {
        let acting = default_organization(conn, user.id).await?;
        let session = diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(Uuid::now_v7()),
                sessions::token_hash.eq(tokens::hash(&raw)),
                sessions::user_id.eq(user.id),
                sessions::acting_organization_id.eq(acting),
                sessions::user_agent.eq(user_agent.map(|ua| ua.chars().take(300).collect::<String>())),
                sessions::created_at.eq(now),
                sessions::last_seen_at.eq(now),
                sessions::expires_at.eq(now + ttl),
            ))
            .returning(Session::as_returning())
            .get_result(conn)
            .await?;
        audit::record(
            conn,
            now,
            Who::user(user.id, acting),
            "session.created",
            "session",
            session.id,
            json!({}),
        )
        .await?;
        Ok((session, raw.clone()))
    })
    .await
}

/// Resolves a session cookie; refreshes its idle expiry.
pub async fn resolve_session(conn: &mut AsyncPgConnection, ctx: &Ctx, raw: &str) -> Result<Principal> {
    let now = ctx.now();
    let row: Option<(Session, DateTime<Utc>, bool)> = sessions::table
        .inner_join(users::table.on(users::id.eq(sessions::user_id)))
        .filter(sessions::token_hash.eq(tokens::hash(raw)))
        .select((Session::as_select(), sessions::last_seen_at, users::active))
        .first(conn)
        .await
        .optional()?;
    let Some((session, last_seen, user_active)) = row else {
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
    if session.expires_at <= now {
        return Err(Error::unauthenticated(
            "session_expired",
            "The session has expired; log in again",
        ));
    }
    if !user_active {
        return Err(Error::unauthenticated("account_disabled", "The account is disabled"));
    }
    if now - last_seen > Duration::minutes(1) {
        let ttl = Duration::from_std(ctx.config.session_ttl).unwrap_or(Duration::hours(12));
        diesel::update(sessions::table.find(session.id))
            .set((sessions::last_seen_at.eq(now), sessions::expires_at.eq(now + ttl)))
            .execute(conn)
            .await?;
    }
    Ok(Principal {
        user_id: session.user_id,
        credential: Credential::Session {
            id: session.id,
            acting_org: session.acting_organization_id,
        },
    })
}

/// Ends a session.
pub async fn logout(conn: &mut AsyncPgConnection, ctx: &Ctx, principal: &Principal) -> Result<()> {
    let Credential::Session { id, acting_org } = &principal.credential else {
        return Err(Error::conflict(
            "not_a_session",
            None,
            "Log out ends a portal session; revoke API tokens instead",
        ));
    };
    let now = ctx.now();
    conn.transaction(async |conn| {
        diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
            .await?;
        audit::record(
            conn,
            now,
            Who::user(principal.user_id, *acting_org),
            "session.ended",
            "session",
            id,
            json!({}),
        )
        .await
    })
    .await
}

/// Chooses the organization a portal session acts as.
pub async fn switch_organization(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    principal: &Principal,
    org_id: Uuid,
) -> Result<()> {
    let Credential::Session { id, .. } = &principal.credential else {
        return Err(Error::conflict(
            "not_a_session",
            None,
            "API clients choose the organization with the X-Organization header",
        ));
    };
    if !is_member(conn, principal.user_id, org_id).await? {
        return Err(Error::forbidden());
    }
    let now = ctx.now();
    conn.transaction(async |conn| {
        diesel::update(sessions::table.find(id))
            .set(sessions::acting_organization_id.eq(org_id))
            .execute(conn)
            .await?;
        audit::record(
            conn,
            now,
            Who::user(principal.user_id, Some(org_id)),
            "session.organization_switched",
            "session",
            id,
            json!({ "acting_organization_id": org_id }),
        )
        .await
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
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_PREFIX: &str = "pd_";

/// Creates a bearer token for the caller; the raw token is returned once.
pub async fn create_api_token(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    principal: &Principal,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<(ApiToken, String)> {
    let mut v = Validator::new();
    let name = v.check(crate::domain::required_text("name", name, 100));
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
    let now = ctx.now();
    let raw = format!("{TOKEN_PREFIX}{}", tokens::random_token());
    let expires_at = expires_in_days.map(|d| now + Duration::days(i64::from(d)));
    conn.transaction(async |conn| {
        let token = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(Uuid::now_v7()),
                api_tokens::user_id.eq(principal.user_id),
                api_tokens::name.eq(&name),
                api_tokens::token_hash.eq(tokens::hash(&raw)),
                api_tokens::token_prefix.eq(&raw[..TOKEN_PREFIX.len() + 6]),
                api_tokens::created_at.eq(now),
                api_tokens::expires_at.eq(expires_at),
            ))
            .returning(ApiToken::as_returning())
            .get_result(conn)
            .await?;
        audit::record(
            conn,
            now,
            Who::user(principal.user_id, None),
            "api_token.created",
            "api_token",
            token.id,
            json!({ "name": name }),
        )
        .await?;
        Ok((token, raw.clone()))
    })
    .await
}

pub async fn list_api_tokens(conn: &mut AsyncPgConnection, principal: &Principal) -> Result<Vec<ApiToken>> {
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
    let now = ctx.now();
    conn.transaction(async |conn| {
        let token: ApiToken = api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(principal.user_id))
            .select(ApiToken::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(Error::not_found("api token"))?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let token = diesel::update(api_tokens::table.find(token_id))
            .set(api_tokens::revoked_at.eq(now))
            .returning(ApiToken::as_returning())
            .get_result(conn)
            .await?;
        audit::record(
            conn,
            now,
            Who::user(principal.user_id, None),
            "api_token.revoked",
            "api_token",
            token_id,
            json!({}),
        )
        .await?;
        Ok(token)
    })
    .await
}

/// id, user, revoked, expires, last used, user active.
type TokenRow = (
    Uuid,
    Uuid,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
);

/// Resolves a bearer token.
pub async fn resolve_bearer(conn: &mut AsyncPgConnection, ctx: &Ctx, raw: &str) -> Result<Principal> {
    let now = ctx.now();
    let row: Option<TokenRow> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(tokens::hash(raw.trim())))
        .select((
            api_tokens::id,
            api_tokens::user_id,
            api_tokens::revoked_at,
            api_tokens::expires_at,
            api_tokens::last_used_at,
            users::active,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((id, user_id, revoked_at, expires_at, last_used, user_active)) = row else {
        return Err(Error::unauthenticated("invalid_token", "The API token is not valid"));
    };
    if revoked_at.is_some() {
        return Err(Error::unauthenticated(
            "token_revoked",
            "The API token has been revoked",
        ));
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(Error::unauthenticated("token_expired", "The API token has expired"));
    }
    if !user_active {
        return Err(Error::unauthenticated("account_disabled", "The account is disabled"));
    }
    if last_used.is_none_or(|t| now - t > Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Principal {
        user_id,
        credential: Credential::Token { id },
    })
}

// ---------------------------------------------------------------------------------
// Set-password links

/// Creates a set-password link for a user; the caller queues the e-mail.
pub async fn create_password_link(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    user_id: Uuid,
    purpose: &str,
) -> Result<Uuid> {
    let now = ctx.now();
    let id = Uuid::now_v7();
    let token = tokens::link_token(ctx.secret(), PASSWORD_LINK_PURPOSE, id, 1);
    let ttl = Duration::from_std(ctx.config.password_link_ttl).unwrap_or(Duration::hours(72));
    diesel::insert_into(password_links::table)
        .values((
            password_links::id.eq(id),
            password_links::user_id.eq(user_id),
            password_links::token_hash.eq(tokens::hash(&token)),
            password_links::generation.eq(1),
            password_links::purpose.eq(purpose),
            password_links::expires_at.eq(now + ttl),
            password_links::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct PasswordLinkInfo {
    pub link_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
}

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
            password_links::expires_at,
            password_links::used_at,
        ));
    type Row = (Uuid, Uuid, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let row: Option<Row> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let Some((link_id, user_id, email, first_name, expires_at, used_at)) = row else {
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
    })
}

pub async fn inspect_password_link(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<PasswordLinkInfo> {
    open_password_link(conn, ctx, token, false).await
}

/// Sets the password through a link; the link works once.
pub async fn set_password_with_link(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    token: &str,
    password: &str,
) -> Result<User> {
    let password = Password::parse(password).map_err(|e| Error::Validation(vec![e]))?;
    let hash = hash_password(&password).await?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let info = open_password_link(conn, ctx, token, true).await?;
        diesel::update(password_links::table.find(info.link_id))
            .set(password_links::used_at.eq(now))
            .execute(conn)
            .await?;
        let user = diesel::update(users::table.find(info.user_id))
            .set((
                users::password_hash.eq(Some(hash.clone())),
                users::email_verified_at.eq(Some(now)),
                users::updated_at.eq(now),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        let org = default_organization(conn, user.id).await?;
        audit::record(
            conn,
            now,
            Who::user(user.id, org),
            "user.password_set",
            "user",
            user.id,
            json!({}),
        )
        .await?;
        Ok(user)
    })
    .await
}
