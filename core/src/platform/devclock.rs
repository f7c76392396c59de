//! The development clock: in development mode time can be moved forward (to see trial
//! reminders, expiry, ...) with `just clock <duration>` or POST /api/dev/clock. The
//! offset lives in the database so the web service and the worker agree. Production
//! has no way to move time: its clock is the system clock and these functions refuse.

use crate::platform::db::sql_query;
use chrono::Duration;
use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{Ctx, Error, Result};

#[derive(QueryableByName)]
struct Offset {
    #[diesel(sql_type = BigInt)]
    offset_seconds: i64,
}

/// The stored offset.
pub async fn offset(conn: &mut AsyncPgConnection) -> Result<Duration> {
    let rows: Vec<Offset> = sql_query("SELECT offset_seconds FROM dev_clock").load(conn).await?;
    Ok(Duration::seconds(
        rows.into_iter().next().map(|o| o.offset_seconds).unwrap_or(0),
    ))
}

/// Brings this process's clock in line with the stored offset (development only).
pub async fn sync(conn: &mut AsyncPgConnection, ctx: &Ctx) -> Result<()> {
    if ctx.config.is_development() && ctx.clock.is_movable() {
        ctx.clock.sync_offset(offset(conn).await?);
    }
    Ok(())
}

/// Moves the development clock forward by `by`. Refused outside development mode.
pub async fn advance(conn: &mut AsyncPgConnection, ctx: &Ctx, by: Duration) -> Result<Duration> {
    if !ctx.config.is_development() {
        return Err(Error::not_found("resource"));
    }
    if by <= Duration::zero() {
        return Err(Error::field("by", "invalid_duration", "The clock only moves forward"));
    }
    let row: Offset = sql_query(
        "INSERT INTO dev_clock (id, offset_seconds) VALUES (true, $1)
         ON CONFLICT (id) DO UPDATE SET offset_seconds = dev_clock.offset_seconds + EXCLUDED.offset_seconds
         RETURNING offset_seconds",
    )
    .bind::<BigInt, _>(by.num_seconds())
    .get_result(conn)
    .await?;
    let total = Duration::seconds(row.offset_seconds);
    ctx.clock.sync_offset(total);
    Ok(total)
}

/// Parses durations such as `7d`, `36h`, `90m`, `1d12h`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in raw.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let n: i64 = number.parse().ok()?;
            number.clear();
            total += match c {
                'd' => Duration::days(n),
                'h' => Duration::hours(n),
                'm' => Duration::minutes(n),
                's' => Duration::seconds(n),
                _ => return None,
            };
        }
    }
    if !number.is_empty() {
        return None;
    }
    (total > Duration::zero()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Some(Duration::days(7)));
        assert_eq!(parse_duration("1d12h"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("90m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("7"), None);
        assert_eq!(parse_duration("0d"), None);
        assert_eq!(parse_duration("3w"), None);
    }
}
