//! The vendor's desk of partners and their terms.

use partnerdesk_core::{Error as CoreError, platform::values::PartnerStanding, tenancy::partners};
use poem::{Response, Route, get, handler, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::partners::{PartnerView, partner_view};
use crate::pages::context::{Failed, View};
use crate::pages::{db, desk::Desk, desk::ListQuery, form::Form, notice::Notice, portal::Portal, reads};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/vendor/partners", get(partners_page))
        .at("/vendor/partners/:id", post(save_terms))
}

const PARTNERS: Desk = Desk {
    path: "/vendor/partners",
    template: "tenancy/vendor_partners",
};

/// The vendor's partners, each with its terms to change, and the standings to choose from.
#[derive(Serialize)]
struct PartnersPage {
    partners: View<Vec<PartnerView>>,
    standings: Vec<(&'static str, &'static str)>,
}

/// A partner's standing as the select shows it (the value itself, as it always has).
fn standing_label(s: PartnerStanding) -> &'static str {
    match s {
        PartnerStanding::Active => "active",
        PartnerStanding::Suspended => "suspended",
    }
}

/// The vendor's partners, read from the replica when there is one.
async fn partners_of(portal: &Portal, state: &AppState) -> poem::Result<Result<PartnersPage, CoreError>> {
    let mut conn = reads(state).await?;
    Ok(partners::list_partners(&mut conn, &portal.actor)
        .await
        .map(|list| PartnersPage {
            partners: View(
                list.into_iter()
                    .map(|s| partner_view(state, s.partner, Some(s.name)))
                    .collect(),
            ),
            standings: PartnerStanding::ALL
                .iter()
                .map(|s| (s.as_str(), standing_label(*s)))
                .collect(),
        }))
}

#[handler]
async fn partners_page(portal: Portal, state: Data<&AppState>, Query(q): Query<ListQuery>) -> poem::Result<Response> {
    let loaded = partners_of(&portal, &state).await?;
    Ok(PARTNERS.show(&portal, &state, q.notice, loaded))
}

/// A partner's terms: default commission rate and standing.
#[derive(Deserialize)]
struct SaveTermsForm {
    default_commission_rate: Option<String>,
    status: Option<String>,
}

#[handler]
async fn save_terms(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<SaveTermsForm>,
) -> poem::Result<Response> {
    let rate = form.fields.default_commission_rate;
    let status = form.fields.status.and_then(|s| PartnerStanding::parse(&s));
    let mut conn = db(&state).await?;
    let result = partners::update_terms(&mut conn, &state.ctx, &portal.actor, id, rate.as_deref(), status).await;
    drop(conn);
    let shown = Failed { failed: id };
    PARTNERS
        .answer(&portal, &state, result, Notice::TermsSaved, shown, || {
            partners_of(&portal, &state)
        })
        .await
}
