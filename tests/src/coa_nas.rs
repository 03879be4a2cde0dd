//! A stand-in router (NAS) for RFC 5176 CoA-Request and Disconnect-Request:
//! a real FreeRADIUS 3.2 that records every packet it receives and answers
//! ACK or NAK, killed when the guard drops.
//!
//! The private raddb is a copy of /etc/freeradius/3.0 (never modified) in a
//! fresh directory under /tmp with every stock site disabled, `eap` removed,
//! no user/group switch, one `client` per accepted sender address with the
//! NAS secret (FreeRADIUS picks the secret by the packet's source address and
//! silently drops packets from any other address), and one `listen { type =
//! coa }` virtual server. radiusd runs as a direct child with `-f -l stdout`,
//! optionally inside a network namespace.
//!
//! What it answers: a request whose Acct-Session-Id starts with
//! [`CoaNasOptions::known_session_prefix`] gets CoA-ACK / Disconnect-ACK;
//! any other (also one without Acct-Session-Id) gets CoA-NAK /
//! Disconnect-NAK with Error-Cause 503 (Session-Context-Not-Found). With
//! [`CoaNasOptions::silent`] it answers nothing (the `do_not_respond` policy).
//!
//! What it records: FreeRADIUS verifies the Request Authenticator (and the
//! Message-Authenticator when present) with the client's secret and drops a
//! packet that fails before any unlang runs, so **every recorded packet is a
//! valid one**: a wrong secret or an unknown sender leaves no record (only a
//! line in radiusd's log). Every datagram is recorded, retransmissions
//! included: `cleanup_delay = 0` turns off FreeRADIUS's duplicate cache,
//! which would otherwise swallow a retransmission for 5 s without a trace.
//! Records are one linelog line per packet, fields separated by tabs, string
//! values hex-encoded (a tab cannot occur in one) and absent attributes empty.
//!
//! Failure behaviour: [`CoaNas::start`] returns an error with radiusd's log
//! when the server does not come up within 20 s; the guard kills and reaps
//! radiusd and removes its directory on drop (`NETILY_KEEP_RADIUS_DIR` keeps
//! it). [`CoaNas::received`] panics on a complete record it cannot parse (a
//! harness bug, not a test outcome).

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::freeradius::{free_udp_port, wait_ready, RadiusError};

/// The packet kinds as recorded.
pub const COA_REQUEST: &str = "CoA-Request";
pub const DISCONNECT_REQUEST: &str = "Disconnect-Request";

/// The linelog instance and virtual server names in the private raddb.
const LOG_MODULE: &str = "coa_nas_log";
const SITE: &str = "coa_nas";

/// The fields of one record, in order, after the packet kind. Strings go
/// hex-encoded, numbers as digits (`%{integer:}`: Event-Timestamp would
/// otherwise render as "Nov 14 2023 22:13:20 UTC"), addresses dotted and
/// the Message-Authenticator as 0x...; `%l`/`%M` are the seconds and
/// microseconds of the time radiusd read the datagram, `%I` its Identifier.
const FIELDS: &[(&str, &str)] = &[
    ("id", "%I"),
    ("sec", "%l"),
    ("usec", "%M"),
    ("user", "%{hex:&User-Name}"),
    ("sid", "%{hex:&Acct-Session-Id}"),
    ("ip", "%{Framed-IP-Address}"),
    ("nas", "%{NAS-IP-Address}"),
    ("rate", "%{hex:&Mikrotik-Rate-Limit}"),
    ("timeout", "%{integer:&Session-Timeout}"),
    ("ts", "%{integer:&Event-Timestamp}"),
    ("ma", "%{Message-Authenticator}"),
];

/// Options for [`CoaNas::start`].
#[derive(Debug, Clone)]
pub struct CoaNasOptions {
    /// The address the NAS listens on (default 127.0.0.1); with `netns`, an
    /// address inside that namespace.
    pub address: IpAddr,
    /// The UDP port; 0 picks a free one (default).
    pub port: u16,
    /// The shared secret of every accepted sender (default "coa-secret").
    pub secret: String,
    /// The source addresses it accepts packets from (default 127.0.0.1);
    /// packets from any other address are dropped unrecorded.
    pub clients: Vec<IpAddr>,
    /// An Acct-Session-Id starting with this is a session the NAS knows
    /// (ACK); any other gets a NAK with Error-Cause 503. Empty (default):
    /// every request is ACKed, with or without Acct-Session-Id. ASCII
    /// letters, digits and `-_.:@` only.
    pub known_session_prefix: String,
    /// Record but never answer, to test retransmission and giving up.
    pub silent: bool,
    /// Run radiusd inside this network namespace (default: the host's).
    pub netns: Option<String>,
}

impl Default for CoaNasOptions {
    fn default() -> Self {
        CoaNasOptions {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            secret: "coa-secret".to_string(),
            clients: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            known_session_prefix: String::new(),
            silent: false,
            netns: None,
        }
    }
}

/// One valid packet the NAS received. String attributes are decoded
/// lossily as UTF-8; an absent attribute is None.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoaPacket {
    /// [`COA_REQUEST`] or [`DISCONNECT_REQUEST`].
    pub kind: String,
    /// The RADIUS Identifier (a retransmission repeats it).
    pub id: u8,
    pub user_name: Option<String>,
    pub acct_session_id: Option<String>,
    /// Framed-IP-Address, dotted.
    pub framed_ip: Option<String>,
    /// NAS-IP-Address, dotted.
    pub nas_ip: Option<String>,
    /// Mikrotik-Rate-Limit.
    pub rate_limit: Option<String>,
    /// Session-Timeout in seconds, as digits.
    pub session_timeout: Option<String>,
    /// Event-Timestamp as Unix seconds (digits), not FreeRADIUS's date text.
    pub event_timestamp: Option<String>,
    /// Whether the packet carried a (verified) Message-Authenticator.
    pub message_authenticator: bool,
    /// When radiusd read the datagram, to the microsecond.
    pub received_at: SystemTime,
}

/// The running stand-in NAS; dropping it kills radiusd and removes its
/// directory.
pub struct CoaNas {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl CoaNas {
    pub fn start(opts: CoaNasOptions) -> Result<CoaNas, RadiusError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let site_check = known_session_condition(&opts.known_session_prefix)?;
        if opts.clients.is_empty() {
            return Err(RadiusError("a CoA NAS needs at least one client".into()));
        }
        let port = match opts.port {
            0 => free_udp_port()?,
            p => p,
        };
        // Under /tmp, as for Radiusd: radiusd cannot read below a 0700 dir.
        let dir = std::env::temp_dir().join(format!(
            "netily-coa-nas-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        let raddb = dir.join("raddb");
        // Owned by the guard from here on: an error below removes the dir.
        let mut guard = DirGuard(Some(dir.clone()));
        for sub in ["run", "log"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| io_err("mkdir", &d, e))?;
        }
        let out = Command::new("cp")
            .args(["-a", "/etc/freeradius/3.0"])
            .arg(&raddb)
            .output()
            .map_err(|e| RadiusError(format!("cp: {e}")))?;
        if !out.status.success() {
            return Err(RadiusError(format!(
                "cannot copy /etc/freeradius/3.0: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        prepare(&raddb, &dir, &opts, port, &site_check)?;

        let log_path = dir.join("radiusd.log");
        let log = fs::File::create(&log_path).map_err(|e| io_err("create", &log_path, e))?;
        let log2 = log.try_clone().map_err(|e| io_err("clone", &log_path, e))?;
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
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| RadiusError(format!("cannot start freeradius: {e}")))?;
        guard.0 = None;
        let mut nas = CoaNas {
            child,
            dir,
            addr: SocketAddr::new(opts.address, port),
        };
        wait_ready(&mut nas.child, &log_path)?;
        Ok(nas)
    }

    /// Where to send CoA-Request and Disconnect-Request.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything radiusd logged so far (why a packet was dropped, etc.).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("radiusd.log")).unwrap_or_default()
    }

    /// Every packet received so far, in order, parsed from the linelog file.
    /// A record still being written (no newline yet) is left for later.
    pub fn received(&self) -> Vec<CoaPacket> {
        let text = fs::read_to_string(self.records_path()).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .map(|line| {
                parse_record(line).unwrap_or_else(|e| panic!("bad CoA NAS record {line:?}: {e}"))
            })
            .collect()
    }

    /// Waits until at least `n` packets were received or `timeout` passed,
    /// and returns every packet received (fewer than `n` on timeout).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<CoaPacket> {
        let deadline = Instant::now() + timeout;
        loop {
            let packets = self.received();
            if packets.len() >= n || Instant::now() >= deadline {
                return packets;
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn records_path(&self) -> PathBuf {
        self.dir.join("received.log")
    }
}

impl Drop for CoaNas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("NETILY_KEEP_RADIUS_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes a half-built directory when [`CoaNas::start`] fails early.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            if std::env::var_os("NETILY_KEEP_RADIUS_DIR").is_none() {
                let _ = fs::remove_dir_all(d);
            }
        }
    }
}

fn io_err(what: &str, path: &std::path::Path, e: std::io::Error) -> RadiusError {
    RadiusError(format!("{what} {}: {e}", path.display()))
}

/// The unlang condition for "a known session": a regex on a prefix limited
/// to characters that need no escaping in unlang or the regex (`.` goes in
/// a class), or None for "every session".
fn known_session_condition(prefix: &str) -> Result<Option<String>, RadiusError> {
    if prefix.is_empty() {
        return Ok(None);
    }
    let mut re = String::from("^");
    for c in prefix.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | ':' | '@' => re.push(c),
            '.' => re.push_str("[.]"),
            _ => {
                return Err(RadiusError(format!(
                    "known_session_prefix {prefix:?}: only ASCII letters, digits and -_.:@"
                )))
            }
        }
    }
    Ok(Some(format!("&Acct-Session-Id =~ /{re}/")))
}

/// Turns the copied raddb into the stand-in NAS.
fn prepare(
    raddb: &std::path::Path,
    dir: &std::path::Path,
    opts: &CoaNasOptions,
    port: u16,
    known: &Option<String>,
) -> Result<(), RadiusError> {
    let write = |path: PathBuf, text: &str| -> Result<(), RadiusError> {
        fs::write(&path, text).map_err(|e| io_err("write", &path, e))
    };
    // No stock site (default, inner-tunnel) and no eap: it fails to load
    // without the default site.
    let sites = raddb.join("sites-enabled");
    for entry in fs::read_dir(&sites).map_err(|e| io_err("read", &sites, e))? {
        let path = entry.map_err(|e| io_err("read", &sites, e))?.path();
        fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
    }
    let eap = raddb.join("mods-enabled/eap");
    fs::remove_file(&eap).map_err(|e| io_err("remove", &eap, e))?;

    // Private run/log dirs, no user switch, no proxying, and no duplicate
    // cache (a retransmission is processed and recorded like a new packet).
    let conf = raddb.join("radiusd.conf");
    let text = fs::read_to_string(&conf).map_err(|e| io_err("read", &conf, e))?;
    let mut patched = String::new();
    let mut seen = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let key = trimmed.split([' ', '\t', '=']).next().unwrap_or("");
        let new = match (line.starts_with(trimmed), key) {
            (true, "run_dir") => format!("run_dir = {}", dir.join("run").display()),
            (true, "logdir") => format!("logdir = {}", dir.join("log").display()),
            (true, "cleanup_delay") => "cleanup_delay = 0".to_string(),
            (true, "proxy_requests") => "proxy_requests = no".to_string(),
            (_, "user" | "group") if trimmed.contains('=') => format!("#{line}"),
            _ => line.to_string(),
        };
        if new != line {
            seen.push(key.to_string());
        }
        patched.push_str(&new);
        patched.push('\n');
    }
    for key in ["run_dir", "logdir", "cleanup_delay", "user", "group"] {
        if !seen.iter().any(|k| k == key) {
            return Err(RadiusError(format!(
                "no `{key} =` line in {}",
                conf.display()
            )));
        }
    }
    write(conf, &patched)?;

    // The senders, all with the NAS secret (the stock localhost client goes).
    let mut clients = String::new();
    for (i, ip) in opts.clients.iter().enumerate() {
        let _ = write!(
            clients,
            "client coa_sender_{i} {{\n\tipaddr = {ip}\n\tsecret = \"{}\"\n}}\n",
            config_string(&opts.secret)?
        );
    }
    write(raddb.join("clients.conf"), &clients)?;

    // One line per packet: the kind, then key=value fields, tab-separated.
    let mut format = String::from("%{Packet-Type}");
    for (key, xlat) in FIELDS {
        let _ = write!(format, "\t{key}={xlat}");
    }
    let records = dir.join("received.log");
    write(
        raddb.join(format!("mods-enabled/{LOG_MODULE}")),
        &format!(
            "linelog {LOG_MODULE} {{\n\tfilename = {}\n\tformat = \"{format}\"\n}}\n",
            records.display()
        ),
    )?;

    // unlang wants every statement and closing brace on its own line.
    let decide = if opts.silent {
        "\t\tdo_not_respond\n".to_string()
    } else {
        match known {
            None => "\t\tok\n".to_string(),
            Some(cond) => format!(
                "\t\tif ({cond}) {{\n\t\t\tok\n\t\t}}\n\t\telse {{\n\
                 \t\t\tupdate reply {{\n\t\t\t\t&Error-Cause := Session-Context-Not-Found\n\
                 \t\t\t}}\n\t\t\treject\n\t\t}}\n"
            ),
        }
    };
    write(
        raddb.join(format!("sites-enabled/{SITE}")),
        &format!(
            "listen {{\n\ttype = coa\n\tipaddr = {}\n\tport = {port}\n\tvirtual_server = {SITE}\n}}\n\
             server {SITE} {{\n\trecv-coa {{\n\t\t{LOG_MODULE}\n{decide}\t}}\n\
             \tsend-coa {{\n\t\tok\n\t}}\n}}\n",
            opts.address
        ),
    )?;
    Ok(())
}

/// A value for a double-quoted config string: no quote, backslash or
/// control character (FreeRADIUS would interpret them), no `%` (xlat).
fn config_string(s: &str) -> Result<&str, RadiusError> {
    if s.is_empty() || s.chars().any(|c| c.is_control() || "\"\\%$".contains(c)) {
        return Err(RadiusError(format!(
            "secret {s:?}: must be non-empty, without quotes, backslashes, % or $"
        )));
    }
    Ok(s)
}

/// Parses one record line (see [`FIELDS`]).
fn parse_record(line: &str) -> Result<CoaPacket, String> {
    let mut parts = line.split('\t');
    let kind = parts.next().unwrap_or("").to_string();
    let mut fields = std::collections::HashMap::new();
    for part in parts {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("no `=` in {part:?}"))?;
        fields.insert(k, v);
    }
    let get = |k: &str| -> Result<Option<&str>, String> {
        match fields.get(k) {
            None => Err(format!("no field {k}")),
            Some(&"") => Ok(None),
            Some(v) => Ok(Some(v)),
        }
    };
    let text = |k: &str| -> Result<Option<String>, String> { Ok(get(k)?.map(str::to_string)) };
    let hex = |k: &str| -> Result<Option<String>, String> {
        get(k)?
            .map(|h| unhex(h).map(|b| String::from_utf8_lossy(&b).into_owned()))
            .transpose()
            .map_err(|e| format!("{k}: {e}"))
    };
    let number = |k: &str| -> Result<u64, String> {
        get(k)?
            .ok_or_else(|| format!("{k} is empty"))?
            .parse()
            .map_err(|e| format!("{k}: {e}"))
    };
    let id = u8::try_from(number("id")?).map_err(|e| format!("id: {e}"))?;
    let received_at =
        UNIX_EPOCH + Duration::from_secs(number("sec")?) + Duration::from_micros(number("usec")?);
    Ok(CoaPacket {
        kind,
        id,
        user_name: hex("user")?,
        acct_session_id: hex("sid")?,
        framed_ip: text("ip")?,
        nas_ip: text("nas")?,
        rate_limit: hex("rate")?,
        session_timeout: text("timeout")?,
        event_timestamp: text("ts")?,
        message_authenticator: get("ma")?.is_some(),
        received_at,
    })
}

fn unhex(h: &str) -> Result<Vec<u8>, String> {
    if !h.len().is_multiple_of(2) {
        return Err(format!("odd hex length in {h:?}"));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("bad hex {h:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_parses_with_absent_attributes_as_none() {
        let line = "Disconnect-Request\tid=7\tsec=1700000000\tusec=42\tuser=616c096963\t\
                    sid=\tip=10.8.0.5\tnas=\trate=\ttimeout=3600\tts=\tma=0x00ff";
        let p = parse_record(line).expect("parses");
        assert_eq!(p.kind, DISCONNECT_REQUEST);
        assert_eq!(p.id, 7);
        assert_eq!(p.user_name.as_deref(), Some("al\tic"));
        assert_eq!(p.acct_session_id, None);
        assert_eq!(p.framed_ip.as_deref(), Some("10.8.0.5"));
        assert_eq!(p.session_timeout.as_deref(), Some("3600"));
        assert_eq!(p.event_timestamp, None);
        assert!(p.message_authenticator);
        assert_eq!(
            p.received_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_micros(42)
        );
    }

    #[test]
    fn a_prefix_with_regex_characters_is_refused_and_a_dot_is_literal() {
        assert!(known_session_condition("a*b").is_err());
        assert_eq!(
            known_session_condition("s.1-").ok().flatten().as_deref(),
            Some("&Acct-Session-Id =~ /^s[.]1-/")
        );
        assert_eq!(known_session_condition("").ok().flatten(), None);
    }
}
