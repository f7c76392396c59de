//! Connection pool, embedded migrations (ours and apalis's) and database creation.

use diesel::{QueryableByName, sql_query, sql_types::Text};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl,
    pooled_connection::{
        AsyncDieselConnectionManager,
        deadpool::{Object, Pool as DeadPool},
    },
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use url::Url;

use crate::{Error, Result};

pub type Pool = DeadPool<AsyncPgConnection>;
pub type PooledConn = Object<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A pool of diesel-async connections.
pub fn pool(database_url: &str, size: usize) -> Result<Pool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| Error::internal(format!("building the database pool: {e}")))
}

/// A pool of sqlx connections for apalis-postgres (job storage and LISTEN/NOTIFY).
pub fn job_pool(database_url: &str, size: u32) -> Result<apalis_postgres::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .connect_lazy(database_url)
        .map_err(|e| Error::internal(format!("job pool: {e}")))
}

/// Runs apalis's migrations, then ours, holding an advisory lock so that several
/// processes starting together migrate once.
pub async fn migrate(database_url: &str) -> Result<()> {
    let mut lock_conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| Error::internal(format!("connecting to {}: {e}", redact(database_url))))?;
    sql_query("SELECT pg_advisory_lock(7242001)")
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

    sql_query("SELECT pg_advisory_unlock(7242001)")
        .execute(&mut lock_conn)
        .await?;
    outcome
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
    let existing: Vec<Name> = sql_query("SELECT datname AS name FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(&name)
        .load(&mut conn)
        .await?;
    if existing.iter().any(|n| n.name == name) {
        return Ok(false);
    }
    sql_query(format!("CREATE DATABASE {}", quote_ident(&name)))
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

/// `SELECT 1` through the pool: the readiness probe.
pub async fn ping(pool: &Pool) -> Result<()> {
    let mut conn = pool.get().await?;
    sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}
