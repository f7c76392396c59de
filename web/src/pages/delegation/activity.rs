//! What a customer's service provider did, filtered and paged, with its CSV.

use partnerdesk_core::{Error as CoreError, delegation::activity, delegation::sessions};
use poem::{Response, Route, get, handler, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sessions::Named;
use crate::api::{delegation::ActivityView, delegation::DelegatedSessionView};
use crate::pages::context::{View, views};
use crate::pages::{portal::Portal, reads};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route.at("/organizations/:id/service-provider/activity", get(activity_page))
}

#[derive(Deserialize, Serialize, Default)]
struct ActivityQuery {
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default, skip_serializing)]
    before: Option<i64>,
}

/// What the service provider did in the customer's organization: one page of it with
/// the filters as given, the people and sessions to filter by, the next page, the CSV.
#[derive(Serialize)]
struct ActivityPage<'a> {
    org: OrgRef,
    rows: View<Vec<ActivityView>>,
    people: Vec<Named>,
    sessions: View<Vec<DelegatedSessionView>>,
    filters: &'a ActivityQuery,
    next: Option<i64>,
    export: String,
}

#[derive(Serialize)]
struct OrgRef {
    id: Uuid,
}

/// "What my service provider did": filters, one page, the next page, the CSV.
#[handler]
async fn activity_page(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<ActivityQuery>,
) -> poem::Result<Response> {
    const PAGE: i64 = 50;
    let date = |s: &Option<String>| {
        s.as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let query = activity::Query {
        person: q.person.as_deref().and_then(|p| p.parse().ok()),
        from: date(&q.from),
        to: date(&q.to),
        before_id: q.before,
    };
    let mut conn = reads(&state).await?;
    let loaded = async {
        let rows = activity::list(&mut conn, &portal.actor, id, &query, PAGE).await?;
        let people = activity::people(&mut conn, &portal.actor, id).await?;
        let sessions = sessions::list_for_customer(&mut conn, &portal.actor, id)
            .await
            .unwrap_or_default();
        Ok::<_, CoreError>((rows, people, sessions))
    };
    let export = format!(
        "/api/organizations/{id}/service-provider/activity/export?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.person.map(|p| ("person_id", p.to_string())))
            .extend_pairs(query.from.map(|d| ("from", d.to_string())))
            .extend_pairs(query.to.map(|d| ("to", d.to_string())))
            .finish()
    );
    let ctx = match loaded.await {
        Ok((rows, people, sessions)) => {
            let next = (rows.len() as i64 == PAGE).then(|| rows.last().map(|r| r.id)).flatten();
            ActivityPage {
                org: OrgRef { id },
                rows: views(rows),
                people: people.into_iter().map(|(id, name)| Named { id, name }).collect(),
                sessions: views(sessions),
                filters: &q,
                next,
                export,
            }
        }
        Err(e) => return Ok(portal.failed(&state, "What my service provider did", &e)),
    };
    Ok(portal.render(&state, "delegation/provider_activity", ctx))
}
