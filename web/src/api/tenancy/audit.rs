//! An organization's audit log.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::audit::{self, AuditEntry};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::api::ApiTags;
use crate::{auth::Auth, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct AuditApi;

#[derive(Object, Debug)]
pub struct AuditEntryView {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// Who did it.
    #[oai(nullable)]
    pub actor_user_id: Option<Uuid>,
    /// The organization the actor acted as.
    #[oai(nullable)]
    pub acting_organization_id: Option<Uuid>,
    /// The organization the action was for.
    #[oai(nullable)]
    pub on_behalf_of_organization_id: Option<Uuid>,
    /// The partner user behind a "login as" session.
    #[oai(nullable)]
    pub impersonator_user_id: Option<Uuid>,
    /// The delegated session (management or "login as") it happened in.
    #[oai(nullable)]
    pub delegated_session_id: Option<Uuid>,
    /// What happened, e.g. `member.invited`.
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    /// The changed fields.
    pub changes: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        AuditEntryView {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_user_id: e.actor_user_id,
            acting_organization_id: e.acting_organization_id,
            on_behalf_of_organization_id: e.on_behalf_of_organization_id,
            impersonator_user_id: e.impersonator_user_id,
            delegated_session_id: e.delegated_session_id,
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            changes: e.changes,
        }
    }
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl AuditApi {
    /// Read the audit log
    ///
    /// Everything done by or on behalf of the organization, newest first: who, acting as
    /// which organization, for whom, what and when. Page with `before` (the last id seen).
    #[oai(operation_id = "listAuditEntries", path = "/organizations/:id/audit", method = "get")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        before: Query<Option<i64>>,
        #[oai(
            default = "crate::api::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<Vec<AuditEntryView>>> {
        let mut conn = state.read_conn().await?;
        let entries = audit::list_for_organization(&mut conn, &auth.actor, id.0, before.0, limit.0).await?;
        Ok(Json(entries.into_iter().map(Into::into).collect()))
    }
}
