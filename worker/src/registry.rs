//! Every job type by its stable queue name, and the function in `core` that runs it.

use partnerdesk_core::{
    app::App,
    emails,
    jobs::{self, Job, JobError, RecomputeCommissions, RenderBillingRun, SendEmail},
};

/// Every queue the worker consumes.
pub const QUEUES: &[&str] = &[SendEmail::QUEUE, RecomputeCommissions::QUEUE, RenderBillingRun::QUEUE];

/// Runs one job of `queue`. A payload that does not decode fails permanently.
pub async fn run(app: &App, queue: &str, payload: serde_json::Value) -> Result<(), JobError> {
    match queue {
        SendEmail::QUEUE => {
            let job: SendEmail = jobs::decode(payload)?;
            emails::deliver(&app.ctx, &app.pool, &app.mailer, job.delivery_id).await
        }
        RecomputeCommissions::QUEUE => {
            let job: RecomputeCommissions = jobs::decode(payload)?;
            let mut conn = app.pool.get().await.map_err(|e| JobError::Retry(e.to_string()))?;
            partnerdesk_core::commissions::recompute(&mut conn, job.partner_id, job.customer_id).await?;
            Ok(())
        }
        RenderBillingRun::QUEUE => {
            let job: RenderBillingRun = jobs::decode(payload)?;
            partnerdesk_core::billing::render::render(&app.ctx, &app.pool, job.run_id).await?;
            Ok(())
        }
        other => Err(JobError::Permanent(format!("no handler for queue {other:?}"))),
    }
}
