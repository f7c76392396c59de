//! The audit log: every mutation records who, acting as which organization, on behalf
//! of which organization, what, when, and the changed fields, in the same transaction.

use chrono::{DateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Result,
    authz::{self, Access, Actor, Permission},
    schema::audit_log,
};

/// The identities of one audit entry.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: Option<Uuid>,
    pub acting_org: Option<Uuid>,
    pub on_behalf_of: Option<Uuid>,
    pub impersonator: Option<Uuid>,
}

impl From<&Access> for Who {
    fn from(access: &Access) -> Self {
        Who {
            user_id: Some(access.user_id),
            acting_org: Some(access.acting_org),
            on_behalf_of: Some(access.target_org),
            impersonator: access.impersonator,
        }
    }
}

impl Who {
    /// A person acting for their own organization (or for none yet, e.g. at sign-up).
    pub fn user(user_id: Uuid, org: Option<Uuid>) -> Self {
        Who {
            user_id: Some(user_id),
            acting_org: org,
            on_behalf_of: org,
            impersonator: None,
        }
    }

    /// The system itself (background jobs, seed).
    pub fn system(on_behalf_of: Option<Uuid>) -> Self {
        Who {
            on_behalf_of,
            ..Default::default()
        }
    }
}

/// Appends one entry.
pub async fn record(
    conn: &mut AsyncPgConnection,
    at: DateTime<Utc>,
    who: impl Into<Who>,
    action: &str,
    subject_type: &str,
    subject_id: impl ToString,
    changes: Value,
) -> Result<()> {
    let who = who.into();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::occurred_at.eq(at),
            audit_log::actor_user_id.eq(who.user_id),
            audit_log::acting_organization_id.eq(who.acting_org),
            audit_log::on_behalf_of_organization_id.eq(who.on_behalf_of),
            audit_log::impersonator_user_id.eq(who.impersonator),
            audit_log::action.eq(action),
            audit_log::subject_type.eq(subject_type),
            audit_log::subject_id.eq(subject_id.to_string()),
            audit_log::changes.eq(changes),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub acting_organization_id: Option<Uuid>,
    pub on_behalf_of_organization_id: Option<Uuid>,
    pub impersonator_user_id: Option<Uuid>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub changes: Value,
}

/// Entries about an organization (done by it or on its behalf), newest first, keyset
/// paged by id. Needs "view audit" on that organization.
pub async fn list_for_organization(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    org_id: Uuid,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    authz::authorize(conn, actor, org_id, Permission::ViewAudit).await?;
    let mut query = audit_log::table
        .filter(
            audit_log::on_behalf_of_organization_id
                .eq(org_id)
                .or(audit_log::acting_organization_id.eq(org_id)),
        )
        .order(audit_log::id.desc())
        .limit(limit.clamp(1, 500))
        .select(AuditEntry::as_select())
        .into_boxed();
    if let Some(before) = before_id {
        query = query.filter(audit_log::id.lt(before));
    }
    Ok(query.load(conn).await?)
}
