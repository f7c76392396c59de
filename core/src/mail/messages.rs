//! What each e-mail is about (ids only) and how its template context is built from the
//! current database state when the worker sends it.

use diesel::{ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Ctx, Result, accounts, domain::fixed2, invitations, memberships, partners::affiliate_link, registrations, schema,
    signups, tokens,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailKind {
    PartnerRequestReceived {
        request_id: Uuid,
    },
    PartnerRequestApproved {
        request_id: Uuid,
    },
    PartnerRequestRejected {
        request_id: Uuid,
    },
    PartnerRegistrationLink {
        registration_id: Uuid,
    },
    PartnerRegistrationCompleted {
        registration_id: Uuid,
    },
    MemberInvitation {
        organization_id: Uuid,
        password_link_id: Uuid,
    },
    /// A person with an account is asked to join an organization.
    MembershipInvitation {
        membership_id: Uuid,
    },
    SignupConfirmation {
        signup_id: Uuid,
    },
    /// Someone signed up with an address that has an account.
    SignupExistingAccount {
        user_id: Uuid,
    },
    PasswordReset {
        password_link_id: Uuid,
    },
    /// Someone asked to reset the password of an address without an account.
    PasswordResetNoAccount {},
    /// Someone asked to register a partner company with an address that has an account.
    PartnerRegistrationExistingAccount {},
    CustomerInvitation {
        invitation_id: Uuid,
    },
    CustomerRegistered {
        invitation_id: Uuid,
        user_id: Uuid,
    },
    ServiceProviderAdded {
        link_id: Uuid,
        user_id: Option<Uuid>,
        for_partner: bool,
    },
    ServiceProviderRemoved {
        link_id: Uuid,
        user_id: Option<Uuid>,
        for_partner: bool,
    },
    TrialStarted {
        trial_id: Uuid,
    },
    TrialReminder {
        trial_id: Uuid,
        days: u32,
    },
    TrialEnded {
        trial_id: Uuid,
    },
    OrderConfirmation {
        order_id: Uuid,
    },
    InvoicePaid {
        invoice_id: Uuid,
    },
}

/// Templates of e-mails that go to an address a caller typed: at most
/// `EMAILS_PER_ADDRESS_PER_HOUR` of them per address.
pub const TYPED_ADDRESS_TEMPLATES: &[&str] = &[
    "signup_confirmation",
    "signup_existing_account",
    "password_reset",
    "password_reset_no_account",
    "partner_registration_link",
    "partner_registration_existing_account",
    "member_invitation",
    "membership_invitation",
    "customer_invitation",
];

impl EmailKind {
    /// The template folder under `templates/email/`.
    pub fn template(&self) -> &'static str {
        match self {
            EmailKind::PartnerRequestReceived { .. } => "partner_request_received",
            EmailKind::PartnerRequestApproved { .. } => "partner_request_approved",
            EmailKind::PartnerRequestRejected { .. } => "partner_request_rejected",
            EmailKind::PartnerRegistrationLink { .. } => "partner_registration_link",
            EmailKind::PartnerRegistrationCompleted { .. } => "partner_registration_completed",
            EmailKind::MemberInvitation { .. } => "member_invitation",
            EmailKind::MembershipInvitation { .. } => "membership_invitation",
            EmailKind::SignupConfirmation { .. } => "signup_confirmation",
            EmailKind::SignupExistingAccount { .. } => "signup_existing_account",
            EmailKind::PasswordReset { .. } => "password_reset",
            EmailKind::PasswordResetNoAccount {} => "password_reset_no_account",
            EmailKind::PartnerRegistrationExistingAccount {} => "partner_registration_existing_account",
            EmailKind::CustomerInvitation { .. } => "customer_invitation",
            EmailKind::CustomerRegistered { .. } => "customer_registered",
            EmailKind::ServiceProviderAdded { .. } => "service_provider_added",
            EmailKind::ServiceProviderRemoved { .. } => "service_provider_removed",
            EmailKind::TrialStarted { .. } => "trial_started",
            EmailKind::TrialReminder { days: 1, .. } => "trial_ends_today",
            EmailKind::TrialReminder { .. } => "trial_ending",
            EmailKind::TrialEnded { .. } => "trial_ended",
            EmailKind::OrderConfirmation { .. } => "order_confirmation",
            EmailKind::InvoicePaid { .. } => "invoice_paid",
        }
    }
}

/// The template context, or `None` when the subject no longer exists.
pub(crate) async fn build(conn: &mut AsyncPgConnection, ctx: &Ctx, kind: &EmailKind) -> Result<Option<Value>> {
    let portal_url = ctx.config.url("/");
    let base = |mut v: Value| {
        v["portal_url"] = json!(portal_url);
        v["product"] = json!("Partnerdesk");
        Some(v)
    };
    Ok(match kind {
        EmailKind::PartnerRequestReceived { request_id } => {
            use schema::partner_requests as r;
            let row: Option<(String, String)> = r::table
                .find(request_id)
                .select((r::company, r::contact_name))
                .first(conn)
                .await
                .optional()?;
            row.and_then(|(company, contact_name)| base(json!({ "company": company, "contact_name": contact_name })))
        }
        EmailKind::PartnerRequestApproved { request_id } => {
            use schema::{partner_requests as r, partners as p};
            let row = r::table
                .inner_join(p::table.on(p::organization_id.eq(r::organization_id)))
                .filter(r::id.eq(request_id))
                .select((
                    r::company,
                    r::contact_name,
                    p::partner_code,
                    p::affiliate_code,
                    p::default_commission_rate,
                ))
                .first::<(String, String, String, String, rust_decimal::Decimal)>(conn)
                .await
                .optional()?;
            row.and_then(|(company, contact_name, partner_code, affiliate_code, rate)| {
                base(json!({
                    "company": company,
                    "contact_name": contact_name,
                    "partner_code": partner_code,
                    "affiliate_link": affiliate_link(&ctx.config, &affiliate_code),
                    "commission_rate": fixed2(rate),
                }))
            })
        }
        EmailKind::PartnerRequestRejected { request_id } => {
            use schema::partner_requests as r;
            let row: Option<(String, String, Option<String>)> = r::table
                .find(request_id)
                .select((r::company, r::contact_name, r::decision_reason))
                .first(conn)
                .await
                .optional()?;
            row.and_then(|(company, contact_name, reason)| {
                base(json!({ "company": company, "contact_name": contact_name, "reason": reason.unwrap_or_default() }))
            })
        }
        EmailKind::PartnerRegistrationLink { registration_id } => {
            use schema::partner_registrations as g;
            let row: Option<(i32, chrono::DateTime<chrono::Utc>)> = g::table
                .find(registration_id)
                .select((g::generation, g::expires_at))
                .first(conn)
                .await
                .optional()?;
            row.and_then(|(generation, expires_at)| {
                let token = tokens::link_token(ctx.secret(), registrations::LINK_PURPOSE, *registration_id, generation);
                base(json!({
                    "link": ctx.config.url(&format!("/register/partner/{token}")),
                    "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                }))
            })
        }
        EmailKind::PartnerRegistrationCompleted { registration_id } => {
            use schema::{organizations as o, partner_registrations as g, users as u};
            let row = g::table
                .inner_join(o::table.on(g::organization_id.eq(o::id.nullable())))
                .inner_join(u::table.on(g::user_id.eq(u::id.nullable())))
                .filter(g::id.eq(registration_id))
                .select((o::name, u::first_name))
                .first::<(String, String)>(conn)
                .await
                .optional()?;
            row.and_then(|(company, first_name)| {
                base(json!({ "company": company, "first_name": first_name, "login_url": ctx.config.url("/login") }))
            })
        }
        EmailKind::MemberInvitation {
            organization_id,
            password_link_id,
        } => {
            use schema::{organizations as o, password_links as pl, users as u};
            let org: Option<String> = o::table
                .find(organization_id)
                .select(o::name)
                .first(conn)
                .await
                .optional()?;
            let link = pl::table
                .inner_join(u::table)
                .filter(pl::id.eq(password_link_id))
                .select((pl::generation, pl::expires_at, u::first_name))
                .first::<(i32, chrono::DateTime<chrono::Utc>, String)>(conn)
                .await
                .optional()?;
            match (org, link) {
                (Some(org), Some((generation, expires_at, first_name))) => {
                    let token = tokens::link_token(
                        ctx.secret(),
                        accounts::PASSWORD_LINK_PURPOSE,
                        *password_link_id,
                        generation,
                    );
                    base(json!({
                        "organization": org,
                        "first_name": first_name,
                        "link": ctx.config.url(&format!("/password/{token}")),
                        "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    }))
                }
                _ => None,
            }
        }
        EmailKind::MembershipInvitation { membership_id } => {
            use schema::{memberships as m, organizations as o, users as u};
            let row = m::table
                .inner_join(o::table.on(o::id.eq(m::organization_id)))
                .inner_join(u::table.on(u::id.eq(m::user_id)))
                .filter(m::id.eq(membership_id))
                .filter(m::accepted_at.is_null())
                .select((
                    o::name,
                    u::first_name,
                    m::invited_by,
                    m::invite_generation,
                    m::invite_expires_at,
                ))
                .first::<(String, String, Option<Uuid>, i32, Option<chrono::DateTime<chrono::Utc>>)>(conn)
                .await
                .optional()?;
            let Some((organization, first_name, invited_by, generation, expires_at)) = row else {
                return Ok(None);
            };
            let inviter: String = match invited_by {
                Some(id) => u::table
                    .find(id)
                    .select((u::first_name, u::last_name))
                    .first::<(String, String)>(conn)
                    .await
                    .optional()?
                    .map(|(f, l)| format!("{f} {l}").trim().to_owned())
                    .unwrap_or_default(),
                None => String::new(),
            };
            let token = tokens::link_token(ctx.secret(), memberships::LINK_PURPOSE, *membership_id, generation);
            base(json!({
                "organization": organization,
                "first_name": first_name,
                "inviter": inviter,
                "link": ctx.config.url(&format!("/invitations/{token}")),
                "expires_at": expires_at.map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
            }))
        }
        EmailKind::SignupConfirmation { signup_id } => {
            use schema::signups as s;
            let row = s::table
                .find(signup_id)
                .filter(s::confirmed_at.is_null())
                .select((s::first_name, s::expires_at))
                .first::<(String, chrono::DateTime<chrono::Utc>)>(conn)
                .await
                .optional()?;
            row.and_then(|(first_name, expires_at)| {
                let token = tokens::link_token(ctx.secret(), signups::LINK_PURPOSE, *signup_id, 1);
                base(json!({
                    "first_name": first_name,
                    "link": ctx.config.url(&format!("/signup/confirm/{token}")),
                    "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                }))
            })
        }
        EmailKind::SignupExistingAccount { user_id } => {
            use schema::users as u;
            let first_name: Option<String> = u::table
                .find(user_id)
                .select(u::first_name)
                .first(conn)
                .await
                .optional()?;
            first_name.and_then(|first_name| {
                base(json!({
                    "first_name": first_name,
                    "login_url": ctx.config.url("/login"),
                    "reset_url": ctx.config.url("/password/forgot"),
                }))
            })
        }
        EmailKind::PasswordReset { password_link_id } => {
            use schema::{password_links as pl, users as u};
            let link = pl::table
                .inner_join(u::table)
                .filter(pl::id.eq(password_link_id))
                .filter(pl::used_at.is_null())
                .select((pl::generation, pl::expires_at, u::first_name))
                .first::<(i32, chrono::DateTime<chrono::Utc>, String)>(conn)
                .await
                .optional()?;
            link.and_then(|(generation, expires_at, first_name)| {
                let token = tokens::link_token(
                    ctx.secret(),
                    accounts::PASSWORD_LINK_PURPOSE,
                    *password_link_id,
                    generation,
                );
                base(json!({
                    "first_name": first_name,
                    "link": ctx.config.url(&format!("/password/{token}")),
                    "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                }))
            })
        }
        EmailKind::PasswordResetNoAccount {} => base(json!({ "signup_url": ctx.config.url("/signup") })),
        EmailKind::PartnerRegistrationExistingAccount {} => base(json!({
            "login_url": ctx.config.url("/login"),
            "reset_url": ctx.config.url("/password/forgot"),
        })),
        EmailKind::CustomerInvitation { invitation_id } => {
            use schema::{customer_invitations as i, organizations as o};
            let row = i::table
                .inner_join(o::table.on(o::id.eq(i::partner_id)))
                .filter(i::id.eq(invitation_id))
                .select((i::company_name, i::contact_name, i::generation, i::expires_at, o::name))
                .first::<(String, Option<String>, i32, chrono::DateTime<chrono::Utc>, String)>(conn)
                .await
                .optional()?;
            row.and_then(|(company, contact_name, generation, expires_at, partner)| {
                let token = tokens::link_token(ctx.secret(), invitations::LINK_PURPOSE, *invitation_id, generation);
                base(json!({
                    "company": company,
                    "contact_name": contact_name.unwrap_or_default(),
                    "partner": partner,
                    "link": ctx.config.url(&format!("/register/customer/{token}")),
                    "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                }))
            })
        }
        EmailKind::CustomerRegistered { invitation_id, user_id } => {
            use schema::{customer_invitations as i, organizations as o, users as u};
            let row = i::table
                .inner_join(o::table.on(i::organization_id.eq(o::id.nullable())))
                .filter(i::id.eq(invitation_id))
                .select((o::name, i::email))
                .first::<(String, String)>(conn)
                .await
                .optional()?;
            let first_name: Option<String> = u::table
                .find(user_id)
                .select(u::first_name)
                .first(conn)
                .await
                .optional()?;
            match (row, first_name) {
                (Some((company, email)), Some(first_name)) => base(json!({
                    "company": company,
                    "email": email,
                    "first_name": first_name,
                    "customers_url": ctx.config.url("/"),
                })),
                _ => None,
            }
        }
        EmailKind::ServiceProviderAdded {
            link_id,
            user_id,
            for_partner,
        }
        | EmailKind::ServiceProviderRemoved {
            link_id,
            user_id,
            for_partner,
        } => {
            use schema::{organizations as o, service_provider_links as l, users as u};
            let names = l::table
                .filter(l::id.eq(link_id))
                .select((l::customer_id, l::partner_id))
                .first::<(Uuid, Uuid)>(conn)
                .await
                .optional()?;
            let Some((customer_id, partner_id)) = names else {
                return Ok(None);
            };
            let company: String = o::table.find(customer_id).select(o::name).first(conn).await?;
            let partner: String = o::table.find(partner_id).select(o::name).first(conn).await?;
            let first_name: String = match user_id {
                Some(id) => u::table
                    .find(id)
                    .select(u::first_name)
                    .first(conn)
                    .await
                    .optional()?
                    .unwrap_or_default(),
                None => String::new(),
            };
            base(
                json!({ "company": company, "partner": partner, "first_name": first_name, "for_partner": for_partner }),
            )
        }
        EmailKind::TrialStarted { trial_id }
        | EmailKind::TrialReminder { trial_id, .. }
        | EmailKind::TrialEnded { trial_id } => {
            use schema::{modules as m, organizations as o, trials as t};
            let row = t::table
                .inner_join(o::table.on(o::id.eq(t::organization_id)))
                .inner_join(m::table.on(m::id.eq(t::module_id)))
                .filter(t::id.eq(trial_id))
                .select((o::name, m::name, t::ends_at, t::max_users))
                .first::<(String, String, chrono::DateTime<chrono::Utc>, i32)>(conn)
                .await
                .optional()?;
            let days = match kind {
                EmailKind::TrialReminder { days, .. } => *days,
                _ => 0,
            };
            row.and_then(|(company, module, ends_at, max_users)| {
                base(json!({
                    "company": company,
                    "module": module,
                    "ends_at": ends_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    "ends_on": ends_at.format("%Y-%m-%d").to_string(),
                    "days": days,
                    "max_users": max_users,
                }))
            })
        }
        EmailKind::OrderConfirmation { order_id } => {
            use schema::{invoices as i, order_lines as l, orders as ord, organizations as o};
            let head = ord::table
                .inner_join(o::table.on(o::id.eq(ord::organization_id)))
                .inner_join(i::table.on(i::order_id.eq(ord::id)))
                .filter(ord::id.eq(order_id))
                .select((
                    o::name,
                    ord::number,
                    ord::currency,
                    ord::total,
                    i::id,
                    i::number,
                    i::due_at,
                ))
                .first::<(
                    String,
                    i64,
                    String,
                    rust_decimal::Decimal,
                    Uuid,
                    String,
                    chrono::DateTime<chrono::Utc>,
                )>(conn)
                .await
                .optional()?;
            let Some((company, number, currency, total, invoice_id, invoice_number, due_at)) = head else {
                return Ok(None);
            };
            let lines: Vec<(String, i32, rust_decimal::Decimal)> = l::table
                .filter(l::order_id.eq(order_id))
                .order(l::id.asc())
                .select((l::description, l::quantity, l::amount))
                .load(conn)
                .await?;
            base(json!({
                "company": company,
                "order_number": number,
                "currency": currency,
                "total": fixed2(total),
                "invoice_number": invoice_number,
                "due_on": due_at.format("%Y-%m-%d").to_string(),
                "payment_url": crate::orders::payment_url(&ctx.config, ctx.secret(), invoice_id),
                "lines": lines.iter().map(|(d, q, a)| json!({ "description": d, "quantity": q, "amount": fixed2(*a) })).collect::<Vec<_>>(),
            }))
        }
        EmailKind::InvoicePaid { invoice_id } => {
            use schema::{invoices as i, organizations as o};
            let row = i::table
                .inner_join(o::table.on(o::id.eq(i::organization_id)))
                .filter(i::id.eq(invoice_id))
                .select((o::name, i::number, i::currency, i::amount, i::paid_at))
                .first::<(
                    String,
                    String,
                    String,
                    rust_decimal::Decimal,
                    Option<chrono::DateTime<chrono::Utc>>,
                )>(conn)
                .await
                .optional()?;
            row.and_then(|(company, number, currency, amount, paid_at)| {
                base(json!({
                    "company": company,
                    "invoice_number": number,
                    "currency": currency,
                    "amount": fixed2(amount),
                    "paid_on": paid_at.map(|p| p.format("%Y-%m-%d").to_string()).unwrap_or_default(),
                }))
            })
        }
    })
}
