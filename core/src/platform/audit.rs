//! The audit log: every mutation records who, acting as which organization, on behalf
//! of which organization, what, when, and the changed fields, in the same transaction.

use crate::platform::ids::{OrgId, UserId};
use chrono::{DateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Result,
    platform::authz::{self, Access, Actor, Permission},
    schema::audit_log,
};

/// The identities of one audit entry.
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user_id: Option<Uuid>,
    pub acting_org: Option<Uuid>,
    pub on_behalf_of: Option<Uuid>,
    pub impersonator: Option<Uuid>,
    /// The delegated session the change was made in (see `delegation`).
    pub delegated_session: Option<Uuid>,
}

impl From<&Access> for Who {
    /// Inside a delegated session the entry names the partner the real person acts for
    /// (also when logged in as a customer's user) and the session.
    fn from(access: &Access) -> Self {
        Who {
            user_id: Some(access.user_id()),
            acting_org: Some(access.delegated().map_or(access.acting_org(), |(_, partner)| partner)),
            on_behalf_of: Some(access.org()),
            impersonator: access.impersonator(),
            delegated_session: access.delegated().map(|(session, _)| session),
        }
    }
}

impl Who {
    /// A person acting for their own organization (or for none yet, e.g. at sign-up).
    pub fn user(user_id: UserId, org: Option<OrgId>) -> Self {
        let org = org.map(OrgId::uuid);
        Who {
            user_id: Some(user_id.uuid()),
            acting_org: org,
            on_behalf_of: org,
            ..Default::default()
        }
    }

    /// A person acting for themselves about an organization they do not act as (e.g.
    /// declining or leaving it).
    pub fn person(user_id: UserId, about: OrgId) -> Self {
        Who {
            user_id: Some(user_id.uuid()),
            on_behalf_of: Some(about.uuid()),
            ..Default::default()
        }
    }

    /// The system itself (background jobs, seed).
    pub fn system(on_behalf_of: Option<Uuid>) -> Self {
        Who {
            on_behalf_of,
            ..Default::default()
        }
    }
}

/// Declares the audit actions: each with its stable name and the type of its subject.
macro_rules! actions {
    ($($variant:ident = ($name:literal, $subject:literal)),+ $(,)?) => {
        /// What happened, as the audit log records it. The names are stable; each action
        /// names the type of the subject it is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($variant),+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            pub fn name(&self) -> &'static str {
                match self {
                    $(Action::$variant => $name),+
                }
            }

            pub fn subject_type(&self) -> &'static str {
                match self {
                    $(Action::$variant => $subject),+
                }
            }
        }
    };
}

actions! {
        ApiTokenCreated = ("api_token.created", "api_token"),
        AttributionRecorded = ("attribution.recorded", "organization"),
        AttributionEnded = ("attribution.ended", "organization"),
        CommissionsEarned = ("commission.earned", "order"),
        CommissionsApproved = ("commission.approved", "partner"),
        CommissionDeclined = ("commission.declined", "commission"),
        CreditNoteRecorded = ("credit_note.recorded", "credit_note"),
        PayoutCreated = ("payout.created", "payout"),
        PayoutPaid = ("payout.paid", "payout"),
        BillingRunStarted = ("billing_run.started", "billing_run"),
        BillingRunReady = ("billing_run.ready", "billing_run"),
        ApiTokenRevoked = ("api_token.revoked", "api_token"),
        CustomerCreated = ("customer.created", "organization"),
        CustomerUpdated = ("customer.updated", "organization"),
        CustomerActivated = ("customer.activated", "organization"),
        CustomerDeactivated = ("customer.deactivated", "organization"),
        CustomerInvitationCreated = ("customer_invitation.created", "customer_invitation"),
        CustomerInvitationResent = ("customer_invitation.resent", "customer_invitation"),
        CustomerInvitationRevoked = ("customer_invitation.revoked", "customer_invitation"),
        CustomerInvitationAccepted = ("customer_invitation.accepted", "customer_invitation"),
        IdentityLinked = ("identity.linked", "identity_link"),
        IdentityRemoved = ("identity.removed", "identity_link"),
        IntegrationCreated = ("integration.created", "integration"),
        IntegrationUpdated = ("integration.updated", "integration"),
        IntegrationDeleted = ("integration.deleted", "integration"),
        InvoicePaid = ("invoice.paid", "invoice"),
        JobRetried = ("job.retried", "job"),
        JobDiscarded = ("job.discarded", "job"),
        JobsRetried = ("jobs.retried", "queue"),
        QueuePaused = ("queue.paused", "queue"),
        QueueResumed = ("queue.resumed", "queue"),
        BusinessLicenceActivated = ("licence.business_activated", "business_licence"),
        BusinessLicenceDeactivated = ("licence.business_deactivated", "business_licence"),
        UserLicencesActivated = ("licence.users_activated", "organization"),
        UserLicenceDeactivated = ("licence.user_deactivated", "user_licence"),
        CreditsAdded = ("licence.credits_added", "organization"),
        CreditsAssigned = ("licence.credits_assigned", "organization"),
        MemberInvited = ("member.invited", "membership"),
        MemberUpdated = ("member.updated", "user"),
        MemberRemoved = ("member.removed", "user"),
        MembershipAccepted = ("membership.accepted", "membership"),
        MembershipDeclined = ("membership.declined", "membership"),
        MembershipLeft = ("membership.left", "membership"),
        ModuleCreated = ("module.created", "module"),
        ModuleUpdated = ("module.updated", "module"),
        OrderCreated = ("order.created", "order"),
        OrganizationCreated = ("organization.created", "organization"),
        OrganizationDetailsUpdated = ("organization.details_updated", "organization"),
        OrganizationSettingsUpdated = ("organization.settings_updated", "organization"),
        PartnerCreated = ("partner.created", "partner"),
        PartnerTermsUpdated = ("partner.terms_updated", "partner"),
        PartnerRegistrationLinkSent = ("partner_registration.link_sent", "partner_registration"),
        PartnerRegistrationCompleted = ("partner_registration.completed", "partner_registration"),
        PartnerRequestSubmitted = ("partner_request.submitted", "partner_request"),
        PartnerRequestApproved = ("partner_request.approved", "partner_request"),
        PartnerRequestRejected = ("partner_request.rejected", "partner_request"),
        QuoteCreated = ("quote.created", "quote"),
        ReleasePublished = ("release.published", "release"),
        SeedLoaded = ("seed.loaded", "seed"),
        ServiceProviderAdded = ("service_provider.added", "service_provider_link"),
        ServiceProviderLinked = ("service_provider.linked", "service_provider_link"),
        ServiceProviderRemoved = ("service_provider.removed", "service_provider_link"),
        ServiceProviderGrantsChanged = ("service_provider.grants_changed", "service_provider_link"),
        GrantsRequested = ("service_provider.grants_requested", "grant_request"),
        GrantRequestAccepted = ("service_provider.grant_request_accepted", "grant_request"),
        GrantRequestDeclined = ("service_provider.grant_request_declined", "grant_request"),
        DelegationStarted = ("delegation.started", "delegated_session"),
        LoginAsStarted = ("delegation.login_as_started", "delegated_session"),
        DelegationEnded = ("delegation.ended", "delegated_session"),
        SessionCreated = ("session.created", "session"),
        SessionEnded = ("session.ended", "session"),
        SessionOrganizationSwitched = ("session.organization_switched", "session"),
        SignupRequested = ("signup.requested", "signup"),
        TrialStarted = ("trial.started", "trial"),
        TrialUsersAssigned = ("trial.users_assigned", "trial"),
        TrialUpgraded = ("trial.upgraded", "trial"),
        TrialEnded = ("trial.ended", "trial"),
        UserSignedUp = ("user.signed_up", "user"),
        UserCreated = ("user.created", "membership"),
        UserUpdated = ("user.updated", "user"),
        UserProfileUpdated = ("user.profile_updated", "user"),
        UserProfileSet = ("user.profile_set", "user"),
        UserProfileCloned = ("user.profile_cloned", "user"),
        UserPasswordSet = ("user.password_set", "user"),
        UserPasswordChanged = ("user.password_changed", "user"),
        UserPasswordResetRequested = ("user.password_reset_requested", "user"),
        UserSoftwareVersionReported = ("user.software_version_reported", "user"),
        UsersImported = ("users.imported", "organization"),
}

/// Appends one entry.
pub async fn record(
    conn: &mut AsyncPgConnection,
    at: DateTime<Utc>,
    who: impl Into<Who>,
    action: Action,
    subject_id: impl ToString,
    changes: Value,
) -> Result<()> {
    let who = who.into();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::occurred_at.eq(at),
            audit_log::actor_user_id.eq(who.user_id),
            audit_log::acting_organization_id.eq(who.acting_org),
            audit_log::on_behalf_of_organization_id.eq(who.on_behalf_of),
            audit_log::impersonator_user_id.eq(who.impersonator),
            audit_log::delegated_session_id.eq(who.delegated_session),
            audit_log::action.eq(action.name()),
            audit_log::subject_type.eq(action.subject_type()),
            audit_log::subject_id.eq(subject_id.to_string()),
            audit_log::changes.eq(changes),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub acting_organization_id: Option<Uuid>,
    pub on_behalf_of_organization_id: Option<Uuid>,
    pub impersonator_user_id: Option<Uuid>,
    pub delegated_session_id: Option<Uuid>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub changes: Value,
}

/// Entries about an organization (done by it or on its behalf), newest first, keyset
/// paged by id. Needs "view audit" on that organization.
pub async fn list_for_organization(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    org_id: Uuid,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let access = authz::authorize(conn, actor, org_id, Permission::ViewAudit).await?;
    let limit = crate::platform::domain::page_limit(limit)?;
    entries(conn, &access, before_id, limit).await
}

/// The entries of the organization `access` was granted on (`op::read` is above this
/// module, which the write frame uses).
async fn entries(
    conn: &mut AsyncPgConnection,
    access: &Access,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let org_id = access.org();
    let mut query = audit_log::table
        .filter(
            audit_log::on_behalf_of_organization_id
                .eq(org_id)
                .or(audit_log::acting_organization_id.eq(org_id)),
        )
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .into_boxed();
    if let Some(before) = before_id {
        query = query.filter(audit_log::id.lt(before));
    }
    Ok(query.load(conn).await?)
}
