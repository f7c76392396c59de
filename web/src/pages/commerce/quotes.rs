//! Quotes: asked for on the modules tab, shown, confirmed into an order.

use partnerdesk_core::{Error as CoreError, commerce::licences, commerce::licences::ItemRequest};
use poem::{Response, Route, get, handler, post, web::Data, web::Path};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{licences::MODULES, licences::modules_of};
use crate::api::commerce::quotes::QuoteView;
use crate::pages::context::View;
use crate::pages::{db, form::Form, notice::Notice, notice::noticed, portal::Portal, redirect, tabs::Tab};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/quotes", post(ask_quote))
        .at("/organizations/:id/quotes/:qid", get(quote_page))
        .at("/organizations/:id/quotes/:qid/confirm", post(confirm))
}

/// A module's purchase form: what kind of licence, for which users, how many credits.
#[derive(Deserialize)]
struct ItemForm {
    module_id: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    user_ids: Vec<String>,
    all_users: Option<String>,
    quantity: Option<String>,
}

/// The purchase a module's form asks about.
fn item(form: &ItemForm) -> Result<ItemRequest, CoreError> {
    let module_id = form
        .module_id
        .as_deref()
        .and_then(|m| Uuid::parse_str(m).ok())
        .ok_or_else(|| CoreError::field("module_id", "required", "Choose a module"))?;
    Ok(match form.kind.as_deref() {
        Some("business") => ItemRequest::Business { module_id },
        Some("users") => ItemRequest::Users {
            module_id,
            user_ids: form.user_ids.iter().filter_map(|u| Uuid::parse_str(u).ok()).collect(),
            all_users: form.all_users.is_some(),
        },
        Some("credits") => ItemRequest::Credits {
            module_id,
            quantity: form
                .quantity
                .as_deref()
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
    form: Form<ItemForm>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let quoted = match item(&form.fields) {
        Ok(item) => licences::quote(&mut conn, &state.ctx, &portal.actor, id, vec![item]).await,
        Err(e) => Err(e),
    };
    Ok(match quoted {
        Ok(q) => redirect(&format!("/organizations/{id}/quotes/{}", q.id)),
        Err(e) => {
            let shown = modules_of(&mut conn, &portal, &state, id).await.ok();
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
        Ok(q) if q.organization_id == id => Ok(QuotePage { quote: View(q.into()) }),
        Ok(_) => Err(CoreError::not_found("quote")),
        Err(e) => Err(e),
    };
    Ok(Tab::new(&portal, &state, id, ("/modules", "commerce/quote"))
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
        Ok(_) => noticed(&format!("/organizations/{id}/orders"), Notice::Ordered),
        Err(e) => {
            let shown = modules_of(&mut conn, &portal, &state, id).await.ok();
            Tab::new(&portal, &state, id, MODULES)
                .answer(&mut conn, Err((e, shown)))
                .await
        }
    })
}

/// A quote, to confirm or leave.
#[derive(Serialize)]
struct QuotePage {
    quote: View<QuoteView>,
}
