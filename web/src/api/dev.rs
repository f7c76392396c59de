//! The development outbox: e-mails land here when SMTP_URL is not set.

use chrono::{DateTime, Utc};
use partnerdesk_core::{
    authz::{self, Permission},
    mail,
};
use poem::{Request, web::Data};
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    AppState, auth,
    error::{ApiError, ApiResult},
};

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
    /// Read the mail outbox
    ///
    /// E-mails the worker "sent" while SMTP_URL is unset, newest first. Open to anyone in
    /// development mode; in production only vendor ops and admins may read it.
    #[oai(path = "/dev/mailbox", method = "get")]
    async fn mailbox(
        &self,
        state: Data<&AppState>,
        req: &Request,
        to: Query<Option<String>>,
        #[oai(default = "default_limit")] limit: Query<i64>,
    ) -> ApiResult<Json<Vec<MailView>>> {
        let mut conn = state.conn().await?;
        if !state.ctx.config.is_development() {
            let principal = auth::principal_from(req, &state).await?.ok_or_else(|| {
                ApiError::from(partnerdesk_core::Error::unauthenticated(
                    "authentication_required",
                    "Log in or send an API token",
                ))
            })?;
            let actor = principal.actor(&mut conn, auth::requested_org(req)?).await?;
            authz::authorize_vendor(&mut conn, &actor, Permission::VendorOps).await?;
        }
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

fn default_limit() -> i64 {
    50
}
