//! The module catalogue and software releases (vendor), and the software a customer
//! may download.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::ids::OrgId;
use partnerdesk_core::platform::values::Channel;
use partnerdesk_core::{
    commerce::modules::{self, Module, ModuleInput},
    commerce::releases::{self, Release, ReleaseInput},
    platform::money::Fixed2,
};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json, types::Example};
use uuid::Uuid;

use crate::api::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct CatalogueApi;

#[derive(Object, Debug)]
pub struct ModuleView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub description: String,
    pub currency: String,
    /// Monthly price of the business licence, two decimals.
    pub business_price: Fixed2,
    /// Monthly price of one user licence, two decimals.
    pub user_price: Fixed2,
    pub active: bool,
}

impl From<Module> for ModuleView {
    fn from(m: Module) -> Self {
        ModuleView {
            id: m.id,
            code: m.code,
            name: m.name,
            description: m.description,
            currency: m.currency.to_string(),
            business_price: Fixed2::from(m.business_price),
            user_price: Fixed2::from(m.user_price),
            active: m.active,
        }
    }
}

#[derive(Object, Debug, Default)]
#[oai(example)]
pub struct ModuleRequest {
    /// Required when creating; cannot change.
    #[oai(nullable)]
    pub code: Option<String>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// ISO 4217; default EUR.
    #[oai(nullable)]
    pub currency: Option<String>,
    #[oai(nullable)]
    pub business_price: Option<String>,
    #[oai(nullable)]
    pub user_price: Option<String>,
    #[oai(nullable)]
    pub active: Option<bool>,
}

impl Example for ModuleRequest {
    fn example() -> Self {
        ModuleRequest {
            code: Some("CRM".into()),
            name: Some("CRM connector".into()),
            description: Some("Caller lookup in your CRM".into()),
            currency: Some("EUR".into()),
            business_price: Some("25.00".into()),
            user_price: Some("4.50".into()),
            active: Some(true),
        }
    }
}

impl From<ModuleRequest> for ModuleInput {
    fn from(b: ModuleRequest) -> Self {
        ModuleInput {
            code: b.code,
            name: b.name,
            description: b.description,
            currency: b.currency,
            business_price: b.business_price,
            user_price: b.user_price,
            active: b.active,
        }
    }
}

#[derive(Object, Debug)]
pub struct ReleaseView {
    pub id: Uuid,
    pub version: String,
    /// alpha, beta or stable.
    pub channel: Channel,
    pub notes_markdown: String,
    /// The release notes rendered as HTML.
    pub notes_html: String,
    pub published_at: DateTime<Utc>,
    /// A signed link that expires; copy it to send it to someone.
    pub download_url: String,
}

/// The organization the caller acts as, whose download links a list carries (a list
/// is refused before this to anyone acting as none).
pub(crate) fn acting(actor: &partnerdesk_core::platform::authz::Actor) -> OrgId {
    actor.acting_org.unwrap_or_default().into()
}

/// A release as `org` sees it: its download link is `org`'s own.
pub(crate) fn release_view(state: &AppState, org: OrgId, r: Release) -> ReleaseView {
    ReleaseView {
        download_url: releases::download_url(&state.ctx.config, r.id, org, state.ctx.now()),
        notes_html: releases::render_notes(&r.notes_md),
        id: r.id,
        version: r.version,
        channel: r.channel,
        notes_markdown: r.notes_md,
        published_at: r.published_at,
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct PublishReleaseRequest {
    pub version: String,
    /// alpha, beta or stable.
    pub channel: String,
    /// Markdown.
    #[oai(nullable)]
    pub notes: Option<String>,
    /// Where the installer is (http or https).
    pub file_location: String,
}

impl Example for PublishReleaseRequest {
    fn example() -> Self {
        PublishReleaseRequest {
            version: "4.13.0".into(),
            channel: "beta".into(),
            notes: Some("## New\n- Call recording in the CRM timeline".into()),
            file_location: "https://downloads.vendor.example/partnerdesk-client-4.13.0.msi".into(),
        }
    }
}

impl From<PublishReleaseRequest> for ReleaseInput {
    fn from(b: PublishReleaseRequest) -> Self {
        ReleaseInput {
            version: b.version,
            channel: b.channel,
            notes_md: b.notes,
            file_location: b.file_location,
        }
    }
}

#[OpenApi(tag = "ApiTags::Catalogue")]
impl CatalogueApi {
    /// The module catalogue
    ///
    /// Active modules with their monthly prices (the vendor also sees inactive ones).
    #[oai(operation_id = "listModules", path = "/modules", method = "get")]
    async fn modules(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<ModuleView>>> {
        let mut conn = state.conn().await?;
        Ok(Json(
            modules::list(&mut conn, &auth.actor)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Add a module (vendor administrators)
    #[oai(operation_id = "createModule", path = "/modules", method = "post")]
    async fn create_module(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<ModuleRequest>,
    ) -> ApiResult<Created<ModuleView>> {
        let mut conn = state.conn().await?;
        let m = modules::create(&mut conn, &state.ctx, &auth.actor, body.0.into()).await?;
        Ok(Created::Created(Json(m.into())))
    }

    /// Change a module (vendor administrators)
    ///
    /// New prices apply to quotes made from now on; open quotes become stale.
    #[oai(operation_id = "updateModule", path = "/modules/:id", method = "patch")]
    async fn update_module(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<ModuleRequest>,
    ) -> ApiResult<Json<ModuleView>> {
        let mut conn = state.conn().await?;
        let m = modules::update(&mut conn, &state.ctx, &auth.actor, id.0, body.0.into()).await?;
        Ok(Json(m.into()))
    }

    /// Software I may download
    ///
    /// The releases the organization you act as may install: stable, beta when beta is
    /// allowed, alpha for test organizations; with updates off nothing newer than when
    /// they were switched off. Each with release notes and a signed, expiring link.
    #[oai(operation_id = "listSoftware", path = "/software", method = "get")]
    async fn software(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<ReleaseView>>> {
        let mut conn = state.conn().await?;
        let list = releases::visible(&mut conn, &auth.actor).await?;
        let org = acting(&auth.actor);
        Ok(Json(list.into_iter().map(|r| release_view(&state, org, r)).collect()))
    }

    /// All releases (vendor administrators)
    #[oai(operation_id = "listReleases", path = "/releases", method = "get")]
    async fn releases(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<Vec<ReleaseView>>> {
        let mut conn = state.conn().await?;
        let list = releases::list_all(&mut conn, &auth.actor).await?;
        let org = acting(&auth.actor);
        Ok(Json(list.into_iter().map(|r| release_view(&state, org, r)).collect()))
    }

    /// Publish a release (vendor administrators)
    #[oai(operation_id = "publishRelease", path = "/releases", method = "post")]
    async fn publish(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<PublishReleaseRequest>,
    ) -> ApiResult<Created<ReleaseView>> {
        let mut conn = state.conn().await?;
        let r = releases::publish(&mut conn, &state.ctx, &auth.actor, body.0.into()).await?;
        Ok(Created::Created(Json(release_view(&state, acting(&auth.actor), r))))
    }
}
