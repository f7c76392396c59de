//! "My service provider": a customer's administrator sees its partner, chooses one by
//! the partner's public code, removes it, and decides what the partner may do inside the
//! organization. At most one service provider at a time; every change is audited and
//! e-mailed to both sides.

use crate::delegation::sessions::{Ending, end_all};
use crate::platform::ids::{GrantRequestId, LinkId, UserId};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{self, Actor, Permission},
    platform::domain::{Email, Language},
    platform::error::Validator,
    platform::ids::OrgId,
    platform::mail::{EmailKind, Outgoing},
    platform::values::CustomerOrigin,
    schema::{organizations as orgs, partners, service_provider_links as links},
    tenancy::customers,
};

#[derive(Debug, Clone)]
pub struct ServiceProvider {
    pub link_id: Uuid,
    pub partner_id: Uuid,
    pub name: String,
    pub partner_code: String,
    pub country: Option<String>,
    pub website: Option<String>,
    pub origin: CustomerOrigin,
    pub since: DateTime<Utc>,
    pub granted_permissions: Vec<Permission>,
    /// When the grants end (then the partner holds none of them); `None`: no end.
    pub grants_end_at: Option<DateTime<Utc>>,
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    Option<String>,
    CustomerOrigin,
    DateTime<Utc>,
    Vec<Option<String>>,
    Option<DateTime<Utc>>,
);

async fn current(conn: &mut AsyncPgConnection, org: Uuid) -> Result<Option<ServiceProvider>> {
    let row: Option<Row> = links::table
        .inner_join(partners::table.on(partners::organization_id.eq(links::partner_id)))
        .inner_join(orgs::table.on(orgs::id.eq(links::partner_id)))
        .filter(links::customer_id.eq(org))
        .filter(links::ended_at.is_null())
        .select((
            links::id,
            links::partner_id,
            orgs::name,
            partners::partner_code,
            orgs::country,
            orgs::website,
            links::origin,
            links::created_at,
            links::granted_permissions,
            links::grants_end_at,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(
        |(link_id, partner_id, name, partner_code, country, website, origin, since, granted, grants_end_at)| {
            ServiceProvider {
                link_id,
                partner_id,
                name,
                partner_code,
                country,
                website,
                origin,
                since,
                granted_permissions: authz::parse_permissions(&granted),
                grants_end_at,
            }
        },
    ))
}

/// The organization's service provider, if any.
pub async fn get(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Option<ServiceProvider>> {
    let org = op::grant(conn, actor, org.into(), Permission::ViewOrganization)
        .await?
        .org();
    current(conn, org).await
}

/// Who hears about the link on one side: the organization's administrators, or, when it
/// has none, its contact address. (user id, address, language)
async fn side_recipients(conn: &mut AsyncPgConnection, org: Uuid) -> Result<Vec<(Option<Uuid>, Email, Language)>> {
    let mut recipients: Vec<(Option<Uuid>, String, String)> = crate::tenancy::memberships::administrators(conn, org)
        .await?
        .into_iter()
        .map(|(id, e, l)| (Some(id), e, l))
        .collect();
    if recipients.is_empty() {
        let (contact, lang): (Option<String>, String) = orgs::table
            .find(org)
            .select((orgs::contact_email, orgs::language))
            .first(conn)
            .await?;
        recipients.extend(contact.map(|c| (None, c, lang)));
    }
    Ok(recipients
        .into_iter()
        .filter_map(|(id, address, lang)| Some((id, Email::parse(&address).ok()?, Language::from_db(&lang))))
        .collect())
}

/// E-mails both sides: the customer's administrators (or its contact address) and the
/// partner's administrators.
async fn notify(op: &mut Op<'_>, link_id: LinkId, customer: OrgId, partner: OrgId, added: bool) -> Result<()> {
    let mut out = Vec::new();
    let event = if added {
        "service_provider.added"
    } else {
        "service_provider.removed"
    };
    for (side_org, for_partner) in [(customer, false), (partner, true)] {
        for (user_id, recipient, lang) in side_recipients(op.conn, side_org.into()).await? {
            let kind = if added {
                EmailKind::ServiceProviderAdded {
                    link_id: link_id.into(),
                    user_id,
                    for_partner,
                }
            } else {
                EmailKind::ServiceProviderRemoved {
                    link_id: link_id.into(),
                    user_id,
                    for_partner,
                }
            };
            out.push(Outgoing {
                event_key: format!("{event}:{link_id}:{}", recipient.as_str()),
                recipient,
                lang,
                kind,
            });
        }
    }
    op.emails(out).await?;
    Ok(())
}

/// Chooses a partner by its public partner code.
pub async fn choose(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    partner_code: &str,
) -> Result<ServiceProvider> {
    op::run(conn, ctx, actor, org, Permission::ManageServiceProvider, async |op| {
        let code = partner_code.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(Error::field(
                "partner_code",
                "required",
                "Enter the partner code your partner gave you",
            ));
        }
        let partner: Option<(Uuid, rust_decimal::Decimal)> = partners::table
            .filter(partners::partner_code.eq(&code))
            .filter(partners::status.eq(crate::platform::values::PartnerStanding::Active))
            .select((partners::organization_id, partners::default_commission_rate))
            .first(op.conn)
            .await
            .optional()?;
        let Some((partner_id, rate)) = partner else {
            return Err(Error::field(
                "partner_code",
                "unknown_partner_code",
                "No partner has this code",
            ));
        };
        if partner_id == org {
            return Err(Error::field(
                "partner_code",
                "own_partner_code",
                "An organization cannot be its own service provider",
            ));
        }
        if current(op.conn, org).await?.is_some() {
            return Err(Error::conflict(
                "service_provider_exists",
                Some("partner_code"),
                "Remove your current service provider before choosing another",
            ));
        }
        let link = customers::insert_link(
            op.conn,
            op.now,
            org.into(),
            partner_id.into(),
            CustomerOrigin::ChosenByCustomer,
            rate,
            None,
            &[],
            Some(actor.user_id),
        )
        .await?;
        op.audit(
            Action::ServiceProviderAdded,
            link,
            json!({ "partner_id": partner_id, "partner_code": code }),
        )
        .await?;
        if !crate::earnings::commissions::has_paid_order(op.conn, org).await? {
            let evidence = json!({ "chosen_by_customer": true, "service_provider_link": link });
            crate::earnings::commissions::attribute(
                op,
                org.into(),
                partner_id.into(),
                crate::earnings::commissions::Kind::SelfChosen,
                evidence,
            )
            .await?;
        }
        notify(op, link.into(), org.into(), partner_id.into(), true).await?;
        current(op.conn, org).await?.ok_or(Error::not_found("service provider"))
    })
    .await
}

/// Removes the service provider; the partner can no longer act for the organization.
pub async fn remove(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, org: Uuid) -> Result<()> {
    op::run(conn, ctx, actor, org, Permission::ManageServiceProvider, async |op| {
        let sp = current(op.conn, org)
            .await?
            .ok_or(Error::not_found("service provider"))?;
        diesel::update(links::table.find(sp.link_id))
            .set((
                links::ended_at.eq(op.now),
                links::ended_by.eq(actor.user_id),
                links::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        op.audit(
            Action::ServiceProviderRemoved,
            sp.link_id,
            json!({ "partner_id": sp.partner_id }),
        )
        .await?;
        crate::earnings::commissions::unattribute(op, org.into(), sp.partner_id.into()).await?;
        let ending = Ending::Link {
            partner: sp.partner_id.into(),
            customer: org.into(),
        };
        end_all(op, ending, "service_provider_removed").await?;
        notify(op, sp.link_id.into(), org.into(), sp.partner_id.into(), false).await
    })
    .await
}

/// Checks an end date for grants: later than now and no later than the longest
/// lifetime allowed.
fn check_grants_end(ctx: &Ctx, now: DateTime<Utc>, ends_at: Option<DateTime<Utc>>) -> Result<()> {
    let Some(end) = ends_at else {
        return Ok(());
    };
    let max = now
        + chrono::Duration::from_std(ctx.config.delegation.grant_max_lifetime).unwrap_or(chrono::Duration::days(730));
    if end <= now {
        return Err(Error::field(
            "ends_at",
            "in_the_past",
            "Choose an end date in the future",
        ));
    }
    if end > max {
        return Err(Error::field(
            "ends_at",
            "too_far",
            format!("Grants can last until {} at the latest", max.format("%Y-%m-%d")),
        ));
    }
    Ok(())
}

/// Parses permission names a customer grants its service provider.
fn delegable_permissions(names: &[String]) -> Result<Vec<Permission>> {
    let mut v = Validator::new();
    let mut perms = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Permission::parse(name.trim()) {
            Some(p) if p.is_delegable() => perms.push(p),
            Some(_) => v.push(FieldError::new(
                format!("permissions[{i}]"),
                "permission_not_delegable",
                format!("{name} cannot be granted to a service provider"),
            )),
            None => v.push(FieldError::new(
                format!("permissions[{i}]"),
                "unknown_permission",
                format!("Unknown permission {name:?}"),
            )),
        }
    }
    v.finish()?;
    perms.sort();
    perms.dedup();
    Ok(perms)
}

/// Decides what the service provider may do inside the organization, and until when
/// (`ends_at`; `None`: until changed).
pub async fn set_grants(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    names: &[String],
    ends_at: Option<DateTime<Utc>>,
) -> Result<ServiceProvider> {
    op::run(conn, ctx, actor, org, Permission::ManageServiceProvider, async |op| {
        let perms = delegable_permissions(names)?;
        check_grants_end(op.ctx, op.now, ends_at)?;
        let sp = current(op.conn, org)
            .await?
            .ok_or(Error::not_found("service provider"))?;
        store_grants(op, &sp, &perms, ends_at, None).await?;
        current(op.conn, org).await?.ok_or(Error::not_found("service provider"))
    })
    .await
}

// ---------------------------------------------------------------------------------
// A partner asks for more permissions; the customer accepts or declines

crate::text_enum! {
    /// Where a request for more permissions stands.
    pub enum RequestStatus {
        Open = "open",
        Accepted = "accepted",
        Declined = "declined",
        /// Unanswered for `GRANT_REQUEST_DAYS`.
        Expired = "expired",
        /// Replaced by a newer request of the partner.
        Withdrawn = "withdrawn",
    }
}

/// The most a request's message may say.
pub const REQUEST_MESSAGE_MAX: usize = 1000;

#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub partner_id: Uuid,
    pub partner_name: String,
    pub permissions: Vec<Permission>,
    pub message: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: RequestStatus,
    pub decided_at: Option<DateTime<Utc>>,
}

type RequestRow = (
    (Uuid, Uuid, Uuid, String, Vec<Option<String>>, Option<String>),
    (
        Option<Uuid>,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<String>,
        Option<DateTime<Utc>>,
    ),
);

fn to_request(row: RequestRow, now: DateTime<Utc>) -> GrantRequest {
    let ((id, customer_id, partner_id, partner_name, permissions, message), rest) = row;
    let (requested_by, requested_at, expires_at, decision, decided_at) = rest;
    let status = match decision.as_deref().and_then(RequestStatus::parse) {
        Some(decided) => decided,
        None if expires_at <= now => RequestStatus::Expired,
        None => RequestStatus::Open,
    };
    GrantRequest {
        id,
        customer_id,
        partner_id,
        partner_name,
        permissions: authz::parse_permissions(&permissions),
        message,
        requested_by,
        requested_at,
        expires_at,
        status,
        decided_at,
    }
}

/// The requests of one customer, newest first (at most 50), or one request.
async fn load_requests(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    customer: OrgId,
    id: Option<GrantRequestId>,
) -> Result<Vec<GrantRequest>> {
    use crate::schema::grant_requests as r;
    let mut query = r::table
        .inner_join(orgs::table.on(orgs::id.eq(r::partner_id)))
        .filter(r::customer_id.eq(customer))
        .order(r::requested_at.desc())
        .limit(50)
        .select((
            (
                r::id,
                r::customer_id,
                r::partner_id,
                orgs::name,
                r::permissions,
                r::message,
            ),
            (
                r::requested_by,
                r::requested_at,
                r::expires_at,
                r::decision,
                r::decided_at,
            ),
        ))
        .into_boxed();
    if let Some(id) = id {
        query = query.filter(r::id.eq(id));
    }
    let rows: Vec<RequestRow> = query.load(conn).await?;
    Ok(rows.into_iter().map(|row| to_request(row, now)).collect())
}

async fn one_request(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    customer: OrgId,
    id: GrantRequestId,
) -> Result<GrantRequest> {
    load_requests(conn, now, customer, Some(id))
        .await?
        .pop()
        .ok_or(Error::not_found("grant request"))
}

/// What a partner asks for, checked: delegable permissions, at least one not held yet,
/// and a message of bounded length.
async fn check_request<'m>(
    op: &mut Op<'_>,
    customer: Uuid,
    names: &[String],
    message: Option<&'m str>,
) -> Result<(Vec<Permission>, Option<&'m str>)> {
    let perms = delegable_permissions(names)?;
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    if message.is_some_and(|m| m.chars().count() > REQUEST_MESSAGE_MAX) {
        return Err(Error::field(
            "message",
            "too_long",
            format!("At most {REQUEST_MESSAGE_MAX} characters"),
        ));
    }
    let partner = op.access()?.acting_org();
    let granted = authz::granted_to(op.conn, op.now, partner.into(), customer.into())
        .await?
        .map(|(_, g)| g)
        .unwrap_or_default();
    if perms.is_empty() || perms.iter().all(|p| granted.contains(p)) {
        return Err(Error::field(
            "permissions",
            "nothing_new",
            "Ask for at least one permission you do not hold yet",
        ));
    }
    Ok((perms, message))
}

/// A partner asks its customer for more permissions (replacing its open request, if
/// any); the customer's administrators are e-mailed.
pub async fn request_grants(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    customer: Uuid,
    names: &[String],
    message: Option<&str>,
) -> Result<GrantRequest> {
    use crate::schema::grant_requests as r;
    op::run(conn, ctx, actor, customer, Permission::ManageCustomers, async |op| {
        if op.access()?.via() != authz::Via::ServiceProvider {
            return Err(Error::forbidden());
        }
        let (perms, message) = check_request(op, customer, names, message).await?;
        let sp = current(op.conn, customer)
            .await?
            .ok_or(Error::not_found("organization"))?;
        within_request_limit(op, sp.link_id).await?;
        diesel::update(r::table.filter(r::link_id.eq(sp.link_id)).filter(r::decision.is_null()))
            .set((
                r::decision.eq(RequestStatus::Withdrawn.as_str()),
                r::decided_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
        let id = Uuid::now_v7();
        let ttl =
            chrono::Duration::from_std(op.ctx.config.delegation.grant_request).unwrap_or(chrono::Duration::days(14));
        diesel::insert_into(r::table)
            .values((
                r::id.eq(id),
                r::link_id.eq(sp.link_id),
                r::customer_id.eq(customer),
                r::partner_id.eq(sp.partner_id),
                r::permissions.eq(authz::permission_names(&perms)),
                r::message.eq(message),
                r::requested_by.eq(actor.user_id),
                r::requested_at.eq(op.now),
                r::expires_at.eq(op.now + ttl),
            ))
            .execute(op.conn)
            .await?;
        op.audit(
            Action::GrantsRequested,
            id,
            json!({ "permissions": authz::permission_names(&perms), "message": message }),
        )
        .await?;
        let mut out = Vec::new();
        for (user_id, recipient, lang) in side_recipients(op.conn, customer).await? {
            out.push(Outgoing {
                event_key: format!("grants_requested:{id}:{}", recipient.as_str()),
                recipient,
                lang,
                kind: EmailKind::GrantsRequested {
                    request_id: id,
                    user_id,
                },
            });
        }
        op.emails(out).await?;
        one_request(op.conn, op.now, customer.into(), id.into()).await
    })
    .await
}

/// Each request e-mails the customer's administrators, so a partner may ask one customer
/// as often in an hour as anyone may e-mail one address (`EMAILS_PER_ADDRESS_PER_HOUR`);
/// the next answers 429 until the oldest of them is an hour old. Requests for one link
/// take turns (the link's row is locked), so parallel requests cannot pass together.
async fn within_request_limit(op: &mut Op<'_>, link_id: Uuid) -> Result<()> {
    use crate::schema::grant_requests as r;
    links::table
        .find(link_id)
        .select(links::id)
        .for_update()
        .first::<Uuid>(op.conn)
        .await?;
    let since = op.now - chrono::Duration::hours(1);
    let recent: Vec<DateTime<Utc>> = r::table
        .filter(r::link_id.eq(link_id))
        .filter(r::requested_at.gt(since))
        .select(r::requested_at)
        .order(r::requested_at.asc())
        .load(op.conn)
        .await?;
    let limit = op.ctx.config.limits.emails_per_address_per_hour as usize;
    match <[_]>::first(&recent) {
        Some(oldest) if recent.len() >= limit => Err(Error::too_many(
            "too_many_grant_requests",
            "This customer was asked too often in the last hour; try again later",
            (*oldest + chrono::Duration::hours(1) - op.now).num_seconds().max(1) as u64,
        )),
        _ => Ok(()),
    }
}

/// A customer's requests for more permissions, newest first: for its administrators,
/// and for the partner that asked.
pub async fn grant_requests(conn: &mut AsyncPgConnection, actor: &Actor, customer: Uuid) -> Result<Vec<GrantRequest>> {
    let access = op::grant(conn, actor, customer.into(), Permission::ViewOrganization).await?;
    let mut requests = load_requests(conn, actor.now, access.org().into(), None).await?;
    match access.via() {
        authz::Via::Own => {
            op::grant(conn, actor, access.org().into(), Permission::ManageServiceProvider).await?;
        }
        authz::Via::ServiceProvider => requests.retain(|r| r.partner_id == access.acting_org()),
        authz::Via::Vendor => {}
    }
    Ok(requests)
}

/// The customer accepts (adding the permissions to what it grants, end date kept) or
/// declines an open request; the one who asked is e-mailed.
pub async fn answer_request(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    customer: OrgId,
    id: Uuid,
    accept: bool,
) -> Result<GrantRequest> {
    let customer = customer.uuid();
    use crate::schema::grant_requests as r;
    op::run(
        conn,
        ctx,
        actor,
        customer,
        Permission::ManageServiceProvider,
        async |op| {
            let request = one_request(op.conn, op.now, customer.into(), id.into()).await?;
            match request.status {
                RequestStatus::Open => {}
                RequestStatus::Expired => {
                    return Err(Error::gone(
                        "grant_request_expired",
                        "The request has expired unanswered",
                    ));
                }
                _ => {
                    return Err(Error::conflict(
                        "grant_request_answered",
                        None,
                        "The request has already been answered or replaced",
                    ));
                }
            }
            let (decision, action) = if accept {
                (RequestStatus::Accepted, Action::GrantRequestAccepted)
            } else {
                (RequestStatus::Declined, Action::GrantRequestDeclined)
            };
            diesel::update(r::table.find(id).filter(r::decision.is_null()))
                .set((
                    r::decision.eq(decision.as_str()),
                    r::decided_by.eq(actor.user_id),
                    r::decided_at.eq(op.now),
                ))
                .execute(op.conn)
                .await?;
            op.audit(
                action,
                id,
                json!({ "permissions": authz::permission_names(&request.permissions) }),
            )
            .await?;
            if accept {
                grant_requested(op, customer, &request).await?;
            }
            tell_requester(op, &request).await?;
            one_request(op.conn, op.now, customer.into(), id.into()).await
        },
    )
    .await
}

/// Adds what a request asked for to what the customer grants its service provider.
async fn grant_requested(op: &mut Op<'_>, customer: Uuid, request: &GrantRequest) -> Result<()> {
    let sp = current(op.conn, customer)
        .await?
        .ok_or(Error::not_found("service provider"))?;
    if sp.partner_id != request.partner_id {
        return Err(Error::conflict(
            "service_provider_changed",
            None,
            "The partner that asked is no longer your service provider",
        ));
    }
    let mut perms = sp.granted_permissions.clone();
    perms.extend(request.permissions.iter().copied());
    perms.sort();
    perms.dedup();
    store_grants(op, &sp, &perms, sp.grants_end_at, Some(request.id)).await
}

/// Writes what the customer grants its service provider, and until when, with the
/// values before and after in the audit log (and the request it answered, if any).
async fn store_grants(
    op: &mut Op<'_>,
    sp: &ServiceProvider,
    perms: &[Permission],
    ends_at: Option<DateTime<Utc>>,
    request: Option<Uuid>,
) -> Result<()> {
    diesel::update(links::table.find(sp.link_id))
        .set((
            links::granted_permissions.eq(authz::permission_names(perms)),
            links::grants_end_at.eq(ends_at),
            links::updated_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
    op.audit(
        Action::ServiceProviderGrantsChanged,
        sp.link_id,
        json!({
            "old": authz::permission_names(&sp.granted_permissions),
            "new": authz::permission_names(perms),
            "old_ends_at": sp.grants_end_at,
            "new_ends_at": ends_at,
            "request": request,
        }),
    )
    .await
}

/// E-mails the partner's staff member who asked how the customer answered.
async fn tell_requester(op: &mut Op<'_>, request: &GrantRequest) -> Result<()> {
    use crate::schema::users;
    let Some(requester) = request.requested_by else {
        return Ok(());
    };
    let (address, lang): (String, String) = users::table
        .find(requester)
        .select((users::email, users::language))
        .first(op.conn)
        .await?;
    if let Ok(to) = Email::parse(&address) {
        op.email(
            &format!("grant_request_answered:{}", request.id),
            &to,
            Language::from_db(&lang),
            EmailKind::GrantRequestAnswered { request_id: request.id },
        )
        .await?;
    }
    Ok(())
}

/// What the e-mails about a request say.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GrantRequestEmail {
    pub company: String,
    pub partner: String,
    /// The recipient's first name, or empty for an organization's contact address.
    pub first_name: String,
    /// How many permissions were asked for.
    pub count: usize,
    pub message: String,
    /// open, accepted, declined, expired or withdrawn.
    pub status: RequestStatus,
}

impl GrantRequestEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        request_id: GrantRequestId,
        user_id: Option<UserId>,
    ) -> Result<Option<Self>> {
        use crate::schema::{grant_requests as r, users};
        let row: Option<(Uuid, Option<Uuid>)> = r::table
            .find(request_id)
            .select((r::customer_id, r::requested_by))
            .first(conn)
            .await
            .optional()?;
        let Some((customer, requester)) = row else {
            return Ok(None);
        };
        let Some(request) = load_requests(conn, Utc::now(), customer.into(), Some(request_id))
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let company: String = orgs::table.find(customer).select(orgs::name).first(conn).await?;
        // To the customer's administrators, or (answered) to the partner's staff member who asked.
        let first_name = match user_id.or((requester.filter(|_| request.status != RequestStatus::Open)).map(Into::into))
        {
            Some(id) => users::table
                .find(id)
                .select(users::first_name)
                .first::<String>(conn)
                .await
                .optional()?
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some(GrantRequestEmail {
            company,
            partner: request.partner_name,
            first_name,
            count: request.permissions.len(),
            message: request.message.unwrap_or_default(),
            status: request.status,
        }))
    }
}

/// Days before grants end that both sides are told, most pressing last.
pub const GRANT_WARNING_DAYS: [u32; 3] = [30, 7, 1];

/// E-mails both sides of every link whose grants end within 30, 7 or 1 days: the most
/// pressing warning that is due, once per end date (a later end date warns again).
/// Safe to run from several workers at once. Returns how many e-mails were queued.
pub async fn warn_grants_ending(conn: &mut AsyncPgConnection, ctx: &Ctx) -> Result<usize> {
    let now = ctx.now();
    let horizon = now + chrono::Duration::days(i64::from(GRANT_WARNING_DAYS[0]));
    let ending: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>)> = links::table
        .filter(links::ended_at.is_null())
        .filter(links::grants_end_at.gt(now))
        .filter(links::grants_end_at.le(horizon))
        .select((
            links::id,
            links::customer_id,
            links::partner_id,
            links::grants_end_at.assume_not_null(),
        ))
        .load(conn)
        .await?;
    let mut queued = 0;
    for (link_id, customer, partner, end) in ending {
        let Some(days) = GRANT_WARNING_DAYS
            .iter()
            .rev()
            .copied()
            .find(|d| now >= end - chrono::Duration::days(i64::from(*d)))
        else {
            continue;
        };
        let mut out = Vec::new();
        for (side_org, for_partner) in [(customer, false), (partner, true)] {
            for (user_id, recipient, lang) in side_recipients(conn, side_org).await? {
                out.push(Outgoing {
                    event_key: format!(
                        "grants_ending:{link_id}:{}:{days}:{}",
                        end.timestamp(),
                        recipient.as_str()
                    ),
                    recipient,
                    lang,
                    kind: EmailKind::GrantsEnding {
                        link_id,
                        user_id,
                        for_partner,
                        days,
                    },
                });
            }
        }
        queued += crate::platform::mail::queue_many(conn, now, out).await?;
    }
    Ok(queued)
}

// ---------------------------------------------------------------------------------
// E-mails to both sides when a service provider is added or removed, or its grants end

#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceProviderEmail {
    pub company: String,
    pub partner: String,
    /// The recipient's first name, or empty for an organization's contact address.
    pub first_name: String,
    /// Written to the partner (else to the customer).
    pub for_partner: bool,
    /// Days until the grants end, and the day they end (for warnings that they end).
    pub days: u32,
    pub ends_on: String,
}

impl ServiceProviderEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        link_id: LinkId,
        user_id: Option<UserId>,
        for_partner: bool,
    ) -> Result<Option<Self>> {
        let sides: Option<(Uuid, Uuid, Option<DateTime<Utc>>)> = links::table
            .filter(links::id.eq(link_id))
            .select((links::customer_id, links::partner_id, links::grants_end_at))
            .first(conn)
            .await
            .optional()?;
        let Some((customer_id, partner_id, grants_end_at)) = sides else {
            return Ok(None);
        };
        let company: String = orgs::table.find(customer_id).select(orgs::name).first(conn).await?;
        let partner: String = orgs::table.find(partner_id).select(orgs::name).first(conn).await?;
        let first_name = match user_id {
            Some(id) => crate::identity::accounts::first_name(conn, id.into())
                .await?
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some(ServiceProviderEmail {
            company,
            partner,
            first_name,
            for_partner,
            days: 0,
            ends_on: grants_end_at
                .map(crate::platform::domain::format_date)
                .unwrap_or_default(),
        }))
    }
}
