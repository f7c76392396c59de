//! The two frames. Every change follows [`run`]: open a transaction, authorize inside
//! it, change, record a typed audit event, queue e-mails and jobs, commit. Nothing of it
//! is written unless all of it is. Every read follows [`read`]: authorize, then run the
//! query with the [`Access`] that was granted; queries take that `Access` (only
//! `authz::authorize` makes one) and read the organization it names, so a read that
//! skips authorization does not compile.
//!
//! ```ignore
//! pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Vec<Integration>> {
//!     op::read(conn, actor, org, Permission::ManageIntegrations, rows).await
//! }
//!
//! async fn rows(conn: &mut AsyncPgConnection, access: &Access) -> Result<Vec<Integration>> {
//!     Ok(integrations::table.filter(integrations::organization_id.eq(access.org())).load(conn).await?)
//! }
//! ```
//!
//! ```ignore
//! pub async fn delete(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, org: Uuid, id: Uuid) -> Result<()> {
//!     op::run(conn, ctx, actor, org, Permission::ManageIntegrations, async |op| {
//!         let n = diesel::delete(integrations::table.find(id).filter(integrations::organization_id.eq(org)))
//!             .execute(op.conn)
//!             .await?;
//!         if n == 0 {
//!             return Err(Error::not_found("integration"));
//!         }
//!         op.audit(Action::IntegrationDeleted, id, json!({})).await
//!     })
//!     .await
//! }
//! ```

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Ctx, Error, Result,
    platform::audit::{self, Action, Who},
    platform::authz::{self, Access, Actor, Permission},
    platform::domain::{Email, Language},
    platform::jobs::{self, Job},
    platform::mail::{self, EmailKind, Outgoing},
};

/// Whose resources an operation touches: one organization, or the vendor's own
/// (partner requests, billing, the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Org(Uuid),
    Vendor,
}

impl From<Uuid> for Scope {
    fn from(org: Uuid) -> Self {
        Scope::Org(org)
    }
}

/// One change in progress: the transaction's connection, the time it happens at, and
/// the identities its audit entries record.
pub struct Op<'r> {
    pub conn: &'r mut AsyncPgConnection,
    pub ctx: &'r Ctx,
    /// One timestamp for everything the change writes.
    pub now: DateTime<Utc>,
    /// Who the audit log names.
    pub who: Who,
    access: Option<Access>,
}

impl Op<'_> {
    /// The access the operation was authorized with.
    pub fn access(&self) -> Result<Access> {
        self.access
            .clone()
            .ok_or_else(|| Error::internal("an unauthorized operation asked for its access"))
    }

    /// Authorizes a further permission inside the same transaction (decisions already
    /// taken for the actor are reused).
    pub async fn authorize(&mut self, actor: &Actor, org: Uuid, perm: Permission) -> Result<Access> {
        authz::authorize(self.conn, actor, org, perm).await
    }

    /// Records what happened, with the operation's identities and timestamp.
    pub async fn audit(&mut self, action: Action, subject: impl ToString, changes: Value) -> Result<()> {
        audit::record(self.conn, self.now, self.who.clone(), action, subject, changes).await
    }

    /// Records what happened on behalf of `org` (e.g. a customer the partner just created).
    pub async fn audit_for(&mut self, org: Uuid, action: Action, subject: impl ToString, changes: Value) -> Result<()> {
        let who = Who {
            on_behalf_of: Some(org),
            ..self.who.clone()
        };
        audit::record(self.conn, self.now, who, action, subject, changes).await
    }

    /// Records what happened under other identities (e.g. a change made on behalf of
    /// another organization than the operation's).
    pub async fn audit_as(&mut self, who: Who, action: Action, subject: impl ToString, changes: Value) -> Result<()> {
        audit::record(self.conn, self.now, who, action, subject, changes).await
    }

    /// Queues an e-mail, sent once the change commits; a second e-mail with the same
    /// event key is not queued.
    pub async fn email(&mut self, event_key: &str, to: &Email, lang: Language, kind: EmailKind) -> Result<()> {
        mail::queue(self.conn, self.now, event_key, to, lang, kind).await
    }

    /// Queues many e-mails with two statements.
    pub async fn emails(&mut self, emails: Vec<Outgoing>) -> Result<usize> {
        mail::queue_many(self.conn, self.now, emails).await
    }

    /// Queues a job, run once the change commits; `None` when a job with the same key
    /// is already queued.
    pub async fn job<J: Job>(&mut self, job: &J, key: Option<&str>) -> Result<Option<String>> {
        jobs::enqueue(self.conn, job, key).await
    }
}

/// The body of an operation. Implemented by every `async |op| { .. }` closure whose
/// future is `Send`; it exists only to state that bound (as diesel-async's transactions do).
pub trait Body<'r, R>:
    AsyncFnOnce(&'r mut Op<'r>) -> Result<R> + FnOnce(&'r mut Op<'r>) -> <Self as Body<'r, R>>::Fut
{
    type Fut: Future<Output = Result<R>>;
}

impl<'r, F, Fut, R> Body<'r, R> for F
where
    F: AsyncFnOnce(&'r mut Op<'r>) -> Result<R> + FnOnce(&'r mut Op<'r>) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    type Fut = Fut;
}

/// The access `actor` holds for `perm` on `scope`.
pub async fn grant(conn: &mut AsyncPgConnection, actor: &Actor, scope: Scope, perm: Permission) -> Result<Access> {
    match scope {
        Scope::Org(org) => authz::authorize(conn, actor, org, perm).await,
        Scope::Vendor => authz::authorize_vendor(conn, actor, perm).await,
    }
}

/// The body of a read: a query given the connection and the access that authorized it.
/// Implemented by every `async |conn, access| { .. }` closure and every `async fn
/// (conn, access)` whose future is `Send`.
pub trait Query<'r, R>:
    AsyncFnOnce(&'r mut AsyncPgConnection, &'r Access) -> Result<R>
    + FnOnce(&'r mut AsyncPgConnection, &'r Access) -> <Self as Query<'r, R>>::Fut
{
    type Fut: Future<Output = Result<R>>;
}

impl<'r, F, Fut, R> Query<'r, R> for F
where
    F: AsyncFnOnce(&'r mut AsyncPgConnection, &'r Access) -> Result<R>
        + FnOnce(&'r mut AsyncPgConnection, &'r Access) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    type Fut = Fut;
}

/// Runs `query` as `actor`, authorized for `perm` on `scope`: the read frame.
pub async fn read<R, F>(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    scope: impl Into<Scope>,
    perm: Permission,
    query: F,
) -> Result<R>
where
    for<'r> F: Query<'r, R, Fut: Send> + Send,
    R: Send,
{
    let access = grant(conn, actor, scope.into(), perm).await?;
    query(conn, &access).await
}

/// Runs `body` as `actor`, authorized for `perm` on `scope` inside the transaction.
pub async fn run<R, F>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    scope: impl Into<Scope>,
    perm: Permission,
    body: F,
) -> Result<R>
where
    for<'r> F: AsyncFnOnce(&'r mut Op<'r>) -> Result<R> + Body<'r, R, Fut: Send> + Send,
    R: Send,
{
    let scope = scope.into();
    conn.transaction(async move |conn| {
        let access = grant(conn, actor, scope, perm).await?;
        let mut op = Op {
            conn: &mut *conn,
            ctx,
            now: ctx.now(),
            who: Who::from(&access),
            access: Some(access),
        };
        body(&mut op).await
    })
    .await
}

/// Runs `body` for someone who holds no permission to check: a stranger following an
/// e-mailed link, a person acting on their own account, or the system.
pub async fn run_as<R, F>(conn: &mut AsyncPgConnection, ctx: &Ctx, who: Who, body: F) -> Result<R>
where
    for<'r> F: AsyncFnOnce(&'r mut Op<'r>) -> Result<R> + Body<'r, R, Fut: Send> + Send,
    R: Send,
{
    conn.transaction(async move |conn| {
        let mut op = Op {
            conn: &mut *conn,
            ctx,
            now: ctx.now(),
            who,
            access: None,
        };
        body(&mut op).await
    })
    .await
}
