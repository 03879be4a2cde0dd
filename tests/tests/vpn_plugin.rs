//! The OpenVPN plugin end to end: a real OpenVPN server loading the built
//! plugin, real OpenVPN clients, each in its own network namespace, a real
//! PostgreSQL, certificates from netily_core::pki.
//!
//! Needs root, /dev/net/tun, `ip` and `openvpn`. Every namespace and process a
//! test creates belongs to a guard that removes it, also when the test fails.

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
use netily_tests::postgres::PgCluster;

const PLAN: &str = "10.8.0.0/24";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn workspace() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Builds the plugin once per test process (own target dir: the outer cargo
/// may still hold the workspace's). `NETILY_TEST_OPENVPN_PLUGIN` overrides.
fn plugin_path() -> PathBuf {
    static PLUGIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PLUGIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("NETILY_TEST_OPENVPN_PLUGIN") {
            return Ok(PathBuf::from(p));
        }
        let target = workspace().join("target/vpn-tests");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "-p", "openvpn_plugin_netily", "--target-dir"])
            .arg(&target)
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building openvpn_plugin_netily failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(target.join("debug/libopenvpn_plugin_netily.so"))
    });
    match built {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn run(cmd: &str, args: &[&str]) {
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

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "nly{}{}{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        run("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.0];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    fn output(&self, args: &[&str]) -> String {
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
struct OpenVpn {
    child: Child,
    log: PathBuf,
}

impl OpenVpn {
    fn start(ns: &Netns, config: &Path, log: PathBuf, extra: &[&str]) -> OpenVpn {
        let out = fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "openvpn", "--config"])
            .arg(config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start openvpn: {e}"));
        OpenVpn { child, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for "Initialization Sequence Completed"; false if the process
    /// ended or `timeout` passed first.
    fn wait_ready(&mut self, timeout: Duration) -> bool {
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

    fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            sleep(Duration::from_millis(50));
        }
        false
    }

    fn terminate(&mut self) {
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
struct Lab {
    clients: Vec<OpenVpn>,
    server: Option<OpenVpn>,
    client_ns: Vec<Netns>,
    server_ns: Netns,
    dir: PathBuf,
    ca: CaMaterial,
    tls_crypt: String,
    db_url: String,
    plan: VpnPlan,
    pg: PgCluster,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.clients.clear();
        self.server = None;
        self.client_ns.clear();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("test files kept in {}", self.dir.display());
        }
    }
}

impl Lab {
    fn new(tag: &str) -> Lab {
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
        let tls_crypt = pki::generate_tls_crypt_key().unwrap_or_else(|e| panic!("{e}"));
        for (file, text) in [
            ("ca.crt", &ca.cert_pem),
            ("server.crt", &server.cert_pem),
            ("server.key", &server.key_pem),
            ("crl.pem", &crl),
            ("tls-crypt.key", &tls_crypt),
        ] {
            fs::write(dir.join("pki").join(file), text).unwrap_or_else(|e| panic!("{e}"));
        }
        fs::write(
            dir.join("netily.conf"),
            format!("database_url = \"{db_url}\"\nvpn_network = {PLAN}\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));

        // The shipped config, with this lab's paths and faster timers.
        let template = fs::read_to_string(workspace().join("openvpn-conf/server.conf"))
            .unwrap_or_else(|e| panic!("openvpn-conf/server.conf: {e}"));
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
            .replace("openvpn-status.log 5", "openvpn-status.log 1")
            .replace(
                &format!("status={d}/openvpn-status.log"),
                &format!("status={d}/openvpn-status.log status_interval=1 stale_after=3"),
            )
            .replace("keepalive 10 60", "keepalive 1 10");
        fs::write(dir.join("server.conf"), conf).unwrap_or_else(|e| panic!("{e}"));

        let server_ns = Netns::new(unique("s"));
        Lab {
            clients: Vec::new(),
            server: None,
            client_ns: Vec::new(),
            server_ns,
            dir,
            ca,
            tls_crypt,
            db_url,
            plan: PLAN.parse().unwrap_or_else(|e| panic!("{e}")),
            pg,
        }
    }

    fn db(&self) -> postgres::Client {
        postgres::Client::connect(&self.db_url, postgres::NoTls).unwrap_or_else(|e| panic!("{e}"))
    }

    fn start_server(&mut self) {
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

    fn server_log(&self) -> String {
        self.server.as_ref().map(OpenVpn::log).unwrap_or_default()
    }

    /// Registers a router (netily_core::db) and issues its certificate.
    fn add_router(&self, name: &str, nth: u32) -> (i32, IssuedCertificate) {
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

    /// A client host: its own namespace with a veth link to the server's.
    /// Returns the index used for addressing (172.30.i.0/24).
    fn add_host(&mut self) -> usize {
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
                &self.server_ns.0,
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
        self.server_ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("172.{}.{lo}.1/24", 30 + hi),
            "dev",
            &srv_if,
        ]);
        self.server_ns.exec(&["ip", "link", "set", &srv_if, "up"]);
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
    fn start_client(
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
            transport: VpnTransport::Udp,
            ca_pem,
            cert_pem: &cert.cert_pem,
            key_pem: &cert.key_pem,
            tls_crypt_key: &self.tls_crypt,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let path = self.dir.join(format!("{name}-{host}.ovpn"));
        fs::write(&path, profile).unwrap_or_else(|e| panic!("{e}"));
        let client = OpenVpn::start(
            &self.client_ns[host - 1],
            &path,
            self.dir.join(format!("{name}-{host}.log")),
            &[
                "--hand-window",
                "3",
                "--connect-retry-max",
                "1",
                "--ping",
                "1",
            ],
        );
        self.clients.push(client);
        self.clients.len() - 1
    }

    fn tun_address(&self, host: usize) -> Option<Ipv4Addr> {
        let out =
            self.client_ns[host - 1].output(&["ip", "-4", "-o", "addr", "show", "dev", "tun0"]);
        let inet = out.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
        inet.split('/').next()?.parse().ok()
    }

    /// Stops the server (CLIENT_DISCONNECT for everyone, then close) and
    /// returns its log.
    fn stop_server(&mut self) -> String {
        let mut server = self.server.take().unwrap_or_else(|| panic!("no server"));
        server.terminate();
        server.log()
    }
}

/// The plugin's timing lines from the server log at close.
fn timings(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split("netily: timing ").nth(1).map(str::to_string))
        .collect()
}

/// p99 in µs of one event kind from the timing lines.
fn p99(lines: &[String], kind: &str) -> Option<f64> {
    let line = lines
        .iter()
        .find(|l| l.starts_with(&format!("{kind} cpu:")))?;
    let v = line.split("p99=").nth(1)?.split("us").next()?;
    v.parse().ok()
}

#[test]
fn registered_router_connects_revoked_and_foreign_are_refused() {
    let mut lab = Lab::new("a");
    let (tower_id, tower) = lab.add_router("tower-1", 1);
    let (_, spare) = lab.add_router("tower-2", 2);
    let (_, doomed) = lab.add_router("tower-3", 3);
    lab.start_server();

    // A registered router connects and gets network + vpn_id + 1.
    let h1 = lab.add_host();
    let ca_pem = lab.ca.cert_pem.clone();
    let c1 = lab.start_client(h1, "tower-1", &ca_pem, &tower);
    assert!(
        lab.clients[c1].wait_ready(Duration::from_secs(15)),
        "tower-1 did not connect:\n{}\nserver:\n{}",
        lab.clients[c1].log(),
        lab.server_log()
    );
    let expected = lab
        .plan
        .router_address(i64::from(tower_id))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.tun_address(h1), Some(expected), "pushed address");
    println!("tower-1 (vpn id {tower_id}) got {expected}");

    // The connection is recorded, and heartbeats move its counters.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut seen = None;
    while Instant::now() < deadline {
        let row = lab
            .db()
            .query_opt(
                "SELECT host(vpn_address), status, bytes_in FROM vpn_connections
                  WHERE router_id = (SELECT id FROM routers WHERE name = 'tower-1')
                    AND status <> 'disconnected'",
                &[],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(r) = row {
            let (addr, status, bytes): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
            if bytes > 0 {
                seen = Some((addr, status, bytes));
                break;
            }
        }
        sleep(Duration::from_millis(200));
    }
    let (addr, status, bytes) =
        seen.unwrap_or_else(|| panic!("no heartbeat recorded\n{}", lab.server_log()));
    assert_eq!(addr, expected.to_string());
    assert_eq!(status, "connected");
    println!("heartbeat: {bytes} bytes received from tower-1");

    // A certificate from another CA never gets past TLS.
    let other_ca = pki::create_ca("Someone-Else", now(), 30).unwrap_or_else(|e| panic!("{e}"));
    let intruder = pki::issue_router_certificate(&other_ca, "tower-2", now(), 30)
        .unwrap_or_else(|e| panic!("{e}"));
    let h2 = lab.add_host();
    let c2 = lab.start_client(h2, "intruder", &ca_pem, &intruder);
    assert!(
        !lab.clients[c2].wait_ready(Duration::from_secs(6)),
        "foreign CA admitted"
    );
    assert!(
        lab.server_log().contains("VERIFY ERROR"),
        "server log shows no verify error:\n{}",
        lab.server_log()
    );

    // tower-2 connects, is revoked, and is refused at its next handshake.
    let h3 = lab.add_host();
    let c3 = lab.start_client(h3, "tower-2", &ca_pem, &spare);
    assert!(
        lab.clients[c3].wait_ready(Duration::from_secs(15)),
        "tower-2 did not connect"
    );
    lab.clients[c3].terminate();
    lab.db()
        .execute(
            "UPDATE certificates SET status = 'revoked', revoked_at = now() WHERE serial = $1",
            &[&spare.serial.to_hex()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let revoked_at = Instant::now();
    sleep(Duration::from_millis(1500));
    let started_after = revoked_at.elapsed();
    let c4 = lab.start_client(h3, "tower-2", &ca_pem, &spare);
    assert!(
        !lab.clients[c4].wait_ready(Duration::from_secs(6)),
        "revoked router admitted"
    );
    let log = lab.server_log();
    let refusal = "refused CN=tower-2 from 172.30.3.2:";
    assert!(log.contains(refusal), "no refusal in server log:\n{log}");
    assert!(log.contains(&format!(
        "serial {}: not an active certificate",
        spare.serial.to_colon_hex()
    )));
    println!(
        "revoked router refused at a handshake started {started_after:?} after the revocation"
    );

    // tower-3 connects, is removed (what `netadmin router remove` does), and
    // is refused at its next handshake.
    let h4 = lab.add_host();
    let c5 = lab.start_client(h4, "tower-3", &ca_pem, &doomed);
    assert!(
        lab.clients[c5].wait_ready(Duration::from_secs(15)),
        "tower-3 did not connect"
    );
    lab.clients[c5].terminate();
    let mut c = lab.db();
    let mut tx = c.transaction().unwrap_or_else(|e| panic!("{e}"));
    let revoked = db::remove_router(&mut tx, "tower-3").unwrap_or_else(|e| panic!("{e}"));
    tx.commit().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        revoked,
        vec![doomed.serial.to_hex()],
        "certificates revoked"
    );
    let removed_at = Instant::now();
    sleep(Duration::from_millis(1500));
    let started_after = removed_at.elapsed();
    let c6 = lab.start_client(h4, "tower-3", &ca_pem, &doomed);
    assert!(
        !lab.clients[c6].wait_ready(Duration::from_secs(6)),
        "removed router admitted"
    );
    let log = lab.server_log();
    let refusal = "refused CN=tower-3 from 172.30.4.2:";
    assert!(log.contains(refusal), "no refusal in server log:\n{log}");
    assert!(log.contains(&format!(
        "serial {}: not an active certificate",
        doomed.serial.to_colon_hex()
    )));
    println!("removed router refused at a handshake started {started_after:?} after the removal");

    // Server stop: CLIENT_DISCONNECT closes tower-1's record with its bytes.
    let log = lab.stop_server();
    let row = lab
        .db()
        .query_one(
            "SELECT status, bytes_in, disconnected_at IS NOT NULL FROM vpn_connections
              WHERE router_id = (SELECT id FROM routers WHERE name = 'tower-1')
              ORDER BY id DESC LIMIT 1",
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, bytes, closed): (String, i64, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        (status.as_str(), closed),
        ("disconnected", true),
        "log:\n{log}"
    );
    assert!(bytes > 0);
    for line in timings(&log) {
        println!("plugin time on OpenVPN's thread: {line}");
    }
}

#[test]
fn fifty_routers_connect_at_once_with_distinct_plan_addresses() {
    const N: usize = 50;
    let mut lab = Lab::new("b");
    let mut routers = Vec::new();
    for i in 0..N {
        let name = format!("site-{i:02}");
        let (vpn_id, cert) = lab.add_router(&name, i as u32 + 1);
        routers.push((name, vpn_id, cert));
    }
    lab.start_server();
    let hosts: Vec<usize> = (0..N).map(|_| lab.add_host()).collect();
    let ca_pem = lab.ca.cert_pem.clone();
    let started = Instant::now();
    for (i, (name, _, cert)) in routers.iter().enumerate() {
        lab.start_client(hosts[i], name, &ca_pem, cert);
    }
    for (i, (name, _, _)) in routers.iter().enumerate() {
        assert!(
            lab.clients[i].wait_ready(Duration::from_secs(30)),
            "{name} did not connect:\n{}",
            lab.clients[i].log()
        );
    }
    println!("{N} routers connected in {:?}", started.elapsed());
    let mut addresses = std::collections::HashSet::new();
    for (i, (name, vpn_id, _)) in routers.iter().enumerate() {
        let expected = lab
            .plan
            .router_address(i64::from(*vpn_id))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lab.tun_address(hosts[i]), Some(expected), "{name}");
        assert!(addresses.insert(expected), "{expected} pushed twice");
    }
    let open: i64 = lab
        .db()
        .query_one(
            "SELECT count(*) FROM vpn_connections WHERE status <> 'disconnected'",
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(open, N as i64);

    let log = lab.stop_server();
    let lines = timings(&log);
    for line in &lines {
        println!("plugin time on OpenVPN's thread: {line}");
    }
    for kind in ["TLS_VERIFY", "CLIENT_CONNECT_V2", "CLIENT_DISCONNECT"] {
        let p = p99(&lines, kind).unwrap_or_else(|| panic!("no {kind} timing in:\n{log}"));
        // CPU time on OpenVPN's thread (wall time also counts the 50 client
        // processes preempting it on 2 cores). Goal < 100 µs; the bound is
        // loose for debug builds and still catches any blocking work.
        assert!(p < 1000.0, "{kind} p99 {p} µs CPU");
    }
}

fn thread_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn sighup_leaves_no_thread_behind_and_a_database_outage_is_ridden_out() {
    let mut lab = Lab::new("c");
    let (vpn_id, cert) = lab.add_router("edge-1", 1);
    lab.start_server();
    let pid = lab.server.as_ref().map(|s| s.child.id()).unwrap_or(0);
    let before = thread_count(pid);

    // SIGHUP: OpenVPN closes and reopens the plugin; close joins its threads.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid as i32, libc::SIGHUP);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while lab
        .server_log()
        .matches("Initialization Sequence Completed")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no restart after SIGHUP:\n{}",
            lab.server_log()
        );
        sleep(Duration::from_millis(50));
    }
    sleep(Duration::from_millis(300));
    let after = thread_count(pid);
    println!("openvpn threads before SIGHUP {before}, after {after}");
    assert_eq!(before, after, "threads leaked across SIGHUP");

    // The database goes away: the router is still admitted from memory and
    // gets its address; the connection record waits and lands once it is back.
    lab.pg.stop().unwrap_or_else(|e| panic!("{e}"));
    sleep(Duration::from_millis(1500));
    let h = lab.add_host();
    let ca_pem = lab.ca.cert_pem.clone();
    let c = lab.start_client(h, "edge-1", &ca_pem, &cert);
    assert!(
        lab.clients[c].wait_ready(Duration::from_secs(15)),
        "edge-1 refused while the database was down:\n{}",
        lab.server_log()
    );
    let expected = lab
        .plan
        .router_address(i64::from(vpn_id))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.tun_address(h), Some(expected));
    lab.pg.start_again().unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n: i64 = postgres::Client::connect(&lab.db_url, postgres::NoTls)
            .and_then(|mut c| {
                c.query_one(
                    "SELECT count(*) FROM vpn_connections v JOIN routers r ON r.id = v.router_id
                      WHERE r.name = 'edge-1' AND v.status = 'connected' AND host(v.vpn_address) = $1",
                    &[&expected.to_string()],
                )
            })
            .map(|r| r.get(0))
            .unwrap_or(0);
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "queued record never written:\n{}",
            lab.server_log()
        );
        sleep(Duration::from_millis(200));
    }
    println!("connection made during the outage recorded after the database returned");
}
