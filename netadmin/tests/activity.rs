//! `sessions`, `auth-log` and `dashboard` over rows FreeRADIUS would write.

mod common;

use common::Env;

#[test]
fn sessions_auth_log_and_dashboard() {
    let env = Env::demo();
    env.sql()
        .batch_execute(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, framedipaddress,
                                  callingstationid, acctstarttime, acctinputoctets, acctoutputoctets)
             VALUES ('81000001', 'u-alice-1', 'alice', '127.0.0.1', '100.64.0.5', 'AA:00:00:00:00:01',
                     now() - interval '1 hour', 1000000, 5000000),
                    ('81000002', 'u-bob-1', 'bob', '127.0.0.1', '100.64.0.6', 'AA:00:00:00:00:02',
                     now() - interval '3 hours', 10, 20);
             UPDATE radacct SET acctstoptime = now(), acctterminatecause = 'User-Request'
              WHERE acctuniqueid = 'u-bob-1';
             INSERT INTO radpostauth (username, pass, reply, callingstationid, authdate, reason)
             VALUES ('alice', 'alice-pass', 'Access-Accept', 'AA:00:00:00:00:01', now() - interval '1 hour', NULL),
                    ('carol', 'carol-pass', 'Access-Reject', 'AA:00:00:00:00:03', now() - interval '2 hours',
                     'Account suspended: invoice INV-1003 overdue 8 days'),
                    ('dave', 'x', 'Access-Reject', NULL, now() - interval '30 hours', 'disabled'),
                    ('alice', NULL, 'Access-Accept', NULL, now() - interval '40 days', 'old login');",
        )
        .unwrap();

    let active = env.json(&["sessions", "--active"]);
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert_eq!(active[0]["username"], "alice");
    assert_eq!(active[0]["framed_ip"], "100.64.0.5");
    assert_eq!(
        env.json(&["sessions", "--user", "bob"])[0]["terminate_cause"],
        "User-Request"
    );
    assert_eq!(env.json(&["sessions"]).as_array().unwrap().len(), 2);
    let t = env.ok(&["sessions", "--active"]);
    assert!(
        t.starts_with("USERNAME") && t.contains("alice") && !t.contains("bob"),
        "{t}"
    );

    let log = env.json(&["auth-log"]);
    assert_eq!(log.as_array().unwrap().len(), 4);
    assert!(
        !log.to_string().contains("alice-pass"),
        "passwords never read back"
    );
    let rejects = env.json(&["auth-log", "--rejects"]);
    assert_eq!(rejects.as_array().unwrap().len(), 2);
    let carol = env.ok(&["auth-log", "--user", "carol"]);
    assert!(
        carol.contains("Access-Reject") && carol.contains("INV-1003"),
        "{carol}"
    );
    // One subscriber's log looks further back until it has enough rows:
    // the recent accept alone when one is asked for, the 40-day-old one too
    // when more are.
    let reasons = |rows: serde_json::Value| -> Vec<serde_json::Value> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["reason"].clone())
            .collect()
    };
    assert_eq!(
        reasons(env.json(&["auth-log", "--user", "alice", "--limit", "1"])),
        [serde_json::Value::Null]
    );
    assert_eq!(
        reasons(env.json(&["auth-log", "--user", "alice"])),
        [serde_json::Value::Null, "old login".into()]
    );
    assert_eq!(
        env.json(&["auth-log", "--user", "carol", "--rejects"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(env
        .json(&["auth-log", "--user", "alice", "--rejects"])
        .as_array()
        .unwrap()
        .is_empty());

    // Demo: alice bob grace heidi ivan judy active; carol overdue; frank expired.
    let d = env.json(&["dashboard"]);
    assert_eq!(d["subscribers"], 10);
    assert_eq!(d["active"], 6);
    assert_eq!(d["overdue"], 1);
    assert_eq!(d["expired"], 1);
    assert_eq!(d["suspended"], 1);
    assert_eq!(d["terminated"], 1);
    assert_eq!(d["active_sessions"], 1);
    assert_eq!(d["accepts_24h"], 1);
    assert_eq!(
        d["rejects_24h"], 1,
        "the 30-hour-old reject is outside the window"
    );
    assert_eq!(d["routers"], 1);
    assert_eq!(d["routers_online"], 0);
    let text = env.ok(&["dashboard"]);
    assert!(
        text.contains("routers online") && text.contains("0 of 1"),
        "{text}"
    );
}

#[test]
fn auth_log_shows_the_nas_each_login_came_from() {
    let env = Env::migrated();
    env.sql()
        .batch_execute(
            "INSERT INTO radpostauth (username, reply, authdate, nasipaddress, reason)
             VALUES ('alice', 'Access-Accept', now() - interval '2 minutes', '192.0.2.7', NULL),
                    ('bob', 'Access-Reject', now() - interval '1 minute', '2001:db8::7', 'bad password'),
                    ('carol', 'Access-Accept', now(), NULL, NULL);",
        )
        .unwrap();
    let log = env.json(&["auth-log"]);
    let nas: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["nas_ip"])
        .collect();
    assert_eq!(
        nas,
        [
            &serde_json::Value::Null,
            &"2001:db8::7".into(),
            &"192.0.2.7".into()
        ],
        "{log}"
    );
    let text = env.ok(&["auth-log"]);
    let header = text.lines().next().unwrap();
    assert!(header.contains("NAS"), "{text}");
    let alice = text.lines().find(|l| l.contains("alice")).unwrap();
    assert!(alice.contains("192.0.2.7"), "{text}");
    let bob = text.lines().find(|l| l.contains("bob")).unwrap();
    assert!(bob.contains("2001:db8::7"), "{text}");
}

#[test]
fn sessions_filter_by_nas_address_or_router_and_start_date() {
    let env = Env::migrated();
    let router = env.json(&[
        "router",
        "add",
        "edge-1",
        "--ip",
        "192.0.2.7",
        "--secret",
        "s3cret-rt",
    ]);
    let vpn = router["vpn_address"].as_str().unwrap().to_owned();
    env.sql()
        .execute(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
             VALUES ('1', 'u-nas', 'alice', '192.0.2.7', '2025-03-01 12:00+00'),
                    ('2', 'u-vpn', 'bob', $1::text::inet, '2025-02-01 12:00+00'),
                    ('3', 'u-other', 'carol', '192.0.2.99', '2025-03-02 12:00+00'),
                    ('4', 'u-v6', 'dave', '2001:db8::9', '2025-01-01 00:00+00')",
            &[&vpn],
        )
        .unwrap();
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["sessions"];
        all.extend_from_slice(args);
        let mut ids: Vec<String> = env
            .json(&all)
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["acct_unique_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    // A router's sessions carry its NAS address or its VPN address.
    assert_eq!(ids(&["--nas", "edge-1"]), ["u-nas", "u-vpn"]);
    assert_eq!(ids(&["--nas", "192.0.2.99"]), ["u-other"]);
    assert_eq!(ids(&["--nas", &vpn]), ["u-vpn"]);
    assert_eq!(ids(&["--nas", "2001:db8::9"]), ["u-v6"]);
    assert!(ids(&["--nas", "198.51.100.1"]).is_empty());
    // Started at or after the date (midnight UTC) or the moment.
    assert_eq!(ids(&["--since", "2025-03-01"]), ["u-nas", "u-other"]);
    assert_eq!(ids(&["--since", "2025-03-01T12:00:01Z"]), ["u-other"]);
    assert_eq!(
        ids(&["--since", "2025-01-15", "--nas", "edge-1"]),
        ["u-nas", "u-vpn"]
    );
    assert_eq!(
        ids(&["--since", "2025-02-15", "--nas", "edge-1"]),
        ["u-nas"]
    );
    let table = env.ok(&["sessions", "--nas", "edge-1", "--since", "2025-02-15"]);
    assert!(table.contains("alice") && !table.contains("bob"), "{table}");

    assert_eq!(
        env.fail(&["sessions", "--nas", "edge-9"]),
        "netadmin: invalid --nas \"edge-9\": not an IP address, and no router has that name"
    );
    assert_eq!(
        env.fail(&["sessions", "--since", "31/12/2025"]),
        "netadmin: invalid --since \"31/12/2025\": expected YYYY-MM-DD or RFC 3339 \
         (e.g. 2025-03-01 or 2025-03-01T12:00:00Z)"
    );
}
