//! The catalogue: the vendor's modules and releases desks, the software a person may
//! download, and the signed download link.

use partnerdesk_core::{
    Error as CoreError, commerce::modules, commerce::modules::ModuleInput, commerce::releases,
    commerce::releases::ReleaseInput,
};
use poem::{Response, Route, get, handler, http::StatusCode, http::header, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{
    commerce::catalogue::ModuleView, commerce::catalogue::ReleaseView, commerce::catalogue::release_view,
};
use crate::pages::context::{Failed, Message, Typed, View, views};
use crate::pages::{
    db, desk::Desk, desk::ListQuery, error_page, form::Form, notice::Notice, portal::Portal, reads, unavailable,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/vendor/modules", get(modules_page).post(create_module))
        .at("/vendor/modules/:id", post(save_module))
        .at("/vendor/releases", get(releases_page).post(publish))
        .at("/software", get(software))
        .at("/downloads/:release", get(download))
}

const MODULES: Desk = Desk {
    path: "/vendor/modules",
    template: "commerce/vendor_modules",
};

/// Every module, read from the replica when there is one.
/// The vendor's modules.
#[derive(Serialize)]
struct ModulesPage {
    modules: View<Vec<ModuleView>>,
}

async fn modules_of(portal: &Portal, state: &AppState) -> poem::Result<Result<ModulesPage, CoreError>> {
    let mut conn = reads(state).await?;
    Ok(modules::list_all(&mut conn, &portal.actor)
        .await
        .map(|list| ModulesPage { modules: views(list) }))
}

/// Releases: all of them for the vendor, the ones an organization may download for
/// its people.
#[derive(Serialize)]
struct ReleasesPage {
    releases: View<Vec<ReleaseView>>,
}

impl ReleasesPage {
    fn of(state: &AppState, portal: &Portal, list: Vec<releases::Release>) -> Self {
        let org = crate::api::commerce::catalogue::acting(&portal.actor);
        ReleasesPage {
            releases: View(list.into_iter().map(|r| release_view(state, org, r)).collect()),
        }
    }
}

const RELEASES: Desk = Desk {
    path: "/vendor/releases",
    template: "commerce/vendor_releases",
};

/// Every release, read from the replica when there is one.
async fn releases_of(portal: &Portal, state: &AppState) -> poem::Result<Result<ReleasesPage, CoreError>> {
    let mut conn = reads(state).await?;
    Ok(releases::list_all(&mut conn, &portal.actor)
        .await
        .map(|list| ReleasesPage::of(state, portal, list)))
}

#[handler]
async fn modules_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = modules_of(&portal, &state).await?;
    Ok(MODULES.show(&portal, &state, q.notice, loaded))
}

/// A module's form, to add one or change one.
#[derive(Deserialize)]
struct ModuleForm {
    code: Option<String>,
    name: Option<String>,
    description: Option<String>,
    currency: Option<String>,
    business_price: Option<String>,
    user_price: Option<String>,
    active: Option<String>,
}

fn module_input(form: ModuleForm, creating: bool) -> ModuleInput {
    ModuleInput {
        code: form.code,
        name: form.name,
        description: form.description,
        currency: form.currency,
        business_price: form.business_price,
        user_price: form.user_price,
        active: Some(creating || form.active.is_some()),
    }
}

#[handler]
async fn create_module(portal: Portal, state: Data<&AppState>, form: Form<ModuleForm>) -> poem::Result<Response> {
    let input = module_input(form.fields, true);
    let result = modules::create(&mut *db(&state).await?, &state.ctx, &portal.actor, input).await;
    let shown = Typed { form: &form.typed };
    MODULES
        .answer(&portal, &state, result, Notice::ModuleSaved, shown, || {
            modules_of(&portal, &state)
        })
        .await
}

#[handler]
async fn save_module(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<ModuleForm>,
) -> poem::Result<Response> {
    let input = module_input(form.fields, false);
    let result = modules::update(&mut *db(&state).await?, &state.ctx, &portal.actor, id, input).await;
    let shown = Failed { failed: id };
    MODULES
        .answer(&portal, &state, result, Notice::ModuleSaved, shown, || {
            modules_of(&portal, &state)
        })
        .await
}

#[handler]
async fn releases_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = releases_of(&portal, &state).await?;
    Ok(RELEASES.show(&portal, &state, q.notice, loaded))
}

/// The publish-a-release form.
#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    channel: String,
    notes_md: Option<String>,
    #[serde(default)]
    file_location: String,
}

#[handler]
async fn publish(portal: Portal, state: Data<&AppState>, form: Form<PublishForm>) -> poem::Result<Response> {
    let input = ReleaseInput {
        version: form.fields.version,
        channel: form.fields.channel,
        notes_md: form.fields.notes_md,
        file_location: form.fields.file_location,
    };
    let result = releases::publish(&mut *db(&state).await?, &state.ctx, &portal.actor, input).await;
    let shown = Typed { form: &form.typed };
    RELEASES
        .answer(&portal, &state, result, Notice::ReleasePublished, shown, || {
            releases_of(&portal, &state)
        })
        .await
}

#[handler]
async fn software(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match releases::visible(&mut conn, &portal.actor).await {
        Ok(list) => portal.render(&state, "commerce/software", ReleasesPage::of(&state, &portal, list)),
        Err(e) => portal.failed(&state, "Software", &e),
    })
}

#[derive(Deserialize)]
struct DownloadQuery {
    org: uuid::Uuid,
    expires: i64,
    sig: String,
}

#[handler]
async fn download(
    state: Data<&AppState>,
    Path(release): Path<uuid::Uuid>,
    poem::web::Query(q): poem::web::Query<DownloadQuery>,
) -> Response {
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = releases::resolve_download(&mut conn, &state.ctx, release, q.org.into(), q.expires, &q.sig).await;
    match result {
        Ok(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location)
            .finish(),
        Err(e) => error_page(&state, "message", Message::titled("Download"), &e),
    }
}
