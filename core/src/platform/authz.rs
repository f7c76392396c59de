//! The one authorization function.
//!
//! Every service calls [`authorize`] with the acting user, the organization the user acts
//! as, the organization the action is about, and the permission it needs. The answer
//! covers the three ways one may act on an organization:
//!
//! * **own**: the target is the acting organization; the membership's role or
//!   permissions decide.
//! * **vendor**: the acting organization is the vendor; vendor staff roles decide.
//! * **service provider**: the acting organization is the target's partner; the staff
//!   member's partner permissions decide, and for anything inside the customer's
//!   organization the customer's grant must include the permission too. A management
//!   session is nothing more than a partner user acting with the customer as target, so
//!   it needs no separate code path.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Error, Result,
    platform::ids::{OrgId, UserId},
    platform::values::CustomerOrigin,
    schema,
};

crate::text_enum! {
    /// What a member may do. The names are the API's and the database's.
    pub enum Permission {
        RequestPartnerStatus = "request_partner_status",
        ManageMembers = "manage_members",
        ViewAudit = "view_audit",
        ViewOrganization = "view_organization",
        EditCompanyDetails = "edit_company_details",
        EditCompanySettings = "edit_company_settings",
        ManageServiceProvider = "manage_service_provider",
        ViewUsers = "view_users",
        EditUsers = "edit_users",
        CreateUsers = "create_users",
        ImportUsers = "import_users",
        ManageIntegrations = "manage_integrations",
        ManageLicences = "manage_licences",
        DownloadSoftware = "download_software",
        /// Activate or deactivate the organization and change its customer type (a
        /// partner holds it for customers it created, or when the customer granted it).
        EditCompanyStatus = "edit_company_status",
        /// Log in as one of the organization's users (only ever granted to a partner).
        LoginAsUser = "login_as_user",
        /// Give or take the Administrator role or the company-administrator flag, or
        /// change an administrator. Only administrators hold it; it cannot be given.
        AssignRoles = "assign_roles",
        ManageCustomers = "partner.manage_customers",
        CreateCustomers = "partner.create_customers",
        ManagePartnerPortal = "partner.manage_portal",
        VendorSales = "vendor.sales",
        VendorFinance = "vendor.finance",
        VendorOps = "vendor.ops",
        VendorAdmin = "vendor.admin",
    }
}

use Permission::*;

impl Permission {
    /// Permissions a partner may hold inside a customer's organization, if granted.
    pub const DELEGABLE: &'static [Permission] = &[
        EditCompanyDetails,
        EditCompanySettings,
        ViewUsers,
        EditUsers,
        CreateUsers,
        ImportUsers,
        ManageIntegrations,
        ManageLicences,
        ViewAudit,
        EditCompanyStatus,
        LoginAsUser,
    ];

    /// A permission that can be given to a member or granted to a partner: any but
    /// `assign_roles`, which only administrators hold.
    pub fn parse_grantable(raw: &str) -> Option<Permission> {
        Permission::parse(raw).filter(|p| *p != AssignRoles)
    }

    /// What an inactive organization cannot do: buy or manage licences and trials, and
    /// its members cannot download the software.
    pub fn blocked_when_inactive(&self) -> bool {
        matches!(self, ManageLicences | DownloadSoftware)
    }

    pub fn is_vendor_role(&self) -> bool {
        matches!(self, VendorSales | VendorFinance | VendorOps | VendorAdmin)
    }

    pub fn is_partner_group(&self) -> bool {
        matches!(self, ManageCustomers | CreateCustomers | ManagePartnerPortal)
    }

    pub fn is_delegable(&self) -> bool {
        Permission::DELEGABLE.contains(self)
    }

    /// Permissions this one includes: "manage partner portal" includes "create
    /// organizations for customers", which includes "manage customers"; the vendor admin
    /// role includes the other vendor roles.
    fn implied(&self) -> &'static [Permission] {
        match self {
            ManagePartnerPortal => &[CreateCustomers, ManageCustomers],
            CreateCustomers => &[ManageCustomers],
            VendorAdmin => &[VendorSales, VendorFinance, VendorOps],
            _ => &[],
        }
    }
}

/// Parses stored permission names, ignoring unknown ones.
pub fn parse_permissions(raw: &[Option<String>]) -> Vec<Permission> {
    let mut perms: Vec<Permission> = raw.iter().flatten().filter_map(|p| Permission::parse(p)).collect();
    perms.sort();
    perms.dedup();
    perms
}

pub fn permission_names(perms: &[Permission]) -> Vec<Option<String>> {
    perms.iter().map(|p| Some(p.as_str().to_owned())).collect()
}

crate::text_enum! {
    /// A membership's role.
    ///
    /// * `Administrator`: runs the organization (the person who created or registered
    ///   it, and whoever they make administrator); holds everything it allows.
    /// * `CompanyAdmin`: the "company administrator" flag a partner sets on a
    ///   customer's user: may see the company's users with status and software version,
    ///   edit names and internal numbers, create users one at a time, and manage
    ///   connectors and integrations; nothing else.
    /// * `Member`: only the permissions given explicitly, plus downloading the software.
    pub enum Role {
        Administrator = "administrator",
        CompanyAdmin = "company_admin",
        Member = "member",
    }
}

impl Role {
    pub fn from_db(raw: &str) -> Role {
        Role::parse(raw).unwrap_or(Role::Member)
    }
}

crate::text_enum! {
    /// What a delegated session lets its partner staff member do.
    pub enum DelegationKind {
        /// Act inside the customer with the customer's grants.
        Manage = "manage",
        /// See and act as one of the customer's users, within the grants.
        LoginAs = "login_as",
    }
}

/// An open delegated session (see `delegation`), as an actor carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub id: Uuid,
    pub kind: DelegationKind,
    /// The partner's staff member who is really acting.
    pub staff_user_id: Uuid,
    pub partner_id: Uuid,
    pub customer_id: Uuid,
    pub impersonated_user_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// Who is acting: the authenticated user and the organization they act as, at the
/// moment of the request.
///
/// In a management session the user is the partner's staff member acting as the
/// partner; logged in as a customer's user, the user is that user acting as the
/// customer and `impersonator` the staff member. Either way `delegation` is the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    /// `None` when the account has no organization at all.
    pub acting_org: Option<Uuid>,
    /// Set during "login as": the partner user who is really acting.
    pub impersonator: Option<Uuid>,
    pub delegation: Option<Delegation>,
    /// The request's time (grants that have ended no longer count).
    pub now: DateTime<Utc>,
    /// What was decided for this actor in this request, reused instead of re-queried.
    cache: Decisions,
}

impl Actor {
    pub fn new(user_id: UserId, acting_org: Option<OrgId>, now: DateTime<Utc>) -> Self {
        Self {
            user_id: user_id.uuid(),
            acting_org: acting_org.map(OrgId::uuid),
            impersonator: None,
            delegation: None,
            now,
            cache: Decisions::default(),
        }
    }

    /// The actor of a member acting in the organization whose standing was read with the
    /// credential: authorizing it there needs no further query.
    pub fn standing_in(user_id: Uuid, standing: &Standing, now: DateTime<Utc>) -> Self {
        let actor = Actor::new(user_id.into(), Some(standing.organization_id.into()), now);
        {
            let mut known = actor.cache.lock();
            known.grants = Some(Some(standing.grants.clone()));
            known.kinds.insert(standing.organization_id, standing.kind);
        }
        actor
    }

    /// The actor of a delegated session: the staff member as the partner (management),
    /// or the impersonated user as the customer (login as).
    pub fn delegated(delegation: Delegation, now: DateTime<Utc>) -> Self {
        let (user_id, acting_org, impersonator) = match delegation.impersonated_user_id {
            Some(user) => (user, delegation.customer_id, Some(delegation.staff_user_id)),
            None => (delegation.staff_user_id, delegation.partner_id, None),
        };
        Self {
            user_id,
            acting_org: Some(acting_org),
            impersonator,
            delegation: Some(delegation),
            now,
            cache: Decisions::default(),
        }
    }
}

/// Authorization decisions of one request: the actor's grants in its organization and
/// the accesses already granted. An actor lives for one request, so nothing goes stale.
#[derive(Clone, Default)]
struct Decisions(Arc<Mutex<DecisionsInner>>);

#[derive(Default)]
struct DecisionsInner {
    grants: Option<Option<Grants>>,
    kinds: HashMap<Uuid, OrgKind>,
    granted: HashMap<(Uuid, Permission), Access>,
}

impl Decisions {
    fn lock(&self) -> std::sync::MutexGuard<'_, DecisionsInner> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PartialEq for Decisions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Decisions {}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decisions")
    }
}

/// How access was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Own,
    Vendor,
    ServiceProvider,
}

/// A granted access: the capability a read or a change needs, and the identities the
/// audit log records. Only [`authorize`] makes one (its fields are private), so a query
/// that takes an `Access` cannot be called without authorization; it reads the
/// organization the access was granted on, never an id the caller passes beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    user_id: Uuid,
    acting_org: Uuid,
    target_org: Uuid,
    impersonator: Option<Uuid>,
    via: Via,
    delegated: Option<(Uuid, Uuid)>,
    permission: Permission,
}

impl Access {
    /// The person acting (the partner's staff member during "login as" is the
    /// [`impersonator`](Self::impersonator)).
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The organization the person acts as.
    pub fn acting_org(&self) -> Uuid {
        self.acting_org
    }

    /// The organization the access was granted on: what a read reads.
    pub fn org(&self) -> Uuid {
        self.target_org
    }

    /// During "login as": the partner's staff member who is really acting.
    pub fn impersonator(&self) -> Option<Uuid> {
        self.impersonator
    }

    /// How the access was granted.
    pub fn via(&self) -> Via {
        self.via
    }

    /// The delegated session the access was granted in, when about its customer: the
    /// session's id and the partner organization the real person belongs to.
    pub fn delegated(&self) -> Option<(Uuid, Uuid)> {
        self.delegated
    }

    /// The permission that was checked.
    pub fn permission(&self) -> Permission {
        self.permission
    }
}

/// The permissions a membership holds in its own organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    held: HashSet<Permission>,
}

impl Grants {
    pub fn holds(&self, perm: Permission) -> bool {
        self.held.contains(&perm)
    }

    pub fn to_vec(&self) -> Vec<Permission> {
        let mut v: Vec<Permission> = self.held.iter().copied().collect();
        v.sort();
        v
    }
}

/// Facts about an organization that shape what its members may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgKind {
    pub is_vendor: bool,
    pub is_partner: bool,
}

/// What an accepted, active member holds in one organization, with whether the
/// organization requires single sign-on. `accounts` reads it in the same query as the
/// session or token, so that authorizing the actor in its own organization costs no
/// further query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub organization_id: Uuid,
    pub require_sso: bool,
    pub kind: OrgKind,
    pub grants: Grants,
}

impl Standing {
    pub fn new(
        organization_id: Uuid,
        require_sso: bool,
        role: &str,
        permissions: &[Option<String>],
        kind: OrgKind,
    ) -> Self {
        let grants = effective_permissions(Role::from_db(role), &parse_permissions(permissions), kind);
        Standing {
            organization_id,
            require_sso,
            kind,
            grants,
        }
    }
}

/// What a company administrator may do (the Red Cactus list): see the company's users
/// with status and software version, edit names, add internal numbers, create users one
/// at a time, manage connectors and integrations. Not: change company details or
/// settings, buy or assign licences, import users in bulk.
pub const COMPANY_ADMIN: &[Permission] = &[
    ViewOrganization,
    DownloadSoftware,
    ViewUsers,
    EditUsers,
    CreateUsers,
    ManageIntegrations,
];

/// The most a member of this kind of organization can hold: what its administrators hold.
fn ceiling(kind: OrgKind) -> HashSet<Permission> {
    let mut held: HashSet<Permission> = [
        ViewOrganization,
        DownloadSoftware,
        RequestPartnerStatus,
        ManageMembers,
        ViewAudit,
        ManageServiceProvider,
        ViewUsers,
        EditUsers,
        CreateUsers,
        ImportUsers,
        ManageIntegrations,
        EditCompanyDetails,
        EditCompanySettings,
        ManageLicences,
    ]
    .into_iter()
    .collect();
    if kind.is_partner {
        held.extend([ManagePartnerPortal, CreateCustomers, ManageCustomers]);
    }
    if kind.is_vendor {
        held.extend([VendorAdmin, VendorSales, VendorFinance, VendorOps]);
    }
    held
}

/// Effective permissions of a membership: administrators hold the ceiling, members the
/// permissions they were given within it, everyone the basics.
pub fn effective_permissions(role: Role, explicit: &[Permission], kind: OrgKind) -> Grants {
    let ceiling = ceiling(kind);
    let mut held: HashSet<Permission> = match role {
        Role::Administrator => {
            let mut all = ceiling.clone();
            all.insert(AssignRoles);
            all
        }
        Role::CompanyAdmin => COMPANY_ADMIN.iter().copied().collect(),
        Role::Member => explicit.iter().copied().filter(|p| ceiling.contains(p)).collect(),
    };
    held.insert(ViewOrganization);
    held.insert(DownloadSoftware);
    let implied: Vec<Permission> = held.iter().flat_map(|p| p.implied().iter().copied()).collect();
    held.extend(implied);
    // The vendor's administrators run the vendor organization.
    if kind.is_vendor && held.contains(&VendorAdmin) {
        held.insert(AssignRoles);
    }
    // Partner staff with full portal access manage their own account ("My account") the
    // way a partner manages a customer.
    if kind.is_partner && held.contains(&ManagePartnerPortal) {
        held.extend([
            EditCompanyDetails,
            EditCompanySettings,
            ManageLicences,
            ImportUsers,
            ViewUsers,
            EditUsers,
            CreateUsers,
        ]);
    }
    Grants { held }
}

/// Whether a membership with these grants may hand out `perm` to another member.
pub fn may_grant(grants: &Grants, perm: Permission) -> bool {
    grants.holds(perm)
}

/// What a vendor staff role allows across organizations.
fn vendor_allows(grants: &Grants, perm: Permission) -> bool {
    if grants.holds(VendorAdmin) {
        return true;
    }
    match perm {
        VendorSales | VendorFinance | VendorOps => grants.holds(perm),
        ViewOrganization => grants.holds(VendorSales) || grants.holds(VendorFinance) || grants.holds(VendorOps),
        EditCompanyStatus => grants.holds(VendorSales),
        _ => false,
    }
}

/// A membership as read for authorization.
struct MembershipRow {
    role: String,
    permissions: Vec<Option<String>>,
}

/// The accepted, active membership of an active account: a pending membership grants
/// nothing.
async fn load_membership(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    org_id: OrgId,
) -> Result<Option<MembershipRow>> {
    use schema::{memberships as m, organizations as o, users as u};
    let row = m::table
        .inner_join(o::table)
        .inner_join(u::table.on(u::id.eq(m::user_id)))
        .filter(m::user_id.eq(user_id))
        .filter(m::organization_id.eq(org_id))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .filter(u::active.eq(true))
        .select((m::role, m::permissions))
        .first::<(String, Vec<Option<String>>)>(conn)
        .await
        .optional()?;
    Ok(row.map(|(role, permissions)| MembershipRow { role, permissions }))
}

/// The standing of `user_id` in `org_id`: an accepted, active membership (the account's
/// own state is checked with its credential), in one query.
pub async fn standing(conn: &mut AsyncPgConnection, user_id: UserId, org_id: OrgId) -> Result<Option<Standing>> {
    let (user_id, org_id) = (user_id.uuid(), org_id.uuid());
    use schema::{memberships as m, organizations as o, partners as p};
    type Row = (String, Vec<Option<String>>, bool, bool, Option<Uuid>);
    let row: Option<Row> = m::table
        .inner_join(o::table)
        .left_join(
            p::table.on(p::organization_id
                .eq(m::organization_id)
                .and(p::status.eq(crate::platform::values::PartnerStanding::Active))),
        )
        .filter(m::user_id.eq(user_id))
        .filter(m::organization_id.eq(org_id))
        .filter(m::active.eq(true))
        .filter(m::accepted_at.is_not_null())
        .select((
            m::role,
            m::permissions,
            o::require_sso,
            o::is_vendor,
            p::organization_id.nullable(),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(role, permissions, require_sso, is_vendor, partner)| {
        let kind = OrgKind {
            is_vendor,
            is_partner: partner.is_some(),
        };
        Standing::new(org_id, require_sso, &role, &permissions, kind)
    }))
}

/// The facts of [`OrgKind`] for one organization.
pub async fn org_kind(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<OrgKind> {
    use schema::{organizations as o, partners as p};
    let is_vendor: bool = o::table
        .find(org_id)
        .select(o::is_vendor)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(false);
    let is_partner = p::table
        .filter(p::organization_id.eq(org_id))
        .filter(p::status.eq(crate::platform::values::PartnerStanding::Active))
        .count()
        .get_result::<i64>(conn)
        .await?
        > 0;
    Ok(OrgKind { is_vendor, is_partner })
}

/// The effective permissions of `user_id` in `org_id`, if a member.
pub async fn grants_in(conn: &mut AsyncPgConnection, user_id: UserId, org_id: OrgId) -> Result<Option<Grants>> {
    let (user_id, org_id) = (user_id.uuid(), org_id.uuid());
    let Some(membership) = load_membership(conn, user_id.into(), org_id.into()).await? else {
        return Ok(None);
    };
    let kind = org_kind(conn, org_id).await?;
    let explicit = parse_permissions(&membership.permissions);
    Ok(Some(effective_permissions(
        Role::from_db(&membership.role),
        &explicit,
        kind,
    )))
}

/// The one authorization function. Succeeds with the identities to audit, or fails
/// with `no_organization`, `not_authorized` (an organization the actor is related to:
/// its own, any for vendor staff, a customer for its partner), or `not_found` for an
/// organization the actor has nothing to do with, whether or not it exists. Decisions
/// are reused within the actor's request.
pub async fn authorize(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    target_org: Uuid,
    perm: Permission,
) -> Result<Access> {
    if let Some(access) = actor.cache.lock().granted.get(&(target_org, perm)) {
        return Ok(access.clone());
    }
    let access = decide(conn, actor, target_org, perm).await?;
    actor.cache.lock().granted.insert((target_org, perm), access.clone());
    Ok(access)
}

/// The actor's grants in the organization it acts as, read once per request.
async fn actor_grants(conn: &mut AsyncPgConnection, actor: &Actor, acting_org: Uuid) -> Result<Option<Grants>> {
    if let Some(grants) = actor.cache.lock().grants.clone() {
        return Ok(grants);
    }
    let grants = grants_in(conn, actor.user_id.into(), acting_org.into()).await?;
    actor.cache.lock().grants = Some(grants.clone());
    Ok(grants)
}

/// The kind of the organization the actor acts as, read once per request.
async fn actor_kind(conn: &mut AsyncPgConnection, actor: &Actor, acting_org: Uuid) -> Result<OrgKind> {
    if let Some(kind) = actor.cache.lock().kinds.get(&acting_org) {
        return Ok(*kind);
    }
    let kind = org_kind(conn, acting_org).await?;
    actor.cache.lock().kinds.insert(acting_org, kind);
    Ok(kind)
}

async fn decide(conn: &mut AsyncPgConnection, actor: &Actor, target_org: Uuid, perm: Permission) -> Result<Access> {
    let Some(acting_org) = actor.acting_org else {
        return Err(Error::no_organization());
    };
    let Some(grants) = actor_grants(conn, actor, acting_org).await? else {
        return Err(Error::forbidden());
    };
    let delegated = actor
        .delegation
        .as_ref()
        .filter(|d| d.customer_id == target_org)
        .map(|d| (d.id, d.partner_id));
    let access = |via| Access {
        user_id: actor.user_id,
        acting_org,
        target_org,
        impersonator: actor.impersonator,
        via,
        delegated,
        permission: perm,
    };
    let logged_in_as = actor.delegation.as_ref().filter(|d| d.kind == DelegationKind::LoginAs);

    // `None`: no relation to the target; `Some(None)`: related but not allowed.
    let relation: Option<Option<Via>> = if target_org == acting_org {
        let allowed = grants.holds(perm)
            && match logged_in_as {
                Some(d) => login_as_allows(conn, actor, d, perm).await?,
                None => true,
            };
        Some(allowed.then_some(Via::Own))
    } else if logged_in_as.is_some() {
        // Logged in as a customer's user: nothing outside that customer.
        None
    } else {
        let acting_kind = actor_kind(conn, actor, acting_org).await?;
        if acting_kind.is_vendor {
            // The vendor reaches every organization there is, and none that is not.
            organization_exists(conn, target_org)
                .await?
                .then(|| vendor_allows(&grants, perm).then_some(Via::Vendor))
        } else if acting_kind.is_partner && grants.holds(ManageCustomers) {
            service_provider_allows(conn, actor.now, &grants, acting_org.into(), target_org.into(), perm)
                .await?
                .map(|allowed| allowed.then_some(Via::ServiceProvider))
        } else {
            None
        }
    };
    let via = match relation {
        None => return Err(Error::not_found("organization")),
        Some(None) => return Err(Error::forbidden()),
        Some(Some(via)) => via,
    };
    if perm.blocked_when_inactive() && !organization_active(conn, target_org).await? {
        return Err(Error::conflict(
            "organization_inactive",
            None,
            "The organization is deactivated; activate it first",
        ));
    }
    Ok(access(via))
}

/// The customer's link to a partner serving it: how the customer came, and what it
/// grants the partner now (nothing once the grants' end date has passed). `None` when
/// the partner does not serve the customer.
pub async fn granted_to(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    partner: OrgId,
    customer: OrgId,
) -> Result<Option<(CustomerOrigin, Vec<Permission>)>> {
    use schema::service_provider_links as l;
    type Row = (CustomerOrigin, Vec<Option<String>>, Option<DateTime<Utc>>);
    let link: Option<Row> = l::table
        .filter(l::customer_id.eq(customer))
        .filter(l::partner_id.eq(partner))
        .filter(l::ended_at.is_null())
        .select((l::origin, l::granted_permissions, l::grants_end_at))
        .first(conn)
        .await
        .optional()?;
    Ok(link.map(|(origin, granted, end)| {
        let granted = match end {
            Some(end) if end <= now => Vec::new(),
            _ => parse_permissions(&granted),
        };
        (origin, granted)
    }))
}

/// What a partner's staff member logged in as a customer's user may do: what the user
/// may, as far as the customer grants the partner (seeing the organization and
/// downloading the software aside).
async fn login_as_allows(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    d: &Delegation,
    perm: Permission,
) -> Result<bool> {
    if matches!(perm, ViewOrganization | DownloadSoftware) {
        return Ok(true);
    }
    let granted = granted_to(conn, actor.now, d.partner_id.into(), d.customer_id.into()).await?;
    Ok(granted.is_some_and(|(_, granted)| perm.is_delegable() && perm != LoginAsUser && granted.contains(&perm)))
}

/// What a partner may do inside a customer it serves: the partner group as its staff
/// member holds it; delegable permissions as far as the customer granted them (a
/// partner that created the customer may always change its status); company
/// administrators are set under the "edit users" grant. `None` when the partner does
/// not serve the customer.
async fn service_provider_allows(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    grants: &Grants,
    partner: OrgId,
    customer: OrgId,
    perm: Permission,
) -> Result<Option<bool>> {
    let Some((origin, granted)) = granted_to(conn, now, partner, customer).await? else {
        return Ok(None);
    };
    Ok(Some(match perm {
        ViewOrganization => true,
        p if p.is_partner_group() => grants.holds(p),
        EditCompanyStatus => origin == CustomerOrigin::CreatedByPartner || granted.contains(&EditCompanyStatus),
        AssignRoles => granted.contains(&EditUsers),
        p if p.is_delegable() => granted.contains(&p),
        _ => false,
    }))
}

/// Whether an organization of this id exists.
async fn organization_exists(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<bool> {
    use schema::organizations as o;
    Ok(o::table
        .find(org_id)
        .select(o::id)
        .first::<Uuid>(conn)
        .await
        .optional()?
        .is_some())
}

/// Whether an organization is active (deactivated customers are blocked from what
/// [`Permission::blocked_when_inactive`] lists).
pub(crate) async fn organization_active(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<bool> {
    use schema::organizations as o;
    Ok(o::table
        .find(org_id)
        .select(o::active)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(false))
}

/// The vendor organization's id.
pub async fn vendor_org_id(conn: &mut AsyncPgConnection) -> Result<Uuid> {
    use schema::organizations as o;
    o::table
        .filter(o::is_vendor.eq(true))
        .select(o::id)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::internal("no vendor organization exists; run the seed"))
}

/// Authorizes an action that belongs to the vendor (partner requests, billing, ops).
/// Everyone knows the vendor exists: a caller without the role is refused, not told
/// "not found". Only the vendor's own staff can hold such a role, so the vendor is the
/// organization the actor acts as (no query to find it).
pub async fn authorize_vendor(conn: &mut AsyncPgConnection, actor: &Actor, perm: Permission) -> Result<Access> {
    let Some(acting_org) = actor.acting_org else {
        return Err(Error::no_organization());
    };
    if !actor_kind(conn, actor, acting_org).await?.is_vendor {
        return Err(Error::forbidden());
    }
    authorize(conn, actor, acting_org, perm).await.map_err(|e| match e {
        Error::NotFound { .. } => Error::forbidden(),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOMER: OrgKind = OrgKind {
        is_vendor: false,
        is_partner: false,
    };
    const PARTNER: OrgKind = OrgKind {
        is_vendor: false,
        is_partner: true,
    };
    const VENDOR: OrgKind = OrgKind {
        is_vendor: true,
        is_partner: false,
    };

    #[test]
    fn company_administrator_holds_exactly_the_red_cactus_list() {
        let g = effective_permissions(Role::CompanyAdmin, &[ManageMembers, ImportUsers], CUSTOMER);
        for p in [ViewUsers, EditUsers, CreateUsers, ManageIntegrations, DownloadSoftware] {
            assert!(g.holds(p), "{p:?}");
        }
        for p in [
            EditCompanyDetails,
            EditCompanySettings,
            ManageLicences,
            ImportUsers,
            ManageMembers,
            ManageServiceProvider,
            ViewAudit,
            ManageCustomers,
            VendorAdmin,
        ] {
            assert!(!g.holds(p), "{p:?}");
        }
    }

    #[test]
    fn the_organization_administrator_runs_the_organization() {
        let g = effective_permissions(Role::Administrator, &[], CUSTOMER);
        for p in [
            EditCompanyDetails,
            EditCompanySettings,
            ImportUsers,
            ManageServiceProvider,
            ManageMembers,
            ViewAudit,
        ] {
            assert!(g.holds(p), "{p:?}");
        }
        assert!(!g.holds(ManageCustomers) && !g.holds(VendorSales));
    }

    #[test]
    fn plain_member_sees_only_downloads() {
        let g = effective_permissions(Role::Member, &[], CUSTOMER);
        assert_eq!(g.to_vec(), vec![ViewOrganization, DownloadSoftware]);
    }

    #[test]
    fn partner_permissions_imply_each_other() {
        let g = effective_permissions(Role::Member, &[ManagePartnerPortal], PARTNER);
        assert!(g.holds(CreateCustomers) && g.holds(ManageCustomers));
        let g = effective_permissions(Role::Member, &[CreateCustomers], PARTNER);
        assert!(g.holds(ManageCustomers) && !g.holds(ManagePartnerPortal));
    }

    #[test]
    fn group_permissions_only_count_in_the_right_kind_of_organization() {
        let g = effective_permissions(Role::Member, &[ManageCustomers, VendorSales], CUSTOMER);
        assert!(!g.holds(ManageCustomers) && !g.holds(VendorSales));
        let g = effective_permissions(Role::Member, &[VendorSales], VENDOR);
        assert!(g.holds(VendorSales) && !g.holds(VendorFinance));
        let g = effective_permissions(Role::Administrator, &[], VENDOR);
        assert!(g.holds(VendorSales) && g.holds(VendorFinance) && g.holds(VendorOps));
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
        assert_eq!(Permission::parse("nonsense"), None);
    }
}
