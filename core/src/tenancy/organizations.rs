//! Organizations: the vendor, partners and customers are all organizations.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, Result,
    platform::audit::Who,
    platform::authz::{Actor, Permission, Role},
    platform::domain::{CountryCode, Language, optional_website, required_text},
    platform::error::{Validator, validated},
    platform::values::CustomerType,
    schema::{identity_links, organizations, partners},
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub is_vendor: bool,
    pub active: bool,
    pub customer_type: CustomerType,
    pub country: Option<String>,
    pub language: String,
    pub contact_email: Option<String>,
    pub website: Option<String>,
    pub billing_exempt: bool,
    pub allow_updates: bool,
    pub allow_beta: bool,
    pub signup_origin: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Members act for the organization only in sessions opened with single sign-on.
    pub require_sso: bool,
}

/// The fields of a new organization row.
#[derive(Debug, Clone)]
pub struct NewOrganization<'a> {
    pub name: &'a str,
    pub country: Option<CountryCode>,
    pub language: Language,
    pub contact_email: Option<&'a str>,
    pub website: Option<&'a str>,
    pub signup_origin: &'a str,
    pub customer_type: CustomerType,
    pub affiliate_partner_id: Option<Uuid>,
    pub is_vendor: bool,
    pub active: bool,
}

impl Default for NewOrganization<'_> {
    fn default() -> Self {
        NewOrganization {
            name: "",
            country: None,
            language: Language::En,
            contact_email: None,
            website: None,
            signup_origin: "direct",
            customer_type: CustomerType::Customer,
            affiliate_partner_id: None,
            is_vendor: false,
            active: true,
        }
    }
}

pub(crate) async fn insert(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    new: &NewOrganization<'_>,
) -> Result<Organization> {
    Ok(diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(Uuid::now_v7()),
            organizations::name.eq(new.name),
            organizations::is_vendor.eq(new.is_vendor),
            organizations::active.eq(new.active),
            organizations::customer_type.eq(new.customer_type),
            organizations::country.eq(new.country.map(|c| c.as_str().to_owned())),
            organizations::language.eq(new.language.as_str()),
            organizations::contact_email.eq(new.contact_email),
            organizations::website.eq(new.website),
            organizations::signup_origin.eq(new.signup_origin),
            organizations::affiliate_partner_id.eq(new.affiliate_partner_id),
            organizations::created_at.eq(now),
            organizations::updated_at.eq(now),
        ))
        .returning(Organization::as_returning())
        .get_result(conn)
        .await?)
}

/// Founds an organization with `user_id` as its first administrator, recorded as done by
/// that person for the new organization.
pub(crate) async fn found(op: &mut Op<'_>, user_id: Uuid, new: &NewOrganization<'_>) -> Result<Organization> {
    let org = insert(op.conn, op.now, new).await?;
    crate::tenancy::memberships::insert_active(
        op.conn,
        op.now,
        org.id.into(),
        user_id.into(),
        Role::Administrator,
        &[],
        None,
    )
    .await?;
    op.who = Who::user(user_id.into(), Some(org.id.into()));
    let changes = json!({
        "name": org.name, "country": org.country, "signup_origin": org.signup_origin,
        "affiliate_partner_id": new.affiliate_partner_id,
    });
    op.audit(Action::OrganizationCreated, org.id, changes).await?;
    Ok(org)
}

#[derive(Debug, Clone, Default)]
pub struct CreateOrganizationInput {
    pub name: String,
    pub country: Option<String>,
    pub language: Option<String>,
    pub website: Option<String>,
    /// The code from a partner's affiliate link the person signed up through.
    pub affiliate_code: Option<String>,
    /// The day the person followed the affiliate link, when known (the portal's cookie).
    pub affiliate_visited_on: Option<chrono::NaiveDate>,
}

/// Creates an organization for the calling user, who becomes its administrator
/// ("Settings > My organization").
pub async fn create_own(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    user_id: Uuid,
    input: CreateOrganizationInput,
) -> Result<Organization> {
    let mut v = Validator::new();
    let name = v.check(required_text("name", &input.name, 200));
    let country = match input.country.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => v.check(CountryCode::parse(c).map(Some)),
        None => Some(None),
    };
    let language = v.check(Language::parse(input.language.as_deref().unwrap_or("en")));
    let website = v.check(optional_website("website", input.website.as_deref()));
    let affiliate = match input.affiliate_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => {
            let partner: Option<Uuid> = partners::table
                .filter(partners::affiliate_code.eq(code.to_ascii_uppercase()))
                .filter(partners::status.eq(crate::platform::values::PartnerStanding::Active))
                .select(partners::organization_id)
                .first(conn)
                .await
                .optional()?;
            if partner.is_none() {
                v.push(crate::FieldError::new(
                    "affiliate_code",
                    "unknown_affiliate_code",
                    "No partner has this affiliate code",
                ));
            }
            partner
        }
        None => None,
    };
    v.finish()?;
    let (name, country, language, website) = (
        validated(name),
        validated(country),
        validated(language),
        validated(website),
    );
    op::run_as(conn, ctx, Who::user(user_id.into(), None), async |op| {
        let new = NewOrganization {
            name: &name,
            country,
            language,
            website: website.as_deref(),
            signup_origin: if affiliate.is_some() { "affiliate" } else { "direct" },
            affiliate_partner_id: affiliate,
            ..Default::default()
        };
        let org = found(op, user_id, &new).await?;
        if let Some(partner) = affiliate {
            let evidence = json!({ "affiliate_code": input.affiliate_code.as_deref().map(str::trim), "visited_on": input.affiliate_visited_on });
            crate::earnings::commissions::attribute(op, org.id.into(), partner.into(), crate::earnings::commissions::Kind::Affiliate, evidence).await?;
        }
        Ok(org)
    })
    .await
}

/// An organization's details, for anyone who may see it.
pub async fn get(conn: &mut AsyncPgConnection, actor: &Actor, org_id: Uuid) -> Result<Organization> {
    op::read(
        conn,
        actor,
        org_id,
        Permission::ViewOrganization,
        async |conn, access| find(conn, access.org()).await,
    )
    .await
}

/// The organization's own details.
#[derive(Debug, Clone, Default)]
pub struct DetailsInput {
    pub name: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
    pub contact_email: Option<String>,
    pub website: Option<String>,
}

/// Changes company details (not for a company administrator; for the organization's
/// administrator, the partner with the customer's grant, or the vendor).
pub async fn update_details(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    input: DetailsInput,
) -> Result<Organization> {
    op::run(conn, ctx, actor, org_id, Permission::EditCompanyDetails, async |op| {
        let mut v = Validator::new();
        let name = input.name.as_deref().map(|n| v.check(required_text("name", n, 200)));
        let country = input.country.as_deref().map(|c| {
            if c.trim().is_empty() {
                Some(None)
            } else {
                v.check(CountryCode::parse(c).map(Some))
            }
        });
        let language = input.language.as_deref().map(|l| v.check(Language::parse(l)));
        let contact = input.contact_email.as_deref().map(|e| {
            if e.trim().is_empty() {
                Some(None)
            } else {
                v.check(crate::platform::domain::Email::parse_field("contact_email", e).map(Some))
            }
        });
        let website = input
            .website
            .as_deref()
            .map(|w| v.check(optional_website("website", Some(w))));
        v.finish()?;
        let old = find_for_update(op.conn, org_id).await?;
        let name = name.flatten().unwrap_or(old.name.clone());
        let country = country.flatten().map(|c| c.map(|c| c.as_str().to_owned())).unwrap_or(old.country.clone());
        let language = language.flatten().map(|l| l.as_str().to_owned()).unwrap_or(old.language.clone());
        let contact = contact.flatten().map(|c| c.map(|e| e.into_inner())).unwrap_or(old.contact_email.clone());
        let website = website.flatten().unwrap_or(old.website.clone());
        let org = diesel::update(organizations::table.find(org_id))
            .set((
                organizations::name.eq(&name),
                organizations::country.eq(&country),
                organizations::language.eq(&language),
                organizations::contact_email.eq(&contact),
                organizations::website.eq(&website),
                organizations::updated_at.eq(op.now),
            ))
            .returning(Organization::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(Action::OrganizationDetailsUpdated,
            org_id,
            json!({
                "old": { "name": old.name, "country": old.country, "language": old.language, "contact_email": old.contact_email, "website": old.website },
                "new": { "name": org.name, "country": org.country, "language": org.language, "contact_email": org.contact_email, "website": org.website },
            }),
        )
        .await?;
        Ok(org)
    })
    .await
}

/// Changes company settings: whether the software may update itself and whether beta
/// versions are offered.
pub async fn update_settings(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    allow_updates: Option<bool>,
    allow_beta: Option<bool>,
) -> Result<Organization> {
    op::run(conn, ctx, actor, org_id, Permission::EditCompanySettings, async |op| {
        let old = find_for_update(op.conn, org_id).await?;
        let old_frozen: Option<DateTime<Utc>> = organizations::table
            .find(org_id)
            .select(organizations::updates_frozen_at)
            .first(op.conn)
            .await?;
        let org = diesel::update(organizations::table.find(org_id))
            .set((
                organizations::allow_updates.eq(allow_updates.unwrap_or(old.allow_updates)),
                organizations::updates_frozen_at.eq(
                    match (old.allow_updates, allow_updates.unwrap_or(old.allow_updates)) {
                        (true, false) => Some(op.now),
                        (_, true) => None,
                        (false, false) => old_frozen,
                    },
                ),
                organizations::allow_beta.eq(allow_beta.unwrap_or(old.allow_beta)),
                organizations::updated_at.eq(op.now),
            ))
            .returning(Organization::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::OrganizationSettingsUpdated,
            org_id,
            json!({
                "allow_updates": { "old": old.allow_updates, "new": org.allow_updates },
                "allow_beta": { "old": old.allow_beta, "new": org.allow_beta },
            }),
        )
        .await?;
        Ok(org)
    })
    .await
}

/// Whether members must sign in with single sign-on to act for the organization. Only
/// the organization's own administrators decide, and only once they can sign in that
/// way themselves (so that they do not lock themselves out).
pub async fn set_sso_requirement(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    required: bool,
) -> Result<Organization> {
    op::run(conn, ctx, actor, org_id, Permission::AssignRoles, async |op| {
        if actor.acting_org != Some(org_id) || actor.impersonator.is_some() || actor.delegation.is_some() {
            return Err(Error::Forbidden {
                code: "own_administrators_only",
                message: "Only the organization's own administrators decide how its members sign in".to_owned(),
            });
        }
        let old = find_for_update(op.conn, org_id).await?;
        if required && !old.require_sso {
            if ctx.config.sso.is_empty() {
                return Err(Error::conflict(
                    "sso_not_configured",
                    Some("require_sso"),
                    "No single sign-on provider is configured for this portal",
                ));
            }
            let linked: i64 = identity_links::table
                .filter(identity_links::user_id.eq(actor.user_id))
                .filter(identity_links::counts_for_sso.eq(true))
                .count()
                .get_result(op.conn)
                .await?;
            if linked == 0 {
                return Err(Error::conflict(
                    "sso_not_linked",
                    Some("require_sso"),
                    "Sign in with your organization's provider once first, or you would lock yourself out",
                ));
            }
        }
        let org = diesel::update(organizations::table.find(org_id))
            .set((
                organizations::require_sso.eq(required),
                organizations::updated_at.eq(op.now),
            ))
            .returning(Organization::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::OrganizationSettingsUpdated,
            org_id,
            json!({ "require_sso": { "old": old.require_sso, "new": org.require_sso } }),
        )
        .await?;
        Ok(org)
    })
    .await
}

/// Reads an organization and locks its row until the transaction ends, so that an
/// edit's before and after are what really changed.
pub(crate) async fn find_for_update(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Organization> {
    organizations::table
        .find(org_id)
        .select(Organization::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("organization"))
}

pub(crate) async fn find(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Organization> {
    organizations::table
        .find(org_id)
        .select(Organization::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("organization"))
}
