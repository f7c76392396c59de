//! What a person changes about themselves: names, language, password.

use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::accounts::{Principal, User};
use super::passwords::{hash_password, verify_password};
use super::sessions::end_other_sessions;
use crate::platform::audit::Action;
use crate::platform::op;
use crate::{
    Ctx, Error, Result,
    platform::audit::Who,
    platform::db::Pool,
    platform::domain::{Language, Password, required_text},
    platform::error::Validator,
    schema::users,
};

/// The person's own names and language.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub language: Option<String>,
}

/// Changes the caller's own names or language.
pub async fn update_me(conn: &mut AsyncPgConnection, ctx: &Ctx, user_id: Uuid, input: ProfileInput) -> Result<User> {
    let mut v = Validator::new();
    let first = input
        .first_name
        .as_deref()
        .map(|f| v.check(required_text("first_name", f, 100)));
    let last = input
        .last_name
        .as_deref()
        .map(|l| v.check(required_text("last_name", l, 100)));
    let language = input.language.as_deref().map(|l| v.check(Language::parse(l)));
    v.finish()?;
    op::run_as(conn, ctx, Who::user(user_id.into(), None), async |op| {
        let old: User = users::table
            .find(user_id)
            .select(User::as_select())
            .for_update()
            .first(op.conn)
            .await?;
        let first = first.flatten().unwrap_or(old.first_name.clone());
        let last = last.flatten().unwrap_or(old.last_name.clone());
        let language = language
            .flatten()
            .map(|l| l.as_str().to_owned())
            .unwrap_or(old.language.clone());
        let user = diesel::update(users::table.find(user_id))
            .set((
                users::first_name.eq(&first),
                users::last_name.eq(&last),
                users::language.eq(&language),
                users::updated_at.eq(op.now),
            ))
            .returning(User::as_returning())
            .get_result(op.conn)
            .await?;
        op.audit(
            Action::UserProfileUpdated,
            user_id,
            json!({
                "old": { "first_name": old.first_name, "last_name": old.last_name, "language": old.language },
                "new": { "first_name": user.first_name, "last_name": user.last_name, "language": user.language },
            }),
        )
        .await?;
        Ok(user)
    })
    .await
}

/// Changes the caller's password after checking the current one; every other session
/// of the person ends.
pub async fn change_password(pool: &Pool, ctx: &Ctx, principal: &Principal, current: &str, new: &str) -> Result<usize> {
    principal.personal()?;
    let new = Password::parse(new)?;
    let stored: Option<String> = {
        let mut conn = pool.get().await?;
        users::table
            .find(principal.user_id)
            .select(users::password_hash)
            .first(&mut conn)
            .await?
    };
    if !verify_password(ctx, stored, current.to_owned()).await? {
        return Err(Error::field(
            "current_password",
            "wrong_password",
            "This is not your current password",
        ));
    }
    let hash = hash_password(ctx, &new).await?;
    let mut conn = pool.get().await?;
    op::run_as(&mut conn, ctx, Who::user(principal.user_id.into(), None), async |op| {
        diesel::update(users::table.find(principal.user_id))
            .set((users::password_hash.eq(Some(&hash)), users::updated_at.eq(op.now)))
            .execute(op.conn)
            .await?;
        let ended = end_other_sessions(op.conn, op.now, principal.user_id.into(), principal.session_id()).await?;
        op.audit(
            Action::UserPasswordChanged,
            principal.user_id,
            json!({ "sessions_ended": ended }),
        )
        .await?;
        Ok(ended)
    })
    .await
}
