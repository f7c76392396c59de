//! Trials: started on the modules tab, their users, the upgrade, and a partner's
//! overview of its customers' trials.

use partnerdesk_core::{
    Error as CoreError,
    commerce::licences,
    commerce::trials,
    platform::ids::{ModuleId, UserId},
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::licences::on_modules;
use crate::api::commerce::trials::TrialOverviewRow;
use crate::pages::context::{View, views};
use crate::pages::{db, form::Form, notice::Notice, portal::Portal, reads, redirect};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/trials", post(start_trial))
        .at("/organizations/:id/trials/:tid/users", post(trial_users))
        .at("/organizations/:id/trials/:tid/upgrade", post(upgrade))
        .at("/trials", get(trials_overview))
}

/// Starting a module's trial.
#[derive(Deserialize)]
struct StartTrialForm {
    module_id: Option<String>,
}

#[handler]
async fn start_trial(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<StartTrialForm>,
) -> poem::Result<Response> {
    let module = form.fields.module_id.and_then(|m| m.parse::<ModuleId>().ok());
    let mut conn = db(&state).await?;
    let done = match module {
        Some(module) => trials::start(&mut conn, &state.ctx, &portal.actor, id.into(), module)
            .await
            .map(|_| Notice::TrialStarted),
        None => Err(CoreError::field("module_id", "required", "Choose a module")),
    };
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

/// The users ticked in a form, by id.
pub(super) fn user_ids(ticked: &[String]) -> Vec<UserId> {
    ticked.iter().filter_map(|u| u.parse().ok()).collect()
}

/// The users ticked for a trial.
#[derive(Deserialize)]
struct TrialUsersForm {
    #[serde(default)]
    user_ids: Vec<String>,
}

#[handler]
async fn trial_users(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, tid)): Path<(Uuid, Uuid)>,
    form: Form<TrialUsersForm>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let done = trials::assign_users(
        &mut conn,
        &state.ctx,
        &portal.actor,
        id.into(),
        tid.into(),
        &user_ids(&form.fields.user_ids),
    )
    .await
    .map(|_| Notice::TrialUsers);
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

#[handler]
async fn upgrade(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, tid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match licences::quote_upgrade(&mut conn, &state.ctx, &portal.actor, id.into(), tid.into()).await {
            Ok(q) => redirect(&format!("/organizations/{id}/quotes/{}", q.id)),
            Err(e) => on_modules(&portal, &state, &mut conn, id, Err(e)).await,
        },
    )
}

#[derive(Deserialize, Default)]
struct TrialsQuery {
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// A partner's trials: the filter, one page, the next page's address.
#[derive(Serialize)]
struct TrialsPage {
    active: Option<String>,
    trials: View<Vec<TrialOverviewRow>>,
    next_page: Option<String>,
}

#[handler]
async fn trials_overview(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<TrialsQuery>,
) -> poem::Result<Response> {
    let active = match q.active.as_deref() {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let mut conn = reads(&state).await?;
    let page = trials::overview(&mut conn, &portal.actor, active, 50, q.cursor.as_deref()).await;
    Ok(match page {
        Ok(page) => {
            let next_page = page.next_cursor.map(|c| {
                let mut next = url::form_urlencoded::Serializer::new(String::new());
                if let Some(a) = &q.active {
                    next.append_pair("active", a);
                }
                format!("/trials?{}", next.append_pair("cursor", &c).finish())
            });
            let ctx = TrialsPage {
                active: q.active,
                trials: views(page.items),
                next_page,
            };
            portal.render(&state, "commerce/trials", ctx)
        }
        Err(e) => portal.failed(&state, "Trials", &e),
    })
}
