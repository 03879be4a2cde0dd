//! The RADIUS module's in-memory subscriber snapshot against a real
//! PostgreSQL: a change committed by netadmin's code paths is visible within
//! a second, and a database outage leaves the last known state serving.

use std::time::{Duration, Instant};

use netily_core::db;
use netily_core::model::{SubscriberRecord, SubscriberStatus};
use netily_core::rate::RateLimit;
use netily_core::snapshot::{Lookup, SubscriberSnapshot};
use netily_core::vpn_plan::VpnPlan;
use netily_tests::postgres::{PgCluster, TestDb};

const FRESH_WITHIN: Duration = Duration::from_secs(1);

fn seeded(url: &str) {
    let mut c = db::connect(url, Duration::from_secs(5)).unwrap();
    db::migrate(&mut c).unwrap();
    let mut tx = c.transaction().unwrap();
    db::seed_demo(&mut tx, &VpnPlan::default()).unwrap();
    tx.commit().unwrap();
}

fn record(snap: &SubscriberSnapshot, user: &str) -> Option<SubscriberRecord> {
    match snap.lookup(user) {
        Lookup::Found(r) => Some((*r).clone()),
        _ => None,
    }
}

/// Polls until `ok` holds for `user`'s record; returns how long it took.
fn until(
    snap: &SubscriberSnapshot,
    user: &str,
    limit: Duration,
    ok: impl Fn(Option<&SubscriberRecord>) -> bool,
) -> Duration {
    let t = Instant::now();
    while !ok(record(snap, user).as_ref()) {
        assert!(
            t.elapsed() < limit,
            "{user}: change not visible after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    t.elapsed()
}

#[test]
fn changes_reach_the_snapshot_within_a_second() {
    let tdb = TestDb::new();
    seeded(&tdb.url());
    let snap = SubscriberSnapshot::start(tdb.url(), Duration::from_secs(5)).unwrap();
    assert!(snap.wait_loaded(Duration::from_secs(30)));
    assert!(matches!(snap.lookup("nobody"), Lookup::Unknown));
    let alice = record(&snap, "alice").expect("alice is seeded");
    assert_eq!(
        alice.plan.as_ref().map(|p| p.name.as_str()),
        Some("home-20M")
    );
    assert!(!record(&snap, "carol").unwrap().unpaid_invoices.is_empty());

    let mut c = tdb.connect();

    // Operator suspends alice.
    db::set_customer_status(&mut c, "alice", SubscriberStatus::Suspended).unwrap();
    let took = until(&snap, "alice", FRESH_WITHIN, |r| {
        r.is_some_and(|r| r.subscriber.status == SubscriberStatus::Suspended)
    });
    println!("suspension visible after {took:?}");

    // carol pays every unpaid invoice.
    let numbers: Vec<String> = record(&snap, "carol")
        .unwrap()
        .unpaid_invoices
        .iter()
        .map(|i| i.number.clone())
        .collect();
    for n in &numbers {
        let pay = db::Payment {
            method: "cash".into(),
            reference: None,
            paid_at: None,
        };
        db::pay_invoice(&mut c, n, &pay).unwrap();
    }
    let took = until(&snap, "carol", FRESH_WITHIN, |r| {
        r.is_some_and(|r| r.unpaid_invoices.is_empty())
    });
    println!("payment visible after {took:?}");

    // bob moves to another plan.
    db::set_plan(&mut c, "bob", "home-20M", None, None).unwrap();
    until(&snap, "bob", FRESH_WITHIN, |r| {
        r.and_then(|r| r.plan.as_ref())
            .is_some_and(|p| p.name == "home-20M")
    });

    // The plan itself is re-rated: everyone on it sees the new rate.
    let new_rate: RateLimit = "30M/30M".parse().unwrap();
    let update = db::PlanUpdate {
        rate: Some(new_rate.clone()),
        ..Default::default()
    };
    db::update_plan(&mut c, "home-20M", &update).unwrap();
    for user in ["bob", "carol"] {
        until(&snap, user, FRESH_WITHIN, |r| {
            r.and_then(|r| r.plan.as_ref())
                .is_some_and(|p| p.rate == new_rate)
        });
    }

    // Sessions open, change and close (simultaneous use and MAC binding
    // depend on them). The snapshot applies these from the notifications
    // alone, with no query, and must end exactly where a reload would.
    let sql = |c: &mut postgres::Client, s: &str| {
        c.batch_execute(s).unwrap();
    };
    let matches_db = |c: &mut postgres::Client, user: &str| {
        let from_db = db::load_subscriber(c, user).unwrap();
        assert_eq!(
            record(&snap, user),
            from_db,
            "{user}: snapshot differs from the database"
        );
    };
    sql(
        &mut c,
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                              acctstarttime, callingstationid)
         VALUES ('s1', 'u-snap-1', 'bob', '127.0.0.1', now(), 'AA:AA:AA:AA:AA:AA'),
                ('s2', 'u-snap-2', 'bob', '127.0.0.2', now() - interval '1 hour', NULL)",
    );
    until(&snap, "bob", FRESH_WITHIN, |r| {
        r.is_some_and(|r| r.open_sessions.len() == 2)
    });
    matches_db(&mut c, "bob");
    // A Calling-Station-Id learned late (Interim before Start).
    sql(
        &mut c,
        "UPDATE radacct SET callingstationid = 'BB:BB:BB:BB:BB:BB' WHERE acctuniqueid = 'u-snap-2'",
    );
    until(&snap, "bob", FRESH_WITHIN, |r| {
        r.is_some_and(|r| {
            r.open_sessions
                .iter()
                .any(|s| s.calling_station_id.as_deref() == Some("BB:BB:BB:BB:BB:BB"))
        })
    });
    matches_db(&mut c, "bob");
    // An open session moved to another user.
    sql(
        &mut c,
        "UPDATE radacct SET username = 'carol' WHERE acctuniqueid = 'u-snap-1'",
    );
    until(&snap, "carol", FRESH_WITHIN, |r| {
        r.is_some_and(|r| r.open_sessions.len() == 1)
    });
    until(&snap, "bob", FRESH_WITHIN, |r| {
        r.is_some_and(|r| r.open_sessions.len() == 1)
    });
    matches_db(&mut c, "bob");
    matches_db(&mut c, "carol");
    // One stops, the other is deleted while open.
    sql(
        &mut c,
        "UPDATE radacct SET acctstoptime = now() WHERE acctuniqueid = 'u-snap-2';
         DELETE FROM radacct WHERE acctuniqueid = 'u-snap-1'",
    );
    for user in ["bob", "carol"] {
        until(&snap, user, FRESH_WITHIN, |r| {
            r.is_some_and(|r| r.open_sessions.is_empty())
        });
        matches_db(&mut c, user);
    }

    // A subscriber removed is unknown.
    db::remove_customer(&mut c, "judy").unwrap();
    let t = Instant::now();
    while !matches!(snap.lookup("judy"), Lookup::Unknown) {
        assert!(t.elapsed() < FRESH_WITHIN, "removal not visible");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_outage_serves_the_last_known_state_and_recovers() {
    let mut cluster = PgCluster::start();
    let url = cluster.create_database("snapshot_outage").unwrap();
    seeded(&url);
    let snap = SubscriberSnapshot::start(url.clone(), Duration::from_secs(2)).unwrap();
    assert!(snap.wait_loaded(Duration::from_secs(30)));
    assert!(snap.health().live);

    cluster.stop().unwrap();
    let t = Instant::now();
    while snap.health().live {
        assert!(t.elapsed() < Duration::from_secs(10), "outage not noticed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still answering from memory, without waiting on the database.
    let t = Instant::now();
    assert!(record(&snap, "alice").is_some());
    assert!(t.elapsed() < Duration::from_millis(5));

    cluster.start_again().unwrap();
    let mut c = db::connect(&url, Duration::from_secs(5)).unwrap();
    db::set_customer_status(&mut c, "alice", SubscriberStatus::Suspended).unwrap();
    // Reconnect backoff is at most 5 s; then a full reload picks the change up.
    until(&snap, "alice", Duration::from_secs(15), |r| {
        r.is_some_and(|r| r.subscriber.status == SubscriberStatus::Suspended)
    });
    assert!(snap.health().live);
}

#[test]
fn a_snapshot_that_never_loaded_says_so() {
    // Nothing listens on port 1.
    let snap = SubscriberSnapshot::start(
        "postgresql://netily@127.0.0.1:1/netily".into(),
        Duration::from_millis(500),
    )
    .unwrap();
    assert!(!snap.wait_loaded(Duration::from_millis(300)));
    assert_eq!(snap.lookup("alice"), Lookup::NotLoaded);
    assert!(!snap.health().loaded);
}

/// A snapshot of the seeded database whose first load cannot complete: a
/// row the full load refuses (an IPv6 static address) keeps it from
/// completing, as a big load does for a while. With a connection to it.
fn never_loaded(tdb: &TestDb) -> (SubscriberSnapshot, postgres::Client) {
    seeded(&tdb.url());
    let mut c = db::connect(&tdb.url(), Duration::from_secs(5)).unwrap();
    c.execute(
        "UPDATE customers SET static_ip = '2001:db8::1' WHERE username = 'bob'",
        &[],
    )
    .unwrap();
    let snap = SubscriberSnapshot::start(tdb.url(), Duration::from_secs(5)).unwrap();
    assert!(!snap.wait_loaded(Duration::from_secs(1)));
    (snap, c)
}

#[test]
fn before_the_first_load_completes_a_subscriber_is_looked_up_in_the_database() {
    let tdb = TestDb::new();
    let (snap, mut c) = never_loaded(&tdb);
    assert_eq!(snap.lookup("alice"), Lookup::NotLoaded);
    assert!(snap.database_reachable());

    // The same record a load would give, from one query.
    let from_db = db::load_subscriber(&mut c, "alice").unwrap();
    match snap.lookup_or_fetch("alice") {
        Lookup::Found(r) => assert_eq!(Some((*r).clone()), from_db),
        other => panic!("alice before the first load: {other:?}"),
    }
    assert_eq!(snap.lookup_or_fetch("nobody"), Lookup::Unknown);
}

#[test]
fn a_burst_of_logins_before_the_first_load_is_answered_not_failed() {
    let tdb = TestDb::new();
    let (snap, _c) = never_loaded(&tdb);

    // Twice as many logins at once as the fallback has connections: each
    // waits its turn, none is failed.
    let answers: Vec<Lookup> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..10)
                        .map(|_| snap.lookup_or_fetch("alice"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let failed = answers
        .iter()
        .filter(|a| !matches!(a, Lookup::Found(_)))
        .count();
    assert_eq!(
        failed,
        0,
        "{failed} of {} lookups not answered",
        answers.len()
    );
}

#[test]
fn a_login_waits_for_a_busy_fallback_about_a_second_then_fails() {
    let tdb = TestDb::new();
    let (snap, mut c) = never_loaded(&tdb);
    // Every lookup now blocks on the table until its statement times out
    // (2 s): four of them hold all the fallback's connections.
    let mut lock = c.transaction().unwrap();
    lock.batch_execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| snap.lookup_or_fetch("alice"));
        }
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        assert_eq!(snap.lookup_or_fetch("alice"), Lookup::NotLoaded);
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_millis(1_600),
            "waited {waited:?}"
        );
    });
    lock.rollback().unwrap();
}
