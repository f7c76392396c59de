//! PostgreSQL type names, and the text form of parameter values recorded in binary.
//!
//! A client such as tokio-postgres (under diesel-async) sends parameters in the binary
//! format. To replay them through pgbench, which passes parameters as text, each value
//! is rendered as PostgreSQL's text input accepts it, and cast explicitly to its type
//! (`TypeNames::cast_name`). The built-in types are decoded here byte by byte (numeric
//! exactly, from its base-10000 digits); enums and string-like types decode as UTF-8, a
//! domain as its base type, arrays element by element. A type that none of these rules
//! covers is an error naming its OID: a value is never guessed.

use std::collections::HashMap;
use std::fmt::Write as _;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// What went wrong while recording, decoding, generating a script or running pgbench.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

pub type Result<T, E = WireError> = std::result::Result<T, E>;

pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(WireError(message.into()))
}

/// Built-in types decoded here: OID, the name to cast to, and the OID of its array type.
const BUILTIN: &[(u32, &str, u32)] = &[
    (16, "bool", 1000),
    (17, "bytea", 1001),
    (18, "\"char\"", 1002),
    (19, "name", 1003),
    (20, "int8", 1016),
    (21, "int2", 1005),
    (23, "int4", 1007),
    (25, "text", 1009),
    (26, "oid", 1028),
    (114, "json", 199),
    (650, "cidr", 651),
    (700, "float4", 1021),
    (701, "float8", 1022),
    (869, "inet", 1041),
    (1042, "bpchar", 1014),
    (1043, "varchar", 1015),
    (1082, "date", 1182),
    (1083, "time", 1183),
    (1114, "timestamp", 1115),
    (1184, "timestamptz", 1185),
    (1186, "interval", 1187),
    (1266, "timetz", 1270),
    (1700, "numeric", 1231),
    (2950, "uuid", 2951),
    (3802, "jsonb", 3807),
];

/// One row of `pg_type`, as far as decoding needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TypeInfo {
    /// The name to cast to: `uuid`, `text[]`, `bench_mood`, `"my schema".thing`.
    name: String,
    /// `typcategory`: 'A' array, 'E' enum, 'S' string, ...
    category: char,
    /// `typtype`: 'b' base, 'd' domain, 'e' enum, ...
    kind: char,
    /// `typelem`: the element type of an array, else 0.
    elem: u32,
    /// `typbasetype`: the base type of a domain, else 0.
    base: u32,
}

/// The types of one server: OID → name to cast to, category, element and base type.
#[derive(Debug, Clone)]
pub struct TypeNames {
    types: HashMap<u32, TypeInfo>,
}

#[derive(QueryableByName)]
struct TypeRow {
    #[diesel(sql_type = BigInt)]
    oid: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    category: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    elem: i64,
    #[diesel(sql_type = BigInt)]
    base: i64,
}

const TYPES_QUERY: &str = "SELECT oid::int8 AS oid, format_type(oid, NULL) AS name, typcategory::text AS category,
        typtype::text AS kind, typelem::int8 AS elem, typbasetype::int8 AS base
   FROM pg_type";

impl TypeNames {
    /// The built-in types this module decodes, and their arrays; no server needed.
    pub fn builtin() -> TypeNames {
        let mut types = HashMap::new();
        for &(oid, name, array) in BUILTIN {
            let scalar = TypeInfo {
                name: name.to_owned(),
                category: 'X',
                kind: 'b',
                elem: 0,
                base: 0,
            };
            let array_info = TypeInfo {
                name: format!("{name}[]"),
                category: 'A',
                kind: 'b',
                elem: oid,
                base: 0,
            };
            types.insert(oid, scalar);
            types.insert(array, array_info);
        }
        TypeNames { types }
    }

    /// Every type of the database at `database_url` (its enums, domains, extension
    /// types), on top of the built-ins. Names come from `format_type`, so they are quoted
    /// and schema-qualified where the default search path needs it; the built-ins keep
    /// their short names (`timestamptz`, `bpchar`: `format_type` would say `character`,
    /// which casts to one character).
    pub async fn load(database_url: &str) -> Result<TypeNames> {
        let mut conn = AsyncPgConnection::establish(database_url)
            .await
            .map_err(|e| WireError(format!("loading types: connecting: {e}")))?;
        let rows: Vec<TypeRow> = sql_query(TYPES_QUERY)
            .load(&mut conn)
            .await
            .map_err(|e| WireError(format!("loading types from pg_type: {e}")))?;
        let mut names = TypeNames::builtin();
        for row in rows {
            let info = TypeInfo {
                name: row.name,
                category: row.category.chars().next().unwrap_or('X'),
                kind: row.kind.chars().next().unwrap_or('b'),
                elem: row.elem as u32,
                base: row.base as u32,
            };
            names.types.entry(row.oid as u32).or_insert(info);
        }
        Ok(names)
    }

    /// The SQL name to cast a parameter of this type to: `uuid`, `text[]`,
    /// `timestamptz`, `numeric`, an enum's name.
    pub fn cast_name(&self, oid: u32) -> Result<&str> {
        match self.types.get(&oid) {
            Some(info) => Ok(&info.name),
            None => fail(format!("unknown type OID {oid} (not built in, not in pg_type)")),
        }
    }

    /// The type itself, or for a domain (over a domain...) its base type.
    pub fn base_type(&self, oid: u32) -> u32 {
        let mut oid = oid;
        for _ in 0..16 {
            match self.types.get(&oid) {
                Some(info) if info.kind == 'd' && info.base != 0 => oid = info.base,
                _ => break,
            }
        }
        oid
    }

    /// True for enums and string-category types (text, varchar, citext, ...), after
    /// resolving domains.
    pub fn is_string_like(&self, oid: u32) -> bool {
        let oid = self.base_type(oid);
        matches!(oid, 19 | 25 | 1042 | 1043)
            || self
                .types
                .get(&oid)
                .is_some_and(|t| t.kind == 'e' || (t.category == 'S' && t.elem == 0))
    }

    /// True for an enum (or a domain over one).
    pub fn is_enum(&self, oid: u32) -> bool {
        self.types.get(&self.base_type(oid)).is_some_and(|t| t.kind == 'e')
    }

    /// A value in PostgreSQL's binary format, as text that the type's input accepts.
    pub fn binary_to_text(&self, oid: u32, value: &[u8]) -> Result<String> {
        if let Some(text) = decode_builtin(oid, value)? {
            return Ok(text);
        }
        let Some(info) = self.types.get(&oid) else {
            return fail(format!(
                "cannot decode a binary value of type OID {oid}: not built in, not in pg_type"
            ));
        };
        if info.category == 'A' && info.elem != 0 {
            return self.decode_array(value);
        }
        if info.kind == 'd' && info.base != 0 {
            return self.binary_to_text(info.base, value);
        }
        if info.kind == 'e' || info.category == 'S' {
            return utf8(value);
        }
        fail(format!(
            "cannot decode a binary value of type {} (OID {oid}): no text rendering for its binary format",
            info.name
        ))
    }

    fn decode_array(&self, value: &[u8]) -> Result<String> {
        let mut r = Reader::new(value);
        let ndim = r.i32()?;
        let _has_nulls = r.i32()?;
        let elem = r.u32()?;
        if ndim == 0 {
            return Ok("{}".to_owned());
        }
        if !(1..=6).contains(&ndim) {
            return fail(format!("array with {ndim} dimensions"));
        }
        let mut dims = Vec::new();
        for _ in 0..ndim {
            let len = r.i32()?;
            let lower = r.i32()?;
            if len < 0 {
                return fail("array with a negative dimension");
            }
            dims.push((len as usize, lower));
        }
        let mut elements = Vec::new();
        let total: usize = dims.iter().map(|d| d.0).product();
        for _ in 0..total {
            elements.push(match r.value()? {
                None => "NULL".to_owned(),
                Some(bytes) => quote_array_element(&self.binary_to_text(elem, bytes)?),
            });
        }
        r.end()?;
        let mut out = String::new();
        if dims.iter().any(|d| d.1 != 1) {
            for (len, lower) in &dims {
                let _ = write!(out, "[{lower}:{}]", *lower as i64 + *len as i64 - 1);
            }
            out.push('=');
        }
        let lens: Vec<usize> = dims.iter().map(|d| d.0).collect();
        nest(&lens, &mut elements.into_iter(), &mut out);
        Ok(out)
    }
}

/// Writes `{...}` for the dimensions `lens`, taking elements in order.
fn nest(lens: &[usize], elements: &mut impl Iterator<Item = String>, out: &mut String) {
    out.push('{');
    for i in 0..lens[0] {
        if i > 0 {
            out.push(',');
        }
        if lens.len() > 1 {
            nest(&lens[1..], elements, out);
        } else if let Some(e) = elements.next() {
            out.push_str(&e);
        }
    }
    out.push('}');
}

/// An array element as `array_out` writes it: double-quoted (with `"` and `\` escaped)
/// when empty, `NULL` in any case, or holding braces, quotes, backslashes, commas or
/// white space.
pub fn quote_array_element(text: &str) -> String {
    let needs = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text.chars().any(|c| {
            matches!(
                c,
                '{' | '}' | ',' | '"' | '\\' | ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'
            )
        });
    if !needs {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The built-in scalar types; `None` for any other OID (arrays included).
fn decode_builtin(oid: u32, v: &[u8]) -> Result<Option<String>> {
    let text = match oid {
        16 => match fixed::<1>(v)? {
            [0] => "f".to_owned(),
            _ => "t".to_owned(),
        },
        17 => format!("\\x{}", hex::encode(v)),
        18 => char_text(fixed::<1>(v)?[0]),
        19 | 25 | 114 | 1042 | 1043 => utf8(v)?,
        20 => i64::from_be_bytes(fixed(v)?).to_string(),
        21 => i16::from_be_bytes(fixed(v)?).to_string(),
        23 => i32::from_be_bytes(fixed(v)?).to_string(),
        26 => u32::from_be_bytes(fixed(v)?).to_string(),
        650 | 869 => inet_text(v, oid == 650)?,
        700 => float_text(
            f32::from_be_bytes(fixed(v)?) as f64,
            format!("{}", f32::from_be_bytes(fixed(v)?)),
            6,
        ),
        701 => float_text(
            f64::from_be_bytes(fixed(v)?),
            format!("{}", f64::from_be_bytes(fixed(v)?)),
            15,
        ),
        1082 => date_text(i32::from_be_bytes(fixed(v)?)),
        1083 => time_text(i64::from_be_bytes(fixed(v)?)),
        1114 => timestamp_text(i64::from_be_bytes(fixed(v)?), ""),
        1184 => timestamp_text(i64::from_be_bytes(fixed(v)?), "+00"),
        1186 => interval_text(v)?,
        1266 => timetz_text(v)?,
        1700 => numeric_text(v)?,
        2950 => uuid_text(v)?,
        3802 => match v.split_first() {
            Some((1, rest)) => utf8(rest)?,
            _ => return fail("jsonb value without version byte 1"),
        },
        _ => return Ok(None),
    };
    Ok(Some(text))
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N]> {
    v.try_into()
        .map_err(|_| WireError(format!("expected {N} bytes, got {}", v.len())))
}

fn utf8(v: &[u8]) -> Result<String> {
    String::from_utf8(v.to_vec()).map_err(|e| WireError(format!("value is not UTF-8: {e}")))
}

/// `"char"`: the byte itself; a zero byte is the empty string, a high byte `\ooo`.
fn char_text(b: u8) -> String {
    match b {
        0 => String::new(),
        b if b >= 0x80 => format!("\\{b:03o}"),
        b => (b as char).to_string(),
    }
}

/// Shortest exact digits, in exponent form (`1e-05`, `1.5e+20`) where PostgreSQL uses
/// it: a decimal exponent below -4 or at least `digits` (6 for float4, 15 for float8).
fn float_text(x: f64, plain: String, digits: i32) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return plain;
    }
    // The shortest digits of the value's own width (f32 or f64), from its plain
    // rendering, so that widening a float4 adds no digits.
    let sci = scientific(&plain);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp >= -4 && exp < digits {
        return plain;
    }
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// `d.ddde<exp>` from a plain decimal rendering such as `-0.00012` or `1500000`.
fn scientific(plain: &str) -> String {
    let (sign, digits) = plain.strip_prefix('-').map_or(("", plain), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all = format!("{int}{frac}");
    let first = all.find(|c| c != '0').unwrap_or(0);
    let significant = all[first..].trim_end_matches('0');
    let exp = int.len() as i32 - 1 - first as i32;
    let (head, tail) = significant.split_at(1.min(significant.len()));
    if tail.is_empty() {
        format!("{sign}{head}e{exp}")
    } else {
        format!("{sign}{head}.{tail}e{exp}")
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian, any range.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// 2000-01-01, PostgreSQL's epoch, in days since 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const DAY_US: i64 = 86_400_000_000;

/// `YYYY-MM-DD`, and whether it is before Christ (year 0 is 1 BC).
fn ymd(days_since_2000: i64) -> (String, bool) {
    let (y, m, d) = civil_from_days(days_since_2000 + PG_EPOCH_DAYS);
    if y <= 0 {
        (format!("{:04}-{m:02}-{d:02}", 1 - y), true)
    } else {
        (format!("{y:04}-{m:02}-{d:02}"), false)
    }
}

fn date_text(days: i32) -> String {
    match days {
        i32::MAX => "infinity".to_owned(),
        i32::MIN => "-infinity".to_owned(),
        days => {
            let (date, bc) = ymd(days.into());
            if bc { format!("{date} BC") } else { date }
        }
    }
}

/// `HH:MM:SS.ffffff` for microseconds since midnight.
fn time_text(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    format!("{:02}:{:02}:{:02}.{frac:06}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` (with `zone` after it: `+00` for timestamptz, which is
/// rendered in UTC).
fn timestamp_text(us: i64, zone: &str) -> String {
    match us {
        i64::MAX => "infinity".to_owned(),
        i64::MIN => "-infinity".to_owned(),
        us => {
            let (date, bc) = ymd(us.div_euclid(DAY_US));
            let time = time_text(us.rem_euclid(DAY_US));
            format!("{date} {time}{zone}{}", if bc { " BC" } else { "" })
        }
    }
}

/// timetz: microseconds since midnight and the zone's offset in seconds west of UTC.
fn timetz_text(v: &[u8]) -> Result<String> {
    let bytes: [u8; 12] = fixed(v)?;
    let us = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    let west = i32::from_be_bytes(bytes[8..].try_into().expect("4 bytes"));
    let east = -i64::from(west);
    let sign = if east < 0 { '-' } else { '+' };
    let a = east.abs();
    Ok(format!(
        "{}{sign}{:02}:{:02}:{:02}",
        time_text(us),
        a / 3600,
        a / 60 % 60,
        a % 60
    ))
}

/// An interval as PostgreSQL writes it in its default style (`postgres`):
/// `1 year 2 mons -3 days +04:05:06.5`.
fn interval_text(v: &[u8]) -> Result<String> {
    let bytes: [u8; 16] = fixed(v)?;
    let time = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    let days = i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let months = i32::from_be_bytes(bytes[12..].try_into().expect("4 bytes"));
    let mut out = String::new();
    let mut is_before = false;
    for (value, unit) in [
        (i64::from(months / 12), "year"),
        (i64::from(months % 12), "mon"),
        (days.into(), "day"),
    ] {
        if value == 0 {
            continue;
        }
        let plus = if is_before && value > 0 { "+" } else { "" };
        let space = if out.is_empty() { "" } else { " " };
        let plural = if value != 1 { "s" } else { "" };
        let _ = write!(out, "{space}{plus}{value} {unit}{plural}");
        is_before = value < 0;
    }
    if out.is_empty() || time != 0 {
        let sign = if time < 0 {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let space = if out.is_empty() { "" } else { " " };
        let a = time.unsigned_abs();
        let secs = a / 1_000_000;
        let _ = write!(
            out,
            "{space}{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if a % 1_000_000 != 0 {
            let frac = format!("{:06}", a % 1_000_000);
            let _ = write!(out, ".{}", frac.trim_end_matches('0'));
        }
    }
    Ok(out)
}

/// numeric's binary format: ndigits, weight, sign, dscale, then base-10000 digits; the
/// text has exactly `dscale` digits after the point, as `numeric_out` writes it.
fn numeric_text(v: &[u8]) -> Result<String> {
    let mut r = Reader::new(v);
    let ndigits = r.i16()?;
    let weight = r.i16()? as i32;
    let sign = r.u16()?;
    let dscale = r.u16()? as i32;
    match sign {
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        0x0000 | 0x4000 => {}
        other => return fail(format!("numeric with sign word {other:#06x}")),
    }
    let mut digits = Vec::new();
    for _ in 0..ndigits.max(0) {
        let d = r.i16()?;
        if !(0..10_000).contains(&d) {
            return fail(format!("numeric digit {d} out of range"));
        }
        digits.push(d as u32);
    }
    r.end()?;
    let digit = |i: i32| -> u32 {
        if i >= 0 {
            digits.get(i as usize).copied().unwrap_or(0)
        } else {
            0
        }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        let _ = write!(out, "{}", digit(0));
        for i in 1..=weight {
            let _ = write!(out, "{:04}", digit(i));
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut i = weight + 1;
        while (frac.len() as i32) < dscale {
            let _ = write!(frac, "{:04}", digit(i));
            i += 1;
        }
        frac.truncate(dscale as usize);
        let _ = write!(out, ".{frac}");
    }
    Ok(out)
}

fn uuid_text(v: &[u8]) -> Result<String> {
    let bytes: [u8; 16] = fixed(v)?;
    Ok(uuid::Uuid::from_bytes(bytes).hyphenated().to_string())
}

/// inet and cidr: family (2 IPv4, 3 IPv6), mask bits, is-cidr flag, address length,
/// address. An inet with a full mask is written without it; a cidr always with it.
fn inet_text(v: &[u8], cidr: bool) -> Result<String> {
    let [family, bits, _is_cidr, len, rest @ ..] = v else {
        return fail("inet value shorter than its header");
    };
    if rest.len() != *len as usize {
        return fail("inet address of the wrong length");
    }
    let (addr, max) = match (family, rest.len()) {
        (2, 4) => (
            std::net::Ipv4Addr::new(rest[0], rest[1], rest[2], rest[3]).to_string(),
            32,
        ),
        (3, 16) => (
            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(rest).expect("16 bytes")).to_string(),
            128,
        ),
        _ => return fail(format!("inet family {family} with {} address bytes", rest.len())),
    };
    Ok(if cidr || *bits != max {
        format!("{addr}/{bits}")
    } else {
        addr
    })
}

/// Reads big-endian fields of a message or value.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return fail(format!("truncated: wanted {n} bytes at offset {}", self.pos));
        };
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(fixed(self.take(2)?)?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(fixed(self.take(2)?)?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(fixed(self.take(4)?)?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(fixed(self.take(4)?)?))
    }

    /// A length-prefixed value: -1 is NULL.
    pub(crate) fn value(&mut self) -> Result<Option<&'a [u8]>> {
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => fail(format!("negative value length {n}")),
            n => Ok(Some(self.take(n as usize)?)),
        }
    }

    /// A zero-terminated string.
    pub(crate) fn cstr(&mut self) -> Result<String> {
        let rest = &self.bytes[self.pos..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return fail("unterminated string");
        };
        self.pos += nul + 1;
        utf8(&rest[..nul])
    }

    pub(crate) fn end(&self) -> Result<()> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            fail(format!("{} unexpected trailing bytes", self.bytes.len() - self.pos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(ndigits.to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_are_exact() {
        let t = TypeNames::builtin();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (numeric(3, 1, 0x4000, 4, &[1, 2345, 6789]), "-12345.6789"),
            (numeric(0, 0, 0, 2, &[]), "0.00"),
            (numeric(1, -3, 0, 10, &[100]), "0.0000000001"),
            (numeric(1, 2, 0, 0, &[12]), "1200000000"),
            (numeric(2, 0, 0, 3, &[7, 5000]), "7.500"),
            (numeric(0, 0, 0xC000, 0, &[]), "NaN"),
            (numeric(0, 0, 0xD000, 0, &[]), "Infinity"),
            (numeric(0, 0, 0xF000, 0, &[]), "-Infinity"),
        ];
        for (bytes, want) in cases {
            assert_eq!(t.binary_to_text(1700, &bytes).unwrap(), want);
        }
    }

    #[test]
    fn floats_write_like_postgres() {
        let t = TypeNames::builtin();
        let f8 = |x: f64| t.binary_to_text(701, &x.to_be_bytes()).unwrap();
        let f4 = |x: f32| t.binary_to_text(700, &x.to_be_bytes()).unwrap();
        assert_eq!(f8(1e-5), "1e-05");
        assert_eq!(f8(1e15), "1e+15");
        assert_eq!(f8(1e14), "100000000000000");
        assert_eq!(f8(-0.0), "-0");
        assert_eq!(f8(0.1), "0.1");
        assert_eq!(f8(-1.5e-300), "-1.5e-300");
        assert_eq!(f8(f64::NAN), "NaN");
        assert_eq!(f8(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f4(1e6), "1e+06");
        assert_eq!(f4(123456.0), "123456");
        assert_eq!(f4(0.1), "0.1");
        assert_eq!(f4(3.4028235e38), "3.4028235e+38");
    }

    #[test]
    fn dates_and_times() {
        let t = TypeNames::builtin();
        assert_eq!(t.binary_to_text(1082, &0i32.to_be_bytes()).unwrap(), "2000-01-01");
        assert_eq!(t.binary_to_text(1082, &(-1i32).to_be_bytes()).unwrap(), "1999-12-31");
        assert_eq!(
            t.binary_to_text(1082, &(-730_119i32).to_be_bytes()).unwrap(),
            "0001-01-01"
        );
        assert_eq!(
            t.binary_to_text(1082, &(-730_120i32).to_be_bytes()).unwrap(),
            "0001-12-31 BC"
        );
        assert_eq!(t.binary_to_text(1082, &i32::MAX.to_be_bytes()).unwrap(), "infinity");
        let us = (((24 * 24 + 13) * 60 + 45) * 60 + 7) * 1_000_000i64 + 123_456;
        assert_eq!(
            t.binary_to_text(1184, &us.to_be_bytes()).unwrap(),
            "2000-01-25 13:45:07.123456+00"
        );
        assert_eq!(
            t.binary_to_text(1114, &(-1i64).to_be_bytes()).unwrap(),
            "1999-12-31 23:59:59.999999"
        );
        assert_eq!(
            t.binary_to_text(1083, &(3_600_000_000i64).to_be_bytes()).unwrap(),
            "01:00:00.000000"
        );
        let mut tz = 3_600_000_000i64.to_be_bytes().to_vec();
        tz.extend((-5400i32).to_be_bytes());
        assert_eq!(t.binary_to_text(1266, &tz).unwrap(), "01:00:00.000000+01:30:00");
    }

    fn interval(us: i64, days: i32, months: i32) -> String {
        let mut v = us.to_be_bytes().to_vec();
        v.extend(days.to_be_bytes());
        v.extend(months.to_be_bytes());
        TypeNames::builtin().binary_to_text(1186, &v).unwrap()
    }

    #[test]
    fn intervals_write_like_postgres() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(interval(-14_706_500_000, 3, 10), "10 mons 3 days -04:05:06.5");
        assert_eq!(interval(7_200_000_000, -1, 0), "-1 days +02:00:00");
        assert_eq!(interval(0, 1, 14), "1 year 2 mons 1 day");
        assert_eq!(interval(1, 0, -12), "-1 years +00:00:00.000001");
    }

    #[test]
    fn scalars() {
        let t = TypeNames::builtin();
        assert_eq!(t.binary_to_text(16, &[1]).unwrap(), "t");
        assert_eq!(t.binary_to_text(17, &[0, 0xab]).unwrap(), "\\x00ab");
        assert_eq!(t.binary_to_text(18, b"a").unwrap(), "a");
        assert_eq!(t.binary_to_text(18, &[0xe9]).unwrap(), "\\351");
        assert_eq!(t.binary_to_text(20, &(-5i64).to_be_bytes()).unwrap(), "-5");
        assert_eq!(t.binary_to_text(26, &u32::MAX.to_be_bytes()).unwrap(), "4294967295");
        assert_eq!(t.binary_to_text(3802, b"\x01{\"a\": 1}").unwrap(), "{\"a\": 1}");
        assert_eq!(t.binary_to_text(869, &[2, 32, 0, 4, 10, 0, 0, 1]).unwrap(), "10.0.0.1");
        assert_eq!(t.binary_to_text(650, &[2, 8, 1, 4, 10, 0, 0, 0]).unwrap(), "10.0.0.0/8");
        let mut v6 = vec![3, 64, 0, 16, 0x20, 0x01, 0x0d, 0xb8];
        v6.extend([0; 12]);
        assert_eq!(t.binary_to_text(869, &v6).unwrap(), "2001:db8::/64");
        assert!(t.binary_to_text(23, &[0, 1]).is_err());
        let err = t.binary_to_text(99_999, &[1]).unwrap_err();
        assert!(err.0.contains("99999"), "{err}");
    }

    fn array(elem: u32, dims: &[(i32, i32)], values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((dims.len() as i32).to_be_bytes());
        v.extend(i32::from(values.iter().any(Option::is_none)).to_be_bytes());
        v.extend(elem.to_be_bytes());
        for (len, lower) in dims {
            v.extend(len.to_be_bytes());
            v.extend(lower.to_be_bytes());
        }
        for value in values {
            match value {
                None => v.extend((-1i32).to_be_bytes()),
                Some(b) => {
                    v.extend((b.len() as i32).to_be_bytes());
                    v.extend(*b);
                }
            }
        }
        v
    }

    #[test]
    fn arrays_quote_like_array_out() {
        let t = TypeNames::builtin();
        let elems: [Option<&[u8]>; 7] = [
            Some(b"plain"),
            None,
            Some(b"a \"q\""),
            Some(b"b\\c"),
            Some(b""),
            Some(b"null"),
            Some(b"x,{y}"),
        ];
        assert_eq!(
            t.binary_to_text(1009, &array(25, &[(7, 1)], &elems)).unwrap(),
            r#"{plain,NULL,"a \"q\"","b\\c","","null","x,{y}"}"#
        );
        assert_eq!(t.binary_to_text(1007, &array(23, &[], &[])).unwrap(), "{}");
        let one = 1i32.to_be_bytes();
        let two = 2i32.to_be_bytes();
        let grid = [Some(&one[..]), Some(&two[..]), Some(&two[..]), Some(&one[..])];
        assert_eq!(
            t.binary_to_text(1007, &array(23, &[(2, 1), (2, 1)], &grid)).unwrap(),
            "{{1,2},{2,1}}"
        );
        assert_eq!(
            t.binary_to_text(1007, &array(23, &[(2, 0)], &grid[..2])).unwrap(),
            "[0:1]={1,2}"
        );
    }
}
