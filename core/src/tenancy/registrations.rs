//! Self-registration of a new partner company: an e-mail with a confirmation link, the
//! registration form behind it, then a confirmation e-mail. Completing the form creates
//! the account, the organization and an open partner request for the sales team.

use crate::identity::passwords;
use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
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
    schema::partner_registrations as reg,
    tenancy::organizations::{self, NewOrganization, Organization},
    tenancy::partners::{self, PartnerRequest, RequestInput},
};

/// Sends a registration link to `email`. Asking again while a link is still valid sends
/// a fresh link and retires the previous one. An address that has an account gets a
/// note to log in and request partner status instead; the caller is answered the same
/// way either way.
pub async fn start(conn: &mut AsyncPgConnection, ctx: &Ctx, email: &str, language: Option<&str>) -> Result<()> {
    let mut v = Validator::new();
    let email = v.check(Email::parse(email));
    let language = v.check(Language::parse(language.unwrap_or("en")));
    v.finish()?;
    let (email, language) = (validated(email), validated(language));
    let ttl = Duration::from_std(ctx.config.registration_link_ttl).unwrap_or(Duration::hours(48));
    op::run_as(conn, ctx, Who::system(None), async |op| {
        mail::check_address_rate(op.conn, ctx, &email).await?;
        let account_language: Option<String> = crate::schema::users::table
            .filter(crate::schema::users::email.eq(email.as_str()))
            .select(crate::schema::users::language)
            .first(op.conn)
            .await
            .optional()?;
        if let Some(account_language) = account_language {
            return op
                .email(
                    &format!("partner_registration.existing_account:{}", Uuid::now_v7()),
                    &email,
                    Language::from_db(&account_language),
                    EmailKind::PartnerRegistrationExistingAccount {},
                )
                .await;
        }
        let (id, generation) = issue_link(op, &email, language, ttl).await?;
        op.audit(
            Action::PartnerRegistrationLinkSent,
            id,
            json!({ "email": email.as_str(), "generation": generation }),
        )
        .await?;
        op.email(
            &format!("partner_registration.link:{id}:{generation}"),
            &email,
            language,
            EmailKind::PartnerRegistrationLink { registration_id: id },
        )
        .await
    })
    .await
}

/// A fresh link for the address: the pending registration's next generation (the
/// previous link stops working), or a new registration.
async fn issue_link(op: &mut Op<'_>, email: &Email, language: Language, ttl: Duration) -> Result<(Uuid, i32)> {
    let pending: Option<(Uuid, i32)> = reg::table
        .filter(reg::email.eq(email.as_str()))
        .filter(reg::completed_at.is_null())
        .filter(reg::expires_at.gt(op.now))
        .order(reg::created_at.desc())
        .select((reg::id, reg::generation))
        .for_update()
        .first(op.conn)
        .await
        .optional()?;
    let secret = op.ctx.secret();
    if let Some((id, generation)) = pending {
        let generation = generation + 1;
        diesel::update(reg::table.find(id))
            .set((
                reg::generation.eq(generation),
                reg::token_hash.eq(Link::PartnerRegistration.token_hash(secret, id, generation)),
                reg::expires_at.eq(op.now + ttl),
                reg::language.eq(language.as_str()),
            ))
            .execute(op.conn)
            .await?;
        return Ok((id, generation));
    }
    let id = Uuid::now_v7();
    diesel::insert_into(reg::table)
        .values((
            reg::id.eq(id),
            reg::email.eq(email.as_str()),
            reg::language.eq(language.as_str()),
            reg::token_hash.eq(Link::PartnerRegistration.token_hash(secret, id, 1)),
            reg::generation.eq(1),
            reg::expires_at.eq(op.now + ttl),
            reg::created_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
    Ok((id, 1))
}

/// What the registration form shows.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: Uuid,
    pub email: String,
    pub language: Language,
    pub expires_at: DateTime<Utc>,
}

async fn open(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str, lock: bool) -> Result<Registration> {
    let query = reg::table.filter(reg::token_hash.eq(tokens::hash(token))).select((
        reg::id,
        reg::email,
        reg::language,
        reg::expires_at,
        reg::completed_at,
    ));
    type Row = (Uuid, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let row: Option<Row> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let Some((id, email, language, expires_at, completed_at)) = row else {
        return Err(Error::gone(
            "link_invalid",
            "This registration link is not valid. Request a new one.",
        ));
    };
    if completed_at.is_some() {
        return Err(Error::gone(
            "link_used",
            "This registration link has already been used. Log in instead.",
        ));
    }
    if expires_at <= ctx.now() {
        return Err(Error::gone(
            "link_expired",
            "This registration link has expired. Request a new one.",
        ));
    }
    Ok(Registration {
        id,
        email,
        language: Language::from_db(&language),
        expires_at,
    })
}

pub async fn inspect(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<Registration> {
    open(conn, ctx, token, false).await
}

/// The registration form.
#[derive(Debug, Clone, Default)]
pub struct CompleteInput {
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub company: String,
    pub website: Option<String>,
    pub country: String,
    pub expected_customers: Option<i64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Completed {
    pub user: User,
    pub organization: Organization,
    pub request: PartnerRequest,
}

/// Completes a registration: account, organization (administrator), open partner
/// request; then a confirmation e-mail and the request acknowledgement.
pub async fn complete(pool: &Pool, ctx: &Ctx, token: &str, input: CompleteInput) -> Result<Completed> {
    let registration = open(&mut *pool.get().await?, ctx, token, false).await?;
    let mut v = Validator::new();
    let first_name = v.check(required_text("first_name", &input.first_name, 100));
    let last_name = v.check(required_text("last_name", &input.last_name, 100));
    let password = v.check(Password::parse(&input.password));
    let contact_name = format!("{} {}", input.first_name.trim(), input.last_name.trim());
    let request = partners::validate_request(
        &RequestInput {
            company: input.company.clone(),
            contact_name: if contact_name.trim().is_empty() {
                "-".into()
            } else {
                contact_name
            },
            contact_email: registration.email.clone(),
            website: input.website.clone(),
            country: input.country.clone(),
            expected_customers: input.expected_customers,
            message: input.message.clone(),
        },
        &mut v,
    );
    v.finish()?;
    let (first_name, last_name, password, request) = (
        validated(first_name),
        validated(last_name),
        validated(password),
        validated(request),
    );
    let hash = passwords::hash_password(ctx, &password).await?;
    let email = Email::parse(&registration.email)?;
    let mut conn = pool.get().await?;
    op::run_as(&mut conn, ctx, Who::system(None), async |op| {
        let registration = open(op.conn, ctx, token, true).await?;
        if accounts::find_user_by_email(op.conn, &email).await?.is_some() {
            return Err(Error::conflict(
                "email_taken",
                Some("email"),
                "An account with this e-mail address already exists. Log in and request partner status for your organization.",
            ));
        }
        let language = registration.language;
        let user = accounts::insert_user(op.conn, op.now, &email, Some(hash.clone()), &first_name, &last_name, language)
            .await?;
        let new = NewOrganization {
            name: input.company.trim(),
            country: crate::platform::domain::CountryCode::parse(&input.country).ok(),
            language,
            contact_email: Some(email.as_str()),
            website: input.website.as_deref().filter(|w| !w.trim().is_empty()),
            signup_origin: "partner_registration",
            ..Default::default()
        };
        let org = organizations::found(op, user.id, &new).await?;
        let partner_request = partners::insert_request(op.conn, op.now, org.id.into(), user.id.into(), &request).await?;
        diesel::update(reg::table.find(registration.id))
            .set((reg::completed_at.eq(op.now), reg::organization_id.eq(org.id), reg::user_id.eq(user.id)))
            .execute(op.conn)
            .await?;
        op.audit(Action::PartnerRegistrationCompleted, registration.id, json!({})).await?;
        let changes = json!({ "company": partner_request.company, "country": partner_request.country });
        op.audit(Action::PartnerRequestSubmitted, partner_request.id, changes).await?;
        let kind = EmailKind::PartnerRegistrationCompleted { registration_id: registration.id };
        op.email(&format!("partner_registration.completed:{}", registration.id), &email, language, kind)
            .await?;
        partners::queue_received_email(op, &partner_request, language).await?;
        Ok(Completed { user, organization: org, request: partner_request })
    })
    .await
}

// ---------------------------------------------------------------------------------
// E-mails about a partner registration

use crate::{platform::config::Config, platform::domain::format_time, platform::links::Page};
use diesel::{JoinOnDsl, NullableExpressionMethods};

/// The link to the registration form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkEmail {
    pub link: String,
    pub expires_at: String,
}

impl LinkEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, registration_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(i32, DateTime<Utc>)> = reg::table
            .find(registration_id)
            .select((reg::generation, reg::expires_at))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(generation, expires_at)| LinkEmail {
            link: Link::PartnerRegistration.url(config, registration_id, generation),
            expires_at: format_time(expires_at),
        }))
    }
}

/// The registration is complete and waits for the sales team.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompletedEmail {
    pub company: String,
    pub first_name: String,
    pub login_url: String,
}

impl CompletedEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, registration_id: Uuid) -> Result<Option<Self>> {
        use crate::schema::{organizations as o, users as u};
        let row: Option<(String, String)> = reg::table
            .inner_join(o::table.on(reg::organization_id.eq(o::id.nullable())))
            .inner_join(u::table.on(reg::user_id.eq(u::id.nullable())))
            .filter(reg::id.eq(registration_id))
            .select((o::name, u::first_name))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(company, first_name)| CompletedEmail {
            company,
            first_name,
            login_url: Page::Login.url(config),
        }))
    }
}

/// The address already has an account: log in and request partner status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExistingAccountEmail {
    pub login_url: String,
    pub reset_url: String,
}

impl ExistingAccountEmail {
    pub fn new(config: &Config) -> Self {
        ExistingAccountEmail {
            login_url: Page::Login.url(config),
            reset_url: Page::ForgotPassword.url(config),
        }
    }
}
