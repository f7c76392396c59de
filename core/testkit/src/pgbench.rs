//! pgbench scripts from recorded statements ([`super::pgwire::Recorder`]), and a runner
//! that reports latency percentiles over every transaction.
//!
//! A [`Script`] is one pgbench transaction that replays the statements of one or more
//! recorded requests, in order. Parameters stay parameters: each `$n` becomes a pgbench
//! variable with an explicit cast (`:v17::uuid`), its value passed on the command line
//! (`-Dv17=...`, see [`Script::defines`]); with `-M prepared` pgbench prepares each
//! statement once per connection and binds the values as text, as the application binds
//! its own. A NULL is written inline (`NULL::uuid`). Nothing else is inlined: pgbench
//! takes any `:name` in a statement's text for a variable (it does not skip quoted
//! strings), so a statement whose own SQL holds such a `:name` is refused.
//!
//! For writes, [`Script::from_requests_with_fresh`] compares two recordings of the same
//! operation and gives the values that differ between them (a new row's id, a unique
//! e-mail address) a fresh value in each transaction, drawn by one extra statement at
//! the start of the transaction: `SELECT gen_random_uuid() AS f1, ... \gset`. That
//! statement is pgbench's own overhead, one round trip per transaction that the
//! application does not make.
//!
//! Values the server makes during the transaction (`RETURNING` a default or a sequence
//! value, then used by a later statement) cannot follow: the later statement replays
//! with a constant or a fresh value of its own. Partnerdesk's ids are made by the
//! application, so its writes do not meet this.
//!
//! # Example
//! ```no_run
//! use partnerdesk_testkit::{Recorder, Script, TypeNames, WireError, run_pgbench};
//!
//! # async fn bench(database_url: &str) -> Result<(), WireError> {
//! let types = TypeNames::load(database_url).await?;
//! let (recorder, proxied_url) = Recorder::for_url(database_url).await?;
//! // Start the application with `proxied_url`, warm it up (its connections' setup is
//! // recorded too), then record one request:
//! recorder.take();
//! // ... send one request to the endpoint ...
//! let request = recorder.take();
//! let script = Script::from_requests(&[request], &types)?;
//! let report = run_pgbench(database_url, &script, 16, 2, 10).await?;
//! println!("{:.0} tps, p50 {:.2} ms, p99 {:.2} ms", report.tps, report.p50_ms, report.p99_ms);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::pgtypes::{Result, TypeNames, WireError, fail};
use super::pgwire::{Executed, Param};

/// The most variables pgbench accepts in one statement (`MAX_ARGS - 1`).
const MAX_VARIABLES: usize = 255;

/// One pgbench transaction script and the variables it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    text: String,
    defines: Vec<(String, String)>,
    statements: usize,
    planned_each_time: bool,
}

/// How a fresh value is drawn in each transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Uuid,
    /// An array of this many new uuids (the ids of rows a statement makes at once).
    Uuids(usize),
    /// Text of about this many characters (at least 12); an e-mail address when the
    /// recorded value held an `@`.
    Text {
        len: usize,
        email: bool,
    },
    /// An integer of this many bits.
    Int(u8),
}

impl Fresh {
    /// The kind of fresh value for a parameter of this type, if its type is one that
    /// identifies a row (uuid, text-like, integers). A bytea is a payload, not an
    /// identity (a job's JSON, say, which must stay JSON): it stays as recorded.
    fn for_type(types: &TypeNames, oid: u32, text: &str) -> Option<Fresh> {
        match types.base_type(oid) {
            2950 => Some(Fresh::Uuid),
            2951 if text.len() > 2 => Some(Fresh::Uuids(text.matches(',').count() + 1)),
            21 => Some(Fresh::Int(16)),
            23 => Some(Fresh::Int(32)),
            20 => Some(Fresh::Int(64)),
            oid if types.is_string_like(oid) && !types.is_enum(oid) => Some(Fresh::Text {
                len: text.chars().count(),
                email: text.contains('@'),
            }),
            _ => None,
        }
    }

    /// The SQL expression that draws one value.
    fn expression(self) -> String {
        match self {
            Fresh::Uuid => "gen_random_uuid()".to_owned(),
            Fresh::Uuids(n) => format!("(SELECT array_agg(gen_random_uuid()) FROM generate_series(1, {n}))"),
            Fresh::Text { email: true, .. } => "md5(random()::text) || '@bench.example'".to_owned(),
            Fresh::Text { len, .. } => {
                let len = len.max(12);
                format!("left(repeat(md5(random()::text), {}), {len})", len.div_ceil(32))
            }
            Fresh::Int(16) => "(1 + random() * 32766)::int2".to_owned(),
            Fresh::Int(32) => "(1 + random() * 2147483646)::int4".to_owned(),
            Fresh::Int(_) => "(1 + random() * 1e15)::int8".to_owned(),
        }
    }

    /// Of two kinds seen for the same value, the one that fits both positions.
    fn narrower(self, other: Fresh) -> Fresh {
        match (self, other) {
            (Fresh::Int(a), Fresh::Int(b)) => Fresh::Int(a.min(b)),
            _ => self,
        }
    }
}

/// Builds the script's text, naming constants and fresh values as it goes.
struct Builder<'t> {
    types: &'t TypeNames,
    /// Constant text → variable name.
    constants: HashMap<String, String>,
    defines: Vec<(String, String)>,
    /// Recorded text of a fresh value → (variable name, how to draw it).
    fresh: HashMap<String, (String, Fresh)>,
    fresh_order: Vec<String>,
    body: String,
    statements: usize,
    planned_each_time: bool,
}

impl<'t> Builder<'t> {
    fn new(types: &'t TypeNames) -> Self {
        Builder {
            types,
            constants: HashMap::new(),
            defines: Vec::new(),
            fresh: HashMap::new(),
            fresh_order: Vec::new(),
            body: String::new(),
            statements: 0,
            planned_each_time: false,
        }
    }

    /// Marks a recorded value as fresh in every transaction.
    fn mark_fresh(&mut self, text: &str, kind: Fresh) {
        if let Some((_, existing)) = self.fresh.get_mut(text) {
            *existing = existing.narrower(kind);
            return;
        }
        let name = format!("f{}", self.fresh.len() + 1);
        self.fresh.insert(text.to_owned(), (name, kind));
        self.fresh_order.push(text.to_owned());
    }

    /// The variable for a value: its fresh variable, else a constant (one per distinct
    /// text).
    fn variable(&mut self, text: &str) -> Result<String> {
        if let Some((name, _)) = self.fresh.get(text) {
            return Ok(name.clone());
        }
        if let Some(name) = self.constants.get(text) {
            return Ok(name.clone());
        }
        if text.contains('\0') {
            return fail("a parameter value holds a NUL byte, which a command-line argument cannot carry");
        }
        let name = format!("v{}", self.constants.len() + 1);
        self.constants.insert(text.to_owned(), name.clone());
        self.defines.push((name.clone(), text.to_owned()));
        Ok(name)
    }

    /// Appends one recorded statement.
    fn statement(&mut self, index: usize, executed: &Executed) -> Result<()> {
        self.planned_each_time |= executed.parsed_for_it;
        let sql = executed.sql.trim();
        if sql.is_empty() {
            if executed.params.is_empty() {
                return Ok(());
            }
            return fail(format!("statement {index} has parameters but no SQL"));
        }
        if let Some(name) = pgbench_variables(sql).first() {
            return fail(format!(
                "statement {index} holds `:{name}`, which pgbench would take for a variable; \
                 it cannot be replayed with pgbench: {sql}"
            ));
        }
        let mut references = Vec::new();
        for param in &executed.params {
            references.push(self.reference(param)?);
        }
        let replaced =
            replace_parameters(sql, &references).map_err(|e| WireError(format!("statement {index}: {e}: {sql}")))?;
        let variables = pgbench_variables(&replaced).len();
        if variables > MAX_VARIABLES {
            return fail(format!(
                "statement {index} needs {variables} variables; pgbench takes at most {MAX_VARIABLES}"
            ));
        }
        self.body.push_str(&replaced);
        let last_line = replaced.lines().last().unwrap_or_default();
        if !replaced.ends_with(';') {
            // A `;` after a trailing comment would be commented out.
            self.body.push_str(if last_line.contains("--") { "\n;" } else { ";" });
        }
        self.body.push('\n');
        self.statements += 1;
        Ok(())
    }

    /// What replaces one parameter: `:v3::uuid`, or `NULL::uuid`.
    fn reference(&mut self, param: &Param) -> Result<String> {
        let cast = match param.oid {
            0 => String::new(),
            oid => format!("::{}", self.types.cast_name(oid)?),
        };
        match param.to_text(self.types)? {
            None => Ok(format!("NULL{cast}")),
            Some(text) => Ok(format!(":{}{cast}", self.variable(&text)?)),
        }
    }

    fn finish(self) -> Script {
        let mut text = String::new();
        if !self.fresh_order.is_empty() {
            let columns: Vec<String> = self
                .fresh_order
                .iter()
                .map(|value| {
                    let (name, kind) = &self.fresh[value];
                    format!("{} AS {name}", kind.expression())
                })
                .collect();
            let _ = writeln!(text, "SELECT {} \\gset", columns.join(", "));
        }
        text.push_str(&self.body);
        Script {
            text,
            defines: self.defines,
            statements: self.statements,
            planned_each_time: self.planned_each_time,
        }
    }
}

impl Script {
    /// One transaction that replays, in order, every statement of these recorded
    /// requests (each a `Recorder::take()`), with every parameter as a constant.
    pub fn from_requests(requests: &[Vec<Executed>], types: &TypeNames) -> Result<Script> {
        let mut builder = Builder::new(types);
        for (i, executed) in requests.iter().flatten().enumerate() {
            builder.statement(i + 1, executed)?;
        }
        Ok(builder.finish())
    }

    /// Like [`Script::from_requests`] for a write, from two recordings of the same
    /// operation made with different inputs. A uuid, text-like or integer
    /// parameter whose value differs between `a` and `b` at the same position is drawn
    /// anew in each transaction, and so is every other occurrence of `a`'s value of it
    /// (as a parameter of any statement). Other differing values (timestamps, say) keep
    /// `a`'s value. The two must have the same statements in the same order.
    pub fn from_requests_with_fresh(a: &[Vec<Executed>], b: &[Vec<Executed>], types: &TypeNames) -> Result<Script> {
        let a: Vec<&Executed> = a.iter().flatten().collect();
        let b: Vec<&Executed> = b.iter().flatten().collect();
        same_shape(&a, &b)?;
        let mut builder = Builder::new(types);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            for (j, (p, q)) in x.params.iter().zip(&y.params).enumerate() {
                let (Some(pa), pb) = (p.to_text(types)?, q.to_text(types)?) else {
                    continue;
                };
                if Some(&pa) == pb.as_ref() {
                    continue;
                }
                if let Some(kind) = Fresh::for_type(types, p.oid, &pa) {
                    tracing::debug!(statement = i + 1, param = j + 1, ?kind, "fresh per transaction");
                    builder.mark_fresh(&pa, kind);
                }
            }
        }
        for (i, executed) in a.iter().enumerate() {
            builder.statement(i + 1, executed)?;
        }
        Ok(builder.finish())
    }

    /// pgbench's query mode for the script: `prepared` when every statement was executed
    /// from one the client keeps prepared, else `extended` (one was parsed, and so
    /// planned, for its execution: pgbench then does so for every statement, rather
    /// than replay it on a plan made for other values).
    pub fn mode(&self) -> &'static str {
        if self.planned_each_time { "extended" } else { "prepared" }
    }

    /// The script's text, as pgbench reads it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `-D` arguments pgbench needs, each one whole argument (`-Dv1=value`).
    pub fn defines(&self) -> Vec<String> {
        self.defines.iter().map(|(k, v)| format!("-D{k}={v}")).collect()
    }

    /// How many recorded statements one transaction replays (a simple query holding
    /// several statements counts once; the `\gset` of fresh values is not counted).
    pub fn statements(&self) -> usize {
        self.statements
    }

    /// Writes the script into `dir` (named after its contents) and returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.text.hash(&mut hasher);
        let path = dir.join(format!("pgbench-{:016x}.sql", hasher.finish()));
        std::fs::write(&path, &self.text).map_err(|e| WireError(format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }
}

/// The two recordings run the same statements, in the same order, with as many
/// parameters each.
fn same_shape(a: &[&Executed], b: &[&Executed]) -> Result<()> {
    if a.len() != b.len() {
        return fail(format!(
            "the two recordings differ in shape: {} statements against {}",
            a.len(),
            b.len()
        ));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x.sql != y.sql || x.params.len() != y.params.len() {
            return fail(format!(
                "the two recordings differ in shape at statement {}: `{}` ({} parameters) against `{}` ({} parameters)",
                i + 1,
                x.sql,
                x.params.len(),
                y.sql,
                y.params.len()
            ));
        }
    }
    Ok(())
}

/// The names pgbench would take for variables in a command's text: `:name` anywhere
/// (quotes are not skipped), where a `::` cast is passed over. Mirrors `parseQuery` and
/// `parseVariable` of pgbench.c.
pub fn pgbench_variables(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let start_char = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
    let name_char = |b: u8| start_char(b) || b.is_ascii_digit();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b':' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1).is_some_and(|&b| start_char(b)) {
            let end = (i + 1..bytes.len())
                .find(|&j| !name_char(bytes[j]))
                .unwrap_or(bytes.len());
            names.push(String::from_utf8_lossy(&bytes[i + 1..end]).into_owned());
            i = end;
        } else {
            while bytes.get(i) == Some(&b':') {
                i += 1;
            }
        }
    }
    names
}

/// Replaces each `$n` outside string literals, quoted identifiers, dollar quotes and
/// comments by `references[n - 1]` (in parentheses when a subscript follows).
pub fn replace_parameters(sql: &str, references: &[String]) -> Result<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len() + 16 * references.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == '$');
        let skip_to = match c {
            '\'' => quoted_end(&chars, i, '\'', i > 0 && matches!(chars[i - 1], 'e' | 'E')),
            '"' => quoted_end(&chars, i, '"', false),
            '-' if chars.get(i + 1) == Some(&'-') => {
                (i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len())
            }
            '/' if chars.get(i + 1) == Some(&'*') => comment_end(&chars, i),
            '$' if !prev_ident && chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                let end = (i + 1..chars.len())
                    .find(|&j| !chars[j].is_ascii_digit())
                    .unwrap_or(chars.len());
                let n: usize = chars[i + 1..end].iter().collect::<String>().parse().unwrap_or(0);
                let Some(reference) = n.checked_sub(1).and_then(|k| references.get(k)) else {
                    return fail(format!(
                        "${n} refers to no bound parameter ({} bound)",
                        references.len()
                    ));
                };
                if chars.get(end) == Some(&'[') {
                    let _ = write!(out, "({reference})");
                } else {
                    out.push_str(reference);
                }
                i = end;
                continue;
            }
            '$' if !prev_ident => dollar_quote_end(&chars, i).unwrap_or(i + 1),
            _ => i + 1,
        };
        out.extend(&chars[i..skip_to.max(i + 1)]);
        i = skip_to.max(i + 1);
    }
    Ok(out)
}

/// The index after a quoted string or identifier that starts at `start` (a doubled quote
/// is part of it; a backslash escapes in an `E'...'` string).
fn quoted_end(chars: &[char], start: usize, quote: char, backslashes: bool) -> usize {
    let mut j = start + 1;
    while j < chars.len() {
        if backslashes && chars[j] == '\\' {
            j += 2;
            continue;
        }
        if chars[j] == quote {
            if chars.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    chars.len()
}

/// The index after a (nested) block comment that starts at `start`.
fn comment_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut j = start;
    while j + 1 < chars.len() {
        match (chars[j], chars[j + 1]) {
            ('/', '*') => {
                depth += 1;
                j += 2;
            }
            ('*', '/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    chars.len()
}

/// The index after a dollar-quoted string (`$$...$$`, `$tag$...$tag$`) that starts at
/// `start`, if one does.
fn dollar_quote_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if chars.get(j) != Some(&'$') || chars.get(start + 1).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let tag: Vec<char> = chars[start..=j].to_vec();
    let body = j + 1;
    (body..chars.len())
        .find(|&k| chars[k..].starts_with(&tag))
        .map(|k| k + tag.len())
        .or(Some(chars.len()))
}

/// What one pgbench run measured. The percentiles are over every transaction of the
/// run (from pgbench's per-transaction log), in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PgbenchReport {
    /// Transactions per second, without the initial connection time.
    pub tps: f64,
    /// Transactions completed.
    pub transactions: u64,
    /// Transactions that failed (a run with any is reported as an error instead).
    pub failed: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Runs `script` with pgbench for `seconds`: `-n -M <Script::mode> -c clients -j threads`,
/// logging every transaction's latency. Fails with pgbench's output when it exits
/// non-zero, when a client aborted, or when any transaction failed.
///
/// Like the application's connections (tokio-postgres without TLS, time zone UTC),
/// pgbench's connect without TLS and with `TimeZone=UTC`, unless `PGSSLMODE` / `PGTZ`
/// are set in the environment or the URL says otherwise.
pub async fn run_pgbench(
    database_url: &str,
    script: &Script,
    clients: u32,
    threads: u32,
    seconds: u32,
) -> Result<PgbenchReport> {
    let io = |what: &str, e: std::io::Error| WireError(format!("{what}: {e}"));
    let dir = tempfile::tempdir().map_err(|e| io("temporary directory", e))?;
    let path = script.write_to(dir.path())?;
    let clients = clients.max(1);
    let mut command = tokio::process::Command::new(find_pgbench()?);
    command
        .args(["-n", "-M", script.mode()])
        .arg(format!("--client={clients}"))
        .arg(format!("--jobs={}", threads.clamp(1, clients)))
        .arg(format!("--time={}", seconds.max(1)))
        .arg("--file")
        .arg(&path)
        .arg("--log")
        .arg(format!("--log-prefix={}", dir.path().join("tx").display()))
        .args(script.defines())
        .arg(database_url)
        .kill_on_drop(true);
    for (var, value) in [("PGSSLMODE", "disable"), ("PGTZ", "UTC")] {
        if std::env::var_os(var).is_none() {
            command.env(var, value);
        }
    }
    let output = command.output().await.map_err(|e| io("running pgbench", e))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = parse_summary(&stdout);
    let refused = !output.status.success() || summary.as_ref().is_ok_and(|s| s.failed > 0);
    if refused || stderr.contains("aborted") {
        return fail(format!(
            "pgbench failed ({}):\n{stderr}\n{stdout}\nscript:\n{}",
            output.status,
            script.text()
        ));
    }
    let summary = summary?;
    let mut latencies = read_logs(dir.path())?;
    if latencies.is_empty() {
        return fail(format!("pgbench logged no transaction:\n{stdout}"));
    }
    latencies.sort_unstable();
    let ms = |p: f64| percentile(&latencies, p) as f64 / 1000.0;
    Ok(PgbenchReport {
        tps: summary.tps,
        transactions: summary.transactions,
        failed: summary.failed,
        p50_ms: ms(50.0),
        p95_ms: ms(95.0),
        p99_ms: ms(99.0),
    })
}

/// `PGBENCH`, else `pgbench` on `PATH`, else the newest `/usr/lib/postgresql/*/bin/pgbench`.
pub fn find_pgbench() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PGBENCH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("pgbench"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(found) = on_path.into_iter().find(|p| p.is_file()) {
        return Ok(found);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let path = e.path().join("bin/pgbench");
            path.is_file().then_some((version, path))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, path)) => Ok(path),
        None => fail("pgbench not found: set PGBENCH, put it on PATH, or install postgresql-client"),
    }
}

/// The figures of pgbench's closing summary.
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    tps: f64,
    transactions: u64,
    failed: u64,
}

fn parse_summary(stdout: &str) -> Result<Summary> {
    let number = |prefix: &str| -> Option<&str> {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
    };
    let transactions =
        number("number of transactions actually processed:").and_then(|n| n.split('/').next()?.parse().ok());
    let failed = number("number of failed transactions:").map_or(Some(0), |n| n.parse().ok());
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = ") && l.contains("without initial connection time"))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next()?.parse().ok());
    match (tps, transactions, failed) {
        (Some(tps), Some(transactions), Some(failed)) => Ok(Summary {
            tps,
            transactions,
            failed,
        }),
        _ => fail(format!("pgbench's summary did not parse:\n{stdout}")),
    }
}

/// Every transaction's latency in microseconds, from the per-transaction logs in `dir`
/// (`client_id transaction_no time script_no time_epoch time_us`; one file per
/// thread). A failed or skipped transaction, logged without a time, is left out.
fn read_logs(dir: &Path) -> Result<Vec<u64>> {
    let mut latencies = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| WireError(format!("reading pgbench's logs: {e}")))?;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("tx.") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())
            .map_err(|e| WireError(format!("reading {}: {e}", entry.path().display())))?;
        latencies.extend(parse_log(&text));
    }
    Ok(latencies)
}

fn parse_log(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.lines()
        .filter_map(|line| line.split_whitespace().nth(2)?.parse().ok())
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int4(n: i32) -> Param {
        Param {
            oid: 23,
            value: Some(n.to_be_bytes().to_vec()),
            binary: true,
        }
    }

    fn text(s: &str) -> Param {
        Param {
            oid: 25,
            value: Some(s.as_bytes().to_vec()),
            binary: true,
        }
    }

    fn uuid(u: u128) -> Param {
        Param {
            oid: 2950,
            value: Some(u.to_be_bytes().to_vec()),
            binary: true,
        }
    }

    fn exec(sql: &str, params: Vec<Param>) -> Executed {
        Executed {
            connection: 1,
            sql: sql.to_owned(),
            params,
            parsed_for_it: false,
        }
    }

    #[test]
    fn parameters_become_cast_variables() {
        let null = Param {
            oid: 2950,
            value: None,
            binary: true,
        };
        let request = vec![
            exec("BEGIN", vec![]),
            exec(
                "SELECT $1, $2 FROM t WHERE a = $1 AND b = ANY($3) AND c = $4",
                vec![int4(7), text("12:53 'x'"), Param { oid: 1007, ..int4(0) }, null],
            ),
            exec("UPDATE t SET n = $1 -- last", vec![int4(7)]),
            exec("COMMIT", vec![]),
        ];
        let mut array = Vec::new();
        for field in [1i32, 0, 23, 1, 1, 4, 5] {
            array.extend(field.to_be_bytes());
        }
        array.splice(20.., 4i32.to_be_bytes().into_iter().chain(5i32.to_be_bytes()));
        let mut request = request;
        request[1].params[2].value = Some(array);
        let script = Script::from_requests(&[request], &TypeNames::builtin()).unwrap();
        assert_eq!(
            script.text(),
            "BEGIN;\n\
             SELECT :v1::int4, :v2::text FROM t WHERE a = :v1::int4 AND b = ANY(:v3::int4[]) AND c = NULL::uuid;\n\
             UPDATE t SET n = :v1::int4 -- last\n;\n\
             COMMIT;\n"
        );
        assert_eq!(script.defines(), ["-Dv1=7", "-Dv2=12:53 'x'", "-Dv3={5}"]);
        assert_eq!(script.statements(), 4);
    }

    #[test]
    fn colons_that_pgbench_would_read_are_refused() {
        let types = TypeNames::builtin();
        let ok = exec("SELECT '12:53'::time, $1::int4[][1:2]", vec![int4(1)]);
        assert!(Script::from_requests(&[vec![ok]], &types).is_ok());
        let bad = exec("SELECT 'a:b' || $1", vec![text("x")]);
        let err = Script::from_requests(&[vec![bad]], &types).unwrap_err();
        assert!(err.0.contains(":b"), "{err}");
        assert_eq!(pgbench_variables("a::int + :x_1 + :: :9 :é"), ["x_1", "é"]);
    }

    #[test]
    fn dollar_references_skip_quotes_and_comments() {
        let refs: Vec<String> = (1..=11).map(|i| format!(":v{i}")).collect();
        let sql =
            "SELECT $1, '$2', \"$3\", E'\\'$4', $$ $5 $$, $q$ $6 $q$ /* $7 /* */ $8 */ -- $9\n, $10, a$11, $11[1]";
        assert_eq!(
            replace_parameters(sql, &refs).unwrap(),
            "SELECT :v1, '$2', \"$3\", E'\\'$4', $$ $5 $$, $q$ $6 $q$ /* $7 /* */ $8 */ -- $9\n, :v10, a$11, (:v11)[1]"
        );
        assert!(replace_parameters("SELECT $3", &refs[..2]).is_err());
    }

    #[test]
    fn values_that_differ_are_fresh_everywhere() {
        let types = TypeNames::builtin();
        let insert = "INSERT INTO u (id, email, n, at) VALUES ($1, $2, $3, $4)";
        let tz = |us: i64| Param {
            oid: 1184,
            value: Some(us.to_be_bytes().to_vec()),
            binary: true,
        };
        let a = vec![
            exec(insert, vec![uuid(1), text("a@x.example"), int4(5), tz(1)]),
            exec("UPDATE u SET k = $1 WHERE id = $2", vec![text("same"), uuid(1)]),
        ];
        let b = vec![
            exec(insert, vec![uuid(2), text("b@x.example"), int4(6), tz(2)]),
            exec("UPDATE u SET k = $1 WHERE id = $2", vec![text("same"), uuid(2)]),
        ];
        let script = Script::from_requests_with_fresh(std::slice::from_ref(&a), &[b], &types).unwrap();
        assert_eq!(
            script.text(),
            "SELECT gen_random_uuid() AS f1, md5(random()::text) || '@bench.example' AS f2, \
             (1 + random() * 2147483646)::int4 AS f3 \\gset\n\
             INSERT INTO u (id, email, n, at) VALUES (:f1::uuid, :f2::text, :f3::int4, :v1::timestamptz);\n\
             UPDATE u SET k = :v2::text WHERE id = :f1::uuid;\n"
        );
        assert_eq!(script.defines(), ["-Dv1=2000-01-01 00:00:00.000001+00", "-Dv2=same"]);
        let other = vec![exec("SELECT 1", vec![])];
        let err = Script::from_requests_with_fresh(&[a], &[other], &types).unwrap_err();
        assert!(err.0.contains("differ in shape"), "{err}");
    }

    #[test]
    fn summaries_and_logs_parse() {
        let stdout = "number of transactions actually processed: 38259\n\
                      number of failed transactions: 0 (0.000%)\n\
                      latency average = 0.052 ms\n\
                      tps = 38642.292903 (without initial connection time)\n";
        assert_eq!(
            parse_summary(stdout).unwrap(),
            Summary {
                tps: 38642.292903,
                transactions: 38259,
                failed: 0
            }
        );
        assert!(parse_summary("nothing").is_err());
        let log: Vec<u64> = parse_log("0 1 997 0 1796286226 130867\n0 2 failed 0 1796286226 130942\n").collect();
        assert_eq!(log, [997]);
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(
            [
                percentile(&sorted, 50.0),
                percentile(&sorted, 95.0),
                percentile(&sorted, 99.0)
            ],
            [50, 95, 99]
        );
        assert_eq!(percentile(&[7], 99.0), 7);
    }
}
