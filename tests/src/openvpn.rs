//! OpenVPN for tests: network namespaces, openvpn processes and one test's
//! world ([`Lab`]: PostgreSQL, PKI, a server namespace running the shipped
//! server config with the built plugin, client hosts). Clients are RouterOS
//! as far as it can be had here ([`crate::routeros`]).
//!
//! Needs root, /dev/net/tun, `ip` and `openvpn`. Every namespace and process
//! belongs to a guard that removes it, also when the test fails.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netily_core::db::{self, NewRouter};
use netily_core::pki::{self, CaMaterial, ClientProfile, IssuedCertificate, VpnTransport};
use netily_core::vpn_plan::VpnPlan;

use crate::cdylib::Cdylib;
use crate::freeradius::workspace;
use crate::postgres::PgCluster;
use crate::routeros;

/// The lab's VPN networks (`vpn_network`, `vpn_tcp_network` in its
/// netily.conf), as the shipped server configs' `server` lines say.
pub const PLAN: &str = "10.8.0.0/24";
pub const TCP_PLAN: &str = "10.9.0.0/24";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The OpenVPN plugin, built once per test process.
/// `NETILY_TEST_OPENVPN_PLUGIN` overrides.
pub fn plugin_path() -> PathBuf {
    static PLUGIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PLUGIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("NETILY_TEST_OPENVPN_PLUGIN") {
            return Ok(PathBuf::from(p));
        }
        Cdylib {
            package: "openvpn_plugin_netily",
            features: "",
            release: false,
            target_dir: "vpn-tests",
        }
        .build()
    });
    match built {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Runs a command to completion; panics with its stderr if it fails.
pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A name unique to this process and call (namespaces, databases).
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "nly{}{}{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(name: String) -> Netns {
        run("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.0];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    pub fn output(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// An openvpn process inside a namespace, its output in `log`; SIGTERM then
/// SIGKILL on drop.
pub struct OpenVpn {
    pub child: Child,
    log: PathBuf,
}

impl OpenVpn {
    pub fn start(ns: &Netns, config: &Path, log: PathBuf, extra: &[&str]) -> OpenVpn {
        let mut args = vec!["--config".to_string(), config.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        OpenVpn::start_args(ns, &args, log)
    }

    /// openvpn with these arguments alone (no config file).
    pub fn start_args(ns: &Netns, args: &[String], log: PathBuf) -> OpenVpn {
        let out = fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "openvpn"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start openvpn: {e}"));
        OpenVpn { child, log }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for "Initialization Sequence Completed"; false if the process
    /// ended or `timeout` passed first.
    pub fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains("Initialization Sequence Completed") {
                return true;
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return self.log().contains("Initialization Sequence Completed");
            }
            sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn terminate(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        if !self.wait_exit(Duration::from_secs(10)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for OpenVpn {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.terminate();
        }
    }
}

/// One test's world: PostgreSQL, PKI, the server namespace and its OpenVPN.
/// Field order is drop order: clients, server, namespaces, then the database.
pub struct Lab {
    pub clients: Vec<OpenVpn>,
    pub server: Option<OpenVpn>,
    /// Servers 1, 2, ... ([`Lab::start_another_server`]); the first one is
    /// `server`.
    pub other_servers: Vec<OpenVpn>,
    pub client_ns: Vec<Netns>,
    pub other_server_ns: Vec<Netns>,
    pub server_ns: Netns,
    pub dir: PathBuf,
    /// Which shipped server runs: server.conf (UDP) or server-tcp.conf.
    pub transport: VpnTransport,
    pub ca: CaMaterial,
    /// A libpq URL through the socket directory (namespaces share it).
    pub db_url: String,
    pub plan: VpnPlan,
    pub pg: PgCluster,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.clients.clear();
        self.server = None;
        self.other_servers.clear();
        self.client_ns.clear();
        self.other_server_ns.clear();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("test files kept in {}", self.dir.display());
        }
    }
}

impl Lab {
    /// The UDP server (openvpn-conf/server.conf).
    pub fn new(tag: &str) -> Lab {
        Lab::with_transport(tag, VpnTransport::Udp)
    }

    /// The shipped server for `transport`, with a netily.conf whose
    /// `vpn_proto` says routers dial it.
    pub fn with_transport(tag: &str, transport: VpnTransport) -> Lab {
        assert!(Path::new("/dev/net/tun").exists(), "no /dev/net/tun");
        let plugin = plugin_path();
        let pg = PgCluster::start();
        let name = unique(tag);
        pg.create_database(&name).unwrap_or_else(|e| panic!("{e}"));
        // The server runs in its own namespace: it reaches PostgreSQL through
        // the socket directory, which namespaces share.
        let db_url = format!(
            "host={} port={} user=netily password=netily dbname={name}",
            pg.socket_dir().display(),
            pg.port()
        );
        let mut client = postgres::Client::connect(&db_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect via socket: {e}"));
        db::migrate(&mut client).unwrap_or_else(|e| panic!("migrate: {e}"));

        let dir = std::env::temp_dir().join(&name);
        fs::create_dir_all(dir.join("pki")).unwrap_or_else(|e| panic!("{e}"));
        let t = now();
        let ca = pki::create_ca("Netily-Test-CA", t, 365).unwrap_or_else(|e| panic!("{e}"));
        let server = pki::issue_server_certificate(&ca, "netily-vpn", t, 365)
            .unwrap_or_else(|e| panic!("{e}"));
        let crl = pki::render_crl(&ca, &[], 1, t, 30).unwrap_or_else(|e| panic!("{e}"));
        for (file, text) in [
            ("ca.crt", &ca.cert_pem),
            ("server.crt", &server.cert_pem),
            ("server.key", &server.key_pem),
            ("crl.pem", &crl),
        ] {
            fs::write(dir.join("pki").join(file), text).unwrap_or_else(|e| panic!("{e}"));
        }
        let (shipped, status, proto, plan) = match transport {
            VpnTransport::Udp => ("server.conf", "openvpn-status.log", "udp", PLAN),
            VpnTransport::Tcp => ("server-tcp.conf", "openvpn-tcp-status.log", "tcp", TCP_PLAN),
        };
        fs::write(
            dir.join("netily.conf"),
            format!(
                "database_url = \"{db_url}\"\nvpn_network = {PLAN}\n\
                 vpn_tcp_network = {TCP_PLAN}\nvpn_proto = {proto}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));

        // The shipped config, with this lab's paths and faster timers.
        let template = fs::read_to_string(workspace().join("openvpn-conf").join(shipped))
            .unwrap_or_else(|e| panic!("openvpn-conf/{shipped}: {e}"));
        let d = dir.display().to_string();
        let conf = template
            .replace("/etc/netily/pki/", &format!("{d}/pki/"))
            .replace("/run/netily/", &format!("{d}/"))
            .replace(
                "/usr/lib/netily/libopenvpn_plugin_netily.so",
                &plugin.display().to_string(),
            )
            .replace(
                "config=/etc/netily/netily.conf",
                &format!("config={d}/netily.conf"),
            )
            .replace(&format!("{status} 5"), &format!("{status} 1"))
            .replace(
                &format!("status={d}/{status}"),
                &format!("status={d}/{status} status_interval=1 stale_after=3"),
            )
            .replace("keepalive 10 60", "keepalive 1 10");
        fs::write(dir.join("server.conf"), conf).unwrap_or_else(|e| panic!("{e}"));

        let server_ns = Netns::new(unique("s"));
        Lab {
            clients: Vec::new(),
            server: None,
            other_servers: Vec::new(),
            client_ns: Vec::new(),
            other_server_ns: Vec::new(),
            server_ns,
            dir,
            transport,
            ca,
            db_url,
            plan: plan.parse().unwrap_or_else(|e| panic!("{e}")),
            pg,
        }
    }

    pub fn db(&self) -> postgres::Client {
        postgres::Client::connect(&self.db_url, postgres::NoTls).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn start_server(&mut self) {
        let mut server = OpenVpn::start(
            &self.server_ns,
            &self.dir.join("server.conf"),
            self.dir.join("server.log"),
            &[],
        );
        assert!(
            server.wait_ready(Duration::from_secs(15)),
            "server did not start:\n{}",
            server.log()
        );
        self.server = Some(server);
    }

    /// One router online: registered, the server started, a host of its
    /// own with a RouterOS-like client connected (the test fails with both
    /// logs otherwise). Returns its VPN id and its host.
    pub fn connect_router(&mut self, name: &str) -> (i32, usize) {
        let nth = u32::try_from(self.client_ns.len() + 1).unwrap_or(1);
        let (vpn_id, cert) = self.add_router(name, nth);
        if self.server.is_none() {
            self.start_server();
        }
        let host = self.add_host();
        let ca_pem = self.ca.cert_pem.clone();
        let c = self.start_client(host, name, &ca_pem, &cert);
        assert!(
            self.clients[c].wait_ready(Duration::from_secs(15)),
            "{name} did not connect:\n{}\nserver:\n{}",
            self.clients[c].log(),
            self.server_log()
        );
        (vpn_id, host)
    }

    pub fn server_log(&self) -> String {
        self.server.as_ref().map(OpenVpn::log).unwrap_or_default()
    }

    /// Registers a router (netily_core::db) and issues its certificate.
    pub fn add_router(&self, name: &str, nth: u32) -> (i32, IssuedCertificate) {
        let mut c = self.db();
        let mut tx = c.transaction().unwrap_or_else(|e| panic!("{e}"));
        let row = db::add_router(
            &mut tx,
            &NewRouter {
                name: name.to_string(),
                nas_ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(192, 0, 2, 0)) + nth),
                secret: "radius-secret".into(),
                description: None,
            },
            &self.plan,
        )
        .unwrap_or_else(|e| panic!("add_router {name}: {e}"));
        tx.commit().unwrap_or_else(|e| panic!("{e}"));
        let cert = pki::issue_router_certificate(&self.ca, name, now(), 30)
            .unwrap_or_else(|e| panic!("{e}"));
        c.execute(
            "INSERT INTO certificates (serial, router_id, common_name, not_after, pem)
             VALUES ($1, $2, $3, to_timestamp($4::bigint), $5)",
            &[
                &cert.serial.to_hex(),
                &row.id,
                &name,
                &cert.not_after,
                &cert.cert_pem,
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (row.vpn_id, cert)
    }

    /// Another VPN host on the same database and netily.conf: the same
    /// server config (its own status file and management socket) in a
    /// namespace of its own, started. Returns its number for
    /// [`Lab::add_host_on`] (the first server is 0).
    pub fn start_another_server(&mut self) -> usize {
        let n = self.other_servers.len() + 1;
        let d = self.dir.display().to_string();
        let conf = fs::read_to_string(self.dir.join("server.conf"))
            .unwrap_or_else(|e| panic!("{e}"))
            .replace(&format!("{d}/openvpn-"), &format!("{d}/s{n}-openvpn-"));
        let path = self.dir.join(format!("server-{n}.conf"));
        fs::write(&path, conf).unwrap_or_else(|e| panic!("{e}"));
        let ns = Netns::new(unique("s"));
        let mut server = OpenVpn::start(&ns, &path, self.dir.join(format!("server-{n}.log")), &[]);
        assert!(
            server.wait_ready(Duration::from_secs(15)),
            "server {n} did not start:\n{}",
            server.log()
        );
        self.other_servers.push(server);
        self.other_server_ns.push(ns);
        n
    }

    /// A client host: its own namespace with a veth link to the server's.
    /// Returns the index used for addressing (172.30.i.0/24).
    pub fn add_host(&mut self) -> usize {
        self.add_host_on(0)
    }

    /// A client host linked to server `server` (0: the first one).
    pub fn add_host_on(&mut self, server: usize) -> usize {
        let server_ns = match server {
            0 => &self.server_ns,
            n => &self.other_server_ns[n - 1],
        };
        let i = self.client_ns.len() + 1;
        let ns = Netns::new(unique("c"));
        let (srv_if, cli_if) = (format!("c{i}"), "eth0".to_string());
        run(
            "ip",
            &[
                "link",
                "add",
                &srv_if,
                "netns",
                &server_ns.0,
                "type",
                "veth",
                "peer",
                "name",
                &cli_if,
                "netns",
                &ns.0,
            ],
        );
        let hi = (i / 250) as u8;
        let lo = (i % 250) as u8;
        server_ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("172.{}.{lo}.1/24", 30 + hi),
            "dev",
            &srv_if,
        ]);
        server_ns.exec(&["ip", "link", "set", &srv_if, "up"]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("172.{}.{lo}.2/24", 30 + hi),
            "dev",
            &cli_if,
        ]);
        ns.exec(&["ip", "link", "set", &cli_if, "up"]);
        self.client_ns.push(ns);
        i
    }

    /// Starts an OpenVPN client on host `i` with the profile Netily renders.
    /// Starts a RouterOS-like client on host `host`: Netily's profile is
    /// imported as RouterOS would ([`routeros::import_ovpn`]; an import
    /// RouterOS would refuse fails the test) and run from the properties.
    pub fn start_client(
        &mut self,
        host: usize,
        name: &str,
        ca_pem: &str,
        cert: &IssuedCertificate,
    ) -> usize {
        let hi = (host / 250) as u8;
        let lo = (host % 250) as u8;
        let remote = format!("172.{}.{lo}.1", 30 + hi);
        let profile = pki::render_client_profile(&ClientProfile {
            router_name: name,
            remote_host: &remote,
            port: 1194,
            transport: self.transport,
            ca_pem,
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        // What the RouterOS script passes: ovpn-user=<router> ovpn-password=...
        let ros = routeros::import_ovpn(&profile, name, "certificate-only")
            .unwrap_or_else(|e| panic!("RouterOS would refuse the profile: {e}"));
        let dir = self.dir.join(format!("{name}-{host}"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mut args = ros.openvpn_args(&dir);
        args.extend(
            [
                "--hand-window",
                "3",
                "--connect-retry-max",
                "1",
                "--ping",
                "1",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let client = OpenVpn::start_args(
            &self.client_ns[host - 1],
            &args,
            self.dir.join(format!("{name}-{host}.log")),
        );
        self.clients.push(client);
        self.clients.len() - 1
    }

    pub fn tun_address(&self, host: usize) -> Option<Ipv4Addr> {
        let out =
            self.client_ns[host - 1].output(&["ip", "-4", "-o", "addr", "show", "dev", "tun0"]);
        let inet = out.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
        inet.split('/').next()?.parse().ok()
    }

    /// Stops the server (CLIENT_DISCONNECT for everyone, then close) and
    /// returns its log.
    pub fn stop_server(&mut self) -> String {
        let mut server = self.server.take().unwrap_or_else(|| panic!("no server"));
        server.terminate();
        server.log()
    }
}
