//! A headless Chromium driven over the W3C WebDriver protocol, for the dashboard's browser tests.
//!
//! [`Browser::start`] runs Debian's `chromedriver` on a free loopback port (`.ci/run` installs
//! `chromium` and `chromium-driver` when they are missing) and opens one headless session; the
//! methods are the protocol's own commands, spoken as JSON over [`crate::http::send`], plus
//! Chromium's DevTools commands through chromedriver for phone-sized emulation and whole-page
//! screenshots. The driver process ends with the value.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http::{free_loopback_port, send};

/// Where Debian installs the driver and the browser.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session and its driver.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    addr: std::net::SocketAddr,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group, which the browsers it started belong to:
        // ending the group ends them all (killing the driver alone orphans every Chromium).
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A WebDriver command that failed, with the driver's answer.
fn failed(what: &str, answer: &Value) -> String {
    format!("webdriver {what}: {answer}")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a 1280 × 900 window.
    ///
    /// # Panics
    /// When chromedriver or Chromium is not installed, or the session does not start within
    /// 30 s: the browser tests need them (`.ci/run` installs both).
    pub async fn start() -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        let addr = free_loopback_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={}", addr.port()))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Self { driver, addr, session: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        while browser.call("GET", "/status", None).await.is_none() {
            assert!(Instant::now() < deadline, "chromedriver did not answer within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--no-first-run", "--disable-extensions"],
            },
        }}});
        let answer = browser.call("POST", "/session", Some(&capabilities)).await;
        let answer = answer.expect("chromedriver answers a new session");
        browser.session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", failed("new session", &answer)))
            .to_owned();
        browser
    }

    /// Sends one command; the JSON answer, or `None` when the driver is not answering.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<Value> {
        let text = body.map(Value::to_string).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json; charset=utf-8")]
        } else {
            &[]
        };
        let reply = send(self.addr, method, path, headers, &text).await?;
        serde_json::from_str(&reply.body).ok()
    }

    /// A command of this session; panics with the driver's error when it fails.
    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let answer = self.call(method, &path, body.as_ref()).await.expect("chromedriver answers");
        assert!(answer["value"].get("error").is_none(), "{}", failed(&path, &answer));
        answer["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The address the page is at now.
    pub async fn url(&self) -> String {
        self.command("GET", "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.command("GET", "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The first element `css` selects, when there is one.
    pub async fn find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let body = json!({ "using": "css selector", "value": css });
        let answer = self.call("POST", &path, Some(&body)).await?;
        answer["value"][ELEMENT].as_str().map(str::to_owned)
    }

    async fn element(&self, css: &str) -> String {
        if let Some(element) = self.find(css).await {
            return element;
        }
        let path = format!("/session/{}/element", self.session);
        let body = json!({ "using": "css selector", "value": css });
        let answer = self.call("POST", &path, Some(&body)).await;
        panic!("no element matches {css:?}: {answer:?}")
    }

    /// Clicks the element `css` selects (and waits for a navigation it starts).
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.command("POST", &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Types `text` into the element `css` selects; for a file input, `text` is a file's path.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.command("POST", &format!("/element/{element}/value"), Some(json!({ "text": text })))
            .await;
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        let value = self.command("GET", &format!("/element/{element}/text"), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The visible text of the element `css` selects, when there is one now.
    async fn try_text(&self, css: &str) -> Option<String> {
        let element = self.find(css).await?;
        let path = format!("/session/{}/element/{element}/text", self.session);
        let answer = self.call("GET", &path, None).await?;
        answer["value"].as_str().map(str::to_owned)
    }

    /// Waits until the page's text contains `needle`, up to `timeout`; the body's text then.
    ///
    /// # Panics
    /// When it does not appear in time.
    pub async fn wait_for_text(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            // Mid-navigation the body may be gone for a moment; that is not yet a failure.
            let body = self.try_text("body").await.unwrap_or_default();
            if body.contains(needle) {
                return body;
            }
            assert!(Instant::now() < deadline, "{needle:?} did not appear; the page says:\n{body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes every cookie of the current site (signing out without the form).
    pub async fn delete_cookies(&self) {
        self.command("DELETE", "/cookie", None).await;
    }

    /// A Chromium DevTools command through the driver.
    async fn devtools(&self, cmd: &str, params: Value) -> Value {
        self.command("POST", "/goog/cdp/execute", Some(json!({ "cmd": cmd, "params": params })))
            .await
    }

    /// Lays pages out at `width` CSS pixels, as a phone (`mobile`) or a desktop window.
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        let params = json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
        });
        self.devtools("Emulation.setDeviceMetricsOverride", params).await;
    }

    /// The page's width as laid out, in CSS pixels (wider than the viewport means sideways
    /// scrolling on a phone).
    pub async fn layout_width(&self) -> u64 {
        let metrics = self.devtools("Page.getLayoutMetrics", json!({})).await;
        // Widths are whole CSS pixels in practice; a fraction rounds up, a nonsense value is 0.
        let width = metrics["cssContentSize"]["width"].as_f64().unwrap_or(0.0).ceil();
        format!("{width:.0}").parse().unwrap_or(0)
    }

    /// A PNG of the whole page (beyond the viewport), written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let params = json!({ "format": "png", "captureBeyondViewport": true });
        let shot = self.devtools("Page.captureScreenshot", params).await;
        let data = shot["data"].as_str().expect("a screenshot");
        let png = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("writing the screenshot");
    }
}
