//! Demo data (`seeds/demo.json`): a vendor with sales, finance and ops staff, partners
//! with staff and customers, and a pending partner request. Loaded into an empty
//! database only.

use crate::identity::passwords;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, Result,
    identity::accounts,
    platform::audit::Who,
    platform::authz::{Permission, Role},
    platform::domain::{CommissionRate, CountryCode, Email, Language, Password},
    schema::{organizations as orgs, service_provider_links as links},
    tenancy::organizations::{self, NewOrganization},
    tenancy::partners::{self, RequestInput},
};

#[derive(Debug, Deserialize)]
pub struct Seed {
    pub vendor: SeedOrganization,
    #[serde(default)]
    pub partners: Vec<SeedPartner>,
    #[serde(default)]
    pub partner_requests: Vec<SeedPartnerRequest>,
    #[serde(default)]
    pub modules: Vec<SeedModule>,
    #[serde(default)]
    pub releases: Vec<SeedRelease>,
}

#[derive(Debug, Deserialize)]
pub struct SeedModule {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub business_price: String,
    pub user_price: String,
}

#[derive(Debug, Deserialize)]
pub struct SeedRelease {
    pub version: String,
    pub channel: String,
    #[serde(default)]
    pub notes: String,
    pub file_location: String,
    /// How long ago it was published.
    #[serde(default)]
    pub days_ago: i64,
}

#[derive(Debug, Deserialize)]
pub struct SeedOrganization {
    pub name: String,
    pub country: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub staff: Vec<SeedPerson>,
}

#[derive(Debug, Deserialize)]
pub struct SeedPerson {
    pub email: String,
    pub password: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// "administrator", "company_admin" or "member" (default).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// Shown next to the login when `just run` starts.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedPartner {
    #[serde(flatten)]
    pub organization: SeedOrganization,
    pub partner_code: String,
    pub affiliate_code: String,
    pub default_commission_rate: String,
    #[serde(default)]
    pub customers: Vec<SeedCustomer>,
}

#[derive(Debug, Deserialize)]
pub struct SeedCustomer {
    #[serde(flatten)]
    pub organization: SeedOrganization,
    pub commission_rate: String,
    #[serde(default)]
    pub debtor_number: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedPartnerRequest {
    pub organization: SeedOrganization,
    pub expected_customers: i64,
    #[serde(default)]
    pub message: Option<String>,
}

/// A login printed for people trying the demo.
#[derive(Debug, Clone)]
pub struct Login {
    pub email: String,
    pub password: String,
    pub description: String,
}

fn bad(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::internal(format!("seed: {what}: {detail}"))
}

pub async fn is_empty(conn: &mut AsyncPgConnection) -> Result<bool> {
    let n: i64 = orgs::table.count().get_result(conn).await?;
    Ok(n == 0)
}

/// The people in the seed who have a password, with what they are for.
pub fn logins(seed: &Seed) -> Vec<Login> {
    let people = seed
        .vendor
        .staff
        .iter()
        .chain(seed.partners.iter().flat_map(|p| {
            p.organization
                .staff
                .iter()
                .chain(p.customers.iter().flat_map(|c| c.organization.staff.iter()))
        }))
        .chain(seed.partner_requests.iter().flat_map(|r| r.organization.staff.iter()));
    people
        .filter_map(|p| {
            p.password.as_ref().map(|pw| Login {
                email: p.email.clone(),
                password: pw.clone(),
                description: p.description.clone().unwrap_or_default(),
            })
        })
        .collect()
}

pub fn parse(json_text: &str) -> Result<Seed> {
    serde_json::from_str(json_text).map_err(|e| bad("seed file", e))
}

/// Loads the seed into an empty database in one transaction. Returns the logins, or
/// `None` when the database already holds data.
pub async fn load(conn: &mut AsyncPgConnection, ctx: &Ctx, seed: &Seed) -> Result<Option<Vec<Login>>> {
    if !is_empty(conn).await? {
        return Ok(None);
    }
    // Hash passwords before the transaction: argon2 is deliberately slow.
    let hashes = hash_passwords(ctx, seed).await?;
    let logins = op::run_as(conn, ctx, Who::system(None), async |op| {
        let mut logins = Vec::new();
        let vendor = create_org(op.conn, ctx, &seed.vendor, "seed", true).await?;
        add_people(op.conn, ctx, vendor, &seed.vendor.staff, &hashes, &mut logins).await?;
        for p in &seed.partners {
            seed_partner(op, p, &hashes, &mut logins).await?;
        }
        for r in &seed.partner_requests {
            seed_request(op, r, &hashes, &mut logins).await?;
        }
        seed_catalogue(op, seed).await?;
        let changes = json!({ "logins": logins.len() });
        op.audit_as(Who::system(Some(vendor)), Action::SeedLoaded, "demo", changes)
            .await?;
        Ok(logins)
    })
    .await?;
    Ok(Some(logins))
}

type Hashes = std::collections::HashMap<String, String>;

async fn hash_passwords(ctx: &Ctx, seed: &Seed) -> Result<Hashes> {
    let mut hashes = Hashes::new();
    let people = seed
        .vendor
        .staff
        .iter()
        .chain(seed.partners.iter().flat_map(|p| {
            p.organization
                .staff
                .iter()
                .chain(p.customers.iter().flat_map(|c| c.organization.staff.iter()))
        }))
        .chain(seed.partner_requests.iter().flat_map(|r| r.organization.staff.iter()));
    for person in people {
        if let Some(pw) = &person.password {
            let parsed = Password::parse(pw).map_err(|e| bad(&person.email, e.message))?;
            hashes.insert(person.email.clone(), passwords::hash_password(ctx, &parsed).await?);
        }
    }
    Ok(hashes)
}

async fn seed_partner(op: &mut Op<'_>, p: &SeedPartner, hashes: &Hashes, logins: &mut Vec<Login>) -> Result<()> {
    let org = create_org(op.conn, op.ctx, &p.organization, "partner_registration", false).await?;
    let rate = CommissionRate::parse(&p.default_commission_rate).map_err(|e| bad(&p.organization.name, e.message))?;
    let (partner_code, affiliate_code) = (
        p.partner_code.to_ascii_uppercase(),
        p.affiliate_code.to_ascii_uppercase(),
    );
    let codes = Some((partner_code.as_str(), affiliate_code.as_str()));
    partners::insert_partner(op.conn, op.now, org.into(), rate.value(), None, None, codes).await?;
    add_people(op.conn, op.ctx, org, &p.organization.staff, hashes, logins).await?;
    for c in &p.customers {
        let customer = create_org(op.conn, op.ctx, &c.organization, "created_by_partner", false).await?;
        let rate = CommissionRate::parse(&c.commission_rate).map_err(|e| bad(&c.organization.name, e.message))?;
        let granted: Vec<Option<String>> = Permission::DELEGABLE
            .iter()
            .map(|p| Some(p.as_str().to_owned()))
            .collect();
        diesel::insert_into(links::table)
            .values((
                links::id.eq(Uuid::now_v7()),
                links::customer_id.eq(customer),
                links::partner_id.eq(org),
                links::origin.eq(crate::platform::values::CustomerOrigin::CreatedByPartner),
                links::commission_rate.eq(rate.value()),
                links::debtor_number.eq(&c.debtor_number),
                links::granted_permissions.eq(granted),
                links::created_at.eq(op.now),
                links::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        let evidence = serde_json::json!({ "created_by_partner": true, "seed": true });
        crate::earnings::commissions::attribute(
            op,
            customer.into(),
            org.into(),
            crate::earnings::commissions::Kind::Partner,
            evidence,
        )
        .await?;
        if let Some(email) = &c.contact_email {
            diesel::update(orgs::table.find(customer))
                .set(orgs::contact_email.eq(email))
                .execute(op.conn)
                .await?;
        }
        add_people(op.conn, op.ctx, customer, &c.organization.staff, hashes, logins).await?;
    }
    Ok(())
}

async fn seed_request(op: &mut Op<'_>, r: &SeedPartnerRequest, hashes: &Hashes, logins: &mut Vec<Login>) -> Result<()> {
    let org = create_org(op.conn, op.ctx, &r.organization, "direct", false).await?;
    add_people(op.conn, op.ctx, org, &r.organization.staff, hashes, logins).await?;
    let requester =
        <[SeedPerson]>::first(&r.organization.staff).ok_or_else(|| bad(&r.organization.name, "needs a requester"))?;
    let email = Email::parse(&requester.email).map_err(|e| bad(&requester.email, e.message))?;
    let requester_id = accounts::find_user_by_email(op.conn, &email)
        .await?
        .ok_or_else(|| bad(&requester.email, "missing"))?
        .id;
    let mut v = crate::platform::error::Validator::new();
    let valid = partners::validate_request(
        &RequestInput {
            company: r.organization.name.clone(),
            contact_name: format!("{} {}", requester.first_name, requester.last_name),
            contact_email: requester.email.clone(),
            website: r.organization.website.clone(),
            country: r.organization.country.clone().unwrap_or_default(),
            expected_customers: Some(r.expected_customers),
            message: r.message.clone(),
        },
        &mut v,
    );
    v.finish()?;
    let valid = crate::platform::error::validated(valid);
    let request = partners::insert_request(op.conn, op.now, org.into(), requester_id.into(), &valid).await?;
    let who = Who::user(requester_id.into(), Some(org.into()));
    op.audit_as(who, Action::PartnerRequestSubmitted, request.id, json!({}))
        .await
}

async fn seed_catalogue(op: &mut Op<'_>, seed: &Seed) -> Result<()> {
    use crate::schema::{modules as m, releases as r};
    for module in &seed.modules {
        let business = crate::commerce::modules::parse_price("business_price", &module.business_price)
            .map_err(|e| bad(&module.code, e.message))?;
        let user = crate::commerce::modules::parse_price("user_price", &module.user_price)
            .map_err(|e| bad(&module.code, e.message))?;
        diesel::insert_into(m::table)
            .values((
                m::id.eq(Uuid::now_v7()),
                m::code.eq(&module.code),
                m::name.eq(&module.name),
                m::description.eq(&module.description),
                m::business_price.eq(business),
                m::user_price.eq(user),
                m::created_at.eq(op.now),
                m::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
    }
    for release in &seed.releases {
        diesel::insert_into(r::table)
            .values((
                r::id.eq(Uuid::now_v7()),
                r::version.eq(&release.version),
                r::channel.eq(&release.channel),
                r::notes_md.eq(&release.notes),
                r::file_location.eq(&release.file_location),
                r::published_at.eq(op.now - chrono::Duration::days(release.days_ago)),
            ))
            .execute(op.conn)
            .await?;
    }
    Ok(())
}

async fn create_org(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    o: &SeedOrganization,
    origin: &str,
    vendor: bool,
) -> Result<Uuid> {
    let country = o
        .country
        .as_deref()
        .map(CountryCode::parse)
        .transpose()
        .map_err(|e| bad(&o.name, e.message))?;
    let language = Language::parse(o.language.as_deref().unwrap_or("en")).map_err(|e| bad(&o.name, e.message))?;
    let org = organizations::insert(
        conn,
        ctx.now(),
        &NewOrganization {
            name: &o.name,
            country,
            language,
            website: o.website.as_deref(),
            signup_origin: origin,
            is_vendor: vendor,
            customer_type: if vendor {
                crate::platform::values::CustomerType::Internal
            } else {
                crate::platform::values::CustomerType::Customer
            },
            ..Default::default()
        },
    )
    .await?;
    Ok(org.id)
}

async fn add_people(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    org: Uuid,
    people: &[SeedPerson],
    hashes: &std::collections::HashMap<String, String>,
    logins: &mut Vec<Login>,
) -> Result<()> {
    let now = ctx.now();
    for p in people {
        let email = Email::parse(&p.email).map_err(|e| bad(&p.email, e.message))?;
        let language = Language::parse(p.language.as_deref().unwrap_or("en")).map_err(|e| bad(&p.email, e.message))?;
        let user = match accounts::find_user_by_email(conn, &email).await? {
            Some(user) => user,
            None => {
                let user = accounts::insert_user(
                    conn,
                    now,
                    &email,
                    hashes.get(&p.email).cloned(),
                    &p.first_name,
                    &p.last_name,
                    language,
                )
                .await?;
                // The organization that lists a person first created the account.
                diesel::update(crate::schema::users::table.find(user.id))
                    .set(crate::schema::users::managed_by_organization_id.eq(org))
                    .execute(conn)
                    .await?;
                user
            }
        };
        let role = match p.role.as_deref() {
            None => Role::Member,
            Some(raw) => Role::parse(raw).ok_or_else(|| bad(&p.email, format!("unknown role {raw}")))?,
        };
        let permissions = p
            .permissions
            .iter()
            .map(|name| {
                Permission::parse_grantable(name).ok_or_else(|| bad(&p.email, format!("unknown permission {name}")))
            })
            .collect::<Result<Vec<_>>>()?;
        crate::tenancy::memberships::insert_active(
            conn,
            now,
            org.into(),
            user.id.into(),
            role,
            &permissions,
            p.extension.as_deref(),
        )
        .await?;
        if let Some(password) = &p.password {
            logins.push(Login {
                email: email.to_string(),
                password: password.clone(),
                description: p.description.clone().unwrap_or_default(),
            });
        }
    }
    Ok(())
}
