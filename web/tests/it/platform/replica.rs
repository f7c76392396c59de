//! `DATABASE_REPLICA_URL`: list pages and exports read the replica, everything else the
//! primary; without a reachable replica they read the primary.

use diesel_async::SimpleAsyncConnection;
use partnerdesk_core::platform::db::Reads;
use partnerdesk_testkit::metric;
use partnerdesk_web::api::tenancy::customers::{CustomerPage, CustomerView};
use serde_json::json;
use uuid::Uuid;

use crate::{
    fixtures::companies,
    harness::{Options, Resp, TestApp},
};

fn with_replica(url: String) -> Options {
    Options {
        extra: vec![("DATABASE_REPLICA_URL", url)],
        ..Options::default()
    }
}

fn listed_id(list: &Resp, name: &str) -> Uuid {
    list.view::<CustomerPage>()
        .items
        .into_iter()
        .find(|c| c.company == name)
        .unwrap_or_else(|| panic!("{name} in {}", list.body))
        .id
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_read_the_replica_and_the_rest_reads_the_primary() {
    // The replica stopped right after the demo data: what a page shows tells which
    // database it came from.
    let app = TestApp::spawn_with(Options {
        replica_copy: true,
        ..Options::default()
    })
    .await;
    let anna = app.demo("anna@northwind.example").await;
    // Anna in another browser, which has written nothing.
    let elsewhere = app.demo("anna@northwind.example").await;
    let created = anna
        .post(
            "/api/customers",
            json!({ "name": "Replica Check BV", "active": true, "commission_rate": "10" }),
        )
        .await;
    assert_eq!(created.status, 201, "a write goes to the primary: {}", created.body);
    let wrote = created
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pd_wrote="))
        .expect("the browser that wrote is told so");
    assert!(wrote.contains("Max-Age=5") && wrote.contains("HttpOnly"), "{wrote}");
    let id = created.id();
    let detail = elsewhere.get(&format!("/api/customers/{id}")).await;
    assert_eq!(
        detail.status, 200,
        "one customer is read from the primary: {}",
        detail.body
    );
    assert_eq!(detail.view::<CustomerView>().company, "Replica Check BV");

    let list = elsewhere.get("/api/customers?status=both").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let listed = companies(&list);
    assert!(
        listed.iter().any(|n| n == "Jansen Installatietechniek") && !listed.iter().any(|n| n == "Replica Check BV"),
        "the list comes from the replica: {listed:?}"
    );
    // The pages are HTML, read as text.
    let page = elsewhere.get("/customers").await;
    assert_eq!(page.status, 200);
    let html = page.body.as_str().expect("a page");
    assert!(html.contains("Jansen Installatietechniek") && !html.contains("Replica Check BV"));

    // The browser that wrote sees what it did, in the API and on the page.
    let own = anna.get("/api/customers?status=both").await;
    assert!(companies(&own).iter().any(|n| n == "Replica Check BV"), "{}", own.body);
    let page = anna.get("/customers").await;
    assert!(page.body.as_str().expect("a page").contains("Replica Check BV"));

    // A user added on the primary is not in the user overview read from the replica.
    let jansen = listed_id(&list, "Jansen Installatietechniek");
    let users = format!("/api/organizations/{jansen}/users");
    let before = elsewhere.get(&users).await;
    assert_eq!(before.status, 200, "{}", before.body);
    let added = anna
        .post(
            &users,
            json!({ "email": "replica.check@jansen.example", "first_name": "Replica", "last_name": "Check" }),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    // The whole answers compared as JSON: exactly as before, or not.
    assert_eq!(
        elsewhere.get(&users).await.body,
        before.body,
        "the overview comes from the replica"
    );
    assert_ne!(
        anna.get(&users).await.body,
        before.body,
        "and the writer's from the primary"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_reachable_replica_lists_read_the_primary() {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::spawn_with(with_replica(format!("postgres://postgres@127.0.0.1:{port}/none"))).await;
    let anna = app.demo("anna@northwind.example").await;
    let fallbacks = async || {
        let text = reqwest::get(format!("{}/metrics", app.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric(&text, "partnerdesk_db_replica_fallbacks_total", &[])
    };
    let before = fallbacks().await;
    let list = anna.get("/api/customers").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        companies(&list).iter().any(|n| n == "Jansen Installatietechniek"),
        "{}",
        list.body
    );
    assert!(fallbacks().await > before, "the fallback is counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_replica_pool_refuses_writes() {
    // The suite's services read lists through a replica pool on their own database:
    // that pool's transactions are read-only, so a list that wrote would fail.
    let app = TestApp::spawn_with(Options {
        seed_demo: false,
        worker: false,
        ..Options::default()
    })
    .await;
    let reads = Reads::for_config(&app.ctx.config, &app.pool).expect("the pools");
    let replica = reads.replica().expect("the suite configures a replica");
    let mut conn = replica.get().await.expect("a replica connection");
    let err = conn
        .batch_execute("CREATE TABLE written_on_a_replica (id int)")
        .await
        .expect_err("a write through the replica pool");
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let mut primary = app.pool.get().await.expect("a primary connection");
    primary
        .batch_execute("CREATE TABLE written_on_the_primary (id int)")
        .await
        .expect("the primary takes writes");
}
