//! Trials: the partner's overview, an organization's trials, their users, and the quote that upgrades one.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::values::TrialStatus;
use partnerdesk_core::{
    commerce::licences::{self},
    commerce::trials::{self, Trial, TrialRow},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use super::quotes::QuoteView;
use crate::api::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct TrialsApi;

#[derive(Object, Debug)]
pub struct TrialView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub module_id: Uuid,
    pub max_users: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// active, ended or upgraded.
    pub status: TrialStatus,
    pub created_at: DateTime<Utc>,
}

impl From<Trial> for TrialView {
    fn from(t: Trial) -> Self {
        TrialView {
            id: t.id,
            organization_id: t.organization_id,
            module_id: t.module_id,
            max_users: t.max_users,
            starts_at: t.starts_at,
            ends_at: t.ends_at,
            status: t.status,
            created_at: t.created_at,
        }
    }
}

/// A page of the trials overview.
#[derive(Object, Debug)]
pub struct TrialOverviewPage {
    pub items: Vec<TrialOverviewRow>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Object, Debug)]
pub struct TrialOverviewRow {
    pub trial_id: Uuid,
    pub organization_id: Uuid,
    pub company: String,
    pub module_code: String,
    pub module_name: String,
    pub users_assigned: i64,
    pub max_users: i32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: TrialStatus,
    pub active: bool,
}

impl From<TrialRow> for TrialOverviewRow {
    fn from(t: TrialRow) -> Self {
        TrialOverviewRow {
            trial_id: t.trial_id,
            organization_id: t.organization_id,
            company: t.company,
            module_code: t.module_code,
            module_name: t.module_name,
            users_assigned: t.users_assigned,
            max_users: t.max_users,
            created_at: t.created_at,
            expires_at: t.expires_at,
            status: t.status,
            active: t.active,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct StartTrialRequest {
    pub module_id: Uuid,
}

impl Example for StartTrialRequest {
    fn example() -> Self {
        StartTrialRequest { module_id: Uuid::nil() }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct TrialUsersRequest {
    pub user_ids: Vec<Uuid>,
}

impl Example for TrialUsersRequest {
    fn example() -> Self {
        TrialUsersRequest {
            user_ids: vec![Uuid::nil()],
        }
    }
}

#[OpenApi(tag = "ApiTags::Licences")]
impl TrialsApi {
    /// Trials overview (partner)
    ///
    /// The trials of your customers: company, module, users assigned, created, expires,
    /// active; the soonest end first, keyset paging with `cursor`.
    #[oai(operation_id = "listAllTrials", path = "/trials", method = "get")]
    async fn trials_overview(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        active: Query<Option<bool>>,
        #[oai(
            default = "crate::api::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
        #[oai(validator(max_length = 100))] cursor: Query<Option<String>>,
    ) -> ApiResult<Json<TrialOverviewPage>> {
        let mut conn = state.read_conn().await?;
        let page = trials::overview(&mut conn, &auth.actor, active.0, limit.0, cursor.0.as_deref()).await?;
        Ok(Json(TrialOverviewPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Trials of an organization
    #[oai(operation_id = "listTrials", path = "/organizations/:id/trials", method = "get")]
    async fn trials(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<Vec<TrialView>>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            trials::for_organization(&mut conn, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Start a trial
    ///
    /// Free, for a limited time (TRIAL_DAYS) and number of users (TRIAL_MAX_USERS), one
    /// per module per customer: the trial business licence.
    #[oai(operation_id = "startTrial", path = "/organizations/:id/trials", method = "post")]
    async fn start_trial(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<StartTrialRequest>,
    ) -> ApiResult<Created<TrialView>> {
        let mut conn = state.conn().await?;
        let t = trials::start(&mut conn, &state.ctx, &auth.actor, id.0.into(), body.0.module_id.into()).await?;
        Ok(Created::Created(Json(t.into())))
    }

    /// Give users a trial licence
    #[oai(
        operation_id = "addTrialUsers",
        path = "/organizations/:id/trials/:trial_id/users",
        method = "post"
    )]
    async fn trial_users(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        trial_id: Path<Uuid>,
        body: Body<TrialUsersRequest>,
    ) -> ApiResult<Json<TrialView>> {
        let mut conn = state.conn().await?;
        let t = trials::assign_users(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            trial_id.0.into(),
            &body.0.user_ids.iter().map(|&u| u.into()).collect::<Vec<_>>(),
        )
        .await?;
        Ok(Json(t.into()))
    }

    /// Quote upgrading a trial to paid
    ///
    /// Confirming it keeps every assignment and creates the order.
    #[oai(
        operation_id = "createTrialUpgradeQuote",
        path = "/organizations/:id/trials/:trial_id/upgrade-quote",
        method = "post"
    )]
    async fn upgrade_quote(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        trial_id: Path<Uuid>,
    ) -> ApiResult<Created<QuoteView>> {
        let mut conn = state.conn().await?;
        let q = licences::quote_upgrade(&mut conn, &state.ctx, &auth.actor, id.0.into(), trial_id.0.into()).await?;
        Ok(Created::Created(Json(q.into())))
    }
}
