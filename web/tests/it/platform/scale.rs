//! The scale data set (`seed-scale`) at a small size: what it makes is consistent and
//! usable through the API as any other data.

use partnerdesk_core::identity::passwords;
use partnerdesk_core::platform::domain::Password;
use partnerdesk_core::platform::values::OrderSource;
use partnerdesk_seeds::{PASSWORD, ScaleReport, ScaleSize};
use partnerdesk_web::api::{
    commerce::{orders::OrderView, trials::TrialOverviewPage},
    earnings::{CommissionPage, DashboardView, PayoutDetailView, PayoutView},
    ops::{JobDetailView, JobPage, QueueView, WorkerView},
    tenancy::{customers::CustomerPage, users::UserOverviewView},
};

use crate::harness::{Client, Options, TestApp};

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
    let hash = passwords::hash_password(&app.ctx, &Password::parse(PASSWORD).unwrap())
        .await
        .unwrap();
    let url = app.ctx.config.database_url.clone();
    let secret = app.ctx.config.secret_key.clone();
    let made = partnerdesk_seeds::run(&url, size, &hash, &secret)
        .await
        .expect("the scale seed");
    // What the triggers keep (off while loading) was rebuilt to match what it copies.
    let drift: Vec<String> = app
        .failures()
        .await
        .into_iter()
        .filter(|f| !f.starts_with("job ") && !f.starts_with("e-mail "))
        .collect();
    assert!(drift.is_empty(), "{drift:#?}");
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
    orders_invoices_and_commissions_are_consistent(&app, &made).await;
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
    let page: CustomerPage = page.view();
    assert_eq!(page.items.len(), 50);
    assert!(page.next_cursor.is_some());
    let second = app.login("admin@p2.scale.example", PASSWORD).await;
    let first = second.get("/api/customers?limit=1").await;
    let customer = first.view::<CustomerPage>().items[0].id;
    big.get(&format!("/api/customers/{customer}"))
        .await
        .assert_problem(404, "not_found");
    // The trials overview and a customer's users read the licences and trials made; the
    // partner created its customers, so it may look inside them.
    let trials = big.get("/api/trials").await;
    assert_eq!(trials.status, 200, "{}", trials.body);
    assert_eq!(trials.view::<TrialOverviewPage>().items.len(), 50, "{}", trials.body);
    let own = page.items[0].id;
    let users = big.get(&format!("/api/organizations/{own}/users")).await;
    assert_eq!(users.status, 200, "{}", users.body);
    assert_eq!(users.view::<Vec<UserOverviewView>>().len(), 2, "{}", users.body);
    // The dashboard counts the customers made (every twentieth is inactive, still counted).
    let dashboard = big.get("/api/partner/dashboard").await;
    assert_eq!(dashboard.view::<DashboardView>().customers, 300, "{}", dashboard.body);
    let vendor = app.login("admin@vendor.scale.example", PASSWORD).await;
    assert_eq!(vendor.get("/api/partners").await.status, 200);

    commerce_is_usable(&app, &big, &vendor).await;
    job_history_is_usable(&app, &made, &vendor).await;

    // Only into an empty database.
    let again = partnerdesk_seeds::run(&url, size, &hash, &secret).await;
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

/// The order history of 3,000 customers (every tenth a prospect), as the seed's rules
/// make it, and what follows from it.
async fn orders_invoices_and_commissions_are_consistent(app: &TestApp, made: &ScaleReport) {
    // Each customer that is not a prospect placed 1 + (c / 10) % 4 orders: the first with
    // the first module's business and user licences (and the second's business licence
    // for even customers), each later one buying a credit of the first module (and of
    // the second for even customers).
    let customers = || (0..3_000u64).filter(|c| c % 10 != 9);
    let orders: u64 = customers().map(|c| 1 + (c / 10) % 4).sum();
    let even = |c: u64| u64::from(c.is_multiple_of(2));
    let credits: u64 = customers().map(|c| (c / 10) % 4 * (1 + even(c))).sum();
    let lines: u64 = customers().map(|c| 2 + even(c)).sum::<u64>() + credits;
    assert_eq!((orders, lines, credits), (6_750, 13_200, 6_300));
    assert_eq!(made.orders, orders);
    assert_eq!(made.order_lines, lines);
    assert_eq!(made.invoices, orders, "an invoice per order");
    assert_eq!(made.credits, credits);
    assert_eq!(made.attributions, 3_000, "every customer was brought by its partner");
    let count = async |sql: &str| app.count(&format!("SELECT count(*) AS count FROM {sql}")).await;
    assert_eq!(count("orders").await as u64, orders);
    assert_eq!(count("order_lines").await as u64, lines);
    assert_eq!(count("user_licences WHERE user_id IS NULL").await as u64, credits);
    assert_eq!(count("invoices WHERE status = 'paid'").await as u64, made.paid_invoices);
    // Most paid, the recent ones open, a few overdue.
    assert!(
        made.paid_invoices > orders * 9 / 10 && made.paid_invoices < orders,
        "{made:?}"
    );
    assert!(count("invoices WHERE status = 'open' AND due_at < now()").await > 0);
    // The licences point at the order that bought them; order and invoice totals add up.
    assert_eq!(
        count("business_licences WHERE kind = 'paid' AND order_id IS NOT NULL").await,
        2_700 + 1_500
    );
    assert_eq!(count("user_licences WHERE order_id IS NULL").await, 0);
    assert_eq!(
        count("orders o JOIN invoices i ON i.order_id = o.id WHERE o.total <> i.amount OR o.total <> (SELECT sum(amount) FROM order_lines l WHERE l.order_id = o.id)").await,
        0
    );
    // Fixed when the first order was paid.
    assert_eq!(
        count("attributions a WHERE fixed_at IS DISTINCT FROM (SELECT min(paid_at) FROM invoices i WHERE i.organization_id = a.customer_id)").await,
        0
    );
    assert!(count("attributions WHERE fixed_at IS NOT NULL").await > 2_600);
    commissions_are_consistent(app, made).await;
}

async fn commissions_are_consistent(app: &TestApp, made: &ScaleReport) {
    let count = async |sql: &str| app.count(&format!("SELECT count(*) AS count FROM {sql}")).await;
    // One commission per line of a paid (or refunded) order, plus the clawbacks.
    let paid_lines = count("order_lines l JOIN orders o ON o.id = l.order_id WHERE o.status <> 'open'").await as u64;
    assert_eq!(made.commissions, paid_lines + made.clawbacks);
    assert_eq!(count("commissions").await as u64, made.commissions);
    for state in ["pending", "approved", "paid", "reversed", "declined"] {
        assert!(
            count(&format!("commissions WHERE state = '{state}'")).await > 0,
            "some {state}"
        );
    }
    // A refund reverses the line's commission, or claws it back once paid out.
    assert_eq!(count("credit_notes").await as u64, made.credit_notes);
    assert_eq!(
        made.credit_notes,
        count("commissions WHERE state = 'reversed'").await as u64 + made.clawbacks
    );
    assert!(made.credit_notes > 0 && made.clawbacks > 0, "{made:?}");
    // Amounts: the line's at the link's rate, rounded half up.
    assert_eq!(
        count("commissions c JOIN service_provider_links s ON s.customer_id = c.customer_id \
               WHERE c.state <> 'reversed' AND (c.rate <> s.commission_rate OR c.amount <> round(c.base_amount * c.rate / 100, 2))")
        .await,
        0
    );
    // Payouts: each pays what its commissions add up to, at least the minimum; paid
    // commissions are those of paid payouts.
    assert_eq!(count("payouts").await as u64, made.payouts);
    assert!(made.payouts > 0);
    assert_eq!(
        count("payouts p WHERE p.amount < 50 OR p.amount <> (SELECT sum(amount) FROM commissions c WHERE c.payout_id = p.id)").await,
        0
    );
    assert_eq!(
        count("commissions c LEFT JOIN payouts p ON p.id = c.payout_id WHERE (c.state = 'paid') <> (p.status IS NOT DISTINCT FROM 'paid')").await,
        0
    );
    // The dashboard's totals, kept by the triggers, are the table's sums.
    assert_eq!(
        count(
            "((SELECT partner_id, state, amount, commissions FROM commission_totals WHERE commissions <> 0 \
               EXCEPT SELECT partner_id, state, sum(amount), count(*) FROM commissions GROUP BY 1, 2) \
              UNION ALL \
              (SELECT partner_id, state, sum(amount), count(*) FROM commissions GROUP BY 1, 2 \
               EXCEPT SELECT partner_id, state, amount, commissions FROM commission_totals)) d"
        )
        .await,
        0
    );
}

/// The partner's commissions, payouts and dashboard, a customer's orders with the
/// payment link of its invoice, and finance's view of an order answer as for any data.
async fn commerce_is_usable(app: &TestApp, big: &Client, vendor: &Client) {
    let page = big.get("/api/commissions?limit=50").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.view::<CommissionPage>().items.len(), 50);
    let paid = big.get("/api/commissions?state=paid&limit=10").await;
    assert_eq!(paid.view::<CommissionPage>().items.len(), 10, "{}", paid.body);
    let dashboard = big.get("/api/partner/dashboard").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let total = app
        .count(
            "SELECT (sum(c.amount) * 100)::bigint AS count FROM commissions c JOIN partners p ON p.organization_id = c.partner_id \
             WHERE p.partner_code = 'P000000' AND c.state IN ('pending', 'approved', 'paid')",
        )
        .await;
    assert_eq!(
        dashboard.view::<DashboardView>().total_commission.as_str(),
        format!("{}.{:02}", total / 100, total % 100).as_str()
    );
    let payouts = big.get("/api/payouts").await;
    assert_eq!(payouts.status, 200, "{}", payouts.body);
    let payout = payouts.view::<Vec<PayoutView>>().first().expect("a payout").id;
    let detail = big.get(&format!("/api/payouts/{payout}")).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(!detail.view::<PayoutDetailView>().commissions.is_empty());

    // An active customer with four orders (the 31st), its orders as vendor staff see them.
    let customer = app.org_id("Customer 0000031 BV").await;
    let orders = vendor.get(&format!("/api/organizations/{customer}/orders")).await;
    assert_eq!(orders.status, 200, "{}", orders.body);
    let orders: Vec<OrderView> = orders.view();
    assert_eq!(orders.len(), 4);
    let order = orders.last().unwrap();
    assert_eq!(order.source, OrderSource::AddProducts);
    assert_eq!(order.lines.len(), 2, "an odd customer: the first module only");
    let one = vendor.get(&format!("/api/orders/{}", order.id)).await;
    assert_eq!(one.status, 200, "{}", one.body);
    // The invoice's payment link works on this server.
    let url = &order.payment_url;
    let path = &url[url.find("/pay/").expect("a payment link")..];
    let page = app.anonymous().get(path).await;
    assert_eq!(page.status, 200, "{path}");
}

/// 3,000 jobs, as the seed's rules make them, in the ops view. (The test's worker
/// runs the pending and retrying ones meanwhile; the given-up ones are meant.)
async fn job_history_is_usable(app: &TestApp, made: &ScaleReport, vendor: &Client) {
    app.expect_failures();
    // Job 1 pending, 2 scheduled, 3, 1,003 and 2,003 retrying (after 2 + n % 3 attempts),
    // 4 discarded (after one); 15 (n % 200 == 17) failed permanently at the first attempt,
    // 6 (n % 500 == 33) at each of their 8; the rest done at the first attempt, at the
    // second for multiples of 50 (60).
    assert_eq!(made.jobs, 3_000);
    let done = 3_000 - 1 - 1 - 3 - 1 - 15 - 6;
    assert_eq!(made.job_runs, done + 60 + (2 + 3 + 4) + 1 + 15 + 6 * 8);
    assert_eq!(made.worker_processes, 2);
    assert!(made.job_stats > 0 && made.job_stats <= 2 * 1_440 * 4 * 2, "{made:?}");
    let count = async |sql: &str| app.count(&format!("SELECT count(*) AS count FROM {sql}")).await;
    assert_eq!(
        count("apalis.jobs WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)").await,
        21
    );

    let queues = vendor.get("/api/ops/queues").await;
    assert_eq!(queues.status, 200, "{}", queues.body);
    let queues: Vec<QueueView> = queues.view();
    assert_eq!(queues.len(), 4);
    let sum = |field: fn(&QueueView) -> i64| queues.iter().map(field).sum::<i64>();
    assert_eq!(
        (sum(|q| q.given_up), sum(|q| q.discarded), sum(|q| q.scheduled)),
        (21, 1, 1)
    );
    assert!(sum(|q| q.done_last_day) > 0 && sum(|q| q.done_last_hour) > 0);
    let emails = vendor.get("/api/ops/jobs?queue=send_email&state=done&limit=50").await;
    assert_eq!(emails.status, 200, "{}", emails.body);
    assert_eq!(emails.view::<JobPage>().items.len(), 50);
    let given_up = vendor.get("/api/ops/jobs?state=given_up&limit=50").await;
    let items = given_up.view::<JobPage>().items;
    assert_eq!(items.len(), 21, "{}", given_up.body);
    let job = vendor.get(&format!("/api/ops/jobs/{}", items[0].id)).await;
    assert_eq!(job.status, 200, "{}", job.body);
    assert!(!job.view::<JobDetailView>().runs.is_empty(), "{}", job.body);
    let workers = vendor.get("/api/ops/workers").await;
    assert_eq!(workers.status, 200, "{}", workers.body);
    let workers: Vec<WorkerView> = workers.view();
    let names: Vec<&str> = workers.iter().map(|w| w.name.as_str()).collect();
    assert!(
        names.iter().filter(|n| n.starts_with("scale-worker-")).count() == 2,
        "{names:?}"
    );
}
