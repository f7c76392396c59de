//! The vendor's desks: sales decides partner requests and sets partners' terms, finance
//! marks invoices paid, administrators keep the module catalogue and publish releases.

use partnerdesk_core::{
    Error as CoreError,
    commerce::modules::{self, ModuleInput},
    commerce::orders,
    commerce::releases::{self, ReleaseInput},
    platform::values::{InvoiceStatus, PartnerRequestStatus, PartnerStanding},
    tenancy::partners,
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Pairs, db, json_of, merge, portal::Portal, reads, redirect};
use crate::{
    api::{
        commerce::catalogue::{ModuleView, release_view},
        commerce::orders::InvoiceView,
        tenancy::partners::{PartnerRequestView, partner_view},
    },
    state::AppState,
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

/// One of the vendor's desks: a list with its forms.
#[derive(Clone, Copy)]
enum Desk {
    Requests,
    Partners,
    Invoices,
    Modules,
    Releases,
}

impl Desk {
    fn template(self) -> &'static str {
        match self {
            Desk::Requests => "vendor_requests",
            Desk::Partners => "vendor_partners",
            Desk::Invoices => "vendor_invoices",
            Desk::Modules => "vendor_modules",
            Desk::Releases => "vendor_releases",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Desk::Requests => "/vendor/requests",
            Desk::Partners => "/vendor/partners",
            Desk::Invoices => "/vendor/invoices",
            Desk::Modules => "/vendor/modules",
            Desk::Releases => "/vendor/releases",
        }
    }

    /// The desk's list, read from the replica when there is one (for requests and
    /// invoices, those with `status`: open ones by default, every one for `all`).
    async fn load(
        self,
        portal: &Portal,
        state: &AppState,
        status: Option<&str>,
    ) -> poem::Result<Result<Value, CoreError>> {
        let mut conn = reads(state).await?;
        let conn = &mut conn;
        let actor = &portal.actor;
        Ok(match self {
            Desk::Requests => {
                let status = status.map_or(Some(PartnerRequestStatus::Open), PartnerRequestStatus::parse);
                partners::list_requests(conn, actor, status).await.map(|list| {
                    json!({
                        "status": status.map_or("all", |s| s.as_str()),
                        "requests": list.into_iter().map(|r| json_of(PartnerRequestView::from(r))).collect::<Vec<_>>(),
                    })
                })
            }
            Desk::Partners => partners::list_partners(conn, actor).await.map(|list| {
                json!({ "partners": list.into_iter().map(|s| json_of(partner_view(state, s.partner, Some(s.name)))).collect::<Vec<_>>() })
            }),
            Desk::Invoices => {
                let status = status.map_or(Some(InvoiceStatus::Open), InvoiceStatus::parse);
                orders::list_invoices(conn, actor, status).await.map(|list| {
                    json!({
                        "status": status.map_or("all", |s| s.as_str()),
                        "invoices": list.into_iter().map(|i| json_of(InvoiceView::from(i))).collect::<Vec<_>>(),
                    })
                })
            }
            Desk::Modules => modules::list_all(conn, actor)
                .await
                .map(|list| json!({ "modules": list.into_iter().map(|m| json_of(ModuleView::from(m))).collect::<Vec<_>>() })),
            Desk::Releases => releases::list_all(conn, actor).await.map(|list| {
                json!({ "releases": list.into_iter().map(|r| json_of(release_view(state, r))).collect::<Vec<_>>() })
            }),
        })
    }

    /// The desk's page, with a notice from the address.
    async fn show(self, portal: &Portal, state: &AppState, q: &ListQuery) -> poem::Result<Response> {
        Ok(match self.load(portal, state, q.status.as_deref()).await? {
            Ok(ctx) => portal.render_noticed(state, self.template(), q.notice.as_deref(), ctx),
            Err(e) => portal.failed(state, "Vendor", &e),
        })
    }

    /// The answer to one of the desk's forms: back to the list with `notice`, or the
    /// list with the error (and `shown`: the form as typed, or which row failed).
    async fn answer<T>(
        self,
        portal: &Portal,
        state: &AppState,
        result: Result<T, CoreError>,
        notice: &str,
        shown: Value,
    ) -> poem::Result<Response> {
        let e = match result {
            Ok(_) => return Ok(redirect(&format!("{}?notice={notice}", self.path()))),
            Err(e) => e,
        };
        Ok(match self.load(portal, state, None).await? {
            Ok(ctx) => portal.error(state, self.template(), merge(ctx, shown), &e),
            Err(e) => portal.failed(state, "Vendor", &e),
        })
    }
}

#[handler]
async fn requests(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    Desk::Requests.show(&portal, &state, &q).await
}

#[handler]
async fn approve(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let rate = form.get("default_commission_rate");
    let result = partners::approve(&mut *db(&state).await?, &state.ctx, &portal.actor, id, rate.as_deref()).await;
    let shown = json!({ "failed": id });
    Desk::Requests.answer(&portal, &state, result, "approved", shown).await
}

#[handler]
async fn reject(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let reason = form.get("reason").unwrap_or_default();
    let result = partners::reject(&mut *db(&state).await?, &state.ctx, &portal.actor, id, &reason).await;
    let shown = json!({ "failed": id });
    Desk::Requests.answer(&portal, &state, result, "rejected", shown).await
}

#[handler]
async fn partners_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    Desk::Partners.show(&portal, &state, &q).await
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
    let shown = json!({ "failed": id });
    Desk::Partners
        .answer(&portal, &state, result, "terms_saved", shown)
        .await
}

#[handler]
async fn invoices(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    Desk::Invoices.show(&portal, &state, &q).await
}

#[handler]
async fn mark_paid(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let reference = form.get("reference").unwrap_or_default();
    let result = orders::mark_paid(&mut *db(&state).await?, &state.ctx, &portal.actor, id, &reference).await;
    let shown = json!({ "failed": id });
    Desk::Invoices
        .answer(&portal, &state, result, "invoice_paid", shown)
        .await
}

#[handler]
async fn modules_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    Desk::Modules.show(&portal, &state, &q).await
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
    let input = module_input(&form, true);
    let result = modules::create(&mut *db(&state).await?, &state.ctx, &portal.actor, input).await;
    let shown = json!({ "form": form.to_json() });
    Desk::Modules
        .answer(&portal, &state, result, "module_saved", shown)
        .await
}

#[handler]
async fn save_module(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let input = module_input(&form, false);
    let result = modules::update(&mut *db(&state).await?, &state.ctx, &portal.actor, id, input).await;
    let shown = json!({ "failed": id });
    Desk::Modules
        .answer(&portal, &state, result, "module_saved", shown)
        .await
}

#[handler]
async fn releases_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    Desk::Releases.show(&portal, &state, &q).await
}

#[handler]
async fn publish(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    let input = ReleaseInput {
        version: form.get("version").unwrap_or_default(),
        channel: form.get("channel").unwrap_or_default(),
        notes_md: form.get("notes_md"),
        file_location: form.get("file_location").unwrap_or_default(),
    };
    let result = releases::publish(&mut *db(&state).await?, &state.ctx, &portal.actor, input).await;
    let shown = json!({ "form": form.to_json() });
    Desk::Releases
        .answer(&portal, &state, result, "release_published", shown)
        .await
}
