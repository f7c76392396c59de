//! Log-in throttling, kept in PostgreSQL so that every web process agrees. As ASVS
//! recommends, one address guessing an account's password cannot lock its owner out:
//!
//! * per account **and** client address, strict (`LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS`,
//!   5): the guessing address is slowed, the owner elsewhere is not;
//! * per account from all addresses, soft (`LOGIN_FAILURES_PER_ACCOUNT`, 50): guessing
//!   spread over many addresses is slowed too;
//! * per client address (`LOGIN_FAILURES_PER_ADDRESS`, 20): one address guessing many
//!   accounts.
//!
//! Each key counts failed log-ins within a window (`LOGIN_WINDOW_MINUTES`). Past its
//! free attempts every further failure blocks the key for twice as long as the previous
//! one (2 s, 4 s, 8 s, ... up to `LOGIN_MAX_DELAY_SECONDS`); an attempt with a blocked
//! key is answered 429 with Retry-After without looking at the password. A successful
//! log-in clears the account's counts; the address's count runs out with its window.

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
        let address = client_address.filter(|a| !a.is_empty());
        if let Some(email) = account {
            let account = format!("account:{}", email.as_str());
            keys.push((
                format!("{account} address:{}", address.unwrap_or("")),
                limits.login_failures_per_account_and_address,
            ));
            keys.push((account, limits.login_failures_per_account));
        }
        if let Some(addr) = address {
            keys.push((format!("address:{addr}"), limits.login_failures_per_address));
        }
        Keys { keys }
    }

    fn names(&self) -> Vec<String> {
        self.keys.iter().map(|(k, _)| k.clone()).collect()
    }

    /// The account's keys (alone and with this address).
    fn account(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k.starts_with("account:"))
            .collect()
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

/// A successful log-in clears the account's counts.
pub async fn record_success(conn: &mut AsyncPgConnection, keys: &Keys) -> Result<()> {
    let account = keys.account();
    if !account.is_empty() {
        diesel::delete(t::table.filter(t::key.eq_any(account)))
            .execute(conn)
            .await?;
    }
    Ok(())
}
