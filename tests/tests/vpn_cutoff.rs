//! A connected router loses its management VPN tunnel as soon as its
//! certificate is revoked (`netadmin cert revoke`) or it is removed
//! (`netadmin router remove`): the plugin sees the change through
//! LISTEN/NOTIFY and ends the client instance through OpenVPN's management
//! interface. Real OpenVPN server and RouterOS-like clients in network
//! namespaces, real PostgreSQL, the real netadmin.
//!
//! The cut-off is measured on the data plane: a UDP echo service listens in
//! the server's namespace, and each router sends it a datagram through its
//! tunnel every 5 ms; the time from just before netadmin starts to the last
//! echo is the time the tunnel still carried traffic.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use netily_core::pki::{IssuedCertificate, VpnTransport};
use netily_tests::netadmin::netadmin_bin;
use netily_tests::openvpn::Lab;

/// The generous correctness bound; the goal (2 s) is what gets printed.
const BOUND: Duration = Duration::from_secs(5);

/// How often each router's probe crosses its tunnel.
const PROBE_EVERY: Duration = Duration::from_millis(5);

/// Runs `f` on a new thread inside network namespace `ns` (a namespace is
/// per thread: sockets made there stay in it).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) on an open namespace file; it moves only this
        // thread into the namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// A thread's stop flag, set on drop of its owner.
type Flag = Arc<AtomicBool>;

/// A UDP echo service in the server's namespace; stopped on drop.
struct Echo {
    port: u16,
    stop: Flag,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(lab: &Lab) -> Echo {
        let stop = Flag::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = in_netns(&lab.server_ns.0, move || {
            let socket =
                UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap_or_else(|e| panic!("{e}"));
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = tx.send(socket.local_addr().map(|a| a.port()).unwrap_or(0));
            let mut buf = [0u8; 64];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        let port = rx.recv().unwrap_or_else(|e| panic!("{e}"));
        Echo {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A router's probe: from its namespace, through its tunnel, to the echo
/// service every [`PROBE_EVERY`], noting when each echo comes back; stopped on drop.
struct Probe {
    echoes: Arc<Mutex<Vec<Instant>>>,
    stop: Flag,
    thread: Option<JoinHandle<()>>,
}

impl Probe {
    fn start(lab: &Lab, host: usize, echo: &Echo) -> Probe {
        let target = SocketAddr::from((lab.plan.server_address(), echo.port));
        let echoes: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let stop = Flag::default();
        let (seen, flag) = (echoes.clone(), stop.clone());
        let thread = in_netns(&lab.client_ns[host - 1].0, move || {
            let socket =
                UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap_or_else(|e| panic!("{e}"));
            socket
                .set_read_timeout(Some(PROBE_EVERY))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut buf = [0u8; 64];
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let _ = socket.send_to(b"probe", target);
                    next += PROBE_EVERY;
                }
                if socket.recv_from(&mut buf).is_ok() {
                    if let Ok(mut seen) = seen.lock() {
                        seen.push(Instant::now());
                    }
                }
            }
        });
        Probe {
            echoes,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.echoes.lock().map(|e| e.len()).unwrap_or(0)
    }

    fn last(&self) -> Option<Instant> {
        self.echoes.lock().ok()?.last().copied()
    }

    fn wait_flowing(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count() < 5 {
            assert!(Instant::now() < deadline, "no echoes through the tunnel");
            sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no echo has come for `quiet`; the last echo's time, or
    /// None if echoes still flow at `deadline`.
    fn wait_silent(&self, quiet: Duration, deadline: Instant) -> Option<Instant> {
        while Instant::now() < deadline {
            let last = self.last()?;
            if last.elapsed() >= quiet {
                return Some(last);
            }
            sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn netadmin(lab: &Lab, args: &[&str]) -> String {
    let out = Command::new(netadmin_bin())
        .arg("--config")
        .arg(lab.dir.join("netily.conf"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("netadmin: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "netadmin {}: {text}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Connects `name` from a new host and starts its probe.
fn connect(lab: &mut Lab, echo: &Echo, name: &str, cert: &IssuedCertificate) -> Probe {
    let host = lab.add_host();
    let ca_pem = lab.ca.cert_pem.clone();
    let c = lab.start_client(host, name, &ca_pem, cert);
    assert!(
        lab.clients[c].wait_ready(Duration::from_secs(15)),
        "{name} did not connect:\n{}\nserver:\n{}",
        lab.clients[c].log(),
        lab.server_log()
    );
    let probe = Probe::start(lab, host, echo);
    probe.wait_flowing();
    probe
}

/// Runs netadmin `args` against a connected router and returns how long its
/// tunnel carried traffic after netadmin started (the last echo; the cut came
/// before the next probe, [`PROBE_EVERY`] later).
fn cut_off_by(lab: &Lab, probe: &Probe, args: &[&str]) -> Duration {
    netadmin_bin(); // built before the clock starts
    let started = Instant::now();
    let printed = netadmin(lab, args);
    println!(
        "netadmin {} took {:?} (connect, commit, exit)",
        args.join(" "),
        started.elapsed()
    );
    let at = probe
        .wait_silent(Duration::from_millis(500), Instant::now() + BOUND * 2)
        .unwrap_or_else(|| {
            panic!(
                "tunnel still up after `netadmin {}`:\n{printed}\nserver:\n{}",
                args.join(" "),
                lab.server_log()
            )
        });
    at.saturating_duration_since(started)
}

/// The plugin line's `management=` socket, with the config's `management`
/// line naming the same path.
fn management_socket(lab: &Lab) -> PathBuf {
    let conf = fs::read_to_string(lab.dir.join("server.conf")).unwrap_or_else(|e| panic!("{e}"));
    let from_plugin = conf
        .lines()
        .find(|l| l.starts_with("plugin "))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("management="))
        })
        .unwrap_or_else(|| panic!("no management= on the plugin line:\n{conf}"));
    assert!(
        conf.lines()
            .any(|l| l == format!("management {from_plugin} unix")),
        "the management line and the plugin argument disagree:\n{conf}"
    );
    PathBuf::from(from_plugin)
}

fn connections_closed(lab: &Lab, router: &str) -> bool {
    lab.db()
        .query_one(
            "SELECT count(*) = 0 FROM vpn_connections v JOIN routers r ON r.id = v.router_id
              WHERE r.name = $1 AND v.status <> 'disconnected'",
            &[&router],
        )
        .map(|r| r.get(0))
        .unwrap_or(false)
}

#[test]
fn a_connected_router_is_cut_off_within_2_s_of_cert_revoke() {
    let mut lab = Lab::new("k");
    let (_, doomed) = lab.add_router("tower-1", 1);
    let (_, kept) = lab.add_router("tower-2", 2);
    lab.start_server();
    assert!(management_socket(&lab).exists(), "{}", lab.server_log());
    let echo = Echo::start(&lab);
    let doomed_probe = connect(&mut lab, &echo, "tower-1", &doomed);
    let kept_probe = connect(&mut lab, &echo, "tower-2", &kept);

    let took = cut_off_by(&lab, &doomed_probe, &["cert", "revoke", "tower-1"]);
    println!(
        "netadmin cert revoke: tower-1's UDP tunnel carried its last echo {took:?} after netadmin \
         started (probe every {PROBE_EVERY:?})"
    );
    assert!(took < BOUND, "{took:?}\n{}", lab.server_log());

    // Only that router: the other one's tunnel still carries traffic.
    let before = kept_probe.count();
    sleep(Duration::from_millis(500));
    assert!(
        kept_probe.count() > before + 50,
        "tower-2 cut off too:\n{}",
        lab.server_log()
    );
    // OpenVPN ended the instance (CLIENT_DISCONNECT closed its record), and
    // the router does not get back in.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !connections_closed(&lab, "tower-1") {
        assert!(
            Instant::now() < deadline,
            "record still open:\n{}",
            lab.server_log()
        );
        sleep(Duration::from_millis(50));
    }
    let echoes = doomed_probe.count();
    sleep(Duration::from_secs(1));
    assert_eq!(
        doomed_probe.count(),
        echoes,
        "tower-1's tunnel came back:\n{}",
        lab.server_log()
    );
    let log = lab.server_log();
    assert!(
        log.contains("cut off through the management interface"),
        "{log}"
    );
}

#[test]
fn a_connected_router_is_cut_off_within_2_s_of_router_remove_over_tcp() {
    let mut lab = Lab::with_transport("t", VpnTransport::Tcp);
    let (_, doomed) = lab.add_router("tower-3", 1);
    lab.start_server();
    assert!(management_socket(&lab).exists(), "{}", lab.server_log());
    let echo = Echo::start(&lab);
    let probe = connect(&mut lab, &echo, "tower-3", &doomed);

    let took = cut_off_by(&lab, &probe, &["router", "remove", "tower-3"]);
    println!(
        "netadmin router remove: tower-3's TCP tunnel carried its last echo {took:?} after \
         netadmin started (probe every {PROBE_EVERY:?})"
    );
    assert!(took < BOUND, "{took:?}\n{}", lab.server_log());
}

/// OpenVPN serves one management client at a time: while an operator holds
/// the socket the plugin cannot get through, and nothing waits for it (the
/// server keeps serving other routers); once the operator leaves, the next
/// attempt ends the tunnel.
#[test]
fn an_operator_on_the_management_socket_delays_the_cut_off_and_blocks_nothing() {
    let mut lab = Lab::new("o");
    let (_, doomed) = lab.add_router("tower-4", 1);
    let (_, late) = lab.add_router("tower-5", 2);
    lab.start_server();
    let socket = management_socket(&lab);
    let echo = Echo::start(&lab);
    let probe = connect(&mut lab, &echo, "tower-4", &doomed);

    let operator = hold(&socket);
    netadmin_bin();
    let started = Instant::now();
    netadmin(&lab, &["cert", "revoke", "tower-4"]);
    // Another router connects meanwhile: OpenVPN's thread is not held up.
    drop(connect(&mut lab, &echo, "tower-5", &late));
    sleep(Duration::from_secs(2).saturating_sub(started.elapsed()));
    let held = started.elapsed();
    assert!(
        probe
            .last()
            .is_some_and(|t| t.elapsed() < Duration::from_millis(200)),
        "cut off although the operator holds the socket:\n{}",
        lab.server_log()
    );
    drop(operator);
    let released = Instant::now();
    let at = probe
        .wait_silent(Duration::from_millis(500), Instant::now() + BOUND * 2)
        .unwrap_or_else(|| panic!("never cut off:\n{}", lab.server_log()));
    let after = at.saturating_duration_since(released);
    println!(
        "with an operator on the management socket for {held:?}, tower-4 was cut off {:?} after \
         the revoke, {after:?} after the operator left",
        at.saturating_duration_since(started)
    );
    assert!(after < BOUND, "{after:?}\n{}", lab.server_log());
}

/// An operator's session on the management socket: reads the greeting and
/// stays connected until dropped.
fn hold(socket: &Path) -> UnixStream {
    use std::io::Read;
    let mut s = UnixStream::connect(socket).unwrap_or_else(|e| panic!("{}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or_else(|e| panic!("greeting: {e}"));
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with(">INFO:"),
        "not a management interface"
    );
    s
}

/// Without the management socket the plugin says at open what that means,
/// and a revoked router keeps its tunnel until it renegotiates or reconnects.
#[test]
fn without_the_management_socket_the_plugin_says_so_and_the_tunnel_stays() {
    let mut lab = Lab::new("n");
    let conf = lab.dir.join("server.conf");
    let text = fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{e}"));
    let text: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("management "))
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.starts_with("management="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    fs::write(&conf, text.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let (_, cert) = lab.add_router("tower-6", 1);
    lab.start_server();
    let log = lab.server_log();
    assert!(
        log.contains(
            "no management= plugin argument: a connected router whose certificate is revoked, \
             or that is removed or disabled, keeps its tunnel until its next renegotiation"
        ),
        "{log}"
    );
    let echo = Echo::start(&lab);
    let probe = connect(&mut lab, &echo, "tower-6", &cert);
    netadmin(&lab, &["cert", "revoke", "tower-6"]);
    let before = probe.count();
    sleep(Duration::from_secs(2));
    assert!(
        probe.count() > before + 200,
        "cut off without a management socket?\n{}",
        lab.server_log()
    );
}
