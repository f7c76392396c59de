//! A deterministic data set at the size of a large vendor, for benchmarks and plan
//! checks: `partnerdesk-web seed-scale` (`just seed-scale`). Everything is written with
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
//! business licence a trial one), every tenth but five an ended one. Orders, invoices
//! and commissions follow.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sqlx::{Connection, postgres::PgConnection};
use uuid::Uuid;

use crate::{Error, Result};

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
/// holds organizations.
pub async fn run(database_url: &str, size: ScaleSize, password_hash: &str) -> Result<ScaleReport> {
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
    let now = Utc::now();
    let mut report = organizations(&mut tx, size, now).await?;
    report.links = links(&mut tx, size, now).await?;
    let (users, memberships) = people(&mut tx, size, now, password_hash).await?;
    report.users = users;
    report.memberships = memberships;
    licences(&mut tx, size, now, &mut report).await?;
    tx.commit().await.map_err(db)?;
    let mut conn = PgConnection::connect(database_url).await.map_err(db)?;
    sqlx::query("ANALYZE").execute(&mut conn).await.map_err(db)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
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

async fn links(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    let total = 1 + size.partners + size.customers;
    copy_rows(
        conn,
        "service_provider_links (id, customer_id, partner_id, origin, commission_rate, debtor_number, created_at, updated_at)",
        size.customers,
        |c, out| {
            let org = customer_org(&size, c);
            let at = stamp(created(now, org, total));
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

/// The module catalogue, trials and licences.
async fn licences(
    conn: &mut PgConnection,
    size: ScaleSize,
    now: DateTime<Utc>,
    report: &mut ScaleReport,
) -> Result<()> {
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
    report.business_licences = business_licences(conn, size, now).await?;
    report.user_licences = user_licences(conn, size, now).await?;
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
/// customer), the third (the active trial's).
async fn business_licences(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    let total = 1 + size.partners + size.customers;
    copy_rows(
        conn,
        "business_licences (id, organization_id, module_id, kind, trial_id, active, starts_at, created_at, billable_from)",
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

/// Each user of a customer (not a prospect) holds a paid licence of the first module.
async fn user_licences(conn: &mut PgConnection, size: ScaleSize, now: DateTime<Utc>) -> Result<u64> {
    let staff = 1 + size.partners;
    let total = staff + size.customers * size.users_per_customer;
    copy_rows(
        conn,
        "user_licences (id, organization_id, module_id, user_id, kind, active, starts_at, assigned_at, created_at, billable_from)",
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
            ];
            line(
                out,
                &[
                    Some(&ids[0]),
                    Some(&ids[1]),
                    Some(&ids[2]),
                    Some(&ids[3]),
                    Some("paid"),
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
}
