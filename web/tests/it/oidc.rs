//! A real OpenID Connect provider for the single sign-on tests: `tests/oidc/provider.mjs`
//! (the certified `oidc-provider` package on Node) in its own process, and a person
//! who signs in there.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::{Options, TestApp};

pub const CLIENT_ID: &str = "partnerdesk";
pub const CLIENT_SECRET: &str = "a-client-secret-known-to-the-provider-only";

pub struct Provider {
    pub issuer: String,
    control: reqwest::Client,
    _process: tokio::process::Child,
}

impl Provider {
    /// Starts the provider (its packages: `npm ci --prefix web/tests/oidc`, which
    /// `just test` and `.ci/run` do).
    pub async fn start() -> Provider {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
        assert!(
            std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
            "the test provider's packages are missing: run `npm ci --prefix web/tests/oidc`"
        );
        let mut process = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the test provider");
        let stdout = process.stdout.take().expect("the provider's output");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("reading the provider's output") {
                if let Some(issuer) = line.strip_prefix("ready ") {
                    return issuer.to_owned();
                }
            }
            panic!("the test provider stopped before it was ready")
        })
        .await
        .expect("the test provider starts within 30 s");
        // Keep reading so that the provider never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider {
            issuer,
            control: reqwest::Client::new(),
            _process: process,
        }
    }

    pub async fn control(&self, what: &str, body: Value) -> Value {
        let resp = self
            .control
            .post(format!("{}/test/{what}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("the test provider answers");
        assert!(resp.status().is_success(), "test provider {what}: {}", resp.status());
        resp.json().await.expect("JSON")
    }

    /// An account at the provider.
    pub async fn account(&self, sub: &str, email: &str, verified: bool) {
        self.control(
            "accounts",
            json!({ sub: { "email": email, "email_verified": verified, "given_name": "Sam", "family_name": sub, "locale": "en" } }),
        )
        .await;
    }

    /// Alters the ID tokens the token endpoint sends from now on (None: stops).
    pub async fn tamper(&self, kind: Option<&str>) {
        self.control("tamper", json!({ "kind": kind })).await;
    }

    /// A new signing key; the old one is no longer published.
    pub async fn rotate_keys(&self) -> String {
        self.control("rotate", json!({})).await["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn stats(&self) -> Value {
        self.control("stats", json!({})).await
    }
}

/// Partnerdesk with the test provider configured as `test` ("Test ID"), registered
/// at the provider with its redirect URL.
pub async fn app_with(provider: &Provider, mut options: Options) -> TestApp {
    options.extra.extend([
        ("SSO_PROVIDERS", "test".to_owned()),
        (
            "SSO_TEST_DISCOVERY_URL",
            format!("{}/.well-known/openid-configuration", provider.issuer),
        ),
        ("SSO_TEST_CLIENT_ID", CLIENT_ID.to_owned()),
        ("SSO_TEST_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("SSO_TEST_LABEL", "Test ID".to_owned()),
    ]);
    let app = TestApp::spawn_with(options).await;
    provider
        .control(
            "client",
            json!({ "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": format!("{}/auth/sso/test/callback", app.base) }),
        )
        .await;
    app
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("a redirect, got {}", resp.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Absolute form of a Location relative to `base`.
fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base).unwrap().join(location).unwrap().to_string()
}

/// A person at the provider's authorization URL signs in as `account`; returns the
/// address the provider sends the browser back to (Partnerdesk's callback with
/// `code`, `state` and `iss`), not yet followed.
pub async fn sign_in_at_provider(browser: &reqwest::Client, authorization_url: &str, account: &str) -> String {
    let mut url = authorization_url.to_owned();
    for _ in 0..10 {
        if url.contains("/auth/sso/") {
            return url;
        }
        let resp = if url.contains("/interaction/") {
            browser.post(&url).form(&[("account", account)]).send().await.unwrap()
        } else {
            browser.get(&url).send().await.unwrap()
        };
        assert!(
            resp.status().is_redirection(),
            "the provider answered {} at {url}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
        url = absolute(&url, &location(&resp));
    }
    panic!("the provider never sent the browser back")
}

/// The portal's "Sign in with Test ID" button up to the provider's answer: returns
/// the callback address, not yet followed.
pub async fn portal_attempt(app: &TestApp, browser: &reqwest::Client, account: &str) -> String {
    let start = browser
        .get(format!("{}/auth/sso/test?next=/profile", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303, "starting single sign-on");
    sign_in_at_provider(browser, &location(&start), account).await
}

/// Follows the provider's answer in the browser: the portal's response.
pub async fn follow(browser: &reqwest::Client, callback: &str) -> reqwest::Response {
    browser.get(callback).send().await.unwrap()
}

/// The whole portal sign-in; returns the portal's response to the callback.
pub async fn portal_sign_in(app: &TestApp, browser: &reqwest::Client, account: &str) -> reqwest::Response {
    let callback = portal_attempt(app, browser, account).await;
    follow(browser, &callback).await
}

pub fn redirect_target(resp: &reqwest::Response) -> String {
    location(resp)
}
