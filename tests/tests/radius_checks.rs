//! radcheck / radgroupcheck rows that a stock rlm_sql tool (daloRADIUS,
//! hand-written SQL) writes for a Netily subscriber are honoured the same
//! way `netadmin import` reads them, or reported, never silently ignored:
//! through a real FreeRADIUS running rlm_netily, radclient as the NAS, and
//! the real `netadmin check`. Rows are written while radiusd runs, as such
//! a tool would.

use std::time::{Duration, Instant};

use netily_tests::freeradius::Radiusd;
use netily_tests::isp::Isp;

fn login(radiusd: &Radiusd) -> Option<String> {
    radiusd
        .auth("User-Name = \"alice\", User-Password = \"alice-pass\", Calling-Station-Id = \"AA:BB:CC:00:00:01\"\n")
        .unwrap()
        .code
}

/// Waits (at most 10 s) for alice's login to be answered with `code`.
fn wait_for(radiusd: &Radiusd, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = login(radiusd);
        if got.as_deref() == Some(code) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {got:?}, wanted {code}\n{}",
            radiusd.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn check_rows_written_by_an_rlm_sql_tool_are_honoured_or_reported() {
    let isp = Isp::with_plan("radcheck_rows", "gold", "5M/10M");
    isp.customer("alice", "alice-pass", "gold");
    let radiusd = isp.radiusd();
    assert_eq!(login(&radiusd).as_deref(), Some("Access-Accept"));
    let mut sql = isp.sql();
    let check = "INSERT INTO radcheck (username, attribute, op, value) VALUES ($1, $2, $3, $4)";

    // A row nobody honours: still served, and named in the log and by check.
    sql.execute(check, &[&"alice", &"Login-Time", &":=", &"Wk0800-1800"])
        .unwrap();
    sql.execute(
        check,
        &[&"alice", &"Cleartext-Password", &":=", &"other-pass"],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !radiusd
        .log()
        .contains("radcheck row of user \"alice\" not used: Login-Time :=")
    {
        assert!(Instant::now() < deadline, "{}", radiusd.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !radiusd.log().contains("other-pass"),
        "a password in the log"
    );
    assert_eq!(login(&radiusd).as_deref(), Some("Access-Accept"));
    let out = isp.netadmin(&["check", "alice"]);
    assert!(out.starts_with("ACCEPT alice"), "{out}");
    assert!(
        out.contains("radcheck Login-Time := \"Wk0800-1800\": not understood, so not used"),
        "{out}"
    );
    assert!(
        out.contains("radcheck Cleartext-Password := (value hidden)"),
        "{out}"
    );
    assert!(!out.contains("other-pass"), "{out}");
    let json = isp.netadmin(&["--json", "check", "alice"]);
    assert!(!json.contains("other-pass"), "{json}");

    // daloRADIUS disables a user through a group with Auth-Type := Reject.
    sql.batch_execute(
        "INSERT INTO radgroupcheck (groupname, attribute, op, value)
             VALUES ('daloRADIUS-Disabled-Users', 'Auth-Type', ':=', 'Reject');
         INSERT INTO radusergroup (username, groupname, priority)
             VALUES ('alice', 'daloRADIUS-Disabled-Users', 0);",
    )
    .unwrap();
    wait_for(&radiusd, "Access-Reject");
    let out = isp.netadmin(&["check", "alice"]);
    assert!(
        out.contains("reason: Account disabled: radgroupcheck has Auth-Type := Reject"),
        "{out}"
    );
    sql.execute("DELETE FROM radusergroup WHERE username = 'alice'", &[])
        .unwrap();
    wait_for(&radiusd, "Access-Accept");

    // Expiration in the past ends service; a MAC row binds the device.
    sql.execute(check, &[&"alice", &"Expiration", &":=", &"01 Jan 2020"])
        .unwrap();
    wait_for(&radiusd, "Access-Reject");
    sql.execute(
        "UPDATE radcheck SET value = '01 Jan 2099' WHERE attribute = 'Expiration'",
        &[],
    )
    .unwrap();
    wait_for(&radiusd, "Access-Accept");
    let r = radiusd
        .auth("User-Name = \"alice\", User-Password = \"alice-pass\", Calling-Station-Id = \"AA:BB:CC:00:00:01\"\n")
        .unwrap();
    assert!(r.is("Access-Accept"));
    sql.execute(
        check,
        &[&"alice", &"Calling-Station-Id", &"==", &"AA:BB:CC:00:00:02"],
    )
    .unwrap();
    wait_for(&radiusd, "Access-Reject");
    let out = isp.netadmin(&["check", "alice", "--mac", "AA:BB:CC:00:00:02"]);
    assert!(out.starts_with("ACCEPT alice"), "{out}");
}
