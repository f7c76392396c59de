//! Users of a customer: add one, import many from CSV, the user overview, edits, and the
//! heartbeat the installed software sends.
//!
//! What the overview shows is the person's membership in this organization: the role
//! (company administrator flag), extension, profile, active flag, presence and software
//! version belong to the membership, so nothing one organization sets or sees leaks
//! into another. Until the person accepts, the organization sees only the address it
//! typed. Names and language belong to the person; an organization edits them only for
//! an account it created and that is a member nowhere else.

use std::collections::{HashMap, HashSet};

use crate::platform::db::sql_query;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName,
    sql_types::{Array, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, FieldError, Result,
    platform::audit::Who,
    platform::authz::{Actor, Permission, Role},
    platform::domain::{Email, Language, json_object, optional_text, required_text},
    platform::error::{Validator, validated},
    platform::ids::{OrgId, UserId},
    platform::mail,
    schema::{memberships as ms, organizations as orgs, users},
    tenancy::members,
    tenancy::memberships::{self, NewMember},
};

/// The most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// The largest profile document, serialized.
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;

/// A user as the overview shows it.
#[derive(Debug, Clone, QueryableByName)]
pub struct UserOverview {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub first_name: String,
    #[diesel(sql_type = Text)]
    pub last_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub extension: Option<String>,
    #[diesel(sql_type = Text)]
    pub role: Role,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub software_version: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// The person has not accepted the membership yet.
    #[diesel(sql_type = Bool)]
    pub pending: bool,
    /// Codes of the modules the user holds an active licence for, comma-separated.
    #[diesel(sql_type = Text)]
    pub modules: String,
}

impl UserOverview {
    /// Online: the installed software reported within the last five minutes.
    pub fn online(&self, now: DateTime<Utc>) -> bool {
        self.last_seen_at.is_some_and(|t| now - t <= Duration::minutes(5))
    }

    pub fn company_admin(&self) -> bool {
        self.role == Role::CompanyAdmin
    }

    pub fn activated_modules(&self) -> Vec<String> {
        self.modules
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A pending membership shows only the address the organization typed.
const OVERVIEW: &str = "
    SELECT u.id AS user_id,
           CASE WHEN m.accepted_at IS NULL THEN coalesce(m.invited_email, u.email) ELSE u.email END AS email,
           CASE WHEN m.accepted_at IS NULL THEN '' ELSE u.first_name END AS first_name,
           CASE WHEN m.accepted_at IS NULL THEN '' ELSE u.last_name END AS last_name,
           m.extension, m.role, (m.active AND (m.accepted_at IS NULL OR u.active)) AS active,
           m.last_seen_at, m.software_version, m.created_at, m.accepted_at IS NULL AS pending,
           COALESCE((SELECT string_agg(md.code, ',' ORDER BY md.code)
                     FROM user_licences ul JOIN modules md ON md.id = ul.module_id
                     WHERE ul.user_id = u.id AND ul.organization_id = m.organization_id AND ul.active), '') AS modules
    FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.organization_id = $1";

async fn load(conn: &mut AsyncPgConnection, org: OrgId, user: Option<UserId>) -> Result<Vec<UserOverview>> {
    Ok(sql_query(format!(
        "{OVERVIEW} AND ($2::uuid IS NULL OR u.id = $2)
         ORDER BY m.accepted_at IS NULL,
                  CASE WHEN m.accepted_at IS NULL THEN coalesce(m.invited_email, u.email) ELSE lower(u.last_name) END,
                  lower(u.first_name), u.id"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<Nullable<SqlUuid>, _>(user)
    .load(conn)
    .await?)
}

async fn load_one(conn: &mut AsyncPgConnection, org: OrgId, user: UserId) -> Result<UserOverview> {
    load(conn, org, Some(user)).await?.pop().ok_or(Error::not_found("user"))
}

/// The user overview: status, e-mail, names, modules, extension, last online, active,
/// created, software version.
pub async fn overview(conn: &mut AsyncPgConnection, actor: &Actor, org: OrgId) -> Result<Vec<UserOverview>> {
    let org = org.uuid();
    op::read(conn, actor, org, Permission::ViewUsers, async |conn, access| {
        load(conn, access.org().into(), None).await
    })
    .await
}

async fn org_language(conn: &mut AsyncPgConnection, org: Uuid) -> Result<Language> {
    let lang: String = orgs::table.find(org).select(orgs::language).first(conn).await?;
    Ok(Language::from_db(&lang))
}

#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub extension: Option<String>,
    pub company_admin: bool,
    pub language: Option<String>,
}

/// Adds one user. The membership is pending until the person accepts (a new address:
/// by setting a password through the e-mailed link); the answer is the same whether or
/// not the address has an account.
pub async fn add(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    input: UserInput,
) -> Result<UserOverview> {
    let org = org.uuid();
    op::run(conn, ctx, actor, org, Permission::CreateUsers, async |op| {
        if input.company_admin {
            members::require_role_assignment(op, actor, org).await?;
        }
        let mut v = Validator::new();
        let email = v.check(Email::parse(&input.email));
        let first = v.check(required_text("first_name", &input.first_name, 100));
        let last = v.check(required_text("last_name", &input.last_name, 100));
        let extension = v.check(optional_text("extension", input.extension.as_deref(), 20));
        let language = match input.language.as_deref() {
            Some(l) => v.check(Language::parse(l).map(Some)),
            None => Some(None),
        };
        v.finish()?;
        let (email, first, last, extension, language) = (
            validated(email),
            validated(first),
            validated(last),
            validated(extension),
            validated(language),
        );
        let language = match language {
            Some(l) => l,
            None => org_language(op.conn, org).await?,
        };
        mail::check_address_rate(op.conn, ctx, &email).await?;
        let person = NewMember {
            email: email.clone(),
            first_name: first.clone(),
            last_name: last.clone(),
            language,
            role: if input.company_admin {
                Role::CompanyAdmin
            } else {
                Role::Member
            },
            permissions: Vec::new(),
            extension: extension.clone(),
        };
        let added = memberships::add_people(op, org.into(), actor.user_id.into(), std::slice::from_ref(&person)).await?;
        op.audit(Action::UserCreated,
            added[0].membership_id,
            json!({ "email": email.as_str(), "first_name": first, "last_name": last, "extension": extension, "company_admin": input.company_admin }),
        )
        .await?;
        load_one(op.conn, org.into(), (added[0].user_id).into()).await
    })
    .await
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub extension: Option<String>,
    pub language: Option<String>,
    pub company_admin: Option<bool>,
    pub active: Option<bool>,
}

/// Whether the organization manages the account exclusively: it created the account
/// and the person is a member of no other organization.
async fn manages_exclusively(conn: &mut AsyncPgConnection, org: OrgId, user_id: UserId) -> Result<bool> {
    let managed_by: Option<Uuid> = users::table
        .find(user_id)
        .select(users::managed_by_organization_id)
        .first(conn)
        .await?;
    if managed_by != Some(org.into()) {
        return Ok(false);
    }
    let elsewhere: i64 = ms::table
        .filter(ms::user_id.eq(user_id))
        .filter(ms::organization_id.ne(org))
        .filter(ms::accepted_at.is_not_null())
        .count()
        .get_result(conn)
        .await?;
    Ok(elsewhere == 0)
}

fn not_managed() -> Error {
    Error::Forbidden {
        code: "account_not_managed",
        message: "Names and language belong to the person; only they can change them, since this organization does not manage the account".into(),
    }
}

/// Edits a user. Extension needs "edit users"; names and language also need the
/// account to be managed by this organization alone; the company administrator flag
/// and the active flag need the right to assign roles, and nobody changes their own.
pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    user_id: UserId,
    patch: UserPatch,
) -> Result<UserOverview> {
    let (org, user_id) = (org.uuid(), user_id.uuid());
    op::run(conn, ctx, actor, org, Permission::EditUsers, async |op| {
        if patch.company_admin.is_some() || patch.active.is_some() {
            if user_id == actor.user_id {
                return Err(Error::Forbidden {
                    code: "own_membership",
                    message: "You cannot change your own role or status; ask an administrator".into(),
                });
            }
            members::require_role_assignment(op, actor, org).await?;
        }
        let valid = ValidPatch::of(&patch)?;
        ms::table
            .filter(ms::organization_id.eq(org))
            .filter(ms::user_id.eq(user_id))
            .select(ms::id)
            .for_update()
            .first::<Uuid>(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("user"))?;
        let before = load_one(op.conn, org.into(), user_id.into()).await?;
        let mut changes = serde_json::Map::new();
        if valid.first.is_some() || valid.last.is_some() || valid.language.is_some() {
            update_person(op, org.into(), user_id.into(), &valid, &mut changes).await?;
        }
        update_membership(op, &before, org, &valid, &patch, &mut changes).await?;
        if !changes.is_empty() {
            op.audit(Action::UserUpdated, user_id, serde_json::Value::Object(changes))
                .await?;
        }
        load_one(op.conn, org.into(), user_id.into()).await
    })
    .await
}

/// The fields of a [`UserPatch`], checked.
struct ValidPatch {
    first: Option<String>,
    last: Option<String>,
    extension: Option<Option<String>>,
    language: Option<Language>,
}

impl ValidPatch {
    fn of(patch: &UserPatch) -> Result<Self> {
        let mut v = Validator::new();
        let first = patch
            .first_name
            .as_deref()
            .map(|f| v.check(required_text("first_name", f, 100)));
        let last = patch
            .last_name
            .as_deref()
            .map(|l| v.check(required_text("last_name", l, 100)));
        let extension = patch
            .extension
            .as_deref()
            .map(|e| v.check(optional_text("extension", Some(e), 20)));
        let language = patch.language.as_deref().map(|l| v.check(Language::parse(l)));
        v.finish()?;
        Ok(ValidPatch {
            first: first.flatten(),
            last: last.flatten(),
            extension: extension.flatten(),
            language: language.flatten(),
        })
    }
}

/// Names and language belong to the person: changed only for an account this
/// organization alone manages.
async fn update_person(
    op: &mut Op<'_>,
    org: OrgId,
    user_id: UserId,
    valid: &ValidPatch,
    changes: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    if !manages_exclusively(op.conn, org, user_id).await? {
        return Err(not_managed());
    }
    let (old_first, old_last, old_lang): (String, String, String) = users::table
        .find(user_id)
        .select((users::first_name, users::last_name, users::language))
        .for_update()
        .first(op.conn)
        .await?;
    let new_first = valid.first.clone().unwrap_or(old_first.clone());
    let new_last = valid.last.clone().unwrap_or(old_last.clone());
    let new_lang = valid
        .language
        .map(|l| l.as_str().to_owned())
        .unwrap_or(old_lang.clone());
    if (&new_first, &new_last, &new_lang) == (&old_first, &old_last, &old_lang) {
        return Ok(());
    }
    changes.insert(
        "name".into(),
        json!({ "old": [old_first, old_last], "new": [new_first, new_last] }),
    );
    changes.insert("language".into(), json!({ "old": old_lang, "new": new_lang }));
    diesel::update(users::table.find(user_id))
        .set((
            users::first_name.eq(&new_first),
            users::last_name.eq(&new_last),
            users::language.eq(&new_lang),
            users::updated_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
    Ok(())
}

/// Extension, company administrator flag and active flag belong to the membership.
async fn update_membership(
    op: &mut Op<'_>,
    before: &UserOverview,
    org: Uuid,
    valid: &ValidPatch,
    patch: &UserPatch,
    changes: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let extension = valid.extension.clone().unwrap_or(before.extension.clone());
    if extension != before.extension {
        changes.insert("extension".into(), json!({ "old": before.extension, "new": extension }));
    }
    let role = match (before.role, patch.company_admin) {
        (role, None) => role,
        (Role::Administrator, Some(_)) => {
            return Err(Error::conflict(
                "is_administrator",
                Some("company_admin"),
                "This user administers the organization; change the role under members",
            ));
        }
        (_, Some(true)) => Role::CompanyAdmin,
        (_, Some(false)) => Role::Member,
    };
    if role != before.role {
        changes.insert(
            "role".into(),
            json!({ "old": before.role.as_str(), "new": role.as_str() }),
        );
    }
    let active = patch.active.unwrap_or(before.active);
    if active != before.active {
        if !active
            && before.role == Role::Administrator
            && memberships::other_active_administrators(op.conn, org.into(), before.user_id.into()).await? == 0
        {
            return Err(memberships::last_administrator("active"));
        }
        changes.insert("active".into(), json!({ "old": before.active, "new": active }));
    }
    if changes.contains_key("extension") || changes.contains_key("role") || changes.contains_key("active") {
        let membership = ms::table
            .filter(ms::organization_id.eq(org))
            .filter(ms::user_id.eq(before.user_id));
        diesel::update(membership)
            .set((
                ms::extension.eq(&extension),
                ms::role.eq(role.as_str()),
                ms::active.eq(active),
                ms::updated_at.eq(op.now),
            ))
            .execute(op.conn)
            .await?;
    }
    Ok(())
}

/// What the installed software reports, for the organization its token acts for: the
/// user is online and runs this version.
pub async fn heartbeat(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, version: Option<&str>) -> Result<()> {
    let org = actor.acting_org.ok_or_else(Error::no_organization)?;
    let version = optional_text("software_version", version, 50)?;
    op::run_as(
        conn,
        ctx,
        Who::user(actor.user_id.into(), Some(org.into())),
        async |op| {
            let (membership_id, previous): (Uuid, Option<String>) = ms::table
                .filter(ms::organization_id.eq(org))
                .filter(ms::user_id.eq(actor.user_id))
                .filter(ms::accepted_at.is_not_null())
                .select((ms::id, ms::software_version))
                .for_update()
                .first(op.conn)
                .await
                .optional()?
                .ok_or_else(Error::forbidden)?;
            let version = version.clone().or(previous.clone());
            diesel::update(ms::table.find(membership_id))
                .set((ms::last_seen_at.eq(op.now), ms::software_version.eq(&version)))
                .execute(op.conn)
                .await?;
            // Presence is not a change worth a log line each minute; a new version is.
            if version != previous {
                op.audit(
                    Action::UserSoftwareVersionReported,
                    actor.user_id,
                    json!({ "old": previous, "new": version }),
                )
                .await?;
            }
            Ok(())
        },
    )
    .await
}

// ---------------------------------------------------------------------------------
// CSV import

/// The outcome of an import that went ahead.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub rows: usize,
    pub imported: usize,
    /// Invalid rows left out (only with `valid_only`).
    pub skipped: Vec<RowError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line in the file (the header is line 1).
    pub line: usize,
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl RowError {
    fn new(line: usize, field: &str, code: &'static str, message: impl Into<String>) -> Self {
        RowError {
            line,
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }

    fn into_field_error(self) -> FieldError {
        FieldError::new(
            format!("rows[{}].{}", self.line, self.field),
            self.code,
            format!("Line {}: {}", self.line, self.message),
        )
    }
}

#[derive(Debug, Clone)]
struct Row {
    line: usize,
    email: Email,
    first_name: String,
    last_name: String,
    extension: Option<String>,
    company_admin: bool,
}

fn parse_flag(raw: &str) -> Option<bool> {
    match raw.trim().to_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" | "nee" | "nein" => Some(false),
        "1" | "true" | "yes" | "y" | "ja" | "j" | "x" => Some(true),
        _ => None,
    }
}

const COLUMNS: &[&str] = &["email", "first_name", "last_name", "extension", "company_admin"];
const REQUIRED: &[&str] = &["email", "first_name", "last_name"];

/// Parses the file: UTF-8 with or without BOM, comma or semicolon separated, a header
/// naming the columns. Returns the rows that parse and the problems of the others.
fn parse_csv(bytes: &[u8]) -> Result<(Vec<Row>, Vec<RowError>, usize)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::field("file", "invalid_encoding", "The file must be UTF-8 text"))?;
    let (mut reader, index) = read_header(text)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for record in reader.records() {
        let record = match record {
            Ok(r) if r.iter().all(|f| f.trim().is_empty()) => continue,
            Ok(r) => Ok(r),
            Err(e) => Err(e),
        };
        total += 1;
        if total > MAX_IMPORT_ROWS {
            return Err(Error::field(
                "file",
                "too_many_rows",
                format!("At most {MAX_IMPORT_ROWS} users per import"),
            ));
        }
        match record {
            Ok(record) => match parse_row(&record, &index, &mut seen) {
                Ok(row) => rows.push(row),
                Err(row_errors) => errors.extend(row_errors),
            },
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                errors.push(RowError::new(
                    line,
                    "row",
                    "invalid_csv",
                    format!("cannot be read: {e}"),
                ));
            }
        }
    }
    if total == 0 {
        return Err(Error::field(
            "file",
            "empty_file",
            "The file has no rows below the header",
        ));
    }
    Ok((rows, errors, total))
}

/// Reads the header line: the delimiter it uses, and where each known column is.
/// Where each known column is in the file.
type ColumnIndex = HashMap<&'static str, usize>;

fn read_header(text: &str) -> Result<(csv::Reader<&[u8]>, ColumnIndex)> {
    let header_line = text.lines().next().unwrap_or_default();
    if header_line.trim().is_empty() {
        return Err(Error::field(
            "file",
            "empty_file",
            "The file is empty; the first line names the columns",
        ));
    }
    let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::field("file", "invalid_csv", format!("The header line cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase().replace([' ', '-'], "_"))
        .collect();
    let missing: Vec<FieldError> = REQUIRED
        .iter()
        .filter(|c| !headers.iter().any(|h| h == *c))
        .map(|c| {
            FieldError::new(
                format!("rows[1].{c}"),
                "missing_column",
                format!("Line 1: the column {c} is missing"),
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(Error::Validation(missing));
    }
    let index = COLUMNS
        .iter()
        .filter_map(|c| headers.iter().position(|h| h == c).map(|i| (*c, i)))
        .collect();
    Ok((reader, index))
}

/// One row, or every problem it has; `seen` remembers the addresses of earlier rows.
fn parse_row(
    record: &csv::StringRecord,
    index: &ColumnIndex,
    seen: &mut HashMap<String, usize>,
) -> std::result::Result<Row, Vec<RowError>> {
    let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
    let get = |col: &str| {
        index
            .get(col)
            .and_then(|i| record.get(*i))
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let at = |field: &'static str| move |e: FieldError| RowError::new(line, field, e.code, e.message);
    let email = Email::parse(&get("email")).map_err(at("email"));
    let first = required_text("first_name", &get("first_name"), 100).map_err(at("first_name"));
    let last = required_text("last_name", &get("last_name"), 100).map_err(at("last_name"));
    let extension = optional_text("extension", Some(&get("extension")), 20).map_err(at("extension"));
    let flag = parse_flag(&get("company_admin")).ok_or_else(|| {
        RowError::new(
            line,
            "company_admin",
            "invalid_boolean",
            "use true/false, yes/no or 1/0",
        )
    });
    let mut row_errors = Vec::new();
    if let Ok(email) = &email {
        if let Some(first_line) = seen.get(email.as_str()) {
            row_errors.push(RowError::new(
                line,
                "email",
                "duplicate_in_file",
                format!("the same e-mail address as line {first_line}"),
            ));
        } else {
            seen.insert(email.as_str().to_owned(), line);
        }
    }
    match (email, first, last, extension, flag) {
        (Ok(email), Ok(first_name), Ok(last_name), Ok(extension), Ok(company_admin)) if row_errors.is_empty() => {
            Ok(Row {
                line,
                email,
                first_name,
                last_name,
                extension,
                company_admin,
            })
        }
        (email, first, last, extension, flag) => {
            row_errors.extend(
                [email.err(), first.err(), last.err(), extension.err(), flag.err()]
                    .into_iter()
                    .flatten(),
            );
            row_errors.sort_by_key(|e| COLUMNS.iter().position(|c| *c == e.field).unwrap_or(0));
            Err(row_errors)
        }
    }
}

/// Leaves out rows the organization cannot take: people who are users already, company
/// administrators the caller may not make, addresses that had too many e-mails.
async fn screen<'r>(
    op: &mut Op<'_>,
    org: Uuid,
    rows: &'r [Row],
    may_assign: bool,
    errors: &mut Vec<RowError>,
) -> Result<Vec<&'r Row>> {
    let emails: Vec<String> = rows.iter().map(|r| r.email.as_str().to_owned()).collect();
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = Text)]
        email: String,
    }
    let members: HashSet<String> = sql_query(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $2 AND u.email = ANY($1)",
    )
    .bind::<Array<Text>, _>(&emails)
    .bind::<SqlUuid, _>(org)
    .load::<Known>(op.conn)
    .await?
    .into_iter()
    .map(|k| k.email)
    .collect();
    let over_limit = mail::addresses_over_limit(op.conn, op.ctx, &emails).await?;
    let mut accepted = Vec::new();
    for row in rows {
        let refused = if members.contains(row.email.as_str()) {
            Some(("email", "already_a_user", "already a user of this company"))
        } else if row.company_admin && !may_assign {
            Some(("company_admin", "not_allowed", "you cannot make company administrators"))
        } else if over_limit.contains(row.email.as_str()) {
            Some((
                "email",
                "too_many_emails",
                "too many e-mails went to this address in the last hour",
            ))
        } else {
            None
        };
        match refused {
            Some((field, code, message)) => errors.push(RowError::new(row.line, field, code, message)),
            None => accepted.push(row),
        }
    }
    Ok(accepted)
}

/// Imports users from CSV (columns email, first_name, last_name, extension,
/// company_admin). Nothing is imported when any row is invalid, unless `valid_only`:
/// then the valid rows are imported and the others reported. Everyone is added as a
/// pending member with an invitation e-mail, in the same transaction.
pub async fn import(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    file: &[u8],
    valid_only: bool,
) -> Result<ImportReport> {
    let org = org.uuid();
    op::run(conn, ctx, actor, org, Permission::ImportUsers, async |op| {
        let (rows, mut errors, total) = parse_csv(file)?;
        let may_assign = members::require_role_assignment(op, actor, org).await.is_ok();
        let accepted = screen(op, org, &rows, may_assign, &mut errors).await?;
        errors.sort_by_key(|e| e.line);
        if !errors.is_empty() && !valid_only {
            return Err(Error::Validation(
                errors.clone().into_iter().map(RowError::into_field_error).collect(),
            ));
        }
        let language = org_language(op.conn, org).await?;
        let people: Vec<NewMember> = accepted
            .iter()
            .map(|row| NewMember {
                email: row.email.clone(),
                first_name: row.first_name.clone(),
                last_name: row.last_name.clone(),
                language,
                role: if row.company_admin {
                    Role::CompanyAdmin
                } else {
                    Role::Member
                },
                permissions: Vec::new(),
                extension: row.extension.clone(),
            })
            .collect();
        memberships::add_people(op, org.into(), actor.user_id.into(), &people).await?;
        op.audit(
            Action::UsersImported,
            org,
            json!({
                "rows": total,
                "imported": accepted.len(),
                "skipped_lines": errors.iter().map(|e| e.line).collect::<std::collections::BTreeSet<_>>(),
                "emails": accepted.iter().map(|r| r.email.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        Ok(ImportReport {
            rows: total,
            imported: accepted.len(),
            skipped: errors.clone(),
        })
    })
    .await
}

// ---------------------------------------------------------------------------------
// Profiles (the installed software's settings per user and organization) and cloning

/// A user's profile document in this organization.
pub async fn profile(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    org: OrgId,
    user_id: UserId,
) -> Result<serde_json::Value> {
    let (org, user_id) = (org.uuid(), user_id.uuid());
    op::read(conn, actor, org, Permission::ViewUsers, async |conn, access| {
        member_profile(conn, access.org().into(), user_id.into(), false).await
    })
    .await
}

async fn member_profile(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user_id: UserId,
    lock: bool,
) -> Result<serde_json::Value> {
    let query = ms::table
        .filter(ms::organization_id.eq(org))
        .filter(ms::user_id.eq(user_id))
        .select(ms::profile);
    let found: Option<serde_json::Value> = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    found.ok_or(Error::not_found("user"))
}

/// Replaces a user's profile document (a JSON object of at most 64 KiB).
pub async fn set_profile(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    user_id: UserId,
    profile: serde_json::Value,
) -> Result<serde_json::Value> {
    let (org, user_id) = (org.uuid(), user_id.uuid());
    op::run(conn, ctx, actor, org, Permission::EditUsers, async |op| {
        let size = json_object("profile", &profile, MAX_PROFILE_BYTES)?;
        let old = member_profile(op.conn, org.into(), user_id.into(), true).await?;
        diesel::update(
            ms::table
                .filter(ms::organization_id.eq(org))
                .filter(ms::user_id.eq(user_id)),
        )
        .set((ms::profile.eq(&profile), ms::updated_at.eq(op.now)))
        .execute(op.conn)
        .await?;
        op.audit(
            Action::UserProfileSet,
            user_id,
            json!({ "bytes": { "old": old.to_string().len(), "new": size } }),
        )
        .await?;
        Ok(profile.clone())
    })
    .await
}

/// Copies one user's profile to the selected users of the same organization, in one
/// transaction ("clone profiles"): an exact copy, user-specific settings included.
pub async fn clone_profile(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    source: UserId,
    targets: &[UserId],
) -> Result<usize> {
    let (org, source) = (org.uuid(), source.uuid());
    let targets: Vec<Uuid> = targets.iter().map(|t| t.uuid()).collect();
    let targets = &targets[..];
    op::run(conn, ctx, actor, org, Permission::EditUsers, async |op| {
        if targets.is_empty() {
            return Err(Error::field(
                "user_ids",
                "no_users",
                "Select the users to copy the profile to",
            ));
        }
        let profile = member_profile(op.conn, org.into(), source.into(), false).await?;
        let members: Vec<Uuid> = ms::table
            .filter(ms::organization_id.eq(org))
            .filter(ms::user_id.eq_any(targets))
            .select(ms::user_id)
            .for_update()
            .load(op.conn)
            .await?;
        let errors: Vec<FieldError> = targets
            .iter()
            .enumerate()
            .filter(|(_, t)| !members.contains(t) || **t == source)
            .map(|(i, t)| {
                if *t == source {
                    FieldError::new(
                        format!("user_ids[{i}]"),
                        "is_source",
                        "The profile is copied from this user",
                    )
                } else {
                    FieldError::new(
                        format!("user_ids[{i}]"),
                        "not_a_member",
                        format!("{t} is not a user of this organization"),
                    )
                }
            })
            .collect();
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let n = diesel::update(
            ms::table
                .filter(ms::organization_id.eq(org))
                .filter(ms::user_id.eq_any(targets)),
        )
        .set((ms::profile.eq(&profile), ms::updated_at.eq(op.now)))
        .execute(op.conn)
        .await?;
        op.audit(Action::UserProfileCloned, source, json!({ "to": targets }))
            .await?;
        Ok(n)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_and_a_bom_are_understood() {
        let file = "\u{feff}E-mail;First name;Last name;Extension;Company admin\nann@example.com;Ann;Smit;201;ja\n";
        // "E-mail" does not name the email column.
        assert!(parse_csv(file.as_bytes()).is_err());
        let file = "\u{feff}email;first_name;last_name;extension;company_admin\nann@example.com;Ann;Smit;201;ja\n\n";
        let (rows, errors, total) = parse_csv(file.as_bytes()).unwrap();
        assert!(errors.is_empty());
        assert_eq!(total, 1);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].extension.as_deref(), Some("201"));
        assert!(rows[0].company_admin);
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported_with_its_line() {
        let file =
            "email,first_name,last_name,company_admin\nbad,,Smit,maybe\nok@example.com,A,B,\nOK@example.com,C,D,no\n";
        let (rows, errors, total) = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(total, 3);
        assert_eq!(rows.len(), 1);
        let got: Vec<(usize, &str, &str)> = errors.iter().map(|e| (e.line, e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                (2, "email", "invalid_email"),
                (2, "first_name", "required"),
                (2, "company_admin", "invalid_boolean"),
                (4, "email", "duplicate_in_file")
            ]
        );
    }

    #[test]
    fn missing_columns_are_named() {
        let Err(Error::Validation(errors)) = parse_csv(b"email;name\nann@example.com;Ann\n") else {
            panic!("refused")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["rows[1].first_name", "rows[1].last_name"]);
    }
}
