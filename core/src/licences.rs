//! Licences: business licences (organization × module), user licences (user × module)
//! and credits (user licences prepared without a user). Every paid activation is first
//! quoted (per month and for the rest of the current month) and only happens when the
//! caller confirms that quote; confirming creates the order, its invoice and the
//! licences in one transaction.

use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper, sql_query,
    sql_types::{Array, Nullable, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::Action;
use crate::{
    Ctx, Error, FieldError, Result, audit,
    authz::{self, Access, Actor, Permission},
    error::Validator,
    memberships,
    modules::{self, Module},
    orders::{self, Order},
    pricing::{self, Line, cents},
    schema::{business_licences as bl, quotes, trials, user_licences as ul},
    values::{LicenceKind, LicencePlan, OrderSource, TrialStatus},
};

/// The most credits one quote prepares.
pub const MAX_CREDITS: i32 = 1000;
/// The most items one quote holds.
pub const MAX_QUOTE_ITEMS: usize = 20;
/// The most users one item licenses.
pub const MAX_USERS_PER_ITEM: usize = 10_000;

/// What a quote asks for.
#[derive(Debug, Clone)]
pub enum ItemRequest {
    Business {
        module_id: Uuid,
    },
    Users {
        module_id: Uuid,
        user_ids: Vec<Uuid>,
        all_users: bool,
    },
    Credits {
        module_id: Uuid,
        quantity: i32,
    },
}

/// A resolved quote item (stored with the quote and replayed on confirmation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    Business { module_id: Uuid },
    Users { module_id: Uuid, user_ids: Vec<Uuid> },
    Credits { module_id: Uuid, quantity: i32 },
    UpgradeTrial { trial_id: Uuid },
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = quotes)]
pub struct QuoteRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub created_by: Option<Uuid>,
    pub acting_organization_id: Option<Uuid>,
    pub action: serde_json::Value,
    pub lines: serde_json::Value,
    pub currency: String,
    pub monthly_total: Decimal,
    pub period_total: Decimal,
    pub fingerprint: String,
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub order_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Quote {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub items: Vec<Item>,
    pub lines: Vec<Line>,
    pub currency: String,
    pub monthly_total: Decimal,
    pub period_total: Decimal,
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub order_id: Option<Uuid>,
}

impl TryFrom<QuoteRow> for Quote {
    type Error = Error;

    fn try_from(q: QuoteRow) -> Result<Quote> {
        Ok(Quote {
            id: q.id,
            organization_id: q.organization_id,
            items: serde_json::from_value(q.action)?,
            lines: serde_json::from_value(q.lines)?,
            currency: q.currency,
            monthly_total: q.monthly_total,
            period_total: q.period_total,
            expires_at: q.expires_at,
            confirmed_at: q.confirmed_at,
            order_id: q.order_id,
        })
    }
}

fn line(m: &Module, kind: LicenceKind, quantity: i32, description: String, now: DateTime<Utc>) -> Line {
    let unit = if kind == LicenceKind::Business {
        m.business_price
    } else {
        m.user_price
    };
    Line::new(m.id, &m.code, kind, unit, quantity, description, now)
}

async fn active_business(conn: &mut AsyncPgConnection, org: Uuid, module: Uuid) -> Result<Option<(Uuid, LicencePlan)>> {
    Ok(bl::table
        .filter(bl::organization_id.eq(org))
        .filter(bl::module_id.eq(module))
        .filter(bl::active.eq(true))
        .select((bl::id, bl::kind))
        .first(conn)
        .await
        .optional()?)
}

async fn licensed_users(conn: &mut AsyncPgConnection, org: Uuid, module: Uuid) -> Result<Vec<Uuid>> {
    Ok(ul::table
        .filter(ul::organization_id.eq(org))
        .filter(ul::module_id.eq(module))
        .filter(ul::active.eq(true))
        .filter(ul::user_id.is_not_null())
        .select(ul::user_id.assume_not_null())
        .load(conn)
        .await?)
}

/// Checks that each user is an accepted, active member of the organization and does
/// not hold the module yet: the one place licences and credits check who may get one.
async fn check_licensable(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    module: Uuid,
    user_ids: &[Uuid],
    field: &str,
    v: &mut Validator,
) -> Result<()> {
    let org_members = memberships::active_member_ids(conn, org).await?;
    let licensed = licensed_users(conn, org, module).await?;
    for u in user_ids {
        if !org_members.contains(u) {
            v.push(FieldError::new(
                field,
                "not_a_member",
                format!("{u} is not an active user of this organization"),
            ));
        } else if licensed.contains(u) {
            v.push(FieldError::new(
                field,
                "licence_exists",
                format!("{u} already has this licence"),
            ));
        }
    }
    Ok(())
}

/// Validates the request against the current state and prices it. The same function
/// replays a stored quote on confirmation: if the answer differs, the quote is stale.
async fn price(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    items: &[Item],
    now: DateTime<Utc>,
    v: &mut Validator,
) -> Result<(Vec<Line>, String)> {
    let mut lines = Vec::new();
    let mut currency: Option<String> = None;
    let mut business_in_quote: Vec<Uuid> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |f: &str| format!("items[{i}].{f}");
        let module_id = match item {
            Item::Business { module_id } | Item::Users { module_id, .. } | Item::Credits { module_id, .. } => {
                *module_id
            }
            Item::UpgradeTrial { trial_id } => {
                let trial: Option<(Uuid, TrialStatus)> = trials::table
                    .filter(trials::id.eq(trial_id))
                    .filter(trials::organization_id.eq(org))
                    .select((trials::module_id, trials::status))
                    .first(conn)
                    .await
                    .optional()?;
                match trial {
                    Some((module_id, TrialStatus::Active)) => {
                        let m = modules::get(conn, module_id).await?;
                        let users: Vec<Uuid> = ul::table
                            .filter(ul::trial_id.eq(trial_id))
                            .filter(ul::active.eq(true))
                            .filter(ul::user_id.is_not_null())
                            .select(ul::user_id.assume_not_null())
                            .load(conn)
                            .await?;
                        check_currency(&mut currency, &m, &field("trial_id"), v);
                        lines.push(line(
                            &m,
                            LicenceKind::Business,
                            1,
                            format!("{} business licence (was a trial)", m.name),
                            now,
                        ));
                        if !users.is_empty() {
                            lines.push(line(
                                &m,
                                LicenceKind::User,
                                users.len() as i32,
                                format!("{} user licences (were trial users)", m.name),
                                now,
                            ));
                        }
                    }
                    Some(_) => v.push(FieldError::new(
                        field("trial_id"),
                        "trial_not_active",
                        "Only a running trial can be upgraded",
                    )),
                    None => v.push(FieldError::new(
                        field("trial_id"),
                        "not_found",
                        "No such trial for this organization",
                    )),
                }
                continue;
            }
        };
        let module: Option<Module> = modules::get(conn, module_id).await.ok().filter(|m| m.active);
        let Some(m) = module else {
            v.push(FieldError::new(
                field("module_id"),
                "unknown_module",
                "No active module with this id",
            ));
            continue;
        };
        check_currency(&mut currency, &m, &field("module_id"), v);
        let business = active_business(conn, org, module_id).await?;
        let paid_business = matches!(&business, Some((_, LicencePlan::Paid))) || business_in_quote.contains(&module_id);
        match item {
            Item::Business { .. } => match business {
                Some((_, LicencePlan::Trial)) => v.push(FieldError::new(
                    field("module_id"),
                    "trial_active",
                    "A trial runs for this module; upgrade the trial instead",
                )),
                Some(_) => v.push(FieldError::new(
                    field("module_id"),
                    "licence_exists",
                    "The organization already has this business licence",
                )),
                None if business_in_quote.contains(&module_id) => v.push(FieldError::new(
                    field("module_id"),
                    "duplicate_item",
                    "This business licence is already in the quote",
                )),
                None => {
                    business_in_quote.push(module_id);
                    lines.push(line(
                        &m,
                        LicenceKind::Business,
                        1,
                        format!("{} business licence", m.name),
                        now,
                    ));
                }
            },
            Item::Users { user_ids, .. } => {
                if !paid_business {
                    v.push(FieldError::new(
                        field("module_id"),
                        "business_licence_required",
                        "Activate the business licence for this module first",
                    ));
                    continue;
                }
                if user_ids.is_empty() {
                    v.push(FieldError::new(field("user_ids"), "no_users", "No users to license"));
                    continue;
                }
                if user_ids.len() > MAX_USERS_PER_ITEM {
                    v.push(FieldError::new(
                        field("user_ids"),
                        "too_many",
                        format!("At most {MAX_USERS_PER_ITEM} users per item"),
                    ));
                    continue;
                }
                check_licensable(conn, org, module_id, user_ids, &field("user_ids"), v).await?;
                lines.push(line(
                    &m,
                    LicenceKind::User,
                    user_ids.len() as i32,
                    format!("{} user licences", m.name),
                    now,
                ));
            }
            Item::Credits { quantity, .. } => {
                if !paid_business {
                    v.push(FieldError::new(
                        field("module_id"),
                        "business_licence_required",
                        "Activate the business licence for this module first",
                    ));
                    continue;
                }
                if !(1..=MAX_CREDITS).contains(quantity) {
                    v.push(FieldError::new(
                        field("quantity"),
                        "out_of_range",
                        format!("Between 1 and {MAX_CREDITS}"),
                    ));
                    continue;
                }
                lines.push(line(
                    &m,
                    LicenceKind::Credit,
                    *quantity,
                    format!("{} credits (user licences to assign later)", m.name),
                    now,
                ));
            }
            Item::UpgradeTrial { .. } => unreachable!("handled above"),
        }
    }
    Ok((lines, currency.unwrap_or_else(|| "EUR".to_owned())))
}

fn check_currency(current: &mut Option<String>, m: &Module, field: &str, v: &mut Validator) {
    match current {
        None => *current = Some(m.currency.clone()),
        Some(c) if *c != m.currency => v.push(FieldError::new(
            field,
            "mixed_currencies",
            "All items of a quote must be in one currency",
        )),
        _ => {}
    }
}

/// Resolves "all users" to the active members without a licence for the module.
async fn resolve(conn: &mut AsyncPgConnection, org: Uuid, requests: Vec<ItemRequest>) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for r in requests {
        items.push(match r {
            ItemRequest::Business { module_id } => Item::Business { module_id },
            ItemRequest::Credits { module_id, quantity } => Item::Credits { module_id, quantity },
            ItemRequest::Users {
                module_id,
                user_ids,
                all_users,
            } => {
                let mut ids = user_ids;
                if all_users {
                    let licensed = licensed_users(conn, org, module_id).await?;
                    for m in memberships::active_member_ids(conn, org).await? {
                        if !licensed.contains(&m) && !ids.contains(&m) {
                            ids.push(m);
                        }
                    }
                }
                ids.dedup();
                Item::Users {
                    module_id,
                    user_ids: ids,
                }
            }
        });
    }
    Ok(items)
}

fn fingerprint(items: &[Item], lines: &[Line]) -> String {
    let bytes = serde_json::to_vec(&(items, lines)).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

fn quote_ttl(ctx: &Ctx) -> Duration {
    Duration::from_std(ctx.config.quote_ttl).unwrap_or(Duration::minutes(30))
}

async fn store_quote(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    access: &Access,
    org: Uuid,
    items: Vec<Item>,
    lines: Vec<Line>,
    currency: String,
) -> Result<Quote> {
    let now = ctx.now();
    let monthly_total = cents(lines.iter().map(|l| l.monthly_amount).sum());
    let period_total = pricing::total(&lines);
    let row = diesel::insert_into(quotes::table)
        .values((
            quotes::id.eq(Uuid::now_v7()),
            quotes::organization_id.eq(org),
            quotes::created_by.eq(access.user_id),
            quotes::acting_organization_id.eq(access.acting_org),
            quotes::action.eq(serde_json::to_value(&items)?),
            quotes::lines.eq(serde_json::to_value(&lines)?),
            quotes::currency.eq(&currency),
            quotes::monthly_total.eq(monthly_total),
            quotes::period_total.eq(period_total),
            quotes::fingerprint.eq(fingerprint(&items, &lines)),
            quotes::expires_at.eq(now + quote_ttl(ctx)),
            quotes::created_at.eq(now),
        ))
        .returning(QuoteRow::as_returning())
        .get_result(conn)
        .await?;
    audit::record(
        conn,
        now,
        access,
        Action::QuoteCreated,
        row.id,
        json!({ "items": items, "monthly_total": crate::domain::fixed2(monthly_total), "period_total": crate::domain::fixed2(period_total) }),
    )
    .await?;
    row.try_into()
}

/// Prices what the caller asks for. Nothing is activated until the quote is confirmed.
pub async fn quote(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    requests: Vec<ItemRequest>,
) -> Result<Quote> {
    let access = authz::authorize(conn, actor, org, Permission::ManageLicences).await?;
    if requests.is_empty() {
        return Err(Error::field("items", "required", "Ask for at least one item"));
    }
    if requests.len() > MAX_QUOTE_ITEMS {
        return Err(Error::field(
            "items",
            "too_many",
            format!("At most {MAX_QUOTE_ITEMS} items per quote"),
        ));
    }
    let items = resolve(conn, org, requests).await?;
    let mut v = Validator::new();
    let (lines, currency) = price(conn, org, &items, ctx.now(), &mut v).await?;
    v.finish()?;
    conn.transaction(async |conn| {
        store_quote(conn, ctx, &access, org, items.clone(), lines.clone(), currency.clone()).await
    })
    .await
}

/// Quotes turning a running trial into paid licences for the business and every user
/// assigned to the trial.
pub async fn quote_upgrade(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    trial_id: Uuid,
) -> Result<Quote> {
    let access = authz::authorize(conn, actor, org, Permission::ManageLicences).await?;
    let items = vec![Item::UpgradeTrial { trial_id }];
    let mut v = Validator::new();
    let (lines, currency) = price(conn, org, &items, ctx.now(), &mut v).await?;
    v.finish()?;
    conn.transaction(async |conn| {
        store_quote(conn, ctx, &access, org, items.clone(), lines.clone(), currency.clone()).await
    })
    .await
}

/// Confirms a quote: the licences, the order with its lines and the invoice, in one
/// transaction. Refused when the quote belongs to someone else (not found), was
/// already confirmed, has expired, or no longer matches prices and state (stale).
pub async fn confirm(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, quote_id: Uuid) -> Result<Order> {
    let now = ctx.now();
    conn.transaction(async |conn| {
        let row: QuoteRow = quotes::table
            .find(quote_id)
            .select(QuoteRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(Error::not_found("quote"))?;
        if row.acting_organization_id != actor.acting_org {
            return Err(Error::not_found("quote"));
        }
        let access = authz::authorize(conn, actor, row.organization_id, Permission::ManageLicences)
            .await
            .map_err(|_| Error::not_found("quote"))?;
        if row.confirmed_at.is_some() {
            return Err(Error::conflict(
                "quote_confirmed",
                None,
                "This quote was already confirmed",
            ));
        }
        if row.expires_at <= now {
            return Err(Error::conflict(
                "quote_expired",
                None,
                "This quote has expired; ask for a new one",
            ));
        }
        let org = row.organization_id;
        let quote: Quote = row.clone().try_into()?;
        let mut v = Validator::new();
        let (lines, _) = price(conn, org, &quote.items, now, &mut v).await?;
        if !v.is_valid() || fingerprint(&quote.items, &lines) != row.fingerprint {
            return Err(Error::conflict(
                "quote_stale",
                None,
                "Prices or licences changed since this quote; ask for a new one",
            ));
        }
        let source = match quote.items.as_slice() {
            [Item::UpgradeTrial { .. }] => OrderSource::TrialUpgrade,
            items if items.iter().all(|i| matches!(i, Item::Credits { .. })) => OrderSource::Credits,
            _ if access.via == authz::Via::ServiceProvider => OrderSource::AddProducts,
            _ => OrderSource::Activation,
        };
        let order = orders::create(
            conn,
            ctx,
            &access,
            org,
            source,
            &quote.currency,
            &quote.lines,
            Some(quote.id),
        )
        .await?;
        for item in &quote.items {
            apply(conn, now, &access, org, item, order.id).await?;
        }
        diesel::update(quotes::table.find(quote_id))
            .set((quotes::confirmed_at.eq(now), quotes::order_id.eq(order.id)))
            .execute(conn)
            .await?;
        Ok(order)
    })
    .await
}

/// Carries out one confirmed item.
async fn apply(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    access: &Access,
    org: Uuid,
    item: &Item,
    order_id: Uuid,
) -> Result<()> {
    match item {
        Item::Business { module_id } => {
            let id = Uuid::now_v7();
            diesel::insert_into(bl::table)
                .values((
                    bl::id.eq(id),
                    bl::organization_id.eq(org),
                    bl::module_id.eq(module_id),
                    bl::kind.eq(LicencePlan::Paid),
                    bl::order_id.eq(order_id),
                    bl::starts_at.eq(now),
                    bl::created_at.eq(now),
                ))
                .execute(conn)
                .await?;
            audit::record(
                conn,
                now,
                access,
                Action::BusinessLicenceActivated,
                id,
                json!({ "module_id": module_id, "order_id": order_id }),
            )
            .await
        }
        Item::Users { module_id, user_ids } => {
            let users: Vec<Option<Uuid>> = user_ids.iter().copied().map(Some).collect();
            insert_user_licences(conn, now, org, *module_id, &users, order_id).await?;
            audit::record(
                conn,
                now,
                access,
                Action::UserLicencesActivated,
                org,
                json!({ "module_id": module_id, "user_ids": user_ids, "order_id": order_id }),
            )
            .await
        }
        Item::Credits { module_id, quantity } => {
            let credits = vec![None; *quantity as usize];
            insert_user_licences(conn, now, org, *module_id, &credits, order_id).await?;
            audit::record(
                conn,
                now,
                access,
                Action::CreditsAdded,
                org,
                json!({ "module_id": module_id, "quantity": quantity, "order_id": order_id }),
            )
            .await
        }
        Item::UpgradeTrial { trial_id } => {
            crate::trials::convert_to_paid(conn, now, access, org, *trial_id, order_id).await
        }
    }
}

/// Inserts paid user licences (a `None` user is a credit) with one statement.
async fn insert_user_licences(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org: Uuid,
    module: Uuid,
    users: &[Option<Uuid>],
    order: Uuid,
) -> Result<()> {
    let ids: Vec<Uuid> = users.iter().map(|_| Uuid::now_v7()).collect();
    sql_query(
        "INSERT INTO user_licences (id, organization_id, module_id, user_id, kind, order_id, starts_at, assigned_at, created_at)
         SELECT id, $3, $4, user_id, 'paid', $5, $6, CASE WHEN user_id IS NULL THEN NULL ELSE $6 END, $6
         FROM unnest($1::uuid[], $2::uuid[]) AS t(id, user_id)",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Nullable<SqlUuid>>, _>(users)
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(module)
    .bind::<SqlUuid, _>(order)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Assigns credits to users: each user takes one unassigned credit of the module.
/// Assignments for one organization and module take turns (they lock its business
/// licence), so a request is refused only when too few credits are really free, and
/// never more are assigned than were bought.
pub async fn assign_credits(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    module_id: Uuid,
    user_ids: &[Uuid],
) -> Result<usize> {
    let access = authz::authorize(conn, actor, org, Permission::ManageLicences).await?;
    if user_ids.is_empty() {
        return Err(Error::field(
            "user_ids",
            "no_users",
            "Name the users to assign credits to",
        ));
    }
    if user_ids.len() > MAX_USERS_PER_ITEM {
        return Err(Error::field(
            "user_ids",
            "too_many",
            format!("At most {MAX_USERS_PER_ITEM} users at once"),
        ));
    }
    let mut unique = user_ids.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() != user_ids.len() {
        return Err(Error::field("user_ids", "duplicate_user", "A user is named twice"));
    }
    let now = ctx.now();
    conn.transaction(async |conn| {
        // The business licence is the turnstile for this organization and module.
        bl::table
            .filter(bl::organization_id.eq(org))
            .filter(bl::module_id.eq(module_id))
            .filter(bl::active.eq(true))
            .select(bl::id)
            .for_update()
            .first::<Uuid>(conn)
            .await
            .optional()?;
        let mut v = Validator::new();
        check_licensable(conn, org, module_id, user_ids, "user_ids", &mut v).await?;
        v.finish()?;
        let credits: Vec<Uuid> = ul::table
            .filter(ul::organization_id.eq(org))
            .filter(ul::module_id.eq(module_id))
            .filter(ul::active.eq(true))
            .filter(ul::user_id.is_null())
            .order((ul::created_at.asc(), ul::id.asc()))
            .limit(user_ids.len() as i64)
            .select(ul::id)
            .for_update()
            .load(conn)
            .await?;
        if credits.len() < user_ids.len() {
            return Err(Error::conflict(
                "not_enough_credits",
                Some("user_ids"),
                format!(
                    "{} credits are free for this module; {} are needed",
                    credits.len(),
                    user_ids.len()
                ),
            ));
        }
        let assigned = sql_query(
            "UPDATE user_licences ul SET user_id = t.user_id, assigned_at = $3
             FROM unnest($1::uuid[], $2::uuid[]) AS t(id, user_id)
             WHERE ul.id = t.id AND ul.user_id IS NULL",
        )
        .bind::<Array<SqlUuid>, _>(&credits)
        .bind::<Array<SqlUuid>, _>(user_ids)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        audit::record(
            conn,
            now,
            &access,
            Action::CreditsAssigned,
            org,
            json!({ "module_id": module_id, "user_ids": user_ids }),
        )
        .await?;
        Ok(assigned)
    })
    .await
}

/// Switches off a business licence, and with it the module's user licences and credits.
pub async fn deactivate_business(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    licence_id: Uuid,
) -> Result<usize> {
    let access = authz::authorize(conn, actor, org, Permission::ManageLicences).await?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let module: Uuid = bl::table
            .filter(bl::id.eq(licence_id))
            .filter(bl::organization_id.eq(org))
            .filter(bl::active.eq(true))
            .select(bl::module_id)
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(Error::not_found("licence"))?;
        diesel::update(bl::table.find(licence_id))
            .set((bl::active.eq(false), bl::deactivated_at.eq(now)))
            .execute(conn)
            .await?;
        let users = diesel::update(
            ul::table
                .filter(ul::organization_id.eq(org))
                .filter(ul::module_id.eq(module))
                .filter(ul::active.eq(true)),
        )
        .set((ul::active.eq(false), ul::deactivated_at.eq(now)))
        .execute(conn)
        .await?;
        audit::record(
            conn,
            now,
            &access,
            Action::BusinessLicenceDeactivated,
            licence_id,
            json!({ "module_id": module, "user_licences_deactivated": users }),
        )
        .await?;
        Ok(users + 1)
    })
    .await
}

/// Switches off one user licence (or credit).
pub async fn deactivate_user_licence(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    licence_id: Uuid,
) -> Result<()> {
    let access = authz::authorize(conn, actor, org, Permission::ManageLicences).await?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let n = diesel::update(
            ul::table
                .filter(ul::id.eq(licence_id))
                .filter(ul::organization_id.eq(org))
                .filter(ul::active.eq(true)),
        )
        .set((ul::active.eq(false), ul::deactivated_at.eq(now)))
        .execute(conn)
        .await?;
        if n == 0 {
            return Err(Error::not_found("licence"));
        }
        audit::record(
            conn,
            now,
            &access,
            Action::UserLicenceDeactivated,
            licence_id,
            json!({}),
        )
        .await
    })
    .await
}

/// The licence overview of an organization, per module.
#[derive(Debug, Clone)]
pub struct ModuleLicences {
    pub module: Module,
    pub business_licence_id: Option<Uuid>,
    /// paid or trial.
    pub business_kind: Option<LicencePlan>,
    pub business_ends_at: Option<DateTime<Utc>>,
    pub users: Vec<UserLicence>,
    /// Credits not yet assigned.
    pub free_credits: i64,
}

#[derive(Debug, Clone, Queryable)]
pub struct UserLicence {
    pub id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub kind: LicencePlan,
    pub ends_at: Option<DateTime<Utc>>,
}

/// Reading an organization's licences and trials: whoever sees its users or manages its
/// licences (also while it is deactivated).
async fn authorize_reading(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Access> {
    match authz::authorize(conn, actor, org, Permission::ViewUsers).await {
        Ok(access) => Ok(access),
        Err(_) => authz::authorize(conn, actor, org, Permission::ManageLicences).await,
    }
}

pub async fn overview(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Vec<ModuleLicences>> {
    authorize_reading(conn, actor, org).await?;
    let business: Vec<(Uuid, Uuid, LicencePlan, Option<DateTime<Utc>>)> = bl::table
        .filter(bl::organization_id.eq(org))
        .filter(bl::active.eq(true))
        .select((bl::id, bl::module_id, bl::kind, bl::ends_at))
        .load(conn)
        .await?;
    let users: Vec<(Uuid, UserLicence)> = ul::table
        .inner_join(crate::schema::users::table.on(crate::schema::users::id.nullable().eq(ul::user_id)))
        .filter(ul::organization_id.eq(org))
        .filter(ul::active.eq(true))
        .order(crate::schema::users::email.asc())
        .select((
            ul::module_id,
            (
                ul::id,
                crate::schema::users::id,
                crate::schema::users::email,
                ul::kind,
                ul::ends_at,
            ),
        ))
        .load(conn)
        .await?;
    let credits: Vec<(Uuid, i64)> = ul::table
        .filter(ul::organization_id.eq(org))
        .filter(ul::active.eq(true))
        .filter(ul::user_id.is_null())
        .group_by(ul::module_id)
        .select((ul::module_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    let mut module_ids: Vec<Uuid> = business
        .iter()
        .map(|b| b.1)
        .chain(users.iter().map(|u| u.0))
        .chain(credits.iter().map(|c| c.0))
        .collect();
    module_ids.sort();
    module_ids.dedup();
    let mut out = Vec::new();
    for module_id in module_ids {
        let module = modules::get(conn, module_id).await?;
        let b = business.iter().find(|b| b.1 == module_id);
        out.push(ModuleLicences {
            module,
            business_licence_id: b.map(|b| b.0),
            business_kind: b.map(|b| b.2),
            business_ends_at: b.and_then(|b| b.3),
            users: users.iter().filter(|u| u.0 == module_id).map(|u| u.1.clone()).collect(),
            free_credits: credits.iter().find(|c| c.0 == module_id).map(|c| c.1).unwrap_or(0),
        });
    }
    out.sort_by(|a, b| a.module.code.cmp(&b.module.code));
    Ok(out)
}

/// Whoever may see a quote: it belongs to the organization it prices.
pub async fn get_quote(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid) -> Result<Quote> {
    let row: QuoteRow = quotes::table
        .find(id)
        .select(QuoteRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("quote"))?;
    authz::authorize(conn, actor, row.organization_id, Permission::ManageLicences)
        .await
        .map_err(|_| Error::not_found("quote"))?;
    row.try_into()
}
