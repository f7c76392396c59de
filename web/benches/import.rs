//! Benchmark: importing 10,000 users from CSV into a customer, through the same service
//! the API calls, against a real PostgreSQL database. Prints the figures.
//!
//! Run with `just bench`.

use std::time::Instant;

mod support;

use partnerdesk_core::{platform::authz::Actor, tenancy::users};

const ROWS: usize = 10_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bench = support::demo_database().await;
    let (pool, ctx) = (&bench.pool, &bench.ctx);
    let mut conn = pool.get().await.expect("connection");

    let ids = |sql: &str| sql.to_owned();
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    use diesel_async::RunQueryDsl;
    let org: Id = diesel::sql_query(ids(
        "SELECT id FROM organizations WHERE name = 'Jansen Installatietechniek'",
    ))
    .get_result(&mut conn)
    .await
    .expect("customer");
    let partner: Id = diesel::sql_query(ids("SELECT id FROM organizations WHERE name = 'Northwind IT Services'"))
        .get_result(&mut conn)
        .await
        .expect("partner");
    let anna: Id = diesel::sql_query(ids("SELECT id FROM users WHERE email = 'anna@northwind.example'"))
        .get_result(&mut conn)
        .await
        .expect("partner admin");
    let actor = Actor::new(anna.id.into(), Some(partner.id.into()), chrono::Utc::now());

    let mut csv = String::from("\u{feff}email;first_name;last_name;extension;company_admin\n");
    for i in 0..ROWS {
        csv.push_str(&format!(
            "user{i}@bench.example;User;Number {i};{};{}\n",
            1000 + i,
            if i % 50 == 0 { "yes" } else { "no" }
        ));
    }

    let started = Instant::now();
    let report = users::import(&mut conn, ctx, &actor, org.id.into(), csv.as_bytes(), false)
        .await
        .expect("import");
    let elapsed = started.elapsed();
    assert_eq!(report.imported, ROWS);
    println!(
        "csv import: {} rows ({} KiB) in {:.0} ms, {:.0} rows/s, one transaction with {} invitation e-mails queued",
        ROWS,
        csv.len() / 1024,
        elapsed.as_secs_f64() * 1000.0,
        ROWS as f64 / elapsed.as_secs_f64(),
        report.imported,
    );

    // The same file again: every row is refused as an existing user, nothing changes.
    let started = Instant::now();
    let refused = users::import(&mut conn, ctx, &actor, org.id.into(), csv.as_bytes(), false).await;
    let elapsed = started.elapsed();
    let Err(partnerdesk_core::Error::Validation(errors)) = refused else {
        panic!("a re-import is refused")
    };
    println!(
        "csv import, all {} rows refused: {} problems reported in {:.0} ms",
        ROWS,
        errors.len(),
        elapsed.as_secs_f64() * 1000.0
    );
}
