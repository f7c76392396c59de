//! A recording proxy for PostgreSQL's wire protocol (version 3).
//!
//! [`Recorder::start`] listens on 127.0.0.1 and forwards every client connection to
//! the upstream server, bytes unchanged in both directions. On the side it parses what
//! each client sends and records every statement executed: a simple query (`Q`) as its
//! SQL text, an extended-protocol execution (`Parse`/`Bind`/`Execute`) as the prepared
//! statement's SQL with the bound parameter values (type OID, format, raw bytes).
//! [`Recorder::take`] hands over what was recorded since the last take.
//!
//! # When a statement is visible
//! The proxy parses each chunk it reads from a client before writing that chunk to the
//! server. A statement is recorded as soon as its `Execute` (or `Query`) message is
//! complete, so it is recorded before the server can see it, let alone answer it: once
//! a client has its answer, a [`Recorder::take`] sees every statement of that answer.
//! Statements are recorded as the client asks for them: one the server then refuses, or
//! skips after an error earlier in the same pipeline, is recorded all the same.
//!
//! # Encryption
//! The proxy must read the protocol, so it declines encryption itself: to an
//! `SSLRequest` or `GSSENCRequest` it answers `N` (no) to the client without passing
//! the request on, and the client goes on in plain text (libpq, sqlx and tokio-postgres
//! do so in their default `prefer` mode; `sslmode=require` fails to connect). Were the
//! request passed on, a server with `ssl = on` would accept it and the rest would be
//! unreadable.
//!
//! # Not recorded
//! Function calls (`F`), the contents of COPY, and statements inside PL/pgSQL code.
//! A parameter whose type the client left to the server (OID 0 in `Parse`) is recorded
//! with OID 0; such a value in binary format cannot be decoded (an error says so).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::pgtypes::{Reader, fail};
pub use super::pgtypes::{Result, TypeNames, WireError};

/// One statement a client executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The proxy's number for the client connection, from 1 in order of connection.
    pub connection: u64,
    /// The SQL as sent: with `$1`, `$2`, ... for the parameters of an extended-protocol
    /// statement; a simple query's text as given (it may hold several statements).
    pub sql: String,
    /// The bound parameters, in order (none for a simple query).
    pub params: Vec<Param>,
    /// An extended-protocol statement parsed for this execution: its first, or one the
    /// client does not keep prepared (the server plans it for these values each time).
    /// False for a simple query.
    pub parsed_for_it: bool,
}

/// One bound parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The type OID the client declared in `Parse` (0: left to the server).
    pub oid: u32,
    /// The raw bytes, or `None` for NULL.
    pub value: Option<Vec<u8>>,
    /// Binary format (format code 1); else text.
    pub binary: bool,
}

impl Param {
    /// The value as PostgreSQL's text input for its type accepts it; `None` for NULL.
    /// A text-format value is returned as sent; a binary one is decoded (see
    /// [`TypeNames::binary_to_text`]).
    pub fn to_text(&self, types: &TypeNames) -> Result<Option<String>> {
        let Some(value) = &self.value else {
            return Ok(None);
        };
        if !self.binary {
            return String::from_utf8(value.clone())
                .map(Some)
                .map_err(|e| WireError(format!("text-format parameter is not UTF-8: {e}")));
        }
        if self.oid == 0 {
            return fail("a binary parameter of unspecified type (OID 0) cannot be decoded");
        }
        types.binary_to_text(self.oid, value).map(Some)
    }
}

struct Shared {
    log: Mutex<Vec<Executed>>,
    problems: Mutex<Vec<String>>,
    connections: AtomicU64,
}

/// A recording proxy in front of one PostgreSQL server. Dropping it stops the listener
/// and closes the connections it proxies.
pub struct Recorder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Listens on 127.0.0.1 (a free port) and proxies every connection to `upstream`.
    /// Must be called within a tokio runtime. Panics if no port can be bound.
    pub fn start(upstream: SocketAddr) -> Recorder {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the recorder's port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("recorder address");
        let listener = TcpListener::from_std(listener).expect("recorder listener in the runtime");
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        Recorder { addr, shared, accept }
    }

    /// A recorder in front of the server of `database_url`, and the URL that reaches
    /// the same database through it.
    pub async fn for_url(database_url: &str) -> Result<(Recorder, String)> {
        let upstream = upstream_addr(database_url).await?;
        let recorder = Recorder::start(upstream);
        let url = recorder.proxied_url(database_url)?;
        Ok((recorder, url))
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `database_url` with its host and port replaced by the recorder's, and
    /// `sslmode=disable` (the proxy declines encryption anyway).
    pub fn proxied_url(&self, database_url: &str) -> Result<String> {
        let mut url = url::Url::parse(database_url).map_err(|e| WireError(format!("database URL: {e}")))?;
        url.set_host(Some(&self.addr.ip().to_string()))
            .map_err(|e| WireError(format!("database URL: {e}")))?;
        url.set_port(Some(self.addr.port()))
            .map_err(|_| WireError("database URL cannot have a port".into()))?;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "sslmode")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("sslmode", "disable");
        Ok(url.to_string())
    }

    /// Everything recorded since the last take, across connections, in the order the
    /// proxy saw the statements.
    pub fn take(&self) -> Vec<Executed> {
        std::mem::take(&mut *self.shared.log.lock().expect("recorder log"))
    }

    /// Connections the proxy could not follow (a malformed message, an unknown portal),
    /// one line each; their bytes were still forwarded.
    pub fn problems(&self) -> Vec<String> {
        self.shared.problems.lock().expect("recorder problems").clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // The accept task owns the connection tasks: aborting it drops them too.
        self.accept.abort();
    }
}

/// The first address that the host and port of `database_url` resolve to.
pub async fn upstream_addr(database_url: &str) -> Result<SocketAddr> {
    let url = url::Url::parse(database_url).map_err(|e| WireError(format!("database URL: {e}")))?;
    let host = url
        .host_str()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port().unwrap_or(5432);
    let mut addrs = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| WireError(format!("resolving {host}:{port}: {e}")))?;
    match addrs.next() {
        Some(addr) => Ok(addr),
        None => fail(format!("{host}:{port} resolves to no address")),
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let shared = shared.clone();
                    connections.spawn(async move {
                        if let Err(e) = proxy(client, upstream, &shared).await {
                            tracing::debug!(%e, "recorder connection ended");
                        }
                    });
                }
                Err(e) => tracing::warn!(%e, "recorder accept"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// One client connection: the startup phase, then both directions at once.
async fn proxy(mut client: TcpStream, upstream: SocketAddr, shared: &Shared) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let startup = startup_packet(&mut client).await?;
    let mut server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    server.write_all(&startup).await?;
    let connection = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, server_write) = server.into_split();
    let parser = FrontendParser::new(connection);
    let up = pump_client(client_read, server_write, parser, shared);
    let down = async {
        let copied = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
        copied
    };
    let (up, down) = tokio::join!(up, down);
    up.and(down.map(|_| ()))
}

/// Reads untyped packets until the startup message (or a cancel request), declining
/// SSL and GSS encryption on the way; returns that packet's bytes.
async fn startup_packet(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    loop {
        let len = client.read_u32().await?;
        if !(8..=10_000).contains(&len) {
            return Err(std::io::Error::other(format!("startup packet of {len} bytes")));
        }
        let mut packet = len.to_be_bytes().to_vec();
        packet.resize(len as usize, 0);
        client.read_exact(&mut packet[4..]).await?;
        let code = u32::from_be_bytes(packet[4..8].try_into().expect("4 bytes"));
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            client.write_all(b"N").await?;
            continue;
        }
        return Ok(packet);
    }
}

/// Client to server: each chunk is parsed (and its statements recorded) before it is
/// written on.
async fn pump_client(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut parser: FrontendParser,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let executed = parser.feed(&buf[..n]);
        if !executed.is_empty() {
            shared.log.lock().expect("recorder log").extend(executed);
        }
        if let Some(problem) = parser.problem.take() {
            tracing::warn!(%problem, "recorder");
            shared.problems.lock().expect("recorder problems").push(problem);
        }
        to.write_all(&buf[..n]).await?;
    }
    to.shutdown().await
}

/// A prepared statement: its SQL and the parameter types given in `Parse`.
struct Prepared {
    sql: String,
    oids: Vec<u32>,
    /// Not executed since it was parsed.
    fresh: bool,
}

/// A bound portal, and whether it was executed already (a portal executed in chunks,
/// with a row limit, is one statement).
struct Portal {
    sql: String,
    params: Vec<Param>,
    executed: bool,
    parsed_for_it: bool,
}

/// Follows the typed messages a client sends after its startup message.
struct FrontendParser {
    connection: u64,
    /// The start of a message not yet complete.
    pending: Vec<u8>,
    /// Bytes still to pass over of a long message that is not needed (COPY data).
    skip: usize,
    /// Set after a malformed message: the rest of the connection is only forwarded.
    lost: bool,
    problem: Option<String>,
    statements: HashMap<String, Prepared>,
    portals: HashMap<String, Portal>,
}

/// The messages whose contents are needed; any other is passed over.
fn needed(kind: u8) -> bool {
    matches!(kind, b'Q' | b'P' | b'B' | b'E' | b'C')
}

impl FrontendParser {
    fn new(connection: u64) -> Self {
        FrontendParser {
            connection,
            pending: Vec::new(),
            skip: 0,
            lost: false,
            problem: None,
            statements: HashMap::new(),
            portals: HashMap::new(),
        }
    }

    /// Takes the next bytes of the stream; returns the statements they complete.
    fn feed(&mut self, mut data: &[u8]) -> Vec<Executed> {
        let mut executed = Vec::new();
        if self.lost {
            return executed;
        }
        let skipped = self.skip.min(data.len());
        self.skip -= skipped;
        data = &data[skipped..];
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(header) = self.pending.get(start..start + 5) {
            let kind = header[0];
            let len = u32::from_be_bytes(header[1..5].try_into().expect("4 bytes")) as usize;
            if len < 4 {
                self.lose(format!("message {:?} with length {len}", kind as char));
                return executed;
            }
            let end = start + 1 + len;
            if end > self.pending.len() {
                if !needed(kind) {
                    self.skip = end - self.pending.len();
                    start = self.pending.len();
                }
                break;
            }
            let body = self.pending[start + 5..end].to_vec();
            start = end;
            if let Err(e) = self.message(kind, &body, &mut executed) {
                self.lose(format!("message {:?}: {e}", kind as char));
                return executed;
            }
        }
        self.pending.drain(..start);
        executed
    }

    fn lose(&mut self, problem: String) {
        self.lost = true;
        self.pending = Vec::new();
        self.problem = Some(format!(
            "connection {}: {problem}; not recorded from here on",
            self.connection
        ));
    }

    fn message(&mut self, kind: u8, body: &[u8], executed: &mut Vec<Executed>) -> Result<()> {
        let mut r = Reader::new(body);
        match kind {
            b'Q' => {
                let sql = r.cstr()?;
                executed.push(Executed {
                    connection: self.connection,
                    sql,
                    params: Vec::new(),
                    parsed_for_it: false,
                });
            }
            b'P' => self.parse(&mut r)?,
            b'B' => self.bind(&mut r)?,
            b'E' => {
                let portal = r.cstr()?;
                let _max_rows = r.i32()?;
                match self.portals.get_mut(&portal) {
                    Some(p) if !p.executed => {
                        p.executed = true;
                        executed.push(Executed {
                            connection: self.connection,
                            sql: p.sql.clone(),
                            params: p.params.clone(),
                            parsed_for_it: p.parsed_for_it,
                        });
                    }
                    Some(_) => {}
                    None => return fail(format!("Execute of unknown portal {portal:?}")),
                }
            }
            b'C' => {
                let which = r.take(1)?[0];
                let name = r.cstr()?;
                if which == b'S' {
                    self.statements.remove(&name);
                } else {
                    self.portals.remove(&name);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn parse(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let name = r.cstr()?;
        let sql = r.cstr()?;
        let n = r.i16()?;
        let oids = (0..n.max(0)).map(|_| r.u32()).collect::<Result<Vec<_>>>()?;
        self.statements.insert(name, Prepared { sql, oids, fresh: true });
        Ok(())
    }

    fn bind(&mut self, r: &mut Reader<'_>) -> Result<()> {
        let portal = r.cstr()?;
        let statement = r.cstr()?;
        let nformats = r.i16()?.max(0) as usize;
        let formats = (0..nformats).map(|_| r.i16()).collect::<Result<Vec<_>>>()?;
        let nparams = r.i16()?.max(0) as usize;
        let Some(prepared) = self.statements.get_mut(&statement) else {
            return fail(format!("Bind of unknown statement {statement:?}"));
        };
        let mut params = Vec::with_capacity(nparams);
        for i in 0..nparams {
            let format = match formats.len() {
                0 => 0,
                1 => formats[0],
                _ => *formats.get(i).unwrap_or(&0),
            };
            params.push(Param {
                oid: prepared.oids.get(i).copied().unwrap_or(0),
                value: r.value()?.map(<[u8]>::to_vec),
                binary: format == 1,
            });
        }
        let sql = prepared.sql.clone();
        let parsed_for_it = std::mem::replace(&mut prepared.fresh, false);
        self.portals.insert(
            portal,
            Portal {
                sql,
                params,
                executed: false,
                parsed_for_it,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend(body);
        m
    }

    fn cstr(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    fn extended(statement: &str, sql: &str, value: &[u8]) -> Vec<u8> {
        let mut parse = cstr(statement);
        parse.extend(cstr(sql));
        parse.extend(1i16.to_be_bytes());
        parse.extend(23u32.to_be_bytes());
        let mut bind = cstr("");
        bind.extend(cstr(statement));
        bind.extend(1i16.to_be_bytes());
        bind.extend(1i16.to_be_bytes());
        bind.extend(1i16.to_be_bytes());
        bind.extend((value.len() as i32).to_be_bytes());
        bind.extend(value);
        bind.extend(0i16.to_be_bytes());
        let mut execute = cstr("");
        execute.extend(0i32.to_be_bytes());
        let mut out = message(b'P', &parse);
        out.extend(message(b'B', &bind));
        out.extend(message(b'E', &execute));
        out.extend(message(b'S', &[]));
        out
    }

    #[test]
    fn records_across_any_chunking() {
        let mut stream = message(b'Q', &cstr("BEGIN"));
        stream.extend(extended("s1", "SELECT $1", &7i32.to_be_bytes()));
        stream.extend(message(b'd', &[0u8; 100]));
        stream.extend(extended("", "SELECT $1 + 1", &8i32.to_be_bytes()));
        stream.extend(message(b'Q', &cstr("COMMIT")));
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            let mut parser = FrontendParser::new(1);
            let mut all = Vec::new();
            for piece in stream.chunks(chunk) {
                all.extend(parser.feed(piece));
            }
            assert!(parser.problem.is_none(), "{:?}", parser.problem);
            let sqls: Vec<&str> = all.iter().map(|e| e.sql.as_str()).collect();
            assert_eq!(sqls, ["BEGIN", "SELECT $1", "SELECT $1 + 1", "COMMIT"], "chunk {chunk}");
            assert_eq!(
                all[2].params,
                [Param {
                    oid: 23,
                    value: Some(8i32.to_be_bytes().to_vec()),
                    binary: true
                }]
            );
        }
    }

    #[test]
    fn a_malformed_message_stops_recording_that_connection() {
        let mut parser = FrontendParser::new(3);
        let mut bad = vec![b'Q'];
        bad.extend(2u32.to_be_bytes());
        assert!(parser.feed(&bad).is_empty());
        assert!(parser.problem.as_deref().unwrap().starts_with("connection 3"));
        assert!(parser.feed(&message(b'Q', &cstr("SELECT 1"))).is_empty());
    }

    #[test]
    fn text_parameters_are_returned_as_sent() {
        let p = Param {
            oid: 0,
            value: Some(b"12:53".to_vec()),
            binary: false,
        };
        assert_eq!(p.to_text(&TypeNames::builtin()).unwrap().as_deref(), Some("12:53"));
    }
}
