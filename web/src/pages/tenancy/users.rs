//! An organization's users: the overview, adding and editing one, the CSV import, and
//! cloning profiles.

use partnerdesk_core::{
    Error as CoreError, platform::ids::UserId, tenancy::users, tenancy::users::ImportReport, tenancy::users::UserInput,
    tenancy::users::UserPatch,
};
use poem::{Response, Route, get, handler, post, web::Data, web::Multipart, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::users::{UserOverviewView, view};
use crate::pages::context::{Typed, View, with};
use crate::pages::{NoticeQuery, db, form::Form, notice::Notice, portal::Portal, reads, tabs::Tab, tabs::heading};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/users", get(overview).post(add))
        .at("/organizations/:id/users/import", post(import))
        .at("/organizations/:id/users/:uid", post(save))
        .at("/organizations/:id/profiles", get(profiles).post(clone))
}

const USERS: (&str, &str) = ("/users", "tenancy/org_users");

/// An organization's users (the users and the clone-profiles tabs).
#[derive(Serialize)]
struct UsersPage {
    users: View<Vec<UserOverviewView>>,
}

impl UsersPage {
    fn of(users: Vec<UserOverviewView>) -> Self {
        UsersPage { users: View(users) }
    }
}

async fn users_of(
    conn: &mut partnerdesk_core::platform::db::PooledConn,
    portal: &Portal,
    state: &AppState,
    id: Uuid,
) -> Result<Vec<UserOverviewView>, CoreError> {
    let now = state.ctx.now();
    Ok(users::overview(conn, &portal.actor, id.into())
        .await?
        .into_iter()
        .map(|u| view(u, now))
        .collect())
}

#[handler]
async fn overview(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let loaded = users_of(&mut conn, &portal, &state, id).await.map(UsersPage::of);
    Ok(Tab::new(&portal, &state, id, USERS)
        .show(&mut conn, q.notice, loaded)
        .await)
}

/// The add-a-user form.
#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    extension: Option<String>,
    company_admin: Option<String>,
    language: Option<String>,
}

#[handler]
async fn add(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<AddForm>,
) -> poem::Result<Response> {
    let input = UserInput {
        email: form.fields.email,
        first_name: form.fields.first_name,
        last_name: form.fields.last_name,
        extension: form.fields.extension,
        company_admin: form.fields.company_admin.is_some(),
        language: form.fields.language,
    };
    let mut conn = db(&state).await?;
    let result = match users::add(&mut conn, &state.ctx, &portal.actor, id.into(), input).await {
        Ok(_) => Ok(Notice::UserAdded),
        Err(e) => {
            let list = users_of(&mut conn, &portal, &state, id).await.unwrap_or_default();
            Err((e, with(UsersPage::of(list), Typed { form: &form.typed })))
        }
    };
    Ok(Tab::new(&portal, &state, id, USERS).answer(&mut conn, result).await)
}

/// The users tab after an import: the users, the import's report, and whether only
/// the valid rows were to be imported.
#[derive(Serialize)]
struct ImportedPage<'a> {
    users: View<Vec<UserOverviewView>>,
    report: Option<Report<'a>>,
    valid_only: bool,
}

/// What an import did: rows read (when it ran), rows imported, and the rows left out.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<usize>,
    imported: usize,
    skipped: Vec<Skipped<'a>>,
}

/// A row left out of an import: its line, the column and what is wrong.
#[derive(Serialize)]
struct Skipped<'a> {
    line: String,
    field: &'a str,
    message: &'a str,
}

/// The report of an import as table rows: line, column, message. A refused import
/// (some row bad, "valid rows only" not chosen) reports the same way, importing none.
fn report(result: &Result<ImportReport, CoreError>) -> Option<Report<'_>> {
    match result {
        Ok(r) => Some(Report {
            rows: Some(r.rows),
            imported: r.imported,
            skipped: r
                .skipped
                .iter()
                .map(|e| Skipped {
                    line: e.line.to_string(),
                    field: &e.field,
                    message: &e.message,
                })
                .collect(),
        }),
        Err(CoreError::Validation(fields)) if fields.iter().any(|f| f.field.starts_with("rows[")) => Some(Report {
            rows: None,
            imported: 0,
            skipped: fields
                .iter()
                .map(|f| {
                    let (line, column) = f
                        .field
                        .trim_start_matches("rows[")
                        .split_once("].")
                        .unwrap_or(("", &f.field));
                    Skipped {
                        line: line.to_owned(),
                        field: column,
                        message: &f.message,
                    }
                })
                .collect(),
        }),
        Err(_) => None,
    }
}

/// The upload form is `multipart/form-data` with the file in `file` and the tick box
/// `valid_only`; its CSRF token travels in the address.
#[handler]
async fn import(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    mut form: Multipart,
) -> poem::Result<Response> {
    let (mut file, mut valid_only) = (Vec::new(), false);
    while let Some(field) = form.next_field().await? {
        match field.name() {
            Some("file") => file = field.bytes().await?,
            Some("valid_only") => valid_only = true,
            _ => {}
        }
    }
    let mut conn = db(&state).await?;
    let result = users::import(&mut conn, &state.ctx, &portal.actor, id.into(), &file, valid_only).await;
    let list = users_of(&mut conn, &portal, &state, id).await.unwrap_or_default();
    let ctx = ImportedPage {
        users: View(list),
        report: report(&result),
        valid_only,
    };
    let head = heading(&mut conn, &portal, id, USERS.0).await;
    Ok(match (head, &result) {
        (Ok(head), Ok(_)) => portal.render(&state, USERS.1, with(head, ctx)),
        (Ok(head), Err(e)) => portal.error(&state, USERS.1, with(head, ctx), e),
        (Err(e), _) => portal.failed(&state, "Users", &e),
    })
}

/// A user's row: names and extension, and (`role_fields` sent) the role and whether active.
#[derive(Deserialize)]
struct SaveForm {
    first_name: Option<String>,
    last_name: Option<String>,
    extension: Option<String>,
    role_fields: Option<String>,
    company_admin: Option<String>,
    active: Option<String>,
}

#[handler]
async fn save(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, uid)): Path<(Uuid, Uuid)>,
    form: Form<SaveForm>,
) -> poem::Result<Response> {
    let patch = UserPatch {
        first_name: form.fields.first_name,
        last_name: form.fields.last_name,
        extension: form
            .typed
            .has("extension")
            .then(|| form.fields.extension.unwrap_or_default()),
        language: None,
        company_admin: form
            .fields
            .role_fields
            .is_some()
            .then(|| form.fields.company_admin.is_some()),
        active: form.fields.role_fields.is_some().then(|| form.fields.active.is_some()),
    };
    let mut conn = db(&state).await?;
    let result = match users::update(&mut conn, &state.ctx, &portal.actor, id.into(), uid.into(), patch).await {
        Ok(_) => Ok(Notice::UserSaved),
        Err(e) => {
            let list = users_of(&mut conn, &portal, &state, id).await.unwrap_or_default();
            Err((e, UsersPage::of(list)))
        }
    };
    Ok(Tab::new(&portal, &state, id, USERS).answer(&mut conn, result).await)
}

const PROFILES: (&str, &str) = ("/profiles", "tenancy/org_profiles");

#[handler]
async fn profiles(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let loaded = users_of(&mut conn, &portal, &state, id).await.map(UsersPage::of);
    Ok(Tab::new(&portal, &state, id, PROFILES)
        .show(&mut conn, q.notice, loaded)
        .await)
}

/// The clone-profiles form: whose profile, and the users it is copied to.
#[derive(Deserialize)]
struct CloneForm {
    source: Option<String>,
    #[serde(default)]
    targets: Vec<String>,
}

#[handler]
async fn clone(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<CloneForm>,
) -> poem::Result<Response> {
    let source = form.fields.source.and_then(|s| s.parse::<UserId>().ok());
    let targets: Vec<UserId> = form.fields.targets.iter().filter_map(|t| t.parse().ok()).collect();
    let mut conn = db(&state).await?;
    let cloned = match source {
        Some(source) => users::clone_profile(&mut conn, &state.ctx, &portal.actor, id.into(), source, &targets).await,
        None => Err(CoreError::field("source", "required", "Choose whose profile to copy")),
    };
    let result = match cloned {
        Ok(_) => Ok(Notice::ProfileCloned),
        Err(e) => {
            let list = users_of(&mut conn, &portal, &state, id).await.unwrap_or_default();
            Err((e, UsersPage::of(list)))
        }
    };
    Ok(Tab::new(&portal, &state, id, PROFILES).answer(&mut conn, result).await)
}
