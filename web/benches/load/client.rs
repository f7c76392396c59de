//! Clients of the service: each with its own keep-alive connection and an API token,
//! and the loop that keeps a number of them busy for a fixed time.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use serde_json::{Value, json};

/// One client: its own connection (kept alive) and its bearer token.
#[derive(Clone)]
pub struct Caller {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    pub fn new(base: &str, token: &str) -> Caller {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("an HTTP client");
        Caller {
            http,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    /// The same person on another service (or another connection).
    pub fn to(&self, base: &str) -> Caller {
        Caller::new(base, &self.token)
    }

    /// A new token of `email`, logged in with `password`.
    pub async fn log_in(base: &str, email: &str, password: &str) -> Caller {
        let http = reqwest::Client::builder().cookie_store(true).build().expect("client");
        let r = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("log-in");
        assert!(r.status().is_success(), "log-in as {email}: {}", r.status());
        let r: Value = http
            .post(format!("{base}/api/me/tokens"))
            .json(&json!({ "name": "load benchmark" }))
            .send()
            .await
            .expect("a token")
            .json()
            .await
            .expect("token JSON");
        Caller::new(base, r["token"].as_str().expect("token"))
    }

    /// The answer's body, received whole; anything but 2xx is an error with its body.
    async fn answer(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<impl AsRef<[u8]>, String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let r = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = r.status();
        let bytes = r.bytes().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {}", String::from_utf8_lossy(&bytes)));
        }
        Ok(bytes)
    }

    /// The answer's JSON (see `answer`).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let bytes = self.answer(method, path, body).await?;
        Ok(serde_json::from_slice(bytes.as_ref()).unwrap_or(Value::Null))
    }

    /// A read under load: the whole answer is received and its status checked, but not
    /// parsed (pgbench, on the other side, discards the rows it gets).
    pub async fn fetch(&self, path: &str) -> Result<(), String> {
        self.answer(reqwest::Method::GET, path, None).await.map(drop)
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(&body)).await
    }
}

/// What one operation does, given a client and a sequence number unique in the run.
pub type Op = Arc<dyn Fn(Caller, u64) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Throughput and latency of a fixed time of load.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

/// `clients` callers run `op` back to back for `warmup`, then for `measure`; the
/// operations that started in the measured time count. Any failure stops the benchmark.
pub async fn drive(callers: Vec<Caller>, op: Op, first_seq: u64, warmup: Duration, measure: Duration) -> Figures {
    let start = Instant::now() + warmup;
    let end = start + measure;
    let clients = callers.len() as u64;
    let tasks: Vec<_> = callers
        .into_iter()
        .enumerate()
        .map(|(i, caller)| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut seq = first_seq + i as u64;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        return latencies;
                    }
                    if let Err(e) = op(caller.clone(), seq).await {
                        panic!("a request failed under load: {e}");
                    }
                    if began >= start {
                        latencies.push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    seq += clients;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a load task"));
    }
    all.sort_unstable();
    assert!(!all.is_empty(), "no request finished in the measured time");
    Figures {
        rate: all.len() as f64 / measure.as_secs_f64(),
        p50_ms: percentile(&all, 50.0),
        p95_ms: percentile(&all, 95.0),
        p99_ms: percentile(&all, 99.0),
    }
}
