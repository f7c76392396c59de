//! An organization's integrations tab.

use partnerdesk_core::{
    Error as CoreError, platform::values::IntegrationKind, tenancy::integrations,
    tenancy::integrations::IntegrationInput,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::api::tenancy::integrations::IntegrationView;
use crate::pages::context::{Typed, View, views, with};
use crate::pages::{NoticeQuery, db, form::Form, notice::Notice, portal::Portal, tabs::Tab};
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

/// An organization's integrations, and the kinds the add form offers.
#[derive(Serialize)]
struct IntegrationsPage {
    integrations: View<Vec<IntegrationView>>,
    kinds: Vec<(&'static str, &'static str)>,
}

impl IntegrationsPage {
    fn of(integrations: View<Vec<IntegrationView>>) -> Self {
        IntegrationsPage {
            integrations,
            kinds: IntegrationKind::ALL
                .iter()
                .map(|k| (k.as_str(), kind_label(*k)))
                .collect(),
        }
    }

    /// The tab with no integrations listed: the add form alone.
    fn empty() -> Self {
        Self::of(View(Vec::new()))
    }
}

/// An integration kind in plain words.
fn kind_label(kind: IntegrationKind) -> &'static str {
    match kind {
        IntegrationKind::PhoneConnector => "Phone connector",
        IntegrationKind::Crm => "CRM",
        IntegrationKind::Erp => "ERP",
    }
}

#[handler]
async fn integrations_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let tab = Tab::new(&portal, &state, id, INTEGRATIONS);
    Ok(match integrations::list(&mut conn, &portal.actor, id).await {
        Ok(list) => {
            let loaded = Ok(IntegrationsPage::of(views(list)));
            tab.show(&mut conn, q.notice, loaded).await
        }
        // The add form still shows, with its kinds, next to the error.
        Err(e) => tab.answer(&mut conn, Err((e, IntegrationsPage::empty()))).await,
    })
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
    let result = result.map_err(|e| (e, with(IntegrationsPage::empty(), Typed { form: &form.typed })));
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
        .map_err(|e| (e, IntegrationsPage::empty()));
    Ok(Tab::new(&portal, &state, id, INTEGRATIONS)
        .answer(&mut conn, result)
        .await)
}
