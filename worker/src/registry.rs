//! Every job type by its stable queue name, and the function in `core` that runs it.

use partnerdesk_core::{
    emails,
    platform::app::App,
    platform::jobs::{self, Job, JobError, Ping, RecomputeCommissions, RenderBillingRun, SendEmail},
};

/// Every queue the worker consumes (one list, in `core`, that the ops view shares).
pub use partnerdesk_core::platform::jobs::QUEUES;

/// Runs job `job_id` of `queue`. A payload that does not decode fails permanently.
pub async fn run(app: &App, queue: &str, job_id: &str, payload: serde_json::Value) -> Result<(), JobError> {
    match queue {
        SendEmail::QUEUE => {
            let job: SendEmail = jobs::decode(payload)?;
            emails::deliver(&app.ctx, &app.pool, &app.mailer, job.delivery_id, job_id).await
        }
        RecomputeCommissions::QUEUE => {
            let job: RecomputeCommissions = jobs::decode(payload)?;
            let mut conn = app.pool.get().await.map_err(|e| JobError::Retry(e.to_string()))?;
            partnerdesk_core::earnings::commissions::recompute(
                &mut conn,
                job.partner_id.into(),
                job.customer_id.map(Into::into),
            )
            .await?;
            Ok(())
        }
        RenderBillingRun::QUEUE => {
            let job: RenderBillingRun = jobs::decode(payload)?;
            partnerdesk_core::billing::render::render(&app.ctx, &app.pool, job.run_id).await?;
            Ok(())
        }
        Ping::QUEUE => {
            let _: Ping = jobs::decode(payload)?;
            Ok(())
        }
        other => Err(JobError::Permanent(format!("no handler for queue {other:?}"))),
    }
}
