//! An organization's licences: what it holds per module, switching licences off, assigning credits.

use chrono::{DateTime, Utc};
use partnerdesk_core::commerce::licences::{self, ModuleLicences};
use partnerdesk_core::platform::values::LicencePlan;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, commerce::catalogue::ModuleView};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct LicencesApi;

#[derive(Object, Debug)]
pub struct UserLicenceView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    /// paid or trial.
    pub kind: LicencePlan,
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug)]
pub struct ModuleLicencesView {
    pub module: ModuleView,
    #[oai(nullable)]
    pub business_licence_id: Option<Uuid>,
    /// paid or trial; null without a business licence.
    #[oai(nullable)]
    pub business_kind: Option<LicencePlan>,
    #[oai(nullable)]
    pub business_ends_at: Option<DateTime<Utc>>,
    pub users: Vec<UserLicenceView>,
    /// Credits prepared and not yet assigned (billed already).
    pub free_credits: i64,
}

impl From<ModuleLicences> for ModuleLicencesView {
    fn from(m: ModuleLicences) -> Self {
        ModuleLicencesView {
            module: m.module.into(),
            business_licence_id: m.business_licence_id,
            business_kind: m.business_kind,
            business_ends_at: m.business_ends_at,
            users: m
                .users
                .into_iter()
                .map(|u| UserLicenceView {
                    id: u.id,
                    user_id: u.user_id,
                    email: u.email,
                    kind: u.kind,
                    ends_at: u.ends_at,
                })
                .collect(),
            free_credits: m.free_credits,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct AssignCreditsRequest {
    pub module_id: Uuid,
    pub user_ids: Vec<Uuid>,
}

impl Example for AssignCreditsRequest {
    fn example() -> Self {
        AssignCreditsRequest {
            module_id: Uuid::nil(),
            user_ids: vec![Uuid::nil()],
        }
    }
}

#[derive(Object, Debug)]
pub struct AssignedView {
    pub assigned: u64,
}

#[derive(Object, Debug)]
pub struct DeactivatedView {
    /// Licences switched off (a business licence takes its user licences along).
    pub deactivated: u64,
}

#[OpenApi(tag = "ApiTags::Licences")]
impl LicencesApi {
    /// Licences of an organization
    ///
    /// Per module: the business licence, the user licences and the free credits.
    #[oai(operation_id = "getLicences", path = "/organizations/:id/licences", method = "get")]
    async fn licences(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<ModuleLicencesView>>> {
        let mut conn = state.read_conn().await?;
        Ok(Json(
            licences::overview(&mut conn, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Switch off a business licence
    ///
    /// Its user licences and credits go with it.
    #[oai(
        operation_id = "deactivateBusinessLicence",
        path = "/organizations/:id/business-licences/:licence_id/deactivate",
        method = "post"
    )]
    async fn deactivate_business(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        licence_id: Path<Uuid>,
    ) -> ApiResult<Json<DeactivatedView>> {
        let mut conn = state.conn().await?;
        let n =
            licences::deactivate_business(&mut conn, &state.ctx, &auth.actor, id.0.into(), licence_id.0.into()).await?;
        Ok(Json(DeactivatedView { deactivated: n as u64 }))
    }

    /// Switch off a user licence or credit
    #[oai(
        operation_id = "deactivateUserLicence",
        path = "/organizations/:id/user-licences/:licence_id/deactivate",
        method = "post"
    )]
    async fn deactivate_user(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        licence_id: Path<Uuid>,
    ) -> ApiResult<Json<DeactivatedView>> {
        let mut conn = state.conn().await?;
        licences::deactivate_user_licence(&mut conn, &state.ctx, &auth.actor, id.0.into(), licence_id.0.into()).await?;
        Ok(Json(DeactivatedView { deactivated: 1 }))
    }

    /// Assign credits to users
    ///
    /// Each user takes one free credit of the module; no new cost.
    #[oai(
        operation_id = "assignCredits",
        path = "/organizations/:id/credits/assign",
        method = "post"
    )]
    async fn assign_credits(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<AssignCreditsRequest>,
    ) -> ApiResult<Json<AssignedView>> {
        let mut conn = state.conn().await?;
        let n = licences::assign_credits(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            body.0.module_id.into(),
            &body.0.user_ids.iter().map(|&u| u.into()).collect::<Vec<_>>(),
        )
        .await?;
        Ok(Json(AssignedView { assigned: n as u64 }))
    }
}
