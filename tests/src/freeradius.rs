//! A real, private FreeRADIUS running rlm_netily, killed when the guard drops.
//!
//! The private raddb is built by `scripts/freeradius-run.sh prepare` (the same
//! recipe `make run` uses) in a fresh directory under /tmp, on two free
//! loopback ports; radiusd runs as a direct child with `-f -l stdout` (the real
//! thread pool, not `-X`). [`radclient`] sends with the real client.
//!
//! The module is built once per test process with the `test-hooks` feature
//! (a panic trigger and a fixed test subscriber) into its own target dir
//! (target/radius-tests), so the everyday `target/debug/librlm_netily.so`
//! never carries test hooks. `NETILY_TEST_MODULE` overrides the module path.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use netily_core::radius;

use crate::cdylib::Cdylib;

/// The shared secret of the stock clients.conf `localhost` client.
pub const SECRET: &str = "testing123";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct RadiusError(pub String);

impl fmt::Display for RadiusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RadiusError {}

/// Replaces the first `from` in the file at `path` with `to`; `missing`
/// is the error when the file has none.
fn patch_first(path: &Path, from: &str, to: &str, missing: &str) -> Result<(), RadiusError> {
    let text =
        fs::read_to_string(path).map_err(|e| err(format!("read {}: {e}", path.display())))?;
    let patched = text.replacen(from, to, 1);
    if patched == text {
        return Err(err(missing));
    }
    fs::write(path, patched).map_err(|e| err(format!("write {}: {e}", path.display())))
}

fn err(msg: impl Into<String>) -> RadiusError {
    RadiusError(msg.into())
}

/// The workspace root (tests/ is one level down).
pub fn workspace() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Builds rlm_netily with `test-hooks` once per process; returns the .so path.
pub fn test_module() -> Result<PathBuf, RadiusError> {
    static MODULE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("NETILY_TEST_MODULE") {
                return Ok(PathBuf::from(p));
            }
            Cdylib {
                package: "rlm_netily",
                features: "test-hooks",
                release: false,
                target_dir: "radius-tests",
            }
            .build()
        })
        .clone()
        .map_err(RadiusError)
}

/// A free UDP port on 127.0.0.1 (free when asked; radiusd binds it right after).
pub fn free_udp_port() -> Result<u16, RadiusError> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| err(format!("bind: {e}")))?;
    Ok(s.local_addr()
        .map_err(|e| err(format!("local_addr: {e}")))?
        .port())
}

/// Waits until a radiusd started with `-f -l stdout` (output to `log`) says
/// it is ready; an error with the log when it exits first or takes longer
/// than 20 s.
pub fn wait_ready(child: &mut Child, log: &Path) -> Result<(), RadiusError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let text = || fs::read_to_string(log).unwrap_or_default();
    loop {
        if text().contains("Ready to process requests") {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(err(format!(
                "radiusd exited during startup ({status}):\n{}",
                text()
            )));
        }
        if Instant::now() > deadline {
            return Err(err(format!(
                "radiusd not ready after {READY_TIMEOUT:?}:\n{}",
                text()
            )));
        }
        sleep(Duration::from_millis(50));
    }
}

/// A private radiusd; dropping it kills the server and removes its directory.
pub struct Radiusd {
    child: Child,
    dir: PathBuf,
    /// Set by [`Radiusd::crash`]: the directory outlives the server.
    keep_dir: bool,
    pub auth_port: u16,
    pub acct_port: u16,
}

/// Options for [`Radiusd::start_with`].
#[derive(Debug, Clone, Default)]
pub struct RadiusdOptions {
    /// The module to load (default: [`test_module`]).
    pub module: Option<PathBuf>,
    /// The Netily config file the module is pointed at (default: one whose
    /// database refuses connections).
    pub config_file: Option<PathBuf>,
    /// unlang lines inserted in `authorize` just before `netily`.
    pub before_netily: Option<String>,
    /// Extra environment for radiusd (e.g. NETILY_DATABASE_URL).
    pub env: Vec<(String, String)>,
    /// The dynamic clients' `lifetime` in seconds (default: the shipped
    /// site's 60), after which a client is looked up in the nas table again.
    pub client_lifetime: Option<u32>,
    /// Run radiusd inside this network namespace, listening on every
    /// address there (default: the host's, on 127.0.0.1 only).
    pub netns: Option<String>,
    /// Settings of the module's section (`mods-available/netily`) to
    /// replace, as (name, value): e.g. ("journal_max_mb", "1").
    pub module_settings: Vec<(String, String)>,
    /// The server's directory (default: a new one). Given the directory of
    /// a server that was killed, the new one finds its journals.
    pub dir: Option<PathBuf>,
    /// Ports to listen on (auth, acct) instead of free ones: a restarted
    /// server at its predecessor's address.
    pub ports: Option<(u16, u16)>,
    /// Call the stock `acct_unique` policy in preacct before `netily` (the
    /// shipped site leaves it to the module).
    pub stock_acct_unique: bool,
}

impl Radiusd {
    pub fn start() -> Result<Radiusd, RadiusError> {
        Radiusd::start_with(RadiusdOptions::default())
    }

    pub fn start_with(opts: RadiusdOptions) -> Result<Radiusd, RadiusError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let module = match opts.module {
            Some(m) => m,
            None => test_module()?,
        };
        // Under /tmp, not target/: radiusd cannot open files below a 0700
        // directory even as root (a checkout in /root or in `mktemp -d`).
        let dir = match opts.dir {
            Some(d) => d,
            None => {
                let d = std::env::temp_dir().join(format!(
                    "netily-radius-{}-{}",
                    std::process::id(),
                    SEQ.fetch_add(1, Ordering::SeqCst)
                ));
                let _ = fs::remove_dir_all(&d);
                d
            }
        };
        fs::create_dir_all(&dir).map_err(|e| err(format!("mkdir {}: {e}", dir.display())))?;
        let config_file = match opts.config_file {
            Some(c) => c,
            None => {
                let c = dir.join("netily.conf");
                // No database: an address that refuses at once.
                fs::write(
                    &c,
                    "database_url = postgresql://netily@127.0.0.1:1/none\nconnect_timeout = 1\n",
                )
                .map_err(|e| err(format!("write {}: {e}", c.display())))?;
                c
            }
        };
        let (auth_port, acct_port) = match opts.ports {
            Some(p) => p,
            None => {
                let auth = free_udp_port()?;
                let mut acct = free_udp_port()?;
                while acct == auth {
                    acct = free_udp_port()?;
                }
                (auth, acct)
            }
        };
        let out = Command::new("sh")
            .arg(workspace().join("scripts/freeradius-run.sh"))
            .arg("prepare")
            .env("NETILY_RADIUS_DIR", &dir)
            .env("NETILY_MODULE", &module)
            .env("NETILY_CONFIG_FILE", &config_file)
            .env("NETILY_AUTH_PORT", auth_port.to_string())
            .env("NETILY_ACCT_PORT", acct_port.to_string())
            .env(
                "NETILY_LISTEN_ADDRESS",
                if opts.netns.is_some() {
                    "*"
                } else {
                    "127.0.0.1"
                },
            )
            .output()
            .map_err(|e| err(format!("freeradius-run.sh prepare: {e}")))?;
        if !out.status.success() {
            return Err(err(format!(
                "freeradius-run.sh prepare failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let raddb = dir.join("raddb");
        let site = raddb.join("sites-available/netily");
        if let Some(lines) = &opts.before_netily {
            // The first bare `netily` line is the authorize call.
            let call = "\t\tnetily\n";
            patch_first(
                &site,
                call,
                &format!("{lines}\n{call}"),
                "no `netily` line in the site's authorize section",
            )?;
        }
        if opts.stock_acct_unique {
            let call = "\t\tnetily\n\t}\n\n\taccounting {";
            patch_first(
                &site,
                call,
                &format!("\t\tacct_unique\n{call}"),
                "no `netily` line ending the site's preacct section",
            )?;
        }
        if !opts.module_settings.is_empty() {
            let module = raddb.join("mods-available/netily");
            let mut text = fs::read_to_string(&module)
                .map_err(|e| err(format!("read {}: {e}", module.display())))?;
            for (name, value) in &opts.module_settings {
                let line = text
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{name} =")))
                    .ok_or_else(|| err(format!("no `{name} =` in mods-available/netily")))?
                    .to_owned();
                text = text.replacen(&line, &format!("\t{name} = {value}"), 1);
            }
            fs::write(&module, text)
                .map_err(|e| err(format!("write {}: {e}", module.display())))?;
        }
        if let Some(lifetime) = opts.client_lifetime {
            let site = raddb.join("sites-available/netily-dynamic-clients");
            patch_first(
                &site,
                "lifetime = 60",
                &format!("lifetime = {lifetime}"),
                "no `lifetime = 60` in netily-dynamic-clients",
            )?;
        }
        let log =
            fs::File::create(dir.join("radiusd.log")).map_err(|e| err(format!("log: {e}")))?;
        let log2 = log.try_clone().map_err(|e| err(format!("log: {e}")))?;
        // `ip netns exec` execs radiusd in place: the child is radiusd.
        let mut cmd = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "freeradius"]);
                c
            }
            None => Command::new("freeradius"),
        };
        let child = cmd
            .args(["-f", "-l", "stdout", "-d"])
            .arg(&raddb)
            // The config file names the database, not the test's environment.
            .env_remove("NETILY_DATABASE_URL")
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| err(format!("cannot start freeradius: {e}")))?;
        let mut server = Radiusd {
            child,
            dir,
            keep_dir: false,
            auth_port,
            acct_port,
        };
        let log = server.dir.join("radiusd.log");
        wait_ready(&mut server.child, &log)?;
        Ok(server)
    }

    /// A radiusd whose module reads `config`, checked to have loaded the
    /// subscribers; panics with its log when it did not start or load.
    pub fn serving(config: &Path) -> Radiusd {
        let server = Radiusd::start_with(RadiusdOptions {
            config_file: Some(config.to_path_buf()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            server.log().contains("rlm_netily: loaded"),
            "{}",
            server.log()
        );
        server
    }

    /// Everything radiusd logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("radiusd.log")).unwrap_or_default()
    }

    /// True while the radiusd process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends one Access-Request (radclient input syntax) and returns the reply.
    pub fn auth(&self, attributes: &str) -> Result<Reply, RadiusError> {
        radclient(self.auth_port, "auth", attributes)
    }

    /// Sends one Accounting-Request; once it is answered, waits (up to
    /// 10 s) until radiusd's accounting journal is applied to PostgreSQL,
    /// so the caller finds it in radacct.
    pub fn acct(&self, attributes: &str) -> Result<Reply, RadiusError> {
        let reply = self.acct_unapplied(attributes)?;
        if reply.is("Accounting-Response") {
            self.wait_applied(Duration::from_secs(10));
        }
        Ok(reply)
    }

    /// Sends an Accounting-Request twice (a retransmit), each answered with
    /// an Accounting-Response and applied; panics with radiusd's log if not.
    pub fn acct_twice(&self, attributes: &str) {
        for _ in 0..2 {
            let reply = self.acct(attributes).unwrap();
            assert!(
                reply.is("Accounting-Response"),
                "{attributes}: {reply:?}\n{}",
                self.log()
            );
        }
    }

    /// Sends one Accounting-Request and returns as soon as it is answered
    /// (in the journal; PostgreSQL may not have it yet).
    pub fn acct_unapplied(&self, attributes: &str) -> Result<Reply, RadiusError> {
        radclient(self.acct_port, "acct", attributes)
    }

    /// Where radiusd keeps its accounting journal.
    pub fn accounting_journal(&self) -> PathBuf {
        self.dir.join("journal/accounting")
    }

    /// Waits until every acknowledged Accounting-Request is applied to
    /// PostgreSQL (the journal's backlog is empty); false if not `within`.
    pub fn wait_applied(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match netily_core::journal::backlog(&self.accounting_journal()) {
                Ok(0) => return true,
                // Not created yet: nothing was journaled.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
                _ => {}
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            sleep(Duration::from_millis(10));
        }
    }
}

impl Radiusd {
    /// Kills radiusd with SIGKILL (no shutdown at all: as far as its files
    /// go, a crash or a power cut after the last sync) and keeps its
    /// directory. Returns options for a server in the same directory on
    /// the same ports: it finds the journals the dead one left.
    pub fn crash(mut self, mut restart: RadiusdOptions) -> RadiusdOptions {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.keep_dir = true;
        restart.dir = Some(self.dir.clone());
        restart.ports = Some((self.auth_port, self.acct_port));
        restart
    }
}

impl Drop for Radiusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_dir && std::env::var_os("NETILY_KEEP_RADIUS_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends one PAP Access-Request built byte by byte (not by radclient, which
/// hides what it verified) from 127.0.0.1 and returns the checked reply, or
/// None when no answer came within `timeout`. `message_authenticator` signs
/// the request as RouterOS 7.15+ does.
pub fn raw_pap(
    port: u16,
    secret: &str,
    user: &str,
    password: &str,
    message_authenticator: bool,
    timeout: Duration,
) -> Result<Option<radius::Reply>, RadiusError> {
    static ID: AtomicU32 = AtomicU32::new(0);
    let id = (ID.fetch_add(1, Ordering::Relaxed) % 256) as u8;
    let mut authenticator = [0u8; 16];
    // Unique per request and per run; RFC 2865 wants unpredictable, a test does not.
    let seed = format!("{}-{id}-{:?}", std::process::id(), Instant::now());
    for (i, b) in seed.bytes().enumerate() {
        authenticator[i % 16] ^= b;
    }
    let mut b = radius::Builder::new();
    b.start(radius::ACCESS_REQUEST, id, &authenticator);
    b.attr(radius::USER_NAME, user.as_bytes());
    let hidden = radius::hide_password(password.as_bytes(), secret.as_bytes(), &authenticator);
    b.attr(radius::USER_PASSWORD, &hidden);
    b.attr_u32(radius::NAS_IP_ADDRESS, 0x7f00_0001);
    let packet = b.finish_access(secret.as_bytes(), message_authenticator);
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| err(format!("bind: {e}")))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| err(format!("timeout: {e}")))?;
    socket
        .send_to(packet, ("127.0.0.1", port))
        .map_err(|e| err(format!("send: {e}")))?;
    let mut buf = [0u8; radius::MAX_PACKET];
    match socket.recv(&mut buf) {
        Ok(n) => radius::check_reply(&buf[..n], &authenticator, secret.as_bytes())
            .map(Some)
            .map_err(|e| err(format!("bad reply: {e:?}"))),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(err(format!("recv: {e}"))),
    }
}

/// A reply as radclient printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// e.g. "Access-Accept", "Access-Reject", "Accounting-Response"; None when
    /// the server did not answer.
    pub code: Option<String>,
    /// Reply attributes in order, values without surrounding quotes.
    pub attributes: Vec<(String, String)>,
}

impl Reply {
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// All values of one attribute.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Runs `radclient -x` once as the stock `localhost` client: no retry, 5 s
/// timeout (a reject arrives after the server's 1 s reject_delay).
pub fn radclient(port: u16, kind: &str, attributes: &str) -> Result<Reply, RadiusError> {
    radclient_as(port, kind, SECRET, 5, attributes)
}

/// Runs `radclient -x` once with a NAS's `secret`, waiting `timeout_secs`
/// for the answer (an ignored request gets none, so a short wait keeps such
/// checks quick).
pub fn radclient_as(
    port: u16,
    kind: &str,
    secret: &str,
    timeout_secs: u32,
    attributes: &str,
) -> Result<Reply, RadiusError> {
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    radclient_to(server, kind, secret, timeout_secs, attributes)
}

/// [`radclient_as`] to any server address, e.g. `coa` or `disconnect` to a
/// [`crate::coa_nas::CoaNas`].
pub fn radclient_to(
    server: SocketAddr,
    kind: &str,
    secret: &str,
    timeout_secs: u32,
    attributes: &str,
) -> Result<Reply, RadiusError> {
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t"])
        .arg(timeout_secs.to_string())
        .arg(server.to_string())
        .args([kind, secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run radclient: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(attributes.as_bytes())
            .map_err(|e| err(format!("radclient stdin: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("radclient: {e}")))?;
    Ok(parse_radclient(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `radclient -x` output: the "Received <Code> Id ..." line and the
/// tab-indented attributes after it, less the Message-Authenticator.
pub fn parse_radclient(text: &str) -> Reply {
    let mut code = None;
    let mut attributes = Vec::new();
    let mut in_reply = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Received ") {
            code = rest.split_whitespace().next().map(str::to_string);
            in_reply = true;
            attributes.clear();
        } else if line.starts_with("Sent ") {
            in_reply = false;
        } else if in_reply && line.starts_with('\t') {
            if let Some((n, v)) = line.trim().split_once(" = ") {
                // Every Access-* reply carries one (RouterOS needs it);
                // radclient has verified it, [`raw_pap`] checks it directly.
                if n == "Message-Authenticator" {
                    continue;
                }
                attributes.push((n.to_string(), v.trim_matches('"').to_string()));
            }
        }
    }
    Reply { code, attributes }
}
