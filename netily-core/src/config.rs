//! The one config file, read by netadmin, the RADIUS module and the VPN plugin.
//!
//! Format: `key = value` lines; `#` starts a comment; blank lines are ignored.
//! Precedence: built-in defaults < the file < `NETILY_DATABASE_URL` < a
//! command-line `--database-url`. A missing *default* file means defaults; a
//! file the operator named explicitly must exist.

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::{Policy, WalledGarden};
use crate::rate::RateLimit;
use crate::retention::Retention;
use crate::stale_session::{StaleSessionSettings, DEFAULT_INTERIM_INTERVAL, DEFAULT_MARGIN};
use crate::vpn_plan::VpnPlan;

pub const DEFAULT_PATH: &str = "/etc/netily/netily.conf";
/// Matches the private cluster `make run` starts.
pub const DEFAULT_DATABASE_URL: &str = "postgresql://netily:netily@127.0.0.1:55432/netily";
pub const DATABASE_URL_ENV: &str = "NETILY_DATABASE_URL";

const KEYS: &[&str] = &[
    "database_url",
    "pool_size",
    "connect_timeout",
    "grace_days",
    "walled_garden",
    "walled_garden_address_list",
    "walled_garden_rate",
    "walled_garden_session_timeout",
    "vpn_network",
    "vpn_tcp_network",
    "vpn_remote",
    "vpn_proto",
    "radius_server",
    "ca_key_seal",
    "ca_key_seal_file",
    "stale_session_margin",
    "default_interim_interval",
    "coa_source_address",
    "coa_per_router",
    "coa_timeout",
    "coa_tries",
    "coa_retry_after",
    "stale_session_check_interval",
    "timezone",
    "keep_radacct_months",
    "keep_radpostauth_months",
    "keep_hourly_usage_months",
    "keep_monthly_usage_months",
    "web_listen",
    "web_cookie_secure",
    "web_session_idle_minutes",
    "web_session_max_hours",
    "web_trusted_proxies",
];

/// The most months any `keep_*_months` takes: 100 years.
const MAX_KEEP_MONTHS: u32 = 1200;

/// The largest `stale_session_margin`: 7 days.
const MAX_STALE_SESSION_MARGIN: u32 = 604_800;
/// The largest `default_interim_interval`: 1 day.
const MAX_INTERIM_INTERVAL: u32 = 86_400;

/// OpenVPN's port, used when `vpn_remote` names none.
pub const DEFAULT_VPN_PORT: u16 = 1194;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Never print this whole: it may carry a password (see `db::redact_url`).
    #[serde(skip)]
    pub database_url: String,
    /// Connections in each server process's pool.
    pub pool_size: u32,
    /// Seconds to wait for a connection.
    pub connect_timeout: u32,
    /// Days after an invoice's due date before service is suspended.
    pub grace_days: u32,
    /// Accept billing-suspended subscribers into a walled garden instead of rejecting.
    pub walled_garden: bool,
    pub walled_garden_address_list: String,
    pub walled_garden_rate: RateLimit,
    pub walled_garden_session_timeout: u32,
    /// The UDP server's tunnel network (its `server` line must say the same).
    pub vpn_network: VpnPlan,
    /// The TCP server's tunnel network: two tun devices on one host cannot
    /// share one network.
    pub vpn_tcp_network: VpnPlan,
    /// Where routers dial the VPN server (host and port); None until set.
    pub vpn_remote: Option<VpnRemote>,
    pub vpn_proto: VpnProto,
    /// The RADIUS server routers are pointed at; None = the VPN server's
    /// tunnel address (`vpn_network` + 1).
    pub radius_server: Option<Ipv4Addr>,
    /// Key sealing the CA private key in the database. Secret: never
    /// serialized, and `Debug` hides it.
    #[serde(skip)]
    pub ca_key_seal: Option<SealKey>,
    /// A private (0600) file holding `ca_key_seal`, so this config can stay
    /// readable by the freerad group while the key does not.
    pub ca_key_seal_file: Option<std::path::PathBuf>,
    /// Seconds of silence allowed beyond two interim intervals before an
    /// open session is closed as stale (`crate::stale_session`).
    pub stale_session_margin: u32,
    /// Seconds between Interim-Updates assumed for a session when neither
    /// the session nor its plan tells.
    pub default_interim_interval: u32,
    /// The address CoA and Disconnect-Requests leave from; None = the RADIUS
    /// server address routers name (`radius_server()`) when it is local.
    pub coa_source_address: Option<IpAddr>,
    /// Requests in flight to one router at most.
    pub coa_per_router: u32,
    /// Seconds before a request is first sent again (doubling).
    pub coa_timeout: u32,
    /// Transmissions of one request in all.
    pub coa_tries: u32,
    /// Seconds before a subscriber whose request failed is tried again.
    pub coa_retry_after: u32,
    /// Seconds between the enforcer's checks for stale sessions (and for
    /// sessions a router acknowledged as disconnected but still reports).
    pub stale_session_check_interval: u32,
    /// The ISP's time zone (an IANA name): usage reports' hours, days and
    /// months begin on its clock. `netadmin migrate` stores it in the
    /// database, where the accounting writer reads it; None leaves the
    /// database's (UTC until set).
    pub timezone: Option<String>,
    /// Months of sessions, logins and usage kept (`crate::retention`).
    pub retention: Retention,
    /// The web console and API (netily-web).
    pub web: WebSettings,
}

/// netily-web's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebSettings {
    /// Where it listens: loopback by default, behind a TLS reverse proxy.
    pub listen: std::net::SocketAddr,
    /// Mark the session cookie Secure (sent over HTTPS only): on whenever
    /// operators reach the console through TLS.
    pub cookie_secure: bool,
    /// A console session ends after this many minutes without a request...
    pub session_idle_minutes: u32,
    /// ...and after this many hours whatever happens.
    pub session_max_hours: u32,
    /// Reverse proxies whose X-Forwarded-For names the client (the login
    /// limit counts per client address). Empty: the header is ignored, as
    /// anyone could send one.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            cookie_secure: false,
            session_idle_minutes: 60,
            session_max_hours: 12,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `vpn_remote`: the VPN server as routers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpnRemote {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for VpnRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl VpnRemote {
    /// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
    pub fn parse(text: &str) -> Option<VpnRemote> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':')?)),
            }
        } else if text.matches(':').count() == 1 {
            let (h, p) = text.split_once(':')?;
            (h, Some(p))
        } else {
            (text, None)
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b':'));
        if !host_ok {
            return None;
        }
        let port = match port {
            None => DEFAULT_VPN_PORT,
            Some(p) => u16::try_from(number(p, 1, 65_535)?).ok()?,
        };
        Some(VpnRemote {
            host: host.to_owned(),
            port,
        })
    }
}

/// `vpn_proto`: how routers reach the VPN server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VpnProto {
    #[default]
    Udp,
    Tcp,
}

/// 10.9.0.0/24: beside the UDP server's 10.8.0.0/24.
fn default_tcp_network() -> VpnPlan {
    VpnPlan::new(Ipv4Addr::new(10, 9, 0, 0), 24).unwrap_or_default()
}

/// `ca_key_seal`: 64 hex digits. Only netadmin needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey(String);

impl SealKey {
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<secret>)")
    }
}

/// A config problem: which file, which line, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            pool_size: 8,
            connect_timeout: 5,
            grace_days: 7,
            walled_garden: false,
            walled_garden_address_list: "netily-walled-garden".to_owned(),
            walled_garden_rate: default_walled_garden_rate(),
            walled_garden_session_timeout: 300,
            vpn_network: VpnPlan::default(),
            vpn_tcp_network: default_tcp_network(),
            vpn_remote: None,
            vpn_proto: VpnProto::default(),
            radius_server: None,
            ca_key_seal: None,
            ca_key_seal_file: None,
            stale_session_margin: DEFAULT_MARGIN,
            default_interim_interval: DEFAULT_INTERIM_INTERVAL,
            coa_source_address: None,
            coa_per_router: 32,
            coa_timeout: 2,
            coa_tries: 3,
            coa_retry_after: 60,
            stale_session_check_interval: 30,
            timezone: None,
            retention: Retention::default(),
            web: WebSettings::default(),
        }
    }
}

// A constant the rate rules accept (the `defaults` test builds it), so this
// cannot fail at run time; Config::default has no error to return.
#[allow(clippy::expect_used)]
fn default_walled_garden_rate() -> RateLimit {
    RateLimit::simple(256_000, 256_000).expect("256k/256k is a valid rate")
}

impl Config {
    /// Reads `path`, which must exist.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_small_file(path, "config file")?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Reads `ca_key_seal_file` (which must be private) unless the key is
    /// given inline. Only netadmin calls this: the servers never need the
    /// key, and radiusd (running as freerad) cannot read the file.
    pub fn read_seal_file(&mut self) -> Result<(), ConfigError> {
        let Some(file) = self.ca_key_seal_file.as_deref() else {
            return Ok(());
        };
        if self.ca_key_seal.is_some() {
            return Ok(());
        }
        check_private_file(file)?;
        let text = read_small_file(file, "ca_key_seal_file")?;
        self.ca_key_seal = Some(seal_key(text.trim(), &file.display().to_string())?);
        Ok(())
    }

    /// The config a program should run with: `explicit` (must exist) or the
    /// default path (may be missing), then the environment, then the flag.
    pub fn resolve(
        explicit: Option<&Path>,
        database_url_flag: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let mut config = match Config::resolve_path(explicit) {
            Some(path) => Config::load(&path)?,
            None => Config::default(),
        };
        if let Ok(url) = std::env::var(DATABASE_URL_ENV) {
            if !url.trim().is_empty() {
                config.database_url = url.trim().to_owned();
            }
        }
        if let Some(url) = database_url_flag {
            config.database_url = url.to_owned();
        }
        Ok(config)
    }

    /// The file [`Config::resolve`] reads: `explicit`, else the default path
    /// if it exists, else none (defaults only).
    pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
        match explicit {
            Some(path) => Some(path.to_owned()),
            None => {
                let path = PathBuf::from(DEFAULT_PATH);
                path.exists().then_some(path)
            }
        }
    }

    /// Parses config text; `origin` names it in errors (usually the path).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError(format!(
                    "{origin}:{n}: expected `key = value`, got \"{}\"",
                    unless_seal(line)
                )));
            };
            let (key, value) = (key.trim(), unquote(value.trim()));
            let bad = |allowed: &str| {
                ConfigError(format!("{origin}:{n}: {key}: {allowed}, got \"{value}\""))
            };
            match key {
                "database_url" => {
                    if value.is_empty() {
                        return Err(bad("expected a PostgreSQL URL"));
                    }
                    c.database_url = value.to_owned();
                }
                "pool_size" => {
                    c.pool_size = number(value, 1, 1000)
                        .ok_or_else(|| bad("expected a number of connections from 1 to 1000"))?
                }
                "connect_timeout" => {
                    c.connect_timeout = number(value, 1, 3600)
                        .ok_or_else(|| bad("expected seconds from 1 to 3600"))?
                }
                "grace_days" => {
                    c.grace_days = number(value, 0, 3650)
                        .ok_or_else(|| bad("expected a whole number of days from 0 to 3650"))?
                }
                "walled_garden" | "web_cookie_secure" => {
                    let on = match value {
                        "on" | "yes" | "true" => true,
                        "off" | "no" | "false" => false,
                        _ => return Err(bad("expected on or off")),
                    };
                    if key == "walled_garden" {
                        c.walled_garden = on;
                    } else {
                        c.web.cookie_secure = on;
                    }
                }
                "web_listen" => {
                    c.web.listen = value
                        .parse()
                        .map_err(|_| bad("expected an address and port like 127.0.0.1:8080"))?;
                }
                "web_session_idle_minutes" => {
                    c.web.session_idle_minutes =
                        number(value, 1, 24 * 60).ok_or_else(|| bad("expected 1 to 1440"))?;
                }
                "web_session_max_hours" => {
                    c.web.session_max_hours =
                        number(value, 1, 30 * 24).ok_or_else(|| bad("expected 1 to 720"))?;
                }
                "web_trusted_proxies" => {
                    c.web.trusted_proxies = value
                        .split([',', ' '])
                        .filter(|a| !a.is_empty())
                        .map(|a| a.parse())
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| {
                            bad("expected addresses like 127.0.0.1, ::1 (the proxies' own)")
                        })?;
                }
                "timezone" => {
                    let zone_char = |c: char| c.is_ascii_alphanumeric() || "/_+-".contains(c);
                    if value.is_empty()
                        || value.len() > 64
                        || !value.chars().all(zone_char)
                        || value
                            .split('/')
                            .any(|part| part.is_empty() || part.starts_with('.'))
                    {
                        return Err(bad("expected a time zone name like Africa/Nairobi or UTC"));
                    }
                    c.timezone = Some(value.to_owned());
                }
                "keep_radacct_months"
                | "keep_radpostauth_months"
                | "keep_hourly_usage_months"
                | "keep_monthly_usage_months" => {
                    let months = number(value, 0, MAX_KEEP_MONTHS).ok_or_else(|| {
                        bad("expected whole months from 0 (keep for ever) to 1200")
                    })?;
                    let r = &mut c.retention;
                    *match key {
                        "keep_radacct_months" => &mut r.radacct_months,
                        "keep_radpostauth_months" => &mut r.radpostauth_months,
                        "keep_hourly_usage_months" => &mut r.hourly_usage_months,
                        _ => &mut r.monthly_usage_months,
                    } = months;
                }
                "walled_garden_address_list" => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(bad("expected a RouterOS address-list name without spaces"));
                    }
                    c.walled_garden_address_list = value.to_owned();
                }
                "walled_garden_rate" => {
                    c.walled_garden_rate = value.parse().map_err(|e| {
                        ConfigError(format!("{origin}:{n}: walled_garden_rate: {e}"))
                    })?
                }
                "walled_garden_session_timeout" => {
                    c.walled_garden_session_timeout = number(value, 1, 31_536_000)
                        .ok_or_else(|| bad("expected seconds from 1 to 31536000"))?
                }
                "vpn_network" => {
                    c.vpn_network = value
                        .parse()
                        .map_err(|e| ConfigError(format!("{origin}:{n}: vpn_network: {e}")))?
                }
                "vpn_tcp_network" => {
                    c.vpn_tcp_network = value
                        .parse()
                        .map_err(|e| ConfigError(format!("{origin}:{n}: vpn_tcp_network: {e}")))?
                }
                "vpn_remote" => {
                    c.vpn_remote = Some(VpnRemote::parse(value).ok_or_else(|| {
                        bad("expected host[:port], e.g. vpn.isp.example:1194 (port 1-65535)")
                    })?)
                }
                "vpn_proto" => {
                    c.vpn_proto = match value {
                        "udp" => VpnProto::Udp,
                        "tcp" => VpnProto::Tcp,
                        _ => return Err(bad("expected udp or tcp")),
                    }
                }
                "coa_source_address" => {
                    c.coa_source_address =
                        Some(value.parse().map_err(|_| bad("expected an IP address"))?)
                }
                "coa_per_router" => {
                    c.coa_per_router = number(value, 1, 256)
                        .ok_or_else(|| bad("expected a number of requests from 1 to 256"))?
                }
                "coa_timeout" => {
                    c.coa_timeout =
                        number(value, 1, 60).ok_or_else(|| bad("expected seconds from 1 to 60"))?
                }
                "coa_tries" => {
                    c.coa_tries =
                        number(value, 1, 10).ok_or_else(|| bad("expected a number from 1 to 10"))?
                }
                "stale_session_check_interval" => {
                    c.stale_session_check_interval = number(value, 1, 3600)
                        .ok_or_else(|| bad("expected seconds from 1 to 3600"))?
                }
                "coa_retry_after" => {
                    c.coa_retry_after = number(value, 1, 86_400)
                        .ok_or_else(|| bad("expected seconds from 1 to 86400"))?
                }
                "radius_server" => {
                    c.radius_server =
                        Some(value.parse().map_err(|_| bad("expected an IPv4 address"))?)
                }
                "ca_key_seal" => {
                    c.ca_key_seal = Some(seal_key(value, &format!("{origin}:{n}"))?);
                }
                "ca_key_seal_file" => {
                    if value.is_empty() {
                        return Err(bad("expected the path of a 0600 file holding the key"));
                    }
                    c.ca_key_seal_file = Some(value.into());
                }
                "stale_session_margin" => {
                    c.stale_session_margin = number(value, 0, MAX_STALE_SESSION_MARGIN)
                        .ok_or_else(|| bad("expected seconds from 0 to 604800 (7 days)"))?
                }
                "default_interim_interval" => {
                    c.default_interim_interval = number(value, 1, MAX_INTERIM_INTERVAL)
                        .ok_or_else(|| bad("expected seconds from 1 to 86400 (1 day)"))?
                }
                _ => {
                    return Err(ConfigError(format!(
                        "{origin}:{n}: unknown key \"{}\" (known keys: {})",
                        unless_seal(key),
                        KEYS.join(", ")
                    )))
                }
            }
        }
        Ok(c)
    }

    /// The tunnel network of the server on `proto`.
    pub fn vpn_plan(&self, proto: VpnProto) -> VpnPlan {
        match proto {
            VpnProto::Udp => self.vpn_network,
            VpnProto::Tcp => self.vpn_tcp_network,
        }
    }

    /// The one place a router's addresses come from: the network of the
    /// server routers dial (`vpn_proto`). The address the plugin pushes, the
    /// one the RouterOS script sends RADIUS from, the one `router show`
    /// prints and the one RADIUS accepts it from are all this plan's
    /// `router_address(vpn_id)`.
    pub fn router_plan(&self) -> VpnPlan {
        self.vpn_plan(self.vpn_proto)
    }

    /// The RADIUS server routers are pointed at: `radius_server`, else the
    /// tunnel address of the server they dial.
    pub fn radius_address(&self) -> Ipv4Addr {
        self.radius_server
            .unwrap_or_else(|| self.router_plan().server_address())
    }

    /// When an open session is stale (`crate::stale_session`).
    pub fn stale_sessions(&self) -> StaleSessionSettings {
        StaleSessionSettings {
            margin: self.stale_session_margin,
            default_interim_interval: self.default_interim_interval,
        }
    }

    /// The operator policy the access decision reads.
    pub fn policy(&self) -> Policy {
        Policy {
            grace_days: self.grace_days,
            walled_garden: self.walled_garden.then(|| WalledGarden {
                address_list: self.walled_garden_address_list.clone(),
                rate: self.walled_garden_rate.clone(),
                session_timeout: self.walled_garden_session_timeout,
            }),
        }
    }
}

/// `ca_key_seal`'s value: 64 hex digits. Never echoes the value: it is the key.
fn seal_key(value: &str, at: &str) -> Result<SealKey, ConfigError> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError(format!(
            "{at}: ca_key_seal: expected 64 hexadecimal digits (e.g. from `openssl rand -hex 32`)"
        )));
    }
    Ok(SealKey(value.to_owned()))
}

/// The largest config (or key) file read; a real one is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a regular file of at most [`MAX_FILE_BYTES`] as text. Anything else
/// (a device such as /dev/zero, a FIFO, a directory) is refused before it is
/// read, in an error naming `what` and the path.
fn read_small_file(path: &Path, what: &str) -> Result<String, ConfigError> {
    let fail = |why: &dyn fmt::Display| {
        ConfigError(format!("cannot read {what} {}: {why}", path.display()))
    };
    let check = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            return Err(fail(&"not a regular file"));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(fail(&"larger than 1 MiB"));
        }
        Ok(())
    };
    // Before opening too: opening a FIFO would wait for a writer.
    check(std::fs::metadata(path).map_err(|e| fail(&e))?)?;
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    // The file opened, in case the path changed in between.
    check(file.metadata().map_err(|e| fail(&e))?)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(&e))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(&"larger than 1 MiB"));
    }
    Ok(text)
}

/// Refuses a file that group or others may read: for files that hold a key
/// (`ca_key_seal`), so a key never sits in a file other accounts can copy.
pub fn check_private_file(path: &Path) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError(format!(
            "config file {} holds ca_key_seal but is readable by group or others (mode {mode:03o}); \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Config text for an error message, unless it may hold the seal: a
/// `ca_key_seal` line written without its '=' (`ca_key_seal: KEY`,
/// `ca_key_seal KEY = `) is still the key, and errors are logged.
fn unless_seal(text: &str) -> &str {
    if text.starts_with("ca_key_seal") {
        "ca_key_seal ..."
    } else {
        text
    }
}

fn strip_comment(line: &str) -> &str {
    // `#` starts a comment unless it sits inside double quotes.
    let mut quoted = false;
    for (i, ch) in line.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

fn number(v: &str, min: u32, max: u32) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|n| (min..=max).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.pool_size, 8);
        assert_eq!(c.grace_days, 7);
        assert_eq!(c.vpn_network.to_string(), "10.8.0.0/24");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.walled_garden_rate.to_string(), "256k/256k");
        assert_eq!(c.policy().walled_garden, None);
    }

    #[test]
    fn a_seal_written_without_an_equals_sign_is_refused_without_showing_it() {
        // Found by fuzzing (fuzz/corpus/config/seal-without-equals and
        // seal-as-a-key).
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        for line in [
            format!("ca_key_seal {key}"),
            format!("ca_key_seal: {key}"),
            format!("  ca_key_seal_{key}"),
        ] {
            let e = Config::parse(&line, "t.conf").unwrap_err().to_string();
            assert!(!e.contains(key) && !e.contains(&key[..16]), "{e}");
            assert_eq!(
                e,
                "t.conf:1: expected `key = value`, got \"ca_key_seal ...\""
            );
        }
        let e = Config::parse(&format!("ca_key_seal {key} ="), "t.conf").unwrap_err();
        assert!(
            e.to_string().contains("unknown key \"ca_key_seal ...\""),
            "{e}"
        );
        assert!(!e.to_string().contains(&key[..16]), "{e}");
        // Other lines are still shown, to be found and fixed.
        let e = Config::parse("pool_size 8", "t.conf")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "t.conf:1: expected `key = value`, got \"pool_size 8\"");
    }

    #[test]
    fn parses_every_key() {
        let text = "# Netily\n\
            database_url = postgresql://a:b@db/netily  # inline comment\n\
            pool_size = 16\n\
            connect_timeout = 3\n\
            grace_days = 3\n\
            walled_garden = on\n\
            walled_garden_address_list = unpaid\n\
            walled_garden_rate = 128k/128k\n\
            walled_garden_session_timeout = 600\n\
            \n\
            vpn_network = 10.9.0.0/16\n";
        let c = Config::parse(text, "t.conf").unwrap();
        assert_eq!(c.database_url, "postgresql://a:b@db/netily");
        assert_eq!(c.pool_size, 16);
        assert_eq!(c.connect_timeout, 3);
        assert_eq!(c.grace_days, 3);
        assert_eq!(c.vpn_network.to_string(), "10.9.0.0/16");
        let p = c.policy();
        assert_eq!(p.grace_days, 3);
        let wg = p.walled_garden.unwrap();
        assert_eq!(wg.address_list, "unpaid");
        assert_eq!(wg.rate.to_string(), "128k/128k");
        assert_eq!(wg.session_timeout, 600);
    }

    #[test]
    fn web_keys_are_read_and_bad_values_refused() {
        let c = Config::parse(
            "web_listen = 0.0.0.0:9000\nweb_cookie_secure = yes\n\
             web_session_idle_minutes = 15\nweb_session_max_hours = 8\n\
             web_trusted_proxies = 127.0.0.1, ::1\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.web.listen.to_string(), "0.0.0.0:9000");
        assert!(c.web.cookie_secure);
        assert_eq!(
            (c.web.session_idle_minutes, c.web.session_max_hours),
            (15, 8)
        );
        assert_eq!(
            c.web.trusted_proxies,
            [
                "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(Config::default().web.listen.to_string(), "127.0.0.1:8080");
        for bad in [
            "web_listen = localhost",
            "web_cookie_secure = maybe",
            "web_session_idle_minutes = 0",
            "web_session_max_hours = 721",
            "web_trusted_proxies = 10.0.0.0/8",
        ] {
            let e = Config::parse(bad, "t.conf").unwrap_err().0;
            assert!(e.starts_with("t.conf:1: web_"), "{e}");
        }
    }

    #[test]
    fn the_enforcers_keys_are_read_and_bad_values_refused() {
        let c = Config::parse(
            "coa_source_address = 10.8.0.1\ncoa_per_router = 8\ncoa_timeout = 1\n\
             coa_tries = 5\ncoa_retry_after = 30\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.coa_source_address, Some("10.8.0.1".parse().unwrap()));
        assert_eq!(
            (
                c.coa_per_router,
                c.coa_timeout,
                c.coa_tries,
                c.coa_retry_after
            ),
            (8, 1, 5, 30)
        );
        for bad in [
            "coa_source_address = router",
            "coa_per_router = 0",
            "coa_per_router = 257",
            "coa_timeout = 61",
            "coa_tries = 0",
            "coa_retry_after = -1",
        ] {
            let e = Config::parse(bad, "x.conf").unwrap_err();
            assert!(e.0.starts_with("x.conf:1: coa_"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::parse("pool_size = 4\nfoo = 1\n", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:2: unknown key \"foo\""), "{e}");
        let e = Config::parse("\n\ngrace_days = soon\n", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:3: grace_days:"), "{e}");
        let e = Config::parse("walled_garden = maybe", "x.conf").unwrap_err();
        assert!(
            e.0.contains("x.conf:1: walled_garden: expected on or off"),
            "{e}"
        );
        let e = Config::parse("vpn_network = 10.8.0.1/24", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:1: vpn_network:"), "{e}");
        let e = Config::parse("just words", "x.conf").unwrap_err();
        assert!(e.0.contains("expected `key = value`"), "{e}");
        let e = Config::parse("pool_size = 0", "x.conf").unwrap_err();
        assert!(e.0.contains("pool_size"), "{e}");
    }

    #[test]
    fn retention_keys_take_whole_months_and_zero_keeps_for_ever() {
        let c = Config::parse("", "t").expect("empty");
        assert_eq!(c.retention, Retention::default());
        let c = Config::parse(
            "keep_radacct_months = 13\nkeep_radpostauth_months = 0\n\
             keep_hourly_usage_months = 1\nkeep_monthly_usage_months = 1200\n",
            "t",
        )
        .expect("valid");
        assert_eq!(
            c.retention,
            Retention {
                radacct_months: 13,
                radpostauth_months: 0,
                hourly_usage_months: 1,
                monthly_usage_months: 1200,
            }
        );
        for bad in ["-1", "1201", "3.5", "12m", ""] {
            let text = format!("keep_radacct_months = {bad}\n");
            let e = Config::parse(&text, "t").expect_err(bad).0;
            assert!(e.contains("whole months"), "{e}");
        }
    }

    #[test]
    fn stale_session_keys() {
        let c = Config::default();
        assert_eq!(c.stale_sessions(), StaleSessionSettings::default());
        let c = Config::parse(
            "stale_session_margin = 0\ndefault_interim_interval = 60\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(
            c.stale_sessions(),
            StaleSessionSettings {
                margin: 0,
                default_interim_interval: 60
            }
        );
        let margin = "expected seconds from 0 to 604800 (7 days)";
        let interval = "expected seconds from 1 to 86400 (1 day)";
        for (text, allowed) in [
            ("stale_session_margin = -1", margin),
            ("stale_session_margin = 604801", margin),
            ("stale_session_margin = 5m", margin),
            ("default_interim_interval = 0", interval),
            ("default_interim_interval = 86401", interval),
            ("default_interim_interval =", interval),
        ] {
            let e = Config::parse(text, "x.conf").unwrap_err();
            let key = text.split(' ').next().unwrap_or_default();
            assert!(
                e.0.starts_with(&format!("x.conf:1: {key}: {allowed}")),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn vpn_keys() {
        let c = Config::default();
        assert_eq!(c.vpn_remote, None);
        assert_eq!(c.vpn_proto, VpnProto::Udp);
        assert_eq!(c.radius_address(), Ipv4Addr::new(10, 8, 0, 1));
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let c = Config::parse(
            &format!(
                "vpn_remote = vpn.isp.example:443\nvpn_proto = tcp\n\
                 radius_server = 10.8.0.254\nca_key_seal = {key}\n"
            ),
            "t.conf",
        )
        .unwrap();
        assert_eq!(
            c.vpn_remote,
            Some(VpnRemote {
                host: "vpn.isp.example".into(),
                port: 443
            })
        );
        assert_eq!(c.vpn_proto, VpnProto::Tcp);
        assert_eq!(c.radius_address(), Ipv4Addr::new(10, 8, 0, 254));
        assert_eq!(c.ca_key_seal.as_ref().map(SealKey::hex), Some(key));
        // Without radius_server, routers that dial TCP are told the TCP
        // server's tunnel address, in the TCP network.
        let c = Config::parse(
            "vpn_proto = tcp
vpn_tcp_network = 10.77.0.0/16
",
            "t.conf",
        )
        .unwrap();
        assert_eq!(c.router_plan().to_string(), "10.77.0.0/16");
        assert_eq!(c.radius_address(), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(Config::default().vpn_tcp_network.to_string(), "10.9.0.0/24");
        assert!(!format!("{c:?}").contains(key), "Debug hides the key");
        assert!(!serde_json::to_string(&c).unwrap().contains(key));

        for (text, host, port) in [
            ("203.0.113.5", "203.0.113.5", 1194),
            ("[2001:db8::1]:1195", "2001:db8::1", 1195),
            ("2001:db8::1", "2001:db8::1", 1194),
        ] {
            let r = VpnRemote::parse(text).unwrap();
            assert_eq!((r.host.as_str(), r.port), (host, port), "{text}");
        }
        for bad in [
            "",
            "a b",
            "h:0",
            "h:70000",
            "h:",
            "[::1]x",
            "x\nscript-security 3",
        ] {
            assert_eq!(VpnRemote::parse(bad), None, "{bad:?}");
        }
        let e = Config::parse("ca_key_seal = abc123", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:1: ca_key_seal: expected 64"), "{e}");
        assert!(!e.0.contains("abc123"), "the key is not echoed: {e}");
        let e = Config::parse("vpn_proto = sctp", "x.conf").unwrap_err();
        assert!(e.0.contains("vpn_proto: expected udp or tcp"), "{e}");
    }

    #[test]
    fn private_file_check() {
        let dir = std::env::temp_dir().join(format!("netily-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.conf");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = check_private_file(&path).unwrap_err();
        assert!(e.0.contains("chmod 600") && e.0.contains("n.conf"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_private_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn seal_key_from_a_private_file_keeps_the_config_shareable() {
        let dir = std::env::temp_dir().join(format!("netily-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = "ab".repeat(32);
        let seal = dir.join("seal");
        std::fs::write(&seal, format!("{key}\n")).unwrap();
        let conf = dir.join("n.conf");
        std::fs::write(&conf, format!("ca_key_seal_file = {}\n", seal.display())).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();

        // The servers load it without touching the key file.
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = Config::load(&conf).unwrap();
        assert!(c.ca_key_seal.is_none());
        let e = c.read_seal_file().unwrap_err();
        assert!(e.0.contains("chmod 600") && e.0.contains("seal"), "{e}");

        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut c = Config::load(&conf).unwrap();
        c.read_seal_file().unwrap();
        assert_eq!(c.ca_key_seal.as_ref().map(SealKey::hex), Some(key.as_str()));

        std::fs::write(&seal, "not-a-key").unwrap();
        let mut c = Config::load(&conf).unwrap();
        let e = c.read_seal_file().unwrap_err();
        assert!(
            e.0.contains("expected 64") && !e.0.contains("not-a-key"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let e = Config::resolve(Some(Path::new("/nonexistent/netily.conf")), None).unwrap_err();
        assert!(e.0.contains("/nonexistent/netily.conf"), "{e}");
    }

    #[test]
    fn only_regular_files_up_to_1_mib_are_read() {
        let e = Config::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.0, "cannot read config file /dev/zero: not a regular file");
        let e = Config::load(Path::new("/")).unwrap_err();
        assert!(e.0.ends_with(": not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("netily-conf-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("netily.conf");
        let line = "# padding\n";
        let fits = line.repeat(MAX_FILE_BYTES as usize / line.len());
        std::fs::write(&path, &fits).unwrap();
        Config::load(&path).unwrap();
        std::fs::write(&path, fits + line).unwrap();
        let e = Config::load(&path).unwrap_err();
        assert_eq!(
            e.0,
            format!(
                "cannot read config file {}: larger than 1 MiB",
                path.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flag_overrides_file() {
        let dir = std::env::temp_dir().join(format!("netily-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.conf");
        std::fs::write(&path, "database_url = postgresql://file/db\n").unwrap();
        let c = Config::resolve(Some(&path), Some("postgresql://flag/db")).unwrap();
        assert_eq!(c.database_url, "postgresql://flag/db");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
