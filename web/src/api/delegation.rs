//! Delegated administration: a partner's management sessions and "login as" for one
//! customer, and the customer's view of them.

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use partnerdesk_core::delegation::activity::{self, Activity};
use partnerdesk_core::{
    delegation::service_providers::{self, GrantRequest, RequestStatus, ServiceProvider},
    delegation::sessions::{self, DelegatedSession},
    platform::authz::{DelegationKind, Permission},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
    types::Example,
};
use uuid::Uuid;

use partnerdesk_core::platform::values::CustomerOrigin;

use super::{ApiTags, Created, NoContent, default_limit, earnings::CsvFile};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct DelegationApi;

/// A management session or a "login as", as the partner and the customer see it.
#[derive(Object, Debug)]
pub struct DelegatedSessionView {
    /// Send it as `X-Delegated-Session` to act inside the session.
    pub id: Uuid,
    /// manage (the customer's grants) or login_as (one user's view, within the grants).
    pub kind: DelegationKind,
    /// The partner's staff member acting.
    pub staff_user_id: Uuid,
    pub staff_name: String,
    pub partner_id: Uuid,
    pub partner_name: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    #[oai(nullable)]
    pub impersonated_user_id: Option<Uuid>,
    #[oai(nullable)]
    pub impersonated_name: Option<String>,
    /// Why the partner logged in as the user.
    #[oai(nullable)]
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    /// The session ends by itself then.
    pub expires_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Open and not past its time.
    pub active: bool,
}

impl From<DelegatedSession> for DelegatedSessionView {
    fn from(s: DelegatedSession) -> Self {
        DelegatedSessionView {
            id: s.id,
            kind: s.kind,
            staff_user_id: s.staff_user_id,
            staff_name: s.staff_name,
            partner_id: s.partner_id,
            partner_name: s.partner_name,
            customer_id: s.customer_id,
            customer_name: s.customer_name,
            impersonated_user_id: s.impersonated_user_id,
            impersonated_name: s.impersonated_name,
            reason: s.reason,
            started_at: s.started_at,
            expires_at: s.expires_at,
            ended_at: s.ended_at,
            active: s.active,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct LoginAsRequest {
    /// One of the customer's users (not vendor staff, not a partner's own staff).
    pub user_id: Uuid,
    /// Why; the user is e-mailed it. At most 500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

impl Example for LoginAsRequest {
    fn example() -> Self {
        LoginAsRequest {
            user_id: Uuid::nil(),
            reason: "Ticket 4711: the CRM connector stopped syncing".into(),
        }
    }
}

/// One thing a service provider did in your organization.
#[derive(Object, Debug)]
pub struct ActivityView {
    /// Pass as `before_id` for the next page.
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// The partner's staff member who acted (also when logged in as your user).
    #[oai(nullable)]
    pub person_id: Option<Uuid>,
    #[oai(nullable)]
    pub person_name: Option<String>,
    #[oai(nullable)]
    pub partner_id: Option<Uuid>,
    #[oai(nullable)]
    pub partner_name: Option<String>,
    /// Your user they were logged in as.
    #[oai(nullable)]
    pub as_user_id: Option<Uuid>,
    #[oai(nullable)]
    pub as_user_name: Option<String>,
    /// The management session or "login as" it happened in.
    #[oai(nullable)]
    pub delegated_session_id: Option<Uuid>,
    /// What happened, e.g. `user.updated`.
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    /// What changed: values before and after where the action records them.
    pub changes: serde_json::Value,
}

impl From<Activity> for ActivityView {
    fn from(a: Activity) -> Self {
        ActivityView {
            id: a.id,
            occurred_at: a.occurred_at,
            person_id: a.person_id,
            person_name: a.person_name,
            partner_id: a.partner_id,
            partner_name: a.partner_name,
            as_user_id: a.as_user_id,
            as_user_name: a.as_user_name,
            delegated_session_id: a.delegated_session_id,
            action: a.action,
            subject_type: a.subject_type,
            subject_id: a.subject_id,
            changes: a.changes,
        }
    }
}

/// A partner's request for more permissions in a customer's organization.
#[derive(Object, Debug)]
pub struct GrantRequestView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub partner_id: Uuid,
    pub partner_name: String,
    /// The permissions asked for.
    pub permissions: Vec<Permission>,
    #[oai(nullable)]
    pub message: Option<String>,
    #[oai(nullable)]
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    /// Unanswered by then, the request expires.
    pub expires_at: DateTime<Utc>,
    /// open, accepted, declined, expired or withdrawn (replaced by a newer request).
    pub status: RequestStatus,
    #[oai(nullable)]
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<GrantRequest> for GrantRequestView {
    fn from(r: GrantRequest) -> Self {
        GrantRequestView {
            id: r.id,
            customer_id: r.customer_id,
            partner_id: r.partner_id,
            partner_name: r.partner_name,
            permissions: r.permissions,
            message: r.message,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            status: r.status,
            decided_at: r.decided_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct GrantRequestBody {
    /// Delegable permissions (as in the customer's grants); at least one not held yet.
    pub permissions: Vec<String>,
    /// Why, for the customer. At most 1,000 characters.
    #[oai(validator(max_length = 1000))]
    pub message: Option<String>,
}

impl Example for GrantRequestBody {
    fn example() -> Self {
        GrantRequestBody {
            permissions: vec!["import_users".into()],
            message: Some("To import your 40 new colleagues from the HR export".into()),
        }
    }
}

#[OpenApi(tag = "ApiTags::Delegation")]
impl DelegationApi {
    /// Start a management session for a customer
    ///
    /// Needs "manage customers" at a partner serving the customer. Inside the session
    /// (send its id as `X-Delegated-Session`) you act with exactly what the customer
    /// granted; it ends by itself after `MANAGEMENT_SESSION_MINUTES` (60 by default).
    #[oai(
        operation_id = "startManagementSession",
        path = "/customers/:id/management-sessions",
        method = "post"
    )]
    async fn start(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Created<DelegatedSessionView>> {
        let mut conn = state.conn().await?;
        let session = sessions::start_management(&mut conn, &state.ctx, &auth.actor, id.0).await?;
        Ok(Created::Created(Json(session.into())))
    }

    /// Log in as a customer's user
    ///
    /// Needs the customer's grant "log in as one of your users". Inside the session
    /// (send its id as `X-Delegated-Session`) you see and act as that user, within what
    /// the customer granted, never their credentials; the user is e-mailed who, when
    /// and why. Ends by itself after `LOGIN_AS_MINUTES` (30 by default).
    #[oai(operation_id = "logInAsUser", path = "/customers/:id/login-as", method = "post")]
    async fn login_as(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<LoginAsRequest>,
    ) -> ApiResult<Created<DelegatedSessionView>> {
        let mut conn = state.conn().await?;
        let session = sessions::login_as(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            body.0.user_id.into(),
            &body.0.reason,
        )
        .await?;
        Ok(Created::Created(Json(session.into())))
    }

    /// End your delegated session (Exit)
    #[oai(
        operation_id = "exitDelegatedSession",
        path = "/delegated-sessions/:id/exit",
        method = "post"
    )]
    async fn exit(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<DelegatedSessionView>> {
        let mut conn = state.conn().await?;
        let session = sessions::exit(&mut conn, &state.ctx, auth.principal.user_id.into(), id.0.into()).await?;
        Ok(Json(session.into()))
    }

    /// List your service provider's sessions
    ///
    /// Management sessions and logins as your users, newest first, open ones marked
    /// active. Needs "choose or drop the service provider".
    #[oai(
        operation_id = "listDelegatedSessions",
        path = "/organizations/:id/delegated-sessions",
        method = "get"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<DelegatedSessionView>>> {
        let mut conn = state.conn().await?;
        let sessions = sessions::list_for_customer(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(sessions.into_iter().map(Into::into).collect()))
    }

    /// End a session of your service provider
    ///
    /// Takes effect at once: its next request is refused.
    #[oai(
        operation_id = "endDelegatedSession",
        path = "/organizations/:id/delegated-sessions/:session_id/end",
        method = "post"
    )]
    async fn end(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        session_id: Path<Uuid>,
    ) -> ApiResult<Json<DelegatedSessionView>> {
        let mut conn = state.conn().await?;
        let session = sessions::end_for_customer(&mut conn, &state.ctx, &auth.actor, id.0.into(), session_id.0).await?;
        Ok(Json(session.into()))
    }

    /// Ask a customer for more permissions
    ///
    /// Needs "manage customers" at the partner serving the customer. Replaces your open
    /// request, if any; the customer's administrators are e-mailed, and an unanswered
    /// request expires after `GRANT_REQUEST_DAYS` (14 by default).
    #[oai(
        operation_id = "requestGrants",
        path = "/customers/:id/grant-requests",
        method = "post"
    )]
    async fn request_grants(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<GrantRequestBody>,
    ) -> ApiResult<Created<GrantRequestView>> {
        let mut conn = state.conn().await?;
        let body = body.0;
        let request = service_providers::request_grants(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            &body.permissions,
            body.message.as_deref(),
        )
        .await?;
        Ok(Created::Created(Json(request.into())))
    }

    /// List requests for more permissions
    ///
    /// The organization's administrators see every request; its service provider its own.
    #[oai(
        operation_id = "listGrantRequests",
        path = "/organizations/:id/grant-requests",
        method = "get"
    )]
    async fn grant_requests(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<GrantRequestView>>> {
        let mut conn = state.conn().await?;
        let requests = service_providers::grant_requests(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(requests.into_iter().map(Into::into).collect()))
    }

    /// Accept a request for more permissions
    ///
    /// Adds them to what your service provider may do (the end date stays).
    #[oai(
        operation_id = "acceptGrantRequest",
        path = "/organizations/:id/grant-requests/:request_id/accept",
        method = "post"
    )]
    async fn accept(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        request_id: Path<Uuid>,
    ) -> ApiResult<Json<GrantRequestView>> {
        let mut conn = state.conn().await?;
        let request =
            service_providers::answer_request(&mut conn, &state.ctx, &auth.actor, id.0.into(), request_id.0, true)
                .await?;
        Ok(Json(request.into()))
    }

    /// Decline a request for more permissions
    #[oai(
        operation_id = "declineGrantRequest",
        path = "/organizations/:id/grant-requests/:request_id/decline",
        method = "post"
    )]
    async fn decline(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        request_id: Path<Uuid>,
    ) -> ApiResult<Json<GrantRequestView>> {
        let mut conn = state.conn().await?;
        let request =
            service_providers::answer_request(&mut conn, &state.ctx, &auth.actor, id.0.into(), request_id.0, false)
                .await?;
        Ok(Json(request.into()))
    }

    /// What my service provider did
    ///
    /// Everything your service providers did in your organization, newest first:
    /// directly, in management sessions, or logged in as your users; filtered by the
    /// person and the period (days, both included). Needs "read the audit log".
    #[oai(
        operation_id = "listProviderActivity",
        path = "/organizations/:id/service-provider/activity",
        method = "get"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn activity(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        person_id: Query<Option<Uuid>>,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
        before_id: Query<Option<i64>>,
        #[oai(default = "default_limit")] limit: Query<i64>,
    ) -> ApiResult<Json<Vec<ActivityView>>> {
        let mut conn = state.read_conn().await?;
        let q = activity::Query {
            person: person_id.0,
            from: from.0,
            to: to.0,
            before_id: before_id.0,
        };
        let rows = activity::list(&mut conn, &auth.actor, id.0, &q, limit.0).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Download what my service provider did (CSV)
    ///
    /// The same filters as the list; every entry, formula-safe.
    #[oai(
        operation_id = "exportProviderActivity",
        path = "/organizations/:id/service-provider/activity/export",
        method = "get"
    )]
    async fn export_activity(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        person_id: Query<Option<Uuid>>,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
    ) -> ApiResult<CsvFile> {
        let mut conn = state.read_conn().await?;
        let q = activity::Query {
            person: person_id.0,
            from: from.0,
            to: to.0,
            before_id: None,
        };
        let csv = activity::export(&mut conn, &auth.actor, id.0, q).await?;
        Ok(CsvFile::Csv(
            Binary(csv),
            "attachment; filename=\"service-provider-activity.csv\"".into(),
        ))
    }
}

// ---------------------------------------------------------------------------------
// A customer's service provider and the grants it gives it

#[derive(Default)]
pub struct ServiceProviderApi;

#[derive(Object, Debug)]
pub struct ServiceProviderView {
    pub partner_id: Uuid,
    pub name: String,
    pub partner_code: String,
    #[oai(nullable)]
    pub country: Option<String>,
    #[oai(nullable)]
    pub website: Option<String>,
    /// invitation, created_by_partner or chosen_by_customer.
    pub origin: CustomerOrigin,
    pub since: DateTime<Utc>,
    /// What the partner may do inside your organization.
    pub granted_permissions: Vec<Permission>,
    /// When those permissions end (then the partner holds none of them); null: no end.
    #[oai(nullable)]
    pub grants_end_at: Option<DateTime<Utc>>,
}

impl From<ServiceProvider> for ServiceProviderView {
    fn from(s: ServiceProvider) -> Self {
        ServiceProviderView {
            partner_id: s.partner_id,
            name: s.name,
            partner_code: s.partner_code,
            country: s.country,
            website: s.website,
            origin: s.origin,
            since: s.since,
            granted_permissions: s.granted_permissions,
            grants_end_at: s.grants_end_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct ServiceProviderState {
    /// Absent when the organization has no service provider.
    #[oai(skip_serializing_if_is_none)]
    pub service_provider: Option<ServiceProviderView>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct ChooseServiceProviderRequest {
    /// The partner's public partner code.
    pub partner_code: String,
}

impl Example for ChooseServiceProviderRequest {
    fn example() -> Self {
        ChooseServiceProviderRequest {
            partner_code: "NORTHWND".into(),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct GrantsRequest {
    /// Any of edit_company_details, edit_company_settings, view_users, edit_users,
    /// create_users, import_users, manage_integrations, manage_licences, view_audit,
    /// edit_company_status (activate, deactivate, change the customer type),
    /// login_as_user (log in as one of your users, giving a reason).
    pub permissions: Vec<String>,
    /// When the permissions end (at most `GRANT_MAX_DAYS`, 730 by default, from now);
    /// omitted or null: no end.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Example for GrantsRequest {
    fn example() -> Self {
        GrantsRequest {
            permissions: vec!["view_users".into(), "create_users".into(), "edit_users".into()],
            ends_at: None,
        }
    }
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl ServiceProviderApi {
    /// My service provider
    #[oai(
        operation_id = "getServiceProvider",
        path = "/organizations/:id/service-provider",
        method = "get"
    )]
    async fn service_provider(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ServiceProviderState>> {
        let mut conn = state.conn().await?;
        let sp = service_providers::get(&mut conn, &auth.actor, id.0).await?;
        Ok(Json(ServiceProviderState {
            service_provider: sp.map(Into::into),
        }))
    }

    /// Choose a service provider
    ///
    /// By the partner's public partner code. One service provider at a time: remove the
    /// current one first. Both sides are e-mailed. The partner may do nothing inside your
    /// organization until you grant it.
    #[oai(
        operation_id = "chooseServiceProvider",
        path = "/organizations/:id/service-provider",
        method = "put"
    )]
    async fn choose(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<ChooseServiceProviderRequest>,
    ) -> ApiResult<Json<ServiceProviderView>> {
        let mut conn = state.conn().await?;
        let sp = service_providers::choose(&mut conn, &state.ctx, &auth.actor, id.0, &body.0.partner_code).await?;
        Ok(Json(sp.into()))
    }

    /// Remove the service provider
    ///
    /// The partner can no longer act for you; both sides are e-mailed.
    #[oai(
        operation_id = "removeServiceProvider",
        path = "/organizations/:id/service-provider",
        method = "delete"
    )]
    async fn remove(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        service_providers::remove(&mut conn, &state.ctx, &auth.actor, id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Decide what the service provider may do
    #[oai(
        operation_id = "setServiceProviderGrants",
        path = "/organizations/:id/service-provider/grants",
        method = "put"
    )]
    async fn grants(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<GrantsRequest>,
    ) -> ApiResult<Json<ServiceProviderView>> {
        let mut conn = state.conn().await?;
        let sp = service_providers::set_grants(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0,
            &body.0.permissions,
            body.0.ends_at,
        )
        .await?;
        Ok(Json(sp.into()))
    }
}

/// The area's resources, for `api::Api`.
pub type Api = (DelegationApi, ServiceProviderApi);
