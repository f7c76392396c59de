//! A deterministic data set at the size of a large vendor, for benchmarks and plan
//! checks: `partnerdesk-dev seed-scale` (`just seed-scale`). Everything is written with
//! COPY in one transaction, into a database that holds no organizations yet.
//!
//! The shape: one vendor; `partners` partners, of which the first holds a tenth of all
//! customers and the second a thousand (the sizes the benchmarks name); the other
//! customers spread evenly; each customer with `users_per_customer` users, the first
//! its administrator. Every partner's administrator (`admin@p<n>.scale.example`) and
//! the vendor's (`admin@vendor.scale.example`) log in with the given password.
//!
//! Customers (not prospects: every tenth) hold a paid business licence of the first
//! module, every other one also of the second, and each of their users a user licence
//! of the first; every tenth customer has an active trial of the third module (its
//! business licence a trial one), every tenth but five an ended one.
//!
//! Their order history over the two years (see `History`): 2.5 orders per customer
//! that is not a prospect, the first buying the licences it holds, the later ones
//! credits; an invoice per order, most paid, the recent ones open, one in 50 overdue;
//! every customer attributed to its partner, which earns a commission on every line of
//! a paid order at the link's rate (pending for 30 days, then approved and paid out
//! monthly; a few declined, refunded and reversed or clawed back).
//!
//! And the job queue's history, for the ops view (see `JobRow`): one job per customer
//! in `apalis.jobs`, almost all done in the last week, a few failed, retrying, pending
//! or scheduled, with their runs, the workers' per-minute counts of the last two days
//! and two worker processes, one of them gone.

use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sqlx::{Connection, postgres::PgConnection};
use uuid::Uuid;

use partnerdesk_core::{Error, Result};

/// The password of the administrators it makes (as in the demo data).
pub const PASSWORD: &str = "partnerdesk-demo";

/// How much to make.
#[derive(Debug, Clone, Copy)]
pub struct ScaleSize {
    pub partners: u64,
    pub customers: u64,
    pub users_per_customer: u64,
}

impl Default for ScaleSize {
    fn default() -> Self {
        ScaleSize {
            partners: 10_000,
            customers: 1_000_000,
            users_per_customer: 5,
        }
    }
}

/// What was made.
#[derive(Debug, Clone, Default)]
pub struct ScaleReport {
    pub organizations: u64,
    pub partners: u64,
    pub links: u64,
    pub users: u64,
    pub memberships: u64,
    pub modules: u64,
    pub trials: u64,
    pub business_licences: u64,
    pub user_licences: u64,
    /// User licences bought as credits (no user yet), one per credit order line.
    pub credits: u64,
    pub orders: u64,
    pub order_lines: u64,
    pub invoices: u64,
    pub paid_invoices: u64,
    pub attributions: u64,
    pub credit_notes: u64,
    /// Commissions, clawbacks included.
    pub commissions: u64,
    pub clawbacks: u64,
    pub payouts: u64,
    /// Jobs in `apalis.jobs`, their runs, per-minute counts and worker processes.
    pub jobs: u64,
    pub job_runs: u64,
    pub job_stats: u64,
    pub worker_processes: u64,
    pub seconds: f64,
}

/// Kinds of row, in the ids (so that the same size always gives the same ids).
#[derive(Clone, Copy)]
enum Kind {
    Organization = 1,
    User = 2,
    Membership = 3,
    Link = 4,
    Module = 5,
    BusinessLicence = 6,
    UserLicence = 7,
    Trial = 8,
    Order = 9,
    OrderLine = 10,
    Invoice = 11,
    Commission = 12,
    Clawback = 13,
    CreditNote = 14,
    Payout = 15,
    Credit = 16,
    EmailDelivery = 17,
    BillingRun = 18,
}

fn id(kind: Kind, n: u64) -> Uuid {
    Uuid::from_u64_pair(0x5CA1_E000_0000_0000 | ((kind as u64) << 32), n)
}

/// The partner of customer `c` (0-based): the first partner a tenth of all customers,
/// the second a thousand, the rest in turn.
fn partner_of(size: &ScaleSize, c: u64) -> u64 {
    let big = size.customers / 10;
    let second = 1000.min(size.customers.saturating_sub(big));
    if c < big || size.partners == 1 {
        0
    } else if c < big + second || size.partners == 2 {
        1
    } else {
        2 + (c - big - second) % (size.partners - 2)
    }
}

/// Writes every row `row(n, out)` makes for `n` in `0..count` into `table (columns)`,
/// sent in pieces of about a megabyte.
async fn copy_rows(
    conn: &mut PgConnection,
    table_columns: &str,
    count: u64,
    mut row: impl FnMut(u64, &mut Vec<u8>),
) -> Result<u64> {
    let db = |e: sqlx::Error| Error::internal(format!("COPY {table_columns}: {e}"));
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table_columns} FROM STDIN"))
        .await
        .map_err(db)?;
    let mut buffer = Vec::with_capacity(1 << 20);
    for n in 0..count {
        row(n, &mut buffer);
        if buffer.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buffer)).await.map_err(db)?;
            buffer.reserve(1 << 20);
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await.map_err(db)?;
    }
    copy.finish().await.map_err(db)
}

/// One COPY text row: the fields joined by tabs (`None` is NULL).
fn line(out: &mut Vec<u8>, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        out.extend_from_slice(f.unwrap_or("\\N").as_bytes());
    }
    out.push(b'\n');
}

/// Makes the data set in the database at `database_url`; refused when it already
/// holds organizations. `secret` is the server's secret key, from which the invoices'
/// payment links are derived (so that they work on a server with that key).
pub async fn run(database_url: &str, size: ScaleSize, password_hash: &str, secret: &[u8]) -> Result<ScaleReport> {
    if size.partners < 1 || size.customers < 1 || size.users_per_customer < 1 {
        return Err(Error::bad_request(
            "invalid_size",
            None,
            "Every size must be at least 1",
        ));
    }
    let started = Instant::now();
    let db = |e: sqlx::Error| Error::internal(format!("scale seed: {e}"));
    let mut conn = PgConnection::connect(database_url).await.map_err(db)?;
    let (orgs,): (i64,) = sqlx::query_as("SELECT count(*) FROM organizations")
        .fetch_one(&mut conn)
        .await
        .map_err(db)?;
    if orgs > 0 {
        return Err(Error::conflict(
            "database_not_empty",
            None,
            "The database already holds organizations; seed-scale fills an empty one",
        ));
    }
    let mut tx = conn.begin().await.map_err(db)?;
    user_triggers(&mut tx, false).await?;
    let now = Utc::now();
    let mut report = organizations(&mut tx, size, now).await?;
    report.links = links(&mut tx, size, now).await?;
    let (users, memberships) = people(&mut tx, size, now, password_hash).await?;
    report.users = users;
    report.memberships = memberships;
    let history = History::new(size, now);
    licences(&mut tx, &history, secret, &mut report).await?;
    money_owed(&mut tx, &history, &mut report).await?;
    job_history(&mut tx, size, now, &mut report).await?;
    rebuild_kept_copies(&mut tx).await?;
    tx.commit().await.map_err(db)?;
    let mut conn = PgConnection::connect(database_url).await.map_err(db)?;
    sqlx::query("ANALYZE").execute(&mut conn).await.map_err(db)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Turns the user triggers of every table that has them on or off: the triggers that
/// keep copies and counters (My customers' columns on the links, the trials' partners,
/// the partners' customer counts, the commission totals) and the job queue's
/// notifications. Row by row they would make the load many times slower.
async fn user_triggers(conn: &mut PgConnection, on: bool) -> Result<()> {
    let sql = if on {
        "DO $$ DECLARE t regclass; BEGIN
           FOR t IN SELECT DISTINCT tgrelid::regclass FROM pg_trigger WHERE NOT tgisinternal LOOP
             EXECUTE format('ALTER TABLE %s ENABLE TRIGGER USER', t);
           END LOOP; END $$"
    } else {
        "DO $$ DECLARE t regclass; BEGIN
           FOR t IN SELECT DISTINCT tgrelid::regclass FROM pg_trigger WHERE NOT tgisinternal LOOP
             EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', t);
           END LOOP; END $$"
    };
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::internal(format!("scale seed triggers: {e}")))?;
    Ok(())
}

/// What the triggers keep, computed in bulk from the loaded rows (as the migrations
/// that added them do); then the triggers back on.
async fn rebuild_kept_copies(conn: &mut PgConnection) -> Result<()> {
    sqlx::raw_sql(
        "SELECT customer_listing_rebuild();
         DELETE FROM commission_totals;
         INSERT INTO commission_totals (partner_id, state, amount, commissions)
         SELECT partner_id, state, sum(amount), count(*) FROM commissions GROUP BY partner_id, state;
         INSERT INTO job_stats_hourly (queue, hour, worker, done, failed)
         SELECT queue, date_trunc('hour', minute, 'UTC'), worker, sum(done), sum(failed)
         FROM job_stats GROUP BY 1, 2, 3;",
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::internal(format!("scale seed rebuild: {e}")))?;
    user_triggers(conn, true).await
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

/// Organization numbers: 0 the vendor, 1..=partners the partners, then the customers.
fn customer_org(size: &ScaleSize, c: u64) -> u64 {
    1 + size.partners + c
}

/// Created over the two years before `now`, in order.
fn created(now: DateTime<Utc>, n: u64, of: u64) -> DateTime<Utc> {
    let span = Duration::days(730).num_seconds() as u64;
    now - Duration::days(730) + Duration::seconds((span * n / of.max(1)) as i64)
}

async fn organizations(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<ScaleReport> {
    let total = 1 + size.partners + size.customers;
    let countries = ["NL", "DE", "BE", "AT", "CH", "GB"];
    let organizations = copy_rows(
        conn,
        "organizations (id, name, is_vendor, active, customer_type, country, language, contact_email, billing_exempt, signup_origin, created_at, updated_at)",
        total,
        |n, out| {
            let at = stamp(created(now, n, total));
            let (name, vendor, kind, exempt, origin) = if n == 0 {
                ("Scale Vendor".to_owned(), "t", "INTERNAL", "t", "seed")
            } else if n <= size.partners {
                (format!("Partner {n:05}"), "f", "PARTNER", "t", "seed")
            } else {
                let c = n - 1 - size.partners;
                let kind = if c % 10 == 9 { "PROSPECT" } else { "CUSTOMER" };
                (format!("Customer {c:07} BV"), "f", kind, "f", "created_by_partner")
            };
            let active = if n > size.partners && n % 20 == 0 { "f" } else { "t" };
            let email = format!("office@o{n}.scale.example");
            line(
                out,
                &[
                    Some(&id(Kind::Organization, n).to_string()),
                    Some(&name),
                    Some(vendor),
                    Some(active),
                    Some(kind),
                    Some(countries[(n % 6) as usize]),
                    Some(if n % 3 == 0 { "de" } else { "nl" }),
                    Some(&email),
                    Some(exempt),
                    Some(origin),
                    Some(&at),
                    Some(&at),
                ],
            );
        },
    )
    .await?;
    let partners = copy_rows(
        conn,
        "partners (organization_id, status, partner_code, affiliate_code, default_commission_rate, approved_at, created_at, updated_at)",
        size.partners,
        |p, out| {
            let at = stamp(created(now, 1 + p, total));
            line(
                out,
                &[
                    Some(&id(Kind::Organization, 1 + p).to_string()),
                    Some("active"),
                    Some(&format!("P{p:06}")),
                    Some(&format!("A{p:06}")),
                    Some("20.00"),
                    Some(&at),
                    Some(&at),
                    Some(&at),
                ],
            );
        },
    )
    .await?;
    Ok(ScaleReport {
        organizations,
        partners,
        ..ScaleReport::default()
    })
}

/// Each customer's link to its partner; the partner created the customer, so the
/// customer grants it everything a partner can be granted (as when a partner adds one).
async fn links(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    let total = 1 + size.partners + size.customers;
    let names: Vec<&str> = partnerdesk_core::platform::authz::Permission::DELEGABLE
        .iter()
        .map(|p| p.as_str())
        .collect();
    let granted = format!("{{{}}}", names.join(","));
    copy_rows(
        conn,
        "service_provider_links (id, customer_id, partner_id, origin, commission_rate, debtor_number, created_at, updated_at, granted_permissions, customer_name, customer_active, customer_created_at)",
        size.customers,
        |c, out| {
            let org = customer_org(&size, c);
            let at = stamp(created(now, org, total));
            // The customer's own columns are copied from its organization at the end.
            line(
                out,
                &[
                    Some(&id(Kind::Link, c).to_string()),
                    Some(&id(Kind::Organization, org).to_string()),
                    Some(&id(Kind::Organization, 1 + partner_of(&size, c)).to_string()),
                    Some("created_by_partner"),
                    Some(if c % 4 == 0 { "15.00" } else { "20.00" }),
                    Some(&format!("D{c:07}")),
                    Some(&at),
                    Some(&at),
                    Some(&granted),
                    Some(""),
                    Some("t"),
                    Some(&at),
                ],
            );
        },
    )
    .await
}

/// Users and their memberships: the vendor's and each partner's administrator, then
/// each customer's users.
async fn people(
    conn: &mut PgConnection,
    size: ScaleSize,
    now: DateTime<Utc>,
    password_hash: &str,
) -> Result<(u64, u64)> {
    let staff = 1 + size.partners;
    let total = staff + size.customers * size.users_per_customer;
    let first_names = ["Anna", "Jan", "Eva", "Max", "Sofie", "Lukas", "Emma", "Noah"];
    let last_names = ["de Vries", "Jansen", "Bakker", "Müller", "Schmidt", "Visser"];
    // User `u`: its organization, address, role.
    let who = |u: u64| -> (u64, String, &'static str) {
        if u == 0 {
            (0, "admin@vendor.scale.example".to_owned(), "administrator")
        } else if u < staff {
            (u, format!("admin@p{u}.scale.example"), "administrator")
        } else {
            let c = (u - staff) / size.users_per_customer;
            let k = (u - staff) % size.users_per_customer;
            let role = if k == 0 { "administrator" } else { "member" };
            (customer_org(&size, c), format!("u{k}@c{c}.scale.example"), role)
        }
    };
    let users = copy_rows(
        conn,
        "users (id, email, password_hash, first_name, last_name, language, email_verified_at, created_at, updated_at, managed_by_organization_id)",
        total,
        |u, out| {
            let (org, email, _) = who(u);
            let at = stamp(created(now, u, total));
            let managed = (u >= staff).then(|| id(Kind::Organization, org).to_string());
            line(
                out,
                &[
                    Some(&id(Kind::User, u).to_string()),
                    Some(&email),
                    (u < staff).then_some(password_hash),
                    Some(first_names[(u % 8) as usize]),
                    Some(last_names[(u % 6) as usize]),
                    Some(if u % 3 == 0 { "de" } else { "nl" }),
                    Some(&at),
                    Some(&at),
                    Some(&at),
                    managed.as_deref(),
                ],
            );
        },
    )
    .await?;
    let memberships = copy_rows(
        conn,
        "memberships (id, organization_id, user_id, role, permissions, active, created_at, updated_at, accepted_at)",
        total,
        |u, out| {
            let (org, _, role) = who(u);
            let at = stamp(created(now, u, total));
            let permissions = if u == 0 {
                "{vendor.admin,vendor.sales,vendor.finance,vendor.ops}"
            } else {
                "{}"
            };
            line(
                out,
                &[
                    Some(&id(Kind::Membership, u).to_string()),
                    Some(&id(Kind::Organization, org).to_string()),
                    Some(&id(Kind::User, u).to_string()),
                    Some(role),
                    Some(permissions),
                    Some(if u % 50 == 49 { "f" } else { "t" }),
                    Some(&at),
                    Some(&at),
                    Some(&at),
                ],
            );
        },
    )
    .await?;
    Ok((users, memberships))
}

const MODULES: [(&str, &str, &str, &str); 4] = [
    ("SCALE-PHONE", "Phone", "25.00", "4.50"),
    ("SCALE-CRM", "CRM connector", "15.00", "2.00"),
    ("SCALE-REC", "Call recording", "30.00", "3.00"),
    ("SCALE-WALL", "Wallboard", "10.00", "0.00"),
];

/// Whether customer `c` is a prospect (no paid licences).
fn prospect(c: u64) -> bool {
    c % 10 == 9
}

/// The module catalogue, trials, the orders that bought the licences, and the licences.
async fn licences(conn: &mut PgConnection, history: &History, secret: &[u8], report: &mut ScaleReport) -> Result<()> {
    let (size, now) = (history.size, history.now);
    let at = stamp(now - Duration::days(730));
    report.modules = copy_rows(
        conn,
        "modules (id, code, name, business_price, user_price, created_at, updated_at)",
        MODULES.len() as u64,
        |m, out| {
            let (code, name, business, user) = MODULES[m as usize];
            let fields = [id(Kind::Module, m).to_string(), at.clone()];
            line(
                out,
                &[
                    Some(&fields[0]),
                    Some(code),
                    Some(name),
                    Some(business),
                    Some(user),
                    Some(&fields[1]),
                    Some(&fields[1]),
                ],
            );
        },
    )
    .await?;
    report.trials = trials(conn, size, now).await?;
    orders(conn, history, secret, report).await?;
    report.business_licences = business_licences(conn, size, now).await?;
    report.user_licences = user_licences(conn, size, now).await?;
    report.credits = credits(conn, history).await?;
    Ok(())
}

/// Every tenth customer tries the third module now; every tenth but five tried it.
async fn trials(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    copy_rows(
        conn,
        "trials (id, organization_id, module_id, max_users, starts_at, ends_at, status, ended_at, created_at)",
        size.customers,
        |c, out| {
            let (starts, status) = match c % 10 {
                0 => (now - Duration::days((c / 10 % 29) as i64), "active"),
                5 => (now - Duration::days(60 + (c % 300) as i64), "ended"),
                _ => return,
            };
            let ends = starts + Duration::days(30);
            let ended = (status == "ended").then(|| stamp(ends));
            let (starts, ends) = (stamp(starts), stamp(ends));
            let ids = [
                id(Kind::Trial, c).to_string(),
                id(Kind::Organization, customer_org(&size, c)).to_string(),
                id(Kind::Module, 2).to_string(),
            ];
            line(
                out,
                &[
                    Some(&ids[0]),
                    Some(&ids[1]),
                    Some(&ids[2]),
                    Some("5"),
                    Some(&starts),
                    Some(&ends),
                    Some(status),
                    ended.as_deref(),
                    Some(&starts),
                ],
            );
        },
    )
    .await
}

/// Three places per customer: the first module (paid), the second (paid, every other
/// customer), the third (the active trial's). The paid ones were bought with the
/// customer's first order.
async fn business_licences(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    let total = 1 + size.partners + size.customers;
    copy_rows(
        conn,
        "business_licences (id, organization_id, module_id, kind, trial_id, order_id, active, starts_at, created_at, billable_from)",
        size.customers * 3,
        |n, out| {
            let (c, slot) = (n / 3, n % 3);
            let org = customer_org(&size, c);
            let paid = stamp(created(now, org, total));
            let trial_start = stamp(now - Duration::days((c / 10 % 29) as i64));
            let (kind, trial, starts) = match slot {
                0 | 1 if prospect(c) => return,
                1 if c % 2 == 1 => return,
                0 | 1 => ("paid", None, paid),
                _ if c % 10 == 0 => ("trial", Some(id(Kind::Trial, c).to_string()), trial_start),
                _ => return,
            };
            let billable = (kind == "paid").then(|| starts.clone());
            let order = (kind == "paid").then(|| id(Kind::Order, c * ORDER_SLOTS).to_string());
            let ids = [
                id(Kind::BusinessLicence, n).to_string(),
                id(Kind::Organization, org).to_string(),
                id(Kind::Module, slot).to_string(),
            ];
            line(
                out,
                &[
                    Some(&ids[0]),
                    Some(&ids[1]),
                    Some(&ids[2]),
                    Some(kind),
                    trial.as_deref(),
                    order.as_deref(),
                    Some("t"),
                    Some(&starts),
                    Some(&starts),
                    billable.as_deref(),
                ],
            );
        },
    )
    .await
}

/// Each user of a customer (not a prospect) holds a paid licence of the first module,
/// bought with the customer's first order.
async fn user_licences(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    let staff = 1 + size.partners;
    let total = staff + size.customers * size.users_per_customer;
    copy_rows(
        conn,
        "user_licences (id, organization_id, module_id, user_id, kind, order_id, active, starts_at, assigned_at, created_at, billable_from)",
        size.customers * size.users_per_customer,
        |n, out| {
            let c = n / size.users_per_customer;
            if prospect(c) {
                return;
            }
            let at = stamp(created(now, staff + n, total));
            let ids = [
                id(Kind::UserLicence, n).to_string(),
                id(Kind::Organization, customer_org(&size, c)).to_string(),
                id(Kind::Module, 0).to_string(),
                id(Kind::User, staff + n).to_string(),
                id(Kind::Order, c * ORDER_SLOTS).to_string(),
            ];
            line(
                out,
                &[
                    Some(&ids[0]),
                    Some(&ids[1]),
                    Some(&ids[2]),
                    Some(&ids[3]),
                    Some("paid"),
                    Some(&ids[4]),
                    Some("t"),
                    Some(&at),
                    Some(&at),
                    Some(&at),
                    Some(&at),
                ],
            );
        },
    )
    .await
}

// ---------------------------------------------------------------------------------
// Orders and invoices

/// Order places per customer and order-line places per order, in the ids.
const ORDER_SLOTS: u64 = 4;
const LINE_SLOTS: u64 = 3;
/// As configured by default: `PAYMENT_DUE_DAYS`, `COMMISSION_HOLD_DAYS`, `PAYOUT_MINIMUM`.
const PAYMENT_DUE_DAYS: i64 = 14;
const COMMISSION_HOLD_DAYS: i64 = 30;
const PAYOUT_MINIMUM_CENTS: i64 = 50_00;

/// What order lines sell, priced from the catalogue.
struct Product {
    module: u64,
    kind: &'static str,
    description: String,
    /// Monthly price of one, in cents.
    unit: i64,
}

/// The products: the first module's business and user licences, the second's business
/// licence, and credits of the first and second.
fn products() -> [Product; 5] {
    let product = |module: usize, kind: &'static str, what: &str| {
        let (_, name, business, user) = MODULES[module];
        Product {
            module: module as u64,
            kind,
            description: format!("{name} {what}"),
            unit: cents(if kind == "business" { business } else { user }),
        }
    };
    [
        product(0, "business", "business licence"),
        product(0, "user", "user licences"),
        product(1, "business", "business licence"),
        product(0, "credit", "credits (user licences to assign later)"),
        product(1, "credit", "credits (user licences to assign later)"),
    ]
}

/// A catalogue price (`"25.00"`) in cents.
fn cents(price: &str) -> i64 {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, "0"));
    whole.parse::<i64>().unwrap_or(0) * 100 + format!("{fraction:0<2}")[..2].parse::<i64>().unwrap_or(0)
}

/// Cents as a `numeric` with two decimals.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// `monthly` cents for the rest of the month `at` is in, rounded half up (as quotes price).
fn prorated(monthly: i64, at: DateTime<Utc>) -> i64 {
    let day = at.date_naive();
    let end = partnerdesk_core::commerce::pricing::month_end(day);
    let (days, month) = ((end - day).num_days() + 1, i64::from(end.day()));
    (monthly * days * 2 + month) / (2 * month)
}

/// A partner's commission on `base` cents at `rate` (hundredths of a percent), rounded
/// half away from zero (as PostgreSQL's `round(numeric, 2)`).
fn commission_of(base: i64, rate: i64) -> i64 {
    base.signum() * ((base.abs() * rate * 2 + 10_000) / 20_000)
}

/// The rules of the order history, shared by every pass over it: each COPY recomputes
/// what it needs from the indices, so nothing is held per customer.
///
/// Every customer that is not a prospect placed 1 to 4 orders (2.5 on average): the
/// first when it was created, through its partner (the first module's business
/// licence and its users' licences, the second's business licence for every other
/// customer: the licences it holds), the later ones spread over the time since, each
/// buying one credit of the first module and, for every other customer, one of the
/// second. Each order has its invoice, due in 14 days; an order is paid 1 to 10 days
/// after it was placed, except those whose day has not come yet and one in 50, left
/// unpaid past its due date. One paid line in 400 is refunded in full (a credit note),
/// half of them 10 days after payment, half 75; an order whose only line was refunded
/// is refunded. (One in so many: picked by `mix` of the order's or line's index.)
struct History {
    size: ScaleSize,
    now: DateTime<Utc>,
    products: [Product; 5],
}

#[derive(Clone, Copy)]
struct Line {
    slot: u64,
    product: usize,
    quantity: i64,
    amount: i64,
    refunded: Option<DateTime<Utc>>,
}

struct Order {
    slot: u64,
    customer: u64,
    partner: u64,
    at: DateTime<Utc>,
    paid: Option<DateTime<Utc>>,
    lines: [Option<Line>; LINE_SLOTS as usize],
}

impl Order {
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().flatten()
    }

    fn total(&self) -> i64 {
        self.lines().map(|l| l.amount).sum()
    }

    fn status(&self) -> &'static str {
        match self.paid {
            None => "open",
            Some(_) if self.lines().all(|l| l.refunded.is_some()) => "refunded",
            Some(_) => "paid",
        }
    }
}

/// A well-mixed number for index `n` (SplitMix64's finalizer), for the rules that pick
/// one in so many: indices that follow the customers' pattern would pick only some
/// kinds of line or customer.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One line's commission in 1,000, once five days old, was declined by finance.
fn declined(line: u64, paid: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let at = paid + Duration::days(5);
    (mix(line) % 1000 == 1 && at <= now).then_some(at)
}

/// How many orders customer `c` placed.
fn orders_of(c: u64) -> u64 {
    if prospect(c) { 0 } else { 1 + (c / 10) % 4 }
}

impl History {
    fn new(size: ScaleSize, now: DateTime<Utc>) -> Self {
        History {
            size,
            now,
            products: products(),
        }
    }

    /// Order `o` (`customer × ORDER_SLOTS + n`), if the customer placed an `n`-th.
    fn order(&self, o: u64) -> Option<Order> {
        let (c, n) = (o / ORDER_SLOTS, o % ORDER_SLOTS);
        if n >= orders_of(c) {
            return None;
        }
        let total = 1 + self.size.partners + self.size.customers;
        let first = created(self.now, customer_org(&self.size, c), total);
        let since = (self.now - first).num_seconds();
        let at = first + Duration::seconds(since * n as i64 / orders_of(c) as i64);
        let paid = self.paid_at(o, at);
        let mut lines = [None; LINE_SLOTS as usize];
        for (x, place) in lines.iter_mut().enumerate() {
            let slot = o * LINE_SLOTS + x as u64;
            *place = self.product_of(c, n, x).map(|(product, quantity)| Line {
                slot,
                product,
                quantity,
                amount: prorated(self.products[product].unit * quantity, at),
                refunded: paid.and_then(|p| self.refunded(slot, p)),
            });
        }
        Some(Order {
            slot: o,
            customer: c,
            partner: partner_of(&self.size, c),
            at,
            paid,
            lines,
        })
    }

    /// Line `x` of the `n`-th order of customer `c`: product and quantity.
    fn product_of(&self, c: u64, n: u64, x: usize) -> Option<(usize, i64)> {
        let second_module = c.is_multiple_of(2);
        match (n, x) {
            (0, 0) => Some((0, 1)),
            (0, 1) => Some((1, self.size.users_per_customer as i64)),
            (0, 2) if second_module => Some((2, 1)),
            (1.., 0) => Some((3, 1)),
            (1.., 1) if second_module => Some((4, 1)),
            _ => None,
        }
    }

    fn paid_at(&self, o: u64, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let draw = mix(o);
        if draw.is_multiple_of(50) && self.now - at > Duration::days(PAYMENT_DUE_DAYS + 2) {
            return None;
        }
        let paid = at + Duration::days(1 + (draw / 50 % 10) as i64) + Duration::hours((draw / 500 % 24) as i64);
        (paid <= self.now).then_some(paid)
    }

    fn refunded(&self, line: u64, paid: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let draw = mix(line);
        let after = if (draw / 400).is_multiple_of(2) { 10 } else { 75 };
        let at = paid + Duration::days(after);
        (draw.is_multiple_of(400) && at <= self.now).then_some(at)
    }

    /// Order places to go through (most hold an order).
    fn order_slots(&self) -> u64 {
        self.size.customers * ORDER_SLOTS
    }
}

/// An order's invoice number, as the application numbers them.
fn invoice_number(number: u64, at: DateTime<Utc>) -> String {
    format!("INV-{}-{number:06}", at.year())
}

/// Orders, their lines and invoices.
async fn orders(conn: &mut PgConnection, history: &History, secret: &[u8], report: &mut ScaleReport) -> Result<()> {
    let mut number = 0;
    report.orders = copy_rows(
        conn,
        "orders (id, number, organization_id, partner_id, created_by, source, currency, total, status, created_at)",
        history.order_slots(),
        |n, out| {
            let Some(o) = history.order(n) else { return };
            number += 1;
            let ids = [
                id(Kind::Order, o.slot).to_string(),
                id(Kind::Organization, customer_org(&history.size, o.customer)).to_string(),
                id(Kind::Organization, 1 + o.partner).to_string(),
                id(Kind::User, 1 + o.partner).to_string(),
            ];
            let source = if o.slot % ORDER_SLOTS == 0 {
                "add_products"
            } else {
                "credits"
            };
            let fields = [number.to_string(), money(o.total()), stamp(o.at)];
            line(
                out,
                &[
                    Some(&ids[0]),
                    Some(&fields[0]),
                    Some(&ids[1]),
                    Some(&ids[2]),
                    Some(&ids[3]),
                    Some(source),
                    Some("EUR"),
                    Some(&fields[1]),
                    Some(o.status()),
                    Some(&fields[2]),
                ],
            );
        },
    )
    .await?;
    // The application numbers the next order and invoice after these.
    sqlx::query(
        "SELECT setval('orders_number_seq', GREATEST($1, 1), $1 > 0), setval('invoice_number_seq', GREATEST($1, 1), $1 > 0)",
    )
    .bind(report.orders as i64)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::internal(format!("order numbers: {e}")))?;
    report.order_lines = order_lines(conn, history).await?;
    (report.invoices, report.paid_invoices) = invoices(conn, history, secret).await?;
    Ok(())
}

async fn order_lines(conn: &mut PgConnection, history: &History) -> Result<u64> {
    copy_rows(
        conn,
        "order_lines (id, order_id, module_id, licence_kind, description, quantity, unit_price, amount, period_start, period_end)",
        history.order_slots(),
        |n, out| {
            let Some(o) = history.order(n) else { return };
            let order = id(Kind::Order, o.slot).to_string();
            let day = o.at.date_naive();
            let period = [day.to_string(), partnerdesk_core::commerce::pricing::month_end(day).to_string()];
            for l in o.lines() {
                let p = &history.products[l.product];
                let fields = [
                    id(Kind::OrderLine, l.slot).to_string(),
                    id(Kind::Module, p.module).to_string(),
                    l.quantity.to_string(),
                    money(p.unit),
                    money(l.amount),
                ];
                line(
                    out,
                    &[
                        Some(&fields[0]),
                        Some(&order),
                        Some(&fields[1]),
                        Some(p.kind),
                        Some(&p.description),
                        Some(&fields[2]),
                        Some(&fields[3]),
                        Some(&fields[4]),
                        Some(&period[0]),
                        Some(&period[1]),
                    ],
                );
            }
        },
    )
    .await
}

/// One invoice per order, paid with the order (by bank transfer, the reference quoted);
/// its payment link's token derived with `secret` as the application derives it.
async fn invoices(conn: &mut PgConnection, history: &History, secret: &[u8]) -> Result<(u64, u64)> {
    let (mut number, mut paid) = (0, 0);
    let made = copy_rows(
        conn,
        "invoices (id, number, order_id, organization_id, currency, amount, status, payment_token_hash, payment_provider, provider_reference, due_at, paid_at, created_at)",
        history.order_slots(),
        |n, out| {
            let Some(o) = history.order(n) else { return };
            number += 1;
            let invoice = id(Kind::Invoice, o.slot);
            paid += u64::from(o.paid.is_some());
            let fields = [
                invoice.to_string(),
                invoice_number(number, o.at),
                id(Kind::Order, o.slot).to_string(),
                id(Kind::Organization, customer_org(&history.size, o.customer)).to_string(),
                money(o.total()),
                partnerdesk_core::platform::links::Link::Payment.token_hash(secret, invoice, 1),
                stamp(o.at + Duration::days(PAYMENT_DUE_DAYS)),
                stamp(o.at),
            ];
            let reference = o.paid.map(|_| format!("SCALE-{number}"));
            let paid_at = o.paid.map(stamp);
            line(
                out,
                &[
                    Some(&fields[0]),
                    Some(&fields[1]),
                    Some(&fields[2]),
                    Some(&fields[3]),
                    Some("EUR"),
                    Some(&fields[4]),
                    Some(if o.paid.is_some() { "paid" } else { "open" }),
                    Some(&fields[5]),
                    Some("bank_transfer"),
                    reference.as_deref(),
                    Some(&fields[6]),
                    paid_at.as_deref(),
                    Some(&fields[7]),
                ],
            );
        },
    )
    .await?;
    Ok((made, paid))
}

/// The credits the later orders bought: one unassigned user licence per credit line.
async fn credits(conn: &mut PgConnection, history: &History) -> Result<u64> {
    copy_rows(
        conn,
        "user_licences (id, organization_id, module_id, kind, order_id, active, starts_at, created_at, billable_from)",
        history.order_slots(),
        |n, out| {
            let Some(o) = history.order(n) else { return };
            let ids = [
                id(Kind::Organization, customer_org(&history.size, o.customer)).to_string(),
                id(Kind::Order, o.slot).to_string(),
                stamp(o.at),
            ];
            for l in o.lines().filter(|l| history.products[l.product].kind == "credit") {
                let credit = id(Kind::Credit, l.slot).to_string();
                let module = id(Kind::Module, history.products[l.product].module).to_string();
                line(
                    out,
                    &[
                        Some(&credit),
                        Some(&ids[0]),
                        Some(&module),
                        Some("paid"),
                        Some(&ids[1]),
                        Some("t"),
                        Some(&ids[2]),
                        Some(&ids[2]),
                        Some(&ids[2]),
                    ],
                );
            }
        },
    )
    .await
}

// ---------------------------------------------------------------------------------
// Attributions, refunds, commissions and payouts

/// The payouts: finance pays each partner on the 5th of every month (at 09:00) what
/// was approved since and not paid before, once that reaches the payout minimum; the
/// payout is paid three days later. Planned in one pass over the commissions before
/// any is written: cents per partner and month (a few MB at the default size).
struct Payouts {
    now: DateTime<Utc>,
    /// The month of the first payout date, as `year × 12 + month0`.
    first: i32,
    months: usize,
    /// Per partner and month: the payout's amount in cents, 0 without one.
    amounts: Vec<i64>,
}

impl Payouts {
    fn empty(history: &History) -> Self {
        let start = history.now - Duration::days(730);
        let mut payouts = Payouts {
            now: history.now,
            first: start.year() * 12 + start.month0() as i32,
            months: 0,
            amounts: Vec::new(),
        };
        payouts.months = payouts.index(history.now) + 1;
        payouts.amounts = vec![0; history.size.partners as usize * payouts.months];
        payouts
    }

    /// Payout date `i`.
    fn date(&self, i: usize) -> DateTime<Utc> {
        let month = self.first + i as i32;
        let day = NaiveDate::from_ymd_opt(month / 12, month as u32 % 12 + 1, 5).expect("a day");
        day.and_hms_opt(9, 0, 0).expect("a time").and_utc()
    }

    /// The first payout date at or after `at`.
    fn index(&self, at: DateTime<Utc>) -> usize {
        let month = (at.year() * 12 + at.month0() as i32 - self.first) as usize;
        if at <= self.date(month) { month } else { month + 1 }
    }

    /// The first payout of `partner` at or after date `i`.
    fn next(&self, partner: u64, i: usize) -> Option<usize> {
        let row = &self.amounts[partner as usize * self.months..][..self.months];
        (i..self.months).find(|&m| row[m] > 0)
    }

    fn paid_at(&self, i: usize) -> Option<DateTime<Utc>> {
        let paid = self.date(i) + Duration::days(3);
        (paid <= self.now).then_some(paid)
    }
}

/// What became of a line's commission (pending for `COMMISSION_HOLD_DAYS`, then approved
/// and paid out; one in 1,000 declined by finance while pending).
enum Fate {
    Pending,
    Declined(DateTime<Utc>),
    /// Refunded before it was paid out: nothing is left to earn.
    Reversed {
        at: DateTime<Utc>,
        approved: Option<DateTime<Utc>>,
    },
    /// Approved; in a payout once there is one (paid when the payout is).
    Approved {
        at: DateTime<Utc>,
        payout: Option<usize>,
    },
}

/// A refund of a line whose commission was already paid out: the clawback, approved at
/// once, in the partner's next payout.
struct Clawback {
    at: DateTime<Utc>,
    payout: Option<usize>,
}

/// The rate of the customer's link, in hundredths of a percent.
fn rate_of(c: u64) -> i64 {
    if c.is_multiple_of(4) { 1500 } else { 2000 }
}

fn fate(payouts: &Payouts, o: &Order, l: &Line) -> (Fate, Option<Clawback>) {
    let paid = o.paid.expect("commissions are earned on paid orders");
    let approved = paid + Duration::days(COMMISSION_HOLD_DAYS);
    if let Some(at) = l.refunded.filter(|at| *at < approved) {
        return (Fate::Reversed { at, approved: None }, None);
    }
    if let Some(at) = declined(l.slot, paid, payouts.now) {
        return (Fate::Declined(at), None);
    }
    if approved > payouts.now {
        return (Fate::Pending, None);
    }
    let payout = payouts.next(o.partner, payouts.index(approved));
    let Some(refunded) = l.refunded else {
        return (Fate::Approved { at: approved, payout }, None);
    };
    let after = payouts.index(refunded);
    match payout {
        Some(p) if p < after => {
            let clawback = Clawback {
                at: refunded,
                payout: payouts.next(o.partner, after),
            };
            (Fate::Approved { at: approved, payout }, Some(clawback))
        }
        _ => (
            Fate::Reversed {
                at: refunded,
                approved: Some(approved),
            },
            None,
        ),
    }
}

/// Plans the payouts: what each line's commission adds to (or, refunded after its
/// approval, takes from) the month it is approved (refunded) in, then per partner and
/// month whether what has built up reaches the minimum. A refund takes the commission
/// out of what builds up whether or not it was paid out before (reversed or clawed
/// back), so the plan needs no payout to be known first.
fn plan_payouts(history: &History) -> Payouts {
    let mut payouts = Payouts::empty(history);
    let months = payouts.months;
    let mut due = vec![0i64; payouts.amounts.len()];
    for o in (0..history.order_slots()).filter_map(|n| history.order(n)) {
        let Some(paid) = o.paid else { continue };
        let approved = paid + Duration::days(COMMISSION_HOLD_DAYS);
        let row = o.partner as usize * months;
        for l in o.lines() {
            let amount = commission_of(l.amount, rate_of(o.customer));
            let declined = declined(l.slot, paid, history.now).is_some();
            if approved > history.now || declined || l.refunded.is_some_and(|r| r < approved) {
                continue;
            }
            due[row + payouts.index(approved)] += amount;
            if let Some(refunded) = l.refunded {
                due[row + payouts.index(refunded)] -= amount;
            }
        }
    }
    for (partner, row) in due.chunks(months).enumerate() {
        let mut owed = 0;
        for (i, cents) in row.iter().enumerate() {
            owed += cents;
            if payouts.date(i) <= history.now && owed >= PAYOUT_MINIMUM_CENTS {
                payouts.amounts[partner * months + i] = owed;
                owed = 0;
            }
        }
    }
    payouts
}

/// Attributions, credit notes, payouts and commissions (with their clawbacks).
async fn money_owed(conn: &mut PgConnection, history: &History, report: &mut ScaleReport) -> Result<()> {
    report.attributions = attributions(conn, history).await?;
    report.credit_notes = credit_notes(conn, history).await?;
    let payouts = plan_payouts(history);
    report.payouts = write_payouts(conn, history, &payouts).await?;
    (report.commissions, report.clawbacks) = commissions(conn, history, &payouts).await?;
    Ok(())
}

/// Each customer was brought by its partner (it created it), fixed when its first
/// order was paid.
async fn attributions(conn: &mut PgConnection, history: &History) -> Result<u64> {
    let size = history.size;
    let total = 1 + size.partners + size.customers;
    copy_rows(
        conn,
        "attributions (customer_id, partner_id, kind, evidence, recorded_at, fixed_at)",
        size.customers,
        |c, out| {
            let fixed = (c * ORDER_SLOTS..c * ORDER_SLOTS + orders_of(c))
                .filter_map(|o| history.order(o).and_then(|o| o.paid))
                .min()
                .map(stamp);
            let org = customer_org(&size, c);
            let fields = [
                id(Kind::Organization, org).to_string(),
                id(Kind::Organization, 1 + partner_of(&size, c)).to_string(),
                format!(
                    r#"{{"created_by_partner": true, "service_provider_link": "{}"}}"#,
                    id(Kind::Link, c)
                ),
                stamp(created(history.now, org, total)),
            ];
            line(
                out,
                &[
                    Some(&fields[0]),
                    Some(&fields[1]),
                    Some("partner"),
                    Some(&fields[2]),
                    Some(&fields[3]),
                    fixed.as_deref(),
                ],
            );
        },
    )
    .await
}

/// The refunds, recorded by the vendor's administrator.
async fn credit_notes(conn: &mut PgConnection, history: &History) -> Result<u64> {
    let mut number = 0;
    let vendor_admin = id(Kind::User, 0).to_string();
    copy_rows(
        conn,
        "credit_notes (id, number, invoice_id, order_line_id, amount, reason, recorded_by, created_at)",
        history.order_slots(),
        |n, out| {
            let Some(o) = history.order(n) else { return };
            number += 1;
            for l in o.lines() {
                let Some(at) = l.refunded else { continue };
                // Numbered per invoice in the order they were recorded.
                let before = o
                    .lines()
                    .filter(|m| m.refunded.is_some_and(|r| (r, m.slot) < (at, l.slot)));
                let fields = [
                    id(Kind::CreditNote, l.slot).to_string(),
                    format!("{}-C{}", invoice_number(number, o.at), 1 + before.count()),
                    id(Kind::Invoice, o.slot).to_string(),
                    id(Kind::OrderLine, l.slot).to_string(),
                    money(l.amount),
                    stamp(at),
                ];
                line(
                    out,
                    &[
                        Some(&fields[0]),
                        Some(&fields[1]),
                        Some(&fields[2]),
                        Some(&fields[3]),
                        Some(&fields[4]),
                        Some("Cancelled within the notice period"),
                        Some(&vendor_admin),
                        Some(&fields[5]),
                    ],
                );
            }
        },
    )
    .await
}

async fn write_payouts(conn: &mut PgConnection, history: &History, payouts: &Payouts) -> Result<u64> {
    let vendor_admin = id(Kind::User, 0).to_string();
    copy_rows(
        conn,
        "payouts (id, partner_id, currency, amount, up_to, status, reference, paid_at, created_by, created_at)",
        history.size.partners * payouts.months as u64,
        |n, out| {
            let (p, i) = (n / payouts.months as u64, n as usize % payouts.months);
            let amount = payouts.amounts[n as usize];
            if amount == 0 {
                return;
            }
            let paid = payouts.paid_at(i);
            let date = payouts.date(i);
            let fields = [
                id(Kind::Payout, n).to_string(),
                id(Kind::Organization, 1 + p).to_string(),
                money(amount),
                date.date_naive().to_string(),
                stamp(date),
            ];
            let reference = paid.map(|_| format!("SEPA-{p}-{i}"));
            line(
                out,
                &[
                    Some(&fields[0]),
                    Some(&fields[1]),
                    Some("EUR"),
                    Some(&fields[2]),
                    Some(&fields[3]),
                    Some(if paid.is_some() { "paid" } else { "open" }),
                    reference.as_deref(),
                    paid.map(stamp).as_deref(),
                    Some(&vendor_admin),
                    Some(&fields[4]),
                ],
            );
        },
    )
    .await
}

/// One commission row, before it is written.
struct Commission {
    id: Uuid,
    /// Of the line's commission, for its refund.
    clawback: bool,
    base: i64,
    amount: i64,
    state: &'static str,
    earned: DateTime<Utc>,
    approve_after: DateTime<Utc>,
    approved: Option<DateTime<Utc>>,
    reversed: Option<DateTime<Utc>>,
    declined: Option<DateTime<Utc>>,
    payout: Option<usize>,
}

impl Commission {
    /// The commission a paid line earned, as it stands now.
    fn of_line(payouts: &Payouts, o: &Order, l: &Line, fate: &Fate) -> Self {
        let earned = o.paid.expect("earned on a paid order");
        let mut c = Commission {
            id: id(Kind::Commission, l.slot),
            clawback: false,
            base: l.amount,
            amount: commission_of(l.amount, rate_of(o.customer)),
            state: "pending",
            earned,
            approve_after: earned + Duration::days(COMMISSION_HOLD_DAYS),
            approved: None,
            reversed: None,
            declined: None,
            payout: None,
        };
        match *fate {
            Fate::Pending => {}
            Fate::Declined(at) => (c.state, c.declined) = ("declined", Some(at)),
            Fate::Reversed { at, approved } => {
                (c.state, c.base, c.amount) = ("reversed", 0, 0);
                (c.reversed, c.approved) = (Some(at), approved);
            }
            Fate::Approved { at, payout } => {
                let paid = payout.and_then(|p| payouts.paid_at(p)).is_some();
                (c.state, c.approved, c.payout) = (if paid { "paid" } else { "approved" }, Some(at), payout);
            }
        }
        c
    }

    /// What a refund of the line takes back once its commission was paid out.
    fn clawback(payouts: &Payouts, o: &Order, l: &Line, back: &Clawback) -> Self {
        let paid = back.payout.and_then(|p| payouts.paid_at(p)).is_some();
        Commission {
            id: id(Kind::Clawback, l.slot),
            clawback: true,
            base: -l.amount,
            amount: -commission_of(l.amount, rate_of(o.customer)),
            state: if paid { "paid" } else { "approved" },
            earned: back.at,
            approve_after: back.at,
            approved: Some(back.at),
            reversed: None,
            declined: None,
            payout: back.payout,
        }
    }

    fn write(&self, out: &mut Vec<u8>, history: &History, payouts: &Payouts, o: &Order, l: &Line) {
        let payout_id = self
            .payout
            .map(|p| id(Kind::Payout, o.partner * payouts.months as u64 + p as u64));
        let paid = self.payout.and_then(|p| payouts.paid_at(p));
        let included = self.payout.map(|p| payouts.date(p));
        let updated = [
            Some(self.earned),
            self.approved,
            self.reversed,
            self.declined,
            included,
            paid,
        ];
        let updated = updated.into_iter().flatten().max().unwrap_or(self.earned);
        let ids = [
            self.id.to_string(),
            id(Kind::Organization, 1 + o.partner).to_string(),
            id(Kind::Organization, customer_org(&history.size, o.customer)).to_string(),
            id(Kind::Order, o.slot).to_string(),
            id(Kind::OrderLine, l.slot).to_string(),
        ];
        let clawback = self.clawback.then(|| {
            [
                id(Kind::Commission, l.slot).to_string(),
                id(Kind::CreditNote, l.slot).to_string(),
            ]
        });
        let figures = [money(self.base), money(rate_of(o.customer)), money(self.amount)];
        let times = [self.earned, self.approve_after, updated].map(stamp);
        let when = [self.approved, paid, self.reversed, self.declined].map(|t| t.map(stamp));
        let reason = self.declined.map(|_| "Duplicate of an earlier order");
        let payout_id = payout_id.map(|p| p.to_string());
        line(
            out,
            &[
                Some(&ids[0]),
                Some(&ids[1]),
                Some(&ids[2]),
                Some(&ids[3]),
                Some(&ids[4]),
                Some("partner"),
                clawback.as_ref().map(|c| c[0].as_str()),
                clawback.as_ref().map(|c| c[1].as_str()),
                Some("EUR"),
                Some(&figures[0]),
                Some(&figures[1]),
                Some(&figures[2]),
                Some(self.state),
                Some(&times[0]),
                Some(&times[1]),
                when[0].as_deref(),
                when[1].as_deref(),
                when[2].as_deref(),
                when[3].as_deref(),
                reason,
                payout_id.as_deref(),
                Some(&times[0]),
                Some(&times[2]),
            ],
        );
    }
}

/// Every line of a paid order earns the customer's partner a commission at the link's
/// rate; refunds reverse them or claw them back. Returns (commissions, clawbacks).
async fn commissions(conn: &mut PgConnection, history: &History, payouts: &Payouts) -> Result<(u64, u64)> {
    let mut clawbacks = 0;
    let made = copy_rows(
        conn,
        "commissions (id, partner_id, customer_id, order_id, order_line_id, kind, clawback_of, credit_note_id, currency, \
         base_amount, rate, amount, state, earned_at, approve_after, approved_at, paid_at, reversed_at, declined_at, \
         decline_reason, payout_id, created_at, updated_at)",
        history.order_slots(),
        |n, out| {
            let Some(o) = history.order(n).filter(|o| o.paid.is_some()) else { return };
            for l in o.lines() {
                let (fate, back) = fate(payouts, &o, l);
                Commission::of_line(payouts, &o, l, &fate).write(out, history, payouts, &o, l);
                if let Some(back) = back {
                    Commission::clawback(payouts, &o, l, &back).write(out, history, payouts, &o, l);
                    clawbacks += 1;
                }
            }
        },
    )
    .await?;
    Ok((made, clawbacks))
}

// ---------------------------------------------------------------------------------
// The job queue's history

/// The worker processes (host and process id): the first running now, the second gone
/// since two hours ago.
const WORKERS: [(&str, u32); 2] = [("scale-worker-1", 4101), ("scale-worker-2", 4102)];

/// A worker process's name, as the worker names itself (host, process id, suffix).
fn worker_name(w: usize) -> String {
    let (host, pid) = WORKERS[w];
    format!("{host}-{pid}-5ca{w}")
}

/// Where a job stands (see `queue`'s table of states).
#[derive(Clone, Copy, PartialEq, Eq)]
enum JobFate {
    Pending,
    Scheduled,
    Retrying,
    /// Failed permanently (apalis's `Killed`).
    Killed,
    /// Failed every attempt.
    GaveUp,
    Discarded,
    Done,
}

/// One job of the history. Of every 10,000: one pending, one scheduled, ten retrying,
/// two discarded; of the rest one in 200 failed permanently and one in 500 failed
/// every attempt (over the last 30 days, as long as given-up jobs are kept), the others
/// done (over the last 7 days, as long as done jobs are kept), one in 50 of those at
/// the second attempt. 90 % e-mails, 5 % commission recomputations, 5 % pings, a few
/// billing runs; the ones not done are e-mails and recomputations.
struct JobRow {
    n: u64,
    fate: JobFate,
    queue: &'static str,
    max_attempts: i32,
    attempts: i32,
    created: DateTime<Utc>,
    worker: usize,
}

fn job_fate(n: u64) -> JobFate {
    match (n % 10_000, n % 1_000, n % 5_000) {
        (1, _, _) => JobFate::Pending,
        (2, _, _) => JobFate::Scheduled,
        (_, 3, _) => JobFate::Retrying,
        (_, _, 4) => JobFate::Discarded,
        _ if n % 200 == 17 => JobFate::Killed,
        _ if n % 500 == 33 => JobFate::GaveUp,
        _ => JobFate::Done,
    }
}

fn job_queue(n: u64, fate: JobFate) -> (&'static str, i32) {
    use partnerdesk_core::platform::jobs::{Job, Ping, RecomputeCommissions, RenderBillingRun, SendEmail};
    let draw = mix(n ^ 0x5CA1_E000) % 10_000;
    match (fate, draw) {
        (JobFate::Done, 9_999) => (RenderBillingRun::QUEUE, RenderBillingRun::MAX_ATTEMPTS),
        (JobFate::Done, 9_500..) => (Ping::QUEUE, Ping::MAX_ATTEMPTS),
        (_, 9_000..) => (RecomputeCommissions::QUEUE, RecomputeCommissions::MAX_ATTEMPTS),
        _ => (SendEmail::QUEUE, SendEmail::MAX_ATTEMPTS),
    }
}

/// The worker's backoff before attempt `k + 1` (10 s doubling, at most an hour).
fn backoff(k: i32) -> Duration {
    Duration::seconds((10i64 << (k - 1).clamp(0, 20)).min(3600))
}

impl JobRow {
    fn new(n: u64, of: u64, now: DateTime<Utc>) -> Self {
        let fate = job_fate(n);
        let (queue, max_attempts) = job_queue(n, fate);
        let spread =
            |days: i64| now - Duration::days(days) + Duration::milliseconds(days * 86_400_000 * n as i64 / of as i64);
        let (created, attempts) = match fate {
            JobFate::Pending => (now - Duration::seconds((n % 90) as i64), 0),
            JobFate::Scheduled => (now - Duration::hours(1), 0),
            JobFate::Retrying => (
                now - Duration::minutes(20) + Duration::seconds((n % 600) as i64),
                2 + (n % 3) as i32,
            ),
            JobFate::Discarded => (now - Duration::days(3) + Duration::seconds((n % 86_400) as i64), 1),
            JobFate::Killed => (spread(30) - Duration::hours(1), 1),
            JobFate::GaveUp => (spread(30) - Duration::hours(1), max_attempts),
            JobFate::Done => (
                spread(7) - Duration::seconds(2),
                if n.is_multiple_of(50) { 2 } else { 1 },
            ),
        };
        let mut job = JobRow {
            n,
            fate,
            queue,
            max_attempts,
            attempts,
            created,
            worker: 0,
        };
        let gone = now - Duration::hours(2);
        if n % 2 == 1 && job.done().is_some_and(|d| d < gone) {
            job.worker = 1;
        }
        job
    }

    /// Its id: a ULID of when it was created, as the application makes them (upper case).
    fn id(&self) -> String {
        ulid::Ulid::from_parts(
            self.created.timestamp_millis() as u64,
            u128::from(self.n) | (0x5CA1 << 64),
        )
        .to_string()
    }

    /// When attempt `k` (from 1) started; each runs 50 ms, the next one after the backoff.
    fn started(&self, k: i32) -> DateTime<Utc> {
        let waited: Duration = (1..k).map(|m| backoff(m) + Duration::milliseconds(50)).sum();
        self.created + Duration::milliseconds(100) + waited
    }

    fn finished(&self, k: i32) -> DateTime<Utc> {
        self.started(k) + Duration::milliseconds(50)
    }

    /// When it finished (or was discarded, an hour after its attempt).
    fn done(&self) -> Option<DateTime<Utc>> {
        match self.fate {
            JobFate::Pending | JobFate::Scheduled => None,
            JobFate::Discarded => Some(self.created + Duration::hours(1)),
            _ => Some(self.finished(self.attempts)),
        }
    }

    /// When it is (was) due: its last attempt's time, or the next one's.
    fn run_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.fate {
            JobFate::Pending => self.created,
            JobFate::Scheduled => now + Duration::hours(1 + (self.n % 24) as i64),
            JobFate::Retrying | JobFate::Discarded => self.finished(self.attempts) + backoff(self.attempts),
            _ if self.attempts == 1 => self.created,
            _ => self.finished(self.attempts - 1) + backoff(self.attempts - 1),
        }
    }

    fn status(&self) -> &'static str {
        match self.fate {
            JobFate::Pending | JobFate::Scheduled => "Pending",
            JobFate::Retrying | JobFate::GaveUp => "Failed",
            JobFate::Killed => "Killed",
            JobFate::Discarded => "Discarded",
            JobFate::Done => "Done",
        }
    }

    /// The outcome of attempt `k` and its error.
    fn outcome(&self, k: i32) -> (&'static str, Option<&'static str>) {
        let permanent = self.fate == JobFate::Killed;
        let error = match (self.queue, permanent) {
            ("send_email", false) => "SMTP: timed out connecting to the mail server",
            ("send_email", true) => "permanent failure: SMTP: 550 5.1.1 the recipient's mailbox does not exist",
            (_, false) => "database: timed out waiting for a connection",
            (_, true) => "permanent failure: payload does not decode: missing field `partner_id`",
        };
        match self.fate {
            JobFate::Done if k == self.attempts => ("done", None),
            JobFate::Killed | JobFate::GaveUp if k == self.attempts => ("failed", Some(error)),
            _ => ("retry", Some(error)),
        }
    }

    /// apalis's name of the worker that ran it: process and queue.
    fn lock_by(&self) -> Option<String> {
        let ran = self.attempts > 0 && self.fate != JobFate::Discarded;
        ran.then(|| format!("{}:{}", worker_name(self.worker), self.queue))
    }
}

/// A job's payload (ids only, as the application's) and idempotency key.
fn payload(size: &ScaleSize, job: &JobRow) -> (String, Option<String>) {
    let c = job.n % size.customers;
    match job.queue {
        "send_email" => (
            format!(r#"{{"delivery_id":"{}"}}"#, id(Kind::EmailDelivery, job.n)),
            Some(format!("scale.notice:{}", job.n)),
        ),
        "recompute_commissions" => (
            format!(
                r#"{{"partner_id":"{}","customer_id":"{}"}}"#,
                id(Kind::Organization, 1 + partner_of(size, c)),
                id(Kind::Organization, customer_org(size, c))
            ),
            None,
        ),
        "render_billing_run" => {
            let run = id(Kind::BillingRun, job.n).to_string();
            (format!(r#"{{"run_id":"{run}"}}"#), Some(run))
        }
        _ => ("{}".to_owned(), None),
    }
}

/// The job queue's history: `size.customers` jobs in `apalis.jobs` with their runs
/// (`job_runs`), the workers' counts per minute of the last two days (`job_stats`, from
/// those runs) and the two worker processes (and apalis's workers, one per queue).
async fn job_history(
    conn: &mut PgConnection,
    size: ScaleSize,
    now: DateTime<Utc>,
    report: &mut ScaleReport,
) -> Result<()> {
    report.worker_processes = workers(conn, now).await?;
    report.jobs = jobs(conn, size, now).await?;
    report.job_runs = job_runs(conn, size, now).await?;
    report.job_stats = sqlx::query(
        "INSERT INTO job_stats (queue, minute, worker, done, failed)
         SELECT queue, date_trunc('minute', finished_at), split_part(worker, ':', 1),
                count(*) FILTER (WHERE outcome = 'done'), count(*) FILTER (WHERE outcome <> 'done')
         FROM job_runs WHERE finished_at >= $1::timestamptz - interval '2 days'
         GROUP BY 1, 2, 3",
    )
    .bind(stamp(now))
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::internal(format!("job_stats: {e}")))?
    .rows_affected();
    Ok(())
}

async fn workers(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<u64> {
    let queues = partnerdesk_core::platform::jobs::QUEUES;
    let started = stamp(now - Duration::days(31));
    let seen = [stamp(now), stamp(now - Duration::hours(2))];
    copy_rows(
        conn,
        "apalis.workers (id, worker_type, storage_name, layers, last_seen, started_at)",
        (WORKERS.len() * queues.len()) as u64,
        |n, out| {
            let (w, queue) = (n as usize / queues.len(), queues[n as usize % queues.len()]);
            let name = format!("{}:{queue}", worker_name(w));
            line(
                out,
                &[
                    Some(&name),
                    Some(queue),
                    Some("PgStorage"),
                    Some(""),
                    Some(&seen[w]),
                    Some(&started),
                ],
            );
        },
    )
    .await?;
    copy_rows(
        conn,
        "worker_processes (name, host, pid, queues, started_at, last_seen)",
        WORKERS.len() as u64,
        |w, out| {
            let (host, pid) = WORKERS[w as usize];
            let fields = [
                worker_name(w as usize),
                pid.to_string(),
                format!("{{{}}}", queues.join(",")),
            ];
            line(
                out,
                &[
                    Some(&fields[0]),
                    Some(host),
                    Some(&fields[1]),
                    Some(&fields[2]),
                    Some(&started),
                    Some(&seen[w as usize]),
                ],
            );
        },
    )
    .await
}

async fn jobs(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    copy_rows(
        conn,
        "apalis.jobs (job, id, job_type, status, attempts, max_attempts, run_at, last_result, lock_at, lock_by, done_at, priority, idempotency_key)",
        size.customers,
        |n, out| {
            let job = JobRow::new(n, size.customers, now);
            let (json, key) = payload(&size, &job);
            let result = match job.outcome(job.attempts) {
                _ if job.attempts == 0 => None,
                (_, None) => Some(r#"{"Ok": null}"#.to_owned()),
                (_, Some(error)) => Some(serde_json::json!({ "Err": error }).to_string()),
            };
            let fields = [
                format!("\\\\x{}", hex::encode(json)),
                job.id(),
                job.attempts.to_string(),
                job.max_attempts.to_string(),
                stamp(job.run_at(now)),
            ];
            let locked = job.lock_by().map(|_| stamp(job.started(job.attempts) - Duration::milliseconds(10)));
            line(
                out,
                &[
                    Some(&fields[0]),
                    Some(&fields[1]),
                    Some(job.queue),
                    Some(job.status()),
                    Some(&fields[2]),
                    Some(&fields[3]),
                    Some(&fields[4]),
                    result.as_deref(),
                    locked.as_deref(),
                    job.lock_by().as_deref(),
                    job.done().map(stamp).as_deref(),
                    Some("0"),
                    key.as_deref(),
                ],
            );
        },
    )
    .await
}

/// Every attempt of every job, as the worker records them.
async fn job_runs(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    copy_rows(
        conn,
        "job_runs (job_id, queue, worker, attempt, started_at, finished_at, outcome, error)",
        size.customers,
        |n, out| {
            let job = JobRow::new(n, size.customers, now);
            let (id, worker) = (job.id(), format!("{}:{}", worker_name(job.worker), job.queue));
            for k in 1..=job.attempts {
                let (outcome, error) = job.outcome(k);
                let fields = [k.to_string(), stamp(job.started(k)), stamp(job.finished(k))];
                line(
                    out,
                    &[
                        Some(&id),
                        Some(job.queue),
                        Some(&worker),
                        Some(&fields[0]),
                        Some(&fields[1]),
                        Some(&fields[2]),
                        Some(outcome),
                        error,
                    ],
                );
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_are_shared_out_as_the_benchmarks_expect() {
        let size = ScaleSize {
            partners: 10,
            customers: 20_000,
            users_per_customer: 1,
        };
        let mut counts = [0u64; 10];
        for c in 0..size.customers {
            counts[partner_of(&size, c) as usize] += 1;
        }
        assert_eq!(counts[0], 2_000, "a tenth for the first partner");
        assert_eq!(counts[1], 1_000, "a thousand for the second");
        assert_eq!(counts.iter().sum::<u64>(), 20_000);
        assert!(counts[2..].iter().all(|n| *n == 17_000 / 8));
        assert_eq!(id(Kind::User, 7), id(Kind::User, 7));
        assert_ne!(id(Kind::User, 7), id(Kind::Organization, 7));
    }

    #[test]
    fn money_is_computed_in_cents_as_the_application_rounds() {
        assert_eq!((cents("25.00"), cents("4.5"), cents("0.00")), (2500, 450, 0));
        assert_eq!(
            (money(-1234), money(5), money(100)),
            ("-12.34".into(), "0.05".into(), "1.00".into())
        );
        // 12.34 at 20 % is 2.468; 0.25 at 2 % is 0.005, half away from zero either way.
        assert_eq!(commission_of(1234, 2000), 247);
        assert_eq!((commission_of(25, 200), commission_of(-25, 200)), (1, -1));
        // As the pricing test: 40.50 a month for 9 of February's 28 days is 13.02.
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 2, 20, 10, 0, 0).unwrap();
        assert_eq!(prorated(4050, at), 1302);
    }

    #[test]
    fn payouts_fall_on_the_fifth_of_each_month() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 10, 12, 0, 0).unwrap();
        let history = History::new(
            ScaleSize {
                partners: 2,
                customers: 10,
                users_per_customer: 1,
            },
            now,
        );
        let payouts = Payouts::empty(&history);
        assert_eq!(payouts.date(0).to_string(), "2024-03-05 09:00:00 UTC");
        assert_eq!(payouts.months, 26, "March 2024 to April 2026, the first after now");
        assert_eq!(payouts.index(payouts.date(3)), 3);
        assert_eq!(payouts.index(payouts.date(3) + Duration::seconds(1)), 4);
        assert_eq!(payouts.paid_at(24), Some(payouts.date(24) + Duration::days(3)));
        assert_eq!(payouts.paid_at(25), None);
    }
}
