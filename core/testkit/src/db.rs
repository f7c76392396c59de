//! Per-test databases.
//!
//! The first test to need one migrates a template database (named after a hash of our
//! migrations and apalis's), under an advisory lock so parallel test processes build
//! it once. Each test then gets `CREATE DATABASE ... TEMPLATE ...`, which takes a
//! fraction of a second, and drops it when the `TestDb` goes out of scope.

use diesel::migration::MigrationSource;
use diesel::{QueryableByName, sql_query, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use partnerdesk_core::platform::db;

const TEMPLATE_PREFIX: &str = "pd_tpl_";
const TEST_PREFIX: &str = "pd_test_";

/// What a test left broken behind it: jobs that failed for good, e-mails that could not
/// be delivered, and copies kept by triggers that no longer match what they copy (My
/// customers' columns on the links, the partners' customer counts, the trials'
/// partners). A test app refuses to end quietly while there are any.
pub async fn failures(url: &str) -> Vec<String> {
    let Ok(mut conn) = AsyncPgConnection::establish(url).await else {
        return Vec::new();
    };
    let query =
        "SELECT 'job ' || job_type || ' ' || id || ': ' || status || ' ' || coalesce(last_result::text, '') AS name
                   FROM apalis.jobs
                  WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)
                 UNION ALL
                 SELECT 'e-mail ' || template || ' to ' || recipient || ': ' || coalesce(last_error, '') AS name
                   FROM email_deliveries WHERE status = 'failed'
                 UNION ALL
                 SELECT 'the listing of customer ' || l.customer_id || ' differs from its organization and licences'
                   FROM service_provider_links l JOIN organizations o ON o.id = l.customer_id,
                        LATERAL customer_figures(l.customer_id) f
                  WHERE l.ended_at IS NULL
                    AND (l.customer_name, l.customer_active, l.customer_created_at, l.coming_expiry, l.paying,
                         l.in_trial, l.seats_used, l.seats_total)
                        IS DISTINCT FROM (o.name, o.active, o.created_at, f.coming_expiry, f.paying,
                         f.in_trial, f.seats_used, f.seats_total)
                 UNION ALL
                 SELECT 'the customer counts of partner ' || p.organization_id || ' differ from its links'
                   FROM partners p
                  WHERE (SELECT row(coalesce(sum(c.customers), 0), coalesce(sum(c.paying), 0), coalesce(sum(c.in_trial), 0))
                           FROM partner_customer_counts c WHERE c.partner_id = p.organization_id)
                        IS DISTINCT FROM
                        (SELECT row(count(*)::numeric, (count(*) FILTER (WHERE l.paying))::numeric,
                                    (count(*) FILTER (WHERE l.in_trial))::numeric)
                           FROM service_provider_links l WHERE l.partner_id = p.organization_id AND l.ended_at IS NULL)
                 UNION ALL
                 SELECT 'trial ' || t.id || ' names another partner than its organization''s'
                   FROM trials t
                   LEFT JOIN service_provider_links l ON l.customer_id = t.organization_id AND l.ended_at IS NULL
                  WHERE t.partner_id IS DISTINCT FROM l.partner_id";
    match sql_query(query).load::<Name>(&mut conn).await {
        Ok(rows) => rows.into_iter().map(|r| r.name).collect(),
        Err(err) => vec![format!("checking for failed jobs and e-mails: {err}")],
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    name: String,
    admin_url: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The server to create test databases on: DATABASE_URL (any database on it), else the
/// local default.
fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn migrations_fingerprint() -> String {
    let mut hasher = Sha256::new();
    let ours: Vec<Box<dyn diesel::migration::Migration<diesel::pg::Pg>>> =
        MigrationSource::<diesel::pg::Pg>::migrations(&db::MIGRATIONS).expect("embedded migrations");
    for m in &ours {
        hasher.update(m.name().to_string().as_bytes());
    }
    // The embedded migrations carry their SQL; include the files' contents too so an
    // edited migration rebuilds the template.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    for f in files {
        hasher.update(f.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&f).unwrap_or_default());
    }
    for m in apalis_postgres::PostgresStorage::migrations().iter() {
        hasher.update(m.version.to_be_bytes());
        hasher.update(&*m.checksum);
    }
    hex::encode(&hasher.finalize()[..6])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn database_names(conn: &mut AsyncPgConnection, prefix: &str) -> Vec<String> {
    let rows: Vec<Name> = sql_query("SELECT datname AS name FROM pg_database WHERE datname LIKE $1")
        .bind::<Text, _>(format!("{prefix}%"))
        .load(conn)
        .await
        .expect("listing databases");
    rows.into_iter().map(|r| r.name).collect()
}

async fn ensure_template(admin_url: &str) -> String {
    let template = format!("{TEMPLATE_PREFIX}{}", migrations_fingerprint());
    let mut conn = AsyncPgConnection::establish(admin_url).await.unwrap_or_else(|e| {
        panic!(
            "tests need PostgreSQL at {} ({e}); run them with `just test`",
            db::redact(admin_url)
        )
    });
    sql_query("SELECT pg_advisory_lock(7242002)")
        .execute(&mut conn)
        .await
        .expect("template lock");

    // Databases of test processes that died without cleaning up.
    for name in database_names(&mut conn, TEST_PREFIX).await {
        let pid = name
            .trim_start_matches(TEST_PREFIX)
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !pid_alive(p)) {
            drop_database(&mut conn, &name).await;
        }
    }

    let existing = database_names(&mut conn, TEMPLATE_PREFIX).await;
    if !existing.contains(&template) {
        for stale in existing {
            drop_database(&mut conn, &stale).await;
        }
        let building = format!("{template}_building");
        sql_query(format!("CREATE DATABASE {}", db::quote_ident(&building)))
            .execute(&mut conn)
            .await
            .expect("creating the template");
        let url = db::with_database(admin_url, &building).expect("template url");
        db::migrate(&url).await.expect("migrating the template");
        sql_query(format!(
            "ALTER DATABASE {} RENAME TO {}",
            db::quote_ident(&building),
            db::quote_ident(&template)
        ))
        .execute(&mut conn)
        .await
        .expect("renaming the template");
    }
    sql_query("SELECT pg_advisory_unlock(7242002)")
        .execute(&mut conn)
        .await
        .expect("template unlock");
    template
}

/// Drops a database, whoever is connected to it; a failure is left for the next run.
async fn drop_database(conn: &mut AsyncPgConnection, name: &str) {
    let _ = sql_query(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        db::quote_ident(name)
    ))
    .execute(conn)
    .await;
}

/// Creates database `name` as a copy of `template`, waiting while another process is
/// connected to the template for a moment.
async fn create_from(admin_url: &str, name: &str, template: &str) {
    let mut conn = AsyncPgConnection::establish(admin_url).await.expect("admin connection");
    let mut attempts = 0;
    loop {
        let created = sql_query(format!(
            "CREATE DATABASE {} TEMPLATE {}",
            db::quote_ident(name),
            db::quote_ident(template)
        ))
        .execute(&mut conn)
        .await;
        match created {
            Ok(_) => return,
            Err(e) if attempts < 50 => {
                attempts += 1;
                tracing::debug!(%e, "retrying CREATE DATABASE");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("creating test database {name} from {template}: {e}"),
        }
    }
}

impl TestDb {
    /// A fresh, migrated, empty database.
    pub async fn new() -> TestDb {
        let (admin_url, _) = db::admin_url(&server_url()).expect("DATABASE_URL names a database");
        let template = ensure_template(&admin_url).await;
        let name = format!(
            "{TEST_PREFIX}{}_{}",
            std::process::id(),
            partnerdesk_core::platform::tokens::random_code(8).to_lowercase()
        );
        create_from(&admin_url, &name, &template).await;
        let url = db::with_database(&admin_url, &name).expect("test database url");
        TestDb { url, name, admin_url }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL `copy` makes this database's copy at, known before it exists.
    pub fn copy_url(&self) -> String {
        db::with_database(&self.admin_url, &self.copy_name()).expect("test database url")
    }

    fn copy_name(&self) -> String {
        format!("{}_copy", self.name)
    }

    /// Copies the database as it is now to `copy_url` (as a replica would hold it);
    /// nobody may be connected to it. Dropped with this one.
    pub async fn copy(&self) {
        create_from(&self.admin_url, &self.copy_name(), &self.name).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let names = [self.name.clone(), self.copy_name()];
        finish_on_own_thread(async move {
            if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                for name in names {
                    drop_database(&mut conn, &name).await;
                }
            }
        });
    }
}

/// Runs `work` to its end on a thread and runtime of its own, and waits for it: for
/// clean-up in a `Drop`, which runs inside a runtime that must not be blocked on.
pub fn finish_on_own_thread(work: impl Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work);
    })
    .join();
}
