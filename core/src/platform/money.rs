//! Money: a currency and an amount, rounded half-up to cents and shown with exactly two
//! decimals. Amounts are `rust_decimal::Decimal` here and `numeric` in PostgreSQL, never
//! floats; currencies are ISO 4217 codes, stored as `char(3)`.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::platform::error::FieldError;

/// Money rounded half-up to cents, always with two decimals.
pub fn cents(value: Decimal) -> Decimal {
    let mut v = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(2);
    v
}

/// Money and rates as text with exactly two decimals (12.50, never 12.5).
pub fn fixed2(value: Decimal) -> String {
    cents(value).to_string()
}

// An amount or a rate as the API and the pages show it, made only from a `Decimal` by
// `fixed2`, so nothing unrounded is sent. The doc line below is its title in the API
// document.
/// A decimal with exactly two places, as text: 12.50, never 12.5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::NewType))]
pub struct Fixed2(String);

impl Fixed2 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Decimal> for Fixed2 {
    fn from(value: Decimal) -> Self {
        Fixed2(fixed2(value))
    }
}

impl AsRef<str> for Fixed2 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fixed2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for Fixed2 {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<str> for Fixed2 {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// An ISO 4217 currency code: three capital letters (EUR, USD).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");

    /// The code as written by a person: surrounding spaces and lower case are forgiven.
    pub fn parse(raw: &str) -> Option<Currency> {
        let raw = raw.trim();
        let bytes: [u8; 3] = raw.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(u8::is_ascii_alphabetic)
            .then(|| Currency(bytes.map(|b| b.to_ascii_uppercase())))
    }

    /// The code as a field of a request: the `field`'s `invalid_currency` error otherwise.
    pub fn parse_field(field: &str, raw: &str) -> Result<Currency, FieldError> {
        Self::parse(raw)
            .ok_or_else(|| FieldError::new(field, "invalid_currency", "An ISO 4217 currency code such as EUR"))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("not a currency code: {raw:?}")))
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for Currency {
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>) -> diesel::serialize::Result {
        <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for Currency {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let raw = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
        Currency::parse(&raw).ok_or_else(|| format!("not a currency code: {raw:?}").into())
    }
}

/// An amount in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// The amount with exactly two decimals, rounded half-up (12.50).
    pub fn fixed(&self) -> String {
        fixed2(self.amount)
    }
}

/// `EUR 12.50`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.fixed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_letters_in_capitals() {
        assert_eq!(Currency::parse(" eur ").map(|c| c.to_string()), Some("EUR".into()));
        assert_eq!(Currency::parse("EURO"), None);
        assert_eq!(Currency::parse("E1R"), None);
        assert_eq!(Currency::parse("€"), None);
        assert_eq!(serde_json::to_string(&Currency::EUR).unwrap(), "\"EUR\"");
        assert!(serde_json::from_str::<Currency>("\"EU\"").is_err());
    }

    #[test]
    fn a_fixed_amount_has_two_decimals_and_reads_as_its_decimal() {
        use std::str::FromStr;
        let shown = Fixed2::from(Decimal::from_str("12.5").unwrap());
        assert_eq!(shown, "12.50");
        assert_eq!(serde_json::to_value(&shown).unwrap(), serde_json::json!("12.50"));
        assert_eq!(
            Decimal::from_str(shown.as_str()).unwrap(),
            Decimal::from_str("12.50").unwrap()
        );
    }

    #[test]
    fn fixed2_rounds_half_up() {
        use std::str::FromStr;
        assert_eq!(fixed2(Decimal::from_str("2.345").unwrap()), "2.35");
        assert_eq!(fixed2(Decimal::from_str("2.344").unwrap()), "2.34");
        assert_eq!(fixed2(Decimal::from_str("7").unwrap()), "7.00");
    }

    #[test]
    fn money_shows_two_decimals_rounded_half_up() {
        let m = Money::new(Decimal::new(12345, 3), Currency::EUR);
        assert_eq!(m.fixed(), "12.35");
        assert_eq!(m.to_string(), "EUR 12.35");
        assert_eq!(Money::new(Decimal::from(5), Currency::EUR).fixed(), "5.00");
    }
}
