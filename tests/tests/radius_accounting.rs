//! Accounting and the authentication log, on a real PostgreSQL.
//!
//! First the store on its own (netily-core's rules applied by the one upsert,
//! on the server's pooled, prepared connections), then end to end: a real
//! FreeRADIUS loading rlm_netily, radclient as the NAS sending every packet
//! twice, the rows in radacct and radpostauth, the usage trigger, and a
//! database outage in the middle.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netily_core::accounting::{self, AccountingPacket, Change};
use netily_core::cycle;
use netily_core::db::accounting::{AccountingStore, DirectWriter, JournalSettings, Recorded};
use netily_core::db::{self, NewPlan};
use netily_core::model::SubscriberRecord;
use netily_core::snapshot::{Lookup, SubscriberSnapshot};
use netily_tests::freeradius::{self, Radiusd, RadiusdOptions};
use netily_tests::isp::{seed_alice_and_bob, Isp};
use netily_tests::nas_load::{AcctNas, Session, INTERIM};
use netily_tests::postgres::{PgCluster, TestDb};

const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
const OTHER_NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 2));
const T0: i64 = 1_800_000_000;

/// A plan, a paying subscriber `alice` and a disabled `bob`.
fn seed(conn: &mut postgres::Client) {
    seed_alice_and_bob(conn, &NewPlan::new("home-10m", "5M/10M".parse().unwrap()));
}

fn packet(status: u32, unique: &str, nas: IpAddr) -> AccountingPacket {
    AccountingPacket {
        status_type: Some(status),
        unique_session_id: Some(unique.into()),
        session_id: Some(format!("sid-{unique}")),
        username: Some("alice".into()),
        nas_ip: Some(nas),
        calling_station_id: Some("AA:BB:CC:00:00:01".into()),
        nas_port_id: Some("<pppoe-alice>".into()),
        nas_port_type: Some(15),
        ..AccountingPacket::default()
    }
}

fn counters(p: &mut AccountingPacket, session_time: u32, input: (u32, u32), output: (u32, u32)) {
    p.session_time = Some(session_time);
    p.input_gigawords = Some(input.0);
    p.input_octets = Some(input.1);
    p.output_gigawords = Some(output.0);
    p.output_octets = Some(output.1);
}

fn change(p: &AccountingPacket, at: i64) -> Change {
    accounting::change(p, at).unwrap()
}

/// (open, input, output, session time, terminate cause) of one session.
type Row = (bool, i64, i64, Option<i64>, Option<String>);

fn session_row(conn: &mut postgres::Client, unique: &str) -> Row {
    let r = conn
        .query_one(
            "SELECT acctstoptime IS NULL, acctinputoctets, acctoutputoctets, acctsessiontime,
                    acctterminatecause
               FROM radacct WHERE acctuniqueid = $1",
            &[&unique],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

fn usage_bytes(conn: &mut postgres::Client, user: &str) -> i64 {
    conn.query_one(
        "SELECT coalesce(sum(u.bytes), 0)::bigint FROM usage u
           JOIN customers c ON c.id = u.customer_id WHERE c.username = $1",
        &[&user],
    )
    .unwrap()
    .get(0)
}

fn count(conn: &mut postgres::Client, sql: &str) -> i64 {
    conn.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn the_store_applies_the_accounting_rules_idempotently() {
    let tdb = TestDb::new();
    let mut conn = tdb.connect();
    seed(&mut conn);
    let store = DirectWriter::new(&tdb.url(), Duration::from_secs(2)).unwrap();
    let gw = 1u64 << 32;

    // Start, Interim with Gigawords, Stop: each twice.
    let start = change(&packet(1, "s1", NAS), T0);
    let mut interim = packet(3, "s1", NAS);
    counters(&mut interim, 300, (1, 1_000), (2, 500));
    let interim = change(&interim, T0 + 300);
    let mut stop = packet(2, "s1", NAS);
    counters(&mut stop, 600, (1, 5_000), (2, 9_000));
    stop.terminate_cause = Some(1);
    let stop = change(&stop, T0 + 600);
    for c in [&start, &start] {
        assert_eq!(store.record(c).unwrap(), Recorded::Session);
    }
    assert_eq!(usage_bytes(&mut conn, "alice"), 0);
    for c in [&interim, &interim] {
        assert_eq!(store.record(c).unwrap(), Recorded::Session);
    }
    let after_interim = (gw + 1_000 + 2 * gw + 500) as i64;
    assert_eq!(
        usage_bytes(&mut conn, "alice"),
        after_interim,
        "a duplicate interim adds 0"
    );
    assert_eq!(store.record(&stop).unwrap(), Recorded::Session);
    assert_eq!(store.record(&stop).unwrap(), Recorded::AlreadyClosed);
    let total_in = (gw + 5_000) as i64;
    let total_out = (2 * gw + 9_000) as i64;
    assert_eq!(
        session_row(&mut conn, "s1"),
        (
            false,
            total_in,
            total_out,
            Some(600),
            Some("User-Request".into())
        )
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM radacct"), 1);
    assert_eq!(usage_bytes(&mut conn, "alice"), total_in + total_out);

    // An Interim (or a late Start) after the Stop does not reopen or move it.
    let mut late = packet(3, "s1", NAS);
    counters(&mut late, 900, (3, 0), (3, 0));
    assert_eq!(
        store.record(&change(&late, T0 + 900)).unwrap(),
        Recorded::AlreadyClosed
    );
    assert_eq!(store.record(&start).unwrap(), Recorded::AlreadyClosed);
    assert_eq!(
        session_row(&mut conn, "s1"),
        (
            false,
            total_in,
            total_out,
            Some(600),
            Some("User-Request".into())
        )
    );
    assert_eq!(usage_bytes(&mut conn, "alice"), total_in + total_out);

    // An Interim for an unknown session creates it, dated back by its session time.
    let mut first_seen = packet(3, "s2", NAS);
    counters(&mut first_seen, 120, (0, 700), (0, 300));
    store.record(&change(&first_seen, T0 + 1_000)).unwrap();
    let started: i64 = conn
        .query_one(
            "SELECT floor(extract(epoch FROM acctstarttime))::bigint FROM radacct
              WHERE acctuniqueid = 's2'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(started, T0 + 1_000 - 120);
    // An older Interim arriving late never moves counters back.
    let mut older = packet(3, "s2", NAS);
    counters(&mut older, 60, (0, 100), (0, 100));
    store.record(&change(&older, T0 + 940)).unwrap();
    assert_eq!(
        session_row(&mut conn, "s2"),
        (true, 700, 300, Some(120), None)
    );

    // A Stop without counters keeps the totals.
    let mut bare_stop = packet(2, "s2", NAS);
    bare_stop.terminate_cause = Some(2);
    store.record(&change(&bare_stop, T0 + 1_100)).unwrap();
    let (open, input, output, time, cause) = session_row(&mut conn, "s2");
    assert_eq!((open, input, output), (false, 700, 300));
    assert_eq!(
        time,
        Some(220),
        "session time from the start time when absent"
    );
    assert_eq!(cause.as_deref(), Some("Lost-Carrier"));
    assert_eq!(
        usage_bytes(&mut conn, "alice"),
        total_in + total_out + 1_000
    );

    // Accounting-On closes that NAS's open sessions, not another NAS's.
    store
        .record(&change(&packet(1, "s3", NAS), T0 + 2_000))
        .unwrap();
    store
        .record(&change(&packet(1, "s4", NAS), T0 + 2_001))
        .unwrap();
    store
        .record(&change(&packet(1, "s5", OTHER_NAS), T0 + 2_002))
        .unwrap();
    let on = change(&packet(7, "ignored", NAS), T0 + 2_100);
    assert_eq!(store.record(&on).unwrap(), Recorded::NasSessionsClosed(2));
    assert_eq!(store.record(&on).unwrap(), Recorded::NasSessionsClosed(0));
    let (open, _, _, time, cause) = session_row(&mut conn, "s3");
    assert!(!open);
    assert_eq!(time, Some(100));
    assert_eq!(cause.as_deref(), Some("NAS-Reboot"));
    assert!(
        session_row(&mut conn, "s5").0,
        "the other NAS's session stays open"
    );

    // Reordered on the way: an Interim, then its Start. The Start dates the
    // session; the next Interim-Update records the time since the last one.
    let mut early = packet(3, "s9", OTHER_NAS);
    counters(&mut early, 100, (0, 10), (0, 10));
    store.record(&change(&early, T0 + 3_000)).unwrap();
    store
        .record(&change(&packet(1, "s9", OTHER_NAS), T0 + 2_950))
        .unwrap();
    let mut next = packet(3, "s9", OTHER_NAS);
    counters(&mut next, 400, (0, 20), (0, 20));
    store.record(&change(&next, T0 + 3_300)).unwrap();
    let (started, interval): (i64, Option<i64>) = {
        let r = conn
            .query_one(
                "SELECT floor(extract(epoch FROM acctstarttime))::bigint, acctinterval
                   FROM radacct WHERE acctuniqueid = 's9'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        started,
        T0 + 2_950,
        "the Start's time, not the Interim's guess"
    );
    assert_eq!(interval, Some(300));
}

/// Polls the snapshot until `ok` holds for alice's record.
fn until_alice(snap: &SubscriberSnapshot, what: &str, ok: impl Fn(&SubscriberRecord) -> bool) {
    let t = Instant::now();
    loop {
        if let Lookup::Found(r) = snap.lookup("alice") {
            if ok(&r) {
                return;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{what}: not in the snapshot after 1 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The server's writer does the triggers' work itself, once per batch
/// (usage, cap crossings, session notifications): a snapshot on another
/// connection must see the same as with any other writer.
#[test]
fn the_store_keeps_every_snapshot_current() {
    let tdb = TestDb::new();
    let mut conn = tdb.connect();
    seed(&mut conn);
    conn.batch_execute("UPDATE plans SET data_cap_bytes = 10000, fair_use_rate = '1M/1M'")
        .unwrap();
    let snap = SubscriberSnapshot::start(tdb.url(), Duration::from_secs(5)).unwrap();
    assert!(snap.wait_loaded(Duration::from_secs(30)));
    let store = DirectWriter::new(&tdb.url(), Duration::from_secs(2)).unwrap();
    // Now, not t0: usage counts in the cycle of its time, and the record
    // holds the cycle of now.
    let t0 = now();
    let matches_db = |conn: &mut postgres::Client| {
        let from_db = db::load_subscriber(conn, "alice").unwrap();
        match snap.lookup("alice") {
            Lookup::Found(r) => assert_eq!(Some((*r).clone()), from_db),
            other => panic!("alice: {other:?}"),
        }
    };

    // Two sessions open, from two NASes.
    store.record(&change(&packet(1, "c1", NAS), t0)).unwrap();
    store
        .record(&change(&packet(1, "c2", OTHER_NAS), t0 + 1))
        .unwrap();
    until_alice(&snap, "two sessions open", |r| r.open_sessions.len() == 2);
    matches_db(&mut conn);

    // An interim below the cap changes no login's answer; one past it does.
    let mut below = packet(3, "c1", NAS);
    counters(&mut below, 60, (0, 4_000), (0, 4_000));
    store.record(&change(&below, t0 + 60)).unwrap();
    let mut past = packet(3, "c1", NAS);
    counters(&mut past, 120, (0, 6_000), (0, 6_000));
    store.record(&change(&past, t0 + 120)).unwrap();
    assert_eq!(usage_bytes(&mut conn, "alice"), 12_000);
    until_alice(&snap, "usage past the cap", |r| {
        r.cycle_usage_bytes == 12_000
    });

    // A Stop and an Accounting-On close them.
    let mut stop = packet(2, "c1", NAS);
    counters(&mut stop, 180, (0, 6_000), (0, 6_000));
    store.record(&change(&stop, t0 + 180)).unwrap();
    until_alice(&snap, "one session closed", |r| r.open_sessions.len() == 1);
    assert_eq!(
        store
            .record(&change(&packet(7, "ignored", OTHER_NAS), t0 + 200))
            .unwrap(),
        Recorded::NasSessionsClosed(1)
    );
    until_alice(&snap, "all sessions closed", |r| r.open_sessions.is_empty());
    matches_db(&mut conn);
    assert_eq!(
        usage_bytes(&mut conn, "alice"),
        12_000,
        "a Stop with the same totals adds nothing"
    );
}

/// A private journal directory for a store (removed first: a fresh one).
fn temp_journal(name: &str) -> JournalSettings {
    let dir =
        std::env::temp_dir().join(format!("netily-test-journal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    JournalSettings {
        dir,
        max_bytes: 256 << 20,
    }
}

/// Waits until the store's journal is applied (its backlog is 0).
fn until_applied(journal: &JournalSettings, within: Duration) {
    let deadline = Instant::now() + within;
    while netily_core::journal::backlog(&journal.dir).unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the journal was not applied in {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cluster of its own (the tests stop it), a seeded database `name`, and
/// a store journaling into a fresh directory.
fn store_on_own_cluster(name: &str) -> (PgCluster, String, JournalSettings, AccountingStore) {
    let cluster = PgCluster::start();
    let url = cluster
        .create_database(&format!("netily_acct_{name}"))
        .unwrap();
    let mut conn = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    seed(&mut conn);
    drop(conn);
    let journal = temp_journal(name);
    let store = AccountingStore::new(&url, 2, Duration::from_secs(2), &journal).unwrap();
    (cluster, url, journal, store)
}

#[test]
fn with_the_database_down_packets_are_journaled_at_once_and_applied_when_it_returns() {
    let (mut cluster, url, journal, store) = store_on_own_cluster("outage");
    assert_eq!(
        store.record(&change(&packet(1, "o1", NAS), T0)).unwrap(),
        Recorded::Journaled
    );
    until_applied(&journal, Duration::from_secs(10));

    cluster.stop().unwrap();
    // Many request threads at once, each an Interim of its own session
    // with growing counters: every one is answered from the journal, fast.
    let store = std::sync::Arc::new(store);
    let workers: Vec<_> = (0..32)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for i in 1..=20u32 {
                    let mut p = packet(3, &format!("w{t}"), NAS);
                    counters(&mut p, i, (0, i * 10), (0, i * 20));
                    let started = Instant::now();
                    let got = store.record(&change(&p, T0 + i64::from(i))).unwrap();
                    assert_eq!(got, Recorded::Journaled);
                    slowest = slowest.max(started.elapsed());
                }
                slowest
            })
        })
        .collect();
    let slowest = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap();
    eprintln!("slowest answer during the outage: {slowest:?}");
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    assert!(netily_core::journal::backlog(&journal.dir).unwrap() > 0);

    // Back: every packet applied, each session's in order (the last
    // Interim's counters win), none twice.
    cluster.start_again().unwrap();
    until_applied(&journal, Duration::from_secs(30));
    let mut conn = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for t in 0..32 {
        let (open, input, output, time, _) = session_row(&mut conn, &format!("w{t}"));
        assert_eq!(
            (open, input, output, time),
            (true, 200, 400, Some(20)),
            "w{t}"
        );
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM radacct"), 33);
    drop(store);
    let _ = std::fs::remove_dir_all(&journal.dir);
}

/// A NAS reboots while the database is down: its journal holds Starts,
/// the Accounting-On, and the Starts of the storm after it, all in the same
/// second. Applied together when the database returns, every session from
/// before the Accounting-On is closed and none after it, however the
/// writers batch them (and a NAS of more sessions than one statement
/// closes).
#[test]
fn an_accounting_on_closes_exactly_the_sessions_journaled_before_it() {
    let (mut cluster, url, journal, store) = store_on_own_cluster("reboot");
    cluster.stop().unwrap();
    let reboot_at = T0 + 10;
    let start = |unique: &str, user: &str, at: i64| {
        let mut p = packet(1, unique, NAS);
        p.username = Some(user.into());
        store.record(&change(&p, at)).unwrap();
    };
    let before = 5_000;
    for i in 0..before {
        start(
            &format!("before{i}"),
            &format!("u{i}"),
            T0 + i64::from(i % 11),
        );
    }
    let on = packet(7, "on", NAS);
    assert_eq!(
        store.record(&change(&on, reboot_at)).unwrap(),
        Recorded::Journaled
    );
    let after = 300;
    for i in 0..after {
        start(&format!("after{i}"), &format!("u{i}"), reboot_at);
    }
    cluster.start_again().unwrap();
    until_applied(&journal, Duration::from_secs(60));
    let mut conn = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let closed = count(
        &mut conn,
        "SELECT count(*) FROM radacct WHERE acctuniqueid LIKE 'before%'
            AND acctstoptime IS NOT NULL AND acctterminatecause = 'NAS-Reboot'",
    );
    let open = count(
        &mut conn,
        "SELECT count(*) FROM radacct WHERE acctuniqueid LIKE 'after%' AND acctstoptime IS NULL",
    );
    assert_eq!((closed, open), (i64::from(before), i64::from(after)));
    drop(store);
    let _ = std::fs::remove_dir_all(&journal.dir);
}

// ---------------------------------------------------------------- end to end

fn acct_packet(status: &str, session: &str, extra: &str) -> String {
    format!(
        "Acct-Status-Type = {status}, User-Name = \"alice\", Acct-Session-Id = \"{session}\", \
         NAS-IP-Address = 127.0.0.1, NAS-Port-Id = \"<pppoe-alice>\", NAS-Port-Type = Ethernet, \
         Framed-IP-Address = 100.64.0.9, Calling-Station-Id = \"AA:BB:CC:DD:EE:01\"{extra}\n"
    )
}

/// The module gives a packet the Acct-Unique-Session-Id the stock
/// acct_unique policy gives it: a session started through a server running
/// the policy is continued, in the same radacct row, through one running
/// the shipped site (and the reverse), for a plain session, one with every
/// attribute the policy reads, and one with a Class from this server.
#[test]
fn the_module_keys_sessions_as_the_stock_acct_unique_policy_does() {
    let isp = Isp::new("netily_acct_unique");
    seed(&mut isp.sql());
    let stock = Radiusd::start_with(RadiusdOptions {
        stock_acct_unique: true,
        ..isp.radiusd_options()
    })
    .unwrap();
    let ours = isp.radiusd();
    let class = "0x61693a3031323334353637383961626364656630313233343536373839414243444546";
    let sessions = [
        ("plain", String::new()),
        (
            "full",
            ", NAS-Identifier = \"mt-1\", NAS-Port = 15728640, \
             NAS-IPv6-Address = 2001:db8::7"
                .to_owned(),
        ),
        ("classy", format!(", Class = {class}")),
    ];
    for (i, (name, extra)) in sessions.iter().enumerate() {
        let (first, second) = if i % 2 == 0 {
            (&stock, &ours)
        } else {
            (&ours, &stock)
        };
        send_twice(first, &acct_packet("Start", name, extra));
        send_twice(
            second,
            &acct_packet(
                "Interim-Update",
                name,
                &format!("{extra}, Acct-Session-Time = 60, Acct-Input-Octets = 1000"),
            ),
        );
    }
    let mut conn = isp.sql();
    for (name, _) in &sessions {
        let rows = conn
            .query(
                "SELECT acctinputoctets FROM radacct WHERE acctsessionid = $1",
                &[name],
            )
            .unwrap();
        let input: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(input, [1000], "{name}: one row, continued by the Interim");
    }
}

/// Sends a packet twice (a retransmit with a fresh id, as a NAS that lost the
/// first answer would); both must be acknowledged.
fn send_twice(server: &Radiusd, packet: &str) {
    server.acct_twice(packet);
}

type E2eRow = (
    i64,
    bool,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn e2e_row(conn: &mut postgres::Client, session: &str) -> E2eRow {
    let r = conn
        .query_one(
            "SELECT count(*) OVER (), acctstoptime IS NULL, acctinputoctets, acctoutputoctets,
                    acctsessiontime, host(framedipaddress), acctterminatecause
               FROM radacct WHERE acctsessionid = $1",
            &[&session],
        )
        .unwrap();
    (
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
    )
}

/// username, reply, NAS, Calling-Station-Id, reason, pass.
type AuthLogRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Waits for the authentication log writer (asynchronous by design).
fn eventually_rows(url: &str, sql: &str, want: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut conn) = postgres::Client::connect(url, postgres::NoTls) {
            let n = count(&mut conn, sql);
            if n >= want || Instant::now() > deadline {
                return n;
            }
        }
        assert!(Instant::now() < deadline, "database not reachable");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn radius_accounting_and_auth_log_end_to_end() {
    let mut isp = Isp::new("netily_acct_e2e");
    let mut conn = isp.sql();
    seed(&mut conn);
    let mut server = isp.start_radiusd();

    // Start, Interim with Gigawords, Stop: every packet twice, one row.
    send_twice(&server, &acct_packet("Start", "e2e-1", ""));
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "e2e-1",
            ", Acct-Session-Time = 300, Acct-Input-Octets = 1000, Acct-Input-Gigawords = 1, \
             Acct-Output-Octets = 500, Acct-Output-Gigawords = 2",
        ),
    );
    let gw = 1i64 << 32;
    assert_eq!(usage_bytes(&mut conn, "alice"), gw + 1_000 + 2 * gw + 500);
    send_twice(
        &server,
        &acct_packet(
            "Stop",
            "e2e-1",
            ", Acct-Session-Time = 600, Acct-Input-Octets = 5000, Acct-Input-Gigawords = 1, \
             Acct-Output-Octets = 9000, Acct-Output-Gigawords = 2, \
             Acct-Terminate-Cause = User-Request",
        ),
    );
    let (total_in, total_out) = (gw + 5_000, 2 * gw + 9_000);
    assert_eq!(
        e2e_row(&mut conn, "e2e-1"),
        (
            1,
            false,
            total_in,
            total_out,
            Some(600),
            Some("100.64.0.9".into()),
            Some("User-Request".into())
        )
    );
    assert_eq!(usage_bytes(&mut conn, "alice"), total_in + total_out);

    // An Interim after the Stop is acknowledged but does not reopen the session.
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "e2e-1",
            ", Acct-Session-Time = 900, Acct-Input-Octets = 1, Acct-Input-Gigawords = 3",
        ),
    );
    let row = e2e_row(&mut conn, "e2e-1");
    assert_eq!((row.1, row.2, row.4), (false, total_in, Some(600)));
    assert_eq!(usage_bytes(&mut conn, "alice"), total_in + total_out);

    // A Stop without counters keeps the totals.
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "e2e-2",
            ", Acct-Session-Time = 60, Acct-Input-Octets = 700, Acct-Output-Octets = 300",
        ),
    );
    send_twice(
        &server,
        &acct_packet("Stop", "e2e-2", ", Acct-Session-Time = 90"),
    );
    let row = e2e_row(&mut conn, "e2e-2");
    assert_eq!(
        (row.0, row.1, row.2, row.3, row.4),
        (1, false, 700, 300, Some(90))
    );

    // Accounting-On closes the NAS's open sessions.
    send_twice(&server, &acct_packet("Start", "e2e-3", ""));
    send_twice(&server, &acct_packet("Start", "e2e-4", ""));
    assert!(e2e_row(&mut conn, "e2e-3").1);
    send_twice(
        &server,
        "Acct-Status-Type = Accounting-On, NAS-IP-Address = 127.0.0.1\n",
    );
    for s in ["e2e-3", "e2e-4"] {
        let row = e2e_row(&mut conn, s);
        assert!(!row.1, "{s} still open");
        assert_eq!(row.6.as_deref(), Some("NAS-Reboot"));
    }

    // The authentication log: accept, netily's reject with its reason, a
    // wrong password with pap's; never the password.
    let pap = |u: &str, p: &str| {
        format!("User-Name = \"{u}\", User-Password = \"{p}\", NAS-IP-Address = 127.0.0.1, Calling-Station-Id = \"AA:BB:CC:DD:EE:01\"\n")
    };
    assert!(server
        .auth(&pap("alice", "alice-secret"))
        .unwrap()
        .is("Access-Accept"));
    assert!(server
        .auth(&pap("bob", "bob-secret"))
        .unwrap()
        .is("Access-Reject"));
    assert!(server
        .auth(&pap("alice", "not-her-secret"))
        .unwrap()
        .is("Access-Reject"));
    assert_eq!(
        eventually_rows(isp.url(), "SELECT count(*) FROM radpostauth", 3),
        3
    );
    let rows = conn
        .query(
            "SELECT username, reply, host(nasipaddress), callingstationid, reason, pass
               FROM radpostauth ORDER BY id",
            &[],
        )
        .unwrap();
    let got: Vec<AuthLogRow> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    assert_eq!(got[0].0, "alice");
    assert_eq!(got[0].1, "Access-Accept");
    assert_eq!(got[0].2.as_deref(), Some("127.0.0.1"));
    assert_eq!(got[0].3.as_deref(), Some("AA:BB:CC:DD:EE:01"));
    assert!(
        got[0].4.as_deref().unwrap_or("").contains("home-10m"),
        "{got:?}"
    );
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str(), got[1].4.as_deref()),
        (
            "bob",
            "Access-Reject",
            Some("Account disabled by the operator")
        )
    );
    assert_eq!(
        (got[2].0.as_str(), got[2].1.as_str()),
        ("alice", "Access-Reject")
    );
    assert!(
        got[2].4.as_deref().unwrap_or("").starts_with("pap:"),
        "{got:?}"
    );
    assert!(got.iter().all(|r| r.5.is_none()), "a password was stored");
    let log = server.log();
    assert!(!log.contains("alice-secret") && !log.contains("not-her-secret"));

    // The database goes away: accounting is still answered (from the
    // journal), logins go on from the snapshot, and nothing waits on the
    // dead database.
    drop(conn);
    isp.cluster().stop().unwrap();
    let interim = acct_packet(
        "Interim-Update",
        "e2e-5",
        ", Acct-Session-Time = 30, Acct-Input-Octets = 42, Acct-Output-Octets = 43",
    );
    // 32 NAS at once (one radclient process each): as many as radiusd has
    // threads. Every one is answered.
    let burst = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ok=0; for i in $(seq 1 32); do \
               (printf 'Acct-Status-Type = Start, User-Name = \"alice\", Acct-Session-Id = \"burst-%s\", NAS-IP-Address = 127.0.0.1\n' $i \
               | radclient -q -r 3 -t 2 127.0.0.1:{} acct {} >/dev/null 2>&1 || echo lost) & \
             done; wait",
            server.acct_port,
            freeradius::SECRET
        ))
        .output()
        .unwrap();
    let lost = String::from_utf8_lossy(&burst.stdout)
        .matches("lost")
        .count();
    assert_eq!(lost, 0, "unanswered during the outage\n{}", server.log());
    let login = Instant::now();
    let reply = server.auth(&pap("alice", "alice-secret")).unwrap();
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
    assert!(
        login.elapsed() < Duration::from_secs(2),
        "login waited {:?} behind accounting",
        login.elapsed()
    );
    let reply = server.acct_unapplied(&interim).unwrap();
    assert!(
        reply.is("Accounting-Response"),
        "{reply:?}\n{}",
        server.log()
    );
    assert!(server.is_running(), "{}", server.log());
    assert!(
        !server.wait_applied(Duration::from_millis(300)),
        "applied with no database?"
    );
    let log = server.log();
    assert!(log.contains("kept in the journal"), "{log}");
    // The operator sees what waits.
    let journal = server.dir().join("journal");
    let journal = journal.to_str().unwrap();
    let waiting = |isp: &Isp| -> u64 {
        let shown = isp.netadmin(&["--json", "journal", "--dir", journal]);
        let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
        shown["accounting"]["backlog_bytes"].as_u64().unwrap()
    };
    assert!(waiting(&isp) > 0);

    // Back: everything answered during the outage is applied, once; the
    // reject logged during the outage reaches radpostauth.
    isp.cluster().start_again().unwrap();
    assert!(
        server.wait_applied(Duration::from_secs(30)),
        "{}",
        server.log()
    );
    assert_eq!(waiting(&isp), 0);
    // A retransmit of the Interim changes nothing.
    send_twice(&server, &interim);
    let mut conn = isp.sql();
    let row = e2e_row(&mut conn, "e2e-5");
    assert_eq!((row.0, row.1, row.2, row.3), (1, true, 42, 43));
    let burst: i64 = conn
        .query_one(
            "SELECT count(*) FROM radacct WHERE acctsessionid LIKE 'burst-%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        burst, 32,
        "every Start answered during the outage is in radacct"
    );
    assert_eq!(
        eventually_rows(isp.url(), "SELECT count(*) FROM radpostauth", 4),
        4,
        "the login during the outage was logged after it"
    );
    assert!(server.is_running());

    // Shutdown detaches the module: its writer threads stop and are joined
    // (a thread left waiting would hold radiusd up).
    assert_eq!(
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.is_running() {
        assert!(
            Instant::now() < deadline,
            "radiusd did not exit:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.log().contains("Exiting normally"),
        "{}",
        server.log()
    );
}

/// What one subscriber's cycle usage is, as the store and the triggers keep
/// it, never fails to add: at the top of bigint it stays there.
#[test]
fn usage_sums_saturate_instead_of_failing() {
    let tdb = TestDb::new();
    let mut conn = tdb.connect();
    seed(&mut conn);
    let store = DirectWriter::new(&tdb.url(), Duration::from_secs(2)).unwrap();
    store.record(&change(&packet(1, "big", NAS), T0)).unwrap();
    let mut first = packet(3, "big", NAS);
    counters(&mut first, 60, (0, 1_000), (0, 1_000));
    store.record(&change(&first, T0 + 60)).unwrap();
    assert_eq!(usage_bytes(&mut conn, "alice"), 2_000);

    // Usage at the top of bigint: the store's next packet saturates it.
    conn.batch_execute("UPDATE usage SET bytes = 9223372036854775797")
        .unwrap();
    let mut more = packet(3, "big", NAS);
    counters(&mut more, 120, (0, 5_000), (0, 5_000));
    assert_eq!(
        store.record(&change(&more, T0 + 120)).unwrap(),
        Recorded::Session
    );
    assert_eq!(usage_bytes(&mut conn, "alice"), i64::MAX);

    // Another writer (a hand-written UPDATE, stock rlm_sql) goes through the
    // usage trigger: counters near the top of bigint saturate there too.
    conn.batch_execute(
        "UPDATE radacct SET acctinputoctets = 9223372036854775000,
                            acctoutputoctets = 9223372036854775000
          WHERE acctuniqueid = 'big'",
    )
    .unwrap();
    assert_eq!(usage_bytes(&mut conn, "alice"), i64::MAX);

    // Whatever the row holds, the session's Stop is still recorded.
    let mut stop = packet(2, "big", NAS);
    counters(&mut stop, 180, (0, 6_000), (0, 6_000));
    assert_eq!(
        store.record(&change(&stop, T0 + 180)).unwrap(),
        Recorded::Session
    );
    assert!(!session_row(&mut conn, "big").0, "the Stop closed it");
    assert_eq!(usage_bytes(&mut conn, "alice"), i64::MAX);
}

/// `Access-Request` for alice from another device than her sessions'.
fn login_from_another_device(server: &Radiusd) -> freeradius::Reply {
    server
        .auth(
            "User-Name = \"alice\", User-Password = \"alice-secret\", \
             NAS-IP-Address = 127.0.0.1, Calling-Station-Id = \"AA:BB:CC:DD:EE:99\"\n",
        )
        .unwrap()
}

fn started_secs_from_now(conn: &mut postgres::Client, session: &str) -> f64 {
    conn.query_one(
        "SELECT abs(extract(epoch FROM acctstarttime - now()))::float8
           FROM radacct WHERE acctsessionid = $1",
        &[&session],
    )
    .unwrap()
    .get(0)
}

/// Counters and times no NAS means (Gigawords 2^31, every counter at
/// 0xFFFFFFFF, an Event-Timestamp in 2106) are answered, the session still
/// closes by its Stop or by Accounting-Off, usage stays what was plausible,
/// and the subscriber can log in again afterwards (simultaneous use 1).
#[test]
fn implausible_counters_and_timestamps_are_answered_and_never_lock_the_subscriber_out() {
    let isp = Isp::new("netily_acct_implausible");
    let mut conn = isp.sql();
    seed(&mut conn);
    conn.batch_execute("UPDATE plans SET simultaneous_use = 1")
        .unwrap();
    let server = isp.radiusd();

    send_twice(&server, &acct_packet("Start", "odd-1", ""));
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "odd-1",
            ", Acct-Session-Time = 60, Acct-Input-Octets = 1000, Acct-Output-Octets = 2000",
        ),
    );
    // Gigawords 2^31 (2^63 bytes), then every counter at its maximum.
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "odd-1",
            ", Acct-Session-Time = 120, Acct-Input-Octets = 1000, \
             Acct-Input-Gigawords = 2147483648, Acct-Output-Octets = 2000",
        ),
    );
    let all_ones = ", Acct-Input-Octets = 4294967295, Acct-Input-Gigawords = 4294967295, \
                    Acct-Output-Octets = 4294967295, Acct-Output-Gigawords = 4294967295";
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "odd-1",
            &format!(", Acct-Session-Time = 180{all_ones}"),
        ),
    );
    let row = e2e_row(&mut conn, "odd-1");
    assert_eq!(
        (row.1, row.2, row.3, row.4),
        (true, 1_000, 2_000, Some(180))
    );
    assert_eq!(usage_bytes(&mut conn, "alice"), 3_000);
    assert!(
        login_from_another_device(&server).is("Access-Reject"),
        "the session is open: simultaneous use 1 refuses a second device"
    );

    // The Stop carries the same counters: answered, and it closes the session.
    send_twice(
        &server,
        &acct_packet(
            "Stop",
            "odd-1",
            &format!(", Acct-Session-Time = 240{all_ones}, Acct-Terminate-Cause = User-Request"),
        ),
    );
    let row = e2e_row(&mut conn, "odd-1");
    assert_eq!(
        (row.1, row.2, row.3, row.4, row.6.as_deref()),
        (false, 1_000, 2_000, Some(240), Some("User-Request"))
    );
    assert_eq!(usage_bytes(&mut conn, "alice"), 3_000);

    // A Start dated 2106 is dated when it arrived, so Accounting-Off closes it.
    send_twice(
        &server,
        &acct_packet("Start", "odd-2", ", Event-Timestamp = 4294967295"),
    );
    assert!(e2e_row(&mut conn, "odd-2").1);
    let off_by = started_secs_from_now(&mut conn, "odd-2");
    assert!(off_by < 600.0, "started {off_by} s from now");
    send_twice(
        &server,
        "Acct-Status-Type = Accounting-Off, NAS-IP-Address = 127.0.0.1\n",
    );
    let row = e2e_row(&mut conn, "odd-2");
    assert!(!row.1, "Accounting-Off left the 2106 session open");
    assert_eq!(row.6.as_deref(), Some("NAS-Reboot"));

    let reply = login_from_another_device(&server);
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    // Each oddity is logged (rate-limited: fewer lines than odd packets).
    let log = server.log();
    let lines = log.lines().filter(|l| l.contains("implausible")).count();
    assert!((1..8).contains(&lines), "{lines} lines:\n{log}");
}

/// Every "N more like this suppressed" count in `log`, summed.
fn suppressed_in(log: &str) -> usize {
    log.lines()
        .filter_map(|l| {
            let before = l.split(" more like this suppressed").next()?;
            if before.len() == l.len() {
                return None;
            }
            before
                .rsplit(' ')
                .next()?
                .trim_start_matches('(')
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// With PostgreSQL down the journal takes what the NAS sends until it is
/// full (1 MiB here); then every Accounting-Request fails at once (the NAS
/// keeps it). The log says so at a bounded rate, not once per packet, and
/// counts exactly what it left out; the outage itself is one line.
#[test]
fn a_full_journal_fails_packets_and_logs_at_a_bounded_rate_with_exact_counts() {
    const PACKETS: usize = 4_000;
    let mut isp = Isp::new("netily_acct_log_flood");
    seed(&mut isp.sql());
    let mut options = isp.radiusd_options();
    options.module_settings = vec![("journal_max_mb".into(), "1".into())];
    let server = Radiusd::start_with(options).unwrap();
    send_twice(&server, &acct_packet("Start", "flood-0", ""));
    isp.cluster().stop().unwrap();
    let logged_before = server.log().len();

    // PACKETS distinct packets, each sent once (no retransmits), from 32
    // NAS threads: the journal fills up part way through.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.acct_port));
    let flood = Instant::now();
    let senders: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut nas = AcctNas::new(addr).unwrap();
                let once = Duration::from_millis(200);
                (t..PACKETS)
                    .step_by(32)
                    .filter(|i| {
                        let session = Session {
                            user: "alice".into(),
                            id: format!("flood-{}", i + 1),
                            nas_ip: [127, 0, 0, 1],
                        };
                        nas.send(&session, INTERIM, 0, 0, once, once).is_none()
                    })
                    .count()
            })
        })
        .collect();
    let unanswered: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    let flood = flood.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let outage = server.log()[logged_before..].to_owned();
    let failed_lines = outage
        .lines()
        .filter(|l| l.contains("accounting not recorded"))
        .count();
    eprintln!(
        "{PACKETS} packets into a full journal over {flood:?}: {failed_lines} line(s), {} bytes of log",
        outage.len()
    );
    // One line per 10 s at most.
    let most = 2 + flood.as_secs() as usize / 10;
    assert!(
        (1..=most).contains(&failed_lines),
        "{failed_lines} lines:\n{outage}"
    );
    assert!(outage.contains("journal is full"), "{outage}");
    assert_eq!(
        outage.matches("kept in the journal").count(),
        1,
        "the outage is one line:\n{outage}"
    );

    // Back: the journal drains; a packet recorded once the log's period is
    // over reports what was left out, exactly.
    isp.cluster().start_again().unwrap();
    assert!(
        server.wait_applied(Duration::from_secs(60)),
        "{}",
        server.log()
    );
    let mut conn = isp.sql();
    let kept: i64 = conn
        .query_one(
            "SELECT count(*) FROM radacct WHERE acctsessionid LIKE 'flood-%' AND acctsessionid <> 'flood-0'",
            &[],
        )
        .unwrap()
        .get(0);
    let failed = PACKETS - usize::try_from(kept).unwrap();
    eprintln!("{kept} journaled and applied, {failed} refused");
    assert!(kept > 500 && failed > 500, "kept {kept}, failed {failed}");
    assert_eq!(
        failed, unanswered,
        "every packet answered is applied, and no other"
    );
    // A line per failure logged, the count of those left out in the next
    // one or in a closing line ("accounting not recorded: N more like
    // ..."), written at most once a period: packets keep coming until it is.
    let reported = |log: &str| {
        let lines = log
            .lines()
            .filter_map(|l| l.split_once("accounting not recorded: "))
            .filter(|(_, rest)| !rest.starts_with(|c: char| c.is_ascii_digit()))
            .count();
        lines + suppressed_in(log)
    };
    let interim = acct_packet("Interim-Update", "flood-0", ", Acct-Session-Time = 30");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reported(&server.log()[logged_before..]) < failed {
        assert!(Instant::now() < deadline, "counts short:\n{}", server.log());
        send_twice(&server, &interim);
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = server.log()[logged_before..].to_owned();
    assert_eq!(reported(&log), failed, "{log}");
}

/// Store throughput on this machine: `cargo test -p netily-tests --release
/// --test radius_accounting store_throughput -- --ignored --nocapture`.
/// 32 threads (radiusd's pool) record Start, Interim, Stop sessions for
/// 10,000 subscribers through one store of 8 connections.
#[test]
#[ignore = "measurement, not a check"]
fn store_throughput() {
    // NETILY_BENCH_URL: a migrated database with durable commits and
    // subscribers synth0000001.. (the bench's); the test clusters run with
    // fsync off, which hides the cost of a commit.
    let tdb;
    let url = match std::env::var("NETILY_BENCH_URL") {
        Ok(url) => url,
        Err(_) => {
            tdb = TestDb::new();
            db::migrate(&mut tdb.connect()).unwrap();
            tdb.url()
        }
    };
    // As in radiusd, a subscriber snapshot LISTENs and reloads whoever's
    // sessions open or close (NETILY_BENCH_NO_SNAPSHOT=1: without it).
    let _snapshot = std::env::var_os("NETILY_BENCH_NO_SNAPSHOT")
        .is_none()
        .then(|| {
            let s = SubscriberSnapshot::start(url.clone(), Duration::from_secs(2)).unwrap();
            assert!(s.wait_loaded(Duration::from_secs(30)));
            s
        });
    let journal = temp_journal("throughput");
    let store = std::sync::Arc::new(
        AccountingStore::new(&url, 8, Duration::from_secs(2), &journal).unwrap(),
    );
    let seconds = 5;
    let started = Instant::now();
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut i = 0u64;
                while started.elapsed() < Duration::from_secs(seconds) {
                    let id = format!("t{t}-{i}");
                    i += 1;
                    let mut p = packet(1, &id, NAS);
                    p.username = Some(format!("synth{:07}", 1 + (t as u64 * 7919 + i) % 10_000));
                    for (status, secs) in [(1, 0), (3, 60), (2, 120)] {
                        p.status_type = Some(status);
                        if status != 1 {
                            counters(&mut p, secs, (0, secs * 1000), (0, secs * 2000));
                        }
                        store.record(&change(&p, T0 + i64::from(secs))).unwrap();
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "store: {total} packets acknowledged in {secs:.1}s = {:.0}/s",
        total as f64 / secs
    );
    until_applied(&journal, Duration::from_secs(600));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "store: all applied after {secs:.1}s = {:.0}/s",
        total as f64 / secs
    );
    let _ = std::fs::remove_dir_all(&journal.dir);
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Usage counts in the cycle of each packet's event time: the cycle the
/// subscriber is in starts at zero, whatever the last one used.
#[test]
fn the_store_counts_usage_in_the_cycle_of_each_event() {
    let tdb = TestDb::new();
    let mut conn = tdb.connect();
    seed(&mut conn);
    let anchor: i64 = conn
        .query_one(
            "UPDATE subscriptions SET cycle_start = now() - interval '40 days'
              WHERE active AND customer_id = (SELECT id FROM customers WHERE username = 'alice')
          RETURNING floor(extract(epoch FROM cycle_start))::bigint",
            &[],
        )
        .unwrap()
        .get(0);
    let this = cycle::cycle_at(anchor, now());
    let last = cycle::cycle_at(anchor, this.start - 1);
    let store = DirectWriter::new(&tdb.url(), Duration::from_secs(2)).unwrap();

    // A session of the last cycle; its next Interim comes after the boundary.
    store
        .record(&change(&packet(1, "long", NAS), this.start - 7_200))
        .unwrap();
    let mut before = packet(3, "long", NAS);
    counters(&mut before, 3_600, (0, 8_000), (0, 8_000));
    store.record(&change(&before, this.start - 3_600)).unwrap();
    let mut after = packet(3, "long", NAS);
    counters(&mut after, 7_260, (0, 8_500), (0, 8_500));
    store.record(&change(&after, this.start + 60)).unwrap();

    let per_cycle: Vec<(i64, i64)> = conn
        .query(
            "SELECT floor(extract(epoch FROM cycle_start))::bigint, bytes FROM usage ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(per_cycle, [(last.start, 16_000), (this.start, 1_000)]);
    let alice = db::load_subscriber(&mut conn, "alice").unwrap().unwrap();
    assert_eq!(
        (alice.usage_cycle_start, alice.cycle_usage_bytes),
        (Some(this.start), 1_000)
    );
}

/// A subscriber past the cap gets the fair-use rate until the cycle ends,
/// and the plan's rate from its first second: no job, no reload, the
/// module's own clock. Then the new cycle counts from zero.
#[test]
fn a_fair_use_downgrade_ends_at_the_first_second_of_the_next_cycle() {
    let isp = Isp::new("netily_cycle_rollover");
    let mut conn = isp.sql();
    seed(&mut conn);
    conn.batch_execute("UPDATE plans SET data_cap_bytes = 10000, fair_use_rate = '1M/1M'")
        .unwrap();
    let server = isp.radiusd();
    // The next cycle begins 25 s from now.
    let boundary: i64 = conn
        .query_one(
            "UPDATE subscriptions SET cycle_start = date_trunc('second', now()) + interval '25 s'
              WHERE active AND customer_id = (SELECT id FROM customers WHERE username = 'alice')
          RETURNING floor(extract(epoch FROM cycle_start))::bigint",
            &[],
        )
        .unwrap()
        .get(0);
    let login = "User-Name = \"alice\", User-Password = \"alice-secret\"\n";
    let rate = |server: &Radiusd| -> Vec<String> {
        let reply = server.auth(login).unwrap();
        assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
        reply
            .values("Mikrotik-Rate-Limit")
            .iter()
            .map(|v| v.to_string())
            .collect()
    };

    send_twice(&server, &acct_packet("Start", "cyc-1", ""));
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "cyc-1",
            ", Acct-Session-Time = 60, Acct-Input-Octets = 6000, Acct-Output-Octets = 6000",
        ),
    );
    let t = Instant::now();
    while rate(&server) != ["1M/1M"] {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = isp.netadmin(&["--json", "customer", "show", "alice"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["cycle"]["end"], boundary, "{shown}");
    assert_eq!(shown["cycle"]["usage_bytes"], 12_000, "{shown}");
    assert_eq!(shown["cycle"]["cap_bytes"], 10_000, "{shown}");
    assert!(
        now() < boundary,
        "too slow: the cycle ended before the test saw its downgrade"
    );

    while now() < boundary {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rate(&server), ["5M/10M"], "{}", server.log());

    // The session goes on: only what it adds from now on counts.
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "cyc-1",
            ", Acct-Session-Time = 120, Acct-Input-Octets = 6500, Acct-Output-Octets = 6500",
        ),
    );
    assert_eq!(rate(&server), ["5M/10M"]);
    // Acknowledged is journaled; what netadmin shows is what is applied.
    assert!(
        server.wait_applied(Duration::from_secs(30)),
        "{}",
        server.log()
    );
    let text = isp.netadmin(&["customer", "show", "alice"]);
    assert!(text.contains("1 kB of 10 kB cap"), "{text}");
}

/// The same on a plan with its own period (a 1-day plan): the downgrade
/// ends at the next day boundary counted from the anchor (its tenth here;
/// a monthly cycle would last weeks longer), and the new day counts from
/// zero: the writer, the record and the module all use the plan's period.
#[test]
fn a_one_day_plans_fair_use_downgrade_ends_at_the_next_day_boundary() {
    let isp = Isp::new("netily_day_rollover");
    let mut conn = isp.sql();
    seed(&mut conn);
    conn.batch_execute(
        "UPDATE plans SET data_cap_bytes = 10000, fair_use_rate = '1M/1M', cycle_days = 1",
    )
    .unwrap();
    let server = isp.radiusd();
    // Anchored 10 days ago less 25 s: the next day's cycle begins 25 s from
    // now (a monthly cycle would end 20 days later).
    let boundary: i64 = conn
        .query_one(
            "UPDATE subscriptions
                SET cycle_start = date_trunc('second', now()) + interval '25 s' - interval '240 hours'
              WHERE active AND customer_id = (SELECT id FROM customers WHERE username = 'alice')
          RETURNING floor(extract(epoch FROM cycle_start))::bigint + 10 * 86400",
            &[],
        )
        .unwrap()
        .get(0);
    let login = "User-Name = \"alice\", User-Password = \"alice-secret\"\n";
    let rate = |server: &Radiusd| -> Vec<String> {
        let reply = server.auth(login).unwrap();
        assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());
        reply
            .values("Mikrotik-Rate-Limit")
            .iter()
            .map(|v| v.to_string())
            .collect()
    };

    send_twice(&server, &acct_packet("Start", "cyc-1", ""));
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "cyc-1",
            ", Acct-Session-Time = 60, Acct-Input-Octets = 6000, Acct-Output-Octets = 6000",
        ),
    );
    let t = Instant::now();
    while rate(&server) != ["1M/1M"] {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = isp.netadmin(&["--json", "customer", "show", "alice"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["cycle"]["end"], boundary, "{shown}");
    assert_eq!(shown["cycle"]["usage_bytes"], 12_000, "{shown}");
    assert_eq!(shown["cycle"]["cap_bytes"], 10_000, "{shown}");
    assert_eq!(shown["cycle"]["start"], boundary - 86_400, "{shown}");
    assert_eq!(shown["cycle"]["cycle_days"], 1, "{shown}");
    assert!(
        now() < boundary,
        "too slow: the cycle ended before the test saw its downgrade"
    );

    while now() < boundary {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rate(&server), ["5M/10M"], "{}", server.log());

    // The session goes on: only what it adds from now on counts.
    send_twice(
        &server,
        &acct_packet(
            "Interim-Update",
            "cyc-1",
            ", Acct-Session-Time = 120, Acct-Input-Octets = 6500, Acct-Output-Octets = 6500",
        ),
    );
    assert_eq!(rate(&server), ["5M/10M"]);
    // Acknowledged is journaled; what netadmin shows is what is applied.
    assert!(
        server.wait_applied(Duration::from_secs(30)),
        "{}",
        server.log()
    );
    let text = isp.netadmin(&["customer", "show", "alice"]);
    assert!(text.contains("1 kB of 10 kB cap"), "{text}");
    assert!(text.contains("(1 day)"), "{text}");
}
