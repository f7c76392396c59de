//! A partner's customers: the list (search, sort, pages), adding one, and a customer's
//! view of its own account with its partner.

use partnerdesk_core::{
    platform::domain::DEFAULT_PAGE, tenancy::customers, tenancy::customers::CustomerInput,
    tenancy::customers::ListQuery, tenancy::customers::SortKey, tenancy::customers::StatusFilter,
};
use poem::{Response, Route, get, handler, web::Data, web::Form, web::Query};
use serde::{Deserialize, Serialize};

use crate::api::tenancy::{customers::CustomerView, organizations::OrganizationView};
use crate::pages::context::{Typed, View, views};
use crate::pages::{db, filled, notice::Notice, notice::noticed, portal::Portal, reads};
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

/// The customers the list can show, in the order the filter offers them.
const STATUSES: [StatusFilter; 3] = [StatusFilter::Active, StatusFilter::Inactive, StatusFilter::Both];

/// Which customers the list shows: the value the address carries, and its label.
fn status_choice(status: StatusFilter) -> (&'static str, &'static str) {
    match status {
        StatusFilter::Active => ("active", "Active"),
        StatusFilter::Inactive => ("inactive", "Non-active"),
        StatusFilter::Both => ("both", "Both"),
    }
}

/// The orders the list can be sorted in, as the select offers them.
const SORTS: [SortKey; 3] = [SortKey::Name, SortKey::Created, SortKey::Expiry];

/// What the list is sorted by: the value the address carries, and its label.
fn sort_choice(sort: SortKey) -> (&'static str, &'static str) {
    match sort {
        SortKey::Name => ("name", "Company"),
        SortKey::Created => ("created", "Created"),
        SortKey::Expiry => ("expiry", "Coming expiry"),
    }
}

impl ListForm {
    fn query(&self) -> ListQuery {
        let status = self.status.as_deref();
        let sort = self.sort.as_deref();
        ListQuery {
            status: STATUSES
                .into_iter()
                .find(|s| Some(status_choice(*s).0) == status)
                .unwrap_or_default(),
            search: filled(self.q.clone()),
            sort: SORTS
                .into_iter()
                .find(|s| Some(sort_choice(*s).0) == sort)
                .unwrap_or_default(),
            descending: self.dir.as_deref() == Some("desc"),
            limit: DEFAULT_PAGE,
            cursor: filled(self.cursor.clone()),
        }
    }

    /// The address of this list with one parameter changed (and the page reset).
    fn with(&self, key: &str, value: &str) -> String {
        self.with_all(&[(key, value)])
    }

    /// The address of this list with some parameters changed, each named once.
    fn with_all(&self, changed: &[(&str, &str)]) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("q", &self.q),
            ("sort", &self.sort),
            ("dir", &self.dir),
        ] {
            match (changed.iter().find(|(c, _)| *c == k), v) {
                (Some((_, value)), _) => pairs.append_pair(k, value),
                (None, Some(v)) if !v.is_empty() => pairs.append_pair(k, v),
                _ => &mut pairs,
            };
        }
        if let Some((_, cursor)) = changed.iter().find(|(c, _)| *c == "cursor") {
            pairs.append_pair("cursor", cursor);
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
        self.with_all(&[("sort", key), ("dir", dir)])
    }
}

/// A partner's customers: the filters as given and the choices they offer, the column
/// headings' links, one page of customers and the address of the next.
#[derive(Serialize)]
struct CustomersPage<'a> {
    filter: &'a ListForm,
    statuses: Vec<(&'static str, &'static str)>,
    sorts: Vec<(&'static str, &'static str)>,
    sort_links: SortLinks,
    can_add: bool,
    customers: View<Vec<CustomerView>>,
    next_page: Option<String>,
}

/// The sortable column headings' links.
#[derive(Serialize)]
struct SortLinks {
    name: String,
    created: String,
    expiry: String,
}

#[handler]
async fn list(portal: Portal, state: Data<&AppState>, Query(form): Query<ListForm>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let result = customers::list(&mut conn, &portal.actor, form.query()).await;
    let (customers, next_page, failed) = match result {
        Ok(page) => (
            views(page.items),
            page.next_cursor.map(|c| form.with("cursor", &c)),
            None,
        ),
        Err(e) => (View(Vec::new()), None, Some(e)),
    };
    let ctx = CustomersPage {
        filter: &form,
        statuses: STATUSES.into_iter().map(status_choice).collect(),
        sorts: SORTS.into_iter().map(sort_choice).collect(),
        sort_links: SortLinks {
            name: form.sort_link("name"),
            created: form.sort_link("created"),
            expiry: form.sort_link("expiry"),
        },
        can_add: portal.holds(partnerdesk_core::platform::authz::Permission::CreateCustomers),
        customers,
        next_page,
    };
    Ok(match failed {
        None => portal.render_noticed(&state, "tenancy/customers", form.notice, ctx),
        Some(e) => portal.error(&state, "tenancy/customers", ctx, &e),
    })
}

/// The add-customer form as typed; shown again with the messages when refused.
#[derive(Deserialize, Serialize, Default, Clone)]
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
    portal.render(&state, "tenancy/customer_new", Typed { form })
}

#[handler]
async fn create(portal: Portal, state: Data<&AppState>, Form(form): Form<CustomerForm>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(
        match customers::create(&mut conn, &state.ctx, &portal.actor, form.clone().into()).await {
            Ok(c) => noticed(&format!("/organizations/{}", c.id), Notice::CustomerAdded),
            Err(e) => portal.error(&state, "tenancy/customer_new", Typed { form: &form }, &e),
        },
    )
}

/// A customer's own account: its organization and the user licences in use of all.
#[derive(Serialize)]
struct MyAccountPage {
    account: View<OrganizationView>,
    used: i64,
    total: i64,
}

#[handler]
async fn my_account(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match customers::my_account(&mut conn, &portal.actor).await {
        Ok(account) => {
            let ctx = MyAccountPage {
                account: View(account.organization.into()),
                used: account.seats_used,
                total: account.seats_total,
            };
            portal.render(&state, "tenancy/my_account", ctx)
        }
        Err(e) => portal.failed(&state, "My account", &e),
    })
}
