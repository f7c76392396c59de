//! Every write to the licence tables (business licences, user licences and credits),
//! and the one check of who may get a user licence. Services call these inside their
//! operation's transaction; many rows are written with one statement.

use crate::platform::db::sql_query;
use crate::platform::ids::{LicenceId, ModuleId, OrderId, OrgId, TrialId};
use chrono::{DateTime, Utc};
use diesel::{
    ExpressionMethods, NullableExpressionMethods, OptionalExtension, QueryDsl,
    sql_types::{Array, Nullable, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use std::collections::HashSet;

use crate::{
    Error, FieldError, Result,
    platform::error::Validator,
    platform::values::LicencePlan,
    schema::{business_licences as bl, user_licences as ul},
    tenancy::memberships,
};

/// The most users one request licenses.
pub const MAX_USERS_PER_ITEM: usize = 10_000;

/// What a new licence is: paid through an order, or part of a trial until it ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    Paid { order_id: Uuid },
    Trial { trial_id: Uuid, ends_at: DateTime<Utc> },
}

impl Plan {
    fn kind(&self) -> LicencePlan {
        match self {
            Plan::Paid { .. } => LicencePlan::Paid,
            Plan::Trial { .. } => LicencePlan::Trial,
        }
    }

    fn order_id(&self) -> Option<Uuid> {
        match self {
            Plan::Paid { order_id } => Some(*order_id),
            Plan::Trial { .. } => None,
        }
    }

    fn trial_id(&self) -> Option<Uuid> {
        match self {
            Plan::Trial { trial_id, .. } => Some(*trial_id),
            Plan::Paid { .. } => None,
        }
    }

    /// From when the licence is billed: paid ones from the start, trials never.
    fn billable_from(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Plan::Paid { .. } => Some(now),
            Plan::Trial { .. } => None,
        }
    }

    fn ends_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Plan::Trial { ends_at, .. } => Some(*ends_at),
            Plan::Paid { .. } => None,
        }
    }
}

/// Adds a business licence; returns its id.
pub(crate) async fn add_business(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org: OrgId,
    module: ModuleId,
    plan: Plan,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(bl::table)
        .values((
            bl::id.eq(id),
            bl::organization_id.eq(org),
            bl::module_id.eq(module),
            bl::kind.eq(plan.kind()),
            bl::order_id.eq(plan.order_id()),
            bl::trial_id.eq(plan.trial_id()),
            bl::starts_at.eq(now),
            bl::ends_at.eq(plan.ends_at()),
            bl::created_at.eq(now),
            bl::billable_from.eq(plan.billable_from(now)),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Adds user licences with one statement; a `None` user is a credit, assigned later.
pub(crate) async fn add_users(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org: OrgId,
    module: ModuleId,
    users: &[Option<Uuid>],
    plan: Plan,
) -> Result<usize> {
    let ids: Vec<Uuid> = users.iter().map(|_| Uuid::now_v7()).collect();
    Ok(sql_query(
        "INSERT INTO user_licences
           (id, organization_id, module_id, user_id, kind, order_id, trial_id, starts_at, ends_at, assigned_at, created_at,
            billable_from)
         SELECT id, $3, $4, user_id, $5, $6, $7, $8, $9, CASE WHEN user_id IS NULL THEN NULL ELSE $8 END, $8, $10
         FROM unnest($1::uuid[], $2::uuid[]) AS t(id, user_id)",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Nullable<SqlUuid>>, _>(users)
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(module)
    .bind::<diesel::sql_types::Text, _>(plan.kind())
    .bind::<Nullable<SqlUuid>, _>(plan.order_id())
    .bind::<Nullable<SqlUuid>, _>(plan.trial_id())
    .bind::<Timestamptz, _>(now)
    .bind::<Nullable<Timestamptz>, _>(plan.ends_at())
    .bind::<Nullable<Timestamptz>, _>(plan.billable_from(now))
    .execute(conn)
    .await?)
}

/// The users holding an active licence of the module.
pub(crate) async fn licensed_users(conn: &mut AsyncPgConnection, org: OrgId, module: ModuleId) -> Result<Vec<Uuid>> {
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
/// not hold the module yet (paid or trial): the one place that decides who may get a
/// user licence.
pub(crate) async fn check_licensable(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    module: ModuleId,
    user_ids: &[Uuid],
    field: &str,
    v: &mut Validator,
) -> Result<()> {
    let members = memberships::active_member_ids(conn, org.into()).await?;
    let licensed = licensed_users(conn, org, module).await?;
    for u in user_ids {
        if !members.contains(u) {
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

/// Gives each user one free credit of the module. Assignments for one organization and
/// module take turns (they lock its business licence), so a request is refused only
/// when too few credits are really free, and never more are assigned than were bought.
pub(crate) async fn assign_credits(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org: OrgId,
    module: ModuleId,
    user_ids: &[Uuid],
) -> Result<usize> {
    bl::table
        .filter(bl::organization_id.eq(org))
        .filter(bl::module_id.eq(module))
        .filter(bl::active.eq(true))
        .select(bl::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()?;
    let mut v = Validator::new();
    check_licensable(conn, org, module, user_ids, "user_ids", &mut v).await?;
    v.finish()?;
    let credits: Vec<Uuid> = ul::table
        .filter(ul::organization_id.eq(org))
        .filter(ul::module_id.eq(module))
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
    Ok(sql_query(
        "UPDATE user_licences ul SET user_id = t.user_id, assigned_at = $3
         FROM unnest($1::uuid[], $2::uuid[]) AS t(id, user_id)
         WHERE ul.id = t.id AND ul.user_id IS NULL",
    )
    .bind::<Array<SqlUuid>, _>(&credits)
    .bind::<Array<SqlUuid>, _>(user_ids)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?)
}

/// Which active licences to switch off.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Which {
    /// Everything an organization holds (its customer record was deactivated).
    Organization(Uuid),
    /// One module of an organization: the business licence with its user licences.
    Module { org: Uuid, module: Uuid },
    /// What a trial gave.
    Trial(Uuid),
}

/// Switches licences off; returns how many business and user licences were.
pub(crate) async fn deactivate(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    which: Which,
) -> Result<(usize, usize)> {
    let business = bl::table.filter(bl::active.eq(true)).into_boxed();
    let users = ul::table.filter(ul::active.eq(true)).into_boxed();
    let (business, users) = match which {
        Which::Organization(org) => (
            business.filter(bl::organization_id.eq(org)),
            users.filter(ul::organization_id.eq(org)),
        ),
        Which::Module { org, module } => (
            business
                .filter(bl::organization_id.eq(org))
                .filter(bl::module_id.eq(module)),
            users
                .filter(ul::organization_id.eq(org))
                .filter(ul::module_id.eq(module)),
        ),
        Which::Trial(trial) => (
            business.filter(bl::trial_id.eq(trial)),
            users.filter(ul::trial_id.eq(trial)),
        ),
    };
    let b = diesel::update(bl::table.filter(bl::id.eq_any(business.select(bl::id))))
        .set((bl::active.eq(false), bl::deactivated_at.eq(now)))
        .execute(conn)
        .await?;
    let u = diesel::update(ul::table.filter(ul::id.eq_any(users.select(ul::id))))
        .set((ul::active.eq(false), ul::deactivated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok((b, u))
}

/// Switches off what one order line bought (its credit note gave all of it back):
/// a business line's licence with the module's user licences, as switching the module
/// off does; a user or credit line's licences of that order, as many as it bought (credits
/// still unassigned first for a credit line, assigned ones first for a user line).
/// Returns how many business and user licences were switched off.
pub(crate) async fn deactivate_order_line(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    line: crate::platform::ids::OrderLineId,
) -> Result<(usize, usize)> {
    use crate::platform::values::LicenceKind;
    use crate::schema::{order_lines as ol, orders};
    let (order, org, module, kind, quantity): (Uuid, Uuid, Uuid, LicenceKind, i32) = ol::table
        .inner_join(orders::table)
        .filter(ol::id.eq(line))
        .select((
            ol::order_id,
            orders::organization_id,
            ol::module_id,
            ol::licence_kind,
            ol::quantity,
        ))
        .first(conn)
        .await?;
    if kind == LicenceKind::Business {
        let held: Option<Uuid> = bl::table
            .filter(bl::order_id.eq(order))
            .filter(bl::module_id.eq(module))
            .filter(bl::active.eq(true))
            .select(bl::id)
            .first(conn)
            .await
            .optional()?;
        return match held {
            Some(_) => deactivate(conn, now, Which::Module { org, module }).await,
            None => Ok((0, 0)),
        };
    }
    let users = sql_query(
        "UPDATE user_licences SET active = false, deactivated_at = $1
         WHERE id IN (SELECT id FROM user_licences
                      WHERE order_id = $2 AND module_id = $3 AND active
                      ORDER BY (user_id IS NULL) = $4 DESC, created_at, id
                      LIMIT $5)",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<SqlUuid, _>(order)
    .bind::<SqlUuid, _>(module)
    .bind::<diesel::sql_types::Bool, _>(kind == LicenceKind::Credit)
    .bind::<diesel::sql_types::Integer, _>(quantity)
    .execute(conn)
    .await?;
    Ok((0, users))
}

/// Switches off one user licence (or credit); `false` when the organization holds no
/// such active licence.
pub(crate) async fn deactivate_user_licence(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org: OrgId,
    licence: LicenceId,
) -> Result<bool> {
    let n = diesel::update(
        ul::table
            .filter(ul::id.eq(licence))
            .filter(ul::organization_id.eq(org))
            .filter(ul::active.eq(true)),
    )
    .set((ul::active.eq(false), ul::deactivated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Makes a trial's active licences paid through `order_id`, keeping the assignments;
/// returns how many user licences were kept. They are billed from now: the trial's days
/// never are.
pub(crate) async fn convert_trial(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    trial: TrialId,
    order_id: OrderId,
) -> Result<usize> {
    diesel::update(bl::table.filter(bl::trial_id.eq(trial)).filter(bl::active.eq(true)))
        .set((
            bl::kind.eq(LicencePlan::Paid),
            bl::ends_at.eq(None::<DateTime<Utc>>),
            bl::order_id.eq(order_id),
            bl::billable_from.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(
        diesel::update(ul::table.filter(ul::trial_id.eq(trial)).filter(ul::active.eq(true)))
            .set((
                ul::kind.eq(LicencePlan::Paid),
                ul::ends_at.eq(None::<DateTime<Utc>>),
                ul::order_id.eq(order_id),
                ul::billable_from.eq(now),
            ))
            .execute(conn)
            .await?,
    )
}

/// A list of users to license: not empty, bounded, nobody twice.
pub(crate) fn check_user_list(user_ids: &[Uuid], when_empty: &str) -> Result<()> {
    if user_ids.is_empty() {
        return Err(Error::field("user_ids", "no_users", when_empty));
    }
    if user_ids.len() > MAX_USERS_PER_ITEM {
        return Err(Error::field(
            "user_ids",
            "too_many",
            format!("At most {MAX_USERS_PER_ITEM} users at once"),
        ));
    }
    let unique: HashSet<&Uuid> = user_ids.iter().collect();
    if unique.len() != user_ids.len() {
        return Err(Error::field("user_ids", "duplicate_user", "A user is named twice"));
    }
    Ok(())
}
