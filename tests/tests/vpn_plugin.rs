//! The OpenVPN plugin end to end: a real OpenVPN server loading the built
//! plugin, real OpenVPN clients held to RouterOS's feature set, each in its
//! own network namespace, a real PostgreSQL, certificates from
//! netily_core::pki. The guards live in netily_tests::openvpn.

use std::fs;
use std::thread::sleep;
use std::time::{Duration, Instant};

use netily_core::db;
use netily_core::pki;
use netily_tests::openvpn::{now, Lab};

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
    // The periodic reload is a minute away here: the revocations below are
    // refused within a moment only because their notification reloads at once.
    let conf = lab.dir.join("server.conf");
    let text = std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{e}"));
    let plugin_line = |l: &str| l.starts_with("plugin ") && l.contains("openvpn_plugin_netily");
    assert!(text.lines().any(plugin_line), "no plugin line:\n{text}");
    let text: Vec<String> = text
        .lines()
        .map(|l| match plugin_line(l) {
            true => format!("{l} refresh_ms=60000"),
            false => l.to_owned(),
        })
        .collect();
    std::fs::write(&conf, text.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
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
    sleep(Duration::from_millis(300));
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
    sleep(Duration::from_millis(300));
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

/// The `server` line and netily.conf are two statements of one network: when
/// they disagree, routers are refused with a line saying so, never given an
/// address the server cannot route or the RouterOS script does not name.
#[test]
fn a_server_line_that_disagrees_with_netily_conf_refuses_routers_loudly() {
    let mut lab = Lab::new("m");
    let (_, cert) = lab.add_router("tower-9", 1);
    let conf = lab.dir.join("netily.conf");
    let text = fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        &conf,
        text.replace("vpn_network = 10.8.0.0/24", "vpn_network = 10.66.0.0/24"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    lab.start_server();
    let h = lab.add_host();
    let ca_pem = lab.ca.cert_pem.clone();
    let c = lab.start_client(h, "tower-9", &ca_pem, &cert);
    assert!(
        !lab.clients[c].wait_ready(Duration::from_secs(6)),
        "admitted with a mismatched network"
    );
    let log = lab.server_log();
    assert!(
        log.contains(
            "refused router tower-9: this OpenVPN server's tunnel address is 10.8.0.1, \
             but netily.conf's network for it is 10.66.0.0/24"
        ),
        "{log}"
    );
}
