//! Licences: business licences (organization × module), user licences (user × module)
//! and credits (user licences prepared without a user). Every paid activation is first
//! quoted (per month and for the rest of the current month) and only happens when the
//! caller confirms that quote; confirming creates the order, its invoice and the
//! licences in one transaction.

use crate::platform::ids::OrderId;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::commerce::licensing::{self as store, Plan, Which};
use crate::platform::money::Currency;

use std::collections::{HashMap, HashSet};

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, FieldError, Result,
    commerce::modules::{self, Module},
    commerce::orders::{self, Order},
    commerce::pricing::{self, Line},
    platform::authz::{self, Access, Actor, Permission},
    platform::error::Validator,
    platform::ids::{LicenceId, ModuleId, TrialId},
    platform::ids::{OrgId, UserId},
    platform::money::cents,
    platform::values::{LicenceKind, LicencePlan, OrderSource, TrialStatus},
    schema::{business_licences as bl, quotes, trials, user_licences as ul},
    tenancy::memberships,
};

/// The most credits one quote prepares.
pub const MAX_CREDITS: i32 = 1000;
/// The most items one quote holds.
pub const MAX_QUOTE_ITEMS: usize = 20;
pub use crate::commerce::licensing::MAX_USERS_PER_ITEM;

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
    pub currency: Currency,
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
    pub currency: Currency,
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

/// How an order line describes what it bought, stored as written (English); pages show
/// it in the reader's language by matching it against these ([`LINE_DESCRIPTIONS`]).
const BUSINESS: &str = "{module} business licence";
const USERS: &str = "{module} user licences";
const CREDITS: &str = "{module} credits (user licences to assign later)";
const BUSINESS_FROM_TRIAL: &str = "{module} business licence (was a trial)";
const USERS_FROM_TRIAL: &str = "{module} user licences (were trial users)";

/// Every way an order line is described, `{module}` standing for the module's name.
pub const LINE_DESCRIPTIONS: &[&str] = &[BUSINESS, USERS, CREDITS, BUSINESS_FROM_TRIAL, USERS_FROM_TRIAL];

fn describe(pattern: &str, module: &str) -> String {
    pattern.replace("{module}", module)
}

fn line(m: &Module, kind: LicenceKind, quantity: i32, description: String, now: DateTime<Utc>) -> Line {
    let unit = if kind == LicenceKind::Business {
        m.business_price
    } else {
        m.user_price
    };
    Line::new(m.id, &m.code, kind, unit, quantity, description, now)
}

/// The plans of the organization's active business licences for `modules`, by module.
async fn active_businesses(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    modules: &[Uuid],
) -> Result<HashMap<Uuid, LicencePlan>> {
    if modules.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(bl::table
        .filter(bl::organization_id.eq(org))
        .filter(bl::module_id.eq_any(modules))
        .filter(bl::active.eq(true))
        .select((bl::module_id, bl::kind))
        .load::<(Uuid, LicencePlan)>(conn)
        .await?
        .into_iter()
        .collect())
}

/// The lines of a quote as they are priced, item by item.
struct Pricing {
    now: DateTime<Utc>,
    lines: Vec<Line>,
    currency: Option<Currency>,
    /// Modules whose business licence this quote activates.
    business_in_quote: Vec<Uuid>,
}

impl Pricing {
    fn add(&mut self, m: &Module, kind: LicenceKind, quantity: i32, description: String) {
        self.lines.push(line(m, kind, quantity, description, self.now));
    }

    fn check_currency(&mut self, m: &Module, field: &str, v: &mut Validator) {
        match &self.currency {
            None => self.currency = Some(m.currency),
            Some(c) if *c != m.currency => v.push(FieldError::new(
                field,
                "mixed_currencies",
                "All items of a quote must be in one currency",
            )),
            _ => {}
        }
    }

    /// User licences and credits need a paid business licence, held or in this quote.
    fn require_paid_business(
        &self,
        business: Option<LicencePlan>,
        module: Uuid,
        field: &str,
        v: &mut Validator,
    ) -> bool {
        let paid = business == Some(LicencePlan::Paid) || self.business_in_quote.contains(&module);
        if !paid {
            v.push(FieldError::new(
                field,
                "business_licence_required",
                "Activate the business licence for this module first",
            ));
        }
        paid
    }

    fn business(&mut self, m: &Module, business: Option<LicencePlan>, field: &str, v: &mut Validator) {
        match business {
            Some(LicencePlan::Trial) => v.push(FieldError::new(
                field,
                "trial_active",
                "A trial runs for this module; upgrade the trial instead",
            )),
            Some(_) => v.push(FieldError::new(
                field,
                "licence_exists",
                "The organization already has this business licence",
            )),
            None if self.business_in_quote.contains(&m.id) => v.push(FieldError::new(
                field,
                "duplicate_item",
                "This business licence is already in the quote",
            )),
            None => {
                self.business_in_quote.push(m.id);
                self.add(m, LicenceKind::Business, 1, describe(BUSINESS, &m.name));
            }
        }
    }

    async fn users(
        &mut self,
        conn: &mut AsyncPgConnection,
        org: Uuid,
        m: &Module,
        user_ids: &[Uuid],
        field: &str,
        v: &mut Validator,
    ) -> Result<()> {
        if user_ids.is_empty() {
            v.push(FieldError::new(field, "no_users", "No users to license"));
        } else if user_ids.len() > MAX_USERS_PER_ITEM {
            v.push(FieldError::new(
                field,
                "too_many",
                format!("At most {MAX_USERS_PER_ITEM} users per item"),
            ));
        } else {
            store::check_licensable(conn, org.into(), m.id.into(), user_ids, field, v).await?;
            let n = user_ids.len() as i32;
            self.add(m, LicenceKind::User, n, describe(USERS, &m.name));
        }
        Ok(())
    }

    fn credits(&mut self, m: &Module, quantity: i32, field: &str, v: &mut Validator) {
        if (1..=MAX_CREDITS).contains(&quantity) {
            let description = describe(CREDITS, &m.name);
            self.add(m, LicenceKind::Credit, quantity, description);
        } else {
            v.push(FieldError::new(
                field,
                "out_of_range",
                format!("Between 1 and {MAX_CREDITS}"),
            ));
        }
    }

    async fn trial_upgrade(
        &mut self,
        conn: &mut AsyncPgConnection,
        org: OrgId,
        trial_id: TrialId,
        field: &str,
        v: &mut Validator,
    ) -> Result<()> {
        let trial: Option<(Uuid, TrialStatus)> = trials::table
            .filter(trials::id.eq(trial_id))
            .filter(trials::organization_id.eq(org))
            .select((trials::module_id, trials::status))
            .first(conn)
            .await
            .optional()?;
        let module_id = match trial {
            Some((module_id, TrialStatus::Active)) => module_id,
            Some(_) => {
                v.push(FieldError::new(
                    field,
                    "trial_not_active",
                    "Only a running trial can be upgraded",
                ));
                return Ok(());
            }
            None => {
                v.push(FieldError::new(
                    field,
                    "not_found",
                    "No such trial for this organization",
                ));
                return Ok(());
            }
        };
        let m = modules::get(conn, module_id).await?;
        let users: i64 = ul::table
            .filter(ul::trial_id.eq(trial_id))
            .filter(ul::active.eq(true))
            .filter(ul::user_id.is_not_null())
            .count()
            .get_result(conn)
            .await?;
        self.check_currency(&m, field, v);
        self.add(&m, LicenceKind::Business, 1, describe(BUSINESS_FROM_TRIAL, &m.name));
        if users > 0 {
            let description = describe(USERS_FROM_TRIAL, &m.name);
            self.add(&m, LicenceKind::User, users as i32, description);
        }
        Ok(())
    }
}

/// Validates the request against the current state and prices it. The same function
/// replays a stored quote on confirmation: if the answer differs, the quote is stale.
async fn price(
    conn: &mut AsyncPgConnection,
    org: Uuid,
    items: &[Item],
    now: DateTime<Utc>,
    v: &mut Validator,
) -> Result<(Vec<Line>, Currency)> {
    let mut p = Pricing {
        now,
        lines: Vec::new(),
        currency: None,
        business_in_quote: Vec::new(),
    };
    // The modules asked for and the organization's business licences for them, in two
    // statements whatever the number of items.
    let asked: Vec<Uuid> = items
        .iter()
        .filter_map(|item| match item {
            Item::Business { module_id } | Item::Users { module_id, .. } | Item::Credits { module_id, .. } => {
                Some(*module_id)
            }
            Item::UpgradeTrial { .. } => None,
        })
        .collect();
    let known = modules::get_many(conn, &asked).await?;
    let businesses = active_businesses(conn, org, &asked).await?;
    for (i, item) in items.iter().enumerate() {
        let field = |f: &str| format!("items[{i}].{f}");
        let module_id = match item {
            Item::UpgradeTrial { trial_id } => {
                p.trial_upgrade(conn, org.into(), (*trial_id).into(), &field("trial_id"), v)
                    .await?;
                continue;
            }
            Item::Business { module_id } | Item::Users { module_id, .. } | Item::Credits { module_id, .. } => {
                *module_id
            }
        };
        let Some(m) = known.get(&module_id).cloned().filter(|m| m.active) else {
            v.push(FieldError::new(
                field("module_id"),
                "unknown_module",
                "No active module with this id",
            ));
            continue;
        };
        p.check_currency(&m, &field("module_id"), v);
        let business = businesses.get(&module_id).copied();
        match item {
            Item::Business { .. } => p.business(&m, business, &field("module_id"), v),
            Item::Users { user_ids, .. } => {
                if p.require_paid_business(business, module_id, &field("module_id"), v) {
                    p.users(conn, org, &m, user_ids, &field("user_ids"), v).await?;
                }
            }
            Item::Credits { quantity, .. } => {
                if p.require_paid_business(business, module_id, &field("module_id"), v) {
                    p.credits(&m, *quantity, &field("quantity"), v);
                }
            }
            Item::UpgradeTrial { .. } => {}
        }
    }
    Ok((p.lines, p.currency.unwrap_or(Currency::EUR)))
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
                    let licensed: HashSet<Uuid> = store::licensed_users(conn, org.into(), module_id.into())
                        .await?
                        .into_iter()
                        .collect();
                    ids.extend(
                        memberships::active_member_ids(conn, org)
                            .await?
                            .into_iter()
                            .filter(|m| !licensed.contains(m)),
                    );
                }
                let mut seen = HashSet::new();
                ids.retain(|id| seen.insert(*id));
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

/// Prices `items` and stores them as a quote of `org`.
async fn store_quote(op: &mut Op<'_>, org: Uuid, items: Vec<Item>) -> Result<Quote> {
    let mut v = Validator::new();
    let (lines, currency) = price(op.conn, org, &items, op.now, &mut v).await?;
    v.finish()?;
    let access = op.access()?;
    let monthly_total = cents(lines.iter().map(|l| l.monthly_amount).sum());
    let period_total = pricing::total(&lines);
    let row = diesel::insert_into(quotes::table)
        .values((
            quotes::id.eq(Uuid::now_v7()),
            quotes::organization_id.eq(org),
            quotes::created_by.eq(access.user_id()),
            quotes::acting_organization_id.eq(access.acting_org()),
            quotes::action.eq(serde_json::to_value(&items)?),
            quotes::lines.eq(serde_json::to_value(&lines)?),
            quotes::currency.eq(&currency),
            quotes::monthly_total.eq(monthly_total),
            quotes::period_total.eq(period_total),
            quotes::fingerprint.eq(fingerprint(&items, &lines)),
            quotes::expires_at.eq(op.now + quote_ttl(op.ctx)),
            quotes::created_at.eq(op.now),
        ))
        .returning(QuoteRow::as_returning())
        .get_result(op.conn)
        .await?;
    op.audit(
        Action::QuoteCreated,
        row.id,
        json!({ "items": items, "monthly_total": crate::platform::money::fixed2(monthly_total), "period_total": crate::platform::money::fixed2(period_total) }),
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
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
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
        let items = resolve(op.conn, org, requests).await?;
        store_quote(op, org, items).await
    })
    .await
}

/// Quotes turning a running trial into paid licences for the business and every user
/// assigned to the trial.
pub async fn quote_upgrade(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    trial_id: TrialId,
) -> Result<Quote> {
    let (org, trial_id) = (org.uuid(), trial_id.uuid());
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        store_quote(op, org, vec![Item::UpgradeTrial { trial_id }]).await
    })
    .await
}

/// Confirms a quote: the licences, the order with its lines and the invoice, in one
/// transaction. Refused when the quote belongs to someone else (not found), was
/// already confirmed, has expired, or no longer matches prices and state (stale).
pub async fn confirm(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, quote_id: Uuid) -> Result<Order> {
    let org: Uuid = quotes::table
        .find(quote_id)
        .filter(quotes::acting_organization_id.nullable().eq(actor.acting_org))
        .select(quotes::organization_id)
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("quote"))?;
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        let row: QuoteRow = quotes::table
            .find(quote_id)
            .select(QuoteRow::as_select())
            .for_update()
            .first(op.conn)
            .await?;
        let quote = check_confirmable(op, row).await?;
        let order = orders::create(
            op,
            org.into(),
            order_source(op, &quote.items)?,
            quote.currency,
            &quote.lines,
            Some(quote.id),
        )
        .await?;
        for item in &quote.items {
            apply(op, org.into(), item, order.id.into()).await?;
        }
        diesel::update(quotes::table.find(quote_id))
            .set((quotes::confirmed_at.eq(op.now), quotes::order_id.eq(order.id)))
            .execute(op.conn)
            .await?;
        Ok(order)
    })
    .await
    .map_err(|e| e.not_found_as("quote"))
}

/// A quote can be confirmed once, before it expires, while it still prices the same.
async fn check_confirmable(op: &mut Op<'_>, row: QuoteRow) -> Result<Quote> {
    if row.confirmed_at.is_some() {
        return Err(Error::conflict(
            "quote_confirmed",
            None,
            "This quote was already confirmed",
        ));
    }
    if row.expires_at <= op.now {
        return Err(Error::conflict(
            "quote_expired",
            None,
            "This quote has expired; ask for a new one",
        ));
    }
    let fingerprint_then = row.fingerprint.clone();
    let quote: Quote = row.try_into()?;
    let mut v = Validator::new();
    let (lines, _) = price(op.conn, quote.organization_id, &quote.items, op.now, &mut v).await?;
    if !v.is_valid() || fingerprint(&quote.items, &lines) != fingerprint_then {
        return Err(Error::conflict(
            "quote_stale",
            None,
            "Prices or licences changed since this quote; ask for a new one",
        ));
    }
    Ok(quote)
}

fn order_source(op: &Op<'_>, items: &[Item]) -> Result<OrderSource> {
    Ok(match items {
        [Item::UpgradeTrial { .. }] => OrderSource::TrialUpgrade,
        items if items.iter().all(|i| matches!(i, Item::Credits { .. })) => OrderSource::Credits,
        _ if op.access()?.via() == authz::Via::ServiceProvider => OrderSource::AddProducts,
        _ => OrderSource::Activation,
    })
}

/// Carries out one confirmed item.
async fn apply(op: &mut Op<'_>, org: OrgId, item: &Item, order_id: OrderId) -> Result<()> {
    let paid = Plan::Paid {
        order_id: order_id.into(),
    };
    match item {
        Item::Business { module_id } => {
            let id = store::add_business(op.conn, op.now, org, (*module_id).into(), paid).await?;
            let changes = json!({ "module_id": module_id, "order_id": order_id });
            op.audit(Action::BusinessLicenceActivated, id, changes).await
        }
        Item::Users { module_id, user_ids } => {
            let users: Vec<Option<Uuid>> = user_ids.iter().copied().map(Some).collect();
            store::add_users(op.conn, op.now, org, (*module_id).into(), &users, paid).await?;
            let changes = json!({ "module_id": module_id, "user_ids": user_ids, "order_id": order_id });
            op.audit(Action::UserLicencesActivated, org, changes).await
        }
        Item::Credits { module_id, quantity } => {
            let credits = vec![None; *quantity as usize];
            store::add_users(op.conn, op.now, org, (*module_id).into(), &credits, paid).await?;
            let changes = json!({ "module_id": module_id, "quantity": quantity, "order_id": order_id });
            op.audit(Action::CreditsAdded, org, changes).await
        }
        Item::UpgradeTrial { trial_id } => {
            crate::commerce::trials::convert_to_paid(op, org, (*trial_id).into(), order_id).await
        }
    }
}

/// Assigns credits to users: each user takes one unassigned credit of the module.
pub async fn assign_credits(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    module_id: ModuleId,
    user_ids: &[UserId],
) -> Result<usize> {
    let module_id = module_id.uuid();
    let org = org.uuid();
    let user_ids: Vec<Uuid> = user_ids.iter().map(|u| u.uuid()).collect();
    let user_ids = &user_ids[..];
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        store::check_user_list(user_ids, "Name the users to assign credits to")?;
        let assigned = store::assign_credits(op.conn, op.now, org.into(), module_id.into(), user_ids).await?;
        let changes = json!({ "module_id": module_id, "user_ids": user_ids });
        op.audit(Action::CreditsAssigned, org, changes).await?;
        Ok(assigned)
    })
    .await
}

/// Switches off a business licence, and with it the module's user licences and credits.
pub async fn deactivate_business(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    licence_id: LicenceId,
) -> Result<usize> {
    let (org, licence_id) = (org.uuid(), licence_id.uuid());
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        let module: Uuid = bl::table
            .filter(bl::id.eq(licence_id))
            .filter(bl::organization_id.eq(org))
            .filter(bl::active.eq(true))
            .select(bl::module_id)
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("licence"))?;
        let (business, users) = store::deactivate(op.conn, op.now, Which::Module { org, module }).await?;
        let changes = json!({ "module_id": module, "user_licences_deactivated": users });
        op.audit(Action::BusinessLicenceDeactivated, licence_id, changes)
            .await?;
        Ok(business + users)
    })
    .await
}

/// Switches off one user licence (or credit).
pub async fn deactivate_user_licence(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    licence_id: LicenceId,
) -> Result<()> {
    let (org, licence_id) = (org.uuid(), licence_id.uuid());
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        if !store::deactivate_user_licence(op.conn, op.now, org.into(), licence_id.into()).await? {
            return Err(Error::not_found("licence"));
        }
        op.audit(Action::UserLicenceDeactivated, licence_id, json!({})).await
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
    match op::grant(conn, actor, org.into(), Permission::ViewUsers).await {
        Ok(access) => Ok(access),
        Err(_) => op::grant(conn, actor, org.into(), Permission::ManageLicences).await,
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
    op::grant(conn, actor, row.organization_id.into(), Permission::ManageLicences)
        .await
        .map_err(|_| Error::not_found("quote"))?;
    row.try_into()
}
