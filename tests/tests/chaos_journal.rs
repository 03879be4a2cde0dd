//! Fault injection on the accounting journal, with real servers: radiusd
//! killed with SIGKILL mid-load, PostgreSQL stopped under load, the
//! journal's disk full. Each test drives a NAS that retransmits until
//! answered and checks afterwards that radacct holds every acknowledged
//! packet, and the subscriber's usage counts every byte exactly once.
//!
//! Not in `make test` (they take minutes): `make chaos`.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netily_core::db::NewPlan;
use netily_tests::freeradius::{Radiusd, RadiusdOptions};
use netily_tests::isp::{seed_alice_and_bob, Isp};
use netily_tests::nas_load::{AcctNas, Session, INTERIM, START};
use netily_tests::netadmin::run_netadmin;
use netily_tests::postgres::Replicated;

/// What a NAS thread saw of one session.
#[derive(Debug)]
struct SessionLog {
    id: String,
    /// The last Interim acknowledged (its octets are `k * STEP`).
    acked: u32,
    /// The last Interim sent (acknowledged or not).
    sent: u32,
}

/// What the whole load saw.
struct Seen {
    sessions: Vec<SessionLog>,
    acked: u64,
    unanswered: u64,
    slowest: Duration,
}

/// Octets each Interim adds.
const STEP: u32 = 1_000;

/// NAS threads sending Interims for their sessions as fast as they are
/// answered, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Seen>>,
}

impl Load {
    fn start(server: SocketAddr, threads: usize, sessions: usize, give_up: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|t| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut nas = AcctNas::new(server).unwrap();
                    let mut logs: Vec<(Session, SessionLog)> = (0..sessions)
                        .map(|i| {
                            let id = format!("chaos-{t}-{i}");
                            let session = Session {
                                user: subscriber(t * sessions + i),
                                id: id.clone(),
                                nas_ip: [127, 0, 0, 1],
                            };
                            (
                                session,
                                SessionLog {
                                    id,
                                    acked: 0,
                                    sent: 0,
                                },
                            )
                        })
                        .collect();
                    let retry = Duration::from_millis(500);
                    let (mut acked, mut unanswered, mut slowest) = (0u64, 0u64, Duration::ZERO);
                    for (s, _) in &logs {
                        if nas.send(s, START, 0, 0, retry, give_up).is_none() {
                            unanswered += 1;
                        }
                    }
                    let mut k = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        k += 1;
                        for (s, log) in &mut logs {
                            log.sent = k;
                            match nas.send(s, INTERIM, k * STEP, k, retry, give_up) {
                                Some(took) => {
                                    log.acked = k;
                                    acked += 1;
                                    slowest = slowest.max(took);
                                }
                                None => unanswered += 1,
                            }
                        }
                    }
                    Seen {
                        sessions: logs.into_iter().map(|(_, l)| l).collect(),
                        acked,
                        unanswered,
                        slowest,
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let mut seen = Seen {
            sessions: Vec::new(),
            acked: 0,
            unanswered: 0,
            slowest: Duration::ZERO,
        };
        for t in self.threads {
            let one = t.join().unwrap();
            seen.sessions.extend(one.sessions);
            seen.acked += one.acked;
            seen.unanswered += one.unanswered;
            seen.slowest = seen.slowest.max(one.slowest);
        }
        seen
    }
}

fn acct_addr(server: &Radiusd) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.acct_port))
}

/// Sessions of the load each belong to a subscriber of their own, as on
/// a router (a subscriber's packets are applied one batch at a time).
const SUBSCRIBERS: usize = 64;

fn subscriber(n: usize) -> String {
    format!("chaos{n:03}")
}

/// alice, bob and the load's subscribers, on plan home-10m (`netadmin`
/// runs a netadmin command against the database).
fn seed(conn: &mut postgres::Client, netadmin: impl Fn(&[&str])) {
    seed_alice_and_bob(conn, &NewPlan::new("home-10m", "5M/10M".parse().unwrap()));
    for n in 0..SUBSCRIBERS {
        let user = subscriber(n);
        netadmin(&[
            "customer",
            "add",
            &user,
            "--password",
            "chaos-secret",
            "--plan",
            "home-10m",
        ]);
    }
}

fn isp(name: &str) -> Isp {
    let isp = Isp::new(name);
    seed(&mut isp.sql(), |args| {
        isp.netadmin(args);
    });
    isp
}

/// radacct holds every acknowledged Interim (and nothing beyond what was
/// sent), and each subscriber's usage is their session's total: a byte
/// applied twice would show there.
fn check_exactly_once(conn: &mut postgres::Client, seen: &Seen) {
    for s in &seen.sessions {
        let row = conn
            .query_opt(
                "SELECT acctinputoctets, acctoutputoctets FROM radacct WHERE acctsessionid = $1",
                &[&s.id],
            )
            .unwrap();
        let (input, output): (i64, i64) = row.map_or((0, 0), |r| (r.get(0), r.get(1)));
        let acked = i64::from(s.acked * STEP);
        let sent = i64::from(s.sent * STEP);
        assert!(
            input >= acked && input <= sent && output == input,
            "session {}: radacct has {input}/{output}, acknowledged {acked}, sent {sent}",
            s.id
        );
        let usage: i64 = conn
            .query_one(
                "SELECT coalesce(sum(u.bytes), 0)::bigint FROM usage u
                   JOIN customers c ON c.id = u.customer_id
                   JOIN radacct r ON r.username = c.username
                  WHERE r.acctsessionid = $1",
                &[&s.id],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            usage,
            input + output,
            "session {}: usage counts each byte once",
            s.id
        );
    }
    let rows: i64 = conn
        .query_one(
            "SELECT count(*) FROM radacct WHERE acctsessionid LIKE 'chaos-%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows as usize, seen.sessions.len(), "one row per session");
}

#[test]
#[ignore = "fault injection: make chaos"]
fn radiusd_killed_mid_load_loses_no_acknowledged_packet_and_applies_none_twice() {
    let isp = isp("chaos_kill");
    let server = isp.radiusd();
    let addr = acct_addr(&server);
    let load = Load::start(addr, 8, 4, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    let restart = server.crash(isp.radiusd_options());
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let server = Radiusd::start_with(restart).unwrap();
    eprintln!("radiusd back {:?} after SIGKILL", killed.elapsed());
    std::thread::sleep(Duration::from_secs(3));
    let seen = load.finish();
    assert!(
        server.wait_applied(Duration::from_secs(60)),
        "{}",
        server.log()
    );
    eprintln!(
        "{} Interims acknowledged, {} unanswered, slowest answer {:?} (across the restart)",
        seen.acked, seen.unanswered, seen.slowest
    );
    assert_eq!(seen.unanswered, 0);
    assert!(seen.acked > 100, "too little load: {}", seen.acked);
    check_exactly_once(&mut isp.sql(), &seen);
}

#[test]
#[ignore = "fault injection: make chaos"]
fn postgres_stopped_under_load_the_nas_is_answered_throughout_and_nothing_is_lost() {
    let outage = Duration::from_secs(
        std::env::var("NETILY_CHAOS_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let mut isp = isp("chaos_pg_down");
    let server = isp.radiusd();
    // A NAS that gets no answer within 2 s counts it as unanswered.
    let load = Load::start(acct_addr(&server), 8, 4, Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(2));
    isp.cluster().stop().unwrap();
    std::thread::sleep(outage);
    isp.cluster().start_again().unwrap();
    let back = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let seen = load.finish();
    assert!(
        server.wait_applied(Duration::from_secs(120)),
        "{}",
        server.log()
    );
    eprintln!(
        "{:?} outage: {} Interims acknowledged, {} unanswered, slowest answer {:?}; \
         backlog applied {:?} after the database returned",
        outage,
        seen.acked,
        seen.unanswered,
        seen.slowest,
        back.elapsed()
    );
    assert_eq!(seen.unanswered, 0, "{}", server.log());
    assert!(seen.slowest < Duration::from_secs(1), "{:?}", seen.slowest);
    check_exactly_once(&mut isp.sql(), &seen);
}

/// Mounts a tmpfs of `size` on `dir` (or resizes it).
fn tmpfs(dir: &std::path::Path, size: &str, remount: bool) {
    let mut cmd = Command::new("mount");
    cmd.args(["-t", "tmpfs", "-o"]);
    cmd.arg(if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size}")
    });
    cmd.arg("tmpfs").arg(dir);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Unmounts on drop.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "fault injection: make chaos"]
fn a_full_journal_disk_fails_accounting_without_damage_and_recovers_when_space_returns() {
    let mut isp = isp("chaos_disk_full");
    let dir = std::env::temp_dir().join(format!("netily-chaos-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let journal = dir.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    tmpfs(&journal, "1m", false);
    let _mounted = Mounted(journal.clone());
    let mut options = isp.radiusd_options();
    options.dir = Some(dir.clone());
    let server = Radiusd::start_with(options).unwrap();
    isp.cluster().stop().unwrap();
    // The database away: everything goes to the journal until the disk is full.
    let load = Load::start(acct_addr(&server), 4, 4, Duration::from_millis(1_500));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log().contains("cannot write") {
        assert!(
            Instant::now() < deadline,
            "the disk never filled:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    // Space returns: answered again.
    tmpfs(&journal, "64m", true);
    let after = Instant::now();
    let mut nas = AcctNas::new(acct_addr(&server)).unwrap();
    let probe = Session {
        user: "alice".into(),
        id: "chaos-probe".into(),
        nas_ip: [127, 0, 0, 1],
    };
    assert!(
        nas.send(
            &probe,
            START,
            0,
            0,
            Duration::from_millis(500),
            Duration::from_secs(10)
        )
        .is_some(),
        "{}",
        server.log()
    );
    eprintln!("answered again {:?} after space returned", after.elapsed());
    std::thread::sleep(Duration::from_secs(1));
    let mut seen = load.finish();
    isp.cluster().start_again().unwrap();
    assert!(
        server.wait_applied(Duration::from_secs(60)),
        "{}",
        server.log()
    );
    let log = server.log();
    eprintln!(
        "{} Interims acknowledged, {} refused while the disk was full",
        seen.acked, seen.unanswered
    );
    assert!(seen.unanswered > 0, "nothing was refused");
    assert!(!log.contains("damaged record"), "{log}");
    assert!(!log.contains("not a whole record"), "{log}");
    seen.sessions.push(netily_tests_probe());
    check_exactly_once(&mut isp.sql(), &seen);
    drop(server);
}

/// The probe session: started, no Interim.
fn netily_tests_probe() -> SessionLog {
    SessionLog {
        id: "chaos-probe".into(),
        acked: 0,
        sent: 0,
    }
}

/// At 20,000 logins a second (`NETILY_CHAOS_LOGIN_RATE`), PostgreSQL
/// stopped for 10 s (`NETILY_CHAOS_AUTH_OUTAGE_SECS`): every login radiusd
/// answered is in radpostauth afterwards, once, and the backlog is stored
/// while the load goes on.
#[test]
#[ignore = "fault injection: make chaos"]
fn the_authentication_log_loses_nothing_at_load_across_a_database_outage() {
    let env_or = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let rate = env_or("NETILY_CHAOS_LOGIN_RATE", 20_000);
    let outage = Duration::from_secs(env_or("NETILY_CHAOS_AUTH_OUTAGE_SECS", 10));
    let radload = std::env::var("NETILY_RADLOAD")
        .expect("NETILY_RADLOAD: the radload binary (scripts/chaos.sh builds it)");
    let mut isp = isp("chaos_auth_log");
    let server = isp.radiusd();
    let users = std::env::temp_dir().join(format!("netily-chaos-users-{}", std::process::id()));
    // Accepts only: FreeRADIUS holds each reject back a second (reject_delay).
    std::fs::write(&users, "alice\talice-secret\n").unwrap();
    let seconds = 10 + outage.as_secs() + 10;
    let load = Command::new(&radload)
        .args(["--server", &format!("127.0.0.1:{}", server.auth_port)])
        .arg("--users")
        .arg(&users)
        .args([
            "--rate",
            &rate.to_string(),
            "--duration",
            &seconds.to_string(),
        ])
        .args(["--window", "512", "--threads", "2", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    isp.cluster().stop().unwrap();
    std::thread::sleep(outage);
    isp.cluster().start_again().unwrap();
    let back = Instant::now();
    let out = load.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&users);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let answered = report["accepts"].as_u64().unwrap() + report["rejects"].as_u64().unwrap();
    // The backlog drains while the load goes on, then what is left.
    let mut conn = isp.sql();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut rows: i64;
    loop {
        rows = conn
            .query_one("SELECT count(*) FROM radpostauth", &[])
            .unwrap()
            .get(0);
        if rows as u64 >= answered || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let stored = back.elapsed();
    // Nothing more arrives after that (nothing doubled).
    std::thread::sleep(Duration::from_secs(2));
    let settled: i64 = conn
        .query_one("SELECT count(*) FROM radpostauth", &[])
        .unwrap()
        .get(0);
    let log = server.log();
    eprintln!(
        "{rate}/s asked, {} sent, {answered} answered ({:.0}/s), {} timed out; {outage:?} outage; \
         radpostauth has {settled} rows, all {stored:?} after the database returned",
        report["sent"],
        report["throughput"].as_f64().unwrap_or(0.0),
        report["timeouts"]
    );
    assert!(!log.contains("authentication log journal full"), "{log}");
    assert_eq!(settled as u64, answered, "every answered login logged once");
}

/// PostgreSQL fails over (primary stopped as by a crash, the standby
/// promoted) under accounting load, the node configured with both hosts:
/// the NAS is answered throughout, and the new primary ends up with every
/// acknowledged packet, once.
#[test]
#[ignore = "fault injection: make chaos"]
fn accounting_through_a_failover_is_answered_throughout_and_applied_once_on_the_new_primary() {
    let mut pair = Replicated::start("netily_chaos_acct");
    let dir = std::env::temp_dir().join(format!("netily-chaos-acct-{}", std::process::id()));
    let config = pair.write_config(&dir);
    seed(&mut pair.connect_writable().unwrap(), |args| {
        run_netadmin(&config, args);
    });
    let server = Radiusd::start_with(RadiusdOptions {
        config_file: Some(config.clone()),
        ..Default::default()
    })
    .unwrap();
    pair.wait_replayed().unwrap();
    let load = Load::start(acct_addr(&server), 8, 4, Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(3));
    let failover = pair.failover().unwrap();
    let stopped = failover.primary_stopped;
    std::thread::sleep(Duration::from_secs(5));
    let seen = load.finish();
    assert!(
        server.wait_applied(Duration::from_secs(120)),
        "{}",
        server.log()
    );
    eprintln!(
        "failover: {} Interims acknowledged, {} unanswered, slowest answer {:?}; \
         journal applied on the new primary {:?} after the old one stopped",
        seen.acked,
        seen.unanswered,
        seen.slowest,
        stopped.elapsed()
    );
    assert_eq!(seen.unanswered, 0, "{}", server.log());
    assert!(seen.slowest < Duration::from_secs(1), "{:?}", seen.slowest);
    check_exactly_once(&mut pair.connect_writable().unwrap(), &seen);
    let _ = std::fs::remove_dir_all(&dir);
}
