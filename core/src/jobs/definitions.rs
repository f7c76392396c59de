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
