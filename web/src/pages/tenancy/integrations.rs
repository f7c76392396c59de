//! An organization's integrations tab.

use partnerdesk_core::{
    Error as CoreError, platform::values::IntegrationKind, tenancy::integrations,
    tenancy::integrations::IntegrationInput,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::tenancy::integrations::IntegrationView;
use crate::pages::{NoticeQuery, db, form::Form, json_of, notice::Notice, portal::Portal, tabs::Tab};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at(
            "/organizations/:id/integrations",
            get(integrations_tab).post(add_integration),
        )
        .at("/organizations/:id/integrations/:iid/delete", post(delete_integration))
}

const INTEGRATIONS: (&str, &str) = ("/integrations", "tenancy/org_integrations");

#[handler]
async fn integrations_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = integrations::list(&mut conn, &portal.actor, id).await.map(|list| {
        json!({ "integrations": list.into_iter().map(|i| json_of(IntegrationView::from(i))).collect::<Vec<_>>() })
    });
    let page = INTEGRATIONS;
    Ok(Tab::new(&portal, &state, id, page)
        .show(&mut conn, q.notice, loaded)
        .await)
}

/// The add-an-integration form: kind, name, settings as JSON.
#[derive(Deserialize)]
struct AddIntegrationForm {
    settings: Option<String>,
    kind: Option<String>,
    name: Option<String>,
}

#[handler]
async fn add_integration(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<AddIntegrationForm>,
) -> poem::Result<Response> {
    let parsed = match form.fields.settings {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Value>(&raw)
            .map(Some)
            .map_err(|_| CoreError::field("settings", "invalid_json", "Enter the settings as a JSON object")),
    };
    let input = parsed.map(|document| IntegrationInput {
        kind: form.fields.kind.and_then(|k| IntegrationKind::parse(&k)),
        name: form.fields.name,
        settings: document,
        active: Some(true),
    });
    let mut conn = db(&state).await?;
    let result = match input {
        Ok(input) => integrations::create(&mut conn, &state.ctx, &portal.actor, id, input)
            .await
            .map(|_| Notice::IntegrationSaved),
        Err(e) => Err(e),
    };
    let result = result.map_err(|e| (e, json!({ "form": form.typed.to_json(), "integrations": [] })));
    Ok(Tab::new(&portal, &state, id, INTEGRATIONS)
        .answer(&mut conn, result)
        .await)
}

#[handler]
async fn delete_integration(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, iid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = integrations::delete(&mut conn, &state.ctx, &portal.actor, id.into(), iid)
        .await
        .map(|_| Notice::IntegrationDeleted)
        .map_err(|e| (e, json!({ "integrations": [] })));
    Ok(Tab::new(&portal, &state, id, INTEGRATIONS)
        .answer(&mut conn, result)
        .await)
}
