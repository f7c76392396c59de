//! Delegated administration: a partner's staff member acting inside one customer for
//! a bounded time, either in a **management session** (with exactly what the customer
//! granted the partner) or **logged in as** one of the customer's users (that user's
//! view, within the grants, never their credentials). The customer sees every session
//! and every action taken in it, and can end any of them.
//!
//! A delegated session is carried by the portal session (the banner and Exit) or, for
//! API clients, by the `X-Delegated-Session` header; either way [`resolve`] checks it
//! on every request: still open, not past its time, the partner still the customer's
//! service provider and the staff member still its member.

use crate::platform::ids::DelegatedSessionId;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{BoolExpressionMethods, ExpressionMethods, JoinOnDsl, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Ctx, Error, Result,
    platform::audit::{Action, Who},
    platform::authz::{self, Actor, Delegation, DelegationKind as Kind, Permission, Via},
    platform::domain::{Email, Language},
    platform::ids::{OrgId, UserId},
    platform::mail::EmailKind,
    platform::op,
    platform::values::PartnerStanding,
    schema::{
        delegated_sessions as ds, memberships, organizations as orgs, partners, service_provider_links as links, users,
    },
};

/// The most a reason may say.
pub const REASON_MAX: usize = 500;

/// A delegated session as listed for the customer or shown in the banner.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DelegatedSession {
    pub id: Uuid,
    pub kind: Kind,
    pub staff_user_id: Uuid,
    pub staff_name: String,
    pub partner_id: Uuid,
    pub partner_name: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub impersonated_user_id: Option<Uuid>,
    pub impersonated_name: Option<String>,
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Open and not past its time.
    pub active: bool,
}

type SessionRow = (
    (Uuid, Kind, Uuid, Uuid, Uuid, Option<Uuid>, Option<String>),
    (DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>),
    (String, String),
    String,
    String,
);

fn to_session(row: SessionRow, impersonated_name: Option<String>, now: DateTime<Utc>) -> DelegatedSession {
    let ((id, kind, staff_user_id, partner_id, customer_id, impersonated_user_id, reason), times, names, p, c) = row;
    let (started_at, expires_at, ended_at) = times;
    DelegatedSession {
        id,
        kind,
        staff_user_id,
        staff_name: format!("{} {}", names.0, names.1),
        partner_id,
        partner_name: p,
        customer_id,
        customer_name: c,
        impersonated_user_id,
        impersonated_name,
        reason,
        started_at,
        expires_at,
        ended_at,
        active: ended_at.is_none() && expires_at > now,
    }
}

/// Which sessions to load.
enum Which {
    One(Uuid),
    OfCustomer(Uuid),
}

/// Loads sessions, newest first, with the names the customer reads.
async fn load(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    which: Which,
    limit: i64,
) -> Result<Vec<DelegatedSession>> {
    let (partner_orgs, customer_orgs) = diesel::alias!(orgs as partner_orgs, orgs as customer_orgs);
    let mut query = ds::table
        .inner_join(users::table.on(users::id.eq(ds::user_id)))
        .inner_join(partner_orgs.on(partner_orgs.field(orgs::id).eq(ds::partner_id)))
        .inner_join(customer_orgs.on(customer_orgs.field(orgs::id).eq(ds::customer_id)))
        .order((ds::started_at.desc(), ds::id.desc()))
        .limit(limit)
        .select((
            (
                ds::id,
                ds::kind,
                ds::user_id,
                ds::partner_id,
                ds::customer_id,
                ds::impersonated_user_id,
                ds::reason,
            ),
            (ds::started_at, ds::expires_at, ds::ended_at),
            (users::first_name, users::last_name),
            partner_orgs.field(orgs::name),
            customer_orgs.field(orgs::name),
        ))
        .into_boxed();
    query = match which {
        Which::One(id) => query.filter(ds::id.eq(id)),
        Which::OfCustomer(customer) => query.filter(ds::customer_id.eq(customer)),
    };
    let rows: Vec<SessionRow> = query.load(conn).await?;
    let impersonated: Vec<Uuid> = rows.iter().filter_map(|r| r.0.5).collect();
    let names: std::collections::HashMap<Uuid, String> = users::table
        .filter(users::id.eq_any(&impersonated))
        .select((users::id, users::first_name, users::last_name))
        .load::<(Uuid, String, String)>(conn)
        .await?
        .into_iter()
        .map(|(id, f, l)| (id, format!("{f} {l}")))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = r.0.5.and_then(|id| names.get(&id).cloned());
            to_session(r, name, now)
        })
        .collect())
}

async fn one(conn: &mut AsyncPgConnection, now: DateTime<Utc>, id: Uuid) -> Result<DelegatedSession> {
    load(conn, now, Which::One(id), 1)
        .await?
        .pop()
        .ok_or(Error::not_found("delegated session"))
}

fn ended(code: &'static str, message: &str) -> Error {
    Error::gone(code, message.to_owned())
}

/// Checks a delegated session for a request of `user_id` (the staff member): open, not
/// past its time, the partner active and still serving the customer, the customer
/// active, the staff member still a member of the partner. Anything else is refused
/// with `delegated_session_ended`.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    user_id: UserId,
    id: DelegatedSessionId,
) -> Result<Delegation> {
    type Row = (
        Uuid,
        Kind,
        Uuid,
        Uuid,
        Uuid,
        Option<Uuid>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = ds::table
        .filter(ds::id.eq(id))
        .filter(ds::user_id.eq(user_id))
        .select((
            ds::id,
            ds::kind,
            ds::user_id,
            ds::partner_id,
            ds::customer_id,
            ds::impersonated_user_id,
            ds::expires_at,
            ds::ended_at,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((id, kind, staff, partner, customer, impersonated, expires_at, ended_at)) = row else {
        return Err(Error::not_found("delegated session"));
    };
    if ended_at.is_some() {
        return Err(ended("delegated_session_ended", "This session has ended"));
    }
    if expires_at <= now {
        return Err(ended("delegated_session_expired", "This session has run out of time"));
    }
    let serving: i64 = links::table
        .inner_join(memberships::table.on(memberships::organization_id.eq(links::partner_id)))
        .inner_join(partners::table.on(partners::organization_id.eq(links::partner_id)))
        .inner_join(orgs::table.on(orgs::id.eq(links::customer_id)))
        .filter(links::customer_id.eq(customer))
        .filter(links::partner_id.eq(partner))
        .filter(links::ended_at.is_null())
        .filter(memberships::user_id.eq(staff))
        .filter(memberships::active.eq(true))
        .filter(memberships::accepted_at.is_not_null())
        .filter(partners::status.eq(PartnerStanding::Active))
        .filter(orgs::active.eq(true))
        .count()
        .get_result(conn)
        .await?;
    if serving == 0 {
        return Err(ended(
            "delegated_session_ended",
            "The partner no longer serves this customer, or one of them is no longer active",
        ));
    }
    Ok(Delegation {
        id,
        kind,
        staff_user_id: staff,
        partner_id: partner,
        customer_id: customer,
        impersonated_user_id: impersonated,
        expires_at,
    })
}

/// The actor's partner access to `customer`, refused unless it comes from serving the
/// customer (vendor staff do not open delegated sessions), and unless the actor is
/// outside any delegated session already.
async fn partner_access(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    customer: Uuid,
    perm: Permission,
) -> Result<authz::Access> {
    if actor.delegation.is_some() {
        return Err(Error::conflict(
            "already_delegated",
            None,
            "End the current session first",
        ));
    }
    let access = op::grant(conn, actor, customer.into(), perm).await?;
    if access.via() != Via::ServiceProvider {
        return Err(Error::forbidden());
    }
    Ok(access)
}

fn ttl(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::hours(1))
}

/// Starts a management session for one customer of the actor's partner organization.
pub async fn start_management(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    customer: Uuid,
) -> Result<DelegatedSession> {
    op::run(conn, ctx, actor, customer, Permission::ManageCustomers, async |op| {
        let access = partner_access(op.conn, actor, customer, Permission::ManageCustomers).await?;
        let id = Uuid::new_v4();
        diesel::insert_into(ds::table)
            .values((
                ds::id.eq(id),
                ds::kind.eq(Kind::Manage),
                ds::user_id.eq(actor.user_id),
                ds::partner_id.eq(access.acting_org()),
                ds::customer_id.eq(customer),
                ds::started_at.eq(op.now),
                ds::expires_at.eq(op.now + ttl(op.ctx.config.delegation.management_session)),
            ))
            .execute(op.conn)
            .await?;
        op.who.delegated_session = Some(id);
        op.audit(Action::DelegationStarted, id, json!({ "kind": Kind::Manage }))
            .await?;
        one(op.conn, op.now, id).await
    })
    .await
}

/// Why a user cannot be impersonated, if so: only an active member of the customer who
/// is not vendor staff, not staff of any partner, and not the actor.
async fn impersonable(conn: &mut AsyncPgConnection, actor: &Actor, customer: OrgId, user_id: UserId) -> Result<()> {
    let member_of_customer: i64 = memberships::table
        .inner_join(users::table.on(users::id.eq(memberships::user_id)))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::organization_id.eq(customer))
        .filter(memberships::active.eq(true))
        .filter(memberships::accepted_at.is_not_null())
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)
        .await?;
    if member_of_customer == 0 {
        return Err(Error::not_found("user"));
    }
    let staff_elsewhere: i64 = memberships::table
        .inner_join(orgs::table)
        .left_join(partners::table.on(partners::organization_id.eq(memberships::organization_id)))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::active.eq(true))
        .filter(orgs::is_vendor.eq(true).or(partners::organization_id.is_not_null()))
        .count()
        .get_result(conn)
        .await?;
    if staff_elsewhere > 0 || user_id == actor.user_id {
        return Err(Error::field(
            "user_id",
            "not_impersonable",
            "Vendor staff and partners' own staff cannot be logged in as",
        ));
    }
    Ok(())
}

/// The name of a customer's user the actor may log in as (the form asking for a reason).
pub async fn login_as_target(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    customer: OrgId,
    user_id: UserId,
) -> Result<String> {
    let (customer, user_id) = (customer.uuid(), user_id.uuid());
    partner_access(conn, actor, customer, Permission::LoginAsUser).await?;
    let name: Option<(String, String)> = memberships::table
        .inner_join(users::table.on(users::id.eq(memberships::user_id)))
        .filter(memberships::organization_id.eq(customer))
        .filter(memberships::user_id.eq(user_id))
        .filter(memberships::accepted_at.is_not_null())
        .select((users::first_name, users::last_name))
        .first(conn)
        .await
        .optional()?;
    name.map(|(f, l)| format!("{f} {l}")).ok_or(Error::not_found("user"))
}

/// Logs the actor in as one user of a customer, for a stated reason; the user is
/// e-mailed who did it, when and why.
pub async fn login_as(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    customer: OrgId,
    user_id: UserId,
    reason: &str,
) -> Result<DelegatedSession> {
    let (customer, user_id) = (customer.uuid(), user_id.uuid());
    op::run(conn, ctx, actor, customer, Permission::LoginAsUser, async |op| {
        let access = partner_access(op.conn, actor, customer, Permission::LoginAsUser).await?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::field("reason", "required", "Say why you log in as this user"));
        }
        if reason.chars().count() > REASON_MAX {
            return Err(Error::field(
                "reason",
                "too_long",
                format!("At most {REASON_MAX} characters"),
            ));
        }
        impersonable(op.conn, actor, customer.into(), user_id.into()).await?;
        let id = Uuid::new_v4();
        diesel::insert_into(ds::table)
            .values((
                ds::id.eq(id),
                ds::kind.eq(Kind::LoginAs),
                ds::user_id.eq(actor.user_id),
                ds::partner_id.eq(access.acting_org()),
                ds::customer_id.eq(customer),
                ds::impersonated_user_id.eq(user_id),
                ds::reason.eq(reason),
                ds::started_at.eq(op.now),
                ds::expires_at.eq(op.now + ttl(op.ctx.config.delegation.login_as)),
            ))
            .execute(op.conn)
            .await?;
        op.who.delegated_session = Some(id);
        op.audit(
            Action::LoginAsStarted,
            id,
            json!({ "kind": Kind::LoginAs, "user_id": user_id, "reason": reason }),
        )
        .await?;
        let (address, lang): (String, String) = users::table
            .find(user_id)
            .select((users::email, users::language))
            .first(op.conn)
            .await?;
        if let Ok(to) = Email::parse(&address) {
            op.email(
                &format!("login_as:{id}"),
                &to,
                Language::from_db(&lang),
                EmailKind::LoggedInAs { session_id: id },
            )
            .await?;
        }
        one(op.conn, op.now, id).await
    })
    .await
}

/// Ends a delegated session: by its staff member (Exit), or by the customer.
async fn end_session(op: &mut op::Op<'_>, session: &DelegatedSession, ended_by: Uuid) -> Result<()> {
    if !session.active {
        return Err(ended("delegated_session_ended", "This session has already ended"));
    }
    diesel::update(ds::table.find(session.id).filter(ds::ended_at.is_null()))
        .set((ds::ended_at.eq(op.now), ds::ended_by.eq(ended_by)))
        .execute(op.conn)
        .await?;
    op.who.delegated_session = Some(session.id);
    op.audit(Action::DelegationEnded, session.id, json!({ "kind": session.kind }))
        .await
}

/// Whose sessions a change leaves without ground.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ending {
    /// The partner was suspended.
    Partner(OrgId),
    /// The customer was deactivated.
    Customer(OrgId),
    /// The partner no longer serves the customer.
    Link { partner: OrgId, customer: OrgId },
}

/// Ends every open session of `which` in the change's transaction, each audited for its
/// customer with `reason` (a suspended partner's sessions stay ended when it is active
/// again). [`resolve`] refuses them on the next request either way.
pub(crate) async fn end_all(op: &mut op::Op<'_>, which: Ending, reason: &str) -> Result<()> {
    let (partner, customer) = match which {
        Ending::Partner(p) => (Some(p.uuid()), None),
        Ending::Customer(c) => (None, Some(c.uuid())),
        Ending::Link { partner, customer } => (Some(partner.uuid()), Some(customer.uuid())),
    };
    let ended: Vec<Ended> = crate::platform::db::sql_query(
        "UPDATE delegated_sessions SET ended_at = $1, ended_by = $2
         WHERE ended_at IS NULL AND expires_at > $1
           AND ($3::uuid IS NULL OR partner_id = $3) AND ($4::uuid IS NULL OR customer_id = $4)
         RETURNING id, kind, customer_id",
    )
    .bind::<Timestamptz, _>(op.now)
    .bind::<Nullable<SqlUuid>, _>(op.who.user_id)
    .bind::<Nullable<SqlUuid>, _>(partner)
    .bind::<Nullable<SqlUuid>, _>(customer)
    .load(op.conn)
    .await?;
    for Ended { id, kind, customer_id } in ended {
        op.audit_for(
            customer_id,
            Action::DelegationEnded,
            id,
            json!({ "kind": kind, "reason": reason }),
        )
        .await?;
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Ended {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
}

/// The staff member leaves their own session (Exit); a session that already ended is
/// left as it is.
pub async fn exit(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    staff_user_id: UserId,
    id: DelegatedSessionId,
) -> Result<DelegatedSession> {
    let session = one(conn, ctx.now(), id.into()).await?;
    if staff_user_id != session.staff_user_id {
        return Err(Error::not_found("delegated session"));
    }
    let who = Who {
        user_id: Some(staff_user_id.into()),
        acting_org: Some(session.partner_id),
        on_behalf_of: Some(session.customer_id),
        impersonator: None,
        delegated_session: Some(id.into()),
    };
    op::run_as(conn, ctx, who, async |op| {
        if session.active {
            end_session(op, &session, staff_user_id.into()).await?;
        }
        one(op.conn, op.now, id.into()).await
    })
    .await
}

/// The customer ends one of the sessions in its organization.
pub async fn end_for_customer(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    customer: OrgId,
    id: Uuid,
) -> Result<DelegatedSession> {
    let customer = customer.uuid();
    op::run(
        conn,
        ctx,
        actor,
        customer,
        Permission::ManageServiceProvider,
        async |op| {
            let session = one(op.conn, op.now, id).await?;
            if session.customer_id != customer {
                return Err(Error::not_found("delegated session"));
            }
            end_session(op, &session, actor.user_id).await?;
            one(op.conn, op.now, id).await
        },
    )
    .await
}

/// The sessions in a customer's organization, newest first (open ones and the last
/// ones that ended).
pub async fn list_for_customer(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    customer: Uuid,
) -> Result<Vec<DelegatedSession>> {
    let customer = op::grant(conn, actor, customer.into(), Permission::ManageServiceProvider)
        .await?
        .org();
    load(conn, actor.now, Which::OfCustomer(customer), 100).await
}

/// The delegated session the actor is in, for its banner.
pub async fn current(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Option<DelegatedSession>> {
    match &actor.delegation {
        Some(d) => Ok(Some(one(conn, actor.now, d.id).await?)),
        None => Ok(None),
    }
}

/// What the "logged in as" e-mail tells the user.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoggedInAsEmail {
    pub first_name: String,
    pub staff_name: String,
    pub partner: String,
    pub company: String,
    pub started_at: String,
    pub reason: String,
}

impl LoggedInAsEmail {
    pub async fn load(conn: &mut AsyncPgConnection, session_id: Uuid) -> Result<Option<Self>> {
        let Ok(s) = one(conn, Utc::now(), session_id).await else {
            return Ok(None);
        };
        let Some(user) = s.impersonated_user_id else {
            return Ok(None);
        };
        let first_name: String = users::table.find(user).select(users::first_name).first(conn).await?;
        Ok(Some(LoggedInAsEmail {
            first_name,
            staff_name: s.staff_name,
            partner: s.partner_name,
            company: s.customer_name,
            started_at: s.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            reason: s.reason.unwrap_or_default(),
        }))
    }
}
