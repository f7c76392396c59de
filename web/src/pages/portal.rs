//! The logged-in portal's frame: who is calling (from the session cookie), the
//! organization they act as, the navigation their permissions there allow, and the
//! organization switcher; and the start page. Every portal page takes a [`Portal`] and
//! renders through it.

use crate::pages::notice::Notice;
use partnerdesk_core::{
    Error as CoreError,
    delegation::sessions::{self, DelegatedSession},
    identity::accounts::{self, MembershipSummary, Principal},
    platform::authz::{self, Actor, Permission},
};
use poem::{
    FromRequest, Request, RequestBody, Response, Route, get, handler,
    http::StatusCode,
    web::{Data, Query},
};
use serde::Serialize;
use uuid::Uuid;

use super::context::{Message, Shown, View, views, with};
use super::{NoticeQuery, SsoButton, db, page, redirect, unavailable};
use crate::api::identity::auth::PendingInvitationView;
use crate::{auth, error::status_of, state::AppState};
use partnerdesk_core::tenancy::memberships;

pub(super) fn routes(route: Route) -> Route {
    route.at("/", get(home))
}

/// The start page: a greeting, and the invitations waiting for the person's answer.
#[handler]
async fn home(portal: Portal, state: Data<&AppState>, Query(q): Query<NoticeQuery>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    // Logged in as someone else: not their invitations.
    let pending = match portal.personal() {
        Ok(_) => memberships::pending_for(&mut conn, portal.user.id).await,
        Err(_) => Ok(Vec::new()),
    };
    Ok(match pending {
        Ok(pending) => portal.render_noticed(
            &state,
            "home",
            q.notice,
            Home {
                pending: views(pending),
            },
        ),
        Err(e) => portal.failed(&state, "Home", &e),
    })
}

/// The start page.
#[derive(Serialize)]
struct Home {
    pending: View<Vec<PendingInvitationView>>,
}

/// A logged-in person on a portal page.
pub struct Portal {
    pub principal: Principal,
    pub actor: Actor,
    /// The person whose view this is: the impersonated user while logged in as one.
    pub user: accounts::User,
    pub memberships: Vec<MembershipSummary>,
    /// While logged in as a customer's user: what the customer grants the partner (the
    /// view holds no more than that).
    granted: Option<Vec<Permission>>,
    /// The delegated session the page runs in (the banner).
    pub delegated: Option<DelegatedSession>,
    /// The page's path, to mark the navigation entry.
    path: String,
}

impl<'a> FromRequest<'a> for Portal {
    /// Without a valid session the browser is sent to log in, and back here after.
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req.data::<AppState>().expect("AppState is attached to every route");
        let Ok(mut conn) = state.conn().await else {
            return Err(poem::Error::from_response(unavailable(state)));
        };
        let to_login = || poem::Error::from_response(redirect(&login_path(req)));
        let raw = auth::session_cookie(req).ok_or_else(to_login)?;
        match Portal::load(&mut conn, state, &raw, req.uri().path()).await {
            Ok(Some(portal)) => Ok(portal),
            Ok(None) => Err(to_login()),
            Err(e) => Err(poem::Error::from_response(super::error_page(
                state,
                "message",
                Message::titled("Error"),
                &e,
            ))),
        }
    }
}

impl Portal {
    /// The person of a session token, at `path`; `None` when the session is not valid.
    pub(crate) async fn load(
        conn: &mut partnerdesk_core::platform::db::PooledConn,
        state: &AppState,
        raw: &str,
        path: &str,
    ) -> Result<Option<Portal>, CoreError> {
        let Ok(principal) = partnerdesk_core::identity::sessions::resolve_session(conn, &state.ctx, raw, None).await
        else {
            return Ok(None);
        };
        let conn = &mut **conn;
        let loaded = async {
            let actor = principal.actor(conn, &state.ctx, None).await?;
            let user = accounts::get_user(conn, actor.user_id).await?;
            let mut memberships = accounts::memberships_of(conn, actor.user_id).await?;
            let granted = match (&actor.impersonator, &actor.delegation) {
                (Some(_), Some(d)) => {
                    memberships.retain(|m| m.organization_id == d.customer_id);
                    let granted = authz::granted_to(conn, actor.now, d.partner_id.into(), d.customer_id.into()).await?;
                    Some(granted.map(|(_, g)| g).unwrap_or_default())
                }
                _ => None,
            };
            let delegated = sessions::current(conn, &actor).await?;
            Ok::<_, CoreError>((actor, user, memberships, granted, delegated))
        };
        let (actor, user, memberships, granted, delegated) = loaded.await?;
        Ok(Some(Portal {
            principal,
            actor,
            user,
            memberships,
            granted,
            delegated,
            path: path.to_owned(),
        }))
    }
}

/// `/login?next=<this page>`.
fn login_path(req: &Request) -> String {
    let here = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    format!("/login?next={next}")
}

/// One navigation entry: label, address, shown when the permission is held in the
/// acting organization.
struct Entry {
    label: &'static str,
    href: String,
    needs: Permission,
}

impl Portal {
    /// The organization the person acts as.
    pub fn org(&self) -> Option<Uuid> {
        self.actor.acting_org
    }

    fn current(&self) -> Option<&MembershipSummary> {
        let org = self.org()?;
        self.memberships.iter().find(|m| m.organization_id == org)
    }

    /// Whether the person holds the permission in the organization they act as (logged
    /// in as a customer's user: only as far as the customer grants the partner).
    pub fn holds(&self, perm: Permission) -> bool {
        let within_grants = match &self.granted {
            Some(granted) => {
                matches!(perm, Permission::ViewOrganization | Permission::DownloadSoftware) || granted.contains(&perm)
            }
            None => true,
        };
        within_grants && self.current().is_some_and(|m| m.permissions.contains(&perm))
    }

    /// The person's own account pages (profile, password, tokens, organizations):
    /// refused while logged in as someone else.
    pub fn personal(&self) -> Result<Uuid, CoreError> {
        self.principal.personal()
    }

    /// The navigation, by section, of what the person may do where they act: the
    /// partner's work, the company's own pages, the vendor's desks.
    fn nav(&self) -> Vec<NavSection> {
        use Permission::*;
        let org = self.org().map(|o| o.to_string()).unwrap_or_default();
        let at = |tab: &str| format!("/organizations/{org}{tab}");
        let e = |label, href: String, needs| Entry { label, href, needs };
        let sections = [
            (
                "Partner",
                vec![
                    e("My customers", "/customers".into(), ManageCustomers),
                    e("Trials", "/trials".into(), ManageCustomers),
                    e("Create organization", "/invitations/new".into(), CreateCustomers),
                    e("Invitations", "/invitations".into(), CreateCustomers),
                    e("My account", "/my-account".into(), ManagePartnerPortal),
                    e("Dashboard", "/dashboard".into(), ManagePartnerPortal),
                    e("Commissions", "/commissions".into(), ManagePartnerPortal),
                    e("Payouts", "/payouts".into(), ManagePartnerPortal),
                    e("Affiliate link", "/affiliate".into(), ManagePartnerPortal),
                    e("Billing files", "/billing".into(), ManagePartnerPortal),
                ],
            ),
            (
                "Company",
                vec![
                    e("Company", at(""), EditCompanyDetails),
                    e("Users", at("/users"), ViewUsers),
                    e("Modules", at("/modules"), ManageLicences),
                    e("Orders", at("/orders"), ManageLicences),
                    e("Settings", at("/settings"), EditCompanySettings),
                    e("Integrations", at("/integrations"), ManageIntegrations),
                    e("Service provider", at("/service-provider"), ManageServiceProvider),
                    e("Members", at("/members"), ManageMembers),
                    e("Audit log", at("/audit"), ViewAudit),
                    e("Become a partner", "/partner-request".into(), RequestPartnerStatus),
                    e("Software", "/software".into(), DownloadSoftware),
                ],
            ),
            (
                "Vendor",
                vec![
                    e("Partner requests", "/vendor/requests".into(), VendorSales),
                    e("Partners", "/vendor/partners".into(), VendorSales),
                    e("Invoices", "/vendor/invoices".into(), VendorFinance),
                    e("Commission payouts", "/vendor/payouts".into(), VendorFinance),
                    e("Billing files", "/billing".into(), VendorFinance),
                    e("Job queue", "/vendor/queues".into(), VendorOps),
                    e("Modules", "/vendor/modules".into(), VendorAdmin),
                    e("Releases", "/vendor/releases".into(), VendorAdmin),
                ],
            ),
        ];
        let mut out: Vec<NavSection> = sections
            .into_iter()
            .filter_map(|(title, entries)| {
                let items: Vec<NavItem> = entries
                    .into_iter()
                    .filter(|entry| self.holds(entry.needs))
                    .map(|entry| self.item(entry.label, entry.href))
                    .collect();
                (!items.is_empty()).then_some(NavSection { title, items })
            })
            .collect();
        if self.granted.is_none() {
            out.push(NavSection {
                title: "Account",
                items: vec![
                    self.item("Profile", "/profile".into()),
                    self.item("Organizations", "/organizations".into()),
                    self.item("API tokens", "/tokens".into()),
                ],
            });
        }
        out
    }

    fn item(&self, label: &'static str, href: String) -> NavItem {
        // Pages reached from an entry that live under another address.
        const ALSO: &[(&str, &str)] = &[("/vendor/queues", "/vendor/jobs")];
        let under = |prefix: &str| self.path == prefix || self.path.starts_with(&format!("{prefix}/"));
        let active = self.path == href
            || (href != "/" && under(&href))
            || ALSO.iter().any(|(entry, also)| *entry == href && under(also));
        NavItem { label, href, active }
    }

    /// What every portal page shows around its content.
    fn frame<'s>(&'s self, state: &'s AppState) -> Frame<'s> {
        let me = &self.user;
        Frame {
            me: Me {
                first_name: &me.first_name,
                last_name: &me.last_name,
                email: &me.email,
            },
            nav: self.nav(),
            organization: self.current().map(|m| Acting {
                id: m.organization_id,
                name: &m.organization_name,
                role: m.role.as_str(),
            }),
            organizations: self
                .memberships
                .iter()
                .map(|m| Switch {
                    id: m.organization_id,
                    name: &m.organization_name,
                    current: Some(m.organization_id) == self.org(),
                })
                .collect(),
            path: &self.path,
            lang: crate::i18n::supported(&self.user.language),
            sso_needed: self.sso_needed(),
            sso_providers: super::sso_providers(state),
            delegated: self.delegated.as_ref().map(|d| Banner {
                id: d.id,
                kind: d.kind.as_str(),
                customer_id: d.customer_id,
                customer_name: &d.customer_name,
                impersonated_name: d.impersonated_name.as_deref(),
                staff_name: &d.staff_name,
                minutes_left: (d.expires_at - self.actor.now).num_minutes().max(0) + 1,
            }),
        }
    }

    /// Organizations of the person that require single sign-on, when this session was
    /// opened with a password (the portal acts for none of them).
    fn sso_needed(&self) -> Vec<&str> {
        if self.delegated.is_some()
            || matches!(
                self.principal.credential,
                accounts::Credential::Session { sso: true, .. }
            )
        {
            return Vec::new();
        }
        self.memberships
            .iter()
            .filter(|m| m.require_sso)
            .map(|m| m.organization_name.as_str())
            .collect()
    }

    /// A portal page in the layout.
    pub fn render(&self, state: &AppState, name: &str, ctx: impl Serialize) -> Response {
        self.render_status(state, StatusCode::OK, name, ctx)
    }

    pub fn render_status(&self, state: &AppState, status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
        page(state, status, name, with(ctx, self.frame(state)))
    }

    /// A page with the notice its address names (`?notice=`), if any.
    pub fn render_noticed(
        &self,
        state: &AppState,
        name: &str,
        notice: Option<Notice>,
        ctx: impl Serialize,
    ) -> Response {
        let notice = notice.map(Notice::text);
        self.render(state, name, with(ctx, Noticed { notice }))
    }

    /// The form page again with the service's error: field messages next to the
    /// fields, anything else above the form.
    pub fn error(&self, state: &AppState, name: &str, ctx: impl Serialize, err: &CoreError) -> Response {
        self.render_status(state, status_of(err), name, with(ctx, Shown::of(err)))
    }

    /// A page in the layout that says what went wrong.
    pub fn failed(&self, state: &AppState, title: &'static str, err: &CoreError) -> Response {
        self.error(state, "message", Message::titled(title), err)
    }
}

/// A notice above a page's content.
#[derive(Serialize)]
struct Noticed {
    notice: Option<&'static str>,
}

/// What every portal page shows around its content: the person, the navigation, the
/// organization switcher and the banner of a delegated session.
#[derive(Serialize)]
struct Frame<'a> {
    me: Me<'a>,
    nav: Vec<NavSection>,
    organization: Option<Acting<'a>>,
    organizations: Vec<Switch<'a>>,
    path: &'a str,
    lang: &'static str,
    sso_needed: Vec<&'a str>,
    sso_providers: Vec<SsoButton<'a>>,
    delegated: Option<Banner<'a>>,
}

#[derive(Serialize)]
struct Me<'a> {
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
}

/// A section of the navigation and its entries.
#[derive(Serialize)]
struct NavSection {
    title: &'static str,
    items: Vec<NavItem>,
}

#[derive(Serialize)]
struct NavItem {
    label: &'static str,
    href: String,
    active: bool,
}

/// The organization the person acts as.
#[derive(Serialize)]
struct Acting<'a> {
    id: Uuid,
    name: &'a str,
    role: &'static str,
}

/// An organization in the switcher.
#[derive(Serialize)]
struct Switch<'a> {
    id: Uuid,
    name: &'a str,
    current: bool,
}

/// The banner of a delegated session: whose organization, as whom, how long is left.
#[derive(Serialize)]
struct Banner<'a> {
    id: Uuid,
    kind: &'static str,
    customer_id: Uuid,
    customer_name: &'a str,
    impersonated_name: Option<&'a str>,
    staff_name: &'a str,
    minutes_left: i64,
}
