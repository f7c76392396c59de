//! The tabs of an organization's page, shared by the areas whose tabs they are: the
//! heading (the organization as the caller may see it, and the tabs they may open) and
//! one tab's page and form answers.

use crate::pages::notice::{Notice, noticed};
use partnerdesk_core::{
    Error as CoreError, platform::authz::Permission, platform::db::PooledConn, tenancy::customers,
    tenancy::organizations,
};
use poem::Response;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::context::{View, with};
use super::portal::Portal;
use crate::{api::tenancy::customers::CustomerView, state::AppState};

/// The tabs every organization page shows.
/// The tabs an organization page shows, with the permission each needs. In its own
/// organization a person sees the tabs they hold the permission for; a partner sees
/// every tab of its customer but the customer's own matters (what the customer granted
/// decides the rest, and a refusal says so).
const TABS: &[(&str, &str, Permission)] = &[
    ("", "Details", Permission::ViewOrganization),
    ("/users", "Users", Permission::ViewUsers),
    ("/modules", "Modules", Permission::ManageLicences),
    ("/orders", "Orders", Permission::ManageLicences),
    ("/settings", "Settings", Permission::EditCompanySettings),
    ("/profiles", "Clone profiles", Permission::EditUsers),
    ("/integrations", "Integrations", Permission::ManageIntegrations),
    (
        "/service-provider",
        "Service provider",
        Permission::ManageServiceProvider,
    ),
    ("/members", "Members", Permission::ManageMembers),
    ("/audit", "Audit log", Permission::ViewAudit),
];

/// The organization a tab is about, as the caller may see it: a partner sees its
/// customer (with its own fields: rate, debtor number, type), anyone else the
/// organization's details. Another partner's customer is "not found".
pub(crate) async fn heading(conn: &mut PooledConn, portal: &Portal, id: Uuid, tab: &str) -> Result<Heading, CoreError> {
    let own = portal.org() == Some(id);
    let customer = if own {
        None
    } else {
        customers::get(conn, &portal.actor, id).await.ok()
    };
    let (name, customer) = match customer {
        Some(c) => (c.name.clone(), Some(View(CustomerView::from(c)))),
        None => (organizations::get(conn, &portal.actor, id).await?.name, None),
    };
    let tabs: Vec<TabLink> = TABS
        .iter()
        .filter(|(path, _, needs)| {
            *path == tab
                || if own {
                    portal.holds(*needs)
                } else {
                    !matches!(*path, "/service-provider" | "/members")
                }
        })
        .map(|(path, label, _)| TabLink {
            href: format!("/organizations/{id}{path}"),
            label,
            active: *path == tab,
        })
        .collect();
    let labels = Permission::DELEGABLE
        .iter()
        .map(|p| (p.as_str(), permission_label(*p)))
        .collect();
    let org = Org {
        id,
        name,
        own,
        customer,
        labels,
    };
    Ok(Heading { org, tabs })
}

/// The heading of an organization's page: the organization and its tabs.
#[derive(Serialize)]
pub(crate) struct Heading {
    org: Org,
    tabs: Vec<TabLink>,
}

/// The organization a tab is about: its partner's view of it when the caller is its
/// partner (`customer`), and the delegable permissions in plain words.
#[derive(Serialize)]
struct Org {
    id: Uuid,
    name: String,
    own: bool,
    customer: Option<View<CustomerView>>,
    labels: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
struct TabLink {
    href: String,
    label: &'static str,
    active: bool,
}

/// One tab of an organization's page, as the person on the page sees it.
pub(crate) struct Tab<'a> {
    portal: &'a Portal,
    state: &'a AppState,
    id: Uuid,
    /// The tab's path under `/organizations/{id}`, and its template.
    page: (&'static str, &'static str),
}

impl<'a> Tab<'a> {
    pub(crate) fn new(portal: &'a Portal, state: &'a AppState, id: Uuid, page: (&'static str, &'static str)) -> Self {
        Tab {
            portal,
            state,
            id,
            page,
        }
    }

    /// The tab: its heading, then what was loaded, or the error in the layout.
    pub(crate) async fn show(
        &self,
        conn: &mut PooledConn,
        notice: Option<Notice>,
        loaded: Result<impl Serialize, CoreError>,
    ) -> Response {
        let (portal, state, (path, name)) = (self.portal, self.state, self.page);
        match (heading(conn, portal, self.id, path).await, loaded) {
            (Ok(head), Ok(ctx)) => portal.render_noticed(state, name, notice, with(head, ctx)),
            (Ok(head), Err(e)) => portal.error(state, name, head, &e),
            (Err(e), _) => portal.failed(state, "Organization", &e),
        }
    }

    /// The answer to the tab's form: back to the tab with a notice, or the tab again
    /// with the error (field messages next to the fields) and `shown`.
    pub(crate) async fn answer(
        &self,
        conn: &mut PooledConn,
        result: Result<Notice, (CoreError, impl Serialize)>,
    ) -> Response {
        let (portal, state, (path, name)) = (self.portal, self.state, self.page);
        match result {
            Ok(notice) => noticed(&format!("/organizations/{}{path}", self.id), notice),
            Err((e, shown)) => match heading(conn, portal, self.id, path).await {
                Ok(head) => portal.error(state, name, with(head, shown), &e),
                Err(e) => portal.failed(state, "Organization", &e),
            },
        }
    }
}

/// A permission in plain words.
pub(crate) fn permission_label(p: Permission) -> &'static str {
    use Permission::*;
    match p {
        RequestPartnerStatus => "Request partner status",
        ManageMembers => "Manage members and their permissions",
        ViewAudit => "Read the audit log",
        ViewOrganization => "See the organization",
        EditCompanyDetails => "Change company details",
        EditCompanySettings => "Change settings (updates, beta versions)",
        ManageServiceProvider => "Choose or drop the service provider",
        ViewUsers => "See users",
        EditUsers => "Edit users",
        CreateUsers => "Add users one at a time",
        ImportUsers => "Import users from a CSV file",
        ManageIntegrations => "Manage integrations and connectors",
        ManageLicences => "Order licences, credits and trials",
        DownloadSoftware => "Download the software",
        EditCompanyStatus => "Activate or deactivate the company, change its type",
        LoginAsUser => "Log in as one of your users (giving a reason; the user is told)",
        AssignRoles => "Give or take the administrator role",
        ManageCustomers => "Partner: manage customers",
        CreateCustomers => "Partner: create organizations for customers",
        ManagePartnerPortal => "Partner: manage the partner portal",
        VendorSales => "Vendor: sales",
        VendorFinance => "Vendor: finance",
        VendorOps => "Vendor: operations",
        VendorAdmin => "Vendor: administration",
    }
}
