//! Every job type by its stable queue name, and the function in `core` that runs it.

use partnerdesk_core::{
    app::App,
    emails,
    jobs::{self, Job, JobError, SendEmail},
};

/// Every queue the worker consumes.
pub const QUEUES: &[&str] = &[SendEmail::QUEUE];

/// Runs one job of `queue`. A payload that does not decode fails permanently.
pub async fn run(app: &App, queue: &str, payload: serde_json::Value) -> Result<(), JobError> {
    match queue {
        SendEmail::QUEUE => {
            let job: SendEmail = jobs::decode(payload)?;
            emails::deliver(&app.ctx, &app.pool, &app.mailer, job.delivery_id).await
        }
        other => Err(JobError::Permanent(format!("no handler for queue {other:?}"))),
    }
}
