//! Subscribers in a real PostgreSQL, asked about by a real NAS (radclient)
//! through a real FreeRADIUS running rlm_netily: the module looks the record
//! up in netily-core's snapshot, netily-core decides, FreeRADIUS authenticates
//! with the password it got. Operator changes arrive without a restart, and a
//! database outage neither stops radiusd nor (once loaded) the service.

use std::time::{Duration, Instant};

use netily_core::db::{self, NewPlan};
use netily_core::model::SubscriberStatus;
use netily_tests::freeradius::{self, Radiusd};
use netily_tests::isp::{seed_alice_and_bob, Isp};

fn pap(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\", User-Password = \"{password}\"\n")
}

#[test]
fn subscribers_are_decided_from_the_database() {
    let mut isp = Isp::new("netily_radius");
    // A plan, a paying subscriber and a disabled one.
    let mut plan = NewPlan::new("home-10m", "5M/10M".parse().unwrap());
    plan.session_timeout = Some(7200);
    seed_alice_and_bob(&mut isp.sql(), &plan);
    let mut server = isp.start_radiusd();
    assert!(
        server.log().contains("rlm_netily: loaded 2 subscriber(s)"),
        "{}",
        server.log()
    );

    // A paying subscriber: accepted with the plan's attributes, once each.
    let reply = server.auth(&pap("alice", "alice-secret")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"], "{reply:?}");
    assert_eq!(reply.values("Session-Timeout"), ["7200"], "{reply:?}");

    // The right subscriber with the wrong password: pap refuses.
    let reply = server.auth(&pap("alice", "bob-secret")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");

    // CHAP from the same stored password.
    let chap = "User-Name = \"alice\", CHAP-Password = \"alice-secret\"\n";
    let reply = server.auth(chap).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}");

    // Disabled by the operator: rejected with the reason, even with the right password.
    let reply = server.auth(&pap("bob", "bob-secret")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert_eq!(
        reply.values("Reply-Message"),
        ["Account disabled"],
        "{reply:?}"
    );

    // Not a Netily subscriber: notfound, then rejected by the server.
    let reply = server.auth(&pap("mallory", "x")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert!(reply.values("Reply-Message").is_empty(), "{reply:?}");

    // An operator change reaches radiusd without a restart (LISTEN/NOTIFY).
    let mut conn = isp.sql();
    db::set_customer_status(&mut conn, "alice", SubscriberStatus::Suspended).unwrap();
    let reply = eventually(&server, &pap("alice", "alice-secret"), "Access-Reject");
    assert_eq!(
        reply.values("Reply-Message"),
        ["Account disabled"],
        "{reply:?}"
    );
    db::set_customer_status(&mut conn, "alice", SubscriberStatus::Active).unwrap();
    eventually(&server, &pap("alice", "alice-secret"), "Access-Accept");
    drop(conn);

    // The database goes away: radiusd keeps answering from the last known state.
    isp.cluster().stop().unwrap();
    let reply = server.auth(&pap("alice", "alice-secret")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    let reply = server.auth(&pap("bob", "bob-secret")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert!(server.is_running(), "{}", server.log());

    // A radiusd started while the database is down fails closed, quickly ...
    let cold = isp.start_radiusd();
    assert!(
        cold.log().contains("database unavailable"),
        "{}",
        cold.log()
    );
    let started = Instant::now();
    let reply = cold.auth(&pap("alice", "alice-secret")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    // ... and serves once the database is back, without a restart.
    isp.cluster().start_again().unwrap();
    eventually(&cold, &pap("alice", "alice-secret"), "Access-Accept");
    eventually(&server, &pap("alice", "alice-secret"), "Access-Accept");
}

/// One device's packets: its MAC, through the NAS at `nas`.
const MAC: &str = "AA:BB:CC:DD:EE:01";

fn login_via(nas: &str) -> String {
    format!(
        "User-Name = \"alice\", User-Password = \"alice-secret\", \
         NAS-IP-Address = {nas}, Calling-Station-Id = \"{MAC}\"\n"
    )
}

fn accounting_via(nas: &str, status: &str, session: &str) -> String {
    format!(
        "Acct-Status-Type = {status}, User-Name = \"alice\", Acct-Session-Id = \"{session}\", \
         NAS-IP-Address = {nas}, NAS-Port-Type = Ethernet, Calling-Station-Id = \"{MAC}\"\n"
    )
}

fn account(server: &Radiusd, packet: &str) {
    let reply = server.acct(packet).unwrap();
    assert!(
        reply.is("Accounting-Response"),
        "{packet}: {reply:?}\n{}",
        server.log()
    );
}

/// Simultaneous use 1 and one MAC: a session on one NAS refuses the same MAC
/// through another NAS (three NASes once let three sessions in); through
/// the same NAS it may replace its stale predecessor, once.
#[test]
fn one_device_cannot_multiply_its_sessions_across_nases() {
    let isp = Isp::new("netily_simultaneous_use");
    let mut plan = NewPlan::new("home-10m", "5M/10M".parse().unwrap());
    plan.simultaneous_use = Some(1);
    seed_alice_and_bob(&mut isp.sql(), &plan);
    let server = isp.radiusd();
    let reply = server.auth(&login_via("10.0.0.1")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    account(&server, &accounting_via("10.0.0.1", "Start", "first"));
    eventually(&server, &login_via("10.0.0.2"), "Access-Reject");
    let reply = server.auth(&login_via("10.0.0.3")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert_eq!(
        reply.values("Reply-Message"),
        ["Simultaneous-use limit reached"],
        "{reply:?}"
    );
    let check = isp.netadmin(&["check", "alice", "--mac", MAC, "--nas", "10.0.0.2"]);
    assert!(check.starts_with("REJECT alice"), "{check}");

    // The same device through the same NAS: a reconnect over a stale session.
    let reply = server.auth(&login_via("10.0.0.1")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    let check = isp.netadmin(&["check", "alice", "--mac", MAC, "--nas", "10.0.0.1"]);
    assert!(check.starts_with("ACCEPT alice"), "{check}");

    // Its new session opens before the NAS closes the old one: no third.
    account(&server, &accounting_via("10.0.0.1", "Start", "second"));
    eventually(&server, &login_via("10.0.0.1"), "Access-Reject");

    // The NAS closes the stale one: the device's session may be replaced again.
    account(&server, &accounting_via("10.0.0.1", "Stop", "first"));
    eventually(&server, &login_via("10.0.0.1"), "Access-Accept");
    let reply = server.auth(&login_via("10.0.0.2")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
}

/// Asks until the reply has `code` (changes propagate asynchronously).
fn eventually(server: &Radiusd, request: &str, code: &str) -> freeradius::Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = server.auth(request).unwrap();
        if reply.is(code) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "still {reply:?}, wanted {code}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
