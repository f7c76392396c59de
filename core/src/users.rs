//! Users of a customer: add one, import many from CSV, the user overview, edits, and the
//! heartbeat the installed software sends.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName, sql_query,
    sql_types::{Array, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Ctx, Error, FieldError, Result, accounts,
    audit::{self, Who},
    authz::{self, Access, Actor, Permission, Role, Via},
    domain::{Email, Language, optional_text, required_text},
    error::{Validator, validated},
    mail::{self, EmailKind, Outgoing},
    schema::{memberships, organizations as orgs, users},
    tokens,
};

/// The most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 10_000;

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
    pub role: String,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub software_version: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Bool)]
    pub has_password: bool,
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
        self.role == "company_admin"
    }

    pub fn activated_modules(&self) -> Vec<String> {
        self.modules
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

const OVERVIEW: &str = "
    SELECT u.id AS user_id, u.email, u.first_name, u.last_name, m.extension, m.role,
           (m.active AND u.active) AS active, u.last_seen_at, u.software_version, m.created_at,
           u.password_hash IS NOT NULL AS has_password,
           COALESCE((SELECT string_agg(md.code, ',' ORDER BY md.code)
                     FROM user_licences ul JOIN modules md ON md.id = ul.module_id
                     WHERE ul.user_id = u.id AND ul.organization_id = m.organization_id AND ul.active), '') AS modules
    FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.organization_id = $1";

async fn load(conn: &mut AsyncPgConnection, org: Uuid, user: Option<Uuid>) -> Result<Vec<UserOverview>> {
    Ok(sql_query(format!(
        "{OVERVIEW} AND ($2::uuid IS NULL OR u.id = $2) ORDER BY lower(u.last_name), lower(u.first_name), u.id"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<Nullable<SqlUuid>, _>(user)
    .load(conn)
    .await?)
}

/// The user overview: status, e-mail, names, modules, extension, last online, active,
/// created, software version.
pub async fn overview(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Vec<UserOverview>> {
    authz::authorize(conn, actor, org, Permission::ViewUsers).await?;
    load(conn, org, None).await
}

/// Making someone a company administrator (or changing whether a user is active) is for
/// the organization's administrator, its service provider or the vendor; a company
/// administrator creates plain users only.
async fn may_assign_roles(conn: &mut AsyncPgConnection, access: &Access) -> Result<bool> {
    if access.via != Via::Own {
        return Ok(true);
    }
    Ok(authz::grants_in(conn, access.user_id, access.acting_org)
        .await?
        .is_some_and(|g| g.holds(Permission::ManageMembers)))
}

fn not_allowed_company_admin() -> Error {
    Error::Forbidden {
        code: "not_authorized",
        message: "Only the organization's administrator or its partner can make company administrators".into(),
    }
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

/// Adds one user. A new person gets an e-mail with a link to set a password; someone
/// with an account elsewhere is added and told so.
pub async fn add(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    input: UserInput,
) -> Result<UserOverview> {
    let access = authz::authorize(conn, actor, org, Permission::CreateUsers).await?;
    if input.company_admin && !may_assign_roles(conn, &access).await? {
        return Err(not_allowed_company_admin());
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
    let role = if input.company_admin {
        Role::CompanyAdmin
    } else {
        Role::Member
    };
    let now = ctx.now();
    conn.transaction(async |conn| {
        let language = match language {
            Some(l) => l,
            None => org_language(conn, org).await?,
        };
        let (user_id, kind) = match accounts::find_user_by_email(conn, &email).await? {
            Some(user) => {
                crate::organizations::insert_membership(conn, now, org, user.id, role, &[], extension.as_deref()).await?;
                (user.id, EmailKind::MemberAdded { organization_id: org, user_id: user.id })
            }
            None => {
                let user = accounts::insert_user(conn, now, &email, None, &first, &last, language).await?;
                crate::organizations::insert_membership(conn, now, org, user.id, role, &[], extension.as_deref()).await?;
                let link = accounts::create_password_link(conn, ctx, user.id, "invitation").await?;
                (user.id, EmailKind::MemberInvitation { organization_id: org, password_link_id: link })
            }
        };
        audit::record(
            conn,
            now,
            &access,
            "user.created",
            "user",
            user_id,
            json!({ "email": email.as_str(), "first_name": first, "last_name": last, "extension": extension, "company_admin": input.company_admin }),
        )
        .await?;
        mail::queue(conn, now, &format!("user.added:{org}:{user_id}"), &email, language, kind).await?;
        load(conn, org, Some(user_id)).await?.pop().ok_or(Error::not_found("user"))
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

/// Edits a user: names, extension and language need "edit users"; the company
/// administrator flag and the active flag need the right to assign roles.
pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    user_id: Uuid,
    patch: UserPatch,
) -> Result<UserOverview> {
    let access = authz::authorize(conn, actor, org, Permission::EditUsers).await?;
    if (patch.company_admin.is_some() || patch.active.is_some()) && !may_assign_roles(conn, &access).await? {
        return Err(Error::Forbidden {
            code: "not_authorized",
            message: "Only the organization's administrator or its partner can change roles or deactivate users".into(),
        });
    }
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
    let now = ctx.now();
    conn.transaction(async |conn| {
        let before = load(conn, org, Some(user_id))
            .await?
            .pop()
            .ok_or(Error::not_found("user"))?;
        let mut changes = serde_json::Map::new();
        let mut user_changed = false;
        let first = first.flatten().unwrap_or(before.first_name.clone());
        let last = last.flatten().unwrap_or(before.last_name.clone());
        if first != before.first_name || last != before.last_name {
            changes.insert(
                "name".into(),
                json!({ "old": [before.first_name, before.last_name], "new": [first, last] }),
            );
            user_changed = true;
        }
        if let Some(Some(lang)) = language {
            changes.insert("language".into(), json!(lang.as_str()));
            diesel::update(users::table.find(user_id))
                .set(users::language.eq(lang.as_str()))
                .execute(conn)
                .await?;
        }
        if user_changed {
            diesel::update(users::table.find(user_id))
                .set((
                    users::first_name.eq(&first),
                    users::last_name.eq(&last),
                    users::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
        }
        let membership = memberships::table
            .filter(memberships::organization_id.eq(org))
            .filter(memberships::user_id.eq(user_id));
        if let Some(ext) = extension {
            let ext = ext.flatten();
            if ext != before.extension {
                changes.insert("extension".into(), json!({ "old": before.extension, "new": ext }));
                diesel::update(membership)
                    .set(memberships::extension.eq(&ext))
                    .execute(conn)
                    .await?;
            }
        }
        if let Some(flag) = patch.company_admin {
            let role = Role::from_db(&before.role);
            let new_role = match (role, flag) {
                (Role::Administrator, _) => {
                    return Err(Error::conflict(
                        "is_administrator",
                        Some("company_admin"),
                        "This user administers the organization; change the role under members",
                    ));
                }
                (_, true) => Role::CompanyAdmin,
                (_, false) => Role::Member,
            };
            if new_role != role {
                changes.insert("role".into(), json!({ "old": role.as_str(), "new": new_role.as_str() }));
                diesel::update(membership)
                    .set(memberships::role.eq(new_role.as_str()))
                    .execute(conn)
                    .await?;
            }
        }
        if let Some(active) = patch.active
            && active != before.active
        {
            if !active && before.role == "administrator" {
                let others: i64 = memberships::table
                    .filter(memberships::organization_id.eq(org))
                    .filter(memberships::user_id.ne(user_id))
                    .filter(memberships::role.eq("administrator"))
                    .filter(memberships::active.eq(true))
                    .count()
                    .get_result(conn)
                    .await?;
                if others == 0 {
                    return Err(Error::conflict(
                        "last_administrator",
                        Some("active"),
                        "An organization keeps at least one active administrator",
                    ));
                }
            }
            changes.insert("active".into(), json!({ "old": before.active, "new": active }));
            diesel::update(membership)
                .set((memberships::active.eq(active), memberships::updated_at.eq(now)))
                .execute(conn)
                .await?;
        }
        if !changes.is_empty() {
            audit::record(
                conn,
                now,
                &access,
                "user.updated",
                "user",
                user_id,
                serde_json::Value::Object(changes),
            )
            .await?;
        }
        load(conn, org, Some(user_id))
            .await?
            .pop()
            .ok_or(Error::not_found("user"))
    })
    .await
}

/// What the installed software reports: the user is online and runs this version.
pub async fn heartbeat(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: Uuid, version: Option<&str>) -> Result<()> {
    let version = optional_text("software_version", version, 50).map_err(|e| Error::Validation(vec![e]))?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        let previous: Option<String> = users::table
            .find(user_id)
            .select(users::software_version)
            .first(conn)
            .await?;
        let version = version.clone().or(previous.clone());
        diesel::update(users::table.find(user_id))
            .set((users::last_seen_at.eq(now), users::software_version.eq(&version)))
            .execute(conn)
            .await?;
        // Presence is not a change worth a log line each minute; a new version is.
        if version != previous {
            let org = accounts::default_organization(conn, user_id).await?;
            audit::record(
                conn,
                now,
                Who::user(user_id, org),
                "user.software_version_reported",
                "user",
                user_id,
                json!({ "old": previous, "new": version }),
            )
            .await?;
        }
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------
// CSV import

/// The outcome of an import that went ahead.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub rows: usize,
    pub imported: usize,
    /// Rows for people who already had an account elsewhere (added, not created).
    pub existing_accounts: usize,
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
    let index: HashMap<&str, usize> = COLUMNS
        .iter()
        .filter_map(|c| headers.iter().position(|h| h == c).map(|i| (*c, i)))
        .collect();

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                total += 1;
                errors.push(RowError::new(
                    line,
                    "row",
                    "invalid_csv",
                    format!("cannot be read: {e}"),
                ));
                continue;
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        total += 1;
        if total > MAX_IMPORT_ROWS {
            return Err(Error::field(
                "file",
                "too_many_rows",
                format!("At most {MAX_IMPORT_ROWS} users per import"),
            ));
        }
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |col: &str| {
            index
                .get(col)
                .and_then(|i| record.get(*i))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let mut row_errors = Vec::new();
        let email = Email::parse(&get("email")).map_err(|e| RowError::new(line, "email", e.code, e.message));
        let first = required_text("first_name", &get("first_name"), 100)
            .map_err(|e| RowError::new(line, "first_name", e.code, e.message));
        let last = required_text("last_name", &get("last_name"), 100)
            .map_err(|e| RowError::new(line, "last_name", e.code, e.message));
        let extension = optional_text("extension", Some(&get("extension")), 20)
            .map_err(|e| RowError::new(line, "extension", e.code, e.message));
        let flag = parse_flag(&get("company_admin")).ok_or_else(|| {
            RowError::new(
                line,
                "company_admin",
                "invalid_boolean",
                "use true/false, yes/no or 1/0",
            )
        });
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
                rows.push(Row {
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
                errors.extend(row_errors);
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

/// Imports users from CSV (columns email, first_name, last_name, extension,
/// company_admin). Nothing is imported when any row is invalid, unless `valid_only`:
/// then the valid rows are imported and the others reported. Invitation e-mails are
/// queued in the same transaction.
pub async fn import(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    file: &[u8],
    valid_only: bool,
) -> Result<ImportReport> {
    let access = authz::authorize(conn, actor, org, Permission::ImportUsers).await?;
    let (rows, mut errors, total) = parse_csv(file)?;
    let may_assign = may_assign_roles(conn, &access).await?;
    let now = ctx.now();
    conn.transaction(async |conn| {
        // Rows for people who are already users of this company.
        let emails: Vec<String> = rows.iter().map(|r| r.email.as_str().to_owned()).collect();
        #[derive(QueryableByName)]
        struct Known {
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
            #[diesel(sql_type = Text)]
            email: String,
            #[diesel(sql_type = Bool)]
            member: bool,
        }
        let known: Vec<Known> = sql_query(
            "SELECT u.id, u.email, EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.organization_id = $2) AS member
             FROM users u WHERE u.email = ANY($1)",
        )
        .bind::<Array<Text>, _>(&emails)
        .bind::<SqlUuid, _>(org)
        .load(conn)
        .await?;
        let known: HashMap<String, (Uuid, bool)> = known.into_iter().map(|k| (k.email, (k.id, k.member))).collect();
        let mut accepted = Vec::new();
        for row in &rows {
            if known.get(row.email.as_str()).is_some_and(|(_, member)| *member) {
                errors.push(RowError::new(row.line, "email", "already_a_user", "already a user of this company"));
            } else if row.company_admin && !may_assign {
                errors.push(RowError::new(row.line, "company_admin", "not_allowed", "you cannot make company administrators"));
            } else {
                accepted.push(row.clone());
            }
        }
        errors.sort_by_key(|e| e.line);
        if !errors.is_empty() && !valid_only {
            return Err(Error::Validation(errors.clone().into_iter().map(RowError::into_field_error).collect()));
        }

        let language = org_language(conn, org).await?;
        let mut new_ids = Vec::new();
        let mut new_emails = Vec::new();
        let mut new_first = Vec::new();
        let mut new_last = Vec::new();
        let mut member_users = Vec::new();
        let mut member_roles = Vec::new();
        let mut member_ext: Vec<Option<String>> = Vec::new();
        let mut outgoing = Vec::new();
        let mut link_ids = Vec::new();
        let mut link_users = Vec::new();
        let mut link_hashes = Vec::new();
        let mut existing = 0;
        for row in &accepted {
            let role = if row.company_admin { Role::CompanyAdmin } else { Role::Member };
            let user_id = match known.get(row.email.as_str()) {
                Some((id, _)) => {
                    existing += 1;
                    outgoing.push(Outgoing {
                        event_key: format!("user.added:{org}:{id}"),
                        recipient: row.email.clone(),
                        lang: language,
                        kind: EmailKind::MemberAdded { organization_id: org, user_id: *id },
                    });
                    *id
                }
                None => {
                    let id = Uuid::now_v7();
                    new_ids.push(id);
                    new_emails.push(row.email.as_str().to_owned());
                    new_first.push(row.first_name.clone());
                    new_last.push(row.last_name.clone());
                    let link_id = Uuid::now_v7();
                    link_ids.push(link_id);
                    link_users.push(id);
                    link_hashes.push(tokens::hash(&tokens::link_token(ctx.secret(), accounts::PASSWORD_LINK_PURPOSE, link_id, 1)));
                    outgoing.push(Outgoing {
                        event_key: format!("user.added:{org}:{id}"),
                        recipient: row.email.clone(),
                        lang: language,
                        kind: EmailKind::MemberInvitation { organization_id: org, password_link_id: link_id },
                    });
                    id
                }
            };
            member_users.push(user_id);
            member_roles.push(role.as_str().to_owned());
            member_ext.push(row.extension.clone());
        }
        sql_query(
            "INSERT INTO users (id, email, first_name, last_name, language, created_at, updated_at)
             SELECT id, email, first_name, last_name, $5, $6, $6 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
                 AS t(id, email, first_name, last_name)",
        )
        .bind::<Array<SqlUuid>, _>(&new_ids)
        .bind::<Array<Text>, _>(&new_emails)
        .bind::<Array<Text>, _>(&new_first)
        .bind::<Array<Text>, _>(&new_last)
        .bind::<Text, _>(language.as_str())
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        let membership_ids: Vec<Uuid> = member_users.iter().map(|_| Uuid::now_v7()).collect();
        sql_query(
            "INSERT INTO memberships (id, organization_id, user_id, role, extension, created_at, updated_at)
             SELECT id, $5, user_id, role, extension, $6, $6 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
                 AS t(id, user_id, role, extension)",
        )
        .bind::<Array<SqlUuid>, _>(&membership_ids)
        .bind::<Array<SqlUuid>, _>(&member_users)
        .bind::<Array<Text>, _>(&member_roles)
        .bind::<Array<Nullable<Text>>, _>(&member_ext)
        .bind::<SqlUuid, _>(org)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        let ttl = Duration::from_std(ctx.config.password_link_ttl).unwrap_or(Duration::hours(72));
        sql_query(
            "INSERT INTO password_links (id, user_id, token_hash, generation, purpose, expires_at, created_at)
             SELECT id, user_id, token_hash, 1, 'invitation', $4, $5 FROM unnest($1::uuid[], $2::uuid[], $3::text[])
                 AS t(id, user_id, token_hash)",
        )
        .bind::<Array<SqlUuid>, _>(&link_ids)
        .bind::<Array<SqlUuid>, _>(&link_users)
        .bind::<Array<Text>, _>(&link_hashes)
        .bind::<Timestamptz, _>(now + ttl)
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        mail::queue_many(conn, now, outgoing).await?;
        audit::record(
            conn,
            now,
            &access,
            "users.imported",
            "organization",
            org,
            json!({
                "rows": total,
                "imported": accepted.len(),
                "existing_accounts": existing,
                "skipped_lines": errors.iter().map(|e| e.line).collect::<std::collections::BTreeSet<_>>(),
                "emails": accepted.iter().map(|r| r.email.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        Ok(ImportReport { rows: total, imported: accepted.len(), existing_accounts: existing, skipped: errors.clone() })
    })
    .await
}

// ---------------------------------------------------------------------------------
// Profiles (the installed software's settings per user) and cloning them

/// A user's profile document.
pub async fn profile(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    org: Uuid,
    user_id: Uuid,
) -> Result<serde_json::Value> {
    authz::authorize(conn, actor, org, Permission::ViewUsers).await?;
    member_profile(conn, org, user_id).await
}

async fn member_profile(conn: &mut AsyncPgConnection, org: Uuid, user_id: Uuid) -> Result<serde_json::Value> {
    let found: Option<serde_json::Value> = users::table
        .inner_join(memberships::table)
        .filter(memberships::organization_id.eq(org))
        .filter(users::id.eq(user_id))
        .select(users::profile)
        .first(conn)
        .await
        .optional()?;
    found.ok_or(Error::not_found("user"))
}

/// Replaces a user's profile document (a JSON object).
pub async fn set_profile(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    user_id: Uuid,
    profile: serde_json::Value,
) -> Result<serde_json::Value> {
    let access = authz::authorize(conn, actor, org, Permission::EditUsers).await?;
    if !profile.is_object() {
        return Err(Error::field("profile", "invalid_profile", "A profile is a JSON object"));
    }
    let now = ctx.now();
    conn.transaction(async |conn| {
        member_profile(conn, org, user_id).await?;
        diesel::update(users::table.find(user_id))
            .set((users::profile.eq(&profile), users::updated_at.eq(now)))
            .execute(conn)
            .await?;
        audit::record(conn, now, &access, "user.profile_set", "user", user_id, json!({})).await?;
        Ok(profile.clone())
    })
    .await
}

/// Copies one user's profile to the selected users, in one transaction ("clone
/// profiles"): an exact copy, user-specific settings included.
pub async fn clone_profile(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    source: Uuid,
    targets: &[Uuid],
) -> Result<usize> {
    let access = authz::authorize(conn, actor, org, Permission::EditUsers).await?;
    if targets.is_empty() {
        return Err(Error::field(
            "user_ids",
            "no_users",
            "Select the users to copy the profile to",
        ));
    }
    let now = ctx.now();
    conn.transaction(async |conn| {
        let profile = member_profile(conn, org, source).await?;
        let members: Vec<Uuid> = memberships::table
            .filter(memberships::organization_id.eq(org))
            .filter(memberships::user_id.eq_any(targets))
            .select(memberships::user_id)
            .load(conn)
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
        let n = diesel::update(users::table.filter(users::id.eq_any(targets)))
            .set((users::profile.eq(&profile), users::updated_at.eq(now)))
            .execute(conn)
            .await?;
        audit::record(
            conn,
            now,
            &access,
            "user.profile_cloned",
            "user",
            source,
            json!({ "to": targets }),
        )
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
