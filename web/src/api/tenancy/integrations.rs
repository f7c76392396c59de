//! The connectors and integrations a company manages.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::values::IntegrationKind;
use partnerdesk_core::tenancy::integrations::{self, Integration, IntegrationInput};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, Created, NoContent};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct IntegrationsApi;

#[derive(Object, Debug)]
pub struct IntegrationView {
    pub id: Uuid,
    /// phone_connector, crm or erp.
    pub kind: IntegrationKind,
    pub name: String,
    pub settings: serde_json::Value,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        IntegrationView {
            id: i.id,
            kind: i.kind,
            name: i.name,
            settings: i.settings,
            active: i.active,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct IntegrationRequest {
    /// phone_connector, crm or erp (required when creating).
    #[oai(nullable)]
    pub kind: Option<IntegrationKind>,
    /// Required when creating.
    #[oai(nullable)]
    pub name: Option<String>,
    /// Connector settings, a JSON object.
    #[oai(nullable)]
    pub settings: Option<serde_json::Value>,
    #[oai(nullable)]
    pub active: Option<bool>,
}

impl Example for IntegrationRequest {
    fn example() -> Self {
        IntegrationRequest {
            kind: Some(IntegrationKind::Crm),
            name: Some("HubSpot".into()),
            settings: Some(serde_json::json!({ "portal_id": "12345" })),
            active: Some(true),
        }
    }
}

impl From<IntegrationRequest> for IntegrationInput {
    fn from(b: IntegrationRequest) -> Self {
        IntegrationInput {
            kind: b.kind,
            name: b.name,
            settings: b.settings,
            active: b.active,
        }
    }
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl IntegrationsApi {
    /// List connectors and integrations
    #[oai(
        operation_id = "listIntegrations",
        path = "/organizations/:id/integrations",
        method = "get"
    )]
    async fn integrations(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<IntegrationView>>> {
        let mut conn = state.conn().await?;
        Ok(Json(
            integrations::list(&mut conn, &auth.actor, id.0)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Add a connector or integration
    #[oai(
        operation_id = "addIntegration",
        path = "/organizations/:id/integrations",
        method = "post"
    )]
    async fn add_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<IntegrationRequest>,
    ) -> ApiResult<Created<IntegrationView>> {
        let mut conn = state.conn().await?;
        let i = integrations::create(&mut conn, &state.ctx, &auth.actor, id.0, body.0.into()).await?;
        Ok(Created::Created(Json(i.into())))
    }

    /// Change a connector or integration
    #[oai(
        operation_id = "updateIntegration",
        path = "/organizations/:id/integrations/:integration_id",
        method = "patch"
    )]
    async fn update_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        integration_id: Path<Uuid>,
        body: Body<IntegrationRequest>,
    ) -> ApiResult<Json<IntegrationView>> {
        let mut conn = state.conn().await?;
        let i = integrations::update(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            integration_id.0,
            body.0.into(),
        )
        .await?;
        Ok(Json(i.into()))
    }

    /// Remove a connector or integration
    #[oai(
        operation_id = "deleteIntegration",
        path = "/organizations/:id/integrations/:integration_id",
        method = "delete"
    )]
    async fn delete_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        integration_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        integrations::delete(&mut conn, &state.ctx, &auth.actor, id.0.into(), integration_id.0).await?;
        Ok(NoContent::NoContent)
    }
}
