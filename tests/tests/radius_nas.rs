//! Routers registered with the real `netadmin router add` are RADIUS clients
//! of a real FreeRADIUS running rlm_netily, with no edit to clients.conf:
//! registered at startup from the nas table, and added while radiusd runs
//! through the dynamic-clients server. An address that is not in the table
//! stays ignored. radclient sends from chosen loopback addresses
//! (Packet-Src-IP-Address), so each address is a different NAS.

use std::time::{Duration, Instant};

use netily_core::db;
use netily_core::vpn_plan::VpnPlan;
use netily_tests::freeradius::{self, Radiusd, RadiusdOptions, Reply};
use netily_tests::isp::Isp;

const TOWER_1: &str = "127.0.0.21";
const TOWER_2: &str = "127.0.0.22";
const STRANGER: &str = "127.0.0.23";
// Backslashes and quotes must reach FreeRADIUS byte for byte.
const TOWER_1_SECRET: &str = r#"t1-s3cret\n"x"#;
const TOWER_2_SECRET: &str = r"t2\secret\";

/// One Access-Request from `source` with `secret`; `timeout` seconds for
/// the answer (an ignored request gets none).
fn auth_from(server: &Radiusd, source: &str, secret: &str, timeout: u32) -> Reply {
    let request = format!(
        "User-Name = \"alice\", User-Password = \"alice-pass\", Packet-Src-IP-Address = {source}\n"
    );
    freeradius::radclient_as(server.auth_port, "auth", secret, timeout, &request)
        .expect("run radclient")
}

#[test]
fn routers_from_netadmin_are_radius_clients() {
    let mut isp = Isp::new("netily_nas");
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    isp.customer("alice", "alice-pass", "home");
    isp.netadmin(&[
        "router",
        "add",
        "tower-1",
        "--ip",
        TOWER_1,
        "--secret",
        TOWER_1_SECRET,
    ]);

    // Registered at startup from the nas table: by its NAS address and by
    // its VPN address.
    let server = isp.start_radiusd();
    let log = server.log();
    assert!(
        log.contains("registered 2 of 2 RADIUS client(s) from the nas table"),
        "{log}"
    );
    let reply = auth_from(&server, TOWER_1, TOWER_1_SECRET, 3);
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"]);

    // An address that is in no table is ignored: no answer at all.
    let reply = auth_from(&server, STRANGER, "guess", 1);
    assert_eq!(reply.code, None, "{reply:?}");
    assert!(
        server
            .log()
            .contains(&format!("from unknown client {STRANGER}")),
        "{}",
        server.log()
    );

    // A router added while radiusd runs: served by its first request.
    isp.netadmin(&[
        "router",
        "add",
        "tower-2",
        "--ip",
        TOWER_2,
        "--secret",
        TOWER_2_SECRET,
    ]);
    let added = Instant::now();
    let reply = auth_from(&server, TOWER_2, TOWER_2_SECRET, 3);
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    println!(
        "router added with netadmin served after {:?}",
        added.elapsed()
    );
    assert!(
        server.log().contains(&format!(
            "RADIUS client 'tower-2' ({TOWER_2}) defined from the nas table"
        )),
        "{}",
        server.log()
    );
    // The stranger is still ignored, and the old router still served.
    assert_eq!(auth_from(&server, STRANGER, "guess", 1).code, None);
    assert!(auth_from(&server, TOWER_1, TOWER_1_SECRET, 3).is("Access-Accept"));
    // A wrong secret gets nowhere (the password decodes to garbage, and the
    // answer does not verify with the NAS's secret).
    let reply = auth_from(&server, TOWER_2, "not-the-secret", 3);
    assert!(!reply.is("Access-Accept"), "{reply:?}");

    // No secret ever reaches the log.
    let log = server.log();
    for secret in [TOWER_1_SECRET, TOWER_2_SECRET] {
        assert!(!log.contains(secret), "secret in log:\n{log}");
    }
    drop(server);

    // After a restart both are registered at startup (each twice: NAS
    // address and VPN address).
    let server = isp.start_radiusd();
    assert!(
        server
            .log()
            .contains("registered 4 of 4 RADIUS client(s) from the nas table"),
        "{}",
        server.log()
    );
    assert!(auth_from(&server, TOWER_2, TOWER_2_SECRET, 3).is("Access-Accept"));
    assert_eq!(auth_from(&server, STRANGER, "guess", 1).code, None);
    drop(server);

    // A radiusd started while the database is down knows no router; once
    // the database is back the routers are served without a restart.
    isp.cluster().stop().unwrap();
    let mut server = isp.start_radiusd();
    assert!(
        server
            .log()
            .contains("no RADIUS clients from the nas table at startup"),
        "{}",
        server.log()
    );
    assert_eq!(auth_from(&server, TOWER_1, TOWER_1_SECRET, 1).code, None);
    isp.cluster().start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = auth_from(&server, TOWER_1, TOWER_1_SECRET, 1);
        if reply.is("Access-Accept") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {reply:?}:\n{}",
            server.log()
        );
        // FreeRADIUS defines at most one new client per second per network.
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(server.is_running());

    // The same lookup, straight from the database.
    let mut conn = isp.sql();
    let found = db::nas::find_client(&mut conn, TOWER_2.parse().unwrap(), &VpnPlan::default())
        .unwrap()
        .expect("tower-2 in the nas table");
    assert_eq!(found.shortname, "tower-2");
    assert_eq!(found.secret, TOWER_2_SECRET);
    assert!(
        db::nas::find_client(&mut conn, STRANGER.parse().unwrap(), &VpnPlan::default())
            .unwrap()
            .is_none()
    );
}

/// Sends from `source` until the answer is (or is no longer) an Accept, for
/// at most `within`; returns how long that took.
fn until_accepted(
    server: &Radiusd,
    source: &str,
    secret: &str,
    accepted: bool,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let reply = auth_from(server, source, secret, 1);
        if reply.is("Access-Accept") == accepted {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{source}: still {reply:?} after {within:?}:\n{}",
            server.log()
        );
        // FreeRADIUS defines at most one new client per second per network.
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn nas_clients_from_netadmin_are_served_and_removed_while_radiusd_runs() {
    const OLT: &str = "127.0.0.31";
    const HOTSPOT: &str = "127.0.0.42"; // inside 127.0.0.40/29
    const LIFETIME: u32 = 2;
    let isp = Isp::new("netily_nas_cli");
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    isp.customer("alice", "alice-pass", "home");
    let server = Radiusd::start_with(RadiusdOptions {
        config_file: Some(isp.config().to_path_buf()),
        client_lifetime: Some(LIFETIME),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(auth_from(&server, OLT, "olt-s3cret", 1).code, None);

    // Added while radiusd runs: an address, and a network.
    isp.netadmin(&[
        "nas",
        "add",
        OLT,
        "--shortname",
        "olt-1",
        "--secret",
        "olt-s3cret",
    ]);
    isp.netadmin(&[
        "nas",
        "add",
        "127.0.0.40/29",
        "--shortname",
        "hotspots",
        "--secret",
        "hs-s3cret",
    ]);
    let reply = auth_from(&server, OLT, "olt-s3cret", 3);
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    let reply = auth_from(&server, HOTSPOT, "hs-s3cret", 3);
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"]);

    // A new secret takes over once the client's lifetime has passed.
    isp.netadmin(&["nas", "update", "olt-1", "--secret", "olt-n3w"]);
    let took = until_accepted(&server, OLT, "olt-n3w", true, Duration::from_secs(10));
    println!("secret change honoured after {took:?} (lifetime {LIFETIME} s)");

    // Removed: no longer answered once the client's lifetime has passed.
    isp.netadmin(&["nas", "remove", "olt-1"]);
    isp.netadmin(&["nas", "remove", "127.0.0.40/29"]);
    let took = until_accepted(&server, OLT, "olt-n3w", false, Duration::from_secs(10));
    println!("removal honoured after {took:?} (lifetime {LIFETIME} s)");
    until_accepted(
        &server,
        HOTSPOT,
        "hs-s3cret",
        false,
        Duration::from_secs(10),
    );
    assert_eq!(
        auth_from(&server, OLT, "olt-n3w", 1).code,
        None,
        "ignored, not rejected"
    );
    let log = server.log();
    for secret in ["olt-s3cret", "olt-n3w", "hs-s3cret"] {
        assert!(!log.contains(secret), "secret in log:\n{log}");
    }
}

/// One Accounting-Request (a Start for `session`) from `source`.
fn acct_from(server: &Radiusd, source: &str, secret: &str, session: &str, timeout: u32) -> Reply {
    let request = format!(
        "Acct-Status-Type = Start, User-Name = \"alice\", Acct-Session-Id = \"{session}\", \
         NAS-IP-Address = {source}, Packet-Src-IP-Address = {source}\n"
    );
    freeradius::radclient_as(server.acct_port, "acct", secret, timeout, &request)
        .expect("run radclient")
}

/// Sends from `source` (1 s per try) until a request gets no answer;
/// returns how long after `since` that request was sent.
fn until_unanswered(server: &Radiusd, source: &str, secret: &str, since: Instant) -> Duration {
    loop {
        let sent = since.elapsed();
        let reply = auth_from(server, source, secret, 1);
        if reply.code.is_none() {
            return sent;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{source}: still {reply:?}:\n{}",
            server.log()
        );
    }
}

/// A router or NAS removed while radiusd runs is not answered from the
/// moment the nas table's notification arrives, although FreeRADIUS keeps
/// the client it was given (for its life, or its 60 s `lifetime`): neither
/// logins nor accounting, and nothing is recorded for them. Clients from
/// clients.conf and the remaining routers are served as before.
#[test]
fn a_removed_router_or_nas_gets_no_answer_right_after_the_change() {
    const TOWER_3: &str = "127.0.0.51"; // registered at startup
    const TOWER_4: &str = "127.0.0.52"; // defined dynamically
    const CAMPUS: &str = "127.0.0.56/29"; // a network registered at startup
    const CAMPUS_NAS: &str = "127.0.0.59";
    let isp = Isp::with_plan("netily_nas_cut", "home", "5M/10M");
    isp.customer("alice", "alice-pass", "home");
    isp.netadmin(&[
        "router", "add", "tower-3", "--ip", TOWER_3, "--secret", "t3-s",
    ]);
    isp.netadmin(&[
        "nas",
        "add",
        CAMPUS,
        "--shortname",
        "campus",
        "--secret",
        "campus-s",
    ]);
    // The shipped site's lifetime: a removal used to take up to 60 s.
    let server = isp.start_radiusd();
    isp.netadmin(&[
        "router", "add", "tower-4", "--ip", TOWER_4, "--secret", "t4-s",
    ]);
    for (source, secret) in [
        (TOWER_3, "t3-s"),
        (TOWER_4, "t4-s"),
        (CAMPUS_NAS, "campus-s"),
    ] {
        let reply = auth_from(&server, source, secret, 3);
        assert!(
            reply.is("Access-Accept"),
            "{source}: {reply:?}\n{}",
            server.log()
        );
    }
    let reply = acct_from(&server, TOWER_3, "t3-s", "cut-1", 3);
    assert!(
        reply.is("Accounting-Response"),
        "{reply:?}\n{}",
        server.log()
    );

    // `router remove` of a router registered at startup.
    isp.netadmin(&["router", "remove", "tower-3"]);
    let removed = Instant::now();
    let took = until_unanswered(&server, TOWER_3, "t3-s", removed);
    println!("router registered at startup: first unanswered request sent {took:?} after `router remove`");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let reply = acct_from(&server, TOWER_3, "t3-s", "cut-2", 1);
    assert_eq!(reply.code, None, "accounting answered: {reply:?}");

    // `router remove` of a router defined through the dynamic-clients server.
    isp.netadmin(&["router", "remove", "tower-4"]);
    let removed = Instant::now();
    let took = until_unanswered(&server, TOWER_4, "t4-s", removed);
    println!(
        "router defined dynamically: first unanswered request sent {took:?} after `router remove`"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");

    // `nas remove` of a network.
    isp.netadmin(&["nas", "remove", CAMPUS]);
    let removed = Instant::now();
    let took = until_unanswered(&server, CAMPUS_NAS, "campus-s", removed);
    println!("NAS network: first unanswered request sent {took:?} after `nas remove`");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // clients.conf's client is never touched.
    let reply = server
        .auth("User-Name = \"alice\", User-Password = \"alice-pass\"\n")
        .expect("radclient");
    assert!(reply.is("Access-Accept"), "{reply:?}");

    // Nothing was recorded for the unanswered requests.
    let mut sql = isp.sql();
    let sessions: Vec<String> = sql
        .query("SELECT acctsessionid FROM radacct ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sessions, ["cut-1"]);
    let log = server.log();
    let said = format!(
        "RADIUS client 'tower-3' ({TOWER_3}) is no longer in the nas table: its requests get no answer"
    );
    assert_eq!(
        log.matches(&said).count(),
        1,
        "logged once a minute:\n{log}"
    );

    // Added again while FreeRADIUS still holds its old client: served again.
    isp.netadmin(&[
        "router", "add", "tower-3", "--ip", TOWER_3, "--secret", "t3-s",
    ]);
    let took = until_accepted(&server, TOWER_3, "t3-s", true, Duration::from_secs(5));
    println!("router added again: served after {took:?}");
    for secret in ["t3-s", "t4-s", "campus-s"] {
        assert!(!log.contains(secret), "secret in log:\n{log}");
    }
}

/// A router whose certificate is revoked, with none active left (lost,
/// stolen), is cut off from RADIUS too, at once: not only its tunnel. One
/// that gets a new certificate is served again.
#[test]
fn a_router_whose_certificates_are_all_revoked_gets_no_answer_right_after() {
    const TOWER_5: &str = "127.0.0.53";
    let isp = Isp::with_plan("netily_nas_revoked", "home", "5M/10M");
    isp.customer("alice", "alice-pass", "home");
    isp.netadmin(&[
        "router", "add", "tower-5", "--ip", TOWER_5, "--secret", "t5-s",
    ]);
    // Its certificate, as `cert issue` stores it (the PEM is not read here).
    let mut sql = isp.sql();
    let certificate = |serial: &str| {
        format!(
            "INSERT INTO certificates (serial, router_id, common_name, not_after, pem)
             SELECT '{serial}', id, name, now() + interval '30 days', 'pem'
               FROM routers WHERE name = 'tower-5'"
        )
    };
    sql.batch_execute(&certificate("aa01")).unwrap();
    let server = isp.start_radiusd();
    let reply = auth_from(&server, TOWER_5, "t5-s", 3);
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    sql.execute(
        "UPDATE certificates SET status = 'revoked', revoked_at = now() WHERE serial = 'aa01'",
        &[],
    )
    .unwrap();
    let revoked = Instant::now();
    let took = until_unanswered(&server, TOWER_5, "t5-s", revoked);
    println!("revoked router: first unanswered request sent {took:?} after the revocation");
    assert!(took < Duration::from_secs(2), "{took:?}");

    sql.batch_execute(&certificate("aa02")).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let mut reply = auth_from(&server, TOWER_5, "t5-s", 1);
    while !reply.is("Access-Accept") && Instant::now() < until {
        reply = auth_from(&server, TOWER_5, "t5-s", 1);
    }
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
}
