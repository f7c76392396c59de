//! The module catalogue: what can be licensed, at what monthly price per business
//! licence and per user licence. Maintained by the vendor's administrators.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::money::Currency;
use crate::platform::op;
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{Actor, Permission},
    platform::domain::{optional_text, required_text},
    platform::error::{Validator, validated},
    platform::money::fixed2,
    schema::modules,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = modules)]
pub struct Module {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub description: String,
    pub currency: Currency,
    pub business_price: Decimal,
    pub user_price: Decimal,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A price: not negative, at most two decimals.
pub fn parse_price(field: &str, raw: &str) -> std::result::Result<Decimal, FieldError> {
    if raw.trim().is_empty() {
        return Err(FieldError::new(field, "required", "A price is required"));
    }
    let value = crate::platform::domain::plain_amount(field, raw, "invalid_price")?;
    if value > Decimal::from(1_000_000_000) {
        return Err(FieldError::new(field, "invalid_price", "Too large"));
    }
    Ok(value)
}

fn parse_code(raw: &str) -> std::result::Result<String, FieldError> {
    let c = raw.trim().to_ascii_uppercase();
    if !c.is_empty() && c.len() <= 32 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-') {
        Ok(c)
    } else {
        Err(FieldError::new(
            "code",
            "invalid_code",
            "Letters, digits, - and _; at most 32",
        ))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ModuleInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub currency: Option<String>,
    pub business_price: Option<String>,
    pub user_price: Option<String>,
    pub active: Option<bool>,
}

/// The catalogue. Everyone signed in sees the active modules; the vendor also the others.
pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<Module>> {
    let vendor = op::grant(conn, actor, op::Scope::Vendor, Permission::VendorAdmin)
        .await
        .is_ok();
    let mut q = modules::table
        .order(modules::code.asc())
        .select(Module::as_select())
        .into_boxed();
    if !vendor {
        q = q.filter(modules::active.eq(true));
    }
    Ok(q.load(conn).await?)
}

/// The whole catalogue, inactive modules included, for the vendor's administrators.
pub async fn list_all(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<Module>> {
    op::grant(conn, actor, op::Scope::Vendor, Permission::VendorAdmin).await?;
    Ok(modules::table
        .order(modules::code.asc())
        .select(Module::as_select())
        .load(conn)
        .await?)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Module> {
    modules::table
        .find(id)
        .select(Module::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("module"))
}

/// The modules with these ids that exist, by id (one statement).
pub async fn get_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, Module>> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    Ok(modules::table
        .filter(modules::id.eq_any(ids))
        .select(Module::as_select())
        .load::<Module>(conn)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect())
}

pub async fn create(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, input: ModuleInput) -> Result<Module> {
    op::run(conn, ctx, actor, op::Scope::Vendor, Permission::VendorAdmin, async |op| {
        let mut v = Validator::new();
        let code = v.check(parse_code(input.code.as_deref().unwrap_or("")));
        let name = v.check(required_text("name", input.name.as_deref().unwrap_or(""), 100));
        let description = v.check(optional_text("description", input.description.as_deref(), 2000));
        let currency = v.check(Currency::parse_field("currency", input.currency.as_deref().unwrap_or("EUR")));
        let business = v.check(parse_price(
            "business_price",
            input.business_price.as_deref().unwrap_or(""),
        ));
        let user = v.check(parse_price("user_price", input.user_price.as_deref().unwrap_or("")));
        v.finish()?;
        let m = diesel::insert_into(modules::table)
            .values((
                modules::id.eq(Uuid::now_v7()),
                modules::code.eq(validated(code.clone())),
                modules::name.eq(validated(name.clone())),
                modules::description.eq(validated(description.clone()).unwrap_or_default()),
                modules::currency.eq(validated(currency)),
                modules::business_price.eq(validated(business)),
                modules::user_price.eq(validated(user)),
                modules::active.eq(input.active.unwrap_or(true)),
                modules::created_at.eq(op.now),
                modules::updated_at.eq(op.now),
            ))
            .returning(Module::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(Action::ModuleCreated,
            m.id,
            json!({ "code": m.code, "business_price": fixed2(m.business_price), "user_price": fixed2(m.user_price), "currency": m.currency }),
        )
        .await?;
        Ok(m)
    })
    .await
}

/// Changes a module. New prices apply to quotes made from now on; a quote made before
/// becomes stale.
pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    id: Uuid,
    input: ModuleInput,
) -> Result<Module> {
    op::run(conn, ctx, actor, op::Scope::Vendor, Permission::VendorAdmin, async |op| {
        let mut v = Validator::new();
        let name = input.name.as_deref().map(|n| v.check(required_text("name", n, 100)));
        let description = input
            .description
            .as_deref()
            .map(|d| v.check(optional_text("description", Some(d), 2000)));
        let currency = input.currency.as_deref().map(|c| v.check(Currency::parse_field("currency", c)));
        let business = input
            .business_price
            .as_deref()
            .map(|p| v.check(parse_price("business_price", p)));
        let user = input
            .user_price
            .as_deref()
            .map(|p| v.check(parse_price("user_price", p)));
        if input.code.is_some() {
            v.push(FieldError::new("code", "immutable", "A module's code cannot change"));
        }
        v.finish()?;
        let old: Module = modules::table
            .find(id)
            .select(Module::as_select())
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("module"))?;
        let m = diesel::update(modules::table.find(id))
            .set((
                modules::name.eq(name.clone().flatten().unwrap_or(old.name.clone())),
                modules::description.eq(description.clone().flatten().map(|d| d.unwrap_or_default()).unwrap_or(old.description.clone())),
                modules::currency.eq(currency.flatten().unwrap_or(old.currency)),
                modules::business_price.eq(business.flatten().unwrap_or(old.business_price)),
                modules::user_price.eq(user.flatten().unwrap_or(old.user_price)),
                modules::active.eq(input.active.unwrap_or(old.active)),
                modules::updated_at.eq(op.now),
            ))
            .returning(Module::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(Action::ModuleUpdated,
            id,
            json!({
                "old": { "name": old.name, "business_price": fixed2(old.business_price), "user_price": fixed2(old.user_price), "active": old.active },
                "new": { "name": m.name, "business_price": fixed2(m.business_price), "user_price": fixed2(m.user_price), "active": m.active },
            }),
        )
        .await?;
        Ok(m)
    })
    .await
}
