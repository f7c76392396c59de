//! Every job type. Payloads carry ids only.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Job;

/// Renders and sends one e-mail delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendEmail {
    pub delivery_id: Uuid,
}

impl Job for SendEmail {
    const QUEUE: &'static str = "send_email";
}

/// Recomputes a partner's unpaid commissions (of one customer, or all) after a rate
/// changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecomputeCommissions {
    pub partner_id: Uuid,
    pub customer_id: Option<Uuid>,
}

impl Job for RecomputeCommissions {
    const QUEUE: &'static str = "recompute_commissions";
}

/// Renders a billing run's files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderBillingRun {
    pub run_id: Uuid,
}

impl Job for RenderBillingRun {
    const QUEUE: &'static str = "render_billing_run";
    const MAX_ATTEMPTS: i32 = 5;
}

/// Does nothing: shows that the workers pick jobs up (the queue benchmark drains these).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ping {}

impl Job for Ping {
    const QUEUE: &'static str = "ping";
    const MAX_ATTEMPTS: i32 = 1;
}
