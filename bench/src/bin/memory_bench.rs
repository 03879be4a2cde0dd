//! `make bench-memory`, the real servers: what the subscriber snapshot costs
//! radiusd at N subscribers, and how soon a started radiusd serves.
//!
//! 1. A private PostgreSQL with two databases: one migrated and empty, one
//!    with N synthetic subscribers (`netadmin seed synthetic`).
//! 2. radiusd with the release rlm_netily on the empty one: its RSS once
//!    started is the baseline a subscriber's bytes are counted over.
//! 3. Per round, radiusd on the big one, started from nothing:
//!    - from the launch until the first Access-Request (a real subscriber's
//!      PAP login, polled every 20 ms) gets its Access-Accept, how many
//!      polls got another answer or none, and the error lines it logged;
//!    - the snapshot's load time (its own log line), then RSS, and the
//!      peak (VmHWM) of the start;
//!    - a full resync (`NOTIFY netily_changed 'customers *'`, what a bulk
//!      change or a reconnect does): its time, the peak RSS during it
//!      (VmHWM reset through /proc/PID/clear_refs first) and the logins
//!      answered meanwhile.
//!
//! Environment: BENCH_SUBSCRIBERS [1000000] BENCH_ROUNDS [2]
//! BENCH_NETILY_MODULE [target/release/librlm_netily.so] (e.g. an older
//! build, to compare) NETILY_NETADMIN (netadmin to seed with; default: a
//! debug build).

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use netily_core::radius;
use netily_tests::freeradius::{self, Radiusd, RadiusdOptions};
use netily_tests::isp::Isp;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A kB field of /proc/PID/status, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resets VmHWM to the current RSS (Linux: clear_refs 5).
fn reset_peak(pid: u32) {
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Synthetic subscriber `i`'s credentials, as `seed synthetic` makes them.
fn synthetic(i: u64) -> (String, String) {
    let password = Md5::digest(i.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (format!("synth{i:07}"), password)
}

/// One PAP login: Some(true) accepted, Some(false) another answer, None
/// no answer within the timeout.
fn login(server: &Radiusd, user: &(String, String), timeout: Duration) -> Option<bool> {
    freeradius::raw_pap(
        server.auth_port,
        freeradius::SECRET,
        &user.0,
        &user.1,
        true,
        timeout,
    )
    .ok()
    .flatten()
    .map(|r| r.code == radius::ACCESS_ACCEPT)
}

/// The millisecond figures of the snapshot's "loaded" log lines, in order
/// (whole lines only: the log may be read while a line is being written).
fn load_lines(log: &str) -> Vec<u64> {
    log.split_inclusive('\n')
        .filter_map(|l| {
            let rest = l.split("subscriber snapshot loaded: ").nth(1)?;
            let ms = rest.split(" in ").nth(1)?.strip_suffix(" ms\n")?;
            ms.trim().parse().ok()
        })
        .collect()
}

fn wait_for_loads(server: &Radiusd, count: usize, limit: Duration) -> Vec<u64> {
    let deadline = Instant::now() + limit;
    loop {
        let loads = load_lines(&server.log());
        if loads.len() >= count || Instant::now() > deadline {
            return loads;
        }
        sleep(Duration::from_millis(20));
    }
}

fn error_lines(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Error") || l.contains("ERROR"))
        .count()
}

fn start(module: &Path, config: &Path) -> Radiusd {
    Radiusd::start_with(RadiusdOptions {
        module: Some(module.to_owned()),
        config_file: Some(config.to_owned()),
        ..Default::default()
    })
    .expect("start radiusd")
}

fn main() {
    let n = env("BENCH_SUBSCRIBERS", 1_000_000);
    let rounds = env("BENCH_ROUNDS", 2);
    let root = freeradius::workspace();
    let module = std::env::var_os("BENCH_NETILY_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/librlm_netily.so"));
    let idle_isp = Isp::new("mem_idle");
    idle_isp.netadmin(&["migrate"]);
    let isp = Isp::new("mem_big");
    isp.netadmin(&["migrate"]);
    let seeding = Instant::now();
    isp.netadmin(&["seed", "synthetic", "--subscribers", &n.to_string()]);
    let mut sql = isp.sql();
    sql.batch_execute("VACUUM ANALYZE").expect("vacuum");
    eprintln!(
        "memory bench: {n} subscribers seeded in {:.0} s; module {}",
        seeding.elapsed().as_secs_f64(),
        module.display()
    );

    let idle = {
        let server = start(&module, idle_isp.config());
        sleep(Duration::from_secs(2));
        status_bytes(server.pid(), "VmRSS")
    };
    println!("idle radiusd (no subscribers): RSS {:.1} MiB", mib(idle));

    // Every 97th subscriber: all of them active and paid up.
    let users: Vec<(String, String)> = (1..=n)
        .step_by(97)
        .filter(|i| i % 100 != 0 && i % 10 != 0)
        .take(1000)
        .map(synthetic)
        .collect();
    let poll = Duration::from_millis(20);
    for round in 1..=rounds {
        let launched = Instant::now();
        let server = start(&module, isp.config());
        let ready = launched.elapsed();
        let (mut refused, mut unanswered, mut first) = (0u32, 0u32, None);
        while first.is_none() && launched.elapsed() < Duration::from_secs(60) {
            let user = &users[(refused + unanswered) as usize % users.len()];
            match login(&server, user, poll) {
                Some(true) => first = Some(launched.elapsed()),
                Some(false) => refused += 1,
                None => unanswered += 1,
            }
        }
        let load_ms = wait_for_loads(&server, 1, Duration::from_secs(120));
        sleep(Duration::from_secs(1));
        let pid = server.pid();
        let (rss, start_peak) = (status_bytes(pid, "VmRSS"), status_bytes(pid, "VmHWM"));
        let start_errors = error_lines(&server.log());

        reset_peak(pid);
        let resync = Instant::now();
        sql.batch_execute("NOTIFY netily_changed, 'customers *'")
            .expect("notify");
        let (mut answered, mut not) = (0u32, 0u32);
        let mut loads = load_ms.clone();
        while loads.len() < load_ms.len() + 1 && resync.elapsed() < Duration::from_secs(120) {
            let user = &users[(answered + not) as usize % users.len()];
            match login(&server, user, Duration::from_millis(500)) {
                Some(true) => answered += 1,
                _ => not += 1,
            }
            // radiusd keeps each request 5 s after answering it
            // (cleanup_delay): a fast poll would fill max_requests.
            sleep(Duration::from_millis(10));
            loads = load_lines(&server.log());
        }
        let resync_seen = (loads.len() > load_ms.len()).then(|| resync.elapsed());
        sleep(Duration::from_millis(500));
        let (after, resync_peak) = (status_bytes(pid, "VmRSS"), status_bytes(pid, "VmHWM"));
        let per = |bytes: u64| bytes.saturating_sub(idle) as f64 / n as f64;
        println!(
            "round {round}: ready after {:.2} s; first Access-Accept after {} (polls before it: \
             {refused} refused, {unanswered} unanswered within {} ms); {start_errors} error lines",
            ready.as_secs_f64(),
            first.map_or("never".into(), |f| format!("{:.2} s", f.as_secs_f64())),
            poll.as_millis()
        );
        println!(
            "round {round}: snapshot loaded in {} ms; RSS {:.1} MiB ({:.0} B/subscriber over idle), \
             peak while starting {:.1} MiB ({:.0} B/subscriber)",
            load_ms.first().copied().unwrap_or(0),
            mib(rss),
            per(rss),
            mib(start_peak),
            per(start_peak)
        );
        println!(
            "round {round}: full resync in {} ms ({} from the NOTIFY); peak during it {:.1} MiB \
             ({:.0} B/subscriber), RSS after {:.1} MiB; logins during it: {answered} accepted, \
             {not} not",
            loads.get(load_ms.len()).copied().unwrap_or(0),
            resync_seen.map_or("not seen in 120 s".into(), |t| format!(
                "{:.2} s",
                t.as_secs_f64()
            )),
            mib(resync_peak),
            per(resync_peak),
            mib(after)
        );
    }
}
