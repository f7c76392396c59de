//! API bearer tokens: created by a person for one of their organizations, listed,
//! revoked, and resolved into a principal.

use crate::platform::db::sql_query;
use chrono::{DateTime, Duration, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable, SelectableHelper,
    sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::accounts::{Credential, Principal, STANDING_COLUMNS, StandingRow, not_while_logged_in_as, standing_joins};
use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, Result,
    platform::audit::Who,
    platform::authz::Actor,
    platform::error::{Validator, validated},
    platform::tokens,
    schema::api_tokens,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub token_prefix: String,
    pub organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub(crate) const TOKEN_PREFIX: &str = "pd_";

/// Creates a bearer token for the caller, acting for the organization the caller acts
/// as now; the raw token is returned once.
pub async fn create_api_token(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    expires_in_days: Option<u32>,
) -> Result<(ApiToken, String)> {
    if actor.impersonator.is_some() {
        return Err(not_while_logged_in_as());
    }
    let mut v = Validator::new();
    let name = v.check(crate::platform::domain::required_text("name", name, 100));
    if let Some(days) = expires_in_days
        && !(1..=3650).contains(&days)
    {
        v.push(crate::FieldError::new(
            "expires_in_days",
            "out_of_range",
            "Between 1 and 3650 days",
        ));
    }
    v.finish()?;
    let name = validated(name);
    let raw = format!("{TOKEN_PREFIX}{}", tokens::random_token());
    op::run_as(
        conn,
        ctx,
        Who::user(actor.user_id.into(), actor.acting_org.map(Into::into)),
        async |op| {
            let expires_at = expires_in_days.map(|d| op.now + Duration::days(i64::from(d)));
            let token = diesel::insert_into(api_tokens::table)
                .values((
                    api_tokens::id.eq(Uuid::now_v7()),
                    api_tokens::user_id.eq(actor.user_id),
                    api_tokens::organization_id.eq(actor.acting_org),
                    api_tokens::name.eq(&name),
                    api_tokens::token_hash.eq(tokens::hash(&raw)),
                    api_tokens::token_prefix.eq(&raw[..TOKEN_PREFIX.len() + 6]),
                    api_tokens::created_at.eq(op.now),
                    api_tokens::expires_at.eq(expires_at),
                ))
                .returning(ApiToken::as_returning())
                .get_result(op.conn)
                .await?;
            op.audit(
                Action::ApiTokenCreated,
                token.id,
                json!({ "name": name, "organization_id": actor.acting_org }),
            )
            .await?;
            Ok((token, raw.clone()))
        },
    )
    .await
}

pub async fn list_api_tokens(conn: &mut AsyncPgConnection, principal: &Principal) -> Result<Vec<ApiToken>> {
    principal.personal()?;
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(principal.user_id))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)
        .await?)
}

/// Revokes one of the caller's tokens. Someone else's token is "not found".
pub async fn revoke_api_token(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    principal: &Principal,
    token_id: Uuid,
) -> Result<ApiToken> {
    principal.personal()?;
    op::run_as(conn, ctx, Who::user(principal.user_id.into(), None), async |op| {
        let token: ApiToken = api_tokens::table
            .filter(api_tokens::id.eq(token_id))
            .filter(api_tokens::user_id.eq(principal.user_id))
            .select(ApiToken::as_select())
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or(Error::not_found("api token"))?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let token = diesel::update(api_tokens::table.find(token_id))
            .set(api_tokens::revoked_at.eq(op.now))
            .returning(ApiToken::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit_as(
            Who::user(principal.user_id.into(), token.organization_id.map(Into::into)),
            Action::ApiTokenRevoked,
            token_id,
            json!({}),
        )
        .await?;
        Ok(token)
    })
    .await
}

#[derive(QueryableByName)]
pub(crate) struct TokenRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    user_active: bool,
    #[diesel(embed)]
    standing: StandingRow,
}

/// Resolves a bearer token, with the person's standing in the token's organization.
pub async fn resolve_bearer(conn: &mut AsyncPgConnection, ctx: &Ctx, raw: &str) -> Result<Principal> {
    let now = ctx.now();
    let row: Option<TokenRow> = sql_query(format!(
        "SELECT t.id, t.user_id, t.organization_id, t.revoked_at, t.expires_at, t.last_used_at, \
                u.active AS user_active, {STANDING_COLUMNS} \
         FROM api_tokens t JOIN users u ON u.id = t.user_id {} \
         WHERE t.token_hash = $1",
        standing_joins("t.user_id", "t.organization_id")
    ))
    .bind::<Text, _>(tokens::hash(raw.trim()))
    .get_result(conn)
    .await
    .optional()?;
    let Some(token) = row else {
        return Err(Error::unauthenticated("invalid_token", "The API token is not valid"));
    };
    if token.revoked_at.is_some() {
        return Err(Error::unauthenticated(
            "token_revoked",
            "The API token has been revoked",
        ));
    }
    if token.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::unauthenticated("token_expired", "The API token has expired"));
    }
    if !token.user_active {
        return Err(Error::unauthenticated("account_disabled", "The account is disabled"));
    }
    if token.last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Principal {
        user_id: token.user_id,
        credential: Credential::Token {
            id: token.id,
            organization_id: token.organization_id,
        },
        delegation: None,
        standing: token.standing.standing(),
        standing_for: token.organization_id,
    })
}
