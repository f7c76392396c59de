//! The recording proxy and the pgbench scripts made from its recordings, on real
//! PostgreSQL and a real pgbench: what diesel-async binds is recorded and decoded to text
//! that PostgreSQL reads back as the same value; a recorded write replays in pgbench with
//! fresh ids and e-mail addresses in every transaction; a recorded read replays and
//! reports its latencies.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::pg::Pg;
use diesel::pg::data_types::PgInterval;
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Date, Double, Float, Int2, Int4, Int8, Interval, Json, Jsonb, Nullable, Numeric, Oid,
    Text, Time, Timestamp, Timestamptz, Uuid,
};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use partnerdesk_testkit::TestDb;
use partnerdesk_testkit::pgbench::{Script, run_pgbench};
use partnerdesk_testkit::pgwire::{Executed, Recorder, TypeNames};
use rust_decimal::Decimal;
use std::io::Write as _;
use std::str::FromStr;

#[derive(QueryableByName)]
struct Texts {
    #[diesel(sql_type = Array<Nullable<Text>>)]
    v: Vec<Option<String>>,
}

#[derive(QueryableByName)]
struct OneText {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

/// Types diesel has no SQL type for, bound as raw binary values.
macro_rules! raw_types {
    ($($name:ident = $oid:literal / $array:literal),+ $(,)?) => {$(
        #[derive(diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
        #[diesel(postgres_type(oid = $oid, array_oid = $array))]
        struct $name;
        impl ToSql<$name, Pg> for Raw {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
                out.write_all(&self.0)?;
                Ok(IsNull::No)
            }
        }
    )+};
}

#[derive(Debug)]
struct Raw(Vec<u8>);

raw_types!(
    Varchar = 1043 / 1015,
    Bpchar = 1042 / 1014,
    Name = 19 / 1003,
    PgChar = 18 / 1002,
    Inet = 869 / 1041,
    Cidr = 650 / 651,
    TimeTz = 1266 / 1270,
    RawNumeric = 1700 / 1231,
);

/// numeric's binary format: ndigits, weight, sign, dscale, base-10000 digits.
fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Raw {
    let mut v = (digits.len() as i16).to_be_bytes().to_vec();
    v.extend(weight.to_be_bytes());
    v.extend(sign.to_be_bytes());
    v.extend(dscale.to_be_bytes());
    digits.iter().for_each(|d| v.extend(d.to_be_bytes()));
    Raw(v)
}

/// An enum and a domain created in the test database, found by name.
#[derive(diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(name = "bench_mood"))]
struct Mood;

#[derive(diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(name = "bench_email"))]
struct Email;

#[derive(Debug)]
struct Label(&'static str);

impl ToSql<Mood, Pg> for Label {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl ToSql<Email, Pg> for Label {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

/// Runs `SELECT ARRAY[$1::text, ...]::text[]` with these binds: PostgreSQL's own text
/// rendering of every bound value. Evaluates to (the SQL, the renderings).
macro_rules! select_texts {
    ($conn:expr, $( ($st:ty, $value:expr) ),+ $(,)?) => {{
        let n = [$(stringify!($st)),+].len();
        let columns: Vec<String> = (1..=n).map(|i| format!("${i}::text")).collect();
        let sql = format!("SELECT ARRAY[{}]::text[] AS v", columns.join(", "));
        let query = sql_query(sql.clone());
        $( let query = query.bind::<$st, _>($value); )+
        let row: Texts = query.get_result($conn).await.expect(&sql);
        (sql, row.v)
    }};
}

/// The statement `sql` was recorded once, right away (no waiting), with parameters that
/// decode to `expected`; and each decoded text, cast back to the parameter's type by
/// PostgreSQL, renders as the value that was bound (`rendered`).
async fn check(
    recorded: &[Executed],
    types: &TypeNames,
    direct: &mut AsyncPgConnection,
    sql: &str,
    rendered: &[Option<String>],
    expected: &[Option<&str>],
) {
    let matching: Vec<&Executed> = recorded.iter().filter(|e| e.sql == sql).collect();
    assert_eq!(matching.len(), 1, "{sql} in {recorded:#?}");
    let params = &matching[0].params;
    assert_eq!(params.len(), expected.len(), "{sql}");
    for (i, param) in params.iter().enumerate() {
        assert!(param.binary, "diesel-async binds in binary: {param:?}");
        let text = param.to_text(types).unwrap_or_else(|e| panic!("${}: {e}", i + 1));
        assert_eq!(text.as_deref(), expected[i], "${} of {sql}", i + 1);
        let cast = types.cast_name(param.oid).unwrap();
        let back: OneText = sql_query(format!("SELECT ($1::text::{cast})::text AS v"))
            .bind::<Nullable<Text>, _>(&text)
            .get_result(&mut *direct)
            .await
            .unwrap_or_else(|e| panic!("{text:?}::{cast}: {e}"));
        assert_eq!(back.v, rendered[i], "${} ({cast}) read back", i + 1);
    }
}

fn ts(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
}

fn tstz(s: &str) -> DateTime<Utc> {
    ts(s).and_utc()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).or_else(|_| Decimal::from_scientific(s)).unwrap()
}

async fn recorded_database() -> (TestDb, AsyncPgConnection, TypeNames, Recorder, AsyncPgConnection) {
    let db = TestDb::new().await;
    let mut direct = AsyncPgConnection::establish(&db.url).await.unwrap();
    direct
        .batch_execute(
            "CREATE TYPE bench_mood AS ENUM ('happy', 'so-so', 'it''s \"fine\"');
             CREATE DOMAIN bench_email AS text CHECK (VALUE LIKE '%@%');
             CREATE TABLE bench_signup (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, plan text NOT NULL,
                                        created_at timestamptz NOT NULL, note text)",
        )
        .await
        .unwrap();
    let types = TypeNames::load(&db.url).await.unwrap();
    let (recorder, url) = Recorder::for_url(&db.url).await.unwrap();
    let through = AsyncPgConnection::establish(&url).await.unwrap();
    let setup = recorder.take();
    assert!(
        setup.iter().any(|e| e.sql == "SET TIME ZONE 'UTC'"),
        "diesel-async's connection setup is recorded: {setup:#?}"
    );
    (db, direct, types, recorder, through)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_values_are_recorded_and_decode_to_what_was_bound() {
    let (_db, mut direct, types, recorder, mut conn) = recorded_database().await;
    let conn = &mut conn;

    let tricky = "it's a \"test\" \\ back\\slash;\nsecond line :x $1";
    let (sql, rendered) = select_texts!(
        conn,
        (Bool, true),
        (Nullable<Bool>, None::<bool>),
        (Bytea, vec![0u8, 1, 0xfe, b'\\']),
        (Int2, -32768i16),
        (Int4, 0),
        (Int8, i64::MAX),
        (Oid, u32::MAX),
        (Text, tricky),
        (Text, ""),
        (Float, 1.5e-7f32),
        (Double, -0.1f64),
        (Double, f64::NAN),
        (Double, f64::INFINITY),
        (Json, serde_json::json!({"a": [1, "x:y"]})),
        (Jsonb, serde_json::json!({"b": null})),
    );
    let expected = [
        Some("t"),
        None,
        Some("\\x0001fe5c"),
        Some("-32768"),
        Some("0"),
        Some("9223372036854775807"),
        Some("4294967295"),
        Some(tricky),
        Some(""),
        Some("1.5e-07"),
        Some("-0.1"),
        Some("NaN"),
        Some("Infinity"),
        Some("{\"a\":[1,\"x:y\"]}"),
        Some("{\"b\":null}"),
    ];
    check(&recorder.take(), &types, &mut direct, &sql, &rendered, &expected).await;

    let mut v6 = vec![3, 128, 0, 16, 0x20, 0x01, 0x0d, 0xb8];
    v6.extend([0; 11]);
    v6.push(1);
    let mut timetz = 45_296_000_001i64.to_be_bytes().to_vec();
    timetz.extend((-7200i32).to_be_bytes());
    let (sql, rendered) = select_texts!(
        conn,
        (Varchar, Raw(b"var char".to_vec())),
        (Bpchar, Raw(b"pad  ".to_vec())),
        (Name, Raw(b"a_name".to_vec())),
        (PgChar, Raw(b"q".to_vec())),
        (Inet, Raw(vec![2, 24, 0, 4, 192, 168, 1, 7])),
        (Inet, Raw(v6)),
        (Cidr, Raw(vec![2, 16, 1, 4, 10, 1, 0, 0])),
        (TimeTz, Raw(timetz)),
        (Mood, Label("it's \"fine\"")),
        (Nullable<Mood>, None::<Label>),
        (Email, Label("someone@example.com")),
    );
    let expected = [
        Some("var char"),
        Some("pad  "),
        Some("a_name"),
        Some("q"),
        Some("192.168.1.7/24"),
        Some("2001:db8::1"),
        Some("10.1.0.0/16"),
        Some("12:34:56.000001+02:00:00"),
        Some("it's \"fine\""),
        None,
        Some("someone@example.com"),
    ];
    check(&recorder.take(), &types, &mut direct, &sql, &rendered, &expected).await;

    let (sql, rendered) = select_texts!(
        conn,
        (Date, NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        (Date, NaiveDate::from_ymd_opt(-43, 3, 15).unwrap()),
        (Time, NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap()),
        (Timestamp, ts("1999-12-31 23:59:59.5")),
        (Timestamptz, tstz("2024-02-29 13:45:07.123456")),
        (Nullable<Timestamptz>, None::<DateTime<Utc>>),
        (
            Interval,
            PgInterval {
                microseconds: -14_706_500_000,
                days: 3,
                months: 14
            }
        ),
        (
            Interval,
            PgInterval {
                microseconds: 0,
                days: 0,
                months: 0
            }
        ),
    );
    let expected = [
        Some("2024-02-29"),
        Some("0044-03-15 BC"),
        Some("23:59:59.999999"),
        Some("1999-12-31 23:59:59.500000"),
        Some("2024-02-29 13:45:07.123456+00"),
        None,
        Some("1 year 2 mons 3 days -04:05:06.5"),
        Some("00:00:00"),
    ];
    check(&recorder.take(), &types, &mut direct, &sql, &rendered, &expected).await;

    let (sql, rendered) = select_texts!(
        conn,
        (Numeric, dec("-12345.6789")),
        (Numeric, dec("0.00")),
        (RawNumeric, numeric(0, 0, 2, &[])),
        (RawNumeric, numeric(0, 0xC000, 0, &[])),
        (RawNumeric, numeric(-1, 0x4000, 6, &[12, 3400])),
        (Numeric, dec("1e-10")),
        (Numeric, dec("123456789012345678.123456")),
        (Numeric, dec("10000")),
        (Nullable<Numeric>, None::<Decimal>),
        (BigInt, -1i64),
    );
    let expected = [
        Some("-12345.6789"),
        // rust_decimal sends a zero without its scale; PostgreSQL reads 0.
        Some("0"),
        Some("0.00"),
        Some("NaN"),
        Some("-0.001234"),
        Some("0.0000000001"),
        Some("123456789012345678.123456"),
        Some("10000"),
        None,
        Some("-1"),
    ];
    check(&recorder.take(), &types, &mut direct, &sql, &rendered, &expected).await;

    let id = uuid::Uuid::parse_str("0191e4f5-7b3c-7d2e-9a1b-2c3d4e5f6a7b").unwrap();
    let (sql, rendered) = select_texts!(
        conn,
        (Uuid, id),
        (Array<Int4>, Vec::<i32>::new()),
        (
            Array<Nullable<Text>>,
            vec![
                Some("plain"),
                None,
                Some("a \"q\""),
                Some("b\\c"),
                Some(""),
                Some("null"),
                Some("x,{y}"),
                Some(" lead")
            ]
        ),
        (Array<Uuid>, vec![id, id]),
        (Array<Numeric>, vec![dec("-1.50"), dec("2")]),
        (Array<Timestamptz>, vec![tstz("2024-02-29 13:45:07.123456")]),
        (Array<Bytea>, vec![vec![0xab_u8]]),
        (Array<Mood>, vec![Label("happy"), Label("it's \"fine\"")]),
        (Array<Varchar>, vec![Raw(b"v".to_vec())]),
    );
    let expected = [
        Some("0191e4f5-7b3c-7d2e-9a1b-2c3d4e5f6a7b"),
        Some("{}"),
        Some(r#"{plain,NULL,"a \"q\"","b\\c","","null","x,{y}"," lead"}"#),
        Some("{0191e4f5-7b3c-7d2e-9a1b-2c3d4e5f6a7b,0191e4f5-7b3c-7d2e-9a1b-2c3d4e5f6a7b}"),
        Some("{-1.50,2}"),
        Some(r#"{"2024-02-29 13:45:07.123456+00"}"#),
        Some(r#"{"\\xab"}"#),
        Some(r#"{happy,"it's \"fine\""}"#),
        Some("{v}"),
    ];
    check(&recorder.take(), &types, &mut direct, &sql, &rendered, &expected).await;

    assert_eq!(types.cast_name(2951).unwrap(), "uuid[]");
    assert_eq!(types.cast_name(1184).unwrap(), "timestamptz");
    assert!(types.cast_name(4_000_000_000).unwrap_err().0.contains("4000000000"));
    assert!(recorder.problems().is_empty(), "{:?}", recorder.problems());
}

const INSERT: &str = "INSERT INTO bench_signup (id, email, plan, created_at) VALUES ($1, $2, $3, $4)";
const NOTE: &str = "UPDATE bench_signup SET note = $1 WHERE id = $2";

/// One sign-up, as the application would write it: a transaction of an INSERT and an
/// UPDATE of the same new row.
async fn sign_up(conn: &mut AsyncPgConnection, id: uuid::Uuid, email: &str, at: DateTime<Utc>) {
    let email = email.to_owned();
    conn.transaction::<_, diesel::result::Error, _>(async move |c| {
        sql_query(INSERT)
            .bind::<Uuid, _>(id)
            .bind::<Text, _>(email)
            .bind::<Text, _>("trial")
            .bind::<Timestamptz, _>(at)
            .execute(c)
            .await?;
        sql_query(NOTE)
            .bind::<Text, _>("signed up at 12:53, 'quoted'")
            .bind::<Uuid, _>(id)
            .execute(c)
            .await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[derive(QueryableByName, Debug)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    rows: i64,
    #[diesel(sql_type = BigInt)]
    ids: i64,
    #[diesel(sql_type = BigInt)]
    emails: i64,
    #[diesel(sql_type = BigInt)]
    noted: i64,
    #[diesel(sql_type = BigInt)]
    at_a: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_write_replays_with_fresh_values_in_every_transaction() {
    let (db, mut direct, types, recorder, mut conn) = recorded_database().await;
    let at_a = tstz("2024-05-01 12:53:07.25");
    sign_up(&mut conn, uuid::Uuid::new_v4(), "first@example.com", at_a).await;
    let a = recorder.take();
    sign_up(
        &mut conn,
        uuid::Uuid::new_v4(),
        "second@example.com",
        tstz("2024-05-02 08:00:00"),
    )
    .await;
    let b = recorder.take();
    let sqls: Vec<&str> = a.iter().map(|e| e.sql.as_str()).collect();
    assert_eq!(sqls, ["BEGIN", INSERT, NOTE, "COMMIT"]);

    let script = Script::from_requests_with_fresh(&[a], &[b], &types).unwrap();
    assert_eq!(script.statements(), 4);
    let text = script.text();
    assert!(
        text.starts_with("SELECT gen_random_uuid() AS f1, md5(random()::text) || '@bench.example' AS f2 \\gset\n"),
        "{text}"
    );
    assert!(
        text.contains("VALUES (:f1::uuid, :f2::text, :v1::text, :v2::timestamptz);"),
        "{text}"
    );
    assert!(text.contains("WHERE id = :f1::uuid;"), "{text}");
    assert_eq!(
        script.defines(),
        [
            "-Dv1=trial",
            "-Dv2=2024-05-01 12:53:07.250000+00",
            "-Dv3=signed up at 12:53, 'quoted'"
        ]
    );

    let report = run_pgbench(&db.url, &script, 4, 2, 2).await.unwrap();
    assert!(report.transactions > 0 && report.failed == 0, "{report:?}");
    assert!(
        report.tps > 0.0 && report.p50_ms <= report.p95_ms && report.p95_ms <= report.p99_ms,
        "{report:?}"
    );
    let counts: Counts = sql_query(
        "SELECT count(*) AS rows, count(DISTINCT id) AS ids, count(DISTINCT email) AS emails,
                count(*) FILTER (WHERE note = 'signed up at 12:53, ''quoted''') AS noted,
                count(*) FILTER (WHERE created_at = $1) AS at_a
           FROM bench_signup",
    )
    .bind::<Timestamptz, _>(at_a)
    .get_result(&mut direct)
    .await
    .unwrap();
    let rows = report.transactions as i64 + 2;
    assert_eq!(counts.rows, rows, "{counts:?} after {report:?}");
    assert_eq!(
        (counts.ids, counts.emails, counts.noted),
        (rows, rows, rows),
        "{counts:?}"
    );
    assert_eq!(counts.at_a, rows - 1, "timestamps stay recording a's: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_read_replays_and_reports_its_latencies() {
    let (db, _direct, types, recorder, mut conn) = recorded_database().await;
    sign_up(
        &mut conn,
        uuid::Uuid::new_v4(),
        "reader@example.com",
        tstz("2024-05-01 12:53:07"),
    )
    .await;
    recorder.take();

    // A second client through the same recorder is told apart.
    let url = recorder.proxied_url(&db.url).unwrap();
    let mut other = AsyncPgConnection::establish(&url).await.unwrap();
    recorder.take();
    let read = "SELECT email AS v FROM bench_signup WHERE created_at <= $1 AND email LIKE $2 ORDER BY id LIMIT $3";
    let row: OneText = sql_query(read)
        .bind::<Timestamptz, _>(tstz("2024-06-01 00:00:00"))
        .bind::<Text, _>("%@example.com")
        .bind::<BigInt, _>(10)
        .get_result(&mut other)
        .await
        .unwrap();
    assert_eq!(row.v.as_deref(), Some("reader@example.com"));
    let recorded = recorder.take();
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0].connection, 2);

    let script = Script::from_requests(&[recorded], &types).unwrap();
    assert_eq!(script.statements(), 1);
    assert_eq!(
        script.text(),
        "SELECT email AS v FROM bench_signup WHERE created_at <= :v1::timestamptz AND email LIKE :v2::text \
         ORDER BY id LIMIT :v3::int8;\n"
    );
    let report = run_pgbench(&db.url, &script, 2, 1, 1).await.unwrap();
    assert!(report.transactions > 0 && report.tps > 0.0, "{report:?}");
    assert!(
        report.p50_ms > 0.0 && report.p50_ms <= report.p95_ms && report.p95_ms <= report.p99_ms,
        "{report:?}"
    );
    assert_eq!(report.failed, 0);
}
