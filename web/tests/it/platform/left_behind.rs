//! The harness itself: a test that leaves a job failed for good or an undelivered
//! e-mail behind does not pass quietly.

use crate::harness::{Options, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn failed_jobs_and_undelivered_emails_are_found() {
    let app = TestApp::spawn_with(Options {
        seed_demo: false,
        ..Default::default()
    })
    .await;
    assert_eq!(app.failures().await, Vec::<String>::new());
    app.sql(
        "INSERT INTO apalis.jobs (job, id, job_type, status, attempts, max_attempts)
         VALUES (convert_to('{}', 'UTF8'), 'job-1', 'SendEmail', 'Killed', 1, 5)",
    )
    .await;
    app.sql(
        "INSERT INTO email_deliveries (id, event_key, template, recipient, status, last_error, created_at)
         VALUES (gen_random_uuid(), 'k', 'invitation', 'a@example.com', 'failed', '550 no such user', now())",
    )
    .await;
    let found = app.failures().await;
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found.iter().any(|f| f.starts_with("job SendEmail job-1: Killed")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|f| f.contains("a@example.com: 550 no such user")),
        "{found:#?}"
    );
    // This test wanted them; any other would fail when its app is dropped.
    app.expect_failures();
}
