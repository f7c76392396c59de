//! The real `partnerdesk-web` binary as a child process, in production mode, against
//! a database of our choosing.

use std::{net::TcpListener, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

pub struct Service {
    pub base: String,
    _child: Child,
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Service {
    /// Starts the service with its production defaults, but for the pool size, and waits
    /// until it answers. Its request log goes nowhere (it is written, as in production).
    pub async fn start(database_url: &str, pool_size: usize) -> Service {
        let addr = format!("127.0.0.1:{}", free_port());
        let base = format!("http://{addr}");
        let child = Command::new(env!("CARGO_BIN_EXE_partnerdesk-web"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("PARTNERDESK_ENV", "production")
            .env("SECRET_KEY", "load-benchmark-secret-key-0123456789abcdef")
            .env("MAIL_OUTBOX", "true")
            .env("HTTP_ADDR", &addr)
            .env("PUBLIC_URL", &base)
            .env("ALLOW_HTTP_PUBLIC_URL", "true")
            .env("DATABASE_POOL_SIZE", pool_size.to_string())
            // Many invitations to distinct addresses, many log-ins of the benchmark's people.
            .env("EMAILS_PER_ADDRESS_PER_HOUR", "1000000")
            .env("LOGIN_FAILURES_PER_ADDRESS", "1000000")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting partnerdesk-web");
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                return Service { base, _child: child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("partnerdesk-web did not answer at {base} within a minute");
    }
}
