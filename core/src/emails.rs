//! Which domain builds the context of each e-mail kind: the one place that knows every
//! kind. The worker sends an e-mail through [`deliver`]; everything below it (queueing,
//! claiming, rendering, SMTP) is in `mail`, and each context is a typed struct next to
//! its domain.

use crate::identity::password_links;
use diesel_async::AsyncPgConnection;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Ctx, Result,
    commerce::orders,
    commerce::trials,
    delegation::service_providers,
    identity::signups,
    platform::db::Pool,
    platform::jobs::JobError,
    platform::mail::{self, EmailKind, Mailer},
    tenancy::invitations,
    tenancy::memberships,
    tenancy::partners,
    tenancy::registrations,
};

/// Sends one queued e-mail (the `send_email` job `job_id`).
pub async fn deliver(
    ctx: &Ctx,
    pool: &Pool,
    mailer: &Mailer,
    delivery_id: Uuid,
    job_id: &str,
) -> std::result::Result<(), JobError> {
    mail::deliver(ctx, pool, mailer, load, delivery_id, job_id).await
}

fn load<'a>(
    conn: &'a mut AsyncPgConnection,
    ctx: &'a Ctx,
    kind: &'a EmailKind,
) -> BoxFuture<'a, Result<Option<Value>>> {
    Box::pin(context(conn, ctx, kind))
}

fn value<T: Serialize>(context: Option<T>) -> Result<Option<Value>> {
    context.map(|c| serde_json::to_value(c).map_err(Into::into)).transpose()
}

/// The template context of an e-mail, or `None` when what it was about is gone.
pub async fn context(conn: &mut AsyncPgConnection, ctx: &Ctx, kind: &EmailKind) -> Result<Option<Value>> {
    let config = &ctx.config;
    match *kind {
        EmailKind::PartnerRequestReceived { request_id } => {
            value(partners::RequestReceivedEmail::load(conn, request_id).await?)
        }
        EmailKind::PartnerRequestApproved { request_id } => {
            value(partners::RequestApprovedEmail::load(conn, config, request_id).await?)
        }
        EmailKind::PartnerRequestRejected { request_id } => {
            value(partners::RequestRejectedEmail::load(conn, request_id).await?)
        }
        EmailKind::PartnerRegistrationLink { registration_id } => {
            value(registrations::LinkEmail::load(conn, config, registration_id).await?)
        }
        EmailKind::PartnerRegistrationCompleted { registration_id } => {
            value(registrations::CompletedEmail::load(conn, config, registration_id).await?)
        }
        EmailKind::PartnerRegistrationExistingAccount {} => {
            value(Some(registrations::ExistingAccountEmail::new(config)))
        }
        EmailKind::MemberInvitation {
            organization_id,
            password_link_id,
        } => value(
            memberships::MemberInvitationEmail::load(conn, config, organization_id.into(), password_link_id).await?,
        ),
        EmailKind::MembershipInvitation { membership_id } => {
            value(memberships::MembershipInvitationEmail::load(conn, config, membership_id).await?)
        }
        EmailKind::SignupConfirmation { signup_id } => {
            value(signups::ConfirmationEmail::load(conn, config, signup_id).await?)
        }
        EmailKind::SignupExistingAccount { user_id } => {
            value(signups::ExistingAccountEmail::load(conn, config, user_id).await?)
        }
        EmailKind::PasswordReset { password_link_id } => {
            value(password_links::PasswordResetEmail::load(conn, config, password_link_id).await?)
        }
        EmailKind::PasswordResetNoAccount {} => value(Some(password_links::NoAccountEmail::new(config))),
        EmailKind::CustomerInvitation { invitation_id } => {
            value(invitations::InvitationEmail::load(conn, config, invitation_id).await?)
        }
        EmailKind::CustomerRegistered { invitation_id, user_id } => {
            value(invitations::RegisteredEmail::load(conn, config, invitation_id.into(), user_id.into()).await?)
        }
        EmailKind::ServiceProviderAdded { .. }
        | EmailKind::ServiceProviderRemoved { .. }
        | EmailKind::GrantsEnding { .. }
        | EmailKind::GrantsRequested { .. }
        | EmailKind::GrantRequestAnswered { .. }
        | EmailKind::LoggedInAs { .. } => provider_context(conn, kind).await,
        EmailKind::TrialStarted { trial_id } | EmailKind::TrialEnded { trial_id } => {
            value(trials::TrialEmail::load(conn, trial_id, 0).await?)
        }
        EmailKind::TrialReminder { trial_id, days } => value(trials::TrialEmail::load(conn, trial_id, days).await?),
        EmailKind::OrderConfirmation { order_id } => {
            value(orders::ConfirmationEmail::load(conn, config, order_id).await?)
        }
        EmailKind::InvoicePaid { invoice_id } => value(orders::InvoicePaidEmail::load(conn, invoice_id).await?),
        EmailKind::CommissionsApproved {
            partner_id,
            approved_at,
        } => value(crate::earnings::commissions::ApprovedEmail::load(conn, config, partner_id, approved_at).await?),
        EmailKind::PayoutPaid { payout_id } => {
            value(crate::earnings::payouts::PayoutPaidEmail::load(conn, config, payout_id).await?)
        }
        EmailKind::IdentityLinked { link_id } => {
            value(crate::identity::sso::IdentityLinkedEmail::load(conn, config, link_id).await?)
        }
    }
}

/// The context of an e-mail about a customer's service provider: the link, its grants,
/// requests for more, and logins as a user.
async fn provider_context(conn: &mut AsyncPgConnection, kind: &EmailKind) -> Result<Option<Value>> {
    match *kind {
        EmailKind::ServiceProviderAdded {
            link_id,
            user_id,
            for_partner,
        }
        | EmailKind::ServiceProviderRemoved {
            link_id,
            user_id,
            for_partner,
        } => value(
            service_providers::ServiceProviderEmail::load(conn, link_id.into(), user_id.map(Into::into), for_partner)
                .await?,
        ),
        EmailKind::GrantsEnding {
            link_id,
            user_id,
            for_partner,
            days,
        } => value(
            service_providers::ServiceProviderEmail::load(conn, link_id.into(), user_id.map(Into::into), for_partner)
                .await?
                .map(|e| service_providers::ServiceProviderEmail { days, ..e }),
        ),
        EmailKind::GrantsRequested { request_id, user_id } => {
            value(service_providers::GrantRequestEmail::load(conn, request_id.into(), user_id.map(Into::into)).await?)
        }
        EmailKind::GrantRequestAnswered { request_id } => {
            value(service_providers::GrantRequestEmail::load(conn, request_id.into(), None).await?)
        }
        EmailKind::LoggedInAs { session_id } => {
            value(crate::delegation::sessions::LoggedInAsEmail::load(conn, session_id).await?)
        }
        _ => Ok(None),
    }
}
