//! `TestApp`: the web service and the worker against a fresh database, an SMTP sink, a
//! movable clock and a small JSON client.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use partnerdesk_core::{
    Ctx,
    platform::app::App,
    platform::clock::Clock,
    platform::config::Config,
    platform::db::{Pool, PooledConn},
    platform::jobs,
    seed,
};
use partnerdesk_testkit::{Recorder, SmtpSink, TestDb};
use partnerdesk_web::{app, state::AppState};
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

pub const DEMO_PASSWORD: &str = "partnerdesk-demo";

pub struct Options {
    /// Send mail through the SMTP sink (default) or into the database outbox.
    pub smtp: bool,
    pub development: bool,
    pub seed_demo: bool,
    /// Run a worker beside the service (default); without one, jobs wait in the queue
    /// until the test runs them.
    pub worker: bool,
    pub extra: Vec<(&'static str, String)>,
    /// Connect the service (and everything else on the app's pool) through a recording
    /// proxy, to see the statements each request sends (`TestApp::recorder`).
    pub record: bool,
    /// Read lists and exports from a copy of the database made after the demo data was
    /// loaded (a replica that stopped there), instead of through a read-only pool on
    /// the database itself.
    pub replica_copy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            smtp: true,
            development: false,
            seed_demo: true,
            worker: true,
            extra: Vec::new(),
            record: false,
            replica_copy: false,
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub pool: Pool,
    pub ctx: Ctx,
    pub smtp: SmtpSink,
    application: App,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
    failures_expected: std::sync::atomic::AtomicBool,
    recorder: Option<Recorder>,
    // Dropped last: the database outlives the service and worker using it.
    _db: TestDb,
}

impl TestApp {
    /// The service, the worker and the demo data.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        // Logs of the service and the worker, when a test is run with RUST_LOG set.
        if std::env::var_os("RUST_LOG").is_some() {
            partnerdesk_core::platform::telemetry::init(partnerdesk_core::platform::config::LogFormat::Text);
        }
        let db = TestDb::new().await;
        let (recorder, database_url) = if options.record {
            let (recorder, url) = Recorder::for_url(&db.url).await.expect("the recording proxy");
            (Some(recorder), url)
        } else {
            (None, db.url.clone())
        };
        let smtp = SmtpSink::start().await;
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("binding a port");
        let addr = acceptor.local_addr()[0]
            .as_socket_addr()
            .copied()
            .expect("a TCP address");
        let base = format!("http://{addr}");

        let mut vars: Vec<(&str, String)> = vec![
            // Lists and exports read through a second pool whose transactions are
            // read-only, as on a replica: a list that writes fails its test.
            (
                "DATABASE_REPLICA_URL",
                if options.replica_copy {
                    db.copy_url()
                } else {
                    database_url.clone()
                },
            ),
            ("DATABASE_URL", database_url),
            (
                "PARTNERDESK_ENV",
                if options.development {
                    "development"
                } else {
                    "production"
                }
                .into(),
            ),
            ("SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789".into()),
            ("PUBLIC_URL", base.clone()),
            ("HTTP_ADDR", addr.to_string()),
            ("DATABASE_POOL_SIZE", "8".into()),
            ("WORKER_POLL_SECONDS", "1".into()),
            ("WORKER_CONCURRENCY", "4".into()),
            ("JOB_BACKOFF_BASE_SECONDS", "1".into()),
            ("JOB_BACKOFF_MAX_SECONDS", "2".into()),
            // Tests that want the monthly billing run ask for it.
            ("BILLING_MONTHLY_RUN", "false".into()),
        ];
        if options.smtp {
            vars.push(("SMTP_URL", smtp.url()));
        } else {
            vars.push(("MAIL_OUTBOX", "true".into()));
        }
        // The test service listens on plain http on this machine.
        vars.push(("ALLOW_HTTP_PUBLIC_URL", "true".into()));
        for (key, value) in options.extra {
            vars.retain(|(k, _)| *k != key);
            vars.push((key, value));
        }
        let config = Config::from_pairs(vars).expect("test configuration");
        let application = App::build_with_clock(config, Clock::movable()).expect("the application");
        let (pool, ctx) = (application.pool.clone(), application.ctx.clone());

        if options.seed_demo {
            // On a connection of its own, closed before a copy is made.
            let seed = seed::parse(include_str!("../../../seeds/demo.json")).expect("demo seed");
            let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connection");
            seed::load(&mut conn, &ctx, &seed)
                .await
                .expect("loading the demo seed")
                .expect("empty database");
        }
        if options.replica_copy {
            db.copy().await;
        }

        let (stop, stop_rx) = watch::channel(false);
        let state = AppState::new(&application);
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app(state),
                    async move {
                        let _ = server_stop.changed().await;
                    },
                    Some(Duration::from_secs(2)),
                )
                .await;
        });
        let mut worker_stop = stop_rx;
        let worker_app = application.clone();
        let with_worker = options.worker;
        let worker = tokio::spawn(async move {
            if with_worker {
                let _ = partnerdesk_worker::run(worker_app, async move {
                    let _ = worker_stop.changed().await;
                })
                .await;
            }
        });
        TestApp {
            base,
            pool,
            ctx,
            smtp,
            application,
            stop,
            server,
            worker,
            failures_expected: false.into(),
            recorder,
            _db: db,
        }
    }

    /// The proxy the app's connections go through (with `Options::record`).
    pub fn recorder(&self) -> &Recorder {
        self.recorder.as_ref().expect("a TestApp spawned with `record: true`")
    }

    /// The test database's own URL (not through the recording proxy).
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// The application the service and worker run on.
    pub fn application(&self) -> &App {
        &self.application
    }

    pub async fn conn(&self) -> PooledConn {
        self.pool.get().await.expect("connection")
    }

    /// Waits until no job is waiting or running, or finished with its run still being
    /// recorded.
    pub async fn settle(&self) {
        let lease = self.application.ctx.config.worker_lease;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut idle_checks = 0;
        loop {
            let n = jobs::unfinished_count(&mut *self.conn().await, lease)
                .await
                .expect("counting jobs");
            idle_checks = if n == 0 { idle_checks + 1 } else { 0 };
            if idle_checks >= 2 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "jobs did not finish within 30 s ({n} left)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client logged in through POST /auth/login (cookie session).
    pub async fn login(&self, email: &str, password: &str) -> Client {
        let client = Client::new(&self.base);
        let r = client
            .post(
                "/api/auth/login",
                serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(r.status, 200, "login as {email} failed: {}", r.body);
        client
    }

    /// The token at the end of the newest link starting with `path` (e.g.
    /// `/signup/confirm/`) in an e-mail to `address` whose subject contains `subject`.
    pub async fn link_token(&self, address: &str, subject: &str, path: &str) -> String {
        let address = address.to_lowercase();
        let prefix = format!("{}{path}", self.base);
        let mails = self
            .smtp
            .wait_for(1, Duration::from_secs(15), |m| {
                m.envelope_to.iter().any(|t| t.to_lowercase() == address)
                    && m.subject.contains(subject)
                    && m.link(&prefix).is_some()
            })
            .await;
        mails
            .last()
            .and_then(|m| m.link(&prefix))
            .unwrap_or_else(|| panic!("no {path} link in the e-mail to {address}"))
            .trim_start_matches(&prefix)
            .to_owned()
    }

    /// Signs up through the API, confirms through the e-mailed link, and logs in.
    pub async fn sign_up(&self, email: &str, first_name: &str, last_name: &str, password: &str) -> Client {
        let anon = self.anonymous();
        let r = anon
            .post(
                "/api/auth/signup",
                serde_json::json!({ "email": email, "password": password, "first_name": first_name, "last_name": last_name }),
            )
            .await;
        assert_eq!(r.status, 202, "sign-up of {email}: {}", r.body);
        let token = self
            .link_token(email, "Confirm your e-mail address", "/signup/confirm/")
            .await;
        let r = anon
            .post(&format!("/api/auth/signups/{token}/confirm"), serde_json::json!({}))
            .await;
        assert_eq!(r.status, 200, "confirming {email}: {}", r.body);
        self.login(email, password).await
    }

    /// New people an organization added set their password through the e-mailed link,
    /// which accepts their membership.
    pub async fn set_passwords(&self, emails: &[String]) {
        for email in emails {
            let token = self.link_token(email, "", "/password/").await;
            let r = self
                .anonymous()
                .post(
                    &format!("/api/auth/password-links/{token}"),
                    serde_json::json!({ "password": "a long enough password" }),
                )
                .await;
            assert_eq!(r.status, 200, "setting the password of {email}: {}", r.body);
        }
    }

    /// The client's person accepts the invitation of `org`.
    pub async fn accept_invitation(&self, client: &Client, org: Uuid) {
        let r = client
            .post(&format!("/api/me/invitations/{org}/accept"), serde_json::json!({}))
            .await;
        assert_eq!(r.status, 204, "accepting the invitation of {org}: {}", r.body);
    }

    /// A demo user, logged in.
    pub async fn demo(&self, email: &str) -> Client {
        self.login(email, DEMO_PASSWORD).await
    }

    pub async fn org_id(&self, name: &str) -> Uuid {
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        use partnerdesk_core::schema::organizations as o;
        o::table
            .filter(o::name.eq(name))
            .select(o::id)
            .first(&mut self.conn().await)
            .await
            .expect("organization exists")
    }

    pub async fn user_id(&self, email: &str) -> Uuid {
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        use partnerdesk_core::schema::users as u;
        u::table
            .filter(u::email.eq(email))
            .select(u::id)
            .first(&mut self.conn().await)
            .await
            .expect("user exists")
    }

    /// Runs SQL against the test database (fixtures the API cannot create yet).
    /// The number a `SELECT count(*) ...` answers.
    pub async fn count(&self, query: &str) -> i64 {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        diesel::sql_query(query)
            .get_result::<Count>(&mut self.conn().await)
            .await
            .expect("a count")
            .count
    }

    pub async fn sql(&self, statement: &str) {
        use diesel_async::RunQueryDsl;
        diesel::sql_query(statement)
            .execute(&mut self.conn().await)
            .await
            .expect("fixture SQL");
    }

    /// Inserts a `ping` job (its handler does nothing and succeeds) in an apalis status
    /// (`Pending`, `Killed`, `Discarded`, …) of at most one attempt, due at `run_at`
    /// (SQL); any but a pending one made its attempt, and a `Killed` or `Failed` one
    /// failed with "boom". Returns its id.
    pub async fn ping_job(&self, status: &str, run_at: &str) -> String {
        let id = ulid::Ulid::new().to_string();
        let (attempts, finished) = if status == "Pending" { (0, "NULL") } else { (1, "now()") };
        let error = if matches!(status, "Killed" | "Failed") {
            r#"'{"Err": "boom"}'::jsonb"#
        } else {
            "NULL"
        };
        self.sql(&format!(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, done_at, last_result)
             VALUES ('{id}', 'ping', convert_to('{{}}', 'UTF8'), '{status}', {attempts}, 1, {run_at}, 0, {finished}, {error})"
        ))
        .await;
        id
    }

    /// `client` (a partner) invites `email`'s company, which registers through the e-mailed
    /// link; returns the new customer organization.
    pub async fn invited_customer(&self, client: &Client, email: &str, company: &str) -> Uuid {
        let r = client
            .post(
                "/api/customer-invitations",
                serde_json::json!({ "email": email, "company_name": company }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let token = self.link_token(email, "", "/register/customer/").await;
        let done = self
            .anonymous()
            .post(
                &format!("/api/customer-registrations/{token}"),
                serde_json::json!({ "first_name": "Vera", "last_name": "Visser", "password": "vera's long password" }),
            )
            .await;
        assert_eq!(done.status, 201, "{}", done.body);
        done.view::<partnerdesk_web::api::tenancy::invitations::AcceptedView>()
            .organization_id
    }

    /// Logs `browser` (a cookie-keeping client) in through the log-in page.
    pub async fn portal_login(&self, browser: &reqwest::Client, email: &str, password: &str) {
        let login = format!("{}/login", self.base);
        let html = browser.get(&login).send().await.unwrap().text().await.unwrap();
        let r = browser
            .post(&login)
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "logging in as {email}");
    }

    /// Everyone's language set to English, for browser tests that read English labels
    /// (the demo's partner and customer staff speak Dutch or German).
    pub async fn in_english(&self) {
        self.sql("UPDATE users SET language = 'en'").await;
    }

    /// Starts one more worker on the same database and clock (a second worker process,
    /// as far as the queues are concerned). Send `true` to stop it.
    pub fn start_extra_worker(&self) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let (stop, mut rx) = watch::channel(false);
        let worker_app = self.application.clone();
        let handle = tokio::spawn(async move {
            let _ = partnerdesk_worker::run(worker_app, async move {
                let _ = rx.changed().await;
            })
            .await;
        });
        (stop, handle)
    }

    /// Moves the shared clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.ctx.clock.advance(by).expect("movable clock");
    }
}

impl TestApp {
    /// For a test about failures: a job that failed for good or an e-mail that could
    /// not be delivered is then not a reason to fail it.
    pub fn expect_failures(&self) {
        self.failures_expected.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// What `Drop` would find left broken.
    pub async fn failures(&self) -> Vec<String> {
        partnerdesk_testkit::failures(&self._db.url).await
    }
}

impl Drop for TestApp {
    /// Stops the service and the worker, and fails the test if it left a job that
    /// failed for good or an undelivered e-mail behind (unless it expected to).
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.server.abort();
        self.worker.abort();
        if std::thread::panicking() || self.failures_expected.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let url = self._db.url.clone();
        let failures = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(partnerdesk_testkit::failures(&url))
        })
        .join()
        .expect("checking for failures");
        assert!(failures.is_empty(), "the test left failures behind: {failures:#?}");
    }
}

/// The CSRF token of the first form on a page, to post it as a browser would.
pub fn csrf_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token on the page: {html}"))
        .to_owned()
}

/// An HTTP client that keeps cookies, as a browser does.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// A response: status, parsed JSON body (or the text as a JSON string), headers.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The problem's code, or "" for a body that is no problem (the raw read is kept so
    /// that any response can be asked).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a problem+json response with this status and code, whose body repeats the
    /// status and says what went wrong.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "content type {:?}",
            self.content_type()
        );
        let problem: Problem = self.parse();
        assert_eq!(problem.code, code, "unexpected code; body: {}", self.body);
        assert_eq!(problem.status, status, "the body's status; body: {}", self.body);
        assert!(!problem.detail.is_empty(), "a detail; body: {}", self.body);
    }

    /// The body read into `T`; panics with the body when it does not fit.
    #[track_caller]
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not a {}: {e}; body: {}", std::any::type_name::<T>(), self.body))
    }

    /// The body read into the API's own response type `T` (a poem-openapi `Object`, e.g.
    /// `OrderView`); panics with the type and the body when it does not fit.
    #[track_caller]
    pub fn view<T: poem_openapi::types::ParseFromJSON>(&self) -> T {
        T::parse_from_json(Some(self.body.clone())).unwrap_or_else(|e| {
            panic!(
                "not a {}: {}; body: {}",
                std::any::type_name::<T>(),
                e.message(),
                self.body
            )
        })
    }

    /// The fields named in a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.field_errors().into_iter().map(|e| e.field).collect()
    }

    /// Each failing field of a validation problem.
    #[track_caller]
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.parse::<Problem>().errors
    }
}

/// A problem+json body, as the API documents it.
#[derive(Debug, serde::Deserialize)]
pub struct Problem {
    pub status: u16,
    pub code: String,
    pub detail: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// One entry of a problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    /// `(field, code)`, the part a test compares.
    pub fn pair(&self) -> (&str, &str) {
        (&self.field, &self.code)
    }
}

impl Resp {
    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(|| panic!("no id in {}", self.body))
    }
}

/// A JSON client with a cookie store, an optional bearer token and organization header.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    bearer: Option<String>,
    org: Option<Uuid>,
    delegated: Option<Uuid>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            bearer: None,
            org: None,
            delegated: None,
        }
    }

    /// A client over an HTTP client that already holds cookies (a signed-in browser).
    pub fn from_http(base: &str, http: reqwest::Client) -> Client {
        Client {
            http,
            ..Client::new(base)
        }
    }

    /// The HTTP client with this client's cookies (to visit other sites as it).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The same client sending `Authorization: Bearer <token>` and no cookies.
    pub fn with_bearer(&self, token: &str) -> Client {
        Client {
            bearer: Some(token.to_owned()),
            http: Client::new(&self.base).http,
            ..self.clone()
        }
    }

    /// The same client acting as another organization (X-Organization).
    pub fn acting_as(&self, org: Uuid) -> Client {
        Client {
            org: Some(org),
            ..self.clone()
        }
    }

    /// The same client inside a delegated session (X-Delegated-Session).
    pub fn in_delegated_session(&self, id: Uuid) -> Client {
        Client {
            delegated: Some(id),
            ..self.clone()
        }
    }

    /// A request with this client's credentials and organization.
    fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        if let Some(org) = self.org {
            req = req.header("X-Organization", org.to_string());
        }
        if let Some(id) = self.delegated {
            req = req.header("X-Delegated-Session", id.to_string());
        }
        req
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.builder(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp { status, body, headers }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }

    /// A GET whose body is bytes (a file): status, headers, body.
    pub async fn get_bytes(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let resp = self.builder(Method::GET, path).send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.expect("body").to_vec())
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None).await
    }

    /// Sends a body as is, with its content type (CSV files).
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let resp = self
            .builder(Method::POST, path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }

    /// Sends a raw body (to test malformed input).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Resp {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }
}
