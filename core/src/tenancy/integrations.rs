//! Connectors and integrations (phone connector, CRM, ERP) a company manages.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{Access, Actor, Permission},
    platform::domain::required_text,
    platform::error::{Validator, validated},
    platform::ids::OrgId,
    platform::op,
    platform::values::IntegrationKind,
    schema::integrations,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = integrations)]
pub struct Integration {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub kind: IntegrationKind,
    pub name: String,
    pub settings: Value,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct IntegrationInput {
    pub kind: Option<IntegrationKind>,
    pub name: Option<String>,
    pub settings: Option<Value>,
    pub active: Option<bool>,
}

/// The largest settings document, serialized.
pub const MAX_SETTINGS_BYTES: usize = 64 * 1024;

fn check_settings(v: &mut Validator, settings: &Option<Value>) {
    if let Some(s) = settings {
        v.check(crate::platform::domain::json_object("settings", s, MAX_SETTINGS_BYTES));
    }
}

pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor, org: Uuid) -> Result<Vec<Integration>> {
    op::read(conn, actor, org, Permission::ManageIntegrations, rows).await
}

async fn rows(conn: &mut AsyncPgConnection, access: &Access) -> Result<Vec<Integration>> {
    Ok(integrations::table
        .filter(integrations::organization_id.eq(access.org()))
        .order(integrations::created_at.asc())
        .select(Integration::as_select())
        .load(conn)
        .await?)
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: Uuid,
    input: IntegrationInput,
) -> Result<Integration> {
    op::run(conn, ctx, actor, org, Permission::ManageIntegrations, async |op| {
        let mut v = Validator::new();
        let kind = input.kind;
        if kind.is_none() {
            v.push(FieldError::new(
                "kind",
                "required",
                format!("Kind must be one of {}", IntegrationKind::listed()),
            ));
        }
        let name = v.check(required_text("name", input.name.as_deref().unwrap_or(""), 100));
        check_settings(&mut v, &input.settings);
        v.finish()?;
        let name = validated(name);
        let now = op.now;
        let row = diesel::insert_into(integrations::table)
            .values((
                integrations::id.eq(Uuid::now_v7()),
                integrations::organization_id.eq(org),
                integrations::kind.eq(validated(kind)),
                integrations::name.eq(&name),
                integrations::settings.eq(input.settings.clone().unwrap_or_else(|| json!({}))),
                integrations::active.eq(input.active.unwrap_or(true)),
                integrations::created_at.eq(now),
                integrations::updated_at.eq(now),
            ))
            .returning(Integration::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::IntegrationCreated,
            row.id,
            json!({ "kind": row.kind, "name": row.name }),
        )
        .await?;
        Ok(row)
    })
    .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org: OrgId,
    id: Uuid,
    input: IntegrationInput,
) -> Result<Integration> {
    let org = org.uuid();
    op::run(conn, ctx, actor, org, Permission::ManageIntegrations, async |op| {
        let mut v = Validator::new();
        let name = input.name.as_deref().map(|n| v.check(required_text("name", n, 100)));
        check_settings(&mut v, &input.settings);
        v.finish()?;
        let old: Integration = integrations::table
            .filter(integrations::id.eq(id))
            .filter(integrations::organization_id.eq(org))
            .select(Integration::as_select())
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("integration"))?;
        let row = diesel::update(integrations::table.find(id))
            .set((
                integrations::kind.eq(input.kind.unwrap_or(old.kind)),
                integrations::name.eq(name.clone().flatten().unwrap_or(old.name.clone())),
                integrations::settings.eq(input.settings.clone().unwrap_or(old.settings.clone())),
                integrations::active.eq(input.active.unwrap_or(old.active)),
                integrations::updated_at.eq(op.now),
            ))
            .returning(Integration::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::IntegrationUpdated,
            id,
            json!({ "old": { "kind": old.kind, "name": old.name, "active": old.active }, "new": { "kind": row.kind, "name": row.name, "active": row.active } }),
        )
        .await?;
        Ok(row)
    })
    .await
}

pub async fn delete(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, org: OrgId, id: Uuid) -> Result<()> {
    let org = org.uuid();
    op::run(conn, ctx, actor, org, Permission::ManageIntegrations, async |op| {
        let n = diesel::delete(
            integrations::table
                .filter(integrations::id.eq(id))
                .filter(integrations::organization_id.eq(org)),
        )
        .execute(op.conn)
        .await?;
        if n == 0 {
            return Err(Error::not_found("integration"));
        }
        op.audit(Action::IntegrationDeleted, id, json!({})).await
    })
    .await
}
