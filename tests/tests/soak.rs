//! The soak (issue 12): mixed authentication, accounting and CoA at half of
//! the measured peak for `SOAK_MINUTES` (default 30), against real servers:
//! PostgreSQL, FreeRADIUS with rlm_netily, the enforcer (`netadmin enforce
//! --follow`) sending CoA and Disconnect-Requests to a real FreeRADIUS
//! standing in for the router, and OpenVPN with our plugin, two routers
//! reconnecting in turn.
//!
//! Every `SOAK_SAMPLE_SECONDS` (10) one window ends and is written as a JSON
//! line to `samples.jsonl` under `SOAK_DIR`: radiusd's, openvpn's and the
//! enforcer's RSS and open file descriptors, PostgreSQL's connections to the
//! ISP's database, each window's Access-Request and Accounting-Request rate
//! and p50/p99, and the CoA counts so far. After a warm-up (the first 20%)
//! the rest is cut in thirds, and the test fails when:
//! - a process's RSS grew from the first third to the last by more than
//!   [`RssBound`] allows, or its descriptors or the database connections grew
//!   (medians of the thirds);
//! - the median of the last third's window p99s is more than
//!   [`P99_FACTOR`] times the first third's (plus [`P99_SLACK_MS`]), or more
//!   than a tenth of the late windows are beyond that bound;
//! - any request went unanswered, accounting in radacct (and usage) is not
//!   exactly what was acknowledged once the journal is applied, a CoA or
//!   Disconnect was not acknowledged, or a router failed to reconnect.
//!
//! Rates: peak is measured first (radload saturating Access-Requests and
//! accounting sessions at once for `SOAK_PEAK_SECONDS`, 10) and each is
//! driven at half of it; `SOAK_AUTH_RATE` / `SOAK_ACCT_RATE` override.
//!
//! Not in `make test`: `make soak` (scripts/soak.sh) builds the release
//! module, plugin, netadmin and radload and runs it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netily_core::db::{self, NewPlan};
use netily_core::pki::IssuedCertificate;
use netily_core::radius;
use netily_tests::coa_nas::{CoaNas, CoaNasOptions, COA_REQUEST, DISCONNECT_REQUEST};
use netily_tests::enforcer::EnforcerProcess;
use netily_tests::freeradius::{raw_pap, Radiusd, SECRET};
use netily_tests::isp::subscribe;
use netily_tests::nas_load::{AcctNas, Session, INTERIM, START, STOP};
use netily_tests::netadmin::run_netadmin;
use netily_tests::openvpn::Lab;
use serde_json::{json, Value};

/// The stand-in router's address: NAS-IP-Address of the CoA cohort's
/// sessions, and where the enforcer sends.
const ROUTER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const COA_SECRET: &str = "coa-secret";

/// Subscribers for radload's Access-Requests.
const AUTH_SUBSCRIBERS: usize = 200;
/// Accounting NAS threads and the sessions each keeps online (one
/// subscriber each).
const ACCT_THREADS: usize = 8;
const SESSIONS_PER_THREAD: usize = 8;
/// Interims a session sends between its Start and its Stop.
const INTERIMS: u32 = 40;
/// Octets each Interim adds.
const STEP: u32 = 1_000;
/// Subscribers for radload's accounting sessions while peak is measured.
const PEAK_SUBSCRIBERS: usize = 64;
/// Subscribers whose plan changes and suspensions the enforcer acts on.
const COHORT: usize = 8;

/// The subscriber of the retransmitting login probe.
const PROBE_USER: &str = "soak-probe";
/// A window in which other work on the machine used more cores than this
/// is left out of the p99 comparison (when enough quiet ones remain).
const QUIET_CORES: f64 = 0.5;

/// How far a late window's p99 may be from the early ones.
const P99_FACTOR: f64 = 3.0;
const P99_SLACK_MS: f64 = 2.0;

/// How much a process's RSS may grow from the first third (after warm-up)
/// to the last: the larger of `floor_kb` and `percent` of the first.
#[derive(Debug, Clone, Copy)]
struct RssBound {
    floor_kb: u64,
    percent: f64,
}

const RADIUSD_RSS: RssBound = RssBound {
    floor_kb: 4096,
    percent: 5.0,
};
const OPENVPN_RSS: RssBound = RssBound {
    floor_kb: 1024,
    percent: 5.0,
};
const ENFORCER_RSS: RssBound = RssBound {
    floor_kb: 4096,
    percent: 5.0,
};
/// Descriptors and database connections: the last third's median may
/// exceed the first third's by at most this (a descriptor open for a
/// moment, as when a journal segment rolls over, is no growth).
const FD_GROWTH: i64 = 2;
const PG_GROWTH: i64 = 2;

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One process's memory and descriptors.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    /// VmRSS, kB.
    rss_kb: u64,
    /// RssAnon (the heap's share of it), kB.
    anon_kb: u64,
    fds: usize,
}

/// A process's [`Usage`] from /proc; all zero once it is gone.
fn proc_usage(pid: u32) -> Usage {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Usage::default();
    };
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    Usage {
        rss_kb: kb("VmRSS:"),
        anon_kb: kb("RssAnon:"),
        fds,
    }
}

/// Bytes a journal holds that are not yet applied to PostgreSQL (0 when
/// it does not exist yet).
fn journal_backlog(dir: &Path) -> u64 {
    netily_core::journal::backlog(dir).unwrap_or(0)
}

/// CPU seconds the whole machine was busy (all but idle and iowait),
/// and what this test's process tree used: the test process with every
/// child it reaped, and every live descendant with the children each
/// reaped (radiusd, PostgreSQL and its backends, openvpn, the enforcer,
/// radload), and the kernel's threads. The difference is other work on
/// the machine.
fn cpu_seconds() -> (f64, f64) {
    let tick = 100.0; // USER_HZ
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            let v: Vec<f64> = t
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            Some(v.iter().sum::<f64>() - v.get(3)? - v.get(4)? - v.get(7).unwrap_or(&0.0))
        })
        .unwrap_or(0.0);
    // pid -> (ppid, utime + stime + cutime + cstime)
    let mut procs: HashMap<u32, (u32, f64)> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state ppid ... (fields 3..)
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        let ppid = f.get(1).and_then(|x| x.parse().ok()).unwrap_or(0);
        procs.insert(pid, (ppid, num(11) + num(12) + num(13) + num(14)));
    }
    // Kernel threads (children of kthreadd, pid 2) count as ours: they
    // mostly carry the load's packets (ksoftirqd) and disk writes.
    let me = std::process::id();
    let mine = procs
        .iter()
        .filter(|(&pid, _)| {
            let mut p = pid;
            for _ in 0..64 {
                if p == me || p == 2 {
                    return true;
                }
                match procs.get(&p) {
                    Some(&(pp, _)) if pp != 0 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .map(|(_, &(_, t))| t)
        .sum::<f64>();
    (busy / tick, mine / tick)
}

/// The `p`th percentile of sorted microseconds, in ms.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn auth_user(n: usize) -> String {
    format!("soak-auth-{n:03}")
}
fn acct_user(n: usize) -> String {
    format!("soak-acct-{n:03}")
}
fn peak_user(n: usize) -> String {
    format!("soak-peak-{n:03}")
}
fn cohort_user(n: usize) -> String {
    format!("soak-coa-{n}")
}
fn password(user: &str) -> String {
    format!("{user}-pw")
}

/// Plans home and fast, and every subscriber of the soak, on home.
fn seed(conn: &mut postgres::Client) {
    db::add_plan(conn, &NewPlan::new("home", "5M/10M".parse().unwrap())).unwrap();
    db::add_plan(conn, &NewPlan::new("fast", "20M/40M".parse().unwrap())).unwrap();
    let users = (0..AUTH_SUBSCRIBERS)
        .map(auth_user)
        .chain((0..ACCT_THREADS * SESSIONS_PER_THREAD).map(acct_user))
        .chain((0..PEAK_SUBSCRIBERS).map(peak_user))
        .chain((0..COHORT).map(cohort_user))
        .chain([PROBE_USER.to_owned()]);
    for user in users {
        subscribe(conn, &user, &password(&user), "home");
    }
}

/// `username<TAB>password` lines for radload.
fn users_file(path: &Path, users: impl Iterator<Item = String>) {
    let text: String = users.map(|u| format!("{u}\t{}\n", password(&u))).collect();
    std::fs::write(path, text).unwrap();
}

/// A radload run as a child process, its JSON report read when it ends.
fn radload(server: SocketAddr, users: &Path, args: &[String]) -> Child {
    let bin = std::env::var("NETILY_RADLOAD")
        .expect("NETILY_RADLOAD: the radload binary (scripts/soak.sh builds it)");
    Command::new(bin)
        .args(["--server", &server.to_string(), "--users"])
        .arg(users)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn radload_report(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "radload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// What the accounting NAS threads saw of one session.
#[derive(Debug, Clone)]
struct SessionLog {
    id: String,
    user: String,
    /// The last Interim acknowledged (its octets are `k * STEP`).
    acked: u32,
    stopped: bool,
}

/// The accounting load: NAS threads, each pacing its share of the rate
/// over sessions of its own subscribers (Start, [`INTERIMS`] Interims,
/// Stop, then a new session), retransmitting until answered as a router
/// does. Latencies go to the current window.
struct AcctLoad {
    stop: AtomicBool,
    window: Mutex<Vec<u32>>,
    answered: AtomicU64,
    unanswered: AtomicU64,
    /// Sends that fell more than a second behind the schedule and were
    /// dropped from it (the generator could not keep the pace).
    behind: AtomicU64,
}

impl AcctLoad {
    fn new() -> AcctLoad {
        AcctLoad {
            stop: AtomicBool::new(false),
            window: Mutex::new(Vec::new()),
            answered: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            behind: AtomicU64::new(0),
        }
    }

    /// One NAS thread's life; returns every session it had.
    fn run(&self, server: SocketAddr, thread: usize, rate: f64) -> Vec<SessionLog> {
        let mut nas = AcctNas::new(server).unwrap();
        let retry = Duration::from_secs(1);
        let give_up = Duration::from_secs(10);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut done = Vec::new();
        // (session, log, next packet: 0 = Start, 1..=INTERIMS, INTERIMS+1 = Stop)
        let mut live: Vec<(Session, SessionLog, u32)> = Vec::new();
        let mut generation = [0u32; SESSIONS_PER_THREAD];
        let new_session = |slot: usize, generation: u32| {
            let user = acct_user(thread * SESSIONS_PER_THREAD + slot);
            let id = format!("soak-{thread}-{slot}-{generation}");
            (
                Session {
                    user: user.clone(),
                    id: id.clone(),
                    nas_ip: [127, 0, 0, 1],
                },
                SessionLog {
                    id,
                    user,
                    acked: 0,
                    stopped: false,
                },
                0,
            )
        };
        for slot in 0..SESSIONS_PER_THREAD {
            live.push(new_session(slot, 0));
        }
        let mut next_at = Instant::now();
        let mut slot = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if next_at > now {
                std::thread::sleep(next_at - now);
            } else if now - next_at > Duration::from_secs(1) {
                let missed = ((now - next_at).as_secs_f64() / interval.as_secs_f64()) as u64;
                self.behind.fetch_add(missed, Ordering::Relaxed);
                next_at = now;
            }
            next_at += interval;
            let (session, log, k) = &mut live[slot];
            let (status, octets) = match *k {
                0 => (START, 0),
                k if k <= INTERIMS => (INTERIM, k * STEP),
                k => (STOP, k * STEP),
            };
            match nas.send(session, status, octets, *k * 60, retry, give_up) {
                Some(took) => {
                    self.answered.fetch_add(1, Ordering::Relaxed);
                    let us = took.as_micros().min(u128::from(u32::MAX)) as u32;
                    self.window.lock().unwrap().push(us);
                    if status == STOP {
                        log.stopped = true;
                    }
                    if status != START {
                        log.acked = *k;
                    }
                }
                None => {
                    self.unanswered.fetch_add(1, Ordering::Relaxed);
                }
            }
            *k += 1;
            if *k > INTERIMS + 1 {
                generation[slot] += 1;
                let finished =
                    std::mem::replace(&mut live[slot], new_session(slot, generation[slot]));
                done.push(finished.1);
            }
            slot = (slot + 1) % SESSIONS_PER_THREAD;
        }
        // A session whose Start was never sent has no row.
        done.extend(live.into_iter().filter(|l| l.2 > 0).map(|(_, log, _)| log));
        done
    }

    /// This window's latencies, sorted; the next window starts empty.
    fn take_window(&self) -> Vec<u32> {
        let mut v = std::mem::take(&mut *self.window.lock().unwrap());
        v.sort_unstable();
        v
    }
}

/// What the CoA cohort driver did: each action is one request the
/// enforcer must send and the router acknowledge.
#[derive(Debug, Default)]
struct CohortLog {
    plan_changes: u64,
    suspensions: u64,
    /// From the operator's command to the router receiving the request.
    delays_ms: Vec<f64>,
    failures: Vec<String>,
}

/// One cohort subscriber online: an Access-Request from the router (until
/// accepted: a resumed subscriber reaches radiusd's snapshot by
/// notification), its login grant stored, then its Start.
fn cohort_login(
    radiusd: &Radiusd,
    sql: &mut postgres::Client,
    user: &str,
    sid: &str,
) -> Result<(), String> {
    let asked = unix_now() - 1.0;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = radiusd
            .auth(&format!(
                "User-Name = {user}, User-Password = {}, NAS-IP-Address = {ROUTER}, \
                 Calling-Station-Id = AA:BB:CC:00:00:01",
                password(user)
            ))
            .map_err(|e| e.to_string())?;
        if reply.is("Access-Accept") {
            break;
        }
        if Instant::now() > until {
            return Err(format!("{user}: no Access-Accept: {reply:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let granted: Option<f64> = sql
            .query_one(
                "SELECT max(extract(epoch FROM granted_at))::float8 FROM login_grants
                  WHERE username = $1",
                &[&user],
            )
            .map_err(|e| e.to_string())?
            .get(0);
        if granted.is_some_and(|g| g >= asked) {
            break;
        }
        if Instant::now() > until {
            return Err(format!("{user}: no login grant stored"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut nas = AcctNas::new(SocketAddr::from(([127, 0, 0, 1], radiusd.acct_port)))
        .map_err(|e| e.to_string())?;
    let session = cohort_session(user, sid);
    nas.send(
        &session,
        START,
        0,
        0,
        Duration::from_secs(1),
        Duration::from_secs(10),
    )
    .ok_or_else(|| format!("{sid}: Start unanswered"))?;
    Ok(())
}

fn cohort_session(user: &str, sid: &str) -> Session {
    Session {
        user: user.to_owned(),
        id: sid.to_owned(),
        nas_ip: ROUTER.octets(),
    }
}

/// The cohort driver's world.
struct Cohort<'a> {
    radiusd: &'a Radiusd,
    nas: &'a CoaNas,
    config: &'a Path,
    db_url: String,
    log: Mutex<CohortLog>,
}

impl Cohort<'_> {
    /// Until `stop`: every `every`, the next cohort subscriber in turn gets
    /// the next action of its own rotation: moved to fast (a CoA), back to
    /// home (a CoA), suspended (a Disconnect; the router then sends the
    /// Stop) and resumed (a new login and session). A request that does
    /// not reach the router within 15 s is a failure in the log.
    fn drive(&self, stop: &AtomicBool, every: Duration) {
        let mut sql = postgres::Client::connect(&self.db_url, postgres::NoTls).unwrap();
        let acct = SocketAddr::from(([127, 0, 0, 1], self.radiusd.acct_port));
        let mut stopper = AcctNas::new(acct).unwrap();
        let mut generation = [0u32; COHORT];
        let mut turn = 0usize;
        let mut next_at = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            next_at += every;
            let n = turn % COHORT;
            let step = (turn / COHORT) % 3;
            turn += 1;
            let user = cohort_user(n);
            let sid = format!("coa-{n}-{}", generation[n]);
            let since = SystemTime::now();
            let result = if step < 2 {
                let plan = if step == 0 { "fast" } else { "home" };
                run_netadmin(self.config, &["customer", "set-plan", &user, plan]);
                self.log.lock().unwrap().plan_changes += 1;
                self.delivered(COA_REQUEST, &sid, since)
                    .ok_or_else(|| format!("{user} moved to {plan}: no CoA-Request for {sid}"))
            } else {
                run_netadmin(self.config, &["customer", "suspend", &user]);
                self.log.lock().unwrap().suspensions += 1;
                match self.delivered(DISCONNECT_REQUEST, &sid, since) {
                    None => Err(format!("{user} suspended: no Disconnect-Request for {sid}")),
                    Some(()) => {
                        let stopped = stopper.send(
                            &cohort_session(&user, &sid),
                            STOP,
                            0,
                            60,
                            Duration::from_secs(1),
                            Duration::from_secs(10),
                        );
                        run_netadmin(self.config, &["customer", "resume", &user]);
                        generation[n] += 1;
                        let next = format!("coa-{n}-{}", generation[n]);
                        match stopped {
                            None => Err(format!("{sid}: Stop unanswered")),
                            Some(_) => cohort_login(self.radiusd, &mut sql, &user, &next),
                        }
                    }
                }
            };
            if let Err(e) = result {
                eprintln!("soak: CoA cohort: {e}");
                self.log.lock().unwrap().failures.push(e);
            }
            let now = Instant::now();
            if next_at > now {
                std::thread::sleep(next_at - now);
            } else {
                next_at = now;
            }
        }
    }

    /// Waits until the router received a `kind` request for session `sid`
    /// at or after `since` and notes the delay; None after 15 s.
    fn delivered(&self, kind: &str, sid: &str, since: SystemTime) -> Option<()> {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let hit = self.nas.received().into_iter().find(|p| {
                p.kind == kind
                    && p.acct_session_id.as_deref() == Some(sid)
                    && p.received_at >= since
            });
            if let Some(p) = hit {
                let delay = p.received_at.duration_since(since).unwrap_or_default();
                self.log
                    .lock()
                    .unwrap()
                    .delays_ms
                    .push(delay.as_secs_f64() * 1e3);
                return Some(());
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A NAS logging one subscriber in every 100 ms beside radload, trying
/// again (up to 5 times, 1 s apart) as a router does when an answer does
/// not come: radload counts a datagram the kernel dropped as unanswered,
/// a router would have sent it again.
#[derive(Default)]
struct LoginProbe {
    logins: AtomicU64,
    retried: AtomicU64,
    unanswered: AtomicU64,
}

impl LoginProbe {
    fn run(&self, stop: &AtomicBool, port: u16) {
        let password = password(PROBE_USER);
        while !stop.load(Ordering::Relaxed) {
            self.logins.fetch_add(1, Ordering::Relaxed);
            let mut tries = 0;
            let answered = loop {
                tries += 1;
                let reply = raw_pap(
                    port,
                    SECRET,
                    PROBE_USER,
                    &password,
                    false,
                    Duration::from_secs(1),
                );
                if let Ok(Some(r)) = reply {
                    break r.code == radius::ACCESS_ACCEPT;
                }
                if tries == 5 {
                    break false;
                }
            };
            if tries > 1 {
                self.retried.fetch_add(1, Ordering::Relaxed);
            }
            if !answered {
                self.unanswered.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One sample window, as written to samples.jsonl.
#[derive(Debug, Clone)]
struct Sample {
    /// Seconds since the soak started (the window's end).
    t: f64,
    radiusd: Usage,
    openvpn: Usage,
    enforcer: Usage,
    pg_connections: i64,
    /// Unapplied bytes in radiusd's accounting and authentication-log
    /// journals.
    acct_journal: u64,
    auth_log_journal: u64,
    auth_rate: f64,
    auth_p50: f64,
    auth_p99: f64,
    auth_timeouts: u64,
    /// UDP receive-buffer overflows on the whole machine in the window
    /// (a request dropped before radiusd read it).
    udp_drops: u64,
    /// Cores used by work outside this test in the window (other
    /// builds on the machine): such a window's latency says little.
    others_cores: f64,
    acct_rate: f64,
    acct_p50: f64,
    acct_p99: f64,
    coa_sent: i64,
    coa_acked: i64,
    vpn_reconnects: u64,
}

impl Sample {
    fn json(&self) -> Value {
        json!({
            "t": self.t,
            "radiusd_rss_kb": self.radiusd.rss_kb, "radiusd_anon_kb": self.radiusd.anon_kb,
            "radiusd_fds": self.radiusd.fds,
            "openvpn_rss_kb": self.openvpn.rss_kb, "openvpn_anon_kb": self.openvpn.anon_kb,
            "openvpn_fds": self.openvpn.fds,
            "enforcer_rss_kb": self.enforcer.rss_kb, "enforcer_anon_kb": self.enforcer.anon_kb,
            "enforcer_fds": self.enforcer.fds,
            "pg_connections": self.pg_connections,
            "acct_journal_bytes": self.acct_journal, "auth_log_journal_bytes": self.auth_log_journal,
            "auth_per_s": self.auth_rate, "auth_p50_ms": self.auth_p50,
            "auth_p99_ms": self.auth_p99, "auth_timeouts": self.auth_timeouts,
            "udp_drops": self.udp_drops,
            "others_cores": self.others_cores,
            "acct_per_s": self.acct_rate, "acct_p50_ms": self.acct_p50,
            "acct_p99_ms": self.acct_p99,
            "coa_sent": self.coa_sent, "coa_acked": self.coa_acked,
            "vpn_reconnects": self.vpn_reconnects,
        })
    }
}

/// A router of the lab with the certificate it reconnects with.
struct Router {
    name: String,
    host: usize,
    cert: IssuedCertificate,
    /// Its client in `lab.clients`.
    client: usize,
}

/// Restarts a router's OpenVPN client (as a router reboot would); false
/// with the logs printed when it did not connect again within 15 s.
fn reconnect(lab: &mut Lab, router: &mut Router) -> bool {
    lab.clients[router.client].terminate();
    let ca = lab.ca.cert_pem.clone();
    let new = lab.start_client(router.host, &router.name, &ca, &router.cert);
    lab.clients.swap(router.client, new);
    lab.clients.pop();
    let ok = lab.clients[router.client].wait_ready(Duration::from_secs(15));
    if !ok {
        eprintln!(
            "soak: {} did not reconnect:\n{}\nserver:\n{}",
            router.name,
            lab.clients[router.client].log(),
            lab.server_log()
        );
    }
    ok
}

fn pg_connections(sql: &mut postgres::Client, database: &str) -> i64 {
    sql.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        &[&database],
    )
    .unwrap()
    .get(0)
}

fn coa_counts(sql: &mut postgres::Client) -> (i64, i64) {
    let r = sql
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'ack') FROM coa_log",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// The samples after the warm-up, in thirds.
fn thirds(samples: &[Sample], warm_up: f64) -> [&[Sample]; 3] {
    let start = samples
        .iter()
        .position(|s| s.t >= warm_up)
        .unwrap_or(samples.len());
    let rest = &samples[start..];
    let n = rest.len() / 3;
    [
        &rest[..n],
        &rest[n..rest.len() - n],
        &rest[rest.len() - n..],
    ]
}

#[test]
#[ignore = "a soak of minutes: make soak"]
fn mixed_load_at_half_of_peak_keeps_memory_descriptors_connections_and_p99_flat() {
    let minutes = env_f64("SOAK_MINUTES").unwrap_or(30.0);
    let sample_every = Duration::from_secs_f64(env_f64("SOAK_SAMPLE_SECONDS").unwrap_or(10.0));
    let peak_seconds = env_f64("SOAK_PEAK_SECONDS").unwrap_or(10.0);
    let soak = Duration::from_secs_f64(minutes * 60.0);
    let out_dir = std::env::var_os("SOAK_DIR").map_or_else(
        || std::env::temp_dir().join(format!("netily-soak-{}", std::process::id())),
        PathBuf::from,
    );
    std::fs::create_dir_all(&out_dir).unwrap();

    // The VPN lab owns PostgreSQL; radiusd and the enforcer use the same
    // database through TCP.
    let mut lab = Lab::new("soak");
    let database = lab.db_url.rsplit("dbname=").next().unwrap().to_owned();
    seed(&mut lab.db());
    let config = lab.dir.join("soak.conf");
    std::fs::write(
        &config,
        format!(
            "database_url = {}\nconnect_timeout = 2\ncoa_source_address = 127.0.0.1\n\
             coa_timeout = 1\ncoa_tries = 3\n",
            lab.pg.url(&database)
        ),
    )
    .unwrap();
    let nas = CoaNas::start(CoaNasOptions {
        address: IpAddr::V4(ROUTER),
        secret: COA_SECRET.into(),
        ..CoaNasOptions::default()
    })
    .unwrap();
    let router = ROUTER.to_string();
    run_netadmin(
        &config,
        &[
            "nas",
            "add",
            &router,
            "--shortname",
            "tower-1",
            "--secret",
            COA_SECRET,
            "--coa-port",
            &nas.addr().port().to_string(),
        ],
    );
    let radiusd = Radiusd::serving(&config);
    let auth_addr = SocketAddr::from(([127, 0, 0, 1], radiusd.auth_port));
    let acct_addr = SocketAddr::from(([127, 0, 0, 1], radiusd.acct_port));

    {
        let mut sql = lab.db();
        for n in 0..COHORT {
            cohort_login(&radiusd, &mut sql, &cohort_user(n), &format!("coa-{n}-0")).unwrap();
        }
    }
    let enforcer = EnforcerProcess::start(&config, "soak");
    assert!(
        enforcer.wait_for_log("reviewed every online session", Duration::from_secs(30)),
        "{}",
        enforcer.log()
    );

    lab.start_server();
    let mut routers: Vec<Router> = (0..2)
        .map(|i| {
            let name = format!("tower-vpn-{i}");
            let (_, cert) = lab.add_router(&name, i + 1);
            let host = lab.add_host();
            let ca = lab.ca.cert_pem.clone();
            let client = lab.start_client(host, &name, &ca, &cert);
            assert!(
                lab.clients[client].wait_ready(Duration::from_secs(15)),
                "{name}:\n{}\nserver:\n{}",
                lab.clients[client].log(),
                lab.server_log()
            );
            Router {
                name,
                host,
                cert,
                client,
            }
        })
        .collect();
    let openvpn_pid = lab.server.as_ref().unwrap().child.id();

    let auth_users = out_dir.join("auth-users.tsv");
    users_file(&auth_users, (0..AUTH_SUBSCRIBERS).map(auth_user));
    let peak_users = out_dir.join("peak-users.tsv");
    users_file(&peak_users, (0..PEAK_SUBSCRIBERS).map(peak_user));

    // Peak: both kinds saturating at once.
    let secs = peak_seconds.to_string();
    let auth_peak = radload(
        auth_addr,
        &auth_users,
        &["--duration", &secs, "--window", "256", "--threads", "2"].map(String::from),
    );
    let acct_peak = radload(
        acct_addr,
        &peak_users,
        &[
            "--mode",
            "acct",
            "--interims",
            "5",
            "--duration",
            &secs,
            "--window",
            "64",
        ]
        .map(String::from),
    );
    let (auth_peak, acct_peak) = (radload_report(auth_peak), radload_report(acct_peak));
    let peak = (
        auth_peak["throughput"].as_f64().unwrap_or(0.0),
        acct_peak["throughput"].as_f64().unwrap_or(0.0),
    );
    let auth_rate = env_f64("SOAK_AUTH_RATE").unwrap_or((peak.0 / 2.0).floor());
    let acct_rate = env_f64("SOAK_ACCT_RATE").unwrap_or((peak.1 / 2.0).floor());
    eprintln!(
        "soak: peak (both saturating {peak_seconds} s): {:.0} Access-Requests/s (p99 {} ms), \
         {:.0} Accounting-Requests/s (p99 {} ms); driving {auth_rate:.0}/s + {acct_rate:.0}/s \
         for {minutes} min, samples every {sample_every:?} in {}",
        peak.0,
        auth_peak["latency_ms"]["p99"],
        peak.1,
        acct_peak["latency_ms"]["p99"],
        out_dir.display()
    );
    assert!(
        auth_rate >= 1.0 && acct_rate >= 1.0,
        "no peak: {auth_peak} {acct_peak}"
    );

    let load = AcctLoad::new();
    let probe = LoginProbe::default();
    let cohort = Cohort {
        radiusd: &radiusd,
        nas: &nas,
        config: &config,
        db_url: lab.db_url.clone(),
        log: Mutex::new(CohortLog::default()),
    };
    let stop = AtomicBool::new(false);
    let mut samples: Vec<Sample> = Vec::new();
    // sent, accepts, timeouts, anything else answered or failed, skipped
    let mut auth_total = (0u64, 0u64, 0u64, 0u64, 0u64);
    // Windows with more timeouts than the kernel dropped datagrams.
    let mut lost_in_radiusd: Vec<String> = Vec::new();
    let mut reconnects = 0u64;
    let mut reconnect_failures = 0u64;
    let mut sql = lab.db();
    let mut jsonl = String::new();
    let started = Instant::now();
    let sessions: Vec<SessionLog> = std::thread::scope(|scope| {
        let acct_threads: Vec<_> = (0..ACCT_THREADS)
            .map(|t| {
                let load = &load;
                scope.spawn(move || load.run(acct_addr, t, acct_rate / ACCT_THREADS as f64))
            })
            .collect();
        let (cohort, stop, probe) = (&cohort, &stop, &probe);
        let auth_port = radiusd.auth_port;
        let prober = scope.spawn(move || probe.run(stop, auth_port));
        let driver = scope.spawn(move || cohort.drive(stop, Duration::from_secs(2)));
        let chunk = sample_every.as_secs_f64().to_string();
        let rate = auth_rate.to_string();
        let mut window = 0u64;
        let mut last_acct = Instant::now();
        let mut last_cpu = cpu_seconds();
        while started.elapsed() < soak {
            let auth = radload(
                auth_addr,
                &auth_users,
                &[
                    "--duration",
                    &chunk,
                    "--rate",
                    &rate,
                    "--window",
                    "2048",
                    "--threads",
                    "2",
                    "--timeout-ms",
                    "3000",
                ]
                .map(String::from),
            );
            window += 1;
            // Every third window, one router reboots in turn.
            if window.is_multiple_of(3) {
                let r = (window / 3) as usize % routers.len();
                reconnects += 1;
                if !reconnect(&mut lab, &mut routers[r]) {
                    reconnect_failures += 1;
                }
            }
            let auth = radload_report(auth);
            let acct_lat = load.take_window();
            let acct_secs = last_acct.elapsed().as_secs_f64();
            last_acct = Instant::now();
            let cpu = cpu_seconds();
            let others_cores = ((cpu.0 - last_cpu.0) - (cpu.1 - last_cpu.1)).max(0.0) / acct_secs;
            last_cpu = cpu;
            auth_total.0 += count(&auth, "sent");
            auth_total.1 += count(&auth, "accepts");
            auth_total.2 += count(&auth, "timeouts");
            auth_total.3 += count(&auth, "rejects")
                + count(&auth, "other_codes")
                + count(&auth, "bad_replies")
                + count(&auth, "send_errors");
            auth_total.4 += count(&auth, "skipped");
            let (timeouts, drops) = (
                count(&auth, "timeouts"),
                count(&auth, "udp_rcvbuf_drops_machine"),
            );
            if timeouts > drops {
                lost_in_radiusd.push(format!(
                    "{:.0} s: {timeouts} Access-Requests unanswered, {drops} datagrams dropped by the kernel",
                    started.elapsed().as_secs_f64()
                ));
            }
            let (coa_sent, coa_acked) = coa_counts(&mut sql);
            let s = Sample {
                t: started.elapsed().as_secs_f64(),
                radiusd: proc_usage(radiusd.pid()),
                openvpn: proc_usage(openvpn_pid),
                enforcer: proc_usage(enforcer.pid()),
                pg_connections: pg_connections(&mut sql, &database),
                acct_journal: journal_backlog(&radiusd.accounting_journal()),
                auth_log_journal: journal_backlog(&radiusd.dir().join("journal/auth-log")),
                auth_rate: auth["throughput"].as_f64().unwrap_or(0.0),
                auth_p50: auth["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
                auth_p99: auth["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
                auth_timeouts: count(&auth, "timeouts"),
                udp_drops: count(&auth, "udp_rcvbuf_drops_machine"),
                others_cores,
                acct_rate: acct_lat.len() as f64 / acct_secs,
                acct_p50: percentile_ms(&acct_lat, 50.0),
                acct_p99: percentile_ms(&acct_lat, 99.0),
                coa_sent,
                coa_acked,
                vpn_reconnects: reconnects,
            };
            eprintln!(
                "soak {:>6.0}s radiusd {:>7} kB (anon {:>7}) {:>3} fds | openvpn {:>6} kB {:>2} fds | \
                 enforcer {:>6} kB {:>2} fds | pg {:>2} | journals {} / {} kB | others {:.2} | \
                 auth {:>5.0}/s p50 {:.2} p99 {:.2} ms | \
                 acct {:>5.0}/s p50 {:.2} p99 {:.2} ms | coa {}/{} | vpn {}",
                s.t,
                s.radiusd.rss_kb,
                s.radiusd.anon_kb,
                s.radiusd.fds,
                s.openvpn.rss_kb,
                s.openvpn.fds,
                s.enforcer.rss_kb,
                s.enforcer.fds,
                s.pg_connections,
                s.acct_journal / 1024,
                s.auth_log_journal / 1024,
                s.others_cores,
                s.auth_rate,
                s.auth_p50,
                s.auth_p99,
                s.acct_rate,
                s.acct_p50,
                s.acct_p99,
                s.coa_acked,
                s.coa_sent,
                s.vpn_reconnects
            );
            jsonl.push_str(&s.json().to_string());
            jsonl.push('\n');
            std::fs::write(out_dir.join("samples.jsonl"), &jsonl).unwrap();
            samples.push(s);
        }
        load.stop.store(true, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        driver.join().unwrap();
        prober.join().unwrap();
        acct_threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();

    // Everything acknowledged is applied: the journal empties, and radacct
    // and usage hold exactly what was acknowledged.
    assert!(
        radiusd.wait_applied(Duration::from_secs(120)),
        "journal not applied:\n{}",
        radiusd.log()
    );
    // Every answered login is in the authentication log, once.
    let until = Instant::now() + Duration::from_secs(120);
    while journal_backlog(&radiusd.dir().join("journal/auth-log")) > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    let logged: i64 = sql
        .query_one(
            "SELECT count(*) FROM radpostauth WHERE username LIKE 'soak-auth-%'",
            &[],
        )
        .unwrap()
        .get(0);
    let answered_logins =
        auth_total.1 + count(&auth_peak, "accepts") + count(&auth_peak, "rejects");
    let cohort = cohort.log.into_inner().unwrap();
    // The last requests' answers reach coa_log.
    std::thread::sleep(Duration::from_secs(3));
    let (coa_sent, coa_acked) = coa_counts(&mut sql);
    let received = nas.received();
    let mut unique: Vec<_> = received
        .iter()
        .map(|p| (p.kind.clone(), p.id, p.acct_session_id.clone()))
        .collect();
    unique.sort();
    unique.dedup();

    let probe_unanswered = probe.unanswered.load(Ordering::Relaxed);
    let acct_answered = load.answered.load(Ordering::Relaxed);
    let acct_unanswered = load.unanswered.load(Ordering::Relaxed);
    let acct_behind = load.behind.load(Ordering::Relaxed);
    let mismatches = check_accounting(&mut sql, &sessions);

    // The report.
    let warm_up = soak.as_secs_f64() * 0.2;
    let parts = thirds(&samples, warm_up);
    let report = summarize(&parts);
    eprintln!("{report}");
    std::fs::write(out_dir.join("summary.txt"), &report).unwrap();
    let delays = median(cohort.delays_ms.clone());
    eprintln!(
        "soak: {:.1} min; peak {:.0} auth/s + {:.0} acct/s, driven at {auth_rate:.0} + {acct_rate:.0}; \
         Access-Requests {} sent, {} accepted, {} unanswered (each window: no more than the \
         kernel dropped), {} other, {} not sent (radload's window full), radpostauth {logged} of \
         {answered_logins}; probe logins {} ({} retried, {probe_unanswered} unanswered); \
         Accounting-Requests {acct_answered} answered ({:.0}/s), {acct_unanswered} unanswered, \
         {acct_behind} behind schedule; {} sessions, radacct exact: {}; \
         CoA: {} plan changes + {} suspensions, coa_log {coa_sent} sent / {coa_acked} acked, \
         router received {} ({} with retransmissions), median delay {delays:.0} ms; \
         VPN reconnects {reconnects}, {reconnect_failures} failed",
        elapsed.as_secs_f64() / 60.0,
        peak.0,
        peak.1,
        auth_total.0,
        auth_total.1,
        auth_total.2,
        auth_total.3,
        auth_total.4,
        probe.logins.load(Ordering::Relaxed),
        probe.retried.load(Ordering::Relaxed),
        acct_answered as f64 / elapsed.as_secs_f64(),
        sessions.len(),
        mismatches.is_empty(),
        cohort.plan_changes,
        cohort.suspensions,
        unique.len(),
        received.len(),
    );

    // The verdict.
    let mut failures: Vec<String> = Vec::new();
    failures.extend(mismatches.into_iter().take(10));
    failures.extend(cohort.failures.iter().take(10).cloned());
    if auth_total.3 > 0 || auth_total.1 + auth_total.2 != auth_total.0 {
        failures.push(format!(
            "Access-Requests: {} sent, {} accepted, {} unanswered, {} other",
            auth_total.0, auth_total.1, auth_total.2, auth_total.3
        ));
    }
    failures.extend(lost_in_radiusd.iter().take(10).cloned());
    if probe_unanswered > 0 {
        failures.push(format!(
            "{probe_unanswered} probe logins unanswered after 5 tries"
        ));
    }
    if logged as u64 != answered_logins {
        failures.push(format!(
            "radpostauth holds {logged} of the soak's logins, {answered_logins} were answered"
        ));
    }
    if acct_unanswered > 0 {
        failures.push(format!("{acct_unanswered} Accounting-Requests unanswered"));
    }
    let expected = (cohort.plan_changes + cohort.suspensions) as i64;
    if coa_sent != expected || coa_acked != coa_sent || unique.len() as i64 != coa_sent {
        failures.push(format!(
            "CoA: {expected} asked for, coa_log {coa_sent} sent / {coa_acked} acked, \
             router received {} distinct",
            unique.len()
        ));
    }
    if reconnect_failures > 0 {
        failures.push(format!(
            "{reconnect_failures} of {reconnects} VPN reconnects failed"
        ));
    }
    failures.extend(check_flat(&parts));
    let log = radiusd.log();
    for bad in ["panic", "journal is full", "cannot write"] {
        if log.contains(bad) {
            failures.push(format!("radiusd logged {bad:?}"));
        }
    }
    let verdict = if failures.is_empty() {
        "soak: PASS".to_owned()
    } else {
        format!("soak: FAIL\n  {}", failures.join("\n  "))
    };
    eprintln!("{verdict}");
    std::fs::write(out_dir.join("verdict.txt"), &verdict).unwrap();
    assert!(failures.is_empty(), "{verdict}");
    drop(enforcer);
    drop(radiusd);
    drop(nas);
}

/// Every session's row in radacct holds exactly its acknowledged octets
/// (closed when its Stop was acknowledged), one row each, and each
/// subscriber's usage is the sum of their sessions: a packet lost or
/// applied twice shows. Returns what differs.
fn check_accounting(sql: &mut postgres::Client, sessions: &[SessionLog]) -> Vec<String> {
    let rows: HashMap<String, (i64, i64, bool)> = sql
        .query(
            "SELECT acctsessionid, acctinputoctets, acctoutputoctets, acctstoptime IS NOT NULL
               FROM radacct WHERE acctsessionid LIKE 'soak-%'",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let mut wrong = Vec::new();
    let mut per_user: HashMap<&str, i64> = HashMap::new();
    for s in sessions {
        let want = i64::from(s.acked * STEP);
        *per_user.entry(&s.user).or_default() += 2 * want;
        match rows.get(&s.id) {
            Some(&(input, output, stopped))
                if input == want && output == want && stopped == s.stopped => {}
            got => wrong.push(format!(
                "session {}: radacct {got:?}, acknowledged {want} octets each way, stopped {}",
                s.id, s.stopped
            )),
        }
    }
    if rows.len() != sessions.len() {
        wrong.push(format!(
            "radacct has {} soak sessions, the NAS had {}",
            rows.len(),
            sessions.len()
        ));
    }
    let usage: HashMap<String, i64> = sql
        .query(
            "SELECT c.username, coalesce(sum(u.bytes), 0)::bigint FROM customers c
               LEFT JOIN usage u ON u.customer_id = c.id
              WHERE c.username LIKE 'soak-acct-%' GROUP BY c.username",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (user, want) in per_user {
        let got = usage.get(user).copied().unwrap_or(0);
        if got != want {
            wrong.push(format!("{user}: usage {got} bytes, sessions total {want}"));
        }
    }
    wrong
}

fn rss_median(part: &[Sample], pick: Pick) -> f64 {
    median(part.iter().map(|s| pick(s).rss_kb as f64).collect())
}

fn max_of(part: &[Sample], f: impl Fn(&Sample) -> i64) -> i64 {
    part.iter().map(f).max().unwrap_or(0)
}

fn min_of(part: &[Sample], f: impl Fn(&Sample) -> i64) -> i64 {
    part.iter().map(f).min().unwrap_or(0)
}

type Pick = fn(&Sample) -> Usage;

const PROCESSES: [(&str, Pick, RssBound); 3] = [
    ("radiusd", |s| s.radiusd, RADIUSD_RSS),
    ("openvpn", |s| s.openvpn, OPENVPN_RSS),
    ("enforcer", |s| s.enforcer, ENFORCER_RSS),
];

type Latency = fn(&Sample) -> f64;

const LATENCIES: [(&str, Latency); 2] = [("auth", |s| s.auth_p99), ("acct", |s| s.acct_p99)];

/// What is not flat between the first third and the last.
fn check_flat(parts: &[&[Sample]; 3]) -> Vec<String> {
    let [first, _, last] = *parts;
    if first.is_empty() || last.is_empty() {
        return vec!["too few samples after the warm-up to compare".into()];
    }
    let mut wrong = Vec::new();
    for (name, pick, bound) in PROCESSES {
        let (a, b) = (rss_median(first, pick), rss_median(last, pick));
        let allowed = (bound.floor_kb as f64).max(a * bound.percent / 100.0);
        if b - a > allowed {
            wrong.push(format!(
                "{name} RSS grew {a:.0} -> {b:.0} kB (median of the first and last thirds), \
                 more than {allowed:.0} kB"
            ));
        }
        let fds = |part: &[Sample]| median(part.iter().map(|s| pick(s).fds as f64).collect());
        let (a, b) = (fds(first), fds(last));
        if b - a > FD_GROWTH as f64 {
            wrong.push(format!(
                "{name} descriptors grew: median {a} in the first third, {b} in the last"
            ));
        }
        if last.iter().any(|s| pick(s).fds == 0) {
            wrong.push(format!("{name} is gone"));
        }
    }
    let pg = |part: &[Sample]| median(part.iter().map(|s| s.pg_connections as f64).collect());
    let (a, b) = (pg(first), pg(last));
    if b - a > PG_GROWTH as f64 {
        wrong.push(format!(
            "PostgreSQL connections grew: median {a} in the first third, {b} in the last"
        ));
    }
    // Latency: the quiet windows (little other work on the machine) when
    // each third has at least three, else all of them.
    let quiet = |part: &[Sample]| -> Vec<Sample> {
        part.iter()
            .filter(|s| s.others_cores < QUIET_CORES)
            .cloned()
            .collect()
    };
    let (qf, ql) = (quiet(first), quiet(last));
    let (early_part, late_part, judged) = if qf.len() >= 3 && ql.len() >= 3 {
        (qf, ql, "quiet windows")
    } else {
        let busy = |part: &[Sample]| median(part.iter().map(|s| s.others_cores).collect());
        eprintln!(
            "soak: too few quiet windows ({} early, {} late; other work took a median \
             {:.2} and {:.2} cores): p99 judged on every window, the machine's share included",
            qf.len(),
            ql.len(),
            busy(first),
            busy(last)
        );
        (
            first.to_vec(),
            last.to_vec(),
            "every window, too few quiet ones",
        )
    };
    for (name, p99) in LATENCIES {
        let early = median(early_part.iter().map(p99).collect());
        let late = median(late_part.iter().map(p99).collect());
        let bound = P99_FACTOR * early + P99_SLACK_MS;
        if late > bound {
            wrong.push(format!(
                "{name} p99: median of late windows {late:.2} ms, early {early:.2} ms \
                 (bound {bound:.2}; {} and {} windows judged: {judged})",
                early_part.len(),
                late_part.len()
            ));
        }
        let over = late_part.iter().filter(|s| p99(s) > bound).count();
        if over * 10 > late_part.len() {
            wrong.push(format!(
                "{name} p99: {over} of {} late windows beyond {bound:.2} ms",
                late_part.len()
            ));
        }
    }
    wrong
}

/// A table of the thirds after the warm-up.
fn summarize(parts: &[&[Sample]; 3]) -> String {
    let mut out = String::from(
        "soak summary (after the warm-up; medians of each third, fds and connections min-max; \
         quiet: windows with other work under 0.5 core, others: cores it used)\n\
         third  windows  radiusd kB  fds    openvpn kB  fds    enforcer kB  fds    pg     \
         auth/s  p50    p99    acct/s  p50    p99    quiet  others\n",
    );
    for (name, part) in ["first", "middle", "last"].iter().zip(parts.iter()) {
        let med = |f: &dyn Fn(&Sample) -> f64| median(part.iter().map(f).collect());
        let range = |f: &dyn Fn(&Sample) -> i64| format!("{}-{}", min_of(part, f), max_of(part, f));
        out.push_str(&format!(
            "{name:<6} {:>7}  {:>10.0}  {:<5}  {:>10.0}  {:<5}  {:>11.0}  {:<5}  {:<5}  \
             {:>6.0}  {:<5.2}  {:<5.2}  {:>6.0}  {:<5.2}  {:<5.2}  {:>5}  {:.2}\n",
            part.len(),
            med(&|s| s.radiusd.rss_kb as f64),
            range(&|s| s.radiusd.fds as i64),
            med(&|s| s.openvpn.rss_kb as f64),
            range(&|s| s.openvpn.fds as i64),
            med(&|s| s.enforcer.rss_kb as f64),
            range(&|s| s.enforcer.fds as i64),
            range(&|s| s.pg_connections),
            med(&|s| s.auth_rate),
            med(&|s| s.auth_p50),
            med(&|s| s.auth_p99),
            med(&|s| s.acct_rate),
            med(&|s| s.acct_p50),
            med(&|s| s.acct_p99),
            part.iter().filter(|s| s.others_cores < QUIET_CORES).count(),
            med(&|s| s.others_cores),
        ));
    }
    out
}
