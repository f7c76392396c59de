//! Sign-up with a confirmed e-mail address.
//!
//! A sign-up is kept aside with its own password hash and a single-use link is
//! e-mailed; the account exists only once the link is used, with the password of that
//! sign-up. Someone who types another person's address therefore never gets an account
//! that can log in. An address that already has an account gets a note instead of a
//! link; the caller is answered the same way either way.

use crate::identity::passwords;
use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, Result,
    identity::accounts::{self, User},
    platform::audit::Who,
    platform::db::Pool,
    platform::domain::{Email, Language, Password, required_text},
    platform::error::{Validator, validated},
    platform::links::Link,
    platform::mail::{self, EmailKind},
    platform::tokens,
    schema::{signups as s, users},
};

#[derive(Debug, Clone, Default)]
pub struct SignUpInput {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub language: Option<String>,
}

/// Validates the form, hashes the password (holding no connection), and e-mails either
/// a confirmation link or, when the address has an account, a note saying so.
pub async fn start(pool: &Pool, ctx: &Ctx, input: SignUpInput) -> Result<()> {
    let mut v = Validator::new();
    let email = v.check(Email::parse(&input.email));
    let password = v.check(Password::parse(&input.password));
    let first_name = v.check(required_text("first_name", &input.first_name, 100));
    let last_name = v.check(required_text("last_name", &input.last_name, 100));
    let language = v.check(Language::parse(input.language.as_deref().unwrap_or("en")));
    v.finish()?;
    let (email, password, first_name, last_name, language) = (
        validated(email),
        validated(password),
        validated(first_name),
        validated(last_name),
        validated(language),
    );
    // Hashed whether or not the address has an account, so both take as long.
    let hash = passwords::hash_password(ctx, &password).await?;
    let ttl = Duration::from_std(ctx.config.signup_link_ttl).unwrap_or(Duration::hours(48));
    let mut conn = pool.get().await?;
    op::run_as(&mut conn, ctx, Who::system(None), async |op| {
        mail::check_address_rate(op.conn, ctx, &email).await?;
        let id = Uuid::now_v7();
        let existing: Option<(Uuid, String)> = users::table
            .filter(users::email.eq(email.as_str()))
            .select((users::id, users::language))
            .first(op.conn)
            .await
            .optional()?;
        if let Some((user_id, user_language)) = existing {
            return op
                .email(
                    &format!("signup.existing_account:{id}"),
                    &email,
                    Language::from_db(&user_language),
                    EmailKind::SignupExistingAccount { user_id },
                )
                .await;
        }
        diesel::insert_into(s::table)
            .values((
                s::id.eq(id),
                s::email.eq(email.as_str()),
                s::first_name.eq(&first_name),
                s::last_name.eq(&last_name),
                s::language.eq(language.as_str()),
                s::password_hash.eq(&hash),
                s::token_hash.eq(Link::SignupConfirmation.token_hash(ctx.secret(), id, 1)),
                s::expires_at.eq(op.now + ttl),
                s::created_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        op.audit(Action::SignupRequested, id, json!({ "email": email.as_str() }))
            .await?;
        op.email(
            &format!("signup.confirmation:{id}"),
            &email,
            language,
            EmailKind::SignupConfirmation { signup_id: id },
        )
        .await
    })
    .await
}

/// What the confirmation page shows.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub expires_at: DateTime<Utc>,
}

type Row = (Uuid, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

async fn open(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str, lock: bool) -> Result<Pending> {
    let query = s::table.filter(s::token_hash.eq(tokens::hash(token))).select((
        s::id,
        s::email,
        s::first_name,
        s::expires_at,
        s::confirmed_at,
    ));
    let row: Option<Row> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let Some((id, email, first_name, expires_at, confirmed_at)) = row else {
        return Err(Error::gone(
            "link_invalid",
            "This confirmation link is not valid. Sign up again.",
        ));
    };
    if confirmed_at.is_some() {
        return Err(Error::gone(
            "link_used",
            "This address is confirmed already. Log in instead.",
        ));
    }
    if expires_at <= ctx.now() {
        return Err(Error::gone(
            "link_expired",
            "This confirmation link has expired. Sign up again.",
        ));
    }
    Ok(Pending {
        id,
        email,
        first_name,
        expires_at,
    })
}

pub async fn inspect(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<Pending> {
    open(conn, ctx, token, false).await
}

/// Confirms the address: the account is created with the sign-up's names, language and
/// password. A link used after the address got an account some other way is refused.
pub async fn confirm(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<User> {
    op::run_as(conn, ctx, Who::system(None), async |op| {
        let pending = open(op.conn, ctx, token, true).await?;
        type Stored = (String, String, String, String);
        let (first, last, language, hash): Stored = s::table
            .find(pending.id)
            .select((s::first_name, s::last_name, s::language, s::password_hash))
            .first(op.conn)
            .await?;
        let email = Email::parse(&pending.email)?;
        if accounts::find_user_by_email(op.conn, &email).await?.is_some() {
            return Err(Error::conflict(
                "account_exists",
                None,
                "This address has an account already. Log in, or reset the password if you forgot it.",
            ));
        }
        let user = accounts::insert_user(
            op.conn,
            op.now,
            &email,
            Some(hash),
            &first,
            &last,
            Language::from_db(&language),
        )
        .await?;
        diesel::update(s::table.find(pending.id))
            .set((s::confirmed_at.eq(Some(op.now)), s::user_id.eq(Some(user.id))))
            .execute(op.conn)
            .await?;
        op.audit_as(
            Who::user(user.id.into(), None),
            Action::UserSignedUp,
            user.id,
            json!({ "email": user.email, "signup_id": pending.id }),
        )
        .await?;
        Ok(user)
    })
    .await
}

// ---------------------------------------------------------------------------------
// E-mails about a sign-up

use crate::{platform::config::Config, platform::domain::format_time, platform::links::Page};

/// The confirmation link.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConfirmationEmail {
    pub first_name: String,
    pub link: String,
    pub expires_at: String,
}

impl ConfirmationEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, signup_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(String, DateTime<Utc>)> = s::table
            .find(signup_id)
            .filter(s::confirmed_at.is_null())
            .select((s::first_name, s::expires_at))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(first_name, expires_at)| ConfirmationEmail {
            first_name,
            link: Link::SignupConfirmation.url(config, signup_id, 1),
            expires_at: format_time(expires_at),
        }))
    }
}

/// The address already has an account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExistingAccountEmail {
    pub first_name: String,
    pub login_url: String,
    pub reset_url: String,
}

impl ExistingAccountEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, user_id: Uuid) -> Result<Option<Self>> {
        let first_name = crate::identity::accounts::first_name(conn, user_id).await?;
        Ok(first_name.map(|first_name| ExistingAccountEmail {
            first_name,
            login_url: Page::Login.url(config),
            reset_url: Page::ForgotPassword.url(config),
        }))
    }
}
