//! A small SMTP server for tests: accepts every message and keeps it, parsed.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use mail_parser::MessageParser;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Notify,
};

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub message_id: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl ReceivedMail {
    /// The first link in the text body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let start = self.text.find(prefix)?;
        let rest = &self.text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
    /// Answer this many transactions with a temporary failure first.
    fail_next: AtomicUsize,
    /// While set, a transaction waits before `MAIL FROM` is answered (a sender stuck
    /// mid-delivery).
    hold: std::sync::atomic::AtomicBool,
    /// Transactions waiting on the hold now.
    held: AtomicUsize,
}

/// An SMTP sink listening on 127.0.0.1 at a random port.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the SMTP sink");
        let addr = listener.local_addr().expect("sink address");
        let shared = Arc::new(Shared::default());
        let accept = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accept.clone();
                tokio::spawn(async move {
                    let _ = session(stream, shared).await;
                });
            }
        });
        SmtpSink { addr, shared }
    }

    /// The SMTP_URL for this sink.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Refuse the next `n` messages with a temporary error (451).
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Holds every new transaction before `MAIL FROM` is answered, until released.
    pub fn hold(&self, on: bool) {
        self.shared.hold.store(on, Ordering::SeqCst);
    }

    /// How many transactions wait on the hold now.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// Messages addressed to `address`.
    pub fn to(&self, address: &str) -> Vec<ReceivedMail> {
        let address = address.to_lowercase();
        self.messages()
            .into_iter()
            .filter(|m| m.envelope_to.iter().any(|t| t.to_lowercase() == address))
            .collect()
    }

    /// Waits until `count` messages match `predicate`; panics after `timeout`.
    pub async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
        predicate: impl Fn(&ReceivedMail) -> bool,
    ) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let matching: Vec<ReceivedMail> = self.messages().into_iter().filter(|m| predicate(m)).collect();
            if matching.len() >= count {
                return matching;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {count} matching e-mails within {timeout:?}, got {}; all received: {:#?}",
                    matching.len(),
                    self.messages()
                        .iter()
                        .map(|m| (&m.envelope_to, &m.subject))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Waits for one e-mail to `address` whose subject contains `subject`.
    pub async fn expect_one(&self, address: &str, subject: &str) -> ReceivedMail {
        let address = address.to_lowercase();
        let found = self
            .wait_for(1, Duration::from_secs(15), |m| {
                m.envelope_to.iter().any(|t| t.to_lowercase() == address) && m.subject.contains(subject)
            })
            .await;
        found.into_iter().next().expect("one e-mail")
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map(|i| i + 1).unwrap_or(0);
    let end = arg.rfind('>').unwrap_or(arg.len());
    arg[start..end].trim().to_owned()
}

/// The message after DATA, up to the lone dot; `None` when the client went away.
async fn read_data(lines: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> std::io::Result<Option<String>> {
    let mut raw = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok(Some(raw));
        }
        let unstuffed = line
            .strip_prefix('.')
            .filter(|_| line.starts_with(".."))
            .unwrap_or(&line);
        raw.push_str(unstuffed);
    }
}

fn received(envelope_from: String, envelope_to: Vec<String>, raw: String) -> ReceivedMail {
    let parsed = MessageParser::default().parse(raw.as_bytes());
    ReceivedMail {
        envelope_from,
        envelope_to,
        message_id: parsed.as_ref().and_then(|m| m.message_id().map(str::to_owned)),
        subject: parsed
            .as_ref()
            .and_then(|m| m.subject().map(str::to_owned))
            .unwrap_or_default(),
        text: parsed
            .as_ref()
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .unwrap_or_default(),
        html: parsed
            .as_ref()
            .and_then(|m| m.body_html(0).map(|t| t.into_owned()))
            .unwrap_or_default(),
        raw,
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            if shared.hold.load(Ordering::SeqCst) {
                shared.held.fetch_add(1, Ordering::SeqCst);
                while shared.hold.load(Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                shared.held.fetch_sub(1, Ordering::SeqCst);
            }
            let failing = shared.fail_next.load(Ordering::SeqCst);
            if failing > 0 {
                shared.fail_next.store(failing - 1, Ordering::SeqCst);
                write.write_all(b"451 4.3.0 try again later\r\n").await?;
                continue;
            }
            from = address(&command[10..]);
            to.clear();
            write.write_all(b"250 2.1.0 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            write.write_all(b"250 2.1.5 ok\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let Some(raw) = read_data(&mut lines).await? else {
                return Ok(());
            };
            let mail = received(from.clone(), to.clone(), raw);
            shared.messages.lock().expect("sink lock").push(mail);
            shared.arrived.notify_waiters();
            write.write_all(b"250 2.0.0 queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 2.0.0 ok\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 5.5.2 command not implemented\r\n").await?;
        }
    }
}
