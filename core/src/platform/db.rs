//! Connection pool, embedded migrations (ours and apalis's) and database creation.

use std::{cell::Cell, str::FromStr, time::Duration};

use diesel::{
    ConnectionError, QueryableByName,
    connection::{Instrumentation, InstrumentationEvent},
    pg::Pg,
    query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId, SqlQuery},
    serialize::ToSql,
    sql_types::{HasSqlType, Text},
};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
        deadpool::{Hook, HookError, Object, Pool as DeadPool},
    },
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use url::Url;

use crate::{Error, Result, platform::config::Config};

pub type PooledConn = Object<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// How a pool behaves under load.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub size: usize,
    /// How long `get` waits for a free connection before the caller gets 503.
    pub wait: Duration,
    /// Longest a statement may run on a pooled connection.
    pub statement_timeout: Duration,
    /// Longest a statement waits for a lock.
    pub lock_timeout: Duration,
    /// Every transaction read-only (a replica's pool: a write sent there by mistake
    /// fails at once, even where the replica's URL names the primary).
    pub read_only: bool,
}

impl PoolSettings {
    pub fn from_config(config: &Config) -> Self {
        PoolSettings {
            size: config.database_pool_size,
            wait: config.database_pool_timeout,
            statement_timeout: config.database_statement_timeout,
            lock_timeout: config.database_lock_timeout,
            read_only: false,
        }
    }

    /// A small pool for one-off commands (migrate, seed, clock).
    pub fn small() -> Self {
        PoolSettings {
            size: 2,
            wait: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(600),
            lock_timeout: Duration::from_secs(60),
            read_only: false,
        }
    }
}

/// A pool of diesel-async connections whose `get` gives up after the configured wait,
/// and whose connections carry statement and lock timeouts, so one slow transaction
/// or a busy pool never freezes every request.
#[derive(Clone)]
pub struct Pool {
    inner: DeadPool<AsyncPgConnection>,
    wait: Duration,
}

impl Pool {
    /// A connection, or `Unavailable` (503) when none becomes free within the wait.
    pub async fn get(&self) -> Result<PooledConn> {
        match tokio::time::timeout(self.wait, self.inner.get()).await {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(Error::busy("no database connection became free in time")),
        }
    }

    /// Connections open, free, and requests waiting for one.
    pub fn status(&self) -> PoolStatus {
        let s = self.inner.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// A pool for the service's configuration.
pub fn pool_for(config: &Config) -> Result<Pool> {
    pool(&config.database_url, PoolSettings::from_config(config))
}

/// Where the reads that may lag the primary by a moment go (list pages and exports):
/// a read-only replica when one is configured and answers, the primary otherwise.
#[derive(Clone)]
pub struct Reads {
    primary: Pool,
    replica: Option<Pool>,
}

impl Reads {
    /// The reads of this configuration: `DATABASE_REPLICA_URL`'s pool (as large as the
    /// primary's, every transaction read-only) beside the primary's.
    pub fn for_config(config: &Config, primary: &Pool) -> Result<Reads> {
        let replica = match &config.database_replica_url {
            Some(url) => Some(pool(
                url,
                PoolSettings {
                    read_only: true,
                    ..PoolSettings::from_config(config)
                },
            )?),
            None => None,
        };
        Ok(Reads {
            primary: primary.clone(),
            replica,
        })
    }

    /// A connection to the replica, or to the primary when there is none, or when the
    /// replica refuses connections or has none free within the pool's wait.
    pub async fn get(&self) -> Result<PooledConn> {
        if let Some(replica) = &self.replica {
            match replica.get().await {
                Ok(conn) => return Ok(conn),
                Err(err) => {
                    metrics::counter!("partnerdesk_db_replica_fallbacks_total").increment(1);
                    tracing::warn!(%err, "the replica gave no connection; reading the primary");
                }
            }
        }
        self.primary.get().await
    }

    /// The replica's pool, if one is configured.
    pub fn replica(&self) -> Option<&Pool> {
        self.replica.as_ref()
    }

    /// These reads on the primary only (for a caller who must see its own writes).
    pub fn primary_only(&self) -> Reads {
        Reads {
            primary: self.primary.clone(),
            replica: None,
        }
    }
}

/// A pooled connection unused for this long is tested with `SELECT 1` before it is
/// handed out again; one in steady use is not (a test query on every checkout would be
/// a round trip per request for nothing).
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(10);

pub fn pool(database_url: &str, settings: PoolSettings) -> Result<Pool> {
    let statement_ms = settings.statement_timeout.as_millis();
    let lock_ms = settings.lock_timeout.as_millis();
    let read_only = if settings.read_only {
        "; SET default_transaction_read_only = on"
    } else {
        ""
    };
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.batch_execute(&format!(
                "SET statement_timeout = {statement_ms}; SET lock_timeout = {lock_ms}{read_only}"
            ))
            .await
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            conn.set_instrumentation(CountStatements);
            Ok(conn)
        })
    });
    // A connection left in a transaction is still refused at checkout (diesel-async checks
    // that on every recycle); the test query only runs after an idle spell, below.
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, manager_config);
    let verify_idle = Hook::async_fn(|conn: &mut AsyncPgConnection, metrics| {
        Box::pin(async move {
            if metrics.last_used() < VERIFY_AFTER_IDLE {
                return Ok(());
            }
            sql_query("SELECT 1")
                .execute(conn)
                .await
                .map(drop)
                .map_err(|e| HookError::Message(format!("an idle connection failed its test: {e}").into()))
        })
    });
    let inner = DeadPool::builder(manager)
        .max_size(settings.size.max(1))
        .pre_recycle(verify_idle)
        .build()
        .map_err(|e| Error::internal(format!("building the database pool: {e}")))?;
    Ok(Pool {
        inner,
        wait: settings.wait,
    })
}

/// A pool of sqlx connections for apalis-postgres's bookkeeping (fetching, locking and
/// acknowledging jobs, heartbeats, LISTEN/NOTIFY). A connection is not pinged before
/// each use (apalis uses one for every fetch, lock and acknowledgement batch); a broken
/// one fails its statement and is replaced.
///
/// These connections commit asynchronously (`synchronous_commit = off`): a fetch does
/// not wait for its commit to reach the disk. Only a crash of PostgreSQL itself can
/// lose such a commit (the last fraction of a second), and what it loses is
/// bookkeeping: a fetch, lock or acknowledgement undone puts the job back, and it runs
/// again, as after a worker's crash (jobs are idempotent; e-mail deliveries keep their
/// own claim). Jobs themselves are enqueued on the application's pool, in the
/// transaction that caused them, and retries are scheduled there too: both stay durable.
pub fn job_pool(database_url: &str, size: u32) -> Result<apalis_postgres::PgPool> {
    let options = sqlx::postgres::PgConnectOptions::from_str(database_url)
        .map_err(|e| Error::internal(format!("job pool: {e}")))?
        .options([("synchronous_commit", "off")]);
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Runs apalis's migrations, then ours, holding an advisory lock so that several
/// processes starting together migrate once.
pub async fn migrate(database_url: &str) -> Result<()> {
    let mut lock_conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| Error::internal(format!("connecting to {}: {e}", redact(database_url))))?;
    diesel::sql_query("SELECT pg_advisory_lock(7242001)")
        .execute(&mut lock_conn)
        .await?;

    let outcome = async {
        let jobs = apalis_postgres::PgPool::connect(database_url)
            .await
            .map_err(|e| Error::internal(format!("connecting the job store: {e}")))?;
        apalis_postgres::PostgresStorage::setup(&jobs)
            .await
            .map_err(|e| Error::internal(format!("apalis migrations: {e}")))?;
        jobs.close().await;

        let conn = AsyncPgConnection::establish(database_url)
            .await
            .map_err(|e| Error::internal(format!("connecting: {e}")))?;
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| Error::internal(format!("migrations: {e}")))?;
        Ok::<_, Error>(())
    }
    .await;

    diesel::sql_query("SELECT pg_advisory_unlock(7242001)")
        .execute(&mut lock_conn)
        .await?;
    outcome
}

/// A raw statement that each connection prepares once and then reuses, as it does the
/// statements of diesel's query builder: one round trip per execution instead of two,
/// and no parsing and planning again on every request. (diesel never caches
/// `sql_query`, whose text could be anything; ours are fixed templates with `$n`
/// parameters, a bounded set per connection.) Never format a value into the text.
pub fn sql_query<'f>(sql: impl Into<String>) -> Prepared<'f> {
    Prepared {
        query: diesel::sql_query(sql).into_boxed(),
        keep: true,
    }
}

/// See [`sql_query`].
#[must_use = "a statement does nothing until it is run"]
pub struct Prepared<'f> {
    query: BoxedSqlQuery<'f, Pg, SqlQuery>,
    keep: bool,
}

impl<'f> Prepared<'f> {
    /// Binds the next `$n` (as diesel's `sql_query(..).bind`).
    pub fn bind<ST, V>(self, value: V) -> Self
    where
        Pg: HasSqlType<ST>,
        V: ToSql<ST, Pg> + Send + 'f,
        ST: Send + 'f,
    {
        Prepared {
            query: self.query.bind::<ST, V>(value),
            keep: self.keep,
        }
    }

    /// Not kept prepared: parsed and planned for its values on every execution. For a
    /// statement whose best plan depends on the values, which a plan kept for the
    /// statement cannot know (a typed search matches one row or thousands).
    pub fn planned_for_its_values(self) -> Self {
        Prepared { keep: false, ..self }
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> diesel::QueryResult<bool> {
        Ok(self.keep)
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

tokio::task_local! {
    /// The statements sent so far by the future running in [`count_statements`].
    static STATEMENTS: Cell<u32>;
}

/// Runs `work` and counts the statements it sends through pooled connections
/// (transaction control included): what a request costs the database.
pub async fn count_statements<F: Future>(work: F) -> (F::Output, u32) {
    STATEMENTS
        .scope(Cell::new(0), async {
            let out = work.await;
            (out, STATEMENTS.with(Cell::get))
        })
        .await
}

/// Counts each statement a pooled connection starts, for the [`count_statements`]
/// around it (if any).
struct CountStatements;

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            let _ = STATEMENTS.try_with(|n| n.set(n.get() + 1));
        }
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Creates the database named in `database_url` if it does not exist yet. Returns
/// whether it was created.
pub async fn ensure_database(database_url: &str) -> Result<bool> {
    let (admin_url, name) = admin_url(database_url)?;
    let mut conn = AsyncPgConnection::establish(&admin_url)
        .await
        .map_err(|e| Error::internal(format!("connecting to {}: {e}", redact(&admin_url))))?;
    let existing: Vec<Name> = diesel::sql_query("SELECT datname AS name FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(&name)
        .load(&mut conn)
        .await?;
    if existing.iter().any(|n| n.name == name) {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name)))
        .execute(&mut conn)
        .await?;
    Ok(true)
}

/// The URL of the server's `postgres` database and the database name of `database_url`.
pub fn admin_url(database_url: &str) -> Result<(String, String)> {
    let mut url = Url::parse(database_url).map_err(|e| Error::internal(format!("DATABASE_URL: {e}")))?;
    let name = url.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        return Err(Error::internal("DATABASE_URL names no database"));
    }
    url.set_path("/postgres");
    Ok((url.to_string(), name))
}

/// The same server with another database name.
pub fn with_database(database_url: &str, name: &str) -> Result<String> {
    let mut url = Url::parse(database_url).map_err(|e| Error::internal(format!("DATABASE_URL: {e}")))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL without its password, for logs and messages.
pub fn redact(database_url: &str) -> String {
    match Url::parse(database_url) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

/// `SELECT 1` through the pool, within `within`: the readiness probe.
pub async fn ping(pool: &Pool, within: Duration) -> Result<()> {
    let probe = async {
        let mut conn = pool.get().await?;
        sql_query("SELECT 1").execute(&mut conn).await?;
        Ok::<_, Error>(())
    };
    tokio::time::timeout(within, probe)
        .await
        .map_err(|_| Error::busy("the readiness probe timed out"))?
}
