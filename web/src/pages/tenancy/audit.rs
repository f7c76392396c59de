//! An organization's audit log tab.

use poem::{Response, Route, get, handler, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::audit::AuditEntryView;
use crate::pages::context::{View, views};
use crate::pages::{portal::Portal, reads, tabs::Tab};
use crate::state::AppState;

const AUDIT: (&str, &str) = ("/audit", "tenancy/org_audit");

pub(super) fn routes(route: Route) -> Route {
    route.at("/organizations/:id/audit", get(audit))
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    before: Option<i64>,
}

/// One page of an organization's audit log, newest first, and the link to older entries.
#[derive(Serialize)]
struct AuditPage {
    entries: View<Vec<AuditEntryView>>,
    older: Option<String>,
}

#[handler]
async fn audit(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> poem::Result<Response> {
    let limit = partnerdesk_core::platform::domain::DEFAULT_PAGE;
    let mut conn = reads(&state).await?;
    let loaded =
        partnerdesk_core::platform::audit::list_for_organization(&mut conn, &portal.actor, id, q.before, limit)
            .await
            .map(|entries| {
                let older = (entries.len() as i64 == limit)
                    .then(|| {
                        entries
                            .last()
                            .map(|e| format!("/organizations/{id}/audit?before={}", e.id))
                    })
                    .flatten();
                AuditPage {
                    entries: views(entries),
                    older,
                }
            });
    Ok(Tab::new(&portal, &state, id, AUDIT).show(&mut conn, None, loaded).await)
}
