//! The plans of the hot queries, on a mid-size scale data set (20,000 customers, the
//! first partner with 2,000 of them): every statement a hot request sends, recorded on
//! its way to the database and run again under `EXPLAIN ANALYZE` with the same values,
//! must read few rows (an index range, not the partner's customers or the whole table)
//! and never scan a large table from end to end. A lost or unusable index fails here,
//! not in production.

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use partnerdesk_core::identity::passwords;
use partnerdesk_core::platform::domain::Password;
use partnerdesk_seeds::{PASSWORD, ScaleSize};
use partnerdesk_testkit::{Executed, TypeNames};
use serde_json::{Value, json};

use crate::harness::{Client, Options, TestApp};

/// Rows a hot statement may read at this size (a page is 50; the first partner's
/// customers alone are 2,000).
const ROWS_READ: f64 = 1_000.0;

/// A table read from end to end is fine while it is this small (a few sessions, the
/// module catalogue, two days of hourly job counts); a larger one needs an index.
const WHOLE_TABLE_ROWS: f64 = 500.0;

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// A parameter as an SQL literal of its type.
fn literal(text: Option<String>, cast: &str) -> String {
    match text {
        None => format!("NULL::{cast}"),
        Some(t) => format!("'{}'::{cast}", t.replace('\'', "''")),
    }
}

/// The statement's plan with its recorded values: run (`EXPLAIN ANALYZE`) for a read,
/// in a transaction that is rolled back; only planned for a write (run again, it would
/// insert the same ids twice).
async fn explain(conn: &mut AsyncPgConnection, types: &TypeNames, stmt: &Executed) -> Value {
    let casts: Vec<String> = stmt
        .params
        .iter()
        .map(|p| types.cast_name(p.oid).expect("a known type").to_owned())
        .collect();
    let values: Vec<String> = stmt
        .params
        .iter()
        .zip(&casts)
        .map(|(p, cast)| literal(p.to_text(types).expect("a decodable value"), cast))
        .collect();
    let prepare = if casts.is_empty() {
        format!("PREPARE hot AS {}", stmt.sql)
    } else {
        format!("PREPARE hot ({}) AS {}", casts.join(", "), stmt.sql)
    };
    conn.batch_execute(&format!("BEGIN; {prepare}")).await.expect("PREPARE");
    let execute = if values.is_empty() {
        "EXECUTE hot".to_owned()
    } else {
        format!("EXECUTE hot ({})", values.join(", "))
    };
    let upper = stmt.sql.to_uppercase();
    let writes = ["INSERT ", "UPDATE ", "DELETE "].iter().any(|w| upper.contains(w));
    let options = if writes { "FORMAT JSON" } else { "ANALYZE, FORMAT JSON" };
    let plan: Plan = diesel::sql_query(format!("EXPLAIN ({options}) {execute}"))
        .get_result(conn)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {}: {e}", stmt.sql));
    conn.batch_execute("ROLLBACK; DEALLOCATE hot").await.expect("ROLLBACK");
    serde_json::from_str::<Value>(&plan.plan).expect("a JSON plan")[0]["Plan"].clone()
}

/// Rows the plan's scans of tables read (returned and filtered out, over every loop;
/// estimated for a plan that was not run), and the large tables it reads whole. A row
/// is counted once, where the table is read: not again by the bitmap index scan that
/// found it, nor by the subquery, CTE or function scans that pass it on.
fn rows_read(node: &Value, whole: &mut Vec<String>) -> f64 {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let mut read = 0.0;
    if kind.ends_with("Scan") && node.get("Relation Name").is_some() {
        let n = |k: &str| node[k].as_f64().unwrap_or(0.0);
        read = if node.get("Actual Rows").is_some() {
            (n("Actual Rows") + n("Rows Removed by Filter") + n("Rows Removed by Index Recheck"))
                * n("Actual Loops").max(1.0)
        } else {
            n("Plan Rows")
        };
        if kind == "Seq Scan" && read > WHOLE_TABLE_ROWS {
            whole.push(node["Relation Name"].as_str().unwrap_or_default().to_owned());
        }
    }
    read + node["Plans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|child| rows_read(child, whole))
        .sum::<f64>()
}

/// Records the statements of one request and checks each one's plan.
async fn check(app: &TestApp, types: &TypeNames, name: &str, run: impl AsyncFnOnce()) -> usize {
    app.recorder().take();
    run().await;
    let statements = app.recorder().take();
    let mut conn = AsyncPgConnection::establish(app.database_url())
        .await
        .expect("a direct connection");
    let mut checked = 0;
    for stmt in statements
        .iter()
        .filter(|s| !s.params.is_empty() || s.sql.trim_start().starts_with("SELECT"))
    {
        let plan = explain(&mut conn, types, stmt).await;
        let mut whole = Vec::new();
        let read = rows_read(&plan, &mut whole);
        assert!(
            whole.is_empty() && read <= ROWS_READ,
            "{name}: a statement reads {read} rows, whole tables {whole:?}:\n{}\n{plan:#}",
            stmt.sql
        );
        checked += 1;
    }
    assert!(checked > 0, "{name}: no statement recorded");
    checked
}

async fn seeded() -> TestApp {
    let app = TestApp::spawn_with(Options {
        seed_demo: false,
        worker: false,
        record: true,
        ..Options::default()
    })
    .await;
    let size = ScaleSize {
        partners: 20,
        customers: 20_000,
        users_per_customer: 2,
    };
    let hash = passwords::hash_password(&app.ctx, &Password::parse(PASSWORD).unwrap())
        .await
        .unwrap();
    partnerdesk_seeds::run(app.database_url(), size, &hash, &app.ctx.config.secret_key)
        .await
        .expect("the scale seed");
    // The job history made holds given-up jobs on purpose.
    app.expect_failures();
    app
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hot_statements_read_an_index_range_not_the_table() {
    let app = seeded().await;
    let types = TypeNames::load(app.database_url()).await.expect("types");
    let big = app.login("admin@p1.scale.example", PASSWORD).await;
    let small = app.login("admin@p2.scale.example", PASSWORD).await;
    let vendor = app.login("admin@vendor.scale.example", PASSWORD).await;
    let customers = big.get("/api/customers?limit=200").await.body;
    let customer = items(&customers)[0]["id"].as_str().unwrap().to_owned();
    let cursor = customers["next_cursor"].as_str().unwrap().to_owned();
    let encoded: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let get = |client: &Client, path: String| {
        let client = client.clone();
        async move || {
            let r = client.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
    };
    let reads = [
        ("my customers", get(&big, "/api/customers".into())),
        ("a small partner's customers", get(&small, "/api/customers".into())),
        ("search", get(&big, "/api/customers?q=0001234".into())),
        ("inactive", get(&big, "/api/customers?status=inactive".into())),
        ("by expiry", get(&big, "/api/customers?sort=expiry".into())),
        (
            "by expiry, last first",
            get(&big, "/api/customers?sort=expiry&dir=desc".into()),
        ),
        ("newest first", get(&big, "/api/customers?sort=created&dir=desc".into())),
        ("a later page", get(&big, format!("/api/customers?cursor={encoded}"))),
        ("a customer", get(&big, format!("/api/customers/{customer}"))),
        (
            "a customer's users",
            get(&big, format!("/api/organizations/{customer}/users")),
        ),
        ("trials", get(&big, "/api/trials".into())),
        ("ended trials", get(&big, "/api/trials?active=false".into())),
        ("dashboard", get(&big, "/api/partner/dashboard".into())),
        ("commissions", get(&big, "/api/commissions".into())),
        ("paid commissions", get(&big, "/api/commissions?state=paid".into())),
        ("job queue", get(&vendor, "/api/ops/queues".into())),
        ("given-up jobs", get(&vendor, "/api/ops/jobs?state=given_up".into())),
    ];
    for (name, run) in reads {
        check(&app, &types, name, run).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hot_writes_find_their_rows_by_index() {
    let app = seeded().await;
    let types = TypeNames::load(app.database_url()).await.expect("types");
    let small = app.login("admin@p2.scale.example", PASSWORD).await;
    check(&app, &types, "add a customer", async || {
        let r = small
            .post(
                "/api/customers",
                json!({ "name": "Plan Check BV", "active": true, "commission_rate": "20" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    })
    .await;
    check(&app, &types, "invite a customer", async || {
        let r = small
            .post(
                "/api/customer-invitations",
                json!({ "email": "plan@check.example", "company_name": "Plan Check" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    })
    .await;
    let customers = items(&small.get("/api/customers?limit=20").await.body);
    let customer = customers
        .iter()
        .find(|c| c["customer_type"] == "CUSTOMER" && c["active"] == true)
        .expect("a paying customer")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let modules = small.get("/api/modules").await.body;
    let module = modules
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "SCALE-PHONE")
        .unwrap()["id"]
        .clone();
    let mut quote = String::new();
    check(&app, &types, "quote", async || {
        let r = small
            .post(
                &format!("/api/organizations/{customer}/quotes"),
                json!({ "items": [{ "type": "credits", "module_id": module, "quantity": 1 }] }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        quote = r.id().to_string();
    })
    .await;
    check(&app, &types, "confirm", async || {
        let r = small.post(&format!("/api/quotes/{quote}/confirm"), json!({})).await;
        assert!(r.status < 300, "{}", r.body);
    })
    .await;
}
