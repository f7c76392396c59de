//! Inviting a customer by e-mail ("Create organization"): a registration link in the
//! customer's language; registering through it creates the organization and its first
//! administrator and makes the inviting partner its service provider. Links are single
//! use, stored only as a hash, expire, and can be resent (the old link stops working)
//! or revoked.

use crate::identity::passwords;
use crate::platform::ids::{InvitationId, OrgId, UserId};
use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, Result,
    identity::accounts,
    platform::audit::Who,
    platform::authz::{Actor, Permission},
    platform::db::Pool,
    platform::domain::{CommissionRate, CountryCode, Email, Language, Password, optional_text, required_text},
    platform::error::{Validator, validated},
    platform::links::Link,
    platform::mail::{self, EmailKind},
    platform::tokens,
    platform::values::{CustomerOrigin, CustomerType, InvitationStatus},
    schema::{customer_invitations as inv, organizations as orgs, partners, users},
    tenancy::customers,
    tenancy::organizations::{self, NewOrganization, Organization},
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inv)]
pub struct Invitation {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub invited_by: Option<Uuid>,
    pub email: String,
    pub company_name: String,
    pub contact_name: Option<String>,
    pub language: String,
    pub country: Option<String>,
    pub commission_rate: Decimal,
    pub debtor_number: Option<String>,
    pub customer_type: CustomerType,
    pub generation: i32,
    pub expires_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl Invitation {
    /// open, accepted, revoked or expired.
    pub fn status(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Open
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InvitationInput {
    pub email: String,
    pub company_name: String,
    pub contact_name: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    /// Defaults to the partner's default commission rate.
    pub commission_rate: Option<String>,
    pub debtor_number: Option<String>,
    pub customer_type: Option<String>,
}

fn ttl(ctx: &Ctx) -> Duration {
    Duration::from_std(ctx.config.invitation_ttl).unwrap_or(Duration::days(14))
}

async fn queue_invitation_email(op: &mut Op<'_>, i: &Invitation) -> Result<()> {
    let to = Email::parse(&i.email)?;
    op.email(
        &format!("customer_invitation:{}:{}", i.id, i.generation),
        &to,
        Language::from_db(&i.language),
        EmailKind::CustomerInvitation { invitation_id: i.id },
    )
    .await
}

/// Invites a customer; the e-mail goes out in the customer's language.
pub async fn create(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    input: InvitationInput,
) -> Result<Invitation> {
    let partner = actor.acting_org.ok_or_else(Error::no_organization)?;
    op::run(conn, ctx, actor, partner, Permission::CreateCustomers, async |op| {
        let mut v = Validator::new();
        let email = v.check(Email::parse(&input.email));
        let company = v.check(required_text("company_name", &input.company_name, 200));
        let contact = v.check(optional_text("contact_name", input.contact_name.as_deref(), 200));
        let language = v.check(Language::parse(input.language.as_deref().unwrap_or("en")));
        let country = match input.country.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => v.check(CountryCode::parse(c).map(Some)),
            None => Some(None),
        };
        let rate = match &input.commission_rate {
            Some(r) => v.check(CommissionRate::parse(r).map(|r| Some(r.value()))),
            None => Some(None),
        };
        let debtor = v.check(optional_text("debtor_number", input.debtor_number.as_deref(), 50));
        let ctype = customers::check_type(&mut v, input.customer_type.as_deref()).unwrap_or(CustomerType::Customer);
        v.finish()?;
        let (email, company, contact, language, country, rate, debtor) = (
            validated(email),
            validated(company),
            validated(contact),
            validated(language),
            validated(country),
            validated(rate),
            validated(debtor),
        );
        mail::check_address_rate(op.conn, ctx, &email).await?;
        if let Some(d) = &debtor
            && customers::debtor_number_taken(op.conn, partner.into(), d, None, op.now).await?
        {
            return Err(customers::debtor_number_conflict());
        }
        let rate = match rate {
            Some(r) => r,
            None => partners::table.find(partner).select(partners::default_commission_rate).first(op.conn).await?,
        };
        let id = Uuid::now_v7();
        let invitation = diesel::insert_into(inv::table)
            .values((
                inv::id.eq(id),
                inv::partner_id.eq(partner),
                inv::invited_by.eq(actor.user_id),
                inv::email.eq(email.as_str()),
                inv::company_name.eq(&company),
                inv::contact_name.eq(&contact),
                inv::language.eq(language.as_str()),
                inv::country.eq(country.map(|c| c.as_str().to_owned())),
                inv::commission_rate.eq(rate),
                inv::debtor_number.eq(&debtor),
                inv::customer_type.eq(ctype),
                inv::token_hash.eq(Link::CustomerRegistration.token_hash(ctx.secret(), id, 1)),
                inv::generation.eq(1),
                inv::expires_at.eq(op.now + ttl(ctx)),
                inv::sent_at.eq(op.now),
                inv::created_at.eq(op.now),
            ))
            .returning(Invitation::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(Action::CustomerInvitationCreated,
            id,
            json!({ "email": invitation.email, "company_name": invitation.company_name, "language": invitation.language }),
        )
        .await?;
        queue_invitation_email(op, &invitation).await?;
        Ok(invitation)
    })
    .await
}

/// The acting partner's invitations with a status (default: open ones), newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    status: Option<&str>,
) -> Result<Vec<Invitation>> {
    let partner = actor.acting_org.ok_or_else(Error::no_organization)?;
    let partner = op::grant(conn, actor, partner.into(), Permission::ManageCustomers)
        .await?
        .org();
    let status = status.unwrap_or("open");
    if !["open", "accepted", "revoked", "expired", "all"].contains(&status) {
        return Err(Error::field(
            "status",
            "invalid_status",
            "Status must be open, accepted, revoked, expired or all",
        ));
    }
    let all: Vec<Invitation> = inv::table
        .filter(inv::partner_id.eq(partner))
        .order((inv::created_at.desc(), inv::id.desc()))
        .select(Invitation::as_select())
        .load(conn)
        .await?;
    let now = ctx.now();
    Ok(all
        .into_iter()
        .filter(|i| status == "all" || i.status(now).as_str() == status)
        .collect())
}

async fn lock_own(conn: &mut AsyncPgConnection, partner: OrgId, id: InvitationId) -> Result<Invitation> {
    inv::table
        .filter(inv::id.eq(id))
        .filter(inv::partner_id.eq(partner))
        .select(Invitation::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("invitation"))
}

/// Sends a fresh link (open or expired invitations); the previous link stops working.
pub async fn resend(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: Uuid) -> Result<Invitation> {
    let partner = actor.acting_org.ok_or_else(Error::no_organization)?;
    op::run(conn, ctx, actor, partner, Permission::CreateCustomers, async |op| {
        let current = lock_own(op.conn, partner.into(), id.into()).await?;
        match current.status(op.now) {
            InvitationStatus::Accepted => {
                return Err(Error::conflict(
                    "invitation_accepted",
                    None,
                    "This invitation was already accepted",
                ));
            }
            InvitationStatus::Revoked => {
                return Err(Error::conflict(
                    "invitation_revoked",
                    None,
                    "This invitation was revoked",
                ));
            }
            _ => {}
        }
        if let Ok(to) = Email::parse(&current.email) {
            mail::check_address_rate(op.conn, ctx, &to).await?;
        }
        let generation = current.generation + 1;
        let invitation = diesel::update(inv::table.find(id))
            .set((
                inv::generation.eq(generation),
                inv::token_hash.eq(Link::CustomerRegistration.token_hash(ctx.secret(), id, generation)),
                inv::expires_at.eq(op.now + ttl(ctx)),
                inv::sent_at.eq(op.now),
            ))
            .returning(Invitation::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::CustomerInvitationResent,
            id,
            json!({ "generation": generation }),
        )
        .await?;
        queue_invitation_email(op, &invitation).await?;
        Ok(invitation)
    })
    .await
}

/// Revokes an open invitation; its link stops working.
pub async fn revoke(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: Uuid) -> Result<Invitation> {
    let partner = actor.acting_org.ok_or_else(Error::no_organization)?;
    op::run(conn, ctx, actor, partner, Permission::CreateCustomers, async |op| {
        let current = lock_own(op.conn, partner.into(), id.into()).await?;
        if current.accepted_at.is_some() {
            return Err(Error::conflict(
                "invitation_accepted",
                None,
                "This invitation was already accepted",
            ));
        }
        if current.revoked_at.is_some() {
            return Ok(current.clone());
        }
        let invitation = diesel::update(inv::table.find(id))
            .set(inv::revoked_at.eq(op.now))
            .returning(Invitation::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(Action::CustomerInvitationRevoked, id, json!({})).await?;
        Ok(invitation)
    })
    .await
}

/// What the registration page shows.
#[derive(Debug, Clone)]
pub struct Preview {
    pub email: String,
    pub company_name: String,
    pub contact_name: Option<String>,
    pub language: Language,
    pub partner_name: String,
    pub expires_at: DateTime<Utc>,
    /// The address has an account: the person logs in and registers the company with
    /// it (only the holder of the e-mailed link learns this).
    pub has_account: bool,
}

async fn open_link(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str, lock: bool) -> Result<Invitation> {
    let query = inv::table
        .filter(inv::token_hash.eq(tokens::hash(token)))
        .select(Invitation::as_select());
    let found: Option<Invitation> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    let Some(invitation) = found else {
        return Err(Error::gone(
            "link_invalid",
            "This invitation link is not valid. Ask your partner for a new one.",
        ));
    };
    match invitation.status(ctx.now()) {
        InvitationStatus::Accepted => Err(Error::gone(
            "link_used",
            "This invitation has already been used. Log in instead.",
        )),
        InvitationStatus::Revoked => Err(Error::gone(
            "link_revoked",
            "This invitation was withdrawn. Ask your partner for a new one.",
        )),
        InvitationStatus::Expired => Err(Error::gone(
            "link_expired",
            "This invitation has expired. Ask your partner for a new one.",
        )),
        _ => Ok(invitation),
    }
}

async fn account_of(conn: &mut AsyncPgConnection, i: &Invitation) -> Result<Option<accounts::User>> {
    match Email::parse(&i.email) {
        Ok(email) => accounts::find_user_by_email(conn, &email).await,
        Err(_) => Ok(None),
    }
}

pub async fn inspect(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<Preview> {
    let i = open_link(conn, ctx, token, false).await?;
    let partner_name: String = orgs::table.find(i.partner_id).select(orgs::name).first(conn).await?;
    let has_account = account_of(conn, &i).await?.is_some();
    Ok(Preview {
        email: i.email,
        company_name: i.company_name,
        contact_name: i.contact_name,
        language: Language::from_db(&i.language),
        partner_name,
        expires_at: i.expires_at,
        has_account,
    })
}

#[derive(Debug, Clone, Default)]
pub struct AcceptInput {
    /// For a new account: the person's names and password.
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    /// Defaults to the company name in the invitation.
    pub company_name: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub user: accounts::User,
    pub organization: Organization,
}

fn log_in_first() -> Error {
    Error::conflict(
        "log_in_first",
        None,
        "This address has an account. Log in with it and open the invitation link again to register the company with your account.",
    )
}

/// Who registers: a new account (names and password hashed beforehand) or the
/// logged-in person whose account has the invited address.
enum Registrant {
    New { first: String, last: String, hash: String },
    Existing(accounts::User),
}

/// Registers through an invitation: the organization, its first administrator, and the
/// inviting partner as service provider (origin: invitation). When the invited address
/// has an account, the person logs in (`caller`) and registers with that account; a new
/// address gets an account with the names and password of the form. The customer
/// decides later what the partner may do inside its organization.
pub async fn accept(pool: &Pool, ctx: &Ctx, token: &str, caller: Option<Uuid>, input: AcceptInput) -> Result<Accepted> {
    let (preview, existing) = {
        let mut conn = pool.get().await?;
        let preview = open_link(&mut conn, ctx, token, false).await?;
        let existing = account_of(&mut conn, &preview).await?;
        (preview, existing)
    };
    // Checked (and the password hashed) without holding a connection.
    let form = check_form(ctx, &preview, existing, caller, &input).await?;
    let mut conn = pool.get().await?;
    op::run_as(&mut conn, ctx, Who::system(None), async |op| {
        let i = open_link(op.conn, ctx, token, true).await?;
        register(op, &i, &form).await
    })
    .await
}

/// What the registration form decided.
struct Form {
    registrant: Registrant,
    company: String,
    country: Option<CountryCode>,
}

async fn check_form(
    ctx: &Ctx,
    preview: &Invitation,
    existing: Option<accounts::User>,
    caller: Option<Uuid>,
    input: &AcceptInput,
) -> Result<Form> {
    let mut v = Validator::new();
    let company = v.check(required_text(
        "company_name",
        input.company_name.as_deref().unwrap_or(&preview.company_name),
        200,
    ));
    let country = match input
        .country
        .as_deref()
        .or(preview.country.as_deref())
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => v.check(CountryCode::parse(c).map(Some)),
        None => Some(None),
    };
    let registrant = match existing {
        Some(user) => {
            v.finish()?;
            match caller {
                Some(id) if id == user.id => Registrant::Existing(user),
                Some(_) => {
                    return Err(Error::Forbidden {
                        code: "invitation_for_another_account",
                        message: "This invitation is for another address. Log in with the address it was sent to."
                            .into(),
                    });
                }
                None => return Err(log_in_first()),
            }
        }
        None => {
            let first = v.check(required_text("first_name", &input.first_name, 100));
            let last = v.check(required_text("last_name", &input.last_name, 100));
            let password = v.check(Password::parse(&input.password));
            v.finish()?;
            let hash = passwords::hash_password(ctx, &validated(password)).await?;
            Registrant::New {
                first: validated(first),
                last: validated(last),
                hash,
            }
        }
    };
    Ok(Form {
        registrant,
        company: validated(company),
        country: validated(country),
    })
}

/// Carries out a registration on a locked, open invitation.
async fn register(op: &mut Op<'_>, i: &Invitation, form: &Form) -> Result<Accepted> {
    let email = Email::parse(&i.email)?;
    let language = Language::from_db(&i.language);
    let user = match &form.registrant {
        Registrant::Existing(user) => user.clone(),
        Registrant::New { first, last, hash } => {
            if accounts::find_user_by_email(op.conn, &email).await?.is_some() {
                return Err(log_in_first());
            }
            accounts::insert_user(op.conn, op.now, &email, Some(hash.clone()), first, last, language).await?
        }
    };
    let new = NewOrganization {
        name: &form.company,
        country: form.country,
        language,
        contact_email: Some(email.as_str()),
        signup_origin: "invitation",
        customer_type: i.customer_type,
        ..Default::default()
    };
    let org = organizations::found(op, user.id, &new).await?;
    let debtor = carried_debtor_number(op.conn, i).await?;
    let link = customers::insert_link(
        op.conn,
        op.now,
        org.id.into(),
        i.partner_id.into(),
        CustomerOrigin::Invitation,
        i.commission_rate,
        debtor.as_deref(),
        &[],
        None,
    )
    .await?;
    let evidence = json!({ "invitation_id": i.id, "service_provider_link": link });
    crate::earnings::commissions::attribute(
        op,
        org.id.into(),
        i.partner_id.into(),
        crate::earnings::commissions::Kind::Partner,
        evidence,
    )
    .await?;
    diesel::update(inv::table.find(i.id))
        .set((inv::accepted_at.eq(op.now), inv::organization_id.eq(org.id)))
        .execute(op.conn)
        .await?;
    op.audit(
        Action::CustomerInvitationAccepted,
        i.id,
        json!({ "organization_id": org.id }),
    )
    .await?;
    op.audit(
        Action::ServiceProviderLinked,
        link,
        json!({ "partner_id": i.partner_id, "origin": "invitation", "debtor_number": debtor }),
    )
    .await?;
    notify_partner(op, i).await?;
    Ok(Accepted {
        user,
        organization: org,
    })
}

/// The invitation's debtor number, unless another customer of the partner was given it
/// since the invitation was sent.
async fn carried_debtor_number(conn: &mut AsyncPgConnection, i: &Invitation) -> Result<Option<String>> {
    use crate::schema::service_provider_links as l;
    let Some(d) = &i.debtor_number else {
        return Ok(None);
    };
    let used: i64 = l::table
        .filter(l::partner_id.eq(i.partner_id))
        .filter(l::ended_at.is_null())
        .filter(l::debtor_number.eq(d))
        .count()
        .get_result(conn)
        .await?;
    Ok((used == 0).then(|| d.clone()))
}

/// Tells the partner a customer registered: the person who invited, else the partner's
/// administrators.
async fn notify_partner(op: &mut Op<'_>, i: &Invitation) -> Result<()> {
    let mut recipients: Vec<(Uuid, String, String)> = Vec::new();
    if let Some(inviter) = i.invited_by
        && let Some(row) = users::table
            .find(inviter)
            .filter(users::active.eq(true))
            .select((users::id, users::email, users::language))
            .first::<(Uuid, String, String)>(op.conn)
            .await
            .optional()?
    {
        recipients.push(row);
    }
    if recipients.is_empty() {
        recipients = crate::tenancy::memberships::administrators(op.conn, i.partner_id).await?;
    }
    for (user_id, address, lang) in recipients {
        if let Ok(to) = Email::parse(&address) {
            let kind = EmailKind::CustomerRegistered {
                invitation_id: i.id,
                user_id,
            };
            op.email(
                &format!("customer_registered:{}:{user_id}", i.id),
                &to,
                Language::from_db(&lang),
                kind,
            )
            .await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// E-mails about a customer invitation

use crate::{platform::config::Config, platform::domain::format_time, platform::links::Page};
use diesel::{JoinOnDsl, NullableExpressionMethods};

/// To the invited customer: the registration link.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InvitationEmail {
    pub company: String,
    pub contact_name: String,
    pub partner: String,
    pub link: String,
    pub expires_at: String,
}

impl InvitationEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, invitation_id: Uuid) -> Result<Option<Self>> {
        type Row = (String, Option<String>, i32, DateTime<Utc>, String);
        let row: Option<Row> = inv::table
            .inner_join(orgs::table.on(orgs::id.eq(inv::partner_id)))
            .filter(inv::id.eq(invitation_id))
            .select((
                inv::company_name,
                inv::contact_name,
                inv::generation,
                inv::expires_at,
                orgs::name,
            ))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(
            |(company, contact_name, generation, expires_at, partner)| InvitationEmail {
                company,
                contact_name: contact_name.unwrap_or_default(),
                partner,
                link: Link::CustomerRegistration.url(config, invitation_id, generation),
                expires_at: format_time(expires_at),
            },
        ))
    }
}

/// To the partner: the invited customer registered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegisteredEmail {
    pub company: String,
    pub email: String,
    pub first_name: String,
    pub customers_url: String,
}

impl RegisteredEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        config: &Config,
        invitation_id: InvitationId,
        user_id: UserId,
    ) -> Result<Option<Self>> {
        let row: Option<(String, String)> = inv::table
            .inner_join(orgs::table.on(inv::organization_id.eq(orgs::id.nullable())))
            .filter(inv::id.eq(invitation_id))
            .select((orgs::name, inv::email))
            .first(conn)
            .await
            .optional()?;
        let first_name = crate::identity::accounts::first_name(conn, user_id.into()).await?;
        Ok(match (row, first_name) {
            (Some((company, email)), Some(first_name)) => Some(RegisteredEmail {
                company,
                email,
                first_name,
                customers_url: Page::Portal.url(config),
            }),
            _ => None,
        })
    }
}
