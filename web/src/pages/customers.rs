//! The partner's pages: My customers (filter, search, sort, keyset paging), adding a
//! customer, creating an organization by invitation and the open invitations, the
//! trials overview and My account.

use partnerdesk_core::{
    commerce::trials,
    platform::domain::DEFAULT_PAGE,
    tenancy::customers::{self, CustomerInput, ListQuery, SortKey, StatusFilter},
    tenancy::invitations::{self, InvitationInput},
};
use poem::{
    Response, Route, get, handler, post,
    web::{Data, Form, Path, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{db, filled, json_of, portal::Portal, reads, redirect};
use crate::{
    api::{commerce::trials::TrialOverviewRow, tenancy::customers::CustomerView},
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/customers", get(list))
        .at("/customers/new", get(new_form).post(create))
        .at("/invitations", get(invitation_list))
        .at("/invitations/new", get(invite_form).post(invite))
        .at("/invitations/:id/resend", post(resend))
        .at("/invitations/:id/revoke", post(revoke))
        .at("/trials", get(trials_overview))
        .at("/my-account", get(my_account))
}

/// My customers' filters, as the address carries them.
#[derive(Deserialize, Serialize, Default)]
struct ListForm {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

impl ListForm {
    fn query(&self) -> ListQuery {
        ListQuery {
            status: match self.status.as_deref() {
                Some("inactive") => StatusFilter::Inactive,
                Some("both") => StatusFilter::Both,
                _ => StatusFilter::Active,
            },
            search: filled(self.q.clone()),
            sort: match self.sort.as_deref() {
                Some("created") => SortKey::Created,
                Some("expiry") => SortKey::Expiry,
                _ => SortKey::Name,
            },
            descending: self.dir.as_deref() == Some("desc"),
            limit: DEFAULT_PAGE,
            cursor: filled(self.cursor.clone()),
        }
    }

    /// The address of this list with one parameter changed (and the page reset).
    fn with(&self, key: &str, value: &str) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("q", &self.q),
            ("sort", &self.sort),
            ("dir", &self.dir),
        ] {
            match (k == key, v) {
                (true, _) => pairs.append_pair(k, value),
                (false, Some(v)) if !v.is_empty() => pairs.append_pair(k, v),
                _ => &mut pairs,
            };
        }
        if key == "cursor" {
            pairs.append_pair("cursor", value);
        }
        format!("/customers?{}", pairs.finish())
    }

    /// A column heading's link: sorts by the column, flipping the direction when it
    /// already does.
    fn sort_link(&self, key: &str) -> String {
        let current = self.sort.as_deref().unwrap_or("name");
        let dir = if current == key && self.dir.as_deref() != Some("desc") {
            "desc"
        } else {
            "asc"
        };
        let base = self.with("sort", key);
        format!("{base}&dir={dir}")
    }
}

#[handler]
async fn list(portal: Portal, state: Data<&AppState>, Query(form): Query<ListForm>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let result = customers::list(&mut conn, &portal.actor, form.query()).await;
    let ctx = json!({
        "filter": form,
        "sort_links": { "name": form.sort_link("name"), "created": form.sort_link("created"), "expiry": form.sort_link("expiry") },
        "can_add": portal.holds(partnerdesk_core::platform::authz::Permission::CreateCustomers),
    });
    Ok(match result {
        Ok(page) => portal.render_noticed(
            &state,
            "customers",
            form.notice.as_deref(),
            super::merge(
                ctx,
                json!({
                    "customers": page.items.into_iter().map(|c| json_of(CustomerView::from(c))).collect::<Vec<_>>(),
                    "next_page": page.next_cursor.map(|c| form.with("cursor", &c)),
                }),
            ),
        ),
        Err(e) => portal.error(&state, "customers", super::merge(ctx, json!({ "customers": [] })), &e),
    })
}

/// The add-customer form as typed; shown again with the messages when refused.
#[derive(Deserialize, Serialize, Default)]
struct CustomerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    commission_rate: String,
    #[serde(default)]
    customer_type: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    debtor_number: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

impl From<CustomerForm> for CustomerInput {
    fn from(f: CustomerForm) -> Self {
        CustomerInput {
            name: Some(f.name),
            active: Some(f.active.is_some()),
            commission_rate: Some(f.commission_rate),
            customer_type: filled(f.customer_type),
            partner_account_id: None,
            country: filled(f.country),
            debtor_number: filled(f.debtor_number),
            contact_email: filled(f.contact_email),
            language: filled(f.language),
        }
    }
}

#[handler]
fn new_form(portal: Portal, state: Data<&AppState>) -> Response {
    let form = CustomerForm {
        active: Some("on".into()),
        commission_rate: "0.00".into(),
        ..Default::default()
    };
    portal.render(&state, "customer_new", json!({ "form": form }))
}

#[handler]
async fn create(portal: Portal, state: Data<&AppState>, Form(form): Form<CustomerForm>) -> poem::Result<Response> {
    let shown = json!({ "form": &form });
    let mut conn = db(&state).await?;
    Ok(
        match customers::create(&mut conn, &state.ctx, &portal.actor, form.into()).await {
            Ok(c) => redirect(&format!("/organizations/{}?notice=customer_added", c.id)),
            Err(e) => portal.error(&state, "customer_new", shown, &e),
        },
    )
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[handler]
async fn invitation_list(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let now = state.ctx.clock.now();
    Ok(
        match invitations::list(&mut conn, &state.ctx, &portal.actor, Some("open")).await {
            Ok(found) => portal.render_noticed(
                &state,
                "invitations",
                q.notice.as_deref(),
                json!({ "invitations": found.into_iter().map(|i| json_of(crate::api::tenancy::invitations::view(i, now))).collect::<Vec<Value>>() }),
            ),
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

#[derive(Deserialize, Serialize, Default)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    contact_name: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    commission_rate: Option<String>,
    #[serde(default)]
    debtor_number: Option<String>,
    #[serde(default)]
    customer_type: Option<String>,
}

impl From<InviteForm> for InvitationInput {
    fn from(f: InviteForm) -> Self {
        InvitationInput {
            email: f.email,
            company_name: f.company_name,
            contact_name: filled(f.contact_name),
            language: filled(f.language),
            country: filled(f.country),
            commission_rate: filled(f.commission_rate),
            debtor_number: filled(f.debtor_number),
            customer_type: filled(f.customer_type),
        }
    }
}

#[handler]
fn invite_form(portal: Portal, state: Data<&AppState>) -> Response {
    portal.render(&state, "invitation_new", json!({ "form": InviteForm::default() }))
}

#[handler]
async fn invite(portal: Portal, state: Data<&AppState>, Form(form): Form<InviteForm>) -> poem::Result<Response> {
    let shown = json!({ "form": &form });
    let mut conn = db(&state).await?;
    Ok(
        match invitations::create(&mut conn, &state.ctx, &portal.actor, form.into()).await {
            Ok(_) => redirect("/invitations?notice=invitation_sent"),
            Err(e) => portal.error(&state, "invitation_new", shown, &e),
        },
    )
}

#[handler]
async fn resend(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match invitations::resend(&mut conn, &state.ctx, &portal.actor, id).await {
            Ok(_) => redirect("/invitations?notice=invitation_resent"),
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

#[handler]
async fn revoke(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match invitations::revoke(&mut conn, &state.ctx, &portal.actor, id).await {
            Ok(_) => redirect("/invitations?notice=invitation_revoked"),
            Err(e) => portal.failed(&state, "Invitations", &e),
        },
    )
}

#[derive(Deserialize, Default)]
struct TrialsQuery {
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[handler]
async fn trials_overview(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<TrialsQuery>,
) -> poem::Result<Response> {
    let active = match q.active.as_deref() {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let mut conn = reads(&state).await?;
    let page = trials::overview(&mut conn, &portal.actor, active, 50, q.cursor.as_deref()).await;
    Ok(match page {
        Ok(page) => {
            let next_page = page.next_cursor.map(|c| {
                let mut next = url::form_urlencoded::Serializer::new(String::new());
                if let Some(a) = &q.active {
                    next.append_pair("active", a);
                }
                format!("/trials?{}", next.append_pair("cursor", &c).finish())
            });
            portal.render(
                &state,
                "trials",
                json!({
                    "active": q.active,
                    "trials": page.items.into_iter().map(|r| json_of(TrialOverviewRow::from(r))).collect::<Vec<_>>(),
                    "next_page": next_page,
                }),
            )
        }
        Err(e) => portal.failed(&state, "Trials", &e),
    })
}

#[handler]
async fn my_account(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match customers::my_account(&mut conn, &portal.actor).await {
        Ok(account) => portal.render(
            &state,
            "my_account",
            json!({
                "account": json_of(crate::api::tenancy::organizations::OrganizationView::from(account.organization)),
                "used": account.seats_used,
                "total": account.seats_total,
            }),
        ),
        Err(e) => portal.failed(&state, "My account", &e),
    })
}
