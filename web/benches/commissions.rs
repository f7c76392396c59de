//! Benchmark: recomputing a partner's unpaid commissions after a rate change, on
//! 1,000,000 commissioned order lines (1,000 customers × 1,000 lines), next to one plain
//! set-based UPDATE doing the same arithmetic on the same rows, measured in the same run.
//! The goal: the recompute takes at most 1.5× the plain UPDATE. Then the partner's
//! dashboard at that size next to a partner with a handful of commissions.
//!
//! Run with `just bench`.

use std::time::Instant;

use diesel_async::RunQueryDsl;
mod support;

use partnerdesk_core::{Ctx, earnings::commissions, platform::authz::Actor, platform::db};

const CUSTOMERS: i64 = 1_000;
const LINES_PER_CUSTOMER: i64 = 1_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bench = support::demo_database().await;
    let ctx = &bench.ctx;
    let mut conn = bench.pool.get().await.expect("connection");
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    let partner: Id = diesel::sql_query("SELECT id FROM organizations WHERE name = 'Northwind IT Services'")
        .get_result(&mut conn)
        .await
        .expect("partner");

    let started = Instant::now();
    generate(&mut conn, partner.id).await;
    println!(
        "generated {} customers and {} commissioned order lines in {:.1} s",
        CUSTOMERS,
        CUSTOMERS * LINES_PER_CUSTOMER,
        started.elapsed().as_secs_f64()
    );

    // Baseline: one plain UPDATE with the same arithmetic over the same rows.
    let started = Instant::now();
    let plain = diesel::sql_query(
        "UPDATE commissions SET rate = 17.50, amount = round(base_amount * 17.50 / 100, 2), updated_at = now()
         WHERE partner_id = $1 AND state IN ('pending', 'approved') AND payout_id IS NULL AND clawback_of IS NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(partner.id)
    .execute(&mut conn)
    .await
    .expect("plain update");
    let baseline = started.elapsed();

    // The recompute after the customers' rate changed.
    diesel::sql_query("UPDATE service_provider_links SET commission_rate = 22.50 WHERE partner_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(partner.id)
        .execute(&mut conn)
        .await
        .expect("rate change");
    let started = Instant::now();
    let recomputed = commissions::recompute(&mut conn, partner.id.into(), None)
        .await
        .expect("recompute");
    let elapsed = started.elapsed();
    assert_eq!(plain, recomputed, "both touch every unpaid commission");
    println!(
        "recompute of {recomputed} commissions: {:.0} ms; plain UPDATE of the same rows: {:.0} ms; ratio {:.2} (goal ≤ 1.50)",
        elapsed.as_secs_f64() * 1000.0,
        baseline.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() / baseline.as_secs_f64(),
    );
    dashboards(&mut conn, ctx).await;
}

/// The commission sums of the dashboard for the partner with a million commissions,
/// next to the same dashboard for a partner with a handful (the goal: the same cost,
/// at most 2×), and next to summing the partner's commission table directly.
async fn dashboards(conn: &mut db::PooledConn, ctx: &Ctx) {
    #[derive(diesel::QueryableByName)]
    struct Admin {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        user_id: uuid::Uuid,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org: uuid::Uuid,
    }
    async fn admin(conn: &mut db::PooledConn, email: &str) -> Actor {
        let a: Admin = diesel::sql_query(
            "SELECT u.id AS user_id, m.organization_id AS org FROM users u
             JOIN memberships m ON m.user_id = u.id WHERE u.email = $1",
        )
        .bind::<diesel::sql_types::Text, _>(email)
        .get_result(conn)
        .await
        .expect("partner admin");
        Actor::new(a.user_id.into(), Some(a.org.into()), chrono::Utc::now())
    }
    async fn median_ms(conn: &mut db::PooledConn, ctx: &Ctx, actor: &Actor) -> f64 {
        let mut times = Vec::new();
        for _ in 0..21 {
            let started = Instant::now();
            commissions::dashboard(conn, ctx, &actor.clone())
                .await
                .expect("dashboard");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    }
    let (anna, max) = (
        admin(conn, "anna@northwind.example").await,
        admin(conn, "max@alpine.example").await,
    );
    let big = median_ms(conn, ctx, &anna).await;
    let small = median_ms(conn, ctx, &max).await;
    let started = Instant::now();
    diesel::sql_query(
        "SELECT sum(amount) FILTER (WHERE state = 'paid') FROM commissions
         WHERE partner_id = (SELECT id FROM organizations WHERE name = 'Northwind IT Services')",
    )
    .execute(conn)
    .await
    .expect("direct sum");
    let direct = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "dashboard with 1,000,000 commissions: {big:.2} ms; with a handful: {small:.2} ms; ratio {:.2} (goal ≤ 2.00); \
         summing the commission table instead: {direct:.0} ms",
        big / small
    );
}

/// Customers of the partner, each with an attribution, a paid order of many lines, and
/// a pending commission per line; all set-based. (The values are the benchmark's own
/// constants and an id read from the database.)
async fn generate(conn: &mut db::PooledConn, partner: uuid::Uuid) {
    let statements = [
        format!("CREATE TEMP TABLE bench_customers AS SELECT gen_random_uuid() AS id, n FROM generate_series(1, {CUSTOMERS}) n"),
        "INSERT INTO organizations (id, name, language, signup_origin, customer_type, created_at, updated_at)
         SELECT id, 'Bench customer ' || n, 'en', 'created_by_partner', 'CUSTOMER', now(), now() FROM bench_customers"
            .to_owned(),
        format!(
            "INSERT INTO service_provider_links (id, customer_id, partner_id, origin, commission_rate, created_at, updated_at)
             SELECT gen_random_uuid(), id, '{partner}', 'created_by_partner', 15.00, now(), now() FROM bench_customers"
        ),
        format!(
            "INSERT INTO attributions (customer_id, partner_id, kind, evidence, recorded_at, fixed_at)
             SELECT id, '{partner}', 'partner', '{{}}'::jsonb, now(), now() FROM bench_customers"
        ),
        "CREATE TEMP TABLE bench_orders AS SELECT gen_random_uuid() AS id, id AS customer FROM bench_customers".to_owned(),
        format!(
            "INSERT INTO orders (id, organization_id, partner_id, source, currency, total, status, created_at)
             SELECT id, customer, '{partner}', 'credits', 'EUR', 0, 'paid', now() FROM bench_orders"
        ),
        format!(
            "INSERT INTO order_lines (id, order_id, module_id, licence_kind, description, quantity, unit_price, amount,
                                      period_start, period_end)
             SELECT gen_random_uuid(), o.id, (SELECT id FROM modules ORDER BY code LIMIT 1), 'credit', 'Credit', 1,
                    round((1 + (l % 97))::numeric / 7, 2), round((1 + (l % 97))::numeric / 7, 2), current_date, current_date
             FROM bench_orders o CROSS JOIN generate_series(1, {LINES_PER_CUSTOMER}) l"
        ),
        format!(
            "INSERT INTO commissions (id, partner_id, customer_id, order_id, order_line_id, kind, currency, base_amount,
                                      rate, amount, state, earned_at, approve_after, created_at, updated_at)
             SELECT gen_random_uuid(), '{partner}', o.customer, o.id, l.id, 'partner', 'EUR', l.amount, 15.00,
                    round(l.amount * 15.00 / 100, 2), 'pending', now(), now() + interval '30 days', now(), now()
             FROM bench_orders o JOIN order_lines l ON l.order_id = o.id"
        ),
        "ANALYZE".to_owned(),
    ];
    for sql in &statements {
        diesel::sql_query(sql.as_str())
            .execute(conn)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
}
