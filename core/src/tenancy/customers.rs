//! "My customers": the organizations that have the acting partner as their service
//! provider. Creating and editing them, listing them with filter, search, sort and
//! keyset paging, activating and deactivating, and the partner's own account.

use crate::delegation::sessions::{Ending, end_all};
use crate::platform::db::sql_query;
use crate::platform::ids::OrgId;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName,
    sql_types::{BigInt, Bool, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::commerce::licensing::{self as store, Which};
use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{self, Actor, Permission},
    platform::domain::{CommissionRate, CountryCode, Email, Language, optional_text, required_text},
    platform::error::Validator,
    platform::money::fixed2,
    platform::values::{CustomerOrigin, CustomerType},
    schema::{customer_invitations, organizations as orgs, service_provider_links as links, user_licences},
    tenancy::organizations::{self, NewOrganization, Organization},
};

/// The customer form (DBSync's "Add customer" plus Red Cactus's debtor number and
/// country). On create, `name`, `active` and `commission_rate` are required; on edit
/// every field is optional and only the given ones change.
#[derive(Debug, Clone, Default)]
pub struct CustomerInput {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub commission_rate: Option<String>,
    pub customer_type: Option<String>,
    pub partner_account_id: Option<Uuid>,
    pub country: Option<String>,
    pub debtor_number: Option<String>,
    pub contact_email: Option<String>,
    pub language: Option<String>,
}

/// A customer as the partner sees it (a row of My customers).
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct Customer {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Text)]
    pub customer_type: CustomerType,
    #[diesel(sql_type = Nullable<Text>)]
    pub country: Option<String>,
    #[diesel(sql_type = Text)]
    pub language: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub contact_email: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = SqlUuid)]
    pub partner_id: Uuid,
    /// invitation, created_by_partner or chosen_by_customer.
    #[diesel(sql_type = Text)]
    pub origin: CustomerOrigin,
    #[diesel(sql_type = Numeric)]
    pub commission_rate: Decimal,
    #[diesel(sql_type = Nullable<Text>)]
    pub debtor_number: Option<String>,
    /// The primary contact: the first administrator, else the first company administrator.
    #[diesel(sql_type = Nullable<Text>)]
    pub contact_name: Option<String>,
    /// User licences in use.
    #[diesel(sql_type = BigInt)]
    pub seats_used: i64,
    /// User licences in total (credits included).
    #[diesel(sql_type = BigInt)]
    pub seats_total: i64,
    /// The earliest end of a running trial or licence.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub coming_expiry: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub granted_permissions: Option<String>,
    /// When the grants end (then none of them count).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub grants_end_at: Option<DateTime<Utc>>,
}

impl Customer {
    /// What the customer allows its partner to do inside its organization.
    pub fn granted(&self) -> Vec<Permission> {
        self.granted_permissions
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter_map(Permission::parse)
            .collect()
    }
}

/// A customer row from its current link `l` (which keeps the figures: see the
/// `lists_at_scale` migration) and organization `o`; the contact is looked up per row,
/// so the caller limits `l` to a page first.
const COLUMNS: &str = "
    SELECT o.id, o.name, o.active, o.customer_type, o.country::text AS country, o.language, o.contact_email,
           o.created_at, l.partner_id, l.origin, l.commission_rate, l.debtor_number,
           coalesce(
               (SELECT trim(u.first_name || ' ' || u.last_name) FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.organization_id = o.id AND m.active AND m.role = 'administrator'
                 ORDER BY m.created_at, m.id LIMIT 1),
               (SELECT trim(u.first_name || ' ' || u.last_name) FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.organization_id = o.id AND m.active AND m.role = 'company_admin'
                 ORDER BY m.created_at, m.id LIMIT 1)) AS contact_name,
           l.seats_used, l.seats_total, l.coming_expiry,
           array_to_string(l.granted_permissions, ',') AS granted_permissions, l.grants_end_at";

async fn load_one(conn: &mut AsyncPgConnection, partner: OrgId, customer: OrgId) -> Result<Customer> {
    sql_query(format!(
        "{COLUMNS}
         FROM service_provider_links l JOIN organizations o ON o.id = l.customer_id
         WHERE l.partner_id = $1 AND l.ended_at IS NULL AND l.customer_id = $2"
    ))
    .bind::<SqlUuid, _>(partner)
    .bind::<SqlUuid, _>(customer)
    .get_result(conn)
    .await
    .optional()?
    .ok_or(Error::not_found("customer"))
}

/// The partner the actor acts as.
fn partner_of(actor: &Actor) -> Result<Uuid> {
    actor.acting_org.ok_or_else(Error::no_organization)
}

/// A customer type as typed (any case).
pub(crate) fn check_type(v: &mut Validator, raw: Option<&str>) -> Option<CustomerType> {
    let raw = raw.map(|t| t.trim().to_ascii_uppercase())?;
    let parsed = CustomerType::parse(&raw);
    if parsed.is_none() {
        v.push(FieldError::new(
            "customer_type",
            "invalid_customer_type",
            format!("Customer type must be one of {}", CustomerType::listed()),
        ));
    }
    parsed
}

/// A debtor number must be unique among the partner's current customers and open
/// invitations (the same number at two partners is fine).
pub(crate) async fn debtor_number_taken(
    conn: &mut AsyncPgConnection,
    partner: OrgId,
    number: &str,
    except_customer: Option<OrgId>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut q = links::table
        .filter(links::partner_id.eq(partner))
        .filter(links::ended_at.is_null())
        .filter(links::debtor_number.eq(number))
        .into_boxed();
    if let Some(c) = except_customer {
        q = q.filter(links::customer_id.ne(c));
    }
    let in_links: i64 = q.count().get_result(conn).await?;
    let in_invitations: i64 = customer_invitations::table
        .filter(customer_invitations::partner_id.eq(partner))
        .filter(customer_invitations::debtor_number.eq(number))
        .filter(customer_invitations::accepted_at.is_null())
        .filter(customer_invitations::revoked_at.is_null())
        .filter(customer_invitations::expires_at.gt(now))
        .count()
        .get_result(conn)
        .await?;
    Ok(in_links + in_invitations > 0)
}

pub(crate) fn debtor_number_conflict() -> Error {
    Error::conflict(
        "debtor_number_taken",
        Some("debtor_number"),
        "This debtor number is already used for another of your customers",
    )
}

/// Validated form fields (each `Some` when given and valid).
#[derive(Default)]
struct Valid {
    name: Option<String>,
    active: Option<bool>,
    rate: Option<Decimal>,
    customer_type: Option<CustomerType>,
    country: Option<Option<CountryCode>>,
    debtor_number: Option<Option<String>>,
    contact_email: Option<Option<Email>>,
    language: Option<Language>,
}

fn validate(input: &CustomerInput, creating: bool, partner: Uuid) -> Result<Valid> {
    let mut v = Validator::new();
    let mut out = Valid::default();
    match (&input.name, creating) {
        (Some(n), _) => out.name = v.check(required_text("name", n, 200)),
        (None, true) => v.push(FieldError::new("name", "required", "A name is required")),
        _ => {}
    }
    match (input.active, creating) {
        (None, true) => v.push(FieldError::new(
            "active",
            "required",
            "Say whether the customer is active",
        )),
        (a, _) => out.active = a,
    }
    match (&input.commission_rate, creating) {
        (Some(r), _) => out.rate = v.check(CommissionRate::parse(r)).map(|r| r.value()),
        (None, true) => v.push(FieldError::new(
            "commission_rate",
            "required",
            "A partner commission rate is required",
        )),
        _ => {}
    }
    out.customer_type = check_type(&mut v, input.customer_type.as_deref());
    if let Some(c) = &input.country {
        out.country = if c.trim().is_empty() {
            Some(None)
        } else {
            v.check(CountryCode::parse(c)).map(Some)
        };
    }
    if let Some(d) = &input.debtor_number {
        out.debtor_number = v.check(optional_text("debtor_number", Some(d), 50));
    }
    if let Some(e) = &input.contact_email {
        out.contact_email = if e.trim().is_empty() {
            Some(None)
        } else {
            v.check(Email::parse_field("contact_email", e)).map(Some)
        };
    }
    if let Some(l) = &input.language {
        out.language = v.check(Language::parse(l));
    }
    if let Some(account) = input.partner_account_id
        && account != partner
    {
        v.push(FieldError::new(
            "partner_account_id",
            "invalid_partner_account",
            "Customers are created for the partner account you act as",
        ));
    }
    v.finish()?;
    Ok(out)
}

/// Creates a customer for the acting partner ("Add customer").
pub async fn create(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, input: CustomerInput) -> Result<Customer> {
    let partner = partner_of(actor)?;
    op::run(conn, ctx, actor, partner, Permission::CreateCustomers, async |op| {
        let valid = validate(&input, true, partner)?;
        let debtor = valid.debtor_number.clone().flatten();
        if let Some(d) = &debtor
            && debtor_number_taken(op.conn, partner.into(), d, None, op.now).await?
        {
            return Err(debtor_number_conflict());
        }
        let contact = valid.contact_email.clone().flatten();
        let org = organizations::insert(
            op.conn,
            op.now,
            &NewOrganization {
                name: valid.name.as_deref().unwrap_or_default(),
                country: valid.country.flatten(),
                language: valid.language.unwrap_or_default(),
                contact_email: contact.as_ref().map(Email::as_str),
                signup_origin: "created_by_partner",
                customer_type: valid.customer_type.unwrap_or(CustomerType::Customer),
                active: valid.active.unwrap_or(true),
                ..Default::default()
            },
        )
        .await?;
        let rate = valid.rate.unwrap_or_default();
        let link = insert_link(op.conn, op.now, org.id.into(), partner.into(), CustomerOrigin::CreatedByPartner, rate, debtor.as_deref(), Permission::DELEGABLE, Some(actor.user_id))
            .await?;
        let evidence = json!({ "created_by_partner": true, "service_provider_link": link });
        crate::earnings::commissions::attribute(op, org.id.into(), partner.into(), crate::earnings::commissions::Kind::Partner, evidence).await?;
        op.audit_for(org.id, Action::CustomerCreated,
            org.id,
            json!({
                "name": org.name, "active": org.active, "commission_rate": fixed2(rate), "customer_type": org.customer_type,
                "country": org.country, "debtor_number": debtor, "contact_email": org.contact_email, "language": org.language,
            }),
        )
        .await?;
        load_one(op.conn, partner.into(), org.id.into()).await
    })
    .await
}

/// Inserts the service-provider link between a customer and a partner.
pub(crate) async fn insert_link(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    customer: OrgId,
    partner: OrgId,
    origin: CustomerOrigin,
    rate: Decimal,
    debtor_number: Option<&str>,
    granted: &[Permission],
    created_by: Option<Uuid>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(links::table)
        .values((
            links::id.eq(id),
            links::customer_id.eq(customer),
            links::partner_id.eq(partner),
            links::origin.eq(origin),
            links::commission_rate.eq(rate),
            links::debtor_number.eq(debtor_number),
            links::granted_permissions.eq(authz::permission_names(granted)),
            links::created_by.eq(created_by),
            links::created_at.eq(now),
            links::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// One customer of the acting partner.
pub async fn get(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid) -> Result<Customer> {
    let partner = partner_of(actor)?;
    let partner = op::grant(conn, actor, partner.into(), Permission::ManageCustomers)
        .await?
        .org();
    let mut customer = load_one(conn, partner.into(), id.into()).await?;
    if customer.grants_end_at.is_some_and(|end| end <= actor.now) {
        customer.granted_permissions = None;
    }
    Ok(customer)
}

fn changed<T: Serialize + PartialEq>(changes: &mut serde_json::Map<String, Value>, field: &str, old: &T, new: &T) {
    if old != new {
        changes.insert(field.to_owned(), json!({ "old": old, "new": new }));
    }
}

/// Edits a customer. The partner's own fields (rate, debtor number, type, active) need
/// "create organizations for customers"; the organization's details (name, country,
/// language, contact) also need the customer's grant to edit company details.
pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    id: Uuid,
    input: CustomerInput,
) -> Result<Customer> {
    let partner = partner_of(actor)?;
    op::run(conn, ctx, actor, partner, Permission::CreateCustomers, async |op| {
        let seen = load_one(op.conn, partner.into(), id.into()).await?;
        let valid = validate(&input, false, partner)?;
        authorize_update(op, actor, &seen, &valid).await?;
        // The customer's row and its link are locked, so the audit's before is true.
        lock_customer(op.conn, partner.into(), id.into()).await?;
        let current = load_one(op.conn, partner.into(), id.into()).await?;
        if let Some(Some(d)) = &valid.debtor_number
            && current.debtor_number.as_deref() != Some(d.as_str())
            && debtor_number_taken(op.conn, partner.into(), d, Some(id.into()), op.now).await?
        {
            return Err(debtor_number_conflict());
        }
        let new = Edited::of(&current, &valid);
        let mut changes = new.changes_from(&current);
        if changes.is_empty() {
            return Ok(current);
        }
        new.write(op, id).await?;
        if changes.contains_key("commission_rate") {
            let job = crate::platform::jobs::RecomputeCommissions {
                partner_id: partner,
                customer_id: Some(id),
            };
            op.job(&job, None).await?;
        }
        if current.active && !new.active {
            let (business, users) = store::deactivate(op.conn, op.now, Which::Organization(id)).await?;
            changes.insert("licences_deactivated".into(), json!(business + users));
            end_all(op, Ending::Customer(id.into()), "customer_deactivated").await?;
        }
        let action = match (current.active, new.active) {
            (true, false) => Action::CustomerDeactivated,
            (false, true) => Action::CustomerActivated,
            _ => Action::CustomerUpdated,
        };
        op.audit_for(id, action, id, Value::Object(changes)).await?;
        load_one(op.conn, partner.into(), id.into()).await
    })
    .await
}

/// The organization's details need the customer's grant to edit them; its status and
/// type the grant to change the status.
async fn authorize_update(op: &mut Op<'_>, actor: &Actor, seen: &Customer, valid: &Valid) -> Result<()> {
    let touches_details =
        valid.name.is_some() || valid.country.is_some() || valid.language.is_some() || valid.contact_email.is_some();
    if touches_details {
        op.authorize(actor, seen.id, Permission::EditCompanyDetails).await?;
    }
    let touches_status =
        valid.active.is_some_and(|a| a != seen.active) || valid.customer_type.is_some_and(|t| t != seen.customer_type);
    if touches_status {
        op.authorize(actor, seen.id, Permission::EditCompanyStatus).await?;
    }
    Ok(())
}

/// A customer's fields after an edit.
struct Edited {
    name: String,
    country: Option<String>,
    language: String,
    contact: Option<String>,
    customer_type: CustomerType,
    active: bool,
    rate: Decimal,
    debtor: Option<String>,
}

impl Edited {
    fn of(current: &Customer, valid: &Valid) -> Self {
        Edited {
            name: valid.name.clone().unwrap_or(current.name.clone()),
            country: valid
                .country
                .map(|c| c.map(|c| c.as_str().to_owned()))
                .unwrap_or(current.country.clone()),
            language: valid
                .language
                .map(|l| l.as_str().to_owned())
                .unwrap_or(current.language.clone()),
            contact: valid
                .contact_email
                .clone()
                .map(|e| e.map(Email::into_inner))
                .unwrap_or(current.contact_email.clone()),
            customer_type: valid.customer_type.unwrap_or(current.customer_type),
            active: valid.active.unwrap_or(current.active),
            rate: valid.rate.unwrap_or(current.commission_rate),
            debtor: valid.debtor_number.clone().unwrap_or(current.debtor_number.clone()),
        }
    }

    /// What changed, field by field, as the audit log records it.
    fn changes_from(&self, c: &Customer) -> serde_json::Map<String, Value> {
        let mut changes = serde_json::Map::new();
        changed(&mut changes, "name", &c.name, &self.name);
        changed(&mut changes, "country", &c.country, &self.country);
        changed(&mut changes, "language", &c.language, &self.language);
        changed(&mut changes, "contact_email", &c.contact_email, &self.contact);
        changed(&mut changes, "customer_type", &c.customer_type, &self.customer_type);
        changed(&mut changes, "active", &c.active, &self.active);
        changed(
            &mut changes,
            "commission_rate",
            &fixed2(c.commission_rate),
            &fixed2(self.rate),
        );
        changed(&mut changes, "debtor_number", &c.debtor_number, &self.debtor);
        changes
    }

    async fn write(&self, op: &mut Op<'_>, id: Uuid) -> Result<()> {
        diesel::update(orgs::table.find(id))
            .set((
                orgs::name.eq(&self.name),
                orgs::country.eq(&self.country),
                orgs::language.eq(&self.language),
                orgs::contact_email.eq(&self.contact),
                orgs::customer_type.eq(self.customer_type),
                orgs::active.eq(self.active),
                orgs::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        diesel::update(
            links::table
                .filter(links::customer_id.eq(id))
                .filter(links::ended_at.is_null()),
        )
        .set((
            links::commission_rate.eq(self.rate),
            links::debtor_number.eq(&self.debtor),
            links::updated_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
        Ok(())
    }
}

async fn lock_customer(conn: &mut AsyncPgConnection, partner: OrgId, id: OrgId) -> Result<()> {
    links::table
        .filter(links::customer_id.eq(id))
        .filter(links::partner_id.eq(partner))
        .filter(links::ended_at.is_null())
        .select(links::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("customer"))?;
    orgs::table
        .find(id)
        .select(orgs::id)
        .for_update()
        .first::<Uuid>(conn)
        .await?;
    Ok(())
}

/// Which customers to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    #[default]
    Active,
    Inactive,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Name,
    Created,
    Expiry,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: StatusFilter,
    pub search: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: i64,
    pub cursor: Option<String>,
}

pub use crate::platform::domain::Page;

/// Where the previous page ended: the sort value and the id of its last row.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    sort: SortKey,
    desc: bool,
    key: Option<String>,
    id: Uuid,
}

fn sort_value(c: &Customer, sort: SortKey) -> Option<String> {
    match sort {
        SortKey::Name => Some(c.name.to_lowercase()),
        SortKey::Created => Some(c.created_at.to_rfc3339()),
        SortKey::Expiry => c.coming_expiry.map(|e| e.to_rfc3339()),
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// My customers: filter active / non-active / both, search on name and debtor number,
/// sort by name, created or coming expiry (empty expiries last), keyset paging that
/// stays stable while customers are added.
pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor, query: ListQuery) -> Result<Page<Customer>> {
    let partner = partner_of(actor)?;
    let partner = op::grant(conn, actor, partner.into(), Permission::ManageCustomers)
        .await?
        .org();
    crate::platform::domain::page_limit(query.limit)?;
    if let Some(search) = &query.search {
        crate::platform::domain::storable("search", search)?;
    }
    let cursor = decode_cursor(&query)?;
    let pattern = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("%{}%", escape_like(s)));
    let statement = sql_query(page_sql(&query, cursor.as_ref()));
    // A search's best plan depends on the words (trigram index for a rare one, the
    // sort's index for a common one): planned for them every time.
    let statement = if pattern.is_some() {
        statement.planned_for_its_values()
    } else {
        statement
    };
    let mut rows: Vec<Customer> = statement
        .bind::<SqlUuid, _>(partner)
        .bind::<Nullable<Text>, _>(pattern)
        .bind::<Nullable<Text>, _>(cursor.as_ref().and_then(|c| c.key.clone()))
        .bind::<SqlUuid, _>(cursor.as_ref().map(|c| c.id).unwrap_or_default())
        .bind::<BigInt, _>(query.limit + 1)
        .load(conn)
        .await?;
    let next_cursor = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|last| encode_cursor(&query, last))
    } else {
        None
    };
    Ok(Page {
        items: rows,
        next_cursor,
    })
}

fn decode_cursor(query: &ListQuery) -> Result<Option<Cursor>> {
    let Some(raw) = &query.cursor else {
        return Ok(None);
    };
    let c: Cursor = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::bad_request("invalid_cursor", Some("cursor"), "Not a cursor from a previous page"))?;
    if c.sort != query.sort || c.desc != query.descending {
        return Err(Error::bad_request(
            "invalid_cursor",
            Some("cursor"),
            "The cursor belongs to another sort order",
        ));
    }
    // The key is what `sort_value` wrote for this sort: a name, or a time (none for a
    // customer without a coming expiry). Anything else never came from a page.
    let time = |k: &str| DateTime::parse_from_rfc3339(k).is_ok();
    let fits = match (c.sort, c.key.as_deref()) {
        (SortKey::Name, Some(_)) | (SortKey::Expiry, None) => true,
        (SortKey::Created | SortKey::Expiry, Some(k)) => time(k),
        (SortKey::Name | SortKey::Created, None) => false,
    };
    if !fits {
        return Err(Error::bad_request(
            "invalid_cursor",
            Some("cursor"),
            "Not a cursor from a previous page",
        ));
    }
    Ok(Some(c))
}

fn encode_cursor(query: &ListQuery, last: &Customer) -> String {
    let c = Cursor {
        sort: query.sort,
        desc: query.descending,
        key: sort_value(last, query.sort),
        id: last.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("cursor serializes"))
}

/// The page's query: $1 partner, $2 search pattern, $3 cursor key, $4 cursor id, $5
/// limit. The state filter is written into the text (the inactive few have indexes of
/// their own) and a filter not asked for is left out, so that a plan kept for the
/// statement never has to allow for another. Every sort reads one range of its index in order
/// (`service_provider_links_by_*`) and stops after the page: customers without a
/// coming expiry come last in either direction, as a second range read only when the
/// first runs out.
fn page_sql(query: &ListQuery, cursor: Option<&Cursor>) -> String {
    let mut filter = "l.partner_id = $1 AND l.ended_at IS NULL".to_owned();
    match query.status {
        StatusFilter::Active => filter.push_str(" AND l.customer_active"),
        StatusFilter::Inactive => filter.push_str(" AND NOT l.customer_active"),
        StatusFilter::Both => {}
    }
    if query.search.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        filter.push_str(" AND (l.customer_name ILIKE $2 OR l.debtor_number ILIKE $2)");
    }
    let (cmp, dir) = if query.descending { ("<", "DESC") } else { (">", "ASC") };
    let range = |key: &str, key_type: &str, after: bool| {
        let keyset = if after {
            format!(" AND ({key}, l.customer_id) {cmp} ($3::{key_type}, $4)")
        } else {
            String::new()
        };
        format!(
            "(SELECT l.* FROM service_provider_links l WHERE {filter} AND {key} IS NOT NULL{keyset}
              ORDER BY {key} {dir}, l.customer_id {dir} LIMIT $5)"
        )
    };
    let undated = |after: bool| {
        let keyset = if after {
            format!(" AND l.customer_id {cmp} $4")
        } else {
            String::new()
        };
        format!(
            "(SELECT l.* FROM service_provider_links l WHERE {filter} AND l.coming_expiry IS NULL{keyset}
              ORDER BY l.coming_expiry {dir}, l.customer_id {dir} LIMIT $5)"
        )
    };
    let (page, order) = match (query.sort, cursor) {
        (SortKey::Name, c) => (
            range("lower(l.customer_name)", "text", c.is_some()),
            "lower(l.customer_name)",
        ),
        (SortKey::Created, c) => (
            range("l.customer_created_at", "timestamptz", c.is_some()),
            "l.customer_created_at",
        ),
        (SortKey::Expiry, Some(Cursor { key: None, .. })) => (undated(true), "l.coming_expiry"),
        (SortKey::Expiry, c) => (
            format!(
                "{} UNION ALL {}",
                range("l.coming_expiry", "timestamptz", c.is_some()),
                undated(false)
            ),
            "l.coming_expiry",
        ),
    };
    format!(
        "{COLUMNS}
         FROM ({page}) l JOIN organizations o ON o.id = l.customer_id
         ORDER BY {order} {dir} NULLS LAST, l.customer_id {dir}
         LIMIT $5"
    )
}

/// The partner's own organization used as a customer ("My account"): never billed.
#[derive(Debug, Clone)]
pub struct MyAccount {
    pub organization: Organization,
    pub seats_used: i64,
    pub seats_total: i64,
}

pub async fn my_account(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<MyAccount> {
    let partner = partner_of(actor)?;
    let partner = op::grant(conn, actor, partner.into(), Permission::ManageCustomers)
        .await?
        .org();
    let organization = organizations::find(conn, partner).await?;
    let seats_used: i64 = user_licences::table
        .filter(user_licences::organization_id.eq(partner))
        .filter(user_licences::active.eq(true))
        .filter(user_licences::user_id.is_not_null())
        .count()
        .get_result(conn)
        .await?;
    let seats_total: i64 = user_licences::table
        .filter(user_licences::organization_id.eq(partner))
        .filter(user_licences::active.eq(true))
        .count()
        .get_result(conn)
        .await?;
    Ok(MyAccount {
        organization,
        seats_used,
        seats_total,
    })
}
