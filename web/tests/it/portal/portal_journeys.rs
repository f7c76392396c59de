//! The portal's journeys in a real browser: what partners, customer administrators,
//! users and vendor staff do in pages, each step checked by what the person sees and by
//! what the service then holds.

use partnerdesk_web::api::billing::BillingRunPage;
use serde_json::json;

use crate::{
    browser::Browser,
    fixtures::{buy, module_id, olsen_bakery},
    harness::{DEMO_PASSWORD, TestApp},
};

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_adds_a_customer_invites_another_who_registers_and_appears_in_my_customers() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    assert!(anna.navigation().await.contains(&"My customers".to_owned()));

    // Add a customer; a rate over 100 is refused with the message next to the field.
    anna.follow("My customers").await;
    anna.follow("Add customer").await;
    anna.fill("name", "Hoek Advies").await;
    anna.fill("commission_rate", "150").await;
    anna.fill("debtor_number", "D-7001").await;
    anna.press("Add customer").await;
    let message = anna.text_of("#commission_rate-error").await;
    assert!(message.contains("100"), "{message}");
    assert_eq!(
        anna.eval("return document.getElementById('name').value").await,
        "Hoek Advies"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM organizations WHERE name = 'Hoek Advies'")
            .await,
        0
    );
    anna.fill("commission_rate", "12.5").await;
    anna.press("Add customer").await;
    assert!(anna.text().await.contains("The customer has been added."));
    assert_eq!(anna.text_of("h1").await, "Hoek Advies");

    // Create an organization by e-mail.
    anna.follow("Create organization").await;
    anna.fill("email", "vera@visser.example").await;
    anna.fill("company_name", "Visser Transport").await;
    anna.fill("contact_name", "Vera Visser").await;
    anna.press("Send invitation").await;
    assert_eq!(anna.path().await, "/invitations");
    let open = anna.text().await;
    assert!(
        open.contains("The invitation is on its way.") && open.contains("vera@visser.example"),
        "{open}"
    );

    // The customer registers from the e-mailed link, in their own browser.
    let token = app.link_token("vera@visser.example", "", "/register/customer/").await;
    let vera = Browser::open(&app).await;
    vera.visit(&format!("/register/customer/{token}")).await;
    assert!(vera.text().await.contains("Northwind IT Services invited you"));
    vera.fill("first_name", "Vera").await;
    vera.fill("last_name", "Visser").await;
    vera.fill("password", "vera's long password").await;
    vera.press("Create account").await;
    assert!(
        vera.text().await.contains("Visser Transport has been created"),
        "{}",
        vera.text().await
    );
    vera.log_in("vera@visser.example", "vera's long password").await;
    assert!(vera.text().await.contains("You act for Visser Transport."));
    vera.close().await;

    // It appears in My customers, and the invitation is no longer open.
    anna.follow("My customers").await;
    let table = anna.text_of("#customers").await;
    assert!(
        table.contains("Visser Transport") && table.contains("Hoek Advies"),
        "{table}"
    );
    anna.follow("Invitations").await;
    assert!(anna.text().await.contains("No open invitations."));
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn my_customers_filters_searches_and_sorts() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.visit("/customers").await;
    let all = anna.text_of("#customers").await;
    assert!(
        all.contains("Jansen Installatietechniek") && all.contains("Bakkerij de Vries"),
        "{all}"
    );
    assert!(
        !all.contains("Alpine"),
        "another partner's customers are not shown: {all}"
    );

    anna.fill("q", "D-1002").await;
    anna.press("Show").await;
    let found = anna.text_of("#customers").await;
    assert!(
        found.contains("Bakkerij de Vries") && !found.contains("Jansen"),
        "{found}"
    );

    anna.fill("q", "").await;
    anna.choose("dir", "desc").await;
    anna.press("Show").await;
    let rows = anna.text_of("#customers tbody").await;
    let (jansen, bakkerij) = (rows.find("Jansen").unwrap(), rows.find("Bakkerij").unwrap());
    assert!(jansen < bakkerij, "descending by company: {rows}");

    anna.choose("status", "inactive").await;
    anna.press("Show").await;
    assert!(anna.text().await.contains("No customers match."));
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn users_upload_from_csv_reports_the_bad_row_and_imports_the_rest() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let dir = std::env::temp_dir().join(format!("pd-csv-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.csv");
    std::fs::write(
        &file,
        "email,first_name,last_name,extension,company_admin\n\
         lotte@jansen.example,Lotte,Jansen,203,no\n\
         not-an-address,Bram,Jansen,204,no\n\
         sem@jansen.example,Sem,Jansen,205,no\n",
    )
    .unwrap();

    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.visit(&format!("/organizations/{jansen}/users")).await;
    anna.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
        .await;
    anna.attach("file", &file).await;
    anna.press("Upload").await;
    let report = anna.text_of("#import-report").await;
    assert!(report.contains("3 rows read, 2 imported, 1 not imported"), "{report}");
    assert!(
        report.contains("3") && report.contains("email"),
        "the bad row's line and column: {report}"
    );
    let users = anna.text_of("#users").await;
    assert!(
        users.contains("lotte@jansen.example") && users.contains("sem@jansen.example"),
        "{users}"
    );
    assert!(!users.contains("not-an-address"), "{users}");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email IN ('lotte@jansen.example', 'sem@jansen.example')")
            .await,
        2
    );
    anna.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_business_licence_is_bought_through_the_cost_confirmation_and_a_trial_started() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let orders = format!("SELECT count(*) FROM orders WHERE organization_id = '{jansen}'");
    let before = app.count(&orders).await;
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.visit(&format!("/organizations/{jansen}/modules")).await;

    // A module without a business licence: ask what it costs.
    let module = anna
        .eval(
            "const s = [...document.querySelectorAll('section.card')]\
             .find(s => [...s.querySelectorAll('button')].some(b => b.textContent.trim() == 'Buy business licence…'));\
             return s ? s.id : document.body.innerText",
        )
        .await;
    let module = module.as_str().unwrap().to_owned();
    assert!(module.starts_with("module-"), "a module on offer: {module}");
    let module = format!("#{module}");
    anna.press_in(&module, "Buy business licence…").await;
    assert!(anna.path().await.contains("/quotes/"), "the cost is shown first");
    let cost = anna.text().await;
    assert!(cost.contains("What this costs") && cost.contains("Per month"), "{cost}");
    assert!(anna.text_of("#period-total").await.starts_with("EUR "));
    assert_eq!(app.count(&orders).await, before, "nothing is bought before confirming");

    anna.press("Confirm order").await;
    assert!(anna.path().await.ends_with("/orders"));
    let page = anna.text().await;
    assert!(page.contains("Ordered.") && page.contains("Payment link"), "{page}");
    assert_eq!(app.count(&orders).await, before + 1);

    // Another module: start a trial.
    anna.visit(&format!("/organizations/{jansen}/modules")).await;
    let trials = format!("SELECT count(*) FROM trials WHERE organization_id = '{jansen}'");
    let trials_before = app.count(&trials).await;
    anna.press("Start trial").await;
    assert!(anna.text().await.contains("The trial has started."));
    assert_eq!(app.count(&trials).await, trials_before + 1);
    anna.visit("/trials").await;
    assert!(anna.text().await.contains("Jansen Installatietechniek"));
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_sees_its_own_navigation() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let expectations: [(&str, &[&str], &[&str]); 8] = [
        (
            "eva@jansen.example",
            &["Software", "Profile", "Organizations", "API tokens"],
            &[],
        ),
        (
            "jan@jansen.example",
            &[
                "Users",
                "Integrations",
                "Software",
                "Profile",
                "Organizations",
                "API tokens",
            ],
            &[],
        ),
        (
            "pieter@northwind.example",
            &["My customers", "Trials", "Software"],
            &["Create organization", "Invitations", "My account", "Members"],
        ),
        (
            "anna@northwind.example",
            &[
                "My customers",
                "Trials",
                "Create organization",
                "Invitations",
                "My account",
                "Members",
            ],
            &["Partner requests", "Job queue"],
        ),
        (
            "sales@vendor.example",
            &["Partner requests", "Partners"],
            &["Invoices", "Releases", "My customers", "Job queue"],
        ),
        (
            "finance@vendor.example",
            &["Invoices"],
            &["Partner requests", "Releases", "Job queue"],
        ),
        (
            "ops@vendor.example",
            &["Job queue"],
            &["Partner requests", "Invoices", "Releases", "My customers"],
        ),
        (
            "admin@vendor.example",
            &["Job queue", "Invoices", "Partner requests", "Releases"],
            &["My customers"],
        ),
    ];
    for (email, shown, hidden) in expectations {
        let browser = Browser::open(&app).await;
        browser.log_in(email, DEMO_PASSWORD).await;
        let nav = browser.navigation().await;
        for label in shown {
            assert!(nav.iter().any(|n| n == label), "{email} sees {label}: {nav:?}");
        }
        for label in hidden {
            assert!(!nav.iter().any(|n| n == label), "{email} does not see {label}: {nav:?}");
        }
        if email == "jan@jansen.example" {
            // In his own company, the tabs are those he may use.
            browser.follow("Users").await;
            let tabs = browser.text_of("nav.tabs").await;
            assert!(tabs.contains("Users") && tabs.contains("Integrations"), "{tabs}");
            assert!(!tabs.contains("Members") && !tabs.contains("Modules"), "{tabs}");
        }
        if email == "eva@jansen.example" {
            assert_eq!(
                nav,
                ["Software", "Profile", "Organizations", "API tokens"],
                "a plain user"
            );
            browser.follow("Software").await;
            assert_eq!(browser.text_of("h1").await, "Software");
        }
        browser.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_edits_a_user_and_switches_the_user_off() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let eva = app.user_id("eva@jansen.example").await;
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.visit(&format!("/organizations/{jansen}/users")).await;
    anna.eval(&format!(
        "document.getElementById('edit-{eva}').open = true; return null"
    ))
    .await;
    anna.fill_in(&format!("#edit-{eva}"), "extension", "299").await;
    anna.press_in(&format!("#edit-{eva}"), "Save").await;
    assert!(anna.text().await.contains("The user has been saved."));
    assert!(anna.text_of("#users").await.contains("299"));

    anna.eval(&format!(
        "document.getElementById('edit-{eva}').open = true; return null"
    ))
    .await;
    anna.eval(&format!(
        "document.querySelector('#edit-{eva} input[name=active]').click(); return null"
    ))
    .await;
    anna.press_in(&format!("#edit-{eva}"), "Save status").await;
    assert!(anna.text().await.contains("The user has been saved."));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM memberships WHERE user_id = '{eva}' AND organization_id = '{jansen}' AND NOT active"
        ))
        .await,
        1
    );
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_sees_its_commissions_on_the_dashboard_and_finance_pays_them_out() {
    let app = crate::fixtures::small_payouts().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    // Anna buys a licence for Jansen through the API; finance records the payment.
    let anna_api = app.demo("anna@northwind.example").await;
    let crm = module_id(&anna_api, "CRM").await;
    let order = buy(&anna_api, jansen, json!([{ "type": "business", "module_id": crm }])).await;
    let amount: rust_decimal::Decimal = crate::fixtures::d(&order.lines[0].amount);
    let expected = (amount * rust_decimal::Decimal::from(15) / rust_decimal::Decimal::from(100))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);

    let finance = Browser::open(&app).await;
    finance.log_in("finance@vendor.example", DEMO_PASSWORD).await;
    finance.follow("Invoices").await;
    finance.fill("reference", "Bank 1").await;
    finance.press("Mark paid").await;
    assert!(finance.text().await.contains("The invoice is marked as paid."));

    // The partner's dashboard and commission table agree, to the cent.
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.follow("Dashboard").await;
    assert_eq!(anna.text_of("#total-commission").await, expected.to_string());
    assert_eq!(anna.text_of("#open-commission").await, expected.to_string());
    assert_eq!(anna.text_of("#paid-commission").await, "0.00");
    anna.follow("Commissions").await;
    let table = anna.text_of("#commissions").await;
    assert!(
        table.contains("Jansen Installatietechniek") && table.contains(&format!("EUR {expected}")),
        "{table}"
    );
    assert!(table.contains("pending"), "{table}");
    anna.choose("state", "paid").await;
    anna.press("Show").await;
    assert!(anna.text().await.contains("No commissions."));

    // After the holding period finance pays it out.
    app.advance(chrono::Duration::days(31));
    partnerdesk_core::earnings::commissions::approve_due(&mut *app.conn().await, &app.ctx)
        .await
        .unwrap();
    finance.log_in("finance@vendor.example", DEMO_PASSWORD).await;
    finance.follow("Commission payouts").await;
    assert!(finance.text_of("#due").await.contains("Northwind IT Services"));
    finance.press("Create payout").await;
    assert!(finance.text().await.contains("The payout has been created."));
    finance.fill("reference", "SEPA 7").await;
    finance.press("Mark paid").await;
    assert!(finance.text().await.contains("The payout is marked as paid."));
    finance.close().await;

    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.follow("Dashboard").await;
    assert_eq!(anna.text_of("#paid-commission").await, expected.to_string());
    assert_eq!(anna.text_of("#open-commission").await, "0.00");
    anna.follow("Payouts").await;
    assert!(anna.text_of("#payouts").await.contains(&format!("EUR {expected}")));
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finance_and_a_partner_start_billing_runs_and_download_their_files() {
    use chrono::Datelike;
    let app = TestApp::spawn().await;
    app.in_english().await;
    let anna_api = app.demo("anna@northwind.example").await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    // CRM is the first module listed (the list sorts by code).
    let crm = module_id(&anna_api, "CRM").await;
    buy(&anna_api, jansen, json!([{ "type": "business", "module_id": crm }])).await;
    let today = app.ctx.now().date_naive();
    let first = today.with_day(1).unwrap().to_string();

    // Finance: a bad period is refused next to the field; then a run for this month.
    let finance = Browser::open(&app).await;
    finance.log_in("finance@vendor.example", DEMO_PASSWORD).await;
    finance.follow("Billing files").await;
    // (Date inputs take typing in the browser's locale; set their values directly.)
    let set_dates = |from: String, to: String| {
        format!(
            "document.getElementById('period_start').value = '{from}'; document.getElementById('period_end').value = '{to}';"
        )
    };
    finance.eval(&set_dates(first.clone(), "2000-01-01".into())).await;
    finance.press("Start billing run").await;
    assert!(
        finance
            .text_of("#period_end-error")
            .await
            .contains("ends before it starts")
    );
    finance.eval(&set_dates(first.clone(), today.to_string())).await;
    finance.fill("partner_code", "NOSUCHCODE").await;
    finance.press("Start billing run").await;
    assert!(
        finance
            .text_of("#partner_code-error")
            .await
            .contains("No partner has this code")
    );
    finance.fill("partner_code", "").await;
    finance.press("Start billing run").await;
    assert!(finance.text().await.contains("The billing run has started"));
    app.settle().await;
    finance.follow("Billing files").await;
    let runs = finance.text_of("#runs").await;
    assert!(runs.contains("ready") && runs.contains("All partners"), "{runs}");

    // The download link gives the file the page describes: an XLSX (a zip) of the size shown.
    let fetched = finance
        .eval(
            "const a = [...document.querySelectorAll('#runs a')].find(a => a.textContent === 'XLSX');
             return fetch(a.href).then(r => r.arrayBuffer()).then(b => [b.byteLength, new TextDecoder().decode(b.slice(0, 2))]);",
        )
        .await;
    // What the page's script answered (JSON from the browser, not an API view).
    let size = fetched[0].as_u64().unwrap();
    assert_eq!(fetched[1], "PK");
    let api = app.demo("finance@vendor.example").await;
    let runs: BillingRunPage = api.get("/api/billing-runs").await.view();
    let xlsx = runs.items[0].files.iter().find(|f| f.format == "xlsx").unwrap();
    assert_eq!(u64::try_from(xlsx.size).unwrap(), size);
    let csv = finance
        .eval(
            "const a = [...document.querySelectorAll('#runs a')].find(a => a.textContent === 'CSV');
             return fetch(a.href).then(r => r.text());",
        )
        .await;
    assert!(csv.as_str().unwrap().contains("Jansen Installatietechniek"), "{csv}");

    // The partner sees its own runs only: not finance's.
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.follow("Billing files").await;
    assert!(anna.text().await.contains("No billing runs yet."));
    assert!(anna.text().await.contains("Your own account is never in it."));
    anna.press("Start billing run").await;
    app.settle().await;
    anna.follow("Billing files").await;
    let runs = anna.text_of("#runs").await;
    assert!(
        runs.contains("ready") && runs.contains("XLSX") && runs.contains("CSV"),
        "{runs}"
    );
    finance.close().await;
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_retry_a_given_up_job_from_the_job_queue_and_watch_it_finish() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    // A ping job (its handler does nothing and succeeds) that failed and was given up.
    let job = app.ping_job("Killed", "now()").await;
    let ops = Browser::open(&app).await;
    ops.log_in("ops@vendor.example", DEMO_PASSWORD).await;
    ops.follow("Job queue").await;
    assert_eq!(ops.text_of("h1").await, "Job queue");
    assert_eq!(ops.text_of("#queue-ping .given_up").await, "1");

    // The count leads to the queue's given-up jobs, and the job to its page.
    ops.click("#queue-ping .given_up a").await;
    assert_eq!(ops.path().await, "/vendor/jobs");
    let list = ops.text_of("#jobs").await;
    assert!(
        list.contains(&job) && list.contains("given up") && list.contains("boom"),
        "{list}"
    );
    ops.follow(&job).await;
    assert_eq!(ops.path().await, format!("/vendor/jobs/{job}"));
    let current = ops
        .eval("return document.querySelector('nav.side a[aria-current=page]').textContent")
        .await;
    assert_eq!(current, json!("Job queue"), "the job's page belongs to the job queue");
    assert_eq!(ops.text_of("#job-state").await, "given up");
    assert_eq!(ops.text_of("#job td.field-error").await, "boom");

    // Retried, it runs again on the worker; the page refreshes itself until it is done.
    ops.press("Retry now").await;
    assert!(ops.text().await.contains("The job will run again now."));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let shown = ops
            .client
            .execute(
                "const e = document.getElementById('job-state'); return e ? e.textContent : null",
                vec![],
            )
            .await;
        if matches!(&shown, Ok(state) if state == "done") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 20 s the job's page shows {shown:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let runs = ops.text_of("#runs").await;
    assert!(runs.contains("done"), "{runs}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'job.retried' AND subject_id = '{job}'"
        ))
        .await,
        1
    );
    ops.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_management_session_shows_its_banner_and_disables_ordering_that_was_not_granted() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    app.sql(&format!(
        "UPDATE service_provider_links SET granted_permissions = '{{view_users,edit_users}}' WHERE customer_id = '{jansen}'"
    ))
    .await;
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    // From My customers, the customer's row.
    anna.visit("/customers").await;
    anna.press_in(&format!("tr:has(a[href=\"/organizations/{jansen}\"])"), "Manage")
        .await;
    assert_eq!(anna.path().await, format!("/organizations/{jansen}"));
    assert!(anna.text().await.contains("Your management session has started"));
    let banner = anna.text_of("#delegated-session").await;
    assert!(
        banner.contains("Managing Jansen Installatietechniek") && banner.contains("min left"),
        "{banner}"
    );

    anna.visit(&format!("/organizations/{jansen}/modules")).await;
    assert!(
        anna.text_of("#not-granted")
            .await
            .contains("Your customer has not granted “Order licences, credits and trials”."),
    );
    let buying_disabled = anna
        .eval(
            "const b = Array.from(document.querySelectorAll('main button')) \
               .filter(b => b.textContent.includes('Buy business licence')); \
             return b.length > 0 && b.every(b => b.disabled)",
        )
        .await;
    let buttons = anna
        .eval("return Array.from(document.querySelectorAll('main button')).map(b => b.textContent + ':' + b.disabled).join('|')")
        .await;
    assert_eq!(buying_disabled, json!(true), "{buttons}");

    // Users: editing was granted, adding one was not.
    anna.visit(&format!("/organizations/{jansen}/users")).await;
    let add = anna
        .eval(
            "const b = Array.from(document.querySelectorAll('main button'));              const add = b.find(b => b.textContent.trim() === 'Add user');              const save = b.find(b => b.textContent.trim() === 'Save');              return [add.disabled, add.title, save.disabled]",
        )
        .await;
    assert_eq!(
        add,
        json!([true, "Your customer has not granted “Add users one at a time”.", false])
    );

    anna.press("End session").await;
    assert!(anna.text().await.contains("The session has ended."));
    assert!(
        anna.eval("return document.getElementById('delegated-session') === null")
            .await
            == json!(true)
    );
    assert_eq!(
        app.count("SELECT count(*) FROM delegated_sessions WHERE ended_at IS NOT NULL")
            .await,
        1
    );
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_as_shows_the_users_view_under_a_red_bar_and_exit_returns() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let jansen = app.org_id("Jansen Installatietechniek").await;
    let jan = app.user_id("jan@jansen.example").await;
    let anna = Browser::open(&app).await;
    anna.log_in("anna@northwind.example", DEMO_PASSWORD).await;
    anna.visit(&format!("/organizations/{jansen}/users")).await;
    anna.click(&format!("a[href=\"/customers/{jansen}/login-as?user={jan}\"]"))
        .await;
    anna.press("Log in as Jan Jansen").await;
    assert!(
        anna.text().await.contains("Say why you log in as this user"),
        "the reason is required"
    );
    anna.fill("reason", "Ticket 4711: the connector stops").await;
    anna.press("Log in as Jan Jansen").await;

    let banner = anna.text_of("#delegated-session").await;
    assert!(
        banner.contains("Logged in as Jan Jansen at Jansen Installatietechniek"),
        "{banner}"
    );
    let red = anna
        .eval("return document.getElementById('delegated-session').classList.contains('login_as')")
        .await;
    assert_eq!(red, json!(true));
    let nav = anna.navigation().await;
    assert!(
        nav.contains(&"Users".to_owned()) && !nav.contains(&"My customers".to_owned()),
        "{nav:?}"
    );
    assert!(!nav.contains(&"API tokens".to_owned()), "{nav:?}");
    anna.visit("/profile").await;
    assert!(anna.text().await.contains("Not while logged in as another user"));

    anna.press("Exit").await;
    assert_eq!(anna.path().await, "/customers");
    assert!(anna.text().await.contains("You are back in your own view."));
    assert!(anna.navigation().await.contains(&"My customers".to_owned()));
    app.smtp.expect_one("jan@jansen.example", "logged in as you").await;
    anna.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_customer_reads_what_its_service_provider_did_and_ends_its_session() {
    let app = TestApp::spawn().await;
    app.in_english().await;
    let (olga, org) = olsen_bakery(&app).await;
    let provider = format!("/api/organizations/{org}/service-provider");
    olga.put(&provider, json!({ "partner_code": "northwnd" })).await;
    olga.put(
        &format!("{provider}/grants"),
        json!({ "permissions": ["view_users", "edit_users"] }),
    )
    .await;
    let olga_id = app.user_id("olga@olsen.example").await;
    let anna = app.demo("anna@northwind.example").await;
    let session = anna
        .post(&format!("/api/customers/{org}/management-sessions"), json!({}))
        .await
        .id();
    let r = anna
        .in_delegated_session(session)
        .patch(
            &format!("/api/organizations/{org}/users/{olga_id}"),
            json!({ "extension": "4711" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let browser = Browser::open(&app).await;
    browser.log_in("olga@olsen.example", "long enough password").await;
    browser.visit(&format!("/organizations/{org}/service-provider")).await;
    assert!(browser.text_of("#open-sessions").await.contains("Anna de Boer"));
    browser.follow("What my service provider did").await;
    let activity = browser.text_of("#activity").await;
    assert!(
        activity.contains("user.updated") && activity.contains("Anna de Boer") && activity.contains("4711"),
        "{activity}"
    );
    browser.visit(&format!("/organizations/{org}/service-provider")).await;
    browser.press_in("#open-sessions", "End now").await;
    assert!(browser.text().await.contains("The session has ended."));
    assert!(browser.text().await.contains("No session is open."));
    anna.in_delegated_session(session)
        .get(&format!("/api/organizations/{org}/users"))
        .await
        .assert_problem(410, "delegated_session_ended");
    browser.close().await;
}
