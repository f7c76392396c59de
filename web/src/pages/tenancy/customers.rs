//! A partner's customers: the list (search, sort, pages), adding one, and a customer's
//! view of its own account with its partner.

use partnerdesk_core::{
    platform::domain::DEFAULT_PAGE, tenancy::customers, tenancy::customers::CustomerInput,
    tenancy::customers::ListQuery, tenancy::customers::SortKey, tenancy::customers::StatusFilter,
};
use poem::{Response, Route, get, handler, web::Data, web::Form, web::Query};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::tenancy::customers::CustomerView;
use crate::pages::{db, filled, json_of, notice::Notice, notice::noticed, portal::Portal, reads};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/customers", get(list))
        .at("/customers/new", get(new_form).post(create))
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
    #[serde(default, deserialize_with = "crate::pages::notice::lenient")]
    notice: Option<Notice>,
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
            "tenancy/customers",
            form.notice,
            crate::pages::merge(
                ctx,
                json!({
                    "customers": page.items.into_iter().map(|c| json_of(CustomerView::from(c))).collect::<Vec<_>>(),
                    "next_page": page.next_cursor.map(|c| form.with("cursor", &c)),
                }),
            ),
        ),
        Err(e) => portal.error(
            &state,
            "tenancy/customers",
            crate::pages::merge(ctx, json!({ "customers": [] })),
            &e,
        ),
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
    portal.render(&state, "tenancy/customer_new", json!({ "form": form }))
}

#[handler]
async fn create(portal: Portal, state: Data<&AppState>, Form(form): Form<CustomerForm>) -> poem::Result<Response> {
    let shown = json!({ "form": &form });
    let mut conn = db(&state).await?;
    Ok(
        match customers::create(&mut conn, &state.ctx, &portal.actor, form.into()).await {
            Ok(c) => noticed(&format!("/organizations/{}", c.id), Notice::CustomerAdded),
            Err(e) => portal.error(&state, "tenancy/customer_new", shown, &e),
        },
    )
}

#[handler]
async fn my_account(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match customers::my_account(&mut conn, &portal.actor).await {
        Ok(account) => portal.render(
            &state,
            "tenancy/my_account",
            json!({
                "account": json_of(crate::api::tenancy::organizations::OrganizationView::from(account.organization)),
                "used": account.seats_used,
                "total": account.seats_total,
            }),
        ),
        Err(e) => portal.failed(&state, "My account", &e),
    })
}
