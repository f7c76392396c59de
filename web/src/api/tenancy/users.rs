//! Users of an organization (a customer, or a partner's own account): the overview,
//! adding one, importing many from CSV, editing; and the heartbeat of the installed
//! software.

use chrono::{DateTime, Utc};
use partnerdesk_core::platform::authz::Role;
use partnerdesk_core::tenancy::users::{self, ImportReport, UserInput, UserOverview, UserPatch};
use poem::{FromRequest, Request, RequestBody, web::Data};
use poem_openapi::{
    ApiRequest, ApiResponse, Object, OpenApi, impl_apirequest_for_payload,
    param::{Path, Query},
    payload::{Json, ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef},
    types::Example,
};
use uuid::Uuid;

use crate::api::{ApiTags, Created, NoContent};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct UsersApi;

/// A CSV file sent as the request body (`text/csv`).
pub struct CsvFile(pub Vec<u8>);

impl Payload for CsvFile {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        matches!(essence, "text/csv" | "application/csv" | "text/plain")
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")))
    }
}

impl ParsePayload for CsvFile {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(CsvFile(Vec::<u8>::from_request(request, body).await?))
    }
}

impl_apirequest_for_payload!(CsvFile);

/// A form upload (`multipart/form-data`) with the CSV file in the field `file`: what a
/// browser or a generated client sends.
pub struct CsvUpload(pub Vec<u8>);

impl Payload for CsvUpload {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        content_type.split(';').next().unwrap_or_default().trim() == "multipart/form-data"
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["file"],
            properties: vec![(
                "file",
                MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary"))),
            )],
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for CsvUpload {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let mut form = poem::web::Multipart::from_request(request, body).await?;
        while let Some(field) = form.next_field().await? {
            if field.name() == Some("file") {
                return Ok(CsvUpload(field.bytes().await?));
            }
        }
        Err(crate::error::ApiError::from(partnerdesk_core::Error::field(
            "file",
            "required",
            "Attach the CSV file in the form field `file`",
        ))
        .into())
    }
}

/// The CSV import's body: the file itself, or a form carrying it.
#[derive(ApiRequest)]
pub enum ImportBody {
    /// The CSV file as the body (`text/csv`).
    Csv(CsvFile),
    /// A form with the CSV file in `file`.
    Form(CsvUpload),
}

impl ImportBody {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            ImportBody::Csv(CsvFile(bytes)) | ImportBody::Form(CsvUpload(bytes)) => bytes,
        }
    }
}

#[derive(Object, Debug)]
pub struct UserOverviewView {
    pub user_id: Uuid,
    /// Seen by the installed software within the last five minutes.
    pub online: bool,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Codes of the modules the user has a licence for.
    pub activated_modules: Vec<String>,
    /// Internal phone number.
    #[oai(nullable)]
    pub extension: Option<String>,
    #[oai(nullable)]
    pub last_online: Option<DateTime<Utc>>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub software_version: Option<String>,
    pub company_admin: bool,
    /// administrator, company_admin or member.
    pub role: Role,
    /// The person has not accepted yet: only the address you typed is shown.
    pub pending: bool,
}

pub(crate) fn view(u: UserOverview, now: DateTime<Utc>) -> UserOverviewView {
    UserOverviewView {
        online: u.online(now),
        company_admin: u.company_admin(),
        activated_modules: u.activated_modules(),
        user_id: u.user_id,
        email: u.email,
        first_name: u.first_name,
        last_name: u.last_name,
        extension: u.extension,
        last_online: u.last_seen_at,
        active: u.active,
        created_at: u.created_at,
        software_version: u.software_version,
        role: u.role,
        pending: u.pending,
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct AddUserRequest {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Internal phone number.
    #[oai(nullable)]
    pub extension: Option<String>,
    /// Company administrator: sees the users, edits names and extensions, creates users
    /// one at a time, manages connectors and integrations.
    #[oai(default)]
    pub company_admin: bool,
    /// Language of the invitation e-mail; defaults to the organization's.
    #[oai(nullable)]
    pub language: Option<String>,
}

impl Example for AddUserRequest {
    fn example() -> Self {
        AddUserRequest {
            email: "eva@jansen.example".into(),
            first_name: "Eva".into(),
            last_name: "Jansen".into(),
            extension: Some("202".into()),
            company_admin: false,
            language: Some("nl".into()),
        }
    }
}

impl From<AddUserRequest> for UserInput {
    fn from(b: AddUserRequest) -> Self {
        UserInput {
            email: b.email,
            first_name: b.first_name,
            last_name: b.last_name,
            extension: b.extension,
            company_admin: b.company_admin,
            language: b.language,
        }
    }
}

#[derive(Object, Debug, Default)]
#[oai(example)]
pub struct UpdateUserRequest {
    #[oai(nullable)]
    pub first_name: Option<String>,
    #[oai(nullable)]
    pub last_name: Option<String>,
    /// An empty string removes the extension.
    #[oai(nullable)]
    pub extension: Option<String>,
    #[oai(nullable)]
    pub language: Option<String>,
    #[oai(nullable)]
    pub company_admin: Option<bool>,
    #[oai(nullable)]
    pub active: Option<bool>,
}

impl Example for UpdateUserRequest {
    fn example() -> Self {
        UpdateUserRequest {
            extension: Some("210".into()),
            ..Default::default()
        }
    }
}

impl From<UpdateUserRequest> for UserPatch {
    fn from(b: UpdateUserRequest) -> Self {
        UserPatch {
            first_name: b.first_name,
            last_name: b.last_name,
            extension: b.extension,
            language: b.language,
            company_admin: b.company_admin,
            active: b.active,
        }
    }
}

#[derive(Object, Debug)]
pub struct SkippedRow {
    /// Line in the file; the header is line 1.
    pub line: u64,
    pub field: String,
    pub code: String,
    pub message: String,
}

#[derive(Object, Debug)]
pub struct ImportResult {
    /// Data rows in the file.
    pub rows: u64,
    pub imported: u64,
    /// Invalid rows left out (only with `valid_only=true`).
    pub skipped: Vec<SkippedRow>,
}

impl From<ImportReport> for ImportResult {
    fn from(r: ImportReport) -> Self {
        ImportResult {
            rows: r.rows as u64,
            imported: r.imported as u64,
            skipped: r
                .skipped
                .into_iter()
                .map(|e| SkippedRow {
                    line: e.line as u64,
                    field: e.field,
                    code: e.code.into(),
                    message: e.message,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum ImportResponse {
    /// Imported; invitation e-mails are on their way.
    #[oai(status = 201)]
    Imported(Json<ImportResult>),
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct ProfileBody {
    /// A JSON object.
    pub profile: serde_json::Value,
}

impl Example for ProfileBody {
    fn example() -> Self {
        ProfileBody {
            profile: serde_json::json!({ "dial_prefix": "0", "crm": { "popup": true } }),
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct CloneProfileRequest {
    pub user_ids: Vec<Uuid>,
}

impl Example for CloneProfileRequest {
    fn example() -> Self {
        CloneProfileRequest {
            user_ids: vec![Uuid::nil()],
        }
    }
}

#[derive(Object, Debug)]
pub struct ClonedView {
    pub updated: u64,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct HeartbeatRequest {
    /// The version of the installed software.
    #[oai(nullable)]
    pub software_version: Option<String>,
}

impl Example for HeartbeatRequest {
    fn example() -> Self {
        HeartbeatRequest {
            software_version: Some("4.12.1".into()),
        }
    }
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// User overview
    ///
    /// Status (online/offline), e-mail, names, activated modules, extension, last online,
    /// active, created, software version.
    #[oai(operation_id = "listUsers", path = "/organizations/:id/users", method = "get")]
    async fn list(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<Vec<UserOverviewView>>> {
        let mut conn = state.read_conn().await?;
        let now = state.ctx.now();
        let list = users::overview(&mut conn, &auth.actor, id.0.into()).await?;
        Ok(Json(list.into_iter().map(|u| view(u, now)).collect()))
    }

    /// Add a user
    ///
    /// The user gets an e-mail with a link to set a password.
    #[oai(operation_id = "addUsers", path = "/organizations/:id/users", method = "post")]
    async fn add(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<AddUserRequest>,
    ) -> ApiResult<Created<UserOverviewView>> {
        let mut conn = state.conn().await?;
        let user = users::add(&mut conn, &state.ctx, &auth.actor, id.0.into(), body.0.into()).await?;
        Ok(Created::Created(Json(view(user, state.ctx.now()))))
    }

    /// Import users from CSV
    ///
    /// Send the file as `text/csv`, or as a form upload (`multipart/form-data`) with the
    /// file in the field `file` (UTF-8, with or without BOM; comma or semicolon).
    /// Columns: email, first_name, last_name, extension, company_admin; up to 10,000 rows.
    /// When any row is invalid nothing is imported and the problem lists every bad field
    /// as `rows[<line>].<column>`; with `valid_only=true` the valid rows are imported and
    /// the others reported.
    #[oai(
        operation_id = "importUsers",
        path = "/organizations/:id/users/import",
        method = "post"
    )]
    async fn import(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        #[oai(default)] valid_only: Query<bool>,
        file: ImportBody,
    ) -> ApiResult<ImportResponse> {
        let file = file.into_bytes();
        let mut conn = state.conn().await?;
        let report = users::import(&mut conn, &state.ctx, &auth.actor, id.0.into(), &file, valid_only.0).await?;
        Ok(ImportResponse::Imported(Json(report.into())))
    }

    /// Edit a user
    ///
    /// Names, extension and language need "edit users"; the company administrator flag
    /// and the active flag are for the organization's administrator or its partner.
    #[oai(
        operation_id = "updateUser",
        path = "/organizations/:id/users/:user_id",
        method = "patch"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Body<UpdateUserRequest>,
    ) -> ApiResult<Json<UserOverviewView>> {
        let mut conn = state.conn().await?;
        let user = users::update(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            user_id.0.into(),
            body.0.into(),
        )
        .await?;
        Ok(Json(view(user, state.ctx.now())))
    }

    /// A user's profile
    ///
    /// The installed software's settings for this user (a JSON document).
    #[oai(
        operation_id = "getUserProfile",
        path = "/organizations/:id/users/:user_id/profile",
        method = "get"
    )]
    async fn profile(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> ApiResult<Json<ProfileBody>> {
        let mut conn = state.conn().await?;
        Ok(Json(ProfileBody {
            profile: users::profile(&mut conn, &auth.actor, id.0.into(), user_id.0.into()).await?,
        }))
    }

    /// Replace a user's profile
    #[oai(
        operation_id = "setUserProfile",
        path = "/organizations/:id/users/:user_id/profile",
        method = "put"
    )]
    async fn set_profile(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Body<ProfileBody>,
    ) -> ApiResult<Json<ProfileBody>> {
        let mut conn = state.conn().await?;
        let profile = users::set_profile(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            user_id.0.into(),
            body.0.profile,
        )
        .await?;
        Ok(Json(ProfileBody { profile }))
    }

    /// Clone a profile to other users
    ///
    /// An exact copy of this user's profile to every selected user, in one transaction.
    #[oai(
        operation_id = "cloneUserProfile",
        path = "/organizations/:id/users/:user_id/clone-profile",
        method = "post"
    )]
    async fn clone_profile(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Body<CloneProfileRequest>,
    ) -> ApiResult<Json<ClonedView>> {
        let mut conn = state.conn().await?;
        let n = users::clone_profile(
            &mut conn,
            &state.ctx,
            &auth.actor,
            id.0.into(),
            user_id.0.into(),
            &body.0.user_ids.iter().map(|&u| u.into()).collect::<Vec<_>>(),
        )
        .await?;
        Ok(Json(ClonedView { updated: n as u64 }))
    }

    /// Report that the software runs
    ///
    /// Called by the installed software with the user's API token: the user shows as
    /// online, with this version, in the user overview of the organization the token
    /// acts for (and nowhere else).
    #[oai(operation_id = "sendHeartbeat", path = "/client/heartbeat", method = "post")]
    async fn heartbeat(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<HeartbeatRequest>,
    ) -> ApiResult<NoContent> {
        let mut conn = state.conn().await?;
        users::heartbeat(&mut conn, &state.ctx, &auth.actor, body.0.software_version.as_deref()).await?;
        Ok(NoContent::NoContent)
    }
}
