//! "My service provider": a customer's administrator sees its partner, chooses one by
//! the partner's public code, removes it, and decides what the partner may do inside the
//! organization. At most one service provider at a time; every change is audited and
//! e-mailed to both sides.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::audit::Action;
use crate::op::{self, Op};
use crate::{
    Ctx, Error, FieldError, Result,
    authz::{self, Actor, Permission},
    customers,
    domain::{Email, Language},
    error::Validator,
    mail::{EmailKind, Outgoing},
    schema::{organizations as orgs, partners, service_provider_links as links},
    values::CustomerOrigin,
};

#[derive(Debug, Clone)]
pub struct ServiceProvider {
    pub link_id: Uuid,
    pub partner_id: Uuid,
    pub name: String,
    pub partner_code: String,
    pub country: Option<String>,
    pub website: Option<String>,
    pub origin: CustomerOrigin,
    pub since: DateTime<Utc>,
    pub granted_permissions: Vec<Permission>,
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    Option<String>,
    CustomerOrigin,
    DateTime<Utc>,
    Vec<Option<String>>,
);

async fn current(conn: &mut AsyncPgConnection, org: Uuid) -> Result<Option<ServiceProvider>> {
    let row: Option<Row> = links::table
        .inner_join(partners::table.on(partners::organization_id.eq(links::partner_id)))
        .inner_join(orgs::table.on(orgs::id.eq(links::partner_id)))
        .filter(links::customer_id.eq(org))
        .filter(links::ended_at.is_null())
        .select((
            links::id,
            links::partner_id,
            orgs::name,
            partners::partner_code,
            orgs::country,
            orgs::website,
            links::origin,
            links::created_at,
            links::granted_permissions,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(link_id, partner_id, name, partner_code, country, website, origin, since, granted)| ServiceProvider {
            link_id,
            partner_id,
            name,
            partner_code,
            country,
            website,
            origin,
            since,
            granted_permissions: authz::parse_permissions(&granted),
        },
    ))
}

/// The organization's service provider, if any.
pub async fn get(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Option<ServiceProvider>> {
    authz::authorize(conn, actor, org, Permission::ViewOrganization).await?;
    current(conn, org).await
}

/// E-mails both sides: the customer's administrators (or its contact address) and the
/// partner's administrators.
async fn notify(op: &mut Op<'_>, link_id: Uuid, customer: Uuid, partner: Uuid, added: bool) -> Result<()> {
    let mut out = Vec::new();
    let event = if added {
        "service_provider.added"
    } else {
        "service_provider.removed"
    };
    for (side_org, for_partner) in [(customer, false), (partner, true)] {
        let mut recipients: Vec<(Option<Uuid>, String, String)> = crate::memberships::administrators(op.conn, side_org)
            .await?
            .into_iter()
            .map(|(id, e, l)| (Some(id), e, l))
            .collect();
        if recipients.is_empty() {
            let (contact, lang): (Option<String>, String) = orgs::table
                .find(side_org)
                .select((orgs::contact_email, orgs::language))
                .first(op.conn)
                .await?;
            recipients.extend(contact.map(|c| (None, c, lang)));
        }
        for (user_id, address, lang) in recipients {
            let Ok(recipient) = Email::parse(&address) else {
                continue;
            };
            let kind = if added {
                EmailKind::ServiceProviderAdded {
                    link_id,
                    user_id,
                    for_partner,
                }
            } else {
                EmailKind::ServiceProviderRemoved {
                    link_id,
                    user_id,
                    for_partner,
                }
            };
            out.push(Outgoing {
                event_key: format!("{event}:{link_id}:{}", recipient.as_str()),
                recipient,
                lang: Language::from_db(&lang),
                kind,
            });
        }
    }
    op.emails(out).await?;
    Ok(())
}

/// Chooses a partner by its public partner code.
pub async fn choose(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    partner_code: &str,
) -> Result<ServiceProvider> {
    op::run(conn, ctx, actor, org, Permission::ManageServiceProvider, async |op| {
        let code = partner_code.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(Error::field(
                "partner_code",
                "required",
                "Enter the partner code your partner gave you",
            ));
        }
        let partner: Option<(Uuid, rust_decimal::Decimal)> = partners::table
            .filter(partners::partner_code.eq(&code))
            .filter(partners::status.eq(crate::values::PartnerStanding::Active))
            .select((partners::organization_id, partners::default_commission_rate))
            .first(op.conn)
            .await
            .optional()?;
        let Some((partner_id, rate)) = partner else {
            return Err(Error::field(
                "partner_code",
                "unknown_partner_code",
                "No partner has this code",
            ));
        };
        if partner_id == org {
            return Err(Error::field(
                "partner_code",
                "own_partner_code",
                "An organization cannot be its own service provider",
            ));
        }
        if current(op.conn, org).await?.is_some() {
            return Err(Error::conflict(
                "service_provider_exists",
                Some("partner_code"),
                "Remove your current service provider before choosing another",
            ));
        }
        let link = customers::insert_link(
            op.conn,
            op.now,
            org,
            partner_id,
            CustomerOrigin::ChosenByCustomer,
            rate,
            None,
            &[],
            Some(actor.user_id),
        )
        .await?;
        op.audit(
            Action::ServiceProviderAdded,
            link,
            json!({ "partner_id": partner_id, "partner_code": code }),
        )
        .await?;
        if !crate::commissions::has_paid_order(op.conn, org).await? {
            let evidence = json!({ "chosen_by_customer": true, "service_provider_link": link });
            crate::commissions::attribute(op, org, partner_id, crate::commissions::Kind::SelfChosen, evidence).await?;
        }
        notify(op, link, org, partner_id, true).await?;
        current(op.conn, org).await?.ok_or(Error::not_found("service provider"))
    })
    .await
}

/// Removes the service provider; the partner can no longer act for the organization.
pub async fn remove(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, org: Uuid) -> Result<()> {
    op::run(conn, ctx, actor, org, Permission::ManageServiceProvider, async |op| {
        let sp = current(op.conn, org)
            .await?
            .ok_or(Error::not_found("service provider"))?;
        diesel::update(links::table.find(sp.link_id))
            .set((
                links::ended_at.eq(op.now),
                links::ended_by.eq(actor.user_id),
                links::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        op.audit(
            Action::ServiceProviderRemoved,
            sp.link_id,
            json!({ "partner_id": sp.partner_id }),
        )
        .await?;
        crate::commissions::unattribute(op, org, sp.partner_id).await?;
        notify(op, sp.link_id, org, sp.partner_id, false).await
    })
    .await
}

/// Decides what the service provider may do inside the organization.
pub async fn set_grants(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    names: &[String],
) -> Result<ServiceProvider> {
    op::run(conn, ctx, actor, org, Permission::ManageServiceProvider, async |op| {
        let mut v = Validator::new();
        let mut perms = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match Permission::parse(name.trim()) {
                Some(p) if p.is_delegable() => perms.push(p),
                Some(_) => v.push(FieldError::new(
                    format!("permissions[{i}]"),
                    "permission_not_delegable",
                    format!("{name} cannot be granted to a service provider"),
                )),
                None => v.push(FieldError::new(
                    format!("permissions[{i}]"),
                    "unknown_permission",
                    format!("Unknown permission {name:?}"),
                )),
            }
        }
        v.finish()?;
        perms.sort();
        perms.dedup();
        let sp = current(op.conn, org)
            .await?
            .ok_or(Error::not_found("service provider"))?;
        diesel::update(links::table.find(sp.link_id))
            .set((
                links::granted_permissions.eq(authz::permission_names(&perms)),
                links::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        op.audit(
            Action::ServiceProviderGrantsChanged,
            sp.link_id,
            json!({
                "old": authz::permission_names(&sp.granted_permissions),
                "new": authz::permission_names(&perms),
            }),
        )
        .await?;
        current(op.conn, org).await?.ok_or(Error::not_found("service provider"))
    })
    .await
}

// ---------------------------------------------------------------------------------
// E-mails to both sides when a service provider is added or removed

#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceProviderEmail {
    pub company: String,
    pub partner: String,
    /// The recipient's first name, or empty for an organization's contact address.
    pub first_name: String,
    /// Written to the partner (else to the customer).
    pub for_partner: bool,
}

impl ServiceProviderEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        link_id: Uuid,
        user_id: Option<Uuid>,
        for_partner: bool,
    ) -> Result<Option<Self>> {
        let sides: Option<(Uuid, Uuid)> = links::table
            .filter(links::id.eq(link_id))
            .select((links::customer_id, links::partner_id))
            .first(conn)
            .await
            .optional()?;
        let Some((customer_id, partner_id)) = sides else {
            return Ok(None);
        };
        let company: String = orgs::table.find(customer_id).select(orgs::name).first(conn).await?;
        let partner: String = orgs::table.find(partner_id).select(orgs::name).first(conn).await?;
        let first_name = match user_id {
            Some(id) => crate::accounts::first_name(conn, id).await?.unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some(ServiceProviderEmail {
            company,
            partner,
            first_name,
            for_partner,
        }))
    }
}
