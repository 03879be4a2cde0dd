//! `make bench-enforcer`: the enforcer under a plan change that moves many
//! online sessions at once, and the cost of a deadline tick.
//!
//! 1. A private PostgreSQL with N subscribers (all online: one open radacct
//!    session each, spread over R routers) of whom M are on plan
//!    `bench-target`; a real FreeRADIUS stands in for every router (it
//!    listens on all loopback addresses and answers every CoA-Request with
//!    an ACK, recording each).
//! 2. The enforcer as the service runs it (`netadmin enforce --follow`):
//!    the time to review every online session when it starts.
//! 3. `plan update bench-target --rate ...`: time from the commit until the
//!    stand-in NAS received the last of the M CoA-Requests, and until all
//!    M ACKs are recorded in coa_log; CoA/s; CPU seconds of the enforcer and
//!    of PostgreSQL meanwhile.
//! 4. In memory, no database: the enforcer's deadline heap holding D
//!    subscribers' deadlines; the cost of a tick with nothing due and with
//!    K due.
//!
//! Environment: BENCH_SUBSCRIBERS [100000] BENCH_CHANGED [10000]
//! BENCH_ROUTERS [10] BENCH_DEADLINES [1000000] BENCH_DUE [1000].

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime};

use netily_core::enforcer::{Enforcer, SendOptions, Settings};
use netily_core::model::Policy;
use netily_core::vpn_plan::VpnPlan;
use netily_tests::coa_nas::{CoaNas, CoaNasOptions};
use netily_tests::enforcer::EnforcerProcess;
use netily_tests::isp::Isp;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of `pid` in seconds (Linux /proc).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th fields of the line.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

/// CPU seconds of `root` and every process whose parent is `root`.
fn tree_cpu_seconds(root: u32) -> f64 {
    let mut total = cpu_seconds(root);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(root) {
                total += cpu_seconds(pid);
            }
        }
    }
    total
}

fn main() {
    let n = env("BENCH_SUBSCRIBERS", 100_000);
    let m = env("BENCH_CHANGED", 10_000).min(n);
    let routers = env("BENCH_ROUTERS", 10).clamp(1, 250);
    println!(
        "== enforcer: {n} online sessions, {m} of them on the plan that changes, {routers} routers"
    );

    let nas = CoaNas::start(CoaNasOptions {
        address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ..CoaNasOptions::default()
    })
    .expect("start the stand-in NAS");
    let mut isp = Isp::with_config(
        "bench_enforcer",
        "coa_source_address = 127.0.0.1\ncoa_per_router = 32\n",
    );
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "bench-base", "--rate", "5M/10M"]);
    isp.netadmin(&["plan", "add", "bench-target", "--rate", "10M/20M"]);
    let started = Instant::now();
    let mut sql = isp.sql();
    sql.batch_execute("SET netily.bulk = 'on'").unwrap();
    sql.execute(
        "INSERT INTO nas (nasname, shortname, type, secret, ports)
         SELECT '127.0.1.' || g, 'bench-' || g, 'other', 'coa-secret', $2::int
           FROM generate_series(1, $1::int) g",
        &[&(routers as i32), &i32::from(nas.addr().port())],
    )
    .unwrap();
    sql.execute(
        "WITH c AS (
            INSERT INTO customers (username, password, full_name, status)
            SELECT 'bench' || lpad(g::text, 7, '0'), 'pw', 'Bench ' || g, 'active'
              FROM generate_series(1, $1::bigint) g
            RETURNING id, username)
         INSERT INTO subscriptions (customer_id, plan_id, starts_at, cycle_start)
         SELECT c.id,
                (SELECT id FROM plans WHERE name = CASE WHEN substr(c.username, 6)::bigint <= $2
                                                       THEN 'bench-target' ELSE 'bench-base' END),
                now() - interval '1 day', now() - interval '1 day'
           FROM c",
        &[&(n as i64), &(m as i64)],
    )
    .unwrap();
    sql.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, framedipaddress,
                              acctstarttime, acctupdatetime, callingstationid)
         SELECT 'S' || g, 'U' || g, 'bench' || lpad(g::text, 7, '0'),
                ('127.0.1.' || (1 + g % $2::int))::inet, '10.0.0.0'::inet + g, now(), now(),
                ''
           FROM generate_series(1, $1::bigint) g",
        &[&(n as i64), &(routers as i32)],
    )
    .unwrap();
    sql.batch_execute("RESET netily.bulk").unwrap();
    sql.batch_execute("VACUUM ANALYZE").unwrap();
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let t0 = Instant::now();
    let enforcer = EnforcerProcess::start(isp.config(), "bench");
    assert!(
        enforcer.wait_for_log("reviewed every online session", Duration::from_secs(600)),
        "{}",
        enforcer.log()
    );
    println!(
        "start: snapshot load + review of {n} online sessions + grants saved: {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let pg_pid = isp.cluster().pid().expect("the cluster's pid");
    let (e0, p0) = (cpu_seconds(enforcer.pid()), tree_cpu_seconds(pg_pid));
    let committed = SystemTime::now();
    let t1 = Instant::now();
    isp.netadmin(&["plan", "update", "bench-target", "--rate", "7M/14M"]);
    let got = nas.wait_for(m as usize, Duration::from_secs(300));
    let last = got.iter().map(|p| p.received_at).max().unwrap_or(committed);
    let sent = last.duration_since(committed).unwrap_or_default();
    let mut acked = 0i64;
    while t1.elapsed() < Duration::from_secs(300) {
        acked = sql
            .query_one(
                "SELECT count(*) FROM coa_log WHERE outcome = 'ack' AND kind = 'coa'",
                &[],
            )
            .unwrap()
            .get(0);
        if acked >= m as i64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let recorded = t1.elapsed();
    let (e1, p1) = (cpu_seconds(enforcer.pid()), tree_cpu_seconds(pg_pid));
    let right = got
        .iter()
        .filter(|p| p.rate_limit.as_deref() == Some("7M/14M"))
        .count();
    println!(
        "plan update: {} CoA-Requests received by the NAS ({right} with the new rate) {:.2} s after the commit \
         ({:.0} CoA/s); {acked} ACKs recorded after {:.2} s",
        got.len(),
        sent.as_secs_f64(),
        got.len() as f64 / sent.as_secs_f64().max(0.001),
        recorded.as_secs_f64()
    );
    println!(
        "CPU meanwhile: enforcer {:.2} s, PostgreSQL {:.2} s",
        e1 - e0,
        p1 - p0
    );
    drop(enforcer);

    deadline_tick();
}

/// The deadline heap alone: D subscribers' deadlines, then ticks.
fn deadline_tick() {
    let d = env("BENCH_DEADLINES", 1_000_000);
    let k = env("BENCH_DUE", 1_000).min(d);
    let mut e = Enforcer::new(Settings {
        policy: Policy::default(),
        plan: VpnPlan::default(),
        vpn_source: None,
        send: SendOptions::default(),
        retry_after: 60,
    });
    let now = 1_800_000_000i64;
    let names: Vec<String> = (0..d).map(|i| format!("user{i:07}")).collect();
    let t = Instant::now();
    for (i, name) in names.iter().enumerate() {
        // k of them due now, the rest spread over the next 30 days.
        let at = if (i as u64) < k {
            now
        } else {
            now + 1 + (i as i64 * 7919) % (30 * 86_400)
        };
        e.schedule(name, at);
    }
    println!(
        "deadlines: {d} scheduled in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let none = e.due(now - 1);
    let idle = t.elapsed();
    let t = Instant::now();
    let due = e.due(now);
    let busy = t.elapsed();
    println!(
        "deadline tick with {d} subscribers scheduled: nothing due {:?} ({} popped), {} due {:?} ({:.2} µs each)",
        idle,
        none.len(),
        due.len(),
        busy,
        busy.as_secs_f64() * 1e6 / due.len().max(1) as f64
    );
}
