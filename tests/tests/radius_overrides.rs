//! Reply overrides (radreply / radgroupreply rows) through a real FreeRADIUS
//! running rlm_netily, a real NAS (radclient) and the real `netadmin check`:
//!
//! - a row FreeRADIUS could not set (a value of the wrong type, a name its
//!   dictionary does not have, an address that is not an IPv4 literal) is
//!   skipped and reported once; the subscriber (or the whole group) still
//!   logs in, with the rest of the reply;
//! - `netadmin check` shows the same reply and names the skipped rows;
//! - a bare number in a row's Mikrotik-Rate-Limit is bits/s, as RouterOS
//!   reads it.

use std::time::{Duration, Instant};

use netily_tests::freeradius::Reply;
use netily_tests::isp::Isp;

/// The ISP with the schema and one plan, `gold`.
fn isp_with_gold(name: &str) -> Isp {
    Isp::with_plan(name, "gold", "5M/10M")
}

fn pap(user: &str) -> String {
    format!("User-Name = \"{user}\", User-Password = \"{user}-pass\"\n")
}

/// The reply lines `netadmin check` prints (`  Name := value`), as pairs.
fn check_reply(check: &str) -> Vec<(String, String)> {
    check
        .lines()
        .skip_while(|l| *l != "reply:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(" := "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// What radclient printed, in the forms `check` uses for these attributes.
fn received(reply: &Reply) -> Vec<(String, String)> {
    let mut got: Vec<(String, String)> = reply
        .attributes
        .iter()
        .filter(|(n, _)| n != "Message-Authenticator")
        .cloned()
        .collect();
    got.sort();
    got
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[test]
fn a_bad_override_row_is_skipped_and_reported_once_never_a_lockout() {
    let isp = isp_with_gold("overrides_bad_rows");
    for user in ["alice", "carl", "dora"] {
        isp.customer(user, &format!("{user}-pass"), "gold");
    }
    isp.sql()
        .batch_execute(
            "INSERT INTO radreply (username, attribute, op, value) VALUES
               ('alice', 'Session-Timeout', ':=', 'abc'),
               ('alice', 'No-Such-Attribute', ':=', 'x'),
               ('alice', 'Framed-IP-Address', ':=', 'not-an-ip'),
               ('alice', 'Reply-Message', ':=', 'hello'),
               ('alice', 'Idle-Timeout', ':=', '600'),
               ('alice', 'Framed-IPv6-Prefix', ':=', '2001:db8:1::/48'),
               ('alice', 'Class', ':=', '0x0102');
             INSERT INTO radusergroup (username, groupname, priority) VALUES
               ('carl', 'staff', 1), ('dora', 'staff', 1);
             INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
               ('staff', 'Session-Timeout', ':=', '12x'),
               ('staff', 'Mikrotik-Address-List', ':=', 'staff'),
               ('staff', 'Framed-IP-Netmask', ':=', 'localhost');",
        )
        .unwrap();
    let server = isp.radiusd();

    // alice: accepted with the plan and her good rows, the bad ones left out.
    for _ in 0..2 {
        let reply = server.auth(&pap("alice")).unwrap();
        assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
        assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"], "{reply:?}");
        assert_eq!(reply.values("Reply-Message"), ["hello"], "{reply:?}");
        assert_eq!(reply.values("Idle-Timeout"), ["600"], "{reply:?}");
        assert_eq!(
            reply.values("Framed-IPv6-Prefix"),
            ["2001:db8:1::/48"],
            "{reply:?}"
        );
        assert_eq!(reply.values("Class"), ["0x0102"], "{reply:?}");
        assert!(reply.values("Session-Timeout").is_empty(), "{reply:?}");
        assert!(reply.values("Framed-IP-Address").is_empty(), "{reply:?}");
    }
    // The whole group still logs in, with the group's good row.
    for user in ["carl", "dora"] {
        let reply = server.auth(&pap(user)).unwrap();
        assert!(reply.is("Access-Accept"), "{user}: {reply:?}");
        assert_eq!(
            reply.values("Mikrotik-Address-List"),
            ["staff"],
            "{reply:?}"
        );
        assert!(reply.values("Session-Timeout").is_empty(), "{reply:?}");
        assert!(reply.values("Framed-IP-Netmask").is_empty(), "{reply:?}");
    }

    // A bad row written while radiusd runs (a targeted reload) is skipped
    // the same way; the good row written with it arrives.
    isp.sql()
        .batch_execute(
            "INSERT INTO radreply (username, attribute, op, value) VALUES
               ('dora', 'Idle-Timeout', ':=', 'soon'),
               ('dora', 'Reply-Message', ':=', 'later')",
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = server.auth(&pap("dora")).unwrap();
        assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
        assert!(reply.values("Idle-Timeout").is_empty(), "{reply:?}");
        if reply.values("Reply-Message") == ["later"] {
            break;
        }
        assert!(Instant::now() < deadline, "{reply:?}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // Each bad row is reported once, however many logins it touched.
    let log = server.log();
    for (what, times) in [
        ("user \"alice\": Session-Timeout :=", 1),
        ("user \"alice\": No-Such-Attribute :=", 1),
        ("user \"alice\": Framed-IP-Address :=", 1),
        ("Session-Timeout := (a group row", 1),
        ("Framed-IP-Netmask := (a group row", 1),
        ("user \"dora\": Idle-Timeout :=", 1),
    ] {
        assert_eq!(log.matches(what).count(), times, "{what}:\n{log}");
    }
    // The values are not logged (a row may hold a key), only in `check`.
    assert!(!log.contains("not-an-ip"), "{log}");
    // netadmin's table and this radiusd's dictionary agree: nothing left out.
    assert!(
        !log.contains("override rows setting it are skipped"),
        "{log}"
    );

    // `check` says what the module did: the same reply, and why rows are missing.
    let check = isp.netadmin(&["check", "alice"]);
    assert!(check.starts_with("ACCEPT alice"), "{check}");
    let reply = server.auth(&pap("alice")).unwrap();
    assert_eq!(sorted(check_reply(&check)), received(&reply), "{check}");
    for skipped in [
        "user reply Session-Timeout := abc skipped:",
        "user reply No-Such-Attribute := x skipped:",
        "user reply Framed-IP-Address := not-an-ip skipped:",
    ] {
        assert!(check.contains(skipped), "{skipped}:\n{check}");
    }
    let carl = isp.netadmin(&["check", "carl"]);
    let reply = server.auth(&pap("carl")).unwrap();
    assert_eq!(sorted(check_reply(&carl)), received(&reply), "{carl}");
    assert!(
        carl.contains("group reply Framed-IP-Netmask := localhost skipped:"),
        "{carl}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&isp.netadmin(&["--json", "check", "alice"])).unwrap();
    assert_eq!(j["decision"], "accept", "{j}");
    assert_eq!(
        j["skipped_replies"].as_array().map(Vec::len),
        Some(3),
        "{j}"
    );
    assert_eq!(
        j["skipped_replies"][0]["attribute"], "Session-Timeout",
        "{j}"
    );
}

#[test]
fn bare_numbers_in_an_override_rate_limit_are_bits_per_second() {
    let isp = isp_with_gold("overrides_bare_rates");
    isp.customer("alice", "alice-pass", "gold");
    isp.customer("bob", "bob-pass", "gold");
    isp.sql()
        .batch_execute(
            "INSERT INTO radusergroup (username, groupname, priority) VALUES ('alice', 'slow', 1);
             INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES
               ('slow', 'Mikrotik-Rate-Limit', ':=', '10000/20000');
             INSERT INTO radreply (username, attribute, op, value) VALUES
               ('bob', 'Mikrotik-Rate-Limit', ':=', '2000000/4M 0/8000000');",
        )
        .unwrap();
    let server = isp.radiusd();

    // RouterOS reads 10000 as 10,000 bit/s: sent so that it reads the same.
    let reply = server.auth(&pap("alice")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(
        reply.values("Mikrotik-Rate-Limit"),
        ["10k/20k"],
        "{reply:?}"
    );
    let reply = server.auth(&pap("bob")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(
        reply.values("Mikrotik-Rate-Limit"),
        ["2M/4M 0/8M 0/4M 0/1"],
        "{reply:?}"
    );
    assert!(isp
        .netadmin(&["check", "alice"])
        .contains("Mikrotik-Rate-Limit := 10k/20k\n"));
}
