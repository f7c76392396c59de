//! Set-password links (invitations of new addresses and password resets) and the
//! e-mails that carry them.

use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::accounts::User;
use super::passwords::hash_password;
use super::sessions::end_other_sessions;
use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, Result,
    platform::audit::Who,
    platform::db::Pool,
    platform::domain::{Email, Language, Password},
    platform::links::Link,
    platform::mail::{self, EmailKind},
    platform::tokens,
    schema::{memberships as m, password_links, users},
    tenancy::memberships,
};
use crate::{platform::config::Config, platform::domain::format_time, platform::links::Page};

#[derive(Debug, Clone)]
pub struct PasswordLinkInfo {
    pub link_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    /// The membership an invitation link accepts.
    pub membership_id: Option<Uuid>,
}

pub(crate) type PasswordLinkRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub(crate) async fn open_password_link(
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
        let ended = end_other_sessions(op.conn, op.now, user.id.into(), None).await?;
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
            Who::user(user.id.into(), org.map(Into::into)),
            Action::UserPasswordSet,
            user.id,
            json!({ "sessions_ended": ended, "membership_accepted": accepted_org }),
        )
        .await?;
        if let (Some(org), Some(membership)) = (accepted_org, info.membership_id) {
            op.audit_as(
                Who::user(user.id.into(), Some(org.into())),
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
