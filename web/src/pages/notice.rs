//! The short confirmations a page shows after a form succeeded and redirected
//! (`?notice=<key>`): a form's handler names one [`Notice`] and [`noticed`] builds the
//! address; only these texts can appear, whatever an address says.

use poem::Response;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::redirect;

macro_rules! notices {
    ($($variant:ident = $key:literal => $text:literal,)*) => {
        /// A confirmation shown once, after a redirect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Notice {
            $($variant,)*
        }

        impl Notice {
            /// Its key in an address.
            pub(crate) fn key(self) -> &'static str {
                match self {
                    $(Notice::$variant => $key,)*
                }
            }

            /// What the page says.
            pub(crate) fn text(self) -> &'static str {
                match self {
                    $(Notice::$variant => $text,)*
                }
            }

            fn parse(key: &str) -> Option<Notice> {
                match key {
                    $($key => Some(Notice::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

/// A notice in an address it is carried along in (a list's sort and page links).
impl Serialize for Notice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

notices! {
    CustomerAdded = "customer_added" => "The customer has been added.",
    CustomerSaved = "customer_saved" => "The customer has been saved.",
    InvitationSent = "invitation_sent" => "The invitation is on its way.",
    InvitationResent = "invitation_resent" => "The invitation has been sent again.",
    InvitationRevoked = "invitation_revoked" => "The invitation has been revoked.",
    UserAdded = "user_added" => "The user has been added and e-mailed.",
    UserSaved = "user_saved" => "The user has been saved.",
    Ordered = "ordered" => "Ordered. The order and its payment link are below.",
    TrialStarted = "trial_started" => "The trial has started.",
    TrialUsers = "trial_users" => "The trial's users have been saved.",
    CreditsAssigned = "credits_assigned" => "The credits have been assigned.",
    LicenceOff = "licence_off" => "The licence has been switched off.",
    SettingsSaved = "settings_saved" => "The settings have been saved.",
    DetailsSaved = "details_saved" => "The details have been saved.",
    ProfileCloned = "profile_cloned" => "The profile has been copied.",
    IntegrationSaved = "integration_saved" => "The integration has been saved.",
    IntegrationDeleted = "integration_deleted" => "The integration has been deleted.",
    ProviderChosen = "provider_chosen" => "Your service provider has been set.",
    ProviderRemoved = "provider_removed" => "Your service provider has been removed.",
    GrantsSaved = "grants_saved" => "What your service provider may do has been saved.",
    MemberInvited = "member_invited" => "The invitation is on its way.",
    MemberSaved = "member_saved" => "The member has been saved.",
    MemberRemoved = "member_removed" => "The member has been removed.",
    Switched = "switched" => "You now act for this organization.",
    ProfileSaved = "profile_saved" => "Your profile has been saved.",
    PasswordChanged = "password_changed" => "Your password has been changed.",
    IdentityLinked = "identity_linked" => "The identity has been linked: you can sign in with it now.",
    IdentityRemoved = "identity_removed" => "The identity has been removed: it no longer signs in to your account.",
    SignInPolicySaved = "sign_in_policy_saved" => "How members sign in has been saved.",
    OrganizationLeft = "organization_left" => "You have left the organization.",
    TokenRevoked = "token_revoked" => "The token has been revoked.",
    Approved = "approved" => "The partner request has been approved.",
    Rejected = "rejected" => "The partner request has been rejected.",
    TermsSaved = "terms_saved" => "The partner's terms have been saved.",
    InvoicePaid = "invoice_paid" => "The invoice is marked as paid.",
    ModuleSaved = "module_saved" => "The module has been saved.",
    ReleasePublished = "release_published" => "The release has been published.",
    CommissionDeclined = "commission_declined" => "The commission has been declined.",
    PayoutCreated = "payout_created" => "The payout has been created.",
    PayoutPaid = "payout_paid" => "The payout is marked as paid.",
    Refunded = "refunded" => "The refund has been recorded.",
    JobRetried = "job_retried" => "The job will run again now.",
    JobDiscarded = "job_discarded" => "The job has been discarded; it will not run.",
    JobsRetried = "jobs_retried" => "The given-up jobs will run again now.",
    QueuePaused = "queue_paused" => "The queue is paused: workers take none of its jobs until it is resumed.",
    QueueResumed = "queue_resumed" => "The queue has been resumed.",
    BillingRunStarted = "billing_run_started" => "The billing run has started; its files appear here when it is ready.",
    OrganizationCreated = "organization_created" => "The organization has been created.",
    PartnerRequested = "partner_requested" => "Your request has been sent to our partner team.",
    Managing = "managing" => "Your management session has started: you act with what the customer granted.",
    SessionEnded = "session_ended" => "The session has ended.",
    LoggedInAsEnded = "logged_in_as_ended" => "You are back in your own view.",
    RequestAccepted = "request_accepted" => "The request has been accepted: your service provider holds the permissions now.",
    RequestDeclined = "request_declined" => "The request has been declined.",
    GrantsRequested = "grants_requested" => "Your request has been sent to the customer.",
}

/// `?notice=` of an address: a known key, or nothing (an unknown key is not an error).
pub(crate) fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Notice>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.as_deref().and_then(Notice::parse))
}

/// A redirect to `to` that shows `notice` there.
pub(crate) fn noticed(to: &str, notice: Notice) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    redirect(&format!("{to}{sep}notice={}", notice.key()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::Notice;

    #[derive(Deserialize)]
    struct Address {
        #[serde(default, deserialize_with = "super::lenient")]
        notice: Option<Notice>,
    }

    fn notice_of(query: serde_json::Value) -> Option<Notice> {
        serde_json::from_value::<Address>(query).unwrap().notice
    }

    #[test]
    fn an_address_shows_a_known_notice_and_nothing_for_anything_else() {
        for n in [Notice::CustomerAdded, Notice::QueuePaused, Notice::RequestDeclined] {
            assert_eq!(notice_of(json!({ "notice": n.key() })), Some(n));
        }
        assert_eq!(notice_of(json!({ "notice": "<script>alert(1)</script>" })), None);
        assert_eq!(notice_of(json!({ "notice": "" })), None);
        assert_eq!(notice_of(json!({})), None);
    }
}
