//! Trials: free, per customer and module, for a limited time and number of users, one
//! per module per customer. The users and the partner get reminders before the end and
//! on the last day; at the end the trial licences switch off. A trial can be upgraded
//! to paid licences in one action (see `licences::quote_upgrade`).

use crate::platform::db::sql_query;
use crate::platform::ids::OrderId;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName,
    Selectable, SelectableHelper,
    sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::commerce::licensing::{self as store, Plan, Which};
use crate::platform::audit::Action;
use crate::platform::error::Validator;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, Result,
    commerce::modules,
    platform::audit::Who,
    platform::authz::{Actor, Permission},
    platform::domain::{Email, Language},
    platform::ids::{ModuleId, TrialId},
    platform::ids::{OrgId, UserId},
    platform::mail::{self, EmailKind, Outgoing},
    platform::values::TrialStatus,
    schema::{business_licences as bl, service_provider_links as links, trials, user_licences as ul, users},
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = trials)]
pub struct Trial {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub module_id: Uuid,
    pub max_users: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: TrialStatus,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

async fn get_in(conn: &mut AsyncPgConnection, org: OrgId, id: TrialId, lock: bool) -> Result<Trial> {
    let q = trials::table
        .filter(trials::id.eq(id))
        .filter(trials::organization_id.eq(org))
        .select(Trial::as_select());
    let t: Option<Trial> = if lock {
        q.for_update().first(conn).await.optional()?
    } else {
        q.first(conn).await.optional()?
    };
    t.ok_or(Error::not_found("trial"))
}

/// Starts a trial of a module for a customer: the trial business licence.
pub async fn start(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    module_id: ModuleId,
) -> Result<Trial> {
    let (org, module_id) = (org.uuid(), module_id.uuid());
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        let module = modules::get(op.conn, module_id)
            .await
            .ok()
            .filter(|m| m.active)
            .ok_or_else(|| Error::field("module_id", "unknown_module", "No active module with this id"))?;
        let days = Duration::days(i64::from(ctx.config.trial_days));
        let used: i64 = trials::table
            .filter(trials::organization_id.eq(org))
            .filter(trials::module_id.eq(module_id))
            .count()
            .get_result(op.conn)
            .await?;
        if used > 0 {
            return Err(Error::conflict(
                "trial_exists",
                Some("module_id"),
                "A trial for this module has already been used",
            ));
        }
        let licensed: i64 = bl::table
            .filter(bl::organization_id.eq(org))
            .filter(bl::module_id.eq(module_id))
            .filter(bl::active.eq(true))
            .count()
            .get_result(op.conn)
            .await?;
        if licensed > 0 {
            return Err(Error::conflict(
                "licence_exists",
                Some("module_id"),
                "The organization already has this module",
            ));
        }
        let trial = diesel::insert_into(trials::table)
            .values((
                trials::id.eq(Uuid::now_v7()),
                trials::organization_id.eq(org),
                trials::module_id.eq(module_id),
                trials::max_users.eq(ctx.config.trial_max_users),
                trials::starts_at.eq(op.now),
                trials::ends_at.eq(op.now + days),
                trials::created_by.eq(actor.user_id),
                trials::created_at.eq(op.now),
            ))
            .returning(Trial::as_returning())
            .get_result(op.conn)
            .await?;
        let plan = Plan::Trial {
            trial_id: trial.id,
            ends_at: trial.ends_at,
        };
        store::add_business(op.conn, op.now, org.into(), module_id.into(), plan).await?;
        op.audit(
            Action::TrialStarted,
            trial.id,
            json!({ "module": module.code, "ends_at": trial.ends_at, "max_users": trial.max_users }),
        )
        .await?;
        notify(
            op.conn,
            op.now,
            &trial,
            "started",
            EmailKind::TrialStarted { trial_id: trial.id },
        )
        .await?;
        Ok(trial)
    })
    .await
}

/// Gives users a trial user licence (at most the trial's user limit).
pub async fn assign_users(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    trial_id: TrialId,
    user_ids: &[UserId],
) -> Result<Trial> {
    let trial_id = trial_id.uuid();
    let org = org.uuid();
    let user_ids: Vec<Uuid> = user_ids.iter().map(|u| u.uuid()).collect();
    let user_ids = &user_ids[..];
    op::run(conn, ctx, actor, org, Permission::ManageLicences, async |op| {
        store::check_user_list(user_ids, "Name the users to give a trial licence")?;
        // Locking the trial serializes concurrent assignments against the user limit.
        let trial = get_in(op.conn, org.into(), trial_id.into(), true).await?;
        if trial.status != TrialStatus::Active || trial.ends_at <= op.now {
            return Err(Error::conflict(
                "trial_not_active",
                None,
                "This trial is no longer running",
            ));
        }
        let mut v = Validator::new();
        store::check_licensable(
            op.conn,
            org.into(),
            trial.module_id.into(),
            user_ids,
            "user_ids",
            &mut v,
        )
        .await?;
        v.finish()?;
        let assigned: i64 = ul::table
            .filter(ul::trial_id.eq(trial_id))
            .filter(ul::active.eq(true))
            .filter(ul::user_id.is_not_null())
            .count()
            .get_result(op.conn)
            .await?;
        if assigned as usize + user_ids.len() > trial.max_users as usize {
            return Err(Error::conflict(
                "trial_user_limit",
                Some("user_ids"),
                format!(
                    "A trial is for at most {} users; {assigned} already take part",
                    trial.max_users
                ),
            ));
        }
        let users: Vec<Option<Uuid>> = user_ids.iter().copied().map(Some).collect();
        let plan = Plan::Trial {
            trial_id: trial.id,
            ends_at: trial.ends_at,
        };
        store::add_users(op.conn, op.now, org.into(), trial.module_id.into(), &users, plan).await?;
        op.audit(Action::TrialUsersAssigned, trial.id, json!({ "user_ids": user_ids }))
            .await?;
        Ok(trial)
    })
    .await
}

/// Turns a trial's licences into paid ones, keeping the assignments (called when an
/// upgrade quote is confirmed).
pub(crate) async fn convert_to_paid(op: &mut Op<'_>, org: OrgId, trial_id: TrialId, order_id: OrderId) -> Result<()> {
    let n = diesel::update(
        trials::table
            .filter(trials::id.eq(trial_id))
            .filter(trials::organization_id.eq(org))
            .filter(trials::status.eq(TrialStatus::Active)),
    )
    .set((trials::status.eq(TrialStatus::Upgraded), trials::ended_at.eq(op.now)))
    .execute(op.conn)
    .await?;
    if n == 0 {
        return Err(Error::conflict(
            "trial_not_active",
            None,
            "This trial is no longer running",
        ));
    }
    let users = store::convert_trial(op.conn, op.now, trial_id, order_id).await?;
    let changes = json!({ "order_id": order_id, "user_licences_kept": users });
    op.audit(Action::TrialUpgraded, trial_id, changes).await
}

/// A row of the partner's trials overview.
#[derive(Debug, Clone, QueryableByName)]
pub struct TrialRow {
    #[diesel(sql_type = SqlUuid)]
    pub trial_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = Text)]
    pub company: String,
    #[diesel(sql_type = Text)]
    pub module_code: String,
    #[diesel(sql_type = Text)]
    pub module_name: String,
    #[diesel(sql_type = BigInt)]
    pub users_assigned: i64,
    #[diesel(sql_type = Integer)]
    pub max_users: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub status: TrialStatus,
    #[diesel(sql_type = Bool)]
    pub active: bool,
}

/// The partner's trials overview: company, users assigned, created, expires, active;
/// soonest end first, keyset paging (`cursor` is the last row's `time,id`). A trial
/// carries the partner serving its organization (kept by triggers), so a page is one
/// range of `trials_partner_ends`.
pub async fn overview(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    active_only: Option<bool>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<crate::platform::domain::Page<TrialRow>> {
    let partner = actor.acting_org.ok_or_else(Error::no_organization)?;
    let partner = op::grant(conn, actor, partner.into(), Permission::ManageCustomers)
        .await?
        .org();
    let limit = crate::platform::domain::page_limit(limit)?;
    let after = cursor.map(crate::platform::domain::parse_time_cursor).transpose()?;
    let mut filter = String::from("t.partner_id = $1");
    match active_only {
        Some(true) => filter.push_str(" AND t.status = 'active'"),
        Some(false) => filter.push_str(" AND t.status <> 'active'"),
        None => {}
    }
    if after.is_some() {
        filter.push_str(" AND (t.ends_at, t.id) > ($2, $3)");
    }
    let rows: Vec<TrialRow> = sql_query(format!(
        "SELECT t.id AS trial_id, t.organization_id, o.name AS company, m.code AS module_code, m.name AS module_name,
                (SELECT count(*) FROM user_licences ul WHERE ul.trial_id = t.id AND ul.user_id IS NOT NULL AND (ul.active OR t.status <> 'active')) AS users_assigned,
                t.max_users, t.created_at, t.ends_at AS expires_at, t.status, (t.status = 'active') AS active
         FROM (SELECT * FROM trials t WHERE {filter} ORDER BY t.ends_at, t.id LIMIT $4) t
         JOIN organizations o ON o.id = t.organization_id
         JOIN modules m ON m.id = t.module_id
         ORDER BY t.ends_at, t.id",
    ))
    .bind::<SqlUuid, _>(partner)
    .bind::<Nullable<Timestamptz>, _>(after.map(|a| a.0))
    .bind::<Nullable<SqlUuid>, _>(after.map(|a| a.1))
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await?;
    Ok(crate::platform::domain::Page::of(rows, limit, |r| {
        crate::platform::domain::time_cursor(r.expires_at, r.trial_id)
    }))
}

/// Trials of one organization.
pub async fn for_organization(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Vec<Trial>> {
    let org = op::grant(conn, actor, org.into(), Permission::ManageLicences)
        .await?
        .org();
    Ok(trials::table
        .filter(trials::organization_id.eq(org))
        .order(trials::created_at.asc())
        .select(Trial::as_select())
        .load(conn)
        .await?)
}

/// The people a trial e-mail goes to: its users, the partner's administrators and
/// whoever started it (or the customer's administrators when no partner serves it).
async fn recipients(conn: &mut AsyncPgConnection, trial: &Trial) -> Result<Vec<(Email, Language)>> {
    let mut people: Vec<(String, String)> = ul::table
        .inner_join(users::table.on(users::id.nullable().eq(ul::user_id)))
        .filter(ul::trial_id.eq(trial.id))
        .filter(ul::user_id.is_not_null())
        .filter(users::active.eq(true))
        .select((users::email, users::language))
        .load(conn)
        .await?;
    let partner: Option<Uuid> = links::table
        .filter(links::customer_id.eq(trial.organization_id))
        .filter(links::ended_at.is_null())
        .select(links::partner_id)
        .first(conn)
        .await
        .optional()?;
    let org_for_admins = partner.unwrap_or(trial.organization_id);
    people.extend(
        crate::tenancy::memberships::administrators(conn, org_for_admins)
            .await?
            .into_iter()
            .map(|(_, e, l)| (e, l)),
    );
    if let Some(starter) = trial.created_by
        && let Some(row) = users::table
            .find(starter)
            .filter(users::active.eq(true))
            .select((users::email, users::language))
            .first(conn)
            .await
            .optional()?
    {
        people.push(row);
    }
    let mut out: Vec<(Email, Language)> = Vec::new();
    for (e, l) in people {
        if let Ok(email) = Email::parse(&e)
            && !out.iter().any(|(o, _)| o == &email)
        {
            out.push((email, Language::from_db(&l)));
        }
    }
    Ok(out)
}

async fn notify(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    trial: &Trial,
    event: &str,
    kind: EmailKind,
) -> Result<usize> {
    let outgoing: Vec<Outgoing> = recipients(conn, trial)
        .await?
        .into_iter()
        .map(|(email, lang)| Outgoing {
            event_key: format!("trial.{event}:{}:{}", trial.id, email.as_str()),
            recipient: email,
            lang,
            kind: kind.clone(),
        })
        .collect();
    mail::queue_many(conn, now, outgoing).await
}

/// Ends a trial whose time is up: its licences switch off and everyone hears of it.
/// `false` when another sweep ended it first.
async fn end(conn: &mut AsyncPgConnection, ctx: &Ctx, trial: &Trial) -> Result<bool> {
    op::run_as(conn, ctx, Who::system(Some(trial.organization_id)), async |op| {
        let n = diesel::update(
            trials::table
                .filter(trials::id.eq(trial.id))
                .filter(trials::status.eq(TrialStatus::Active)),
        )
        .set((trials::status.eq(TrialStatus::Ended), trials::ended_at.eq(op.now)))
        .execute(op.conn)
        .await?;
        if n == 0 {
            return Ok(false);
        }
        // Recipients are read before the licences switch off.
        notify(
            op.conn,
            op.now,
            trial,
            "ended",
            EmailKind::TrialEnded { trial_id: trial.id },
        )
        .await?;
        let (_, users) = store::deactivate(op.conn, op.now, Which::Trial(trial.id)).await?;
        let changes = json!({ "user_licences_deactivated": users });
        op.audit(Action::TrialEnded, trial.id, changes).await?;
        Ok(true)
    })
    .await
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub reminders_queued: usize,
    pub trials_ended: usize,
}

/// Sends due reminders and ends trials whose time is up. Safe to run from several
/// workers at once and as often as wanted: each reminder has its own e-mail event key
/// and a trial ends in one conditional update.
pub async fn sweep(conn: &mut AsyncPgConnection, ctx: &Ctx) -> Result<Sweep> {
    let now = ctx.now();
    let mut report = Sweep::default();
    let mut offsets = ctx.config.trial_reminder_days.clone();
    offsets.sort_unstable();

    let running: Vec<Trial> = trials::table
        .filter(trials::status.eq(TrialStatus::Active))
        .select(Trial::as_select())
        .load(conn)
        .await?;
    for trial in running {
        if trial.ends_at <= now {
            let ended = end(conn, ctx, &trial).await?;
            report.trials_ended += usize::from(ended);
            continue;
        }
        // The most pressing reminder that is due: with 7 and 1, "7 days left" from a week
        // before the end, "last day" from a day before.
        let due = offsets
            .iter()
            .copied()
            .find(|d| now >= trial.ends_at - Duration::days(i64::from(*d)));
        if let Some(days) = due {
            report.reminders_queued += notify(
                conn,
                now,
                &trial,
                &format!("reminder.{days}"),
                EmailKind::TrialReminder {
                    trial_id: trial.id,
                    days,
                },
            )
            .await?;
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------
// E-mails about a trial (started, ending in some days, ends today, ended)

use crate::platform::domain::{format_date, format_time};

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrialEmail {
    pub company: String,
    pub module: String,
    pub ends_at: String,
    pub ends_on: String,
    /// Days left, for reminders (0 otherwise).
    pub days: u32,
    pub max_users: i32,
}

impl TrialEmail {
    pub async fn load(conn: &mut AsyncPgConnection, trial_id: Uuid, days: u32) -> Result<Option<Self>> {
        use crate::schema::{modules as m, organizations as o};
        let row: Option<(String, String, DateTime<Utc>, i32)> = trials::table
            .inner_join(o::table.on(o::id.eq(trials::organization_id)))
            .inner_join(m::table.on(m::id.eq(trials::module_id)))
            .filter(trials::id.eq(trial_id))
            .select((o::name, m::name, trials::ends_at, trials::max_users))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(company, module, ends_at, max_users)| TrialEmail {
            company,
            module,
            ends_at: format_time(ends_at),
            ends_on: format_date(ends_at),
            days,
            max_users,
        }))
    }
}
