//! A node configured with a URL naming a primary and its streaming standby
//! (both real PostgreSQL servers): connections go to whichever takes
//! writes, and after the primary crashes and the standby is promoted the
//! subscriber snapshot resubscribes there and sees what changes next.
//! The same under RADIUS load, with the enforcer, is `chaos_failover.rs`.

use std::time::{Duration, Instant};

use netily_core::db;
use netily_core::model::SubscriberStatus;
use netily_core::snapshot::{Lookup, SubscriberSnapshot};
use netily_tests::isp::seed_alice_and_bob;
use netily_tests::postgres::Replicated;

const TIMEOUT: Duration = Duration::from_secs(5);

fn in_recovery(c: &mut postgres::Client) -> bool {
    c.query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0)
}

fn status(snap: &SubscriberSnapshot, user: &str) -> Option<SubscriberStatus> {
    match snap.lookup(user) {
        Lookup::Found(r) => Some(r.subscriber.status),
        _ => None,
    }
}

/// Polls until `user`'s status in the snapshot is `want`; how long it took.
fn until_status(
    snap: &SubscriberSnapshot,
    user: &str,
    want: SubscriberStatus,
    limit: Duration,
) -> Duration {
    let t = Instant::now();
    while status(snap, user) != Some(want) {
        assert!(
            t.elapsed() < limit,
            "{user} not {want:?} in the snapshot after {limit:?} (is {:?}; health {:?})",
            status(snap, user),
            snap.health()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

#[test]
fn a_url_naming_the_standby_first_still_connects_to_the_primary() {
    let pair = Replicated::start("netily_multi_host");
    // Standby first: libpq order, and the only read-write server is second.
    let url = format!(
        "postgresql://netily:netily@127.0.0.1:{},127.0.0.1:{}/netily_multi_host",
        pair.standby.port(),
        pair.primary.port()
    );
    let mut c = db::connect(&url, TIMEOUT).unwrap();
    assert!(!in_recovery(&mut c), "connected to the standby");
    let port: String = c.query_one("SHOW port", &[]).unwrap().get(0);
    assert_eq!(port, pair.primary.port().to_string());

    // A URL naming only the standby is refused, in words, without the password.
    let standby_only = format!(
        "postgresql://netily:s3cret-pw@127.0.0.1:{}/netily_multi_host",
        pair.standby.port()
    );
    let e = db::connect(&standby_only, TIMEOUT)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not allow writes"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
}

#[test]
fn after_a_failover_the_snapshot_reloads_and_listens_on_the_promoted_standby() {
    let mut pair = Replicated::start("netily_failover");
    seed_alice_and_bob(
        &mut pair.connect_writable().unwrap(),
        &db::NewPlan::new("home-10m", "5M/10M".parse().unwrap()),
    );
    let snap = SubscriberSnapshot::start(pair.url(), TIMEOUT).unwrap();
    assert!(snap.wait_loaded(Duration::from_secs(30)));
    assert_eq!(status(&snap, "alice"), Some(SubscriberStatus::Active));
    assert_eq!(status(&snap, "bob"), Some(SubscriberStatus::Suspended));

    // Nobody may log in anew (the snapshot's open connection stays), so
    // after the failover there is a gap with no listener anywhere, for as
    // long as this test wants.
    let mut admin = pair.primary.connect_admin("postgres").unwrap();
    admin.batch_execute("ALTER ROLE netily NOLOGIN").unwrap();
    pair.wait_replayed().unwrap();
    let failover = pair.failover().unwrap();
    eprintln!(
        "promoted {:?} after the primary stopped",
        failover.promoted - failover.primary_stopped
    );
    // Served from memory meanwhile.
    assert_eq!(status(&snap, "alice"), Some(SubscriberStatus::Active));

    // A change in the gap: its notification reaches no one.
    let mut new_primary = pair.standby.connect_admin("netily_failover").unwrap();
    assert!(!in_recovery(&mut new_primary));
    db::set_customer_status(&mut new_primary, "bob", SubscriberStatus::Active).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(status(&snap, "bob"), Some(SubscriberStatus::Suspended));
    assert!(!snap.health().live, "{:?}", snap.health());

    // Reconnected to the promoted standby: everything reloaded...
    new_primary
        .batch_execute("ALTER ROLE netily LOGIN")
        .unwrap();
    until_status(
        &snap,
        "bob",
        SubscriberStatus::Active,
        Duration::from_secs(15),
    );
    assert!(snap.health().live, "{:?}", snap.health());

    // ...and listening there: a change arrives as a notification, well
    // before any reconnect could bring it.
    let committed = Instant::now();
    db::set_customer_status(&mut new_primary, "alice", SubscriberStatus::Suspended).unwrap();
    until_status(
        &snap,
        "alice",
        SubscriberStatus::Suspended,
        Duration::from_secs(2),
    );
    eprintln!(
        "a change on the new primary reached the snapshot in {:?}",
        committed.elapsed()
    );
}
