//! Domain newtypes parsed at the edge, so services never see raw strings.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::FieldError;

/// A normalized (trimmed, lower-case) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field("email", raw)
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err(FieldError::new(field, "required", "An e-mail address is required"));
        }
        let invalid = || FieldError::new(field, "invalid_email", "Not a valid e-mail address");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// ISO 3166-1 alpha-2 codes (officially assigned).
const COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field("country", raw)
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_uppercase();
        if value.is_empty() {
            return Err(FieldError::new(field, "required", "A country is required"));
        }
        if value.len() == 2 && COUNTRIES.binary_search(&value.as_str()).is_ok() {
            let bytes = value.as_bytes();
            Ok(CountryCode([bytes[0], bytes[1]]))
        } else {
            Err(FieldError::new(
                field,
                "invalid_country",
                "Not an ISO 3166-1 alpha-2 country code (for example NL, DE, BE)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("country codes are ASCII")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A commission rate in percent: 0 to 100 with at most two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommissionRate(Decimal);

impl CommissionRate {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field("commission_rate", raw)
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() {
            return Err(FieldError::new(field, "required", "A commission rate is required"));
        }
        Self::from_decimal_field(field, plain_amount(field, raw, "invalid_rate")?)
    }

    pub fn from_decimal_field(field: &str, value: Decimal) -> Result<Self, FieldError> {
        if value.normalize().scale() > 2 {
            return Err(FieldError::new(
                field,
                "invalid_rate",
                "At most two decimals are allowed",
            ));
        }
        if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
            return Err(FieldError::new(
                field,
                "invalid_rate",
                "A rate must be between 0 and 100",
            ));
        }
        let mut value = value;
        value.rescale(2);
        Ok(CommissionRate(value))
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

/// A password as typed; only its argon2id hash is ever stored.
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if len == 0 {
            return Err(FieldError::new("password", "required", "A password is required"));
        }
        if len < Self::MIN_LEN {
            return Err(FieldError::new(
                "password",
                "password_too_short",
                format!("Use at least {} characters", Self::MIN_LEN),
            ));
        }
        if len > 256 {
            return Err(FieldError::new(
                "password",
                "password_too_long",
                "Use at most 256 characters",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The languages e-mails and pages are available in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Nl,
    De,
}

impl Language {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field("language", raw)
    }

    pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "en" => Ok(Language::En),
            "nl" => Ok(Language::Nl),
            "de" => Ok(Language::De),
            _ => Err(FieldError::new(
                field,
                "invalid_language",
                "Language must be en, nl or de",
            )),
        }
    }

    /// Reads a stored value; unknown values fall back to English.
    pub fn from_db(raw: &str) -> Self {
        Self::parse(raw).unwrap_or_default()
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Nl => "nl",
            Language::De => "de",
        }
    }
}

fn invalid_characters(field: &str) -> FieldError {
    FieldError::new(
        field,
        "invalid_characters",
        "Contains characters that are not allowed (a NUL byte)",
    )
}

/// Text PostgreSQL can store: no NUL byte.
pub fn storable(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.contains('\0') {
        Err(invalid_characters(field))
    } else {
        Ok(())
    }
}

/// A required, trimmed piece of text with a maximum length.
pub fn required_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    storable(field, raw)?;
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "required", "This field is required"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, "too_long", format!("At most {max} characters")));
    }
    Ok(value.to_owned())
}

/// Optional text: blank becomes `None`.
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    if let Some(raw) = raw {
        storable(field, raw)?;
    }
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) if value.chars().count() > max => {
            Err(FieldError::new(field, "too_long", format!("At most {max} characters")))
        }
        Some(value) => Ok(Some(value.to_owned())),
    }
}

/// An optional http(s) URL; a bare host name gets `https://`.
pub fn optional_website(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let candidate = if value.contains("://") {
        value.to_owned()
    } else {
        format!("https://{value}")
    };
    match url::Url::parse(&candidate) {
        Ok(url)
            if (url.scheme() == "http" || url.scheme() == "https")
                && url.host_str().is_some_and(|h| h.contains('.')) =>
        {
            Ok(Some(url.to_string()))
        }
        _ => Err(FieldError::new(field, "invalid_url", "Not a valid web address")),
    }
}

/// A free-form JSON object (profiles, integration settings) of at most `max_bytes`
/// serialized, without NUL characters. Returns its serialized size.
pub fn json_object(field: &str, value: &serde_json::Value, max_bytes: usize) -> Result<usize, FieldError> {
    if !value.is_object() {
        return Err(FieldError::new(field, "invalid_object", "Must be a JSON object"));
    }
    let text = value.to_string();
    if text.len() > max_bytes {
        return Err(FieldError::new(
            field,
            "too_large",
            format!("At most {} KiB", max_bytes / 1024),
        ));
    }
    // A NUL character inside a string is written as \u0000 in JSON text.
    if text.contains("\\u0000") {
        return Err(invalid_characters(field));
    }
    // What is stored must read back as the same document.
    if serde_json::from_str::<serde_json::Value>(&text).ok().as_ref() != Some(value) {
        return Err(FieldError::new(
            field,
            "unreadable_value",
            "Holds a value that cannot be read back exactly (a number too large or too precise)",
        ));
    }
    Ok(text.len())
}

/// A moment as e-mails and pages show it: `2026-12-05 10:00 UTC`.
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A day as e-mails and pages show it: `2026-12-05`.
pub fn format_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// The most rows one page of any list holds, and the size of a page when none is asked.
pub const MAX_PAGE: i64 = 200;
pub const DEFAULT_PAGE: i64 = 50;

/// A page size as asked: 1 to [`MAX_PAGE`]; anything else is refused, not clamped.
pub fn page_limit(limit: i64) -> Result<i64, FieldError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(FieldError::new(
            "limit",
            "out_of_range",
            format!("Between 1 and {MAX_PAGE}"),
        ))
    }
}

/// An amount written plainly: digits, optionally a point and one or two decimals
/// (`12`, `12.5`, `12.50`). Signs, exponents, separators, spaces and more decimals are
/// refused with `code`, so what a client sends is exactly what is stored. Scaled to two
/// decimals.
pub fn plain_amount(field: &str, raw: &str, code: &'static str) -> Result<Decimal, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(field, "required", "This field is required"));
    }
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let plain = (1..=12).contains(&whole.len())
        && digits(whole)
        && digits(fraction)
        && (fraction.len() <= 2)
        && (fraction.is_empty() != raw.contains('.'));
    if !plain {
        return Err(FieldError::new(
            field,
            code,
            "Write a plain amount with at most two decimals, such as 12.50",
        ));
    }
    let mut value = Decimal::from_str(raw).map_err(|_| FieldError::new(field, code, "Not an amount"))?;
    value.rescale(2);
    Ok(value)
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` rows: the extra row only says there is a next page, whose
    /// cursor is made from the page's last row.
    pub fn of(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let next_cursor = if more { rows.last().map(cursor) } else { None };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// The cursor of a list ordered by (time, id), newest first: `time,id`.
pub fn time_cursor(at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> String {
    format!("{},{id}", at.to_rfc3339())
}

/// Reads a [`time_cursor`]; anything else is the `cursor` field's error.
pub fn parse_time_cursor(raw: &str) -> Result<(chrono::DateTime<chrono::Utc>, uuid::Uuid), crate::Error> {
    let bad = || crate::Error::field("cursor", "invalid_cursor", "Not a cursor from this list");
    let (at, id) = raw.split_once(',').ok_or_else(bad)?;
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&chrono::Utc);
    Ok((at, uuid::Uuid::parse_str(id).map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::money::fixed2;

    #[test]
    fn countries_are_sorted_for_binary_search() {
        let mut sorted = COUNTRIES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, COUNTRIES);
        assert_eq!(COUNTRIES.len(), 249);
    }

    #[test]
    fn email_is_normalized_and_validated() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@exa..mple.com",
            "ann@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn country_codes() {
        assert_eq!(CountryCode::parse("nl").unwrap().as_str(), "NL");
        assert_eq!(CountryCode::parse("XX").unwrap_err().code, "invalid_country");
        assert_eq!(CountryCode::parse("NLD").unwrap_err().code, "invalid_country");
        assert_eq!(CountryCode::parse(" ").unwrap_err().code, "required");
    }

    #[test]
    fn commission_rate_bounds_and_scale() {
        assert_eq!(fixed2(CommissionRate::parse("12.5").unwrap().value()), "12.50");
        assert_eq!(fixed2(CommissionRate::parse("100").unwrap().value()), "100.00");
        assert_eq!(fixed2(CommissionRate::parse("0").unwrap().value()), "0.00");
        assert_eq!(CommissionRate::parse("12.345").unwrap_err().code, "invalid_rate");
        assert_eq!(CommissionRate::parse("100.01").unwrap_err().code, "invalid_rate");
        assert_eq!(CommissionRate::parse("-1").unwrap_err().code, "invalid_rate");
        assert_eq!(CommissionRate::parse("abc").unwrap_err().code, "invalid_rate");
        assert_eq!(CommissionRate::parse("").unwrap_err().code, "required");
        // Trailing zeros beyond two decimals are still two decimals of precision.
        for sloppy in ["12.5000", "1e2", " 12.50 ", "+12", "1_0", "12.", ".5", "0x10", "١٢"] {
            assert_eq!(
                CommissionRate::parse(sloppy).unwrap_err().code,
                "invalid_rate",
                "{sloppy:?}"
            );
        }
        assert_eq!(page_limit(0).unwrap_err().code, "out_of_range");
        assert_eq!(page_limit(MAX_PAGE + 1).unwrap_err().code, "out_of_range");
        assert_eq!(page_limit(MAX_PAGE).unwrap(), MAX_PAGE);
    }

    #[test]
    fn nul_bytes_are_refused_with_the_field_named() {
        assert_eq!(
            required_text("first_name", "A\0B", 10).unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(
            optional_text("extension", Some("1\0"), 10).unwrap_err().field,
            "extension"
        );
        assert!(Email::parse("a\0@example.com").is_err());
        let doc = serde_json::json!({ "a": "x\u{0}y" });
        assert_eq!(
            json_object("profile", &doc, 1024).unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(
            json_object("profile", &serde_json::json!([1]), 1024).unwrap_err().code,
            "invalid_object"
        );
        let big = serde_json::json!({ "a": "x".repeat(2000) });
        assert_eq!(json_object("profile", &big, 1024).unwrap_err().code, "too_large");
    }

    #[test]
    fn websites() {
        assert_eq!(
            optional_website("website", Some("example.com")).unwrap().unwrap(),
            "https://example.com/"
        );
        assert!(optional_website("website", Some("not a url")).is_err());
        assert_eq!(optional_website("website", Some("  ")).unwrap(), None);
    }
}
