//! A real headless Chromium, driven over WebDriver (chromedriver, started here for the
//! test), pointed at a test app. `.ci/run` installs Debian's `chromium` and
//! `chromium-driver` where a machine lacks them; set CHROMEDRIVER / CHROME to use others.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::harness::TestApp;

pub struct Browser {
    pub client: Client,
    base: String,
    driver: Child,
}

fn program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let name = candidates[0].rsplit('/').next()?;
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(name))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "{} not found: install Debian's chromium and chromium-driver (as .ci/run does) or set {env}",
                candidates[0]
            )
        })
}

impl Browser {
    /// A fresh browser (its own profile: no cookies) on the app.
    pub async fn open(app: &TestApp) -> Browser {
        let driver_path = program(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        let chrome = program(
            "CHROME",
            &[
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ],
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=en"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        base: app.base.clone(),
                        driver,
                    };
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("chromedriver did not answer: {last_error:?}");
    }

    /// Opens a path of the app.
    pub async fn visit(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigating");
    }

    /// Types into the input named `name` (replacing what it held).
    pub async fn fill(&self, name: &str, value: &str) {
        let input = self
            .client
            .find(Locator::Css(&format!("[name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no input named {name}: {e}"));
        input.clear().await.expect("clearing");
        input.send_keys(value).await.expect("typing");
    }

    /// Clicks the button with this text and waits for the page it leads to.
    pub async fn press(&self, text: &str) {
        let xpath = format!("//button[normalize-space()=\"{text}\"]");
        let button = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"));
        self.navigating(button).await;
    }

    /// Clicks an element that leads to another page, and waits until that page has
    /// loaded (the old page's marker is gone and the new one is complete).
    async fn navigating(&self, element: fantoccini::elements::Element) {
        self.eval("window.__pdOld = true; return null").await;
        element.click().await.expect("clicking");
        for _ in 0..200 {
            let done = self
                .client
                .execute("return !window.__pdOld && document.readyState === 'complete'", vec![])
                .await;
            if matches!(done, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page did not change");
    }

    /// Types into the input named `name` inside the element `scope`.
    pub async fn fill_in(&self, scope: &str, name: &str, value: &str) {
        let input = self
            .client
            .find(Locator::Css(&format!("{scope} [name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no input named {name} in {scope}: {e}"));
        input.clear().await.expect("clearing");
        input.send_keys(value).await.expect("typing");
    }

    /// Clicks the button with this text inside the element `scope` (a CSS selector),
    /// where a page has several buttons of the same name.
    pub async fn press_in(&self, scope: &str, text: &str) {
        let area = self
            .client
            .find(Locator::Css(scope))
            .await
            .unwrap_or_else(|e| panic!("no {scope}: {e}"));
        let button = area
            .find(Locator::XPath(&format!(".//button[normalize-space()=\"{text}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?} in {scope}: {e}"));
        self.navigating(button).await;
    }

    /// Follows the link with this text.
    pub async fn follow(&self, text: &str) {
        let link = self
            .client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
        self.navigating(link).await;
    }

    /// Clicks the element `selector` (a CSS selector) that leads to another page, where
    /// its text does not single it out (a count in a table).
    pub async fn click(&self, selector: &str) {
        let element = self
            .client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector}: {e}"));
        self.navigating(element).await;
    }

    /// Chooses the option with this value in the select named `name`.
    pub async fn choose(&self, name: &str, value: &str) {
        self.client
            .find(Locator::Css(&format!(
                "select[name=\"{name}\"] option[value=\"{value}\"]"
            )))
            .await
            .unwrap_or_else(|e| panic!("no option {value} in {name}: {e}"))
            .click()
            .await
            .expect("choosing");
    }

    /// Puts a file on the file input named `name`.
    pub async fn attach(&self, name: &str, file: &std::path::Path) {
        self.client
            .find(Locator::Css(&format!("input[type=file][name=\"{name}\"]")))
            .await
            .unwrap_or_else(|e| panic!("no file input {name}: {e}"))
            .send_keys(&file.display().to_string())
            .await
            .expect("attaching");
    }

    /// The text of the element `selector`.
    pub async fn text_of(&self, selector: &str) -> String {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector}: {e}"))
            .text()
            .await
            .expect("the text")
    }

    /// The links of the main navigation, in order.
    pub async fn navigation(&self) -> Vec<String> {
        let links = self.client.find_all(Locator::Css("nav.side a")).await.expect("links");
        let mut out = Vec::new();
        for link in links {
            out.push(link.text().await.expect("a label"));
        }
        out
    }

    /// Logs in through the log-in page.
    pub async fn log_in(&self, email: &str, password: &str) {
        self.visit("/login").await;
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.press("Log in").await;
        assert_eq!(self.path().await, "/", "logging in as {email}: {}", self.text().await);
    }

    /// Saves a PNG of the page (for `just screenshots`).
    pub async fn screenshot(&self, file: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(file, png).expect("writing the screenshot");
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        let body = self.client.find(Locator::Css("body")).await.expect("a body");
        body.text().await.expect("the text")
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        self.client.current_url().await.expect("a URL").path().to_owned()
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("a script")
    }

    /// Ends the browser session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
