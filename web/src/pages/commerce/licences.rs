//! An organization's modules tab: its licences, user licences and credits.

use partnerdesk_core::{
    Error as CoreError, commerce::licences, commerce::licences::ModuleLicences, commerce::trials,
    platform::db::PooledConn, platform::ids::ModuleId,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::trials::user_ids;
use crate::api::{
    commerce::licences::ModuleLicencesView, commerce::trials::TrialView, tenancy::users::UserOverviewView,
    tenancy::users::view,
};
use crate::pages::context::View;
use crate::pages::{NoticeQuery, db, form::Form, notice::Notice, portal::Portal, tabs::Tab};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/modules", get(modules))
        .at("/organizations/:id/licences/:lid/off", post(business_off))
        .at("/organizations/:id/user-licences/:lid/off", post(user_licence_off))
        .at("/organizations/:id/credits", post(assign_credits))
}

pub(super) const MODULES: (&str, &str) = ("/modules", "commerce/org_modules");

/// The modules tab: per module its licences and the trial if any, and the
/// organization's users to pick.
#[derive(Serialize)]
pub(super) struct ModulesTab {
    modules: Vec<ModuleRow>,
    users: View<Vec<UserOverviewView>>,
}

#[derive(Serialize)]
struct ModuleRow {
    licences: View<ModuleLicencesView>,
    trial: Option<View<TrialView>>,
}

pub(super) async fn modules_of(
    conn: &mut PooledConn,
    portal: &Portal,
    state: &AppState,
    id: Uuid,
) -> Result<ModulesTab, CoreError> {
    let mut held = licences::overview(conn, &portal.actor, id).await?;
    // Every module on offer, with what the organization holds of it; then any module
    // held that is no longer on offer.
    let mut all: Vec<ModuleLicences> = partnerdesk_core::commerce::modules::list(conn, &portal.actor)
        .await?
        .into_iter()
        .filter(|m| m.active)
        .map(|module| match held.iter().position(|l| l.module.id == module.id) {
            Some(i) => held.remove(i),
            None => ModuleLicences {
                module,
                business_licence_id: None,
                business_kind: None,
                business_ends_at: None,
                users: Vec::new(),
                free_credits: 0,
            },
        })
        .collect();
    all.append(&mut held);
    // Trials are for whoever manages the licences; others (a partner the customer did not
    // grant it) see the modules without them, and the buttons disabled.
    let trials = match trials::for_organization(conn, &portal.actor, id).await {
        Err(CoreError::Forbidden { .. }) => Vec::new(),
        other => other?,
    };
    let now = state.ctx.now();
    let users = partnerdesk_core::tenancy::users::overview(conn, &portal.actor, id.into())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.active && !u.pending)
        .map(|u| view(u, now))
        .collect();
    let rows = all
        .into_iter()
        .map(|m| {
            let module_id = m.module.id;
            let trial = trials.iter().find(|t| t.module_id == module_id).cloned();
            ModuleRow {
                licences: View(m.into()),
                trial: trial.map(|t| View(t.into())),
            }
        })
        .collect();
    Ok(ModulesTab {
        modules: rows,
        users: View(users),
    })
}

#[handler]
async fn modules(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = modules_of(&mut conn, &portal, &state, id).await;
    Ok(Tab::new(&portal, &state, id, MODULES)
        .show(&mut conn, q.notice, loaded)
        .await)
}

/// Runs a licence action of the modules tab and answers with the tab.
pub(super) async fn on_modules(
    portal: &Portal,
    state: &AppState,
    conn: &mut PooledConn,
    id: Uuid,
    done: Result<Notice, CoreError>,
) -> Response {
    let result = match done {
        Ok(notice) => Ok(notice),
        Err(e) => Err((e, modules_of(conn, portal, state, id).await.ok())),
    };
    Tab::new(portal, state, id, MODULES).answer(conn, result).await
}

#[handler]
async fn business_off(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, lid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let done = licences::deactivate_business(&mut conn, &state.ctx, &portal.actor, id.into(), lid.into())
        .await
        .map(|_| Notice::LicenceOff);
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

#[handler]
async fn user_licence_off(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, lid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let done = licences::deactivate_user_licence(&mut conn, &state.ctx, &portal.actor, id.into(), lid.into())
        .await
        .map(|_| Notice::LicenceOff);
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

/// Assigning a module's credits to the users ticked.
#[derive(Deserialize)]
struct AssignCreditsForm {
    module_id: Option<String>,
    #[serde(default)]
    user_ids: Vec<String>,
}

#[handler]
async fn assign_credits(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<AssignCreditsForm>,
) -> poem::Result<Response> {
    let module = form.fields.module_id.and_then(|m| m.parse::<ModuleId>().ok());
    let mut conn = db(&state).await?;
    let done = match module {
        Some(module) => licences::assign_credits(
            &mut conn,
            &state.ctx,
            &portal.actor,
            id.into(),
            module,
            &user_ids(&form.fields.user_ids),
        )
        .await
        .map(|_| Notice::CreditsAssigned),
        None => Err(CoreError::field("module_id", "required", "Choose a module")),
    };
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}
