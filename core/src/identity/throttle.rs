//! Log-in throttling, per account and per client address, kept in PostgreSQL so that
//! every web process agrees.
//!
//! Each key counts failed log-ins within a window (`LOGIN_WINDOW_MINUTES`). Past the
//! free attempts (`LOGIN_FAILURES_PER_ACCOUNT`, `LOGIN_FAILURES_PER_ADDRESS`) every
//! further failure blocks the key for twice as long as the previous one (2 s, 4 s, 8 s,
//! ... up to `LOGIN_MAX_DELAY_SECONDS`); a blocked key is answered 429 with
//! Retry-After without looking at the password. A successful log-in clears the
//! account's count; the address's count runs out with its window.

use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{Ctx, Error, Result, platform::domain::Email, schema::login_throttle as t};

/// The keys one log-in attempt counts against, with their free attempts.
#[derive(Debug, Clone)]
pub struct Keys {
    keys: Vec<(String, u32)>,
}

impl Keys {
    pub fn new(ctx: &Ctx, account: Option<&Email>, client_address: Option<&str>) -> Self {
        let limits = &ctx.config.limits;
        let mut keys = Vec::new();
        if let Some(email) = account {
            keys.push((format!("account:{}", email.as_str()), limits.login_failures_per_account));
        }
        if let Some(addr) = client_address.filter(|a| !a.is_empty()) {
            keys.push((format!("address:{addr}"), limits.login_failures_per_address));
        }
        Keys { keys }
    }

    fn names(&self) -> Vec<String> {
        self.keys.iter().map(|(k, _)| k.clone()).collect()
    }

    fn account(&self) -> Option<&str> {
        self.keys
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| k.starts_with("account:"))
    }
}

fn seconds_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let ms = (until - now).num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}

fn throttled(retry_after: u64) -> Error {
    Error::too_many(
        "too_many_attempts",
        format!("Too many failed log-ins. Try again in {retry_after} seconds."),
        retry_after,
    )
}

/// Refuses the attempt when any of its keys is blocked.
pub async fn check(conn: &mut AsyncPgConnection, ctx: &Ctx, keys: &Keys) -> Result<()> {
    let now = ctx.now();
    let until: Option<DateTime<Utc>> = t::table
        .filter(t::key.eq_any(keys.names()))
        .filter(t::blocked_until.gt(now))
        .select(diesel::dsl::max(t::blocked_until))
        .first::<Option<DateTime<Utc>>>(conn)
        .await?;
    match until {
        Some(until) => Err(throttled(seconds_until(now, until))),
        None => Ok(()),
    }
}

/// Counts a failed attempt against every key.
pub async fn record_failure(conn: &mut AsyncPgConnection, ctx: &Ctx, keys: &Keys) -> Result<()> {
    let now = ctx.now();
    let window = Duration::from_std(ctx.config.limits.login_window).unwrap_or(Duration::minutes(15));
    let max_delay = ctx.config.limits.login_max_delay.as_secs().max(1);
    conn.transaction(async |conn| {
        for (key, free) in &keys.keys {
            diesel::insert_into(t::table)
                .values((t::key.eq(key), t::failures.eq(0), t::window_started_at.eq(now)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            let (failures, started): (i32, DateTime<Utc>) = t::table
                .find(key)
                .select((t::failures, t::window_started_at))
                .for_update()
                .first(conn)
                .await?;
            let (failures, started) = if started <= now - window {
                (1, now)
            } else {
                (failures + 1, started)
            };
            let over = failures - *free as i32;
            let blocked_until = (over > 0).then(|| {
                let delay = 2u64.saturating_pow(over.min(30) as u32).min(max_delay);
                now + Duration::seconds(delay as i64)
            });
            diesel::update(t::table.find(key))
                .set((
                    t::failures.eq(failures),
                    t::window_started_at.eq(started),
                    t::blocked_until.eq(blocked_until),
                ))
                .execute(conn)
                .await?;
        }
        Ok::<_, Error>(())
    })
    .await
}

/// A successful log-in clears the account's count.
pub async fn record_success(conn: &mut AsyncPgConnection, keys: &Keys) -> Result<()> {
    if let Some(account) = keys.account() {
        diesel::delete(t::table.find(account)).execute(conn).await?;
    }
    Ok(())
}
