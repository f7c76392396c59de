//! Money arithmetic in one place: the billing period a purchase starts in, proration to
//! the rest of the month, and the priced line of a quote or
//! order.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::platform::{money::cents, values::LicenceKind};

/// The billing period a purchase starts in: today to the end of the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Days from today to the end of the month, both included.
    pub remaining_days: i64,
    pub days_in_month: i64,
}

impl Period {
    pub fn starting(now: DateTime<Utc>) -> Self {
        let today = now.date_naive();
        let end = month_end(today);
        Period {
            start: today,
            end,
            remaining_days: (end - today).num_days() + 1,
            days_in_month: i64::from(end.day()),
        }
    }

    /// What the rest of the period costs of a monthly amount, rounded half-up to cents.
    pub fn prorate(&self, monthly: Decimal) -> Decimal {
        prorate(monthly, self.remaining_days, self.days_in_month)
    }
}

/// `days` of a month of `days_in_month` at `monthly` a month, rounded half-up to cents:
/// how quotes price the rest of a month and billing runs price each month's days.
pub fn prorate(monthly: Decimal, days: i64, days_in_month: i64) -> Decimal {
    cents(monthly * Decimal::from(days) / Decimal::from(days_in_month))
}

/// The last day of the month `day` is in.
pub fn month_end(day: NaiveDate) -> NaiveDate {
    let first_next = if day.month() == 12 {
        NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)
    }
    .expect("valid date");
    first_next - Duration::days(1)
}

/// One line of a quote or order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub module_id: Uuid,
    pub module_code: String,
    pub licence_kind: LicenceKind,
    pub description: String,
    pub quantity: i32,
    /// Monthly price of one licence.
    pub unit_price: Decimal,
    /// unit price × quantity.
    pub monthly_amount: Decimal,
    /// What the rest of the current month costs, rounded half-up to cents.
    pub amount: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

impl Line {
    /// `quantity` licences at `unit_price` a month, from today to the end of the month.
    pub fn new(
        module_id: Uuid,
        module_code: &str,
        licence_kind: LicenceKind,
        unit_price: Decimal,
        quantity: i32,
        description: String,
        now: DateTime<Utc>,
    ) -> Self {
        let period = Period::starting(now);
        let monthly = unit_price * Decimal::from(quantity);
        Line {
            module_id,
            module_code: module_code.to_owned(),
            licence_kind,
            description,
            quantity,
            unit_price,
            monthly_amount: cents(monthly),
            amount: period.prorate(monthly),
            period_start: period.start,
            period_end: period.end,
        }
    }
}

/// The total of some lines' amounts, in cents.
pub fn total(lines: &[Line]) -> Decimal {
    cents(lines.iter().map(|l| l.amount).sum())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_rest_of_the_month_is_prorated_half_up() {
        let now = Utc.with_ymd_and_hms(2026, 2, 20, 10, 0, 0).unwrap();
        let p = Period::starting(now);
        assert_eq!((p.remaining_days, p.days_in_month), (9, 28));
        assert_eq!(p.end, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        // 10.00 × 9 / 28 = 3.2142… → 3.21
        assert_eq!(p.prorate(Decimal::from(10)).to_string(), "3.21");
        let line = Line::new(
            Uuid::nil(),
            "CRM",
            LicenceKind::User,
            Decimal::from_str("13.50").unwrap(),
            3,
            "x".into(),
            now,
        );
        assert_eq!(line.monthly_amount.to_string(), "40.50");
        // 40.50 × 9 / 28 = 13.0178… → 13.02
        assert_eq!(line.amount.to_string(), "13.02");
        assert_eq!(cents(Decimal::from_str("2.345").unwrap()).to_string(), "2.35");
        let december = Period::starting(Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap());
        assert_eq!((december.remaining_days, december.days_in_month), (1, 31));
    }
}
