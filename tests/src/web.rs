//! The real `netily-web` as a child process (killed and reaped when the
//! guard drops), and a plain HTTP/1.1 client that shows a test everything:
//! status, every header (Set-Cookie, Location), the body. No cookie jar and
//! no redirects followed: the tests check those themselves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::freeradius::workspace;

/// Builds netily-web (debug) once per test process.
pub fn web_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "-p", "netily-web"])
            .output()
            .expect("run cargo build -p netily-web");
        assert!(
            out.status.success(),
            "cargo build -p netily-web failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        workspace().join("target/debug/netily-web")
    })
    .clone()
}

pub struct WebServer {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl WebServer {
    /// Starts netily-web with `config` on a free loopback port and waits
    /// until it answers.
    pub fn start(config: &Path) -> WebServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = config.with_file_name(format!("web-{port}.log"));
        let file = std::fs::File::create(&log).expect("create the web log");
        let child = Command::new(web_bin())
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(addr.to_string())
            .env_remove("NETILY_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start netily-web");
        let server = WebServer { child, addr, log };
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(r) = server.request("GET", "/healthz", &[], None) {
                if r.status == 200 {
                    return server;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("netily-web did not start: {}", server.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops it; its exit status (waits up to 10 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for netily-web") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "netily-web did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One request on a fresh connection.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> std::io::Result<HttpResponse> {
        http(self.addr, method, path, headers, body)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.request("GET", path, headers, None).expect("GET")
    }

    /// A JSON body.
    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> HttpResponse {
        let mut h = headers.to_vec();
        h.push(("Content-Type", "application/json"));
        self.request(method, path, &h, Some(body.to_string().as_bytes()))
            .expect("request")
    }

    /// A form post (URL-encoded pairs).
    pub fn post_form(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        fields: &[(&str, &str)],
    ) -> HttpResponse {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut h = headers.to_vec();
        h.push(("Content-Type", "application/x-www-form-urlencoded"));
        self.request("POST", path, &h, Some(body.as_bytes()))
            .expect("POST")
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to `addr` on a fresh connection (`Connection:
/// close`, read to the end).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    // Read to the end, or to Content-Length when the server keeps the
    // connection open anyway (chromedriver does).
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|len| raw.len() >= head_end + 4 + len) {
                break;
            }
        }
    }
    Ok(HttpResponse::parse(&raw))
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    fn parse(raw: &[u8]) -> HttpResponse {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect::<Vec<_>>();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value a Set-Cookie header gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    pub fn set_cookie_line(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The `error.code` of a JSON error.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An operator logged in through the login form: their session cookie and
/// the CSRF token their pages carry.
pub struct Console {
    pub cookie: String,
    pub csrf: String,
}

impl Console {
    /// Logs in as `name`; panics unless the login succeeds.
    pub fn login(web: &WebServer, name: &str, password: &str) -> Console {
        let r = login(web, name, password, None);
        assert_eq!(r.status, 303, "login as {name}: {} {}", r.status, r.body);
        let cookie = r.cookie("netily_session").expect("a session cookie");
        let mut c = Console {
            cookie,
            csrf: String::new(),
        };
        let page = web.get("/", &[("Cookie", &c.header())]);
        c.csrf = hidden_field(&page.body, "csrf").expect("a CSRF token on the dashboard");
        c
    }

    pub fn header(&self) -> String {
        format!("netily_session={}", self.cookie)
    }
}

/// GET /login then POST it with the form's token pair; `planted` is a
/// session cookie sent along (a fixation attempt).
pub fn login(web: &WebServer, name: &str, password: &str, planted: Option<&str>) -> HttpResponse {
    login_with(web, name, password, planted, &[])
}

/// [`login`] with `extra` headers on the posted form (X-Forwarded-For).
pub fn login_with(
    web: &WebServer,
    name: &str,
    password: &str,
    planted: Option<&str>,
    extra: &[(&str, &str)],
) -> HttpResponse {
    let form = web.get("/login", &[]);
    let token = form.cookie("netily_login").expect("a login cookie");
    let csrf = hidden_field(&form.body, "csrf").expect("a login form token");
    let mut cookie = format!("netily_login={token}");
    if let Some(p) = planted {
        cookie.push_str(&format!("; netily_session={p}"));
    }
    let mut headers = vec![("Cookie", cookie.as_str())];
    headers.extend_from_slice(extra);
    web.post_form(
        "/login",
        &headers,
        &[
            ("name", name),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ],
    )
}

/// The value of `<input type="hidden" name="NAME" value="...">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}
