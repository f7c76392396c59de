//! What every benchmark starts from: its own database with the demo data, and a service
//! context whose statements may run as long as generating big data takes.

use partnerdesk_core::{Ctx, platform::clock::Clock, platform::config::Config, platform::db, seed};
use partnerdesk_testkit::TestDb;

/// Each benchmark reads the fields it needs (and keeps the database until it drops).
#[allow(dead_code)]
pub struct Bench {
    /// Dropped last: the database outlives the pool.
    pub pool: db::Pool,
    pub ctx: Ctx,
    pub db: TestDb,
}

pub async fn demo_database() -> Bench {
    let db = TestDb::new().await;
    let config = Config::from_pairs([
        ("DATABASE_URL", db.url.clone()),
        ("PARTNERDESK_ENV", "development".to_owned()),
        // Generating a million rows takes longer than a request may.
        ("DATABASE_STATEMENT_TIMEOUT_MS", "600000".to_owned()),
    ])
    .expect("config");
    let pool = db::pool_for(&config).expect("pool");
    let ctx = Ctx::new(config, Clock::system());
    let mut conn = pool.get().await.expect("connection");
    let demo = seed::parse(include_str!("../../../seeds/demo.json")).expect("seed");
    seed::load(&mut conn, &ctx, &demo)
        .await
        .expect("seed")
        .expect("empty database");
    Bench { pool, ctx, db }
}
