//! rlm_netily inside a real FreeRADIUS 3.2.1 (thread pool, `-f -l stdout`),
//! driven by the real radclient: the module loads, authorize sets what pap,
//! chap and mschap need, reply attributes are replaced (never duplicated), and
//! a panic inside an entry point fails one request without killing radiusd.
//!
//! Uses the `test-hooks` build of the module (see tests/src/freeradius.rs):
//! `netily-test-accept` / `netily-test-password` is a fixed subscriber,
//! `netily-test-panic` panics inside authorize.

use netily_core::radius;
use netily_tests::freeradius::{self, Radiusd, RadiusdOptions};

const USER: &str = "netily-test-accept";
const PASSWORD: &str = "netily-test-password";

fn pap(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\", User-Password = \"{password}\"\n")
}

#[test]
fn module_loads_and_pap_accepts_with_its_password() {
    let server = Radiusd::start().unwrap();
    let log = server.log();
    assert!(
        log.contains("rlm_netily: instantiating (FreeRADIUS 3.2.1"),
        "{log}"
    );

    let reply = server.auth(&pap(USER, PASSWORD)).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["1M/2M"]);
    assert_eq!(reply.values("Session-Timeout"), ["3600"]);
    // Two values of one name in an outcome: both sent, in order.
    assert_eq!(
        reply.values("Mikrotik-Address-List"),
        ["netily-a", "netily-b"]
    );

    // pap really checks the password the module supplied.
    let reply = server.auth(&pap(USER, "not-the-password")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert!(reply.values("Mikrotik-Rate-Limit").is_empty(), "{reply:?}");
}

/// RouterOS 7.15+ (`require-message-auth=yes-for-request-resp`, the default)
/// discards an Access-Accept or -Reject without a valid Message-Authenticator.
#[test]
fn every_access_reply_carries_a_valid_message_authenticator() {
    let server = Radiusd::start().unwrap();
    let timeout = std::time::Duration::from_secs(5);
    for signed_request in [true, false] {
        for (user, password, code) in [
            (USER, PASSWORD, radius::ACCESS_ACCEPT),
            (USER, "not-the-password", radius::ACCESS_REJECT),
            ("nobody-here", "x", radius::ACCESS_REJECT),
        ] {
            let reply = freeradius::raw_pap(
                server.auth_port,
                freeradius::SECRET,
                user,
                password,
                signed_request,
                timeout,
            )
            .unwrap()
            .unwrap_or_else(|| panic!("no reply for {user}\n{}", server.log()));
            assert_eq!(reply.code, code, "{user}: {reply:?}");
            assert_eq!(
                reply.message_authenticator,
                radius::MessageAuthenticator::Valid,
                "{user} (request signed: {signed_request}): {reply:?}"
            );
        }
    }
}

#[test]
fn chap_and_mschap_work_from_the_modules_password() {
    let server = Radiusd::start().unwrap();
    let chap = format!("User-Name = \"{USER}\", CHAP-Password = \"{PASSWORD}\"\n");
    let reply = server.auth(&chap).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    let chap_wrong = format!("User-Name = \"{USER}\", CHAP-Password = \"wrong\"\n");
    assert!(server.auth(&chap_wrong).unwrap().is("Access-Reject"));

    // radclient turns MS-CHAP-Password into an MS-CHAP challenge/response.
    let mschap = format!("User-Name = \"{USER}\", MS-CHAP-Password = \"{PASSWORD}\"\n");
    let reply = server.auth(&mschap).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    let mschap_wrong = format!("User-Name = \"{USER}\", MS-CHAP-Password = \"wrong\"\n");
    assert!(server.auth(&mschap_wrong).unwrap().is("Access-Reject"));
}

#[test]
fn reply_attributes_are_replaced_not_appended() {
    // Something earlier in authorize already put two values in the reply.
    let server = Radiusd::start_with(RadiusdOptions {
        before_netily: Some(
            "\t\tupdate reply {\n\t\t\t&Mikrotik-Address-List += \"stale\"\n\t\t\t&Mikrotik-Rate-Limit += \"9M/9M\"\n\t\t\t&Mikrotik-Rate-Limit += \"8M/8M\"\n\t\t\t&Session-Timeout := 10\n\t\t\t&Reply-Message := \"kept\"\n\t\t}"
                .into(),
        ),
        ..Default::default()
    })
    .unwrap();
    let reply = server.auth(&pap(USER, PASSWORD)).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["1M/2M"], "{reply:?}");
    assert_eq!(reply.values("Session-Timeout"), ["3600"], "{reply:?}");
    assert_eq!(
        reply.values("Mikrotik-Address-List"),
        ["netily-a", "netily-b"],
        "{reply:?}"
    );
    // Attributes the module does not set are left alone.
    assert_eq!(reply.values("Reply-Message"), ["kept"], "{reply:?}");
}

#[test]
fn a_panic_in_authorize_fails_one_request_and_radiusd_keeps_serving() {
    let mut server = Radiusd::start().unwrap();
    for _ in 0..3 {
        let reply = server.auth(&pap("netily-test-panic", "x")).unwrap();
        assert!(reply.is("Access-Reject"), "{reply:?}");
    }
    assert!(server.is_running(), "radiusd died:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("rlm_netily: authorize panicked"), "{log}");
    // The same process still answers, with the module working.
    let reply = server.auth(&pap(USER, PASSWORD)).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert!(server.is_running());
}

#[test]
fn without_a_database_radiusd_runs_and_netily_fails_closed() {
    let mut server = Radiusd::start().unwrap();
    let log = server.log();
    assert!(log.contains("database unavailable"), "{log}");
    let reply = server.auth(&pap("nobody-here", "x")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    assert!(reply.attributes.is_empty(), "{reply:?}");
    assert!(server.is_running());
}

#[test]
fn concurrent_requests_on_the_thread_pool() {
    let server = Radiusd::start().unwrap();
    // 200 requests, 32 in flight at once: every one accepted.
    let input: String = (0..200)
        .map(|_| pap(USER, PASSWORD))
        .collect::<Vec<_>>()
        .join("\n");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s' \"$REQS\" | radclient -q -s -p 32 -r 1 -t 5 127.0.0.1:{} auth {}",
            server.auth_port,
            freeradius::SECRET
        ))
        .env("REQS", &input)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Accepted      : 200"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Rejected      : 0"), "{text}");
}

#[test]
fn accounting_is_acknowledged_once_written_to_the_detail_file() {
    let server = Radiusd::start().unwrap();
    let start = "Acct-Status-Type = Start, User-Name = \"netily-test-accept\", \
                 Acct-Session-Id = \"8100001a\", NAS-IP-Address = 127.0.0.1, \
                 Framed-IP-Address = 100.64.0.9, Calling-Station-Id = \"AA:BB:CC:DD:EE:01\"\n";
    let reply = server.acct(start).unwrap();
    assert!(
        reply.is("Accounting-Response"),
        "{reply:?}\n{}",
        server.log()
    );
    let radacct = server.dir().join("log/radacct/127.0.0.1");
    let detail: String = std::fs::read_dir(&radacct)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        detail.contains("Acct-Session-Id = \"8100001a\""),
        "{detail}"
    );
    assert!(server.log().contains("Ready to process requests"));
}
