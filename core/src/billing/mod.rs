//! Billing runs: finance (for all partners or one) or a partner (for its own customers)
//! starts a run for a period; the worker renders its lines ([`lines`]) as XLSX and CSV
//! ([`files`]) from one stream and stores both in Postgres with the run's own totals
//! ([`render`]); whoever may see the run's scope downloads them until they expire. A
//! rerun of the same period is a new version; nothing is overwritten.

pub mod files;
pub mod lines;
pub mod render;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use diesel::{
    OptionalExtension, QueryableByName,
    prelude::*,
    sql_types::{BigInt, Bool, Date, Integer, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::platform::money::Currency;
use crate::{
    Ctx, Error, FieldError, Result,
    platform::audit::{Action, Who},
    platform::authz::{Actor, Permission},
    platform::error::Validator,
    platform::jobs::RenderBillingRun,
    platform::op,
    schema::{organizations, partners},
};

/// The longest period one run covers.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// Who a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Vendor finance: all partners, or one.
    Vendor,
    /// A partner: its own customers.
    Partner,
}

impl Audience {
    pub fn as_str(&self) -> &'static str {
        match self {
            Audience::Vendor => "vendor",
            Audience::Partner => "partner",
        }
    }
}

crate::text_enum! {
    /// Where a run stands: queued, being written, ready (its files stored) or failed.
    pub enum BillingRunStatus {
        Queued = "queued",
        Running = "running",
        Ready = "ready",
        Failed = "failed",
    }
}

/// A billing run and, once ready, its files.
#[derive(Debug, Clone, QueryableByName)]
pub struct Run {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub audience: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub partner_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub partner_name: Option<String>,
    #[diesel(sql_type = Date)]
    pub period_start: NaiveDate,
    #[diesel(sql_type = Date)]
    pub period_end: NaiveDate,
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Bool)]
    pub scheduled: bool,
    #[diesel(sql_type = Text)]
    pub csv_separator: String,
    #[diesel(sql_type = Bool)]
    pub csv_bom: bool,
    #[diesel(sql_type = Text)]
    pub status: BillingRunStatus,
    #[diesel(sql_type = BigInt)]
    pub lines_written: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub line_count: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub requested_by: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub expires_at: DateTime<Utc>,
}

/// A stored file of a run.
#[derive(Debug, Clone, QueryableByName)]
pub struct FileInfo {
    #[diesel(sql_type = SqlUuid)]
    pub run_id: Uuid,
    /// xlsx or csv.
    #[diesel(sql_type = Text)]
    pub format: String,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = Text)]
    pub sha256: String,
}

/// What a run billed for one partner (none: the vendor's direct customers) and currency.
#[derive(Debug, Clone, QueryableByName)]
pub struct RunTotal {
    #[diesel(sql_type = SqlUuid)]
    pub run_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub partner_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub currency: Currency,
    #[diesel(sql_type = BigInt)]
    pub lines: i64,
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
}

/// A run with its files and totals.
#[derive(Debug, Clone)]
pub struct RunDetail {
    pub run: Run,
    pub files: Vec<FileInfo>,
    pub totals: Vec<RunTotal>,
}

#[derive(Debug, Clone, Default)]
pub struct StartInput {
    /// Finance: one partner's customers only (none: all). A partner: its own, always.
    pub partner_id: Option<Uuid>,
    /// Finance: the partner by its partner code instead of its id (the portal's form).
    pub partner_code: Option<String>,
    /// Both or neither; neither is the previous calendar month.
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    /// `,` (default) or `;`.
    pub csv_separator: Option<String>,
    pub csv_bom: bool,
}

/// The calendar month before the one `today` is in.
pub fn previous_month(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first_this = today.with_day(1).expect("day 1 exists");
    let last_previous = first_this - Duration::days(1);
    (last_previous.with_day(1).expect("day 1 exists"), last_previous)
}

/// Decides the audience and partner scope of the actor's runs: vendor staff with
/// "finance" (any partner or all), or a partner's staff with "manage partner portal"
/// (their own customers only; naming another partner is refused).
async fn scope_of(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    partner: Option<Uuid>,
) -> Result<(Audience, Option<Uuid>)> {
    let org = actor.acting_org.ok_or_else(Error::no_organization)?;
    let is_vendor: bool = organizations::table
        .find(org)
        .select(organizations::is_vendor)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(false);
    if is_vendor {
        op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance).await?;
        return Ok((Audience::Vendor, partner));
    }
    let org = op::grant(conn, actor, org.into(), Permission::ManagePartnerPortal)
        .await?
        .org();
    if partner.is_some_and(|p| p != org) {
        return Err(Error::forbidden());
    }
    Ok((Audience::Partner, Some(org)))
}

fn validate(input: &StartInput, today: NaiveDate) -> Result<(NaiveDate, NaiveDate, String)> {
    let mut v = Validator::new();
    let (start, end) = match (input.period_start, input.period_end) {
        (None, None) => previous_month(today),
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => {
            v.push(FieldError::new(
                "period_end",
                "required",
                "Give the period's last day too",
            ));
            (s, s)
        }
        (None, Some(e)) => {
            v.push(FieldError::new(
                "period_start",
                "required",
                "Give the period's first day too",
            ));
            (e, e)
        }
    };
    if end < start {
        v.push(FieldError::new(
            "period_end",
            "before_start",
            "The period ends before it starts",
        ));
    } else if (end - start).num_days() + 1 > MAX_PERIOD_DAYS {
        v.push(FieldError::new(
            "period_end",
            "period_too_long",
            format!("A run covers at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    let separator = match input.csv_separator.as_deref().map(str::trim) {
        None | Some("") | Some(",") => ",".to_owned(),
        Some(";") => ";".to_owned(),
        Some(_) => {
            v.push(FieldError::new("csv_separator", "invalid_separator", "Use , or ;"));
            ",".to_owned()
        }
    };
    v.finish()?;
    Ok((start, end, separator))
}

/// Starts a run: records it and queues its job in the same transaction.
pub async fn start(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, input: StartInput) -> Result<RunDetail> {
    let named = match input.partner_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) if input.partner_id.is_none() => {
            // Partner codes are public (customers choose a service provider by one), but
            // only those who may start runs get to look them up here.
            scope_of(conn, actor, None).await?;
            let id: Option<Uuid> = partners::table
                .filter(partners::partner_code.eq(code.to_ascii_uppercase()))
                .select(partners::organization_id)
                .first(conn)
                .await
                .optional()?;
            Some(id.ok_or_else(|| Error::field("partner_code", "unknown_partner", "No partner has this code"))?)
        }
        _ => input.partner_id,
    };
    let (audience, partner) = scope_of(conn, actor, named).await?;
    let (first, last, separator) = validate(&input, ctx.now().date_naive())?;
    let scope: op::Scope = match audience {
        Audience::Vendor => op::Scope::Vendor,
        Audience::Partner => op::Scope::Org(partner.ok_or_else(Error::forbidden)?),
    };
    let perm = match audience {
        Audience::Vendor => Permission::VendorFinance,
        Audience::Partner => Permission::ManagePartnerPortal,
    };
    // The answer is the run as it was queued, read before the commit: once committed, a
    // worker may already be rendering it.
    op::run(conn, ctx, actor, scope, perm, async |op| {
        if let Some(p) = partner {
            let known: i64 = partners::table.find(p).count().get_result(op.conn).await?;
            if known == 0 {
                return Err(Error::field("partner_id", "unknown_partner", "No partner has this id"));
            }
        }
        let new = NewRun {
            audience,
            partner,
            first,
            last,
            scheduled: false,
            separator: &separator,
            bom: input.csv_bom,
            requested_by: Some(actor.user_id),
        };
        let id = insert(op, &new)
            .await?
            .ok_or_else(|| Error::internal("a run was not recorded"))?;
        op.audit(
            Action::BillingRunStarted,
            id,
            json!({ "audience": audience.as_str(), "partner_id": partner, "period_start": first, "period_end": last }),
        )
        .await?;
        detail(op.conn, id).await
    })
    .await
}

struct NewRun<'a> {
    audience: Audience,
    partner: Option<Uuid>,
    first: NaiveDate,
    last: NaiveDate,
    scheduled: bool,
    separator: &'a str,
    bom: bool,
    requested_by: Option<Uuid>,
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Records a run as the next version of its audience, scope and period, and queues its
/// job; `None` when it is a scheduled run that already exists.
async fn insert(op: &mut op::Op<'_>, new: &NewRun<'_>) -> Result<Option<Uuid>> {
    let key = format!(
        "billing:{}:{:?}:{}:{}",
        new.audience.as_str(),
        new.partner,
        new.first,
        new.last
    );
    crate::platform::db::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind::<Text, _>(&key)
        .execute(op.conn)
        .await?;
    let id = Uuid::now_v7();
    let retention = Duration::from_std(op.ctx.config.billing_retention).unwrap_or_default();
    let inserted: Option<Inserted> = crate::platform::db::sql_query(
        "INSERT INTO billing_runs (id, audience, partner_id, period_start, period_end, version, scheduled,
                                   csv_separator, csv_bom, requested_by, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5, coalesce(max(version), 0) + 1, $6, $7, $8, $9, $10, $11
         FROM billing_runs
         WHERE audience = $2 AND partner_id IS NOT DISTINCT FROM $3 AND period_start = $4 AND period_end = $5
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(new.audience.as_str())
    .bind::<Nullable<SqlUuid>, _>(new.partner)
    .bind::<Date, _>(new.first)
    .bind::<Date, _>(new.last)
    .bind::<Bool, _>(new.scheduled)
    .bind::<Text, _>(new.separator)
    .bind::<Bool, _>(new.bom)
    .bind::<Nullable<SqlUuid>, _>(new.requested_by)
    .bind::<Timestamptz, _>(op.now)
    .bind::<Timestamptz, _>(op.now + retention)
    .get_result(op.conn)
    .await
    .optional()?;
    let Some(Inserted { id }) = inserted else {
        return Ok(None);
    };
    op.job(&RenderBillingRun { run_id: id }, Some(&id.to_string())).await?;
    Ok(Some(id))
}

/// Queues the run for the previous month on the first day of a month (or the first
/// maintenance sweep after it). However many workers sweep, the run is made once.
pub async fn schedule_monthly(conn: &mut AsyncPgConnection, ctx: &Ctx) -> Result<Option<Uuid>> {
    if !ctx.config.billing_monthly_run {
        return Ok(None);
    }
    let (first, last) = previous_month(ctx.now().date_naive());
    op::run_as(conn, ctx, Who::system(None), async |op| {
        let new = NewRun {
            audience: Audience::Vendor,
            partner: None,
            first,
            last,
            scheduled: true,
            separator: ",",
            bom: false,
            requested_by: None,
        };
        let id = insert(op, &new).await?;
        if let Some(id) = id {
            op.audit(
                Action::BillingRunStarted,
                id,
                json!({ "audience": "vendor", "scheduled": true, "period_start": first, "period_end": last }),
            )
            .await?;
        }
        Ok(id)
    })
    .await
}

const RUN_COLUMNS: &str = "r.id, r.audience, r.partner_id, po.name AS partner_name, r.period_start, r.period_end,
     r.version, r.scheduled, r.csv_separator, r.csv_bom, r.status, r.lines_written, r.line_count, r.error,
     r.requested_by, r.created_at, r.started_at, r.finished_at, r.expires_at
     FROM billing_runs r LEFT JOIN organizations po ON po.id = r.partner_id";

async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Run> {
    crate::platform::db::sql_query(format!("SELECT {RUN_COLUMNS} WHERE r.id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("billing run"))
}

async fn files_of(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<(Vec<FileInfo>, Vec<RunTotal>)> {
    use diesel::sql_types::Array;
    let files = crate::platform::db::sql_query(
        "SELECT run_id, format, size, sha256 FROM billing_files WHERE run_id = ANY($1) ORDER BY run_id, format DESC",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await?;
    let totals = crate::platform::db::sql_query(
        "SELECT t.run_id, t.partner_id, t.currency::text AS currency, t.lines, t.amount
         FROM billing_run_totals t LEFT JOIN organizations o ON o.id = t.partner_id
         WHERE t.run_id = ANY($1) ORDER BY t.run_id, o.name NULLS FIRST, t.partner_id, t.currency",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await?;
    Ok((files, totals))
}

async fn detail(conn: &mut AsyncPgConnection, id: Uuid) -> Result<RunDetail> {
    let run = find(conn, id).await?;
    let (files, totals) = files_of(conn, &[id]).await?;
    Ok(RunDetail { run, files, totals })
}

/// Checks the actor may see `run`: vendor runs need "finance", a partner's runs
/// "manage partner portal" in that partner. Another's run is not found.
async fn authorize_run(conn: &mut AsyncPgConnection, actor: &Actor, run: &Run) -> Result<()> {
    let (audience, partner) = scope_of(conn, actor, None).await?;
    let visible = match audience {
        Audience::Vendor => run.audience == "vendor",
        Audience::Partner => run.audience == "partner" && run.partner_id == partner,
    };
    if visible {
        Ok(())
    } else {
        Err(Error::not_found("billing run"))
    }
}

/// One run with its files and totals.
pub async fn get(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid) -> Result<RunDetail> {
    let run = find(conn, id).await?;
    authorize_run(conn, actor, &run).await?;
    let (files, totals) = files_of(conn, &[id]).await?;
    Ok(RunDetail { run, files, totals })
}

/// The runs the actor may see, newest first; keyset paging.
pub async fn list(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    cursor: Option<&str>,
    limit: i64,
) -> Result<crate::platform::domain::Page<RunDetail>> {
    let (audience, partner) = scope_of(conn, actor, None).await?;
    let limit = crate::platform::domain::page_limit(limit)?;
    let cursor = cursor.map(crate::platform::domain::parse_time_cursor).transpose()?;
    // Each list has its own index (see the migration), hence the literal audiences.
    let filter = match audience {
        Audience::Vendor => "r.audience = 'vendor' AND $2::uuid IS NULL",
        Audience::Partner => "r.audience = 'partner' AND r.partner_id = $2",
    };
    let runs: Vec<Run> = crate::platform::db::sql_query(format!(
        "SELECT {RUN_COLUMNS}
         WHERE {filter} AND ($1::timestamptz IS NULL OR (r.created_at, r.id) < ($1, $3))
         ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
    ))
    .bind::<Nullable<Timestamptz>, _>(cursor.map(|c| c.0))
    .bind::<Nullable<SqlUuid>, _>(if audience == Audience::Vendor { None } else { partner })
    .bind::<Nullable<SqlUuid>, _>(cursor.map(|c| c.1))
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await?;
    let ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
    let (files, totals) = files_of(conn, &ids).await?;
    let details = runs
        .into_iter()
        .map(|run| RunDetail {
            files: files.iter().filter(|f| f.run_id == run.id).cloned().collect(),
            totals: totals.iter().filter(|t| t.run_id == run.id).cloned().collect(),
            run,
        })
        .collect();
    Ok(crate::platform::domain::Page::of(details, limit, |d| {
        crate::platform::domain::time_cursor(d.run.created_at, d.run.id)
    }))
}

/// A run's file for download: what it is and how many chunks hold it. Refused like
/// [`get`]; not found when the run is not ready or its files expired.
pub async fn file(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid, format: &str) -> Result<(Run, FileInfo, i32)> {
    let run = find(conn, id).await?;
    authorize_run(conn, actor, &run).await?;
    let info: Option<FileInfo> = crate::platform::db::sql_query(
        "SELECT run_id, format, size, sha256 FROM billing_files WHERE run_id = $1 AND format = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(format)
    .get_result(conn)
    .await
    .optional()?;
    let info = info.ok_or(Error::not_found("billing file"))?;
    #[derive(QueryableByName)]
    struct Chunks {
        #[diesel(sql_type = Integer)]
        n: i32,
    }
    let chunks: Chunks = crate::platform::db::sql_query(
        "SELECT count(*)::int AS n FROM billing_file_chunks WHERE run_id = $1 AND format = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(format)
    .get_result(conn)
    .await?;
    Ok((run, info, chunks.n))
}

/// One chunk of a stored file (after [`file`] authorized the download).
pub async fn chunk(conn: &mut AsyncPgConnection, run: Uuid, format: &str, seq: i32) -> Result<Vec<u8>> {
    #[derive(QueryableByName)]
    struct Chunk {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        data: Vec<u8>,
    }
    let c: Chunk = crate::platform::db::sql_query(
        "SELECT data FROM billing_file_chunks WHERE run_id = $1 AND format = $2 AND seq = $3",
    )
    .bind::<SqlUuid, _>(run)
    .bind::<Text, _>(format)
    .bind::<Integer, _>(seq)
    .get_result(conn)
    .await?;
    Ok(c.data)
}

/// Deletes the files of runs past their retention; the runs and their totals stay.
pub async fn prune_expired(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> Result<usize> {
    Ok(crate::platform::db::sql_query(
        "DELETE FROM billing_files f USING billing_runs r WHERE r.id = f.run_id AND r.expires_at < $1",
    )
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?)
}

/// The file name a download is offered under.
pub fn file_name(run: &Run, format: &str) -> String {
    format!(
        "billing-{}-{}-v{}.{format}",
        run.period_start, run.period_end, run.version
    )
}
