//! An organization's modules, trials and orders. Every purchase goes through a quote:
//! the page shows what it costs per month and for the rest of this month, and nothing
//! happens until the person confirms.

use partnerdesk_core::{
    Error as CoreError,
    commerce::licences::{self, ItemRequest, ModuleLicences},
    commerce::orders,
    commerce::trials,
    platform::db::PooledConn,
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Pairs, db, json_of,
    organization::{NoticeQuery, Tab},
    portal::Portal,
    reads, redirect,
};
use crate::{
    api::{
        commerce::{licences::ModuleLicencesView, orders::OrderView, quotes::QuoteView, trials::TrialView},
        tenancy::users::view,
    },
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/modules", get(modules))
        .at("/organizations/:id/quotes", post(ask_quote))
        .at("/organizations/:id/quotes/:qid", get(quote_page))
        .at("/organizations/:id/quotes/:qid/confirm", post(confirm))
        .at("/organizations/:id/trials", post(start_trial))
        .at("/organizations/:id/trials/:tid/users", post(trial_users))
        .at("/organizations/:id/trials/:tid/upgrade", post(upgrade))
        .at("/organizations/:id/licences/:lid/off", post(business_off))
        .at("/organizations/:id/user-licences/:lid/off", post(user_licence_off))
        .at("/organizations/:id/credits", post(assign_credits))
        .at("/organizations/:id/orders", get(orders_tab))
}

const MODULES: (&str, &str) = ("/modules", "org_modules");

/// Per module: its licences, the trial if any, and the organization's users to pick.
async fn modules_of(conn: &mut PooledConn, portal: &Portal, state: &AppState, id: Uuid) -> Result<Value, CoreError> {
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
    let users: Vec<Value> = partnerdesk_core::tenancy::users::overview(conn, &portal.actor, id)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.active && !u.pending)
        .map(|u| json_of(view(u, now)))
        .collect();
    let rows: Vec<Value> = all
        .into_iter()
        .map(|m| {
            let module_id = m.module.id;
            let trial = trials.iter().find(|t| t.module_id == module_id).cloned();
            json!({ "licences": json_of(ModuleLicencesView::from(m)), "trial": trial.map(|t| json_of(TrialView::from(t))) })
        })
        .collect();
    Ok(json!({ "modules": rows, "users": users }))
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
        .show(&mut conn, q.notice.as_deref(), loaded)
        .await)
}

/// The purchase a module's form asks about.
fn item(form: &Pairs) -> Result<ItemRequest, CoreError> {
    let module_id = form
        .get("module_id")
        .and_then(|m| Uuid::parse_str(&m).ok())
        .ok_or_else(|| CoreError::field("module_id", "required", "Choose a module"))?;
    Ok(match form.get("kind").as_deref() {
        Some("business") => ItemRequest::Business { module_id },
        Some("users") => ItemRequest::Users {
            module_id,
            user_ids: form
                .all("user_ids")
                .iter()
                .filter_map(|u| Uuid::parse_str(u).ok())
                .collect(),
            all_users: form.has("all_users"),
        },
        Some("credits") => ItemRequest::Credits {
            module_id,
            quantity: form
                .get("quantity")
                .and_then(|q| q.parse().ok())
                .ok_or_else(|| CoreError::field("quantity", "invalid", "Enter a whole number of credits"))?,
        },
        _ => return Err(CoreError::field("kind", "invalid", "Choose what to buy")),
    })
}

/// Prices a purchase and shows the cost for confirmation.
#[handler]
async fn ask_quote(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let quoted = match item(&form) {
        Ok(item) => licences::quote(&mut conn, &state.ctx, &portal.actor, id, vec![item]).await,
        Err(e) => Err(e),
    };
    Ok(match quoted {
        Ok(q) => redirect(&format!("/organizations/{id}/quotes/{}", q.id)),
        Err(e) => {
            let shown = modules_of(&mut conn, &portal, &state, id).await.unwrap_or_default();
            Tab::new(&portal, &state, id, MODULES)
                .answer(&mut conn, Err((e, shown)))
                .await
        }
    })
}

#[handler]
async fn quote_page(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, qid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = match licences::get_quote(&mut conn, &portal.actor, qid).await {
        Ok(q) if q.organization_id == id => Ok(json!({ "quote": json_of(QuoteView::from(q)) })),
        Ok(_) => Err(CoreError::not_found("quote")),
        Err(e) => Err(e),
    };
    Ok(Tab::new(&portal, &state, id, ("/modules", "quote"))
        .show(&mut conn, None, loaded)
        .await)
}

#[handler]
async fn confirm(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, qid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let confirmed = match licences::get_quote(&mut conn, &portal.actor, qid).await {
        Ok(q) if q.organization_id == id => licences::confirm(&mut conn, &state.ctx, &portal.actor, qid).await,
        Ok(_) => Err(CoreError::not_found("quote")),
        Err(e) => Err(e),
    };
    Ok(match confirmed {
        Ok(_) => redirect(&format!("/organizations/{id}/orders?notice=ordered")),
        Err(e) => {
            let shown = modules_of(&mut conn, &portal, &state, id).await.unwrap_or_default();
            Tab::new(&portal, &state, id, MODULES)
                .answer(&mut conn, Err((e, shown)))
                .await
        }
    })
}

/// Runs a licence action of the modules tab and answers with the tab.
async fn on_modules(
    portal: &Portal,
    state: &AppState,
    conn: &mut PooledConn,
    id: Uuid,
    done: Result<&'static str, CoreError>,
) -> Response {
    let result = match done {
        Ok(notice) => Ok(notice),
        Err(e) => Err((e, modules_of(conn, portal, state, id).await.unwrap_or_default())),
    };
    Tab::new(portal, state, id, MODULES).answer(conn, result).await
}

#[handler]
async fn start_trial(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let module = form.get("module_id").and_then(|m| Uuid::parse_str(&m).ok());
    let mut conn = db(&state).await?;
    let done = match module {
        Some(module) => trials::start(&mut conn, &state.ctx, &portal.actor, id, module)
            .await
            .map(|_| "trial_started"),
        None => Err(CoreError::field("module_id", "required", "Choose a module")),
    };
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

fn user_ids(form: &Pairs) -> Vec<Uuid> {
    form.all("user_ids")
        .iter()
        .filter_map(|u| Uuid::parse_str(u).ok())
        .collect()
}

#[handler]
async fn trial_users(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, tid)): Path<(Uuid, Uuid)>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let done = trials::assign_users(&mut conn, &state.ctx, &portal.actor, id, tid, &user_ids(&form))
        .await
        .map(|_| "trial_users");
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
        match licences::quote_upgrade(&mut conn, &state.ctx, &portal.actor, id, tid).await {
            Ok(q) => redirect(&format!("/organizations/{id}/quotes/{}", q.id)),
            Err(e) => on_modules(&portal, &state, &mut conn, id, Err(e)).await,
        },
    )
}

#[handler]
async fn business_off(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, lid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let done = licences::deactivate_business(&mut conn, &state.ctx, &portal.actor, id, lid)
        .await
        .map(|_| "licence_off");
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

#[handler]
async fn user_licence_off(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, lid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let done = licences::deactivate_user_licence(&mut conn, &state.ctx, &portal.actor, id, lid)
        .await
        .map(|_| "licence_off");
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

#[handler]
async fn assign_credits(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let module = form.get("module_id").and_then(|m| Uuid::parse_str(&m).ok());
    let mut conn = db(&state).await?;
    let done = match module {
        Some(module) => licences::assign_credits(&mut conn, &state.ctx, &portal.actor, id, module, &user_ids(&form))
            .await
            .map(|_| "credits_assigned"),
        None => Err(CoreError::field("module_id", "required", "Choose a module")),
    };
    Ok(on_modules(&portal, &state, &mut conn, id, done).await)
}

#[handler]
async fn orders_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let loaded = orders::list(&mut conn, &state.ctx, &portal.actor, id)
        .await
        .map(|list| json!({ "orders": list.into_iter().map(|o| json_of(OrderView::from(o))).collect::<Vec<_>>() }));
    Ok(Tab::new(&portal, &state, id, ("/orders", "org_orders"))
        .show(&mut conn, q.notice.as_deref(), loaded)
        .await)
}
