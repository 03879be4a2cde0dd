//! A real browser for the console's tests: Debian's chromium, headless,
//! driven over WebDriver (the W3C protocol chromedriver speaks: JSON over
//! HTTP). `Browser::start` starts chromedriver on a free port and opens a
//! session; dropping it ends the session and kills chromedriver.
//!
//! Chromium runs with the flags this machine needs (no sandbox as root, no
//! background networking: outside connections are refused here) and a
//! fresh profile; downloads go to `download_dir()`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::web::http;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    dir: PathBuf,
}

impl Browser {
    /// chromedriver and a headless chromium with its profile and downloads
    /// under `dir`.
    pub fn start(dir: &Path) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "chromium and chromium-driver are not installed (scripts/install-deps.sh installs them)"
        );
        std::fs::create_dir_all(dir.join("downloads")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            dir: dir.to_owned(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = b.call("GET", "/status", None).ok();
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                break;
            }
            assert!(Instant::now() < until, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let downloads = b.download_dir();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", dir.join("profile").display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let v = b
            .call("POST", "/session", Some(caps))
            .expect("a WebDriver session");
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        // Headless chromium saves downloads only when told to.
        b.command(
            "POST",
            "/chromium/send_command",
            json!({"cmd": "Page.setDownloadBehavior",
                   "params": {"behavior": "allow", "downloadPath": downloads.display().to_string()}}),
        );
        b
    }

    pub fn download_dir(&self) -> PathBuf {
        self.dir.join("downloads")
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> std::io::Result<Value> {
        let text = body.map(|b| b.to_string());
        let r = http(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            text.as_deref().map(str::as_bytes),
        )?;
        Ok(serde_json::from_str(&r.body).unwrap_or(Value::Null))
    }

    /// A command in this session; panics with WebDriver's error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" { None } else { Some(body) };
        let v = self
            .call(method, &format!("/session/{}{path}", self.session), body)
            .expect("WebDriver call");
        if v["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.command("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to 10 s until the address contains `part` (a click's
    /// navigation has finished; elements found before it are stale).
    pub fn wait_url(&self, part: &str) {
        let until = Instant::now() + Duration::from_secs(10);
        while !self.url().contains(part) {
            assert!(
                Instant::now() < until,
                "still at {}, not {part}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn source(&self) -> String {
        self.command("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> Element<'_> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self
                .call(
                    "POST",
                    &format!("/session/{}/element", self.session),
                    Some(json!({"using": "css selector", "value": css})),
                )
                .expect("WebDriver call");
            if let Some(id) = v["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .filter(|_| v["value"].get("error").is_none())
            {
                return Element {
                    browser: self,
                    id: id.to_owned(),
                };
            }
            assert!(
                Instant::now() < until,
                "no element {css} on {}: {}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `js` (a function body) in the page and returns its value.
    pub fn script(&self, js: &str) -> Value {
        self.command("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    pub fn set_window(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        );
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.command("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG screenshot");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    pub fn click(&self) {
        self.browser
            .command("POST", &format!("/element/{}/click", self.id), json!({}));
    }

    pub fn type_text(&self, text: &str) {
        self.browser.command(
            "POST",
            &format!("/element/{}/value", self.id),
            json!({ "text": text }),
        );
    }

    pub fn text(&self) -> String {
        self.browser
            .command("GET", &format!("/element/{}/text", self.id), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
