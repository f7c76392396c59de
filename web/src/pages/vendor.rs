//! The vendor's desks: sales decides partner requests and sets partners' terms, finance
//! marks invoices paid, administrators keep the module catalogue and publish releases.

use partnerdesk_core::{
    Error as CoreError,
    modules::{self, ModuleInput},
    orders, partners,
    releases::{self, ReleaseInput},
    values::{InvoiceStatus, PartnerRequestStatus, PartnerStanding},
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Pairs, db, json_of, merge, portal::Portal, redirect};
use crate::{
    AppState,
    api::{
        catalogue::{ModuleView, release_view},
        licences::InvoiceView,
        partners::{PartnerRequestView, partner_view},
    },
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/vendor/requests", get(requests))
        .at("/vendor/requests/:id/approve", post(approve))
        .at("/vendor/requests/:id/reject", post(reject))
        .at("/vendor/partners", get(partners_page))
        .at("/vendor/partners/:id", post(save_terms))
        .at("/vendor/invoices", get(invoices))
        .at("/vendor/invoices/:id/paid", post(mark_paid))
        .at("/vendor/modules", get(modules_page).post(create_module))
        .at("/vendor/modules/:id", post(save_module))
        .at("/vendor/releases", get(releases_page).post(publish))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

/// Renders a desk's list with what `load` found, or with `failed`'s error and the form
/// as typed.
async fn desk(
    portal: &Portal,
    state: &AppState,
    name: &str,
    notice: Option<&str>,
    loaded: Result<Value, CoreError>,
    failed: Option<(CoreError, Value)>,
) -> Response {
    match (loaded, failed) {
        (Ok(ctx), None) => portal.render_noticed(state, name, notice, ctx),
        (Ok(ctx), Some((e, shown))) => portal.error(state, name, merge(ctx, shown), &e),
        (Err(e), _) => portal.failed(state, "Vendor", &e),
    }
}

async fn requests_ctx(
    portal: &Portal,
    state: &AppState,
    status: Option<&str>,
) -> poem::Result<Result<Value, CoreError>> {
    let status = match status {
        Some("all") => None,
        Some(s) => PartnerRequestStatus::parse(s),
        None => Some(PartnerRequestStatus::Open),
    };
    let mut conn = db(state).await?;
    Ok(partners::list_requests(&mut conn, &portal.actor, status)
        .await
        .map(|list| {
            json!({
                "status": status.map(|s| s.as_str()).unwrap_or("all"),
                "requests": list.into_iter().map(|r| json_of(PartnerRequestView::from(r))).collect::<Vec<_>>(),
            })
        }))
}

#[handler]
async fn requests(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = requests_ctx(&portal, &state, q.status.as_deref()).await?;
    Ok(desk(&portal, &state, "vendor_requests", q.notice.as_deref(), loaded, None).await)
}

#[handler]
async fn approve(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let rate = form.get("default_commission_rate");
    let mut conn = db(&state).await?;
    let result = partners::approve(&mut conn, &state.ctx, &portal.actor, id, rate.as_deref()).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/requests?notice=approved"),
        Err(e) => {
            let loaded = requests_ctx(&portal, &state, None).await?;
            desk(
                &portal,
                &state,
                "vendor_requests",
                None,
                loaded,
                Some((e, json!({ "failed": id }))),
            )
            .await
        }
    })
}

#[handler]
async fn reject(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let reason = form.get("reason").unwrap_or_default();
    let mut conn = db(&state).await?;
    let result = partners::reject(&mut conn, &state.ctx, &portal.actor, id, &reason).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/requests?notice=rejected"),
        Err(e) => {
            let loaded = requests_ctx(&portal, &state, None).await?;
            desk(
                &portal,
                &state,
                "vendor_requests",
                None,
                loaded,
                Some((e, json!({ "failed": id }))),
            )
            .await
        }
    })
}

async fn partners_ctx(portal: &Portal, state: &AppState) -> poem::Result<Result<Value, CoreError>> {
    let mut conn = db(state).await?;
    Ok(partners::list_partners(&mut conn, &portal.actor).await.map(|list| {
        json!({ "partners": list.into_iter().map(|s| json_of(partner_view(state, s.partner, Some(s.name)))).collect::<Vec<_>>() })
    }))
}

#[handler]
async fn partners_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = partners_ctx(&portal, &state).await?;
    Ok(desk(&portal, &state, "vendor_partners", q.notice.as_deref(), loaded, None).await)
}

#[handler]
async fn save_terms(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let rate = form.get("default_commission_rate");
    let status = form.get("status").and_then(|s| PartnerStanding::parse(&s));
    let mut conn = db(&state).await?;
    let result = partners::update_terms(&mut conn, &state.ctx, &portal.actor, id, rate.as_deref(), status).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/partners?notice=terms_saved"),
        Err(e) => {
            let loaded = partners_ctx(&portal, &state).await?;
            desk(
                &portal,
                &state,
                "vendor_partners",
                None,
                loaded,
                Some((e, json!({ "failed": id }))),
            )
            .await
        }
    })
}

async fn invoices_ctx(
    portal: &Portal,
    state: &AppState,
    status: Option<&str>,
) -> poem::Result<Result<Value, CoreError>> {
    let status = match status {
        Some("all") => None,
        Some(s) => InvoiceStatus::parse(s),
        None => Some(InvoiceStatus::Open),
    };
    let mut conn = db(state).await?;
    Ok(orders::list_invoices(&mut conn, &portal.actor, status)
        .await
        .map(|list| {
            json!({
                "status": status.map(|s| s.as_str()).unwrap_or("all"),
                "invoices": list.into_iter().map(|i| json_of(InvoiceView::from(i))).collect::<Vec<_>>(),
            })
        }))
}

#[handler]
async fn invoices(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = invoices_ctx(&portal, &state, q.status.as_deref()).await?;
    Ok(desk(&portal, &state, "vendor_invoices", q.notice.as_deref(), loaded, None).await)
}

#[handler]
async fn mark_paid(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let reference = form.get("reference").unwrap_or_default();
    let mut conn = db(&state).await?;
    let result = orders::mark_paid(&mut conn, &state.ctx, &portal.actor, id, &reference).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/invoices?notice=invoice_paid"),
        Err(e) => {
            let loaded = invoices_ctx(&portal, &state, None).await?;
            desk(
                &portal,
                &state,
                "vendor_invoices",
                None,
                loaded,
                Some((e, json!({ "failed": id }))),
            )
            .await
        }
    })
}

async fn modules_ctx(portal: &Portal, state: &AppState) -> poem::Result<Result<Value, CoreError>> {
    let mut conn = db(state).await?;
    Ok(modules::list_all(&mut conn, &portal.actor)
        .await
        .map(|list| json!({ "modules": list.into_iter().map(|m| json_of(ModuleView::from(m))).collect::<Vec<_>>() })))
}

#[handler]
async fn modules_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = modules_ctx(&portal, &state).await?;
    Ok(desk(&portal, &state, "vendor_modules", q.notice.as_deref(), loaded, None).await)
}

fn module_input(form: &Pairs, creating: bool) -> ModuleInput {
    ModuleInput {
        code: form.get("code"),
        name: form.get("name"),
        description: form.get("description"),
        currency: form.get("currency"),
        business_price: form.get("business_price"),
        user_price: form.get("user_price"),
        active: Some(creating || form.has("active")),
    }
}

#[handler]
async fn create_module(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = modules::create(&mut conn, &state.ctx, &portal.actor, module_input(&form, true)).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/modules?notice=module_saved"),
        Err(e) => {
            let loaded = modules_ctx(&portal, &state).await?;
            desk(
                &portal,
                &state,
                "vendor_modules",
                None,
                loaded,
                Some((e, json!({ "form": form.to_json() }))),
            )
            .await
        }
    })
}

#[handler]
async fn save_module(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = modules::update(&mut conn, &state.ctx, &portal.actor, id, module_input(&form, false)).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/modules?notice=module_saved"),
        Err(e) => {
            let loaded = modules_ctx(&portal, &state).await?;
            desk(
                &portal,
                &state,
                "vendor_modules",
                None,
                loaded,
                Some((e, json!({ "failed": id }))),
            )
            .await
        }
    })
}

async fn releases_ctx(portal: &Portal, state: &AppState) -> poem::Result<Result<Value, CoreError>> {
    let mut conn = db(state).await?;
    Ok(releases::list_all(&mut conn, &portal.actor).await.map(
        |list| json!({ "releases": list.into_iter().map(|r| json_of(release_view(state, r))).collect::<Vec<_>>() }),
    ))
}

#[handler]
async fn releases_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = releases_ctx(&portal, &state).await?;
    Ok(desk(&portal, &state, "vendor_releases", q.notice.as_deref(), loaded, None).await)
}

#[handler]
async fn publish(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    let input = ReleaseInput {
        version: form.get("version").unwrap_or_default(),
        channel: form.get("channel").unwrap_or_default(),
        notes_md: form.get("notes_md"),
        file_location: form.get("file_location").unwrap_or_default(),
    };
    let mut conn = db(&state).await?;
    let result = releases::publish(&mut conn, &state.ctx, &portal.actor, input).await;
    drop(conn);
    Ok(match result {
        Ok(_) => redirect("/vendor/releases?notice=release_published"),
        Err(e) => {
            let loaded = releases_ctx(&portal, &state).await?;
            desk(
                &portal,
                &state,
                "vendor_releases",
                None,
                loaded,
                Some((e, json!({ "form": form.to_json() }))),
            )
            .await
        }
    })
}
