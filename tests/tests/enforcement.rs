//! Live enforcement end to end: PostgreSQL, FreeRADIUS with rlm_netily
//! (logins and accounting from radclient as the NAS), the enforcer as the
//! service runs it (`netadmin enforce --follow`), and as the router a real
//! FreeRADIUS receiving CoA and Disconnect-Requests on its own address
//! ([`CoaNas`]: it verifies the authenticators and records what it got).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netily_tests::coa_nas::{CoaNas, CoaNasOptions, CoaPacket, COA_REQUEST, DISCONNECT_REQUEST};
use netily_tests::enforcer::EnforcerProcess;
use netily_tests::freeradius::Radiusd;
use netily_tests::isp::Isp;

/// The router's address (its NAS-IP-Address and where CoA goes).
const ROUTER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const SECRET: &str = "coa-secret";

/// Enforcer settings for tests: sent from loopback, quick retransmission.
const CONFIG: &str = "coa_source_address = 127.0.0.1\ncoa_timeout = 1\ncoa_tries = 2\n";

struct Lab {
    isp: Isp,
    nas: CoaNas,
    radiusd: Radiusd,
}

/// An ISP with plans home (5M/10M) and fast (20M/40M), subscribers alice
/// and bob on home, the router's NAS entry, the stand-in router and radiusd.
fn lab(name: &str, extra: &str, nas: CoaNasOptions) -> Lab {
    lab_with(name, extra, nas, false)
}

/// [`lab`]; with `as_router`, the NAS is a managed router (`router add`,
/// its CoA port by `router update`), not a plain `nas add` entry.
fn lab_with(name: &str, extra: &str, nas: CoaNasOptions, as_router: bool) -> Lab {
    let isp = Isp::with_config(name, &format!("{CONFIG}{extra}"));
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    isp.netadmin(&["plan", "add", "fast", "--rate", "20M/40M"]);
    isp.customer("alice", "alice-secret", "home");
    isp.customer("bob", "bob-secret", "home");
    let nas = CoaNas::start(CoaNasOptions {
        address: ROUTER,
        secret: SECRET.into(),
        ..nas
    })
    .unwrap();
    let (router, port) = (ROUTER.to_string(), nas.addr().port().to_string());
    if as_router {
        isp.netadmin(&[
            "router", "add", "tower-1", "--ip", &router, "--secret", SECRET,
        ]);
        isp.netadmin(&["router", "update", "tower-1", "--coa-port", &port]);
    } else {
        isp.netadmin(&[
            "nas",
            "add",
            &router,
            "--shortname",
            "tower-1",
            "--secret",
            SECRET,
            "--coa-port",
            &port,
        ]);
    }
    let radiusd = isp.radiusd();
    Lab { isp, nas, radiusd }
}

fn known() -> CoaNasOptions {
    CoaNasOptions {
        known_session_prefix: "known-".into(),
        ..CoaNasOptions::default()
    }
}

impl Lab {
    /// `user` logs in and starts session `sid` with address `ip`.
    fn online(&self, user: &str, sid: &str, ip: &str) {
        // A subscriber added a moment ago reaches radiusd's snapshot by
        // notification: ask again for a little while.
        let until = Instant::now() + Duration::from_secs(5);
        let reply = loop {
            let reply = self
                .radiusd
                .auth(&format!(
                    "User-Name = {user}, User-Password = {user}-secret, NAS-IP-Address = {ROUTER}, \
                     Calling-Station-Id = AA:BB:CC:00:00:01"
                ))
                .unwrap();
            if reply.is("Access-Accept") || Instant::now() > until {
                break reply;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(reply.is("Access-Accept"), "{reply:?}");
        self.granted(user);
        let reply = self
            .radiusd
            .acct(&format!(
                "User-Name = {user}, Acct-Status-Type = Start, Acct-Session-Id = {sid}, \
                 NAS-IP-Address = {ROUTER}, Framed-IP-Address = {ip}, \
                 Calling-Station-Id = AA:BB:CC:00:00:01"
            ))
            .unwrap();
        assert!(reply.is("Accounting-Response"), "{reply:?}");
    }

    /// Waits until the authentication log's writer has stored what `user`'s
    /// login was granted (a moment after the Accept), as it has long before
    /// an enforcer starts in the field.
    fn granted(&self, user: &str) {
        let mut sql = self.isp.sql();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let n: i64 = sql
                .query_one(
                    "SELECT count(*) FROM login_grants WHERE username = $1",
                    &[&user],
                )
                .unwrap()
                .get(0);
            if n > 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no login grant for {user}");
    }

    /// The enforcer, once it has reviewed every online session.
    fn enforcer(&self, name: &str) -> EnforcerProcess {
        let e = EnforcerProcess::start(self.isp.config(), name);
        assert!(
            e.wait_for_log("reviewed every online session", Duration::from_secs(20)),
            "{}",
            e.log()
        );
        e
    }

    /// Exactly `n` packets, after waiting for them and a while longer (a
    /// duplicate would show up).
    fn exactly(&self, n: usize) -> Vec<CoaPacket> {
        let got = self.nas.wait_for(n, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1500));
        let all = self.nas.received();
        assert_eq!(all.len(), n, "{all:#?}\n{}", self.nas.log());
        assert!(got.len() >= n);
        all
    }

    fn coa_log(&self) -> Vec<serde_json::Value> {
        let out = self.isp.netadmin(&["coa-log", "--json"]);
        serde_json::from_str(&out).unwrap()
    }

    fn session_open(&self, sid: &str) -> (bool, Option<String>) {
        let r = self
            .isp
            .sql()
            .query_one(
                "SELECT acctstoptime IS NULL, acctterminatecause FROM radacct
                  WHERE acctsessionid = $1",
                &[&sid],
            )
            .unwrap();
        (r.get(0), r.get(1))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The identity MikroTik needs, a fresh Event-Timestamp and a
/// Message-Authenticator (the stand-in verified it, or it would not be here).
fn assert_identity(p: &CoaPacket, user: &str, sid: &str, ip: &str) {
    assert_eq!(p.user_name.as_deref(), Some(user), "{p:?}");
    assert_eq!(p.acct_session_id.as_deref(), Some(sid), "{p:?}");
    assert_eq!(p.framed_ip.as_deref(), Some(ip), "{p:?}");
    assert_eq!(p.nas_ip.as_deref(), Some("127.0.0.2"), "{p:?}");
    assert!(p.message_authenticator, "{p:?}");
    let ts: u64 = p.event_timestamp.as_deref().unwrap().parse().unwrap();
    assert!(unix_now().abs_diff(ts) < 30, "{p:?}");
}

#[test]
fn suspending_an_online_subscriber_sends_one_disconnect_naming_the_session() {
    let lab = lab("enforce_suspend", "", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    lab.online("bob", "known-b1", "10.0.0.8");
    let _enforcer = lab.enforcer("one");
    let asked = SystemTime::now();
    lab.isp.netadmin(&["customer", "suspend", "alice"]);
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, DISCONNECT_REQUEST);
    assert_identity(&got[0], "alice", "known-a1", "10.0.0.7");
    let took = got[0].received_at.duration_since(asked).unwrap();
    println!("suspend -> Disconnect-Request received in {took:?}");
    let log = lab.coa_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["outcome"], "ack");
    assert_eq!(log[0]["kind"], "disconnect");
    assert_eq!(log[0]["origin"], "enforcer");
    assert_eq!(log[0]["target"], format!("{}", lab.nas.addr()));
}

#[test]
fn a_plan_change_and_a_plan_rate_update_send_a_coa_with_the_exact_new_rate() {
    let lab = lab("enforce_rate", "", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    lab.isp.netadmin(&["customer", "set-plan", "alice", "fast"]);
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, COA_REQUEST);
    assert_identity(&got[0], "alice", "known-a1", "10.0.0.7");
    assert_eq!(got[0].rate_limit.as_deref(), Some("20M/40M"));
    lab.isp
        .netadmin(&["plan", "update", "fast", "--rate", "30M/60M"]);
    let got = lab.exactly(2);
    assert_eq!(got[1].kind, COA_REQUEST);
    assert_eq!(got[1].rate_limit.as_deref(), Some("30M/60M"));
    // Acknowledged, so remembered: the same decision sends nothing more.
    lab.isp
        .netadmin(&["customer", "update", "alice", "--phone", "555"]);
    lab.exactly(2);
}

#[test]
fn a_nak_for_an_unknown_session_closes_its_record() {
    let lab = lab("enforce_nak", "", known());
    lab.online("alice", "zombie-1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    lab.isp.netadmin(&["customer", "suspend", "alice"]);
    lab.exactly(1);
    let log = lab.coa_log();
    assert_eq!(log[0]["outcome"], "nak");
    assert_eq!(log[0]["error_cause"], 503);
    let until = Instant::now() + Duration::from_secs(5);
    while lab.session_open("zombie-1").0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        lab.session_open("zombie-1"),
        (false, Some("Stale-Session".to_owned()))
    );
}

#[test]
fn a_silent_router_gets_the_retransmissions_then_the_failure_is_recorded() {
    let lab = lab(
        "enforce_silent",
        "",
        CoaNasOptions {
            silent: true,
            ..CoaNasOptions::default()
        },
    );
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    lab.isp.netadmin(&["customer", "suspend", "alice"]);
    // coa_tries = 2: the same packet twice (same identifier), 1 s apart.
    let got = lab.exactly(2);
    assert_eq!(got[0].id, got[1].id);
    let gap = got[1]
        .received_at
        .duration_since(got[0].received_at)
        .unwrap();
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
    let until = Instant::now() + Duration::from_secs(5);
    let mut log = lab.coa_log();
    while log.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        log = lab.coa_log();
    }
    assert_eq!(log[0]["outcome"], "no-answer", "{log:?}");
    assert_eq!(log[0]["attempts"], 2);
    // Then the session waits coa_retry_after (60 s): nothing more now.
    lab.exactly(2);
}

#[test]
fn the_grace_period_ending_disconnects_with_no_database_change_at_that_moment() {
    // grace_days = 0: the invoice suspends at its due date, 3 s from now.
    let lab = lab("enforce_grace", "grace_days = 0\n", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    let due = unix_now() + 3;
    lab.isp
        .sql()
        .execute(
            "INSERT INTO invoices (customer_id, number, amount_cents, issued_at, due_at)
             SELECT id, 'INV-9', 2500, now(), to_timestamp($1) FROM customers
              WHERE username = 'alice'",
            &[&(due as f64)],
        )
        .unwrap();
    let _enforcer = lab.enforcer("one");
    let got = lab.nas.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{}", lab.nas.log());
    assert_eq!(got[0].kind, DISCONNECT_REQUEST);
    let at = got[0]
        .received_at
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    println!("grace ended at {due}, Disconnect-Request received at {at:.3}");
    assert!(at >= due as f64 && at < due as f64 + 2.0, "{at} vs {due}");
}

#[test]
fn two_enforcers_one_acts_and_the_other_takes_over_when_it_is_killed() {
    let lab = lab("enforce_two", "", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    lab.online("bob", "known-b1", "10.0.0.8");
    let mut first = lab.enforcer("first");
    let second = EnforcerProcess::start(lab.isp.config(), "second");
    std::thread::sleep(Duration::from_secs(2));
    assert!(first.acts() && !second.acts(), "{}", second.log());
    lab.isp.netadmin(&["customer", "suspend", "alice"]);
    lab.exactly(1);
    first.kill();
    let killed = Instant::now();
    assert!(
        second.wait_for_log("reviewed every online session", Duration::from_secs(5)),
        "{}",
        second.log()
    );
    println!("took over in {:?}", killed.elapsed());
    lab.isp.netadmin(&["customer", "suspend", "bob"]);
    let got = lab.exactly(2);
    assert_eq!(got[1].user_name.as_deref(), Some("bob"));
    drop(second);
}

#[test]
fn netadmin_kicks_a_session_and_pushes_the_current_decision() {
    let lab = lab("enforce_kick", "", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    let out = lab.isp.netadmin(&["sessions", "coa", "alice"]);
    assert!(out.contains("ack"), "{out}");
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, COA_REQUEST);
    assert_eq!(got[0].rate_limit.as_deref(), Some("5M/10M"));
    let out = lab.isp.netadmin(&["sessions", "kick", "known-a1"]);
    assert!(out.contains("ack"), "{out}");
    let got = lab.exactly(2);
    assert_eq!(got[1].kind, DISCONNECT_REQUEST);
    assert_identity(&got[1], "alice", "known-a1", "10.0.0.7");
    let log = lab.coa_log();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e["origin"] == "netadmin"), "{log:?}");
}

#[test]
fn a_dry_run_shows_what_would_be_sent_and_enforce_once_sends_it() {
    let lab = lab("enforce_once", "", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    // The service records what the session holds, then stops.
    let mut service = lab.enforcer("one");
    service.kill();
    lab.isp.netadmin(&["customer", "set-plan", "alice", "fast"]);
    let out = lab.isp.netadmin(&["enforce", "--dry-run"]);
    assert!(out.contains("Mikrotik-Rate-Limit=20M/40M"), "{out}");
    assert!(out.contains("Would send 1 request(s)"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.nas.received().is_empty());
    let out = lab.isp.netadmin(&["enforce"]);
    assert!(out.contains("ack"), "{out}");
    let got = lab.exactly(1);
    assert_eq!(got[0].rate_limit.as_deref(), Some("20M/40M"));
    let out = lab.isp.netadmin(&["enforce", "--dry-run"]);
    assert!(out.contains("nothing would be sent"), "{out}");
}

/// One Disconnect-Request for alice's session after `change`.
fn disconnects_after(name: &str, extra: &str, change: impl FnOnce(&Lab)) {
    let lab = lab(name, extra, known());
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    change(&lab);
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, DISCONNECT_REQUEST, "{got:?}");
    assert_identity(&got[0], "alice", "known-a1", "10.0.0.7");
}

#[test]
fn terminating_an_online_subscriber_disconnects_the_session() {
    disconnects_after("enforce_terminate", "", |lab| {
        lab.isp.netadmin(&["customer", "terminate", "alice"]);
    });
}

#[test]
fn removing_an_online_subscriber_disconnects_the_session() {
    // The record is gone: the grant still names the session to end.
    disconnects_after("enforce_remove", "", |lab| {
        lab.isp.netadmin(&["customer", "remove", "alice"]);
    });
}

#[test]
fn binding_the_subscriber_to_another_mac_disconnects_the_session() {
    disconnects_after("enforce_mac", "", |lab| {
        lab.isp
            .netadmin(&["customer", "update", "alice", "--mac", "AA:BB:CC:00:00:99"]);
    });
}

#[test]
fn an_expiry_set_moves_the_session_timeout_and_disconnects_at_that_second() {
    let lab = lab("enforce_expiry", "", known());
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    let expires = unix_now() + 3;
    let at = chrono_free_rfc3339(expires);
    lab.isp
        .netadmin(&["customer", "set-plan", "alice", "home", "--expires", &at]);
    // At once: the session's end moved, so a CoA with the seconds left;
    // at the expiry itself: a Disconnect, whatever the router did.
    let got = lab.exactly(2);
    assert_eq!(got[0].kind, COA_REQUEST);
    let left: u64 = got[0].session_timeout.as_deref().unwrap().parse().unwrap();
    assert!((1..=3).contains(&left), "{got:?}");
    assert_eq!(got[1].kind, DISCONNECT_REQUEST);
    let second = got[1]
        .received_at
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(second, expires, "{got:?}");
}

/// `t` as RFC 3339 UTC, without a date crate.
fn chrono_free_rfc3339(t: u64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn crossing_the_fair_use_cap_sends_a_coa_with_the_fair_use_rate() {
    let lab = lab("enforce_cap", "", known());
    lab.isp.netadmin(&[
        "plan",
        "add",
        "capped",
        "--rate",
        "10M/10M",
        "--data-cap",
        "1M",
        "--fair-use-rate",
        "1M/1M",
    ]);
    lab.isp
        .netadmin(&["customer", "set-plan", "alice", "capped"]);
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    let reply = lab
        .radiusd
        .acct(&format!(
            "User-Name = alice, Acct-Status-Type = Interim-Update, Acct-Session-Id = known-a1, \
             NAS-IP-Address = {ROUTER}, Framed-IP-Address = 10.0.0.7, \
             Calling-Station-Id = AA:BB:CC:00:00:01, Acct-Input-Octets = 1500000, \
             Acct-Output-Octets = 10, Acct-Session-Time = 60"
        ))
        .unwrap();
    assert!(reply.is("Accounting-Response"), "{reply:?}");
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, COA_REQUEST);
    assert_eq!(got[0].rate_limit.as_deref(), Some("1M/1M"));
}

#[test]
fn a_payment_ends_a_walled_garden_session_so_the_next_login_has_full_service() {
    let lab = lab(
        "enforce_garden",
        "walled_garden = on\ngrace_days = 0\n",
        known(),
    );
    lab.isp.netadmin(&[
        "invoice",
        "add",
        "alice",
        "--amount",
        "25.00",
        "--due",
        "2020-01-01",
        "--issued",
        "2019-12-01",
        "--number",
        "INV-1",
    ]);
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.nas.received().is_empty(), "in the garden already");
    lab.isp.netadmin(&["invoice", "pay", "INV-1"]);
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, DISCONNECT_REQUEST);
    let log = lab.coa_log();
    assert!(
        log[0]["why"]
            .as_str()
            .unwrap()
            .contains("Mikrotik-Address-List"),
        "{log:?}"
    );
    let reply = lab
        .radiusd
        .auth(&format!(
            "User-Name = alice, User-Password = alice-secret, NAS-IP-Address = {ROUTER}"
        ))
        .unwrap();
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"]);
    assert!(
        reply.values("Mikrotik-Address-List").is_empty(),
        "{reply:?}"
    );
}

/// Measured, not asserted as a timing: from the commit of a suspension to
/// the router receiving its Disconnect-Request, over 100 subscribers.
#[test]
fn a_hundred_suspensions_reach_the_router_and_the_delay_is_reported() {
    let lab = lab("enforce_hundred", "", known());
    let mut sql = lab.isp.sql();
    for n in 0..100 {
        let user = format!("user{n:03}");
        lab.isp.customer(&user, &format!("{user}-secret"), "home");
        lab.online(&user, &format!("known-{n}"), &format!("10.1.0.{}", n + 1));
    }
    let _enforcer = lab.enforcer("one");
    let mut committed = Vec::new();
    for n in 0..100 {
        sql.execute(
            "UPDATE customers SET status = 'suspended' WHERE username = $1",
            &[&format!("user{n:03}")],
        )
        .unwrap();
        committed.push(SystemTime::now());
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = lab.exactly(100);
    let mut delays: Vec<Duration> = got
        .iter()
        .map(|p| {
            let n: usize = p.acct_session_id.as_deref().unwrap()[6..].parse().unwrap();
            p.received_at
                .duration_since(committed[n])
                .unwrap_or_default()
        })
        .collect();
    delays.sort();
    println!(
        "commit -> Disconnect-Request over 100 suspensions: p50 {:?}, p99 {:?}, max {:?}",
        delays[49], delays[98], delays[99]
    );
}

#[test]
fn a_router_off_the_vpn_gets_requests_at_its_nas_address_on_its_coa_port() {
    let lab = lab_with("enforce_router", "", known(), true);
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    lab.isp.netadmin(&["customer", "suspend", "alice"]);
    let got = lab.exactly(1);
    assert_identity(&got[0], "alice", "known-a1", "10.0.0.7");
    let log = lab.coa_log();
    assert_eq!(log[0]["router"], "tower-1");
    assert_eq!(log[0]["target"], lab.nas.addr().to_string());
    assert_eq!(log[0]["outcome"], "ack");
}

/// "Disconnect ACKed but the user stays online": the router goes on
/// reporting the session after acknowledging its end.
#[test]
fn a_session_still_reported_after_its_disconnect_ack_is_disconnected_again() {
    let lab = lab(
        "enforce_kept",
        "stale_session_check_interval = 1\n",
        known(),
    );
    lab.online("alice", "known-a1", "10.0.0.7");
    let _enforcer = lab.enforcer("one");
    lab.isp.netadmin(&["customer", "suspend", "alice"]);
    lab.exactly(1);
    // Acknowledged, yet 11 s later the router reports the session again.
    std::thread::sleep(Duration::from_secs(11));
    let reply = lab
        .radiusd
        .acct(&format!(
            "User-Name = alice, Acct-Status-Type = Interim-Update, Acct-Session-Id = known-a1, \
             NAS-IP-Address = {ROUTER}, Framed-IP-Address = 10.0.0.7, \
             Calling-Station-Id = AA:BB:CC:00:00:01, Acct-Session-Time = 120"
        ))
        .unwrap();
    assert!(reply.is("Accounting-Response"), "{reply:?}");
    let got = lab.exactly(2);
    assert_eq!(got[1].kind, DISCONNECT_REQUEST);
    assert_identity(&got[1], "alice", "known-a1", "10.0.0.7");
}

/// What the router enforces is what the login's Access-Accept said: a plan
/// changed after the Accept and before any enforcer saw the session is
/// still a change for that session.
#[test]
fn a_plan_changed_after_the_login_and_before_the_enforcer_saw_the_session_is_pushed() {
    let lab = lab("enforce_login_grant", "", known());
    let reply = lab
        .radiusd
        .auth(&format!(
            "User-Name = alice, User-Password = alice-secret, NAS-IP-Address = {ROUTER}, \
             Calling-Station-Id = AA:BB:CC:00:00:01"
        ))
        .unwrap();
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"]);
    // The authentication log's writer remembers the Accept's reply.
    lab.granted("alice");
    lab.isp.netadmin(&["customer", "set-plan", "alice", "fast"]);
    let reply = lab
        .radiusd
        .acct(&format!(
            "User-Name = alice, Acct-Status-Type = Start, Acct-Session-Id = known-a1, \
             NAS-IP-Address = {ROUTER}, Framed-IP-Address = 10.0.0.7, \
             Calling-Station-Id = AA:BB:CC:00:00:01"
        ))
        .unwrap();
    assert!(reply.is("Accounting-Response"), "{reply:?}");
    let _enforcer = lab.enforcer("one");
    let got = lab.exactly(1);
    assert_eq!(got[0].kind, COA_REQUEST);
    assert_eq!(got[0].rate_limit.as_deref(), Some("20M/40M"));
}
