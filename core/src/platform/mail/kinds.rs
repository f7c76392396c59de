//! What each e-mail is about: a kind with the ids it concerns, and its template. The
//! context a template is rendered with is loaded, when the worker sends the e-mail, by
//! the domain module the e-mail belongs to (see `emails`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailKind {
    PartnerRequestReceived {
        request_id: Uuid,
    },
    PartnerRequestApproved {
        request_id: Uuid,
    },
    PartnerRequestRejected {
        request_id: Uuid,
    },
    PartnerRegistrationLink {
        registration_id: Uuid,
    },
    PartnerRegistrationCompleted {
        registration_id: Uuid,
    },
    MemberInvitation {
        organization_id: Uuid,
        password_link_id: Uuid,
    },
    /// A person with an account is asked to join an organization.
    MembershipInvitation {
        membership_id: Uuid,
    },
    SignupConfirmation {
        signup_id: Uuid,
    },
    /// Someone signed up with an address that has an account.
    SignupExistingAccount {
        user_id: Uuid,
    },
    PasswordReset {
        password_link_id: Uuid,
    },
    /// Someone asked to reset the password of an address without an account.
    PasswordResetNoAccount {},
    /// Someone asked to register a partner company with an address that has an account.
    PartnerRegistrationExistingAccount {},
    CustomerInvitation {
        invitation_id: Uuid,
    },
    CustomerRegistered {
        invitation_id: Uuid,
        user_id: Uuid,
    },
    ServiceProviderAdded {
        link_id: Uuid,
        user_id: Option<Uuid>,
        for_partner: bool,
    },
    ServiceProviderRemoved {
        link_id: Uuid,
        user_id: Option<Uuid>,
        for_partner: bool,
    },
    TrialStarted {
        trial_id: Uuid,
    },
    TrialReminder {
        trial_id: Uuid,
        days: u32,
    },
    TrialEnded {
        trial_id: Uuid,
    },
    OrderConfirmation {
        order_id: Uuid,
    },
    InvoicePaid {
        invoice_id: Uuid,
    },
    /// A partner's commissions passed their holding period (one sweep's worth).
    CommissionsApproved {
        partner_id: Uuid,
        approved_at: chrono::DateTime<chrono::Utc>,
    },
    PayoutPaid {
        payout_id: Uuid,
    },
    /// What a customer granted its service provider ends in some days.
    GrantsEnding {
        link_id: Uuid,
        user_id: Option<Uuid>,
        for_partner: bool,
        days: u32,
    },
    /// A partner asks its customer for more permissions.
    GrantsRequested {
        request_id: Uuid,
        user_id: Option<Uuid>,
    },
    /// The customer accepted or declined a partner's request (to the one who asked).
    GrantRequestAnswered {
        request_id: Uuid,
    },
    /// A partner's staff member logged in as this user (who, when, why).
    LoggedInAs {
        session_id: Uuid,
    },
    /// An identity at a single sign-on provider was linked to the account.
    IdentityLinked {
        link_id: Uuid,
    },
}

/// Templates of e-mails that go to an address a caller typed: at most
/// `EMAILS_PER_ADDRESS_PER_HOUR` of them per address.
pub const TYPED_ADDRESS_TEMPLATES: &[&str] = &[
    "signup_confirmation",
    "signup_existing_account",
    "password_reset",
    "password_reset_no_account",
    "partner_registration_link",
    "partner_registration_existing_account",
    "member_invitation",
    "membership_invitation",
    "customer_invitation",
];

impl EmailKind {
    /// The template folder under `templates/email/`.
    pub fn template(&self) -> &'static str {
        match self {
            EmailKind::PartnerRequestReceived { .. } => "partner_request_received",
            EmailKind::PartnerRequestApproved { .. } => "partner_request_approved",
            EmailKind::PartnerRequestRejected { .. } => "partner_request_rejected",
            EmailKind::PartnerRegistrationLink { .. } => "partner_registration_link",
            EmailKind::PartnerRegistrationCompleted { .. } => "partner_registration_completed",
            EmailKind::MemberInvitation { .. } => "member_invitation",
            EmailKind::MembershipInvitation { .. } => "membership_invitation",
            EmailKind::SignupConfirmation { .. } => "signup_confirmation",
            EmailKind::SignupExistingAccount { .. } => "signup_existing_account",
            EmailKind::PasswordReset { .. } => "password_reset",
            EmailKind::PasswordResetNoAccount {} => "password_reset_no_account",
            EmailKind::PartnerRegistrationExistingAccount {} => "partner_registration_existing_account",
            EmailKind::CustomerInvitation { .. } => "customer_invitation",
            EmailKind::CustomerRegistered { .. } => "customer_registered",
            EmailKind::ServiceProviderAdded { .. } => "service_provider_added",
            EmailKind::ServiceProviderRemoved { .. } => "service_provider_removed",
            EmailKind::TrialStarted { .. } => "trial_started",
            EmailKind::TrialReminder { days: 1, .. } => "trial_ends_today",
            EmailKind::TrialReminder { .. } => "trial_ending",
            EmailKind::TrialEnded { .. } => "trial_ended",
            EmailKind::OrderConfirmation { .. } => "order_confirmation",
            EmailKind::InvoicePaid { .. } => "invoice_paid",
            EmailKind::CommissionsApproved { .. } => "commissions_approved",
            EmailKind::PayoutPaid { .. } => "payout_paid",
            EmailKind::LoggedInAs { .. } => "logged_in_as",
            EmailKind::IdentityLinked { .. } => "identity_linked",
            EmailKind::GrantsEnding { .. } => "grants_ending",
            EmailKind::GrantsRequested { .. } => "grants_requested",
            EmailKind::GrantRequestAnswered { .. } => "grant_request_answered",
        }
    }
}
