//! The development outbox: e-mails land here when SMTP_URL is not set.

use chrono::{DateTime, Utc};
use partnerdesk_core::{platform::devclock, platform::mail};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

#[derive(Default)]
pub struct DevApi;

#[derive(Object, Debug)]
pub struct MailView {
    pub id: Uuid,
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: DateTime<Utc>,
}

#[OpenApi(tag = "ApiTags::Development")]
impl DevApi {
    /// The development clock
    ///
    /// Only in development mode (404 otherwise).
    #[oai(operation_id = "getDevClock", path = "/dev/clock", method = "get")]
    async fn clock(&self, state: Data<&AppState>) -> ApiResult<Json<ClockView>> {
        if !state.ctx.config.is_development() {
            return Err(partnerdesk_core::Error::not_found("resource").into());
        }
        let mut conn = state.conn().await?;
        devclock::sync(&mut conn, &state.ctx).await?;
        Ok(Json(ClockView {
            now: state.ctx.now(),
            offset_seconds: state.ctx.clock.offset().num_seconds(),
        }))
    }

    /// Move the development clock forward
    ///
    /// To see trial reminders and expiry without waiting. Only in development mode (404
    /// otherwise); production has no way to move time.
    #[oai(operation_id = "advanceDevClock", path = "/dev/clock", method = "post")]
    async fn advance(
        &self,
        state: Data<&AppState>,
        body: crate::body::Body<AdvanceClockRequest>,
    ) -> ApiResult<Json<ClockView>> {
        let by = devclock::parse_duration(&body.0.by).ok_or_else(|| {
            ApiError::from(partnerdesk_core::Error::field(
                "by",
                "invalid_duration",
                "Use a duration such as 7d, 36h or 90m",
            ))
        })?;
        let mut conn = state.conn().await?;
        let total = devclock::advance(&mut conn, &state.ctx, by).await?;
        Ok(Json(ClockView {
            now: state.ctx.now(),
            offset_seconds: total.num_seconds(),
        }))
    }

    /// Read the mail outbox
    ///
    /// E-mails the worker "sent" while SMTP_URL is unset, newest first. Only in
    /// development mode (404 otherwise).
    #[oai(operation_id = "listDevMailbox", path = "/dev/mailbox", method = "get")]
    async fn mailbox(
        &self,
        state: Data<&AppState>,
        to: Query<Option<String>>,
        #[oai(
            default = "super::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
    ) -> ApiResult<Json<Vec<MailView>>> {
        let mut conn = state.conn().await?;
        let mails = mail::outbox(&mut conn, to.0.as_deref(), limit.0).await?;
        Ok(Json(
            mails
                .into_iter()
                .map(|m| MailView {
                    id: m.id,
                    message_id: m.message_id,
                    from: m.sender,
                    to: m.recipient,
                    subject: m.subject,
                    text: m.body_text,
                    html: m.body_html,
                    created_at: m.created_at,
                })
                .collect(),
        ))
    }
}

#[derive(Object, Debug)]
pub struct ClockView {
    /// What the service takes as now.
    pub now: DateTime<Utc>,
    /// How far the development clock is ahead of real time.
    pub offset_seconds: i64,
}

#[derive(Object, Debug)]
pub struct AdvanceClockRequest {
    /// A duration such as `7d`, `36h`, `1d12h` or `90m`.
    pub by: String,
}
