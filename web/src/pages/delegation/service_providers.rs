//! A customer's service provider and what it may do: choosing or removing it, the
//! permissions granted and until when, and requests for more.

use partnerdesk_core::{
    Error as CoreError, delegation::service_providers, delegation::sessions, platform::authz::Permission,
    platform::db::PooledConn,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{delegation::DelegatedSessionView, delegation::GrantRequestView, delegation::ServiceProviderView};
use crate::pages::{
    NoticeQuery, db, form::Form, notice::Notice, notice::noticed, portal::Portal, tabs::Tab, tabs::permission_label,
};
use crate::pages::{
    context::{View, views, with},
    delegation::sessions::Named,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at(
            "/organizations/:id/service-provider",
            get(provider).post(choose_provider),
        )
        .at("/organizations/:id/service-provider/remove", post(remove_provider))
        .at("/organizations/:id/service-provider/grants", post(save_grants))
        .at("/customers/:id/grant-requests", get(request_form).post(request_grants))
        .at(
            "/organizations/:id/grant-requests/:request/accept",
            post(accept_request),
        )
        .at(
            "/organizations/:id/grant-requests/:request/decline",
            post(decline_request),
        )
}

const PROVIDER: (&str, &str) = ("/service-provider", "delegation/org_provider");

/// A permission a customer may grant its partner, in plain words, and whether it does.
#[derive(Serialize)]
struct Grant {
    name: &'static str,
    label: &'static str,
    granted: bool,
}

/// Every permission a customer may grant its partner.
fn delegable(granted: &[Permission]) -> Vec<Grant> {
    Permission::DELEGABLE
        .iter()
        .map(|p| Grant {
            name: p.as_str(),
            label: permission_label(*p),
            granted: granted.contains(p),
        })
        .collect()
}

/// The service-provider tab: the provider and what it is granted.
#[derive(Serialize)]
struct ProviderTab {
    provider: Option<View<ServiceProviderView>>,
    grants: Vec<Grant>,
}

/// The tab again after a failed form: the partner code typed, and the grants' choices.
#[derive(Serialize)]
struct ProviderRetry {
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_code: Option<String>,
    grants: Vec<Grant>,
}

#[handler]
async fn provider(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = service_providers::get(&mut conn, &portal.actor, id).await.map(|sp| {
        let granted = sp.as_ref().map(|s| s.granted_permissions.clone()).unwrap_or_default();
        ProviderTab {
            provider: sp.map(|s| View(s.into())),
            grants: delegable(&granted),
        }
    });
    let loaded = match loaded {
        Ok(ctx) => Ok(with(ctx, provider_extras(&mut conn, &portal, id).await)),
        Err(e) => Err(e),
    };
    let page = PROVIDER;
    Ok(Tab::new(&portal, &state, id, page)
        .show(&mut conn, q.notice, loaded)
        .await)
}

/// Choosing a service provider by its partner code.
#[derive(Deserialize)]
struct ChooseProviderForm {
    #[serde(default)]
    partner_code: String,
}

#[handler]
async fn choose_provider(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<ChooseProviderForm>,
) -> poem::Result<Response> {
    let code = form.fields.partner_code;
    let mut conn = db(&state).await?;
    let result = service_providers::choose(&mut conn, &state.ctx, &portal.actor, id, &code)
        .await
        .map(|_| Notice::ProviderChosen)
        .map_err(|e| {
            let shown = ProviderRetry {
                partner_code: Some(code),
                grants: delegable(&[]),
            };
            (e, shown)
        });
    Ok(Tab::new(&portal, &state, id, PROVIDER).answer(&mut conn, result).await)
}

#[handler]
async fn remove_provider(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = service_providers::remove(&mut conn, &state.ctx, &portal.actor, id)
        .await
        .map(|_| Notice::ProviderRemoved)
        .map_err(|e| {
            let shown = ProviderRetry {
                partner_code: None,
                grants: delegable(&[]),
            };
            (e, shown)
        });
    Ok(Tab::new(&portal, &state, id, PROVIDER).answer(&mut conn, result).await)
}

/// What the service provider may do, and until when.
#[derive(Deserialize)]
struct SaveGrantsForm {
    #[serde(default)]
    permissions: Vec<String>,
    ends_at: Option<String>,
}

#[handler]
async fn save_grants(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<SaveGrantsForm>,
) -> poem::Result<Response> {
    let names = form.fields.permissions;
    let mut conn = db(&state).await?;
    let result = match grants_end(form.fields.ends_at) {
        Ok(ends_at) => service_providers::set_grants(&mut conn, &state.ctx, &portal.actor, id, &names, ends_at).await,
        Err(e) => Err(e),
    };
    let result = result.map(|_| Notice::GrantsSaved).map_err(|e| {
        let shown = ProviderRetry {
            partner_code: None,
            grants: delegable(&[]),
        };
        (e, shown)
    });
    Ok(Tab::new(&portal, &state, id, PROVIDER).answer(&mut conn, result).await)
}

/// The grants' end date from the form: through the chosen day (UTC); empty for none.
fn grants_end(raw: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, CoreError> {
    let raw = raw.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| CoreError::field("ends_at", "invalid_date", "Enter a date"))
}

async fn answer(portal: &Portal, state: &AppState, id: Uuid, request: Uuid, accept: bool) -> poem::Result<Response> {
    let answered = service_providers::answer_request(
        &mut *db(state).await?,
        &state.ctx,
        &portal.actor,
        id.into(),
        request,
        accept,
    )
    .await;
    let notice = if accept {
        Notice::RequestAccepted
    } else {
        Notice::RequestDeclined
    };
    Ok(match answered {
        Ok(_) => noticed(&format!("/organizations/{id}/service-provider"), notice),
        Err(e) => portal.failed(state, "Service provider", &e),
    })
}

#[handler]
async fn accept_request(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, request)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    answer(&portal, &state, id, request, true).await
}

#[handler]
async fn decline_request(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, request)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    answer(&portal, &state, id, request, false).await
}

/// The permissions a partner may ask for: every delegable one it does not hold yet.
async fn askable(
    conn: &mut PooledConn,
    portal: &Portal,
    customer: Uuid,
    chosen: &[String],
) -> Result<RequestPage, CoreError> {
    let company = partnerdesk_core::tenancy::organizations::get(conn, &portal.actor, customer).await?;
    let partner = portal.org().unwrap_or_default();
    let granted =
        partnerdesk_core::platform::authz::granted_to(conn, portal.actor.now, partner.into(), customer.into())
            .await?
            .map(|(_, g)| g)
            .unwrap_or_default();
    let options = Permission::DELEGABLE
        .iter()
        .filter(|p| !granted.contains(p))
        .map(|p| Askable {
            name: p.as_str(),
            label: permission_label(*p),
            chosen: chosen.iter().any(|c| c == p.as_str()),
        })
        .collect();
    Ok(RequestPage {
        customer: Named {
            id: customer,
            name: company.name,
        },
        options,
        message: None,
    })
}

/// Asking a customer for more permissions: the customer, the permissions to choose
/// from, and the message typed.
#[derive(Serialize)]
struct RequestPage {
    customer: Named,
    options: Vec<Askable>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize)]
struct Askable {
    name: &'static str,
    label: &'static str,
    chosen: bool,
}

#[handler]
async fn request_form(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    Ok(match askable(&mut db(&state).await?, &portal, id, &[]).await {
        Ok(ctx) => portal.render(&state, "delegation/grant_request", ctx),
        Err(e) => portal.failed(&state, "Ask for more permissions", &e),
    })
}

/// A service provider's request for more permissions, with a message.
#[derive(Deserialize)]
struct RequestGrantsForm {
    #[serde(default)]
    permissions: Vec<String>,
    message: Option<String>,
}

#[handler]
async fn request_grants(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<RequestGrantsForm>,
) -> poem::Result<Response> {
    let (names, message) = (form.fields.permissions, form.fields.message);
    let mut conn = db(&state).await?;
    let asked =
        service_providers::request_grants(&mut conn, &state.ctx, &portal.actor, id, &names, message.as_deref()).await;
    Ok(match asked {
        Ok(_) => noticed(&format!("/organizations/{id}"), Notice::GrantsRequested),
        Err(e) => match askable(&mut conn, &portal, id, &names).await {
            Ok(ctx) => {
                let ctx = RequestPage { message, ..ctx };
                portal.error(&state, "delegation/grant_request", ctx, &e)
            }
            Err(_) => portal.failed(&state, "Ask for more permissions", &e),
        },
    })
}

/// Requests for more permissions and the service provider's sessions, for the customer's
/// service-provider tab.
pub(crate) async fn provider_extras(conn: &mut PooledConn, portal: &Portal, id: Uuid) -> ProviderExtras {
    let requests = service_providers::grant_requests(conn, &portal.actor, id)
        .await
        .unwrap_or_default();
    let sessions = sessions::list_for_customer(conn, &portal.actor, id)
        .await
        .unwrap_or_default();
    let requests = requests
        .into_iter()
        .map(|r| Request {
            labels: r.permissions.iter().map(|p| permission_label(*p)).collect(),
            request: View(r.into()),
        })
        .collect();
    ProviderExtras {
        requests,
        sessions: views(sessions.into_iter().filter(|s| s.active)),
    }
}

/// The customer's requests for more permissions and the provider's open sessions.
#[derive(Serialize)]
pub(crate) struct ProviderExtras {
    requests: Vec<Request>,
    sessions: View<Vec<DelegatedSessionView>>,
}

/// A request for more permissions, with the permissions in plain words.
#[derive(Serialize)]
struct Request {
    #[serde(flatten)]
    request: View<GrantRequestView>,
    labels: Vec<&'static str>,
}
