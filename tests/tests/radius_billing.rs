//! The issue's billing scenarios end to end: a real PostgreSQL, the operator's
//! real `netadmin` binary making every change, a real FreeRADIUS running
//! rlm_netily from a private raddb, and radclient as the NAS.
//!
//! - PAP, CHAP and MS-CHAPv2 accept with the plan's exact Mikrotik-Rate-Limit
//!   (burst included); a wrong password or an unknown user is rejected; a
//!   suspended subscriber is rejected with its Reply-Message.
//! - An invoice 8 days overdue rejects (or, with the walled garden on,
//!   accepts into the garden); 6 days overdue still accepts; paying with
//!   netadmin accepts the very next request (the delay is measured).
//! - After `set-plan` the next request gets the new rate.
//! - An expired subscription rejects; Session-Timeout is capped at expiry.
//! - Simultaneous-use counts open radacct sessions.
//! - Hostile User-Names get a clean reject and radiusd stays up.
//!
//! MS-CHAPv2 responses are computed here (RFC 2759) with libcrypto's MD4,
//! SHA1 and DES, since radclient only speaks MS-CHAPv1.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netily_core::billing::format_utc;
use netily_tests::freeradius::{Radiusd, Reply};
use netily_tests::isp::Isp;

/// The plan every accepted subscriber starts on: rate with burst and priority.
const GOLD_RATE: &str = "5M/10M 10M/20M 4M/8M 10/10 8";
const SILVER_RATE: &str = "2M/4M";
const DAY: i64 = 86_400;

// ---- the ISP ----

/// The ISP with the schema and the plans the scenarios use.
fn isp_with_plans(name: &str, extra_config: &str) -> Isp {
    let isp = Isp::with_config(name, extra_config);
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "gold", "--rate", GOLD_RATE]);
    isp.netadmin(&["plan", "add", "silver", "--rate", SILVER_RATE]);
    isp
}

/// A subscriber on `plan` with the password [`password`] gives it.
fn customer(isp: &Isp, user: &str, plan: &str) {
    isp.customer(user, &password(user), plan);
}

fn password(user: &str) -> String {
    format!("{user}-pass")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap())
        .unwrap()
}

/// RFC 3339 for netadmin's date options.
fn rfc3339(t: i64) -> String {
    format_utc(t).replacen(' ', "T", 1).replace(" UTC", "Z")
}

// ---- requests ----

fn pap(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\", User-Password = \"{password}\"\n")
}

fn chap(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\", CHAP-Password = \"{password}\"\n")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An MS-CHAPv2 Access-Request (MS-CHAP-Challenge + MS-CHAP2-Response).
fn mschapv2(user: &str, password: &str) -> String {
    let auth_challenge: [u8; 16] = *b"netily-auth-chal";
    let peer_challenge: [u8; 16] = *b"netily-peer-chal";
    let nt = mschap::nt_response(&auth_challenge, &peer_challenge, user, password);
    let mut response = vec![1u8, 0]; // ident, flags
    response.extend_from_slice(&peer_challenge);
    response.extend_from_slice(&[0; 8]);
    response.extend_from_slice(&nt);
    format!(
        "User-Name = \"{user}\", MS-CHAP-Challenge = 0x{}, MS-CHAP2-Response = 0x{}\n",
        hex(&auth_challenge),
        hex(&response)
    )
}

fn single<'a>(reply: &'a Reply, name: &str) -> &'a str {
    match reply.values(name).as_slice() {
        [v] => v,
        other => panic!("{name}: expected one value, got {other:?} in {reply:?}"),
    }
}

fn assert_accept(server: &Radiusd, reply: &Reply) {
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
}

fn assert_reject(server: &Radiusd, reply: &Reply, message: Option<&str>) {
    assert!(reply.is("Access-Reject"), "{reply:?}\n{}", server.log());
    match message {
        Some(m) => assert_eq!(reply.values("Reply-Message"), [m], "{reply:?}"),
        None => assert!(reply.values("Reply-Message").is_empty(), "{reply:?}"),
    }
}

// ---- scenarios ----

#[test]
fn pap_chap_and_mschapv2_get_the_plans_exact_rate() {
    let isp = isp_with_plans("billing_auth", "");
    customer(&isp, "alice", "gold");
    customer(&isp, "bob", "gold");
    isp.netadmin(&["customer", "suspend", "bob"]);
    let server = isp.radiusd();
    let pw = password("alice");

    for (method, request) in [
        ("PAP", pap("alice", &pw)),
        ("CHAP", chap("alice", &pw)),
        ("MS-CHAPv2", mschapv2("alice", &pw)),
    ] {
        let reply = server.auth(&request).unwrap();
        assert!(
            reply.is("Access-Accept"),
            "{method}: {reply:?}\n{}",
            server.log()
        );
        assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), GOLD_RATE, "{method}");
        if method == "MS-CHAPv2" {
            // mschap proved it knew the password too.
            assert_eq!(reply.values("MS-CHAP2-Success").len(), 1, "{reply:?}");
        }
    }

    for (method, request) in [
        ("PAP", pap("alice", "wrong-pass")),
        ("CHAP", chap("alice", "wrong-pass")),
        ("MS-CHAPv2", mschapv2("alice", "wrong-pass")),
    ] {
        let reply = server.auth(&request).unwrap();
        assert!(reply.is("Access-Reject"), "{method}: {reply:?}");
        assert!(reply.values("Mikrotik-Rate-Limit").is_empty(), "{reply:?}");
    }

    // Unknown to Netily: notfound, so the server rejects, with no reason.
    assert_reject(&server, &server.auth(&pap("nobody", "x")).unwrap(), None);

    // Suspended by the operator: rejected with the reason, even with the
    // right password, with every method.
    let bob = password("bob");
    for request in [pap("bob", &bob), chap("bob", &bob), mschapv2("bob", &bob)] {
        let reply = server.auth(&request).unwrap();
        assert_reject(&server, &reply, Some("Account disabled"));
    }
}

#[test]
fn billing_changes_reach_the_very_next_request() {
    let isp = isp_with_plans("billing_changes", "");
    let server = isp.radiusd();
    let t = now();

    // Overdue 8 days (grace is 7): rejected with the reason.
    customer(&isp, "carol", "gold");
    isp.netadmin(&[
        "invoice",
        "add",
        "carol",
        "--amount",
        "29.00",
        "--issued",
        &rfc3339(t - 22 * DAY),
        "--due",
        &rfc3339(t - 8 * DAY),
        "--number",
        "INV-CAROL-1",
    ]);
    let carol = pap("carol", &password("carol"));
    let reply = server.auth(&carol).unwrap();
    assert_reject(&server, &reply, Some("Account suspended: invoice overdue"));

    // Overdue 6 days: still inside the grace period.
    customer(&isp, "dave", "gold");
    isp.netadmin(&[
        "invoice",
        "add",
        "dave",
        "--amount",
        "29.00",
        "--issued",
        &rfc3339(t - 20 * DAY),
        "--due",
        &rfc3339(t - 6 * DAY),
        "--number",
        "INV-DAVE-1",
    ]);
    let reply = server.auth(&pap("dave", &password("dave"))).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), GOLD_RATE);

    // Paying accepts the very next request, with no restart.
    isp.netadmin(&["invoice", "pay", "INV-CAROL-1"]);
    let paid = Instant::now();
    let reply = server.auth(&carol).unwrap();
    let delay = paid.elapsed();
    assert_accept(&server, &reply);
    println!("payment to Access-Accept (netadmin exit to reply received): {delay:?}");
    assert!(delay < Duration::from_secs(1), "took {delay:?}");
    assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), GOLD_RATE);

    // A plan change: the next request gets the new rate.
    isp.netadmin(&["customer", "set-plan", "carol", "silver"]);
    let changed = Instant::now();
    let reply = server.auth(&carol).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), SILVER_RATE);
    println!(
        "set-plan to Access-Accept with the new rate: {:?}",
        changed.elapsed()
    );

    // An expired subscription is rejected.
    customer(&isp, "erin", "gold");
    isp.netadmin(&[
        "customer",
        "set-plan",
        "erin",
        "gold",
        "--starts",
        &rfc3339(t - 30 * DAY),
        "--expires",
        &rfc3339(t - 3600),
    ]);
    let reply = server.auth(&pap("erin", &password("erin"))).unwrap();
    assert_reject(&server, &reply, Some("Subscription expired"));

    // One that expires in an hour: Session-Timeout ends the session then,
    // even though the plan allows a day.
    isp.netadmin(&[
        "plan",
        "add",
        "daily",
        "--rate",
        "1M/1M",
        "--session-timeout",
        "86400",
    ]);
    customer(&isp, "frank", "daily");
    let reply = server.auth(&pap("frank", &password("frank"))).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(single(&reply, "Session-Timeout"), "86400");
    let expires = now() + 3600;
    isp.netadmin(&[
        "customer",
        "set-plan",
        "frank",
        "daily",
        "--expires",
        &rfc3339(expires),
    ]);
    let asked = now();
    let reply = server.auth(&pap("frank", &password("frank"))).unwrap();
    assert_accept(&server, &reply);
    let timeout: i64 = single(&reply, "Session-Timeout").parse().unwrap();
    assert!(
        (expires - asked - 2..=expires - asked).contains(&timeout),
        "Session-Timeout {timeout}, expiry in {}s",
        expires - asked
    );

    // Simultaneous use: one session allowed, one open in radacct.
    isp.netadmin(&[
        "plan",
        "add",
        "single",
        "--rate",
        "3M/3M",
        "--simultaneous-use",
        "1",
    ]);
    customer(&isp, "gina", "single");
    let gina = |mac: &str| {
        format!(
            "User-Name = \"gina\", User-Password = \"{}\", Calling-Station-Id = \"{mac}\"\n",
            password("gina")
        )
    };
    assert_accept(&server, &server.auth(&gina("aa:bb:cc:00:00:02")).unwrap());
    let mut sql = isp.sql();
    sql.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                              acctstarttime, acctupdatetime, callingstationid,
                              acctinputoctets, acctoutputoctets)
         VALUES ('8100001', 'gina-session-1', 'gina', '127.0.0.1', now(), now(),
                 'aa:bb:cc:00:00:01', 0, 0)",
        &[],
    )
    .unwrap();
    let reply = server.auth(&gina("aa:bb:cc:00:00:02")).unwrap();
    assert_reject(&server, &reply, Some("Simultaneous-use limit reached"));
    // The device that holds the session may reconnect over it.
    assert_accept(&server, &server.auth(&gina("aa:bb:cc:00:00:01")).unwrap());
    // Once the session stops, another device gets in.
    sql.execute(
        "UPDATE radacct SET acctstoptime = now() WHERE acctuniqueid = 'gina-session-1'",
        &[],
    )
    .unwrap();
    assert_accept(&server, &server.auth(&gina("aa:bb:cc:00:00:02")).unwrap());

    // The same through the NAS's own accounting: a Start opens the session
    // (rlm_netily writes radacct), a Stop closes it.
    let acct = |status: &str| {
        format!(
            "User-Name = \"gina\", Acct-Status-Type = {status}, Acct-Session-Id = \"8100002\", \
             NAS-IP-Address = 127.0.0.1, NAS-Port = 7, Calling-Station-Id = \"aa:bb:cc:00:00:03\", \
             Framed-IP-Address = 10.9.0.3, Acct-Session-Time = 0\n"
        )
    };
    let reply = server.acct(&acct("Start")).unwrap();
    assert!(
        reply.is("Accounting-Response"),
        "{reply:?}\n{}",
        server.log()
    );
    let reply = server.auth(&gina("aa:bb:cc:00:00:02")).unwrap();
    assert_reject(&server, &reply, Some("Simultaneous-use limit reached"));
    let reply = server.acct(&acct("Stop")).unwrap();
    assert!(
        reply.is("Accounting-Response"),
        "{reply:?}\n{}",
        server.log()
    );
    assert_accept(&server, &server.auth(&gina("aa:bb:cc:00:00:02")).unwrap());
}

#[test]
fn walled_garden_takes_in_overdue_subscribers() {
    let isp = isp_with_plans(
        "billing_garden",
        "walled_garden = on\nwalled_garden_address_list = unpaid\nwalled_garden_rate = 128k/128k\n",
    );
    let t = now();
    customer(&isp, "hank", "gold");
    isp.netadmin(&[
        "invoice",
        "add",
        "hank",
        "--amount",
        "29.00",
        "--issued",
        &rfc3339(t - 22 * DAY),
        "--due",
        &rfc3339(t - 8 * DAY),
        "--number",
        "INV-HANK-1",
    ]);
    customer(&isp, "ivy", "gold");
    isp.netadmin(&[
        "invoice",
        "add",
        "ivy",
        "--amount",
        "29.00",
        "--issued",
        &rfc3339(t - 20 * DAY),
        "--due",
        &rfc3339(t - 6 * DAY),
        "--number",
        "INV-IVY-1",
    ]);
    let server = isp.radiusd();

    // 8 days overdue: accepted, but into the garden at the garden's rate.
    let hank = pap("hank", &password("hank"));
    let reply = server.auth(&hank).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(single(&reply, "Mikrotik-Address-List"), "unpaid");
    assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), "128k/128k");
    assert_eq!(single(&reply, "Session-Timeout"), "300");

    // 6 days overdue: the plan, no garden.
    let reply = server.auth(&pap("ivy", &password("ivy"))).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), GOLD_RATE);
    assert!(
        reply.values("Mikrotik-Address-List").is_empty(),
        "{reply:?}"
    );

    // Paying takes hank out of the garden on the next request.
    isp.netadmin(&["invoice", "pay", "INV-HANK-1"]);
    let reply = server.auth(&hank).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(single(&reply, "Mikrotik-Rate-Limit"), GOLD_RATE);
    assert!(
        reply.values("Mikrotik-Address-List").is_empty(),
        "{reply:?}"
    );
}

#[test]
fn hostile_user_names_get_a_clean_reject() {
    let isp = isp_with_plans("billing_hostile", "");
    customer(&isp, "alice", "gold");
    let mut server = isp.radiusd();
    let long = "A".repeat(253);
    let names = [
        long.as_str(),
        // Not UTF-8 (radclient decodes the octal escapes into raw bytes).
        r"\377\376alice",
        // A NUL byte inside.
        r"ali\000ce",
        // Quotes and SQL.
        r#"o'brien\"; DROP TABLE customers; --"#,
        // Log format directives.
        "%s%s%s%n%x{}",
        // The real user with junk after a NUL: must not log in as alice.
        r"alice\000junk",
    ];
    for name in names {
        let reply = server
            .auth(&format!(
                "User-Name = \"{name}\", User-Password = \"{}\"\n",
                password("alice")
            ))
            .unwrap();
        assert!(
            reply.is("Access-Reject"),
            "User-Name {name:?}: {reply:?}\n{}",
            server.log()
        );
        assert!(server.is_running(), "{}", server.log());
    }
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    // Still serving.
    let reply = server.auth(&pap("alice", &password("alice"))).unwrap();
    assert_accept(&server, &reply);
    assert_eq!(
        isp.sql()
            .query("SELECT 1 FROM customers", &[])
            .unwrap()
            .len(),
        1
    );
}

/// MS-CHAPv2 (RFC 2759) from libcrypto's primitives.
mod mschap {
    use std::ffi::c_int;

    /// OpenSSL's DES_key_schedule: 16 x 8 bytes, 4-byte aligned.
    #[repr(C)]
    struct KeySchedule([u32; 32]);

    #[link(name = "crypto")]
    extern "C" {
        fn MD4(d: *const u8, n: usize, md: *mut u8) -> *mut u8;
        fn SHA1(d: *const u8, n: usize, md: *mut u8) -> *mut u8;
        fn DES_set_key_unchecked(key: *const [u8; 8], schedule: *mut KeySchedule);
        fn DES_ecb_encrypt(
            input: *const [u8; 8],
            output: *mut [u8; 8],
            ks: *mut KeySchedule,
            enc: c_int,
        );
    }

    fn md4(data: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: MD4 reads n bytes from d and writes 16 bytes to md.
        unsafe { MD4(data.as_ptr(), data.len(), out.as_mut_ptr()) };
        out
    }

    fn sha1(data: &[u8]) -> [u8; 20] {
        let mut out = [0u8; 20];
        // SAFETY: SHA1 reads n bytes from d and writes 20 bytes to md.
        unsafe { SHA1(data.as_ptr(), data.len(), out.as_mut_ptr()) };
        out
    }

    /// DES-ECB of one block under a 7-byte key (parity bits left clear).
    fn des(key7: &[u8], block: &[u8; 8]) -> [u8; 8] {
        let k = key7;
        let key = [
            k[0],
            (k[0] << 7) | (k[1] >> 1),
            (k[1] << 6) | (k[2] >> 2),
            (k[2] << 5) | (k[3] >> 3),
            (k[3] << 4) | (k[4] >> 4),
            (k[4] << 3) | (k[5] >> 5),
            (k[5] << 2) | (k[6] >> 6),
            k[6] << 1,
        ];
        let mut schedule = KeySchedule([0; 32]);
        let mut out = [0u8; 8];
        // SAFETY: 8-byte key and blocks, a schedule of OpenSSL's size; enc 1
        // = DES_ENCRYPT.
        unsafe {
            DES_set_key_unchecked(&key, &mut schedule);
            DES_ecb_encrypt(block, &mut out, &mut schedule, 1);
        }
        out
    }

    /// The 24-byte NT-Response of RFC 2759 GenerateNTResponse.
    pub fn nt_response(
        auth_challenge: &[u8; 16],
        peer_challenge: &[u8; 16],
        user: &str,
        password: &str,
    ) -> [u8; 24] {
        let mut input = Vec::new();
        input.extend_from_slice(peer_challenge);
        input.extend_from_slice(auth_challenge);
        input.extend_from_slice(user.as_bytes());
        let mut challenge = [0u8; 8];
        challenge.copy_from_slice(&sha1(&input)[..8]);
        let unicode: Vec<u8> = password
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut hash = [0u8; 21];
        hash[..16].copy_from_slice(&md4(&unicode));
        let mut out = [0u8; 24];
        for i in 0..3 {
            out[i * 8..i * 8 + 8].copy_from_slice(&des(&hash[i * 7..i * 7 + 7], &challenge));
        }
        out
    }

    #[test]
    fn rfc_2759_test_vector() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let auth: [u8; 16] = hex("5B5D7C7D7B3F2F3E3C2C602132262628").try_into().unwrap();
        let peer: [u8; 16] = hex("21402324255E262A28295F2B3A337C7E").try_into().unwrap();
        assert_eq!(
            nt_response(&auth, &peer, "User", "clientPass").to_vec(),
            hex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
    }
}
