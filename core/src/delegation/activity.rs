//! "What my service provider did": the audit entries a customer's partners made in its
//! organization (directly, in management sessions, or logged in as its users), with
//! the real person, the partner, the user they acted as and the session; filtered by
//! person and period, keyset paged, and exported as CSV.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Date, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    Result,
    platform::authz::{Access, Actor, Permission},
    platform::op,
};

/// Which entries: by the person (the real one, also behind a "login as"), in a period
/// of days (both included), before an entry id (keyset paging).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub person: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub before_id: Option<i64>,
}

#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct Activity {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    /// The real person who acted (the partner's staff member).
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub person_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub person_name: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub partner_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub partner_name: Option<String>,
    /// The customer's user they were logged in as.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub as_user_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub as_user_name: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub delegated_session_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub subject_type: String,
    #[diesel(sql_type = Text)]
    pub subject_id: String,
    /// What changed, with the values before and after where the action records them.
    #[diesel(sql_type = Jsonb)]
    pub changes: serde_json::Value,
}

/// Entries on behalf of the organization made by a partner that serves or served it,
/// newest first. The person is the impersonator when there is one.
const ACTIVITY: &str = "
SELECT a.id, a.occurred_at,
       coalesce(a.impersonator_user_id, a.actor_user_id) AS person_id,
       p.first_name || ' ' || p.last_name AS person_name,
       a.acting_organization_id AS partner_id, o.name AS partner_name,
       CASE WHEN a.impersonator_user_id IS NOT NULL THEN a.actor_user_id END AS as_user_id,
       CASE WHEN a.impersonator_user_id IS NOT NULL THEN u.first_name || ' ' || u.last_name END AS as_user_name,
       a.delegated_session_id, a.action, a.subject_type, a.subject_id, a.changes
FROM audit_log a
LEFT JOIN users p ON p.id = coalesce(a.impersonator_user_id, a.actor_user_id)
LEFT JOIN users u ON u.id = a.actor_user_id
LEFT JOIN organizations o ON o.id = a.acting_organization_id
WHERE a.on_behalf_of_organization_id = $1
  AND a.acting_organization_id IN (SELECT partner_id FROM service_provider_links WHERE customer_id = $1)
  AND ($2::uuid IS NULL OR coalesce(a.impersonator_user_id, a.actor_user_id) = $2)
  AND ($3::date IS NULL OR a.occurred_at >= $3::date)
  AND ($4::date IS NULL OR a.occurred_at < $4::date + 1)
  AND ($5::bigint IS NULL OR a.id < $5)
ORDER BY a.id DESC
LIMIT $6";

async fn page(conn: &mut AsyncPgConnection, access: &Access, q: &Query, limit: i64) -> Result<Vec<Activity>> {
    Ok(crate::platform::db::sql_query(ACTIVITY)
        .bind::<SqlUuid, _>(access.org())
        .bind::<Nullable<SqlUuid>, _>(q.person)
        .bind::<Nullable<Date>, _>(q.from)
        .bind::<Nullable<Date>, _>(q.to)
        .bind::<Nullable<BigInt>, _>(q.before_id)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?)
}

/// One page of what the organization's service providers did. Needs "read the audit
/// log" in the organization.
pub async fn list(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    org: Uuid,
    q: &Query,
    limit: i64,
) -> Result<Vec<Activity>> {
    let limit = crate::platform::domain::page_limit(limit)?;
    op::read(conn, actor, org, Permission::ViewAudit, async |conn, access| {
        page(conn, access, q, limit).await
    })
    .await
}

/// Every entry the filters select, as CSV (formula-safe), read in keyset batches.
pub async fn export(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid, q: Query) -> Result<Vec<u8>> {
    op::read(conn, actor, org, Permission::ViewAudit, async |conn, access| {
        export_rows(conn, access, q).await
    })
    .await
}

async fn export_rows(conn: &mut AsyncPgConnection, access: &Access, q: Query) -> Result<Vec<u8>> {
    use crate::platform::csv_export::{Cell, Writer};
    let mut out = Writer::new(Vec::new());
    out.header(&[
        "time",
        "person",
        "partner",
        "as user",
        "session",
        "action",
        "subject",
        "subject id",
        "changes",
    ])?;
    let mut q = q;
    loop {
        let rows = page(conn, access, &q, 1000).await?;
        for a in &rows {
            let (time, session, changes) = (
                a.occurred_at.to_rfc3339(),
                a.delegated_session_id.map(|s| s.to_string()).unwrap_or_default(),
                a.changes.to_string(),
            );
            out.row(&[
                Cell::Text(&time),
                Cell::Text(a.person_name.as_deref().unwrap_or_default()),
                Cell::Text(a.partner_name.as_deref().unwrap_or_default()),
                Cell::Text(a.as_user_name.as_deref().unwrap_or_default()),
                Cell::Text(&session),
                Cell::Text(&a.action),
                Cell::Text(&a.subject_type),
                Cell::Text(&a.subject_id),
                Cell::Text(&changes),
            ])?;
        }
        match rows.last() {
            Some(last) if rows.len() == 1000 => q.before_id = Some(last.id),
            _ => break,
        }
    }
    out.finish()
}

/// The people of the organization's service providers who appear in its log, for the
/// person filter: (id, name).
pub async fn people(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Vec<(Uuid, String)>> {
    #[derive(QueryableByName)]
    struct Person {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        name: String,
    }
    let access = op::grant(conn, actor, org.into(), Permission::ViewAudit).await?;
    let people: Vec<Person> = crate::platform::db::sql_query(
        "SELECT u.id, u.first_name || ' ' || u.last_name AS name
         FROM users u
         WHERE u.id IN (SELECT d.user_id FROM delegated_sessions d WHERE d.customer_id = $1)
            OR u.id IN (SELECT m.user_id FROM memberships m
                        JOIN service_provider_links l ON l.partner_id = m.organization_id
                        WHERE l.customer_id = $1 AND l.ended_at IS NULL)
         ORDER BY name
         LIMIT 200",
    )
    .bind::<SqlUuid, _>(access.org())
    .load(conn)
    .await?;
    Ok(people.into_iter().map(|p| (p.id, p.name)).collect())
}
