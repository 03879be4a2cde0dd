//! Stale sessions (issue 11 item 5), on a real PostgreSQL.
//!
//! First the rule and the store at explicit times (netily-core straight, no
//! sleeping): which interval a session is judged by, the exact deadline,
//! batches, the session-closed notifications, and an Interim-Update or Stop
//! after the close. Then end to end: a real FreeRADIUS loading rlm_netily,
//! radclient as the router, the real `netadmin sessions close-stale`, and
//! time moved by writing the session's times into the past.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use netily_core::accounting::{self, AccountingPacket};
use netily_core::db::accounting::{DirectWriter, Recorded};
use netily_core::db::{self, NewPlan, StaleSession};
use postgres::fallible_iterator::FallibleIterator;

use netily_core::stale_session::{IntervalSource, StaleSessionSettings, STALE_SESSION};
use netily_tests::freeradius::{Radiusd, Reply};
use netily_tests::isp::{seed_alice_and_bob, Isp};
use netily_tests::postgres::TestDb;

const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
const T0: i64 = 1_800_000_000;

/// 30 s margin, 30 s default interval: stale after 90 s of silence unless
/// the session or its plan says otherwise.
const SETTINGS: StaleSessionSettings = StaleSessionSettings {
    margin: 30,
    default_interim_interval: 30,
};

fn packet(status: u32, unique: &str, user: &str) -> AccountingPacket {
    AccountingPacket {
        status_type: Some(status),
        unique_session_id: Some(unique.into()),
        session_id: Some(format!("sid-{unique}")),
        username: Some(user.into()),
        nas_ip: Some(NAS),
        calling_station_id: Some("AA:BB:CC:00:00:01".into()),
        ..AccountingPacket::default()
    }
}

/// Records `status` for session `unique` of `user`, arriving at `at`, with
/// `octets` in each direction (Interim-Update and Stop).
fn record(
    store: &DirectWriter,
    status: u32,
    unique: &str,
    user: &str,
    at: i64,
    octets: u32,
) -> Recorded {
    let mut p = packet(status, unique, user);
    if status != accounting::STATUS_START {
        p.session_time = Some(u32::try_from(at - T0).unwrap());
        p.input_octets = Some(octets);
        p.output_octets = Some(octets);
    }
    if status == accounting::STATUS_STOP {
        p.terminate_cause = Some(1);
    }
    store.record(&accounting::change(&p, at).unwrap()).unwrap()
}

/// (open, stop time, terminate cause, acctinterval, input octets) of a session.
type Row = (bool, Option<i64>, Option<String>, Option<i64>, i64);

fn row(conn: &mut postgres::Client, unique: &str) -> Row {
    let r = conn
        .query_one(
            "SELECT acctstoptime IS NULL, floor(extract(epoch FROM acctstoptime))::bigint,
                    acctterminatecause, acctinterval, coalesce(acctinputoctets, 0)
               FROM radacct WHERE acctuniqueid = $1",
            &[&unique],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

fn ids(sessions: &[StaleSession]) -> Vec<&str> {
    sessions.iter().map(|s| s.acct_unique_id.as_str()).collect()
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

/// A database with alice and bob on `plan`, a connection, and a store
/// writing accounting as radiusd does.
fn seeded(plan: NewPlan) -> (TestDb, postgres::Client, DirectWriter) {
    let tdb = TestDb::new();
    let mut conn = tdb.connect();
    seed_alice_and_bob(&mut conn, &plan);
    let store = DirectWriter::new(&tdb.url(), Duration::from_secs(2)).unwrap();
    (tdb, conn, store)
}

/// The `netily_changed` notifications received so far.
fn notifications(listener: &mut postgres::Client) -> Vec<String> {
    listener.batch_execute("SELECT 1").unwrap();
    let mut out = Vec::new();
    let mut n = listener.notifications();
    let mut it = n.timeout_iter(Duration::from_millis(200));
    while let Some(note) = it.next().unwrap() {
        out.push(note.payload().to_owned());
    }
    out
}

#[test]
fn a_session_is_judged_by_its_own_interval_then_its_plans_then_the_default() {
    let mut plan = NewPlan::new("home-10m", "5M/10M".parse().unwrap());
    plan.interim_interval = Some(600);
    let (_db, mut conn, store) = seeded(plan);

    // "own": Interim-Updates 60 s apart, last heard at T0 + 120.
    record(&store, 1, "own", "alice", T0, 0);
    record(&store, 3, "own", "alice", T0 + 60, 10);
    record(&store, 3, "own", "alice", T0 + 120, 20);
    // "planned": only a Start; alice's plan says 600 s.
    record(&store, 1, "planned", "alice", T0, 0);
    // "walk-in": only a Start, and no subscriber: the default, 30 s.
    record(&store, 1, "walk-in", "walk-in", T0, 0);

    let mut stale_at = |now| db::find_stale_sessions(&mut conn, now, &SETTINGS).unwrap();
    assert!(
        stale_at(T0 + 90).is_empty(),
        "T0 + 2 × 30 + 30 is still live"
    );
    let found = stale_at(T0 + 91);
    assert_eq!(ids(&found), ["walk-in"]);
    assert_eq!(
        (
            found[0].last_heard_at,
            found[0].interim_interval,
            found[0].interval_from,
            found[0].stale_after
        ),
        (T0, 30, IntervalSource::Default, T0 + 90)
    );
    assert_eq!(ids(&stale_at(T0 + 270)), ["walk-in"]);
    let found = stale_at(T0 + 271);
    assert_eq!(ids(&found), ["walk-in", "own"], "oldest silence first");
    assert_eq!(
        (found[1].interim_interval, found[1].interval_from),
        (60, IntervalSource::Session)
    );
    assert_eq!(ids(&stale_at(T0 + 1_230)), ["walk-in", "own"]);
    let found = stale_at(T0 + 1_231);
    assert_eq!(ids(&found), ["planned", "walk-in", "own"]);
    assert_eq!(
        (found[0].interim_interval, found[0].interval_from),
        (600, IntervalSource::Plan)
    );

    // Finding changed nothing; closing closes exactly what was found.
    assert!(row(&mut conn, "own").0);
    let closed = db::close_stale_sessions(&mut conn, T0 + 271, &SETTINGS).unwrap();
    assert_eq!(ids(&closed), ["walk-in", "own"]);
    assert_eq!(
        row(&mut conn, "own"),
        (
            false,
            Some(T0 + 120),
            Some(STALE_SESSION.into()),
            Some(60),
            20
        ),
        "stopped when last heard"
    );
    let session_time: i64 = conn
        .query_one(
            "SELECT acctsessiontime FROM radacct WHERE acctuniqueid = 'own'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(session_time, 120);
    assert!(row(&mut conn, "planned").0, "its plan allows 1,230 s");
    assert!(db::close_stale_sessions(&mut conn, T0 + 271, &SETTINGS)
        .unwrap()
        .is_empty());
}

#[test]
fn closing_notifies_the_snapshots_whichever_connection_closes() {
    let (tdb, mut conn, store) = seeded(NewPlan::new("home-10m", "5M/10M".parse().unwrap()));
    record(&store, 1, "a1", "alice", T0, 0);
    record(&store, 1, "b1", "bob", T0 + 1_000, 0);
    let mut listener = tdb.connect();
    listener.batch_execute("LISTEN netily_changed").unwrap();
    notifications(&mut listener);

    // An operator's connection: the radacct trigger notifies.
    let closed = db::close_stale_sessions(&mut conn, T0 + 91, &SETTINGS).unwrap();
    assert_eq!(ids(&closed), ["a1"]);
    assert_eq!(
        notifications(&mut listener),
        [r#"session- {"username" : "alice", "acct_unique_id" : "a1"}"#]
    );

    // A connection that skips the triggers, as the accounting writers do:
    // the statement notifies itself, once.
    conn.batch_execute("SET netily.accounting_writer = on")
        .unwrap();
    let closed = db::close_stale_sessions(&mut conn, T0 + 1_091, &SETTINGS).unwrap();
    assert_eq!(ids(&closed), ["b1"]);
    assert_eq!(
        notifications(&mut listener),
        [r#"session- {"username" : "bob", "acct_unique_id" : "b1"}"#]
    );
}

#[test]
fn many_stale_sessions_are_closed_in_batches_and_all_of_them() {
    let tdb = TestDb::new();
    let mut conn = tdb.connect();
    db::migrate(&mut conn).unwrap();
    let n = 2 * db::stale_sessions::CLOSE_BATCH + 17;
    conn.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                              acctstarttime, acctupdatetime, acctsessiontime)
         SELECT 's' || i, 'u' || i, 'user' || i, '10.9.0.1',
                to_timestamp($1::bigint), to_timestamp($1::bigint + 60), 60
           FROM generate_series(1, $2::bigint) i",
        &[&T0, &n],
    )
    .unwrap();
    // One that is not stale, and one closed long ago, stay as they are.
    conn.batch_execute(&format!(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, nasipaddress, acctstarttime,
                              acctupdatetime, acctstoptime, acctterminatecause)
         VALUES ('live', 'live', '10.9.0.1', to_timestamp({T0}), to_timestamp({T0} + 1000),
                 NULL, NULL),
                ('old', 'old', '10.9.0.1', to_timestamp({T0} - 9000),
                 to_timestamp({T0} - 8000), to_timestamp({T0} - 8000), 'User-Request')"
    ))
    .unwrap();
    let closed = db::close_stale_sessions(&mut conn, T0 + 1_000, &SETTINGS).unwrap();
    assert_eq!(closed.len() as i64, n);
    let (open, stale): (i64, i64) = {
        let r = conn
            .query_one(
                "SELECT count(*) FILTER (WHERE acctstoptime IS NULL),
                        count(*) FILTER (WHERE acctterminatecause = $1)
                   FROM radacct",
                &[&STALE_SESSION],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((open, stale), (1, n));
    assert_eq!(row(&mut conn, "old").2.as_deref(), Some("User-Request"));
}

#[test]
fn a_stale_closed_session_is_reopened_by_its_interim_and_ended_by_its_stop() {
    let (_db, mut conn, store) = seeded(NewPlan::new("home-10m", "5M/10M".parse().unwrap()));
    record(&store, 1, "s1", "alice", T0, 0);
    record(&store, 3, "s1", "alice", T0 + 60, 1_000);
    let closed = db::close_stale_sessions(&mut conn, T0 + 211, &SETTINGS).unwrap();
    assert_eq!(ids(&closed), ["s1"]);

    // A retransmit of an Interim-Update older than the last one heard does not.
    assert_eq!(
        record(&store, 3, "s1", "alice", T0 + 50, 900),
        Recorded::AlreadyClosed
    );
    // A newer one does: open, no terminate cause, its counters counted,
    // and the gap it ended is not taken for the router's interval.
    assert_eq!(
        record(&store, 3, "s1", "alice", T0 + 400, 5_000),
        Recorded::Reopened
    );
    assert_eq!(row(&mut conn, "s1"), (true, None, None, Some(60), 5_000));
    assert_eq!(usage_bytes(&mut conn, "alice"), 10_000);
    assert_eq!(
        record(&store, 3, "s1", "alice", T0 + 460, 6_000),
        Recorded::Session
    );

    // Stale again, then its Stop: the router's end and cause are recorded,
    // and it stays closed for good.
    let closed = db::close_stale_sessions(&mut conn, T0 + 611, &SETTINGS).unwrap();
    assert_eq!(ids(&closed), ["s1"]);
    assert_eq!(
        record(&store, 2, "s1", "alice", T0 + 700, 7_000),
        Recorded::Session
    );
    assert_eq!(
        row(&mut conn, "s1"),
        (
            false,
            Some(T0 + 700),
            Some("User-Request".into()),
            Some(60),
            7_000
        )
    );
    assert_eq!(usage_bytes(&mut conn, "alice"), 14_000);
    assert_eq!(
        record(&store, 3, "s1", "alice", T0 + 800, 8_000),
        Recorded::AlreadyClosed
    );
    // A Start for the session reopens nothing either.
    record(&store, 1, "s2", "alice", T0, 0);
    db::close_stale_sessions(&mut conn, T0 + 91, &SETTINGS).unwrap();
    assert_eq!(
        record(&store, 1, "s2", "alice", T0 + 100, 0),
        Recorded::AlreadyClosed
    );
}

// ---- end to end: radiusd, radclient, netadmin ----

/// One subscriber `alice` on a plan allowing one session, stale after
/// 2 × 5 + 5 s of silence.
fn isp(name: &str) -> (Isp, Radiusd) {
    let isp = Isp::with_config(
        name,
        "stale_session_margin = 5\ndefault_interim_interval = 5\n",
    );
    isp.netadmin(&["migrate"]);
    isp.netadmin(&[
        "plan",
        "add",
        "single",
        "--rate",
        "5M/10M",
        "--simultaneous-use",
        "1",
    ]);
    isp.customer("alice", "alice-secret", "single");
    let server = isp.radiusd();
    (isp, server)
}

fn acct(server: &Radiusd, status: &str, session: &str, extra: &str) {
    let packet = format!(
        "Acct-Status-Type = {status}, User-Name = \"alice\", Acct-Session-Id = \"{session}\", \
         NAS-IP-Address = 127.0.0.1, NAS-Port-Id = \"<pppoe-alice>\", NAS-Port-Type = Ethernet, \
         Framed-IP-Address = 100.64.0.9, Calling-Station-Id = \"AA:BB:CC:DD:EE:01\"{extra}\n"
    );
    let reply = server.acct(&packet).unwrap();
    assert!(
        reply.is("Accounting-Response"),
        "{packet}: {reply:?}\n{}",
        server.log()
    );
}

/// alice logging in from a second device.
fn login_elsewhere(server: &Radiusd) -> Reply {
    server
        .auth(
            "User-Name = \"alice\", User-Password = \"alice-secret\", \
             NAS-IP-Address = 127.0.0.1, Calling-Station-Id = \"AA:BB:CC:DD:EE:99\"\n",
        )
        .unwrap()
}

/// The login's answer once the snapshots caught up with a change just
/// committed (they apply it within milliseconds; this allows 5 s).
fn login_until(server: &Radiusd, code: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = login_elsewhere(server);
        if reply.is(code) || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn refused_as_simultaneous(server: &Radiusd, reply: &Reply) {
    assert!(reply.is("Access-Reject"), "{reply:?}\n{}", server.log());
    assert_eq!(
        reply.values("Reply-Message"),
        ["Simultaneous-use limit reached"],
        "{reply:?}"
    );
}

/// (open, terminate cause, input octets) of the session the router calls `session`.
fn e2e_row(conn: &mut postgres::Client, session: &str) -> (bool, Option<String>, i64) {
    let r = conn
        .query_one(
            "SELECT acctstoptime IS NULL, acctterminatecause, acctinputoctets
               FROM radacct WHERE acctsessionid = $1",
            &[&session],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// Moves the session an hour into the past: started and last heard then.
fn an_hour_ago(conn: &mut postgres::Client, session: &str) {
    conn.execute(
        "UPDATE radacct SET acctstarttime = acctstarttime - interval '1 hour',
                            acctupdatetime = acctupdatetime - interval '1 hour'
          WHERE acctsessionid = $1",
        &[&session],
    )
    .unwrap();
}

#[test]
fn a_stale_session_is_closed_so_the_next_login_gets_in_and_its_interim_reopens_it() {
    let (isp, server) = isp("netily_stale_e2e");
    let mut sql = isp.sql();
    acct(&server, "Start", "81000001", "");
    refused_as_simultaneous(&server, &login_elsewhere(&server));

    // Heard from just now: not stale.
    let out = isp.netadmin(&["sessions", "close-stale"]);
    assert!(out.contains("No stale sessions."), "{out}");
    assert!(e2e_row(&mut sql, "81000001").0);

    // The router went silent an hour ago (it rebooted, no Accounting-On).
    an_hour_ago(&mut sql, "81000001");
    let out = isp.netadmin(&["sessions", "close-stale", "--dry-run", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["acct_session_id"], "81000001", "{out}");
    assert_eq!(listed[0]["interval_from"], "default", "{out}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{out}");
    assert!(e2e_row(&mut sql, "81000001").0, "a dry run closes nothing");
    refused_as_simultaneous(&server, &login_elsewhere(&server));

    let out = isp.netadmin(&["sessions", "close-stale"]);
    assert!(
        out.contains("81000001") && out.contains("Closed 1 stale session(s)"),
        "{out}"
    );
    assert_eq!(
        e2e_row(&mut sql, "81000001"),
        (false, Some("Stale-Session".into()), 0)
    );
    let reply = login_until(&server, "Access-Accept");
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    // The router was alive after all: its next Interim-Update reopens the
    // session, which again holds alice's one slot.
    acct(
        &server,
        "Interim-Update",
        "81000001",
        ", Acct-Session-Time = 3700, Acct-Input-Octets = 5000",
    );
    assert_eq!(e2e_row(&mut sql, "81000001"), (true, None, 5000));
    refused_as_simultaneous(&server, &login_until(&server, "Access-Reject"));
    let out = isp.netadmin(&["sessions", "close-stale", "--json"]);
    assert_eq!(out.trim(), "[]");
}

#[test]
fn a_session_its_router_stopped_stays_closed_when_an_interim_follows() {
    let (isp, server) = isp("netily_stale_stopped");
    let mut sql = isp.sql();

    // Stopped by the router.
    acct(&server, "Start", "82000001", "");
    acct(
        &server,
        "Stop",
        "82000001",
        ", Acct-Session-Time = 60, Acct-Input-Octets = 700, Acct-Terminate-Cause = User-Request",
    );
    acct(
        &server,
        "Interim-Update",
        "82000001",
        ", Acct-Session-Time = 120, Acct-Input-Octets = 900",
    );
    assert_eq!(
        e2e_row(&mut sql, "82000001"),
        (false, Some("User-Request".into()), 700)
    );
    let reply = login_until(&server, "Access-Accept");
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    // Closed by the router's Accounting-On.
    acct(&server, "Start", "82000002", "");
    refused_as_simultaneous(&server, &login_until(&server, "Access-Reject"));
    let reply = server
        .acct("Acct-Status-Type = Accounting-On, NAS-IP-Address = 127.0.0.1\n")
        .unwrap();
    assert!(reply.is("Accounting-Response"), "{reply:?}");
    acct(
        &server,
        "Interim-Update",
        "82000002",
        ", Acct-Session-Time = 120, Acct-Input-Octets = 900",
    );
    assert_eq!(
        e2e_row(&mut sql, "82000002"),
        (false, Some("NAS-Reboot".into()), 0)
    );
    let reply = login_until(&server, "Access-Accept");
    assert!(reply.is("Access-Accept"), "{reply:?}\n{}", server.log());

    // Neither is stale: only open sessions ever are.
    an_hour_ago(&mut sql, "82000001");
    an_hour_ago(&mut sql, "82000002");
    let out = isp.netadmin(&["sessions", "close-stale", "--dry-run"]);
    assert!(out.contains("No stale sessions."), "{out}");
}
