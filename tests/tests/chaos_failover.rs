//! Chaos: PostgreSQL fails over under RADIUS load (`make chaos`).
//!
//! A primary and a streaming standby (both started here), one node: radiusd
//! with rlm_netily and the enforcer, configured with a URL naming both
//! hosts. Access-Requests go on without pause while the primary is stopped
//! as a crash would (`pg_ctl stop -m immediate`) and the standby promoted.
//! Every login is answered, from the snapshot, throughout; afterwards the
//! node writes to the new primary, a suspension made there with netadmin
//! reaches its snapshot (it listens there now), and the enforcer's lease
//! is held there. The figures go to stderr (`--nocapture`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use netily_core::db::enforcement::ENFORCER_LOCK;
use netily_core::db::{self, NewCustomer, NewPlan};
use netily_core::radius;
use netily_tests::enforcer::EnforcerProcess;
use netily_tests::freeradius::{self, Radiusd, RadiusdOptions};
use netily_tests::isp::seed_alice_and_bob;
use netily_tests::netadmin::run_netadmin;
use netily_tests::postgres::Replicated;

/// Subscribers the load logs in as, round robin.
const LOAD_USERS: usize = 20;
/// Senders, each waiting for its answer before the next request.
const SENDERS: usize = 4;
/// Each sender's pace: 4 x 200/s stays well inside what radiusd keeps track
/// of (16,384 requests, each remembered for 5 s after its answer); faster,
/// radiusd itself drops requests, database or not.
const PER_SENDER: Duration = Duration::from_millis(5);
/// A login not answered within this counts as unanswered.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// One login of the load: when it was sent, how long the answer took (None:
/// no answer), and whether it was an Access-Accept.
struct Login {
    sent: Instant,
    took: Option<Duration>,
    accepted: bool,
}

fn load_user(i: usize) -> (String, String) {
    (format!("load{i:02}"), format!("load{i:02}-secret"))
}

fn seed(c: &mut postgres::Client) {
    let plan = NewPlan::new("home-10m", "5M/10M".parse().unwrap());
    seed_alice_and_bob(c, &plan);
    for i in 0..LOAD_USERS {
        let (username, password) = load_user(i);
        db::add_customer(
            c,
            &NewCustomer {
                username: username.clone(),
                password,
                full_name: username.clone(),
                phone: None,
                email: None,
                mac_binding: None,
                static_ip: None,
            },
        )
        .unwrap();
        db::set_plan(c, &username, &plan.name, None, None).unwrap();
    }
}

/// Logs in as the load users until `stop`, one request at a time.
fn send_logins(port: u16, sender: usize, stop: &AtomicBool) -> Vec<Login> {
    let mut logins = Vec::new();
    let mut n = sender;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        sleep(next.saturating_duration_since(Instant::now()));
        next += PER_SENDER;
        let (user, password) = load_user(n % LOAD_USERS);
        n += SENDERS;
        let sent = Instant::now();
        let code = login(port, &user, &password);
        logins.push(Login {
            sent,
            took: code.map(|_| sent.elapsed()),
            accepted: code == Some(radius::ACCESS_ACCEPT),
        });
    }
    logins
}

/// The answer's code; None when none came.
fn login(port: u16, user: &str, password: &str) -> Option<u8> {
    freeradius::raw_pap(
        port,
        freeradius::SECRET,
        user,
        password,
        true,
        ANSWER_WITHIN,
    )
    .unwrap()
    .map(|r| r.code)
}

/// Runs netadmin with `args`, then how long until `user`'s logins are
/// answered with `code`. radiusd sends an Access-Reject a second late
/// (`reject_delay`), so a login is sent every 10 ms without waiting for
/// the last one's answer, and the time is that of the first one sent that
/// got `code`.
fn change_seen(config: &Path, port: u16, args: &[&str], user: &str, code: u8) -> Duration {
    run_netadmin(config, args);
    let committed = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut answers: Vec<(Instant, Option<u8>)> = Vec::new();
    let got_it = |answers: &[(Instant, Option<u8>)]| {
        answers
            .iter()
            .filter(|(_, got)| *got == Some(code))
            .map(|(at, _)| *at)
            .min()
    };
    while got_it(&answers).is_none() {
        assert!(
            committed.elapsed() < Duration::from_secs(30),
            "netadmin {args:?} not seen by radiusd within 30 s"
        );
        let (tx, user) = (tx.clone(), user.to_owned());
        thread::spawn(move || {
            let at = Instant::now();
            let got = login(port, &user, &format!("{user}-secret"));
            let _ = tx.send((at, got));
        });
        sleep(Duration::from_millis(10));
        answers.extend(rx.try_iter());
    }
    // Answers to earlier requests may still be on their way: the iterator
    // ends when every sender has answered.
    drop(tx);
    answers.extend(rx.iter());
    got_it(&answers).unwrap_or(committed) - committed
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

/// Polls `done` every 10 ms up to `limit`; when it first held.
fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        sleep(Duration::from_millis(10));
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

#[test]
#[ignore = "chaos suite: make chaos"]
fn logins_are_answered_throughout_a_failover_and_the_node_follows_the_new_primary() {
    let mut pair = Replicated::start("netily_chaos");
    seed(&mut pair.connect_writable().unwrap());
    let dir = std::env::temp_dir().join(format!("netily-chaos-{}", std::process::id()));
    let config = pair.write_config(&dir);

    let radiusd = Radiusd::start_with(RadiusdOptions {
        config_file: Some(config.clone()),
        ..Default::default()
    })
    .unwrap();
    assert!(
        radiusd.log().contains("rlm_netily: loaded"),
        "{}",
        radiusd.log()
    );
    let enforcer = EnforcerProcess::start(&config, "chaos");
    assert!(
        enforcer.wait_for_log("this node acts now", Duration::from_secs(30)),
        "{}",
        enforcer.log()
    );
    assert_eq!(
        login(radiusd.auth_port, "alice", "alice-secret"),
        Some(radius::ACCESS_ACCEPT)
    );
    pair.wait_replayed().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let port = radiusd.auth_port;
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || send_logins(port, i, &stop))
        })
        .collect();
    sleep(Duration::from_secs(1));
    // The same kind of change before the failover, under the same load.
    let before = change_seen(
        &config,
        port,
        &["customer", "resume", "bob"],
        "bob",
        radius::ACCESS_ACCEPT,
    );
    pair.wait_replayed().unwrap();
    sleep(Duration::from_secs(1));

    let failover = pair.failover().unwrap();
    let stopped = failover.primary_stopped;

    // Watched together, so one's time does not include the other's wait:
    // the node's first write on the new primary (an auth-log row of the
    // load), and the enforcer's lease taken there.
    let mut new_primary = pair.connect_writable().unwrap();
    let replicated = count(&mut new_primary, "SELECT count(*) FROM radpostauth");
    let lease = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND ((classid::bigint << 32) | objid::bigint) = {ENFORCER_LOCK}"
    );
    let (mut first_write, mut leased) = (None, None);
    until(
        Duration::from_secs(60),
        "a write and the lease on the new primary",
        || {
            if first_write.is_none()
                && count(&mut new_primary, "SELECT count(*) FROM radpostauth") > replicated
            {
                first_write = Some(Instant::now());
            }
            if leased.is_none() && count(&mut new_primary, &lease) == 1 {
                leased = Some(Instant::now());
            }
            first_write.is_some() && leased.is_some()
        },
    );
    let (first_write, leased) = (first_write.unwrap(), leased.unwrap());
    assert!(
        enforcer.log().matches("this node acts now").count() >= 2,
        "{}",
        enforcer.log()
    );

    // A change made there reaches the node's snapshot: it listens there.
    let after = change_seen(
        &config,
        port,
        &["customer", "suspend", "alice"],
        "alice",
        radius::ACCESS_REJECT,
    );

    sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let logins: Vec<Login> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();

    let unanswered = logins.iter().filter(|l| l.took.is_none()).count();
    let accepted_load = logins.iter().filter(|l| l.accepted).count();
    let during = logins
        .iter()
        .filter(|l| l.sent >= stopped && l.sent <= first_write)
        .count();
    let mut took: Vec<Duration> = logins.iter().filter_map(|l| l.took).collect();
    took.sort();
    let pct = |p: usize| took[(took.len() * p / 100).min(took.len() - 1)];
    eprintln!(
        "failover: promoted {} after the primary stopped; the node's first write on the new \
         primary {} after it stopped; a suspension reached radiusd's answers {} after netadmin \
         returned (before the failover a resumption: {}); the enforcer's lease was on the new primary {} \
         after the stop",
        ms(failover.promoted - stopped),
        ms(first_write - stopped),
        ms(after),
        ms(before),
        ms(leased - stopped),
    );
    eprintln!(
        "failover: {} logins ({during} between the stop and the first write), {unanswered} \
         unanswered, answer p50 {:?} p99 {:?} max {:?}",
        logins.len(),
        pct(50),
        pct(99),
        took.last().copied().unwrap_or_default()
    );
    assert_eq!(unanswered, 0, "{}", radiusd.log());
    assert_eq!(accepted_load, logins.len(), "a load login was not accepted");
    assert!(during > 0, "no login was sent during the failover");
    let slowest = took.last().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(1),
        "a login waited {slowest:?}: logins must not wait on the database"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
