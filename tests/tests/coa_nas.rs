//! The stand-in NAS for CoA / Disconnect (a real FreeRADIUS 3.2), driven by
//! the real radclient:
//!
//! - A CoA-Request for a known session is ACKed and recorded with every
//!   attribute the enforcer sends, when it arrived and whether it was signed.
//! - A Disconnect-Request for an unknown session gets a NAK with Error-Cause
//!   503 (Session-Context-Not-Found).
//! - A packet with the wrong secret, or from an address that is not a
//!   client, is dropped and not recorded.
//! - A silent NAS records every transmission, retransmissions included, and
//!   never answers.

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use netily_tests::coa_nas::{CoaNas, CoaNasOptions, COA_REQUEST, DISCONNECT_REQUEST};
use netily_tests::freeradius::radclient_to;

const SECRET: &str = "nas-coa-secret";
const WAIT: Duration = Duration::from_secs(5);

fn nas(silent: bool) -> CoaNas {
    CoaNas::start(CoaNasOptions {
        secret: SECRET.to_string(),
        known_session_prefix: "known-".to_string(),
        silent,
        ..CoaNasOptions::default()
    })
    .unwrap_or_else(|e| panic!("CoA NAS did not start: {e}"))
}

#[test]
fn a_coa_request_for_a_known_session_is_acked_and_recorded_with_its_rate_limit() {
    let nas = nas(false);
    let before = SystemTime::now();
    let reply = radclient_to(
        nas.addr(),
        "coa",
        SECRET,
        5,
        "User-Name = \"alice\", Acct-Session-Id = \"known-81a00003\", \
         Framed-IP-Address = 10.8.0.6, NAS-IP-Address = 10.8.0.1, \
         Mikrotik-Rate-Limit = \"1M/2M 2M/4M 768k/1536k 16/16 8 512k/1M\", \
         Session-Timeout = 3600, Event-Timestamp = 1700000000, \
         Message-Authenticator = 0x00\n",
    )
    .expect("radclient");
    let after = SystemTime::now();
    assert!(reply.is("CoA-ACK"), "{reply:?}\n{}", nas.log());

    let got = nas.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let p = &got[0];
    assert_eq!(p.kind, COA_REQUEST);
    assert_eq!(p.user_name.as_deref(), Some("alice"));
    assert_eq!(p.acct_session_id.as_deref(), Some("known-81a00003"));
    assert_eq!(p.framed_ip.as_deref(), Some("10.8.0.6"));
    assert_eq!(p.nas_ip.as_deref(), Some("10.8.0.1"));
    assert_eq!(
        p.rate_limit.as_deref(),
        Some("1M/2M 2M/4M 768k/1536k 16/16 8 512k/1M")
    );
    assert_eq!(p.session_timeout.as_deref(), Some("3600"));
    assert_eq!(p.event_timestamp.as_deref(), Some("1700000000"));
    assert!(p.message_authenticator);
    // Microsecond reception time from radiusd, within the exchange (the
    // seconds are whole, so allow the clock's rounding at either end).
    let slack = Duration::from_millis(1);
    assert!(
        p.received_at + slack >= before && p.received_at <= after + slack,
        "{:?} not within {before:?}..{after:?}",
        p.received_at
    );
}

#[test]
fn a_disconnect_request_for_an_unknown_session_is_naked_with_error_cause_503() {
    let nas = nas(false);
    let reply = radclient_to(
        nas.addr(),
        "disconnect",
        SECRET,
        5,
        "User-Name = \"bob\", Acct-Session-Id = \"gone-1\"\n",
    )
    .expect("radclient");
    assert!(reply.is("Disconnect-NAK"), "{reply:?}\n{}", nas.log());
    // 503 by its dictionary name.
    assert_eq!(reply.values("Error-Cause"), ["Session-Context-Not-Found"]);

    let got = nas.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, DISCONNECT_REQUEST);
    assert_eq!(got[0].acct_session_id.as_deref(), Some("gone-1"));
    // Absent attributes are None, and an unsigned packet says so.
    assert_eq!(got[0].framed_ip, None);
    assert_eq!(got[0].rate_limit, None);
    assert_eq!(got[0].event_timestamp, None);
    assert!(!got[0].message_authenticator);
}

#[test]
fn a_packet_with_the_wrong_secret_is_dropped_and_not_recorded() {
    let nas = nas(false);
    let attrs = "Acct-Session-Id = \"known-1\"\n";
    let reply =
        radclient_to(nas.addr(), "disconnect", "not-the-secret", 1, attrs).expect("radclient");
    assert_eq!(reply.code, None, "{reply:?}");
    // A good packet after it is the first and only one recorded.
    let reply = radclient_to(nas.addr(), "disconnect", SECRET, 5, attrs).expect("radclient");
    assert!(reply.is("Disconnect-ACK"), "{reply:?}");
    let got = nas.wait_for(2, Duration::from_millis(500));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        nas.log().contains("Shared secret is incorrect"),
        "{}",
        nas.log()
    );
}

#[test]
fn a_packet_from_an_address_that_is_not_a_client_is_dropped_and_not_recorded() {
    let nas = CoaNas::start(CoaNasOptions {
        secret: SECRET.to_string(),
        clients: vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))],
        ..CoaNasOptions::default()
    })
    .expect("CoA NAS");
    let reply =
        radclient_to(nas.addr(), "coa", SECRET, 1, "Acct-Session-Id = \"s\"\n").expect("radclient");
    assert_eq!(reply.code, None, "{reply:?}");
    assert_eq!(nas.received(), []);
    assert!(nas.log().contains("unknown client"), "{}", nas.log());
}

#[test]
fn a_silent_nas_records_every_transmission_and_never_answers() {
    let nas = nas(true);
    let reply = radclient_to(
        nas.addr(),
        "coa",
        SECRET,
        1,
        "Acct-Session-Id = \"known-1\", Mikrotik-Rate-Limit = \"2M/2M\"\n",
    )
    .expect("radclient");
    assert_eq!(reply.code, None, "{reply:?}");
    let got = nas.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rate_limit.as_deref(), Some("2M/2M"));

    // Three transmissions of one request (same Identifier): all recorded,
    // none answered.
    let out = Command::new("radclient")
        .args(["-x", "-t", "1", "-r", "3"])
        .arg(nas.addr().to_string())
        .args(["disconnect", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(b"Acct-Session-Id = \"unknown-2\"\n")?;
            }
            child.wait_with_output()
        })
        .expect("radclient");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Received "), "{text}");
    let got = nas.wait_for(4, WAIT);
    assert_eq!(got.len(), 4, "{got:?}");
    let resent = &got[1..];
    assert!(resent.iter().all(|p| p.kind == DISCONNECT_REQUEST
        && p.id == resent[0].id
        && p.acct_session_id.as_deref() == Some("unknown-2")));
    assert!(resent[0].received_at < resent[2].received_at);
}
