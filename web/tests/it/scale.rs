//! The scale data set (`seed-scale`) at a small size: what it makes is consistent and
//! usable through the API as any other data.

use partnerdesk_core::{
    accounts,
    domain::Password,
    scale_seed::{self, PASSWORD, ScaleSize},
};

use crate::harness::{Options, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn the_scale_seed_makes_a_consistent_usable_data_set_once() {
    let app = TestApp::spawn_with(Options {
        seed_demo: false,
        ..Options::default()
    })
    .await;
    let size = ScaleSize {
        partners: 5,
        customers: 3_000,
        users_per_customer: 2,
    };
    let hash = accounts::hash_password(&app.ctx, &Password::parse(PASSWORD).unwrap())
        .await
        .unwrap();
    let url = app.ctx.config.database_url.clone();
    let made = scale_seed::run(&url, size, &hash).await.expect("the scale seed");
    assert_eq!(made.organizations, 1 + 5 + 3_000);
    assert_eq!(made.partners, 5);
    assert_eq!(made.links, 3_000);
    assert_eq!(made.users, 1 + 5 + 6_000);
    assert_eq!(made.memberships, made.users);
    assert_eq!(made.modules, 4);
    assert_eq!(made.trials, 600, "a tenth active, a tenth ended");
    // Paid: the first module for the 2,700 customers, the second for the 1,500 even ones;
    // the active trials' own.
    assert_eq!(made.business_licences, 2_700 + 1_500 + 300);
    assert_eq!(made.user_licences, 2 * 2_700);
    // The first partner holds a tenth of the customers, the second a thousand.
    let per_partner = |p: u32| {
        format!(
            "SELECT count(*) FROM service_provider_links l JOIN partners p ON p.organization_id = l.partner_id \
             WHERE p.partner_code = 'P{:06}' AND l.ended_at IS NULL",
            p
        )
    };
    assert_eq!(app.count(&per_partner(0)).await, 300);
    assert_eq!(app.count(&per_partner(1)).await, 1_000);

    // The partners' administrators log in and see their own customers only.
    let big = app.login("admin@p1.scale.example", PASSWORD).await;
    let page = big.get("/api/customers?limit=50").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 50);
    assert!(page.body["next_cursor"].is_string());
    let second = app.login("admin@p2.scale.example", PASSWORD).await;
    let first = second.get("/api/customers?limit=1").await;
    let customer = first.body["items"][0]["id"].as_str().unwrap().to_owned();
    big.get(&format!("/api/customers/{customer}"))
        .await
        .assert_problem(404, "not_found");
    // The trials overview and a customer's users read the licences and trials made.
    let trials = big.get("/api/trials").await;
    assert_eq!(trials.status, 200, "{}", trials.body);
    let vendor = app.login("admin@vendor.scale.example", PASSWORD).await;
    assert_eq!(vendor.get("/api/partners").await.status, 200);

    // Only into an empty database.
    let again = scale_seed::run(&url, size, &hash).await;
    assert!(
        matches!(
            again,
            Err(partnerdesk_core::Error::Conflict {
                code: "database_not_empty",
                ..
            })
        ),
        "{again:?}"
    );
}
