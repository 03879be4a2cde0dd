//! What rlm_netily itself costs per Access-Request, with no database: the same
//! radiusd and site with and without the module's authorize call, driven by a
//! small UDP load generator (radclient tops out near 5,000/s here).
//!
//! Ignored by default (it measures, it does not check behaviour). Run:
//!   cargo test -p netily-tests --release --test radius_overhead -- --ignored --nocapture --test-threads=1
//! It builds the module in release mode with `test-hooks`: the fixed test
//! subscriber makes authorize read the request and write control + reply
//! pairs, the full FFI path minus the database.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netily_tests::cdylib::Cdylib;
use netily_tests::freeradius::{self, Radiusd, RadiusdOptions};

const IN_FLIGHT: usize = 64;
const REQUESTS: usize = 30_000;

fn release_module() -> PathBuf {
    Cdylib {
        package: "rlm_netily",
        features: "test-hooks",
        release: true,
        target_dir: "radius-tests",
    }
    .build()
    .unwrap()
}

/// An Access-Request with only a User-Name (no password, so no MD5 is needed;
/// the site sets Auth-Type := Accept). The authenticator is unique per send:
/// a repeated (id, authenticator) would be answered from radiusd's duplicate
/// cache without running authorize. The reply is not verified, only counted.
fn access_request(id: u8, seq: u64, user: &str) -> Vec<u8> {
    let mut p = vec![1u8, id, 0, 0];
    p.extend(seq.to_be_bytes());
    p.extend(seq.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    p.push(1);
    p.push(u8::try_from(2 + user.len()).unwrap());
    p.extend(user.as_bytes());
    let len = u16::try_from(p.len()).unwrap().to_be_bytes();
    p[2] = len[0];
    p[3] = len[1];
    p
}

/// CPU seconds (user + system) radiusd has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

struct Run {
    per_second: f64,
    cpu_us_per_request: f64,
    lost: usize,
}

fn drive(server: &Radiusd, users: &[String]) -> Run {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", server.auth_port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut seq = 0u64;
    let mut next = |id: u8| {
        seq += 1;
        let user = &users[usize::try_from(seq).unwrap_or(0) % users.len()];
        access_request(id, seq, user)
    };
    // Warm up the thread pool.
    for id in 0..IN_FLIGHT {
        sock.send(&next(u8::try_from(id).unwrap())).unwrap();
    }
    let mut buf = [0u8; 4096];
    for _ in 0..IN_FLIGHT {
        let _ = sock.recv(&mut buf);
    }
    let cpu0 = cpu_seconds(server.pid());
    let start = Instant::now();
    let mut pending: HashMap<u8, ()> = HashMap::new();
    let (mut sent, mut done, mut lost) = (0usize, 0usize, 0usize);
    let mut next_id = 0u8;
    while done + lost < REQUESTS {
        while pending.len() < IN_FLIGHT && sent < REQUESTS {
            while pending.contains_key(&next_id) {
                next_id = next_id.wrapping_add(1);
            }
            sock.send(&next(next_id)).unwrap();
            pending.insert(next_id, ());
            next_id = next_id.wrapping_add(1);
            sent += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) if n >= 20 => {
                if pending.remove(&buf[1]).is_some() {
                    done += 1;
                }
            }
            Ok(_) => {}
            Err(_) => {
                // Timed out: count what is outstanding as lost and go on.
                lost += pending.len();
                pending.clear();
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.pid()) - cpu0;
    Run {
        per_second: done as f64 / elapsed,
        cpu_us_per_request: cpu * 1e6 / done.max(1) as f64,
        lost,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs both servers in alternation (other load on the machine hits both
/// alike) and reports the medians.
fn compare(a: (&str, &Radiusd, &[String]), b: (&str, &Radiusd, &[String])) -> [(f64, f64); 2] {
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..7 {
        runs[0].push(drive(a.1, a.2));
        runs[1].push(drive(b.1, b.2));
    }
    let mut out = [(0.0, 0.0); 2];
    for (i, label) in [a.0, b.0].into_iter().enumerate() {
        let rate = median(runs[i].iter().map(|r| r.per_second).collect());
        let cpu = median(runs[i].iter().map(|r| r.cpu_us_per_request).collect());
        let lost: usize = runs[i].iter().map(|r| r.lost).sum();
        println!(
            "{label:<46} median {rate:>8.0} req/s  {cpu:>6.1} us radiusd CPU/request  lost {lost}"
        );
        out[i] = (rate, cpu);
    }
    out
}

#[test]
#[ignore]
fn module_overhead_without_database() {
    let module = release_module();
    let with = |before: Option<&str>| RadiusdOptions {
        module: Some(module.clone()),
        before_netily: before.map(str::to_string),
        ..Default::default()
    };
    // Every variant accepts without a password (no reject_delay, no MD5).
    let accept = "\t\tupdate control {\n\t\t\t&Auth-Type := Accept\n\t\t}\n";
    // Baseline: the same pairs set by unlang, and netily not called for this user.
    let unlang = format!(
        "{accept}\t\tif (&User-Name == \"netily-bench\") {{\n\t\t\tupdate control {{\n\t\t\t\t&Cleartext-Password := \"netily-test-password\"\n\t\t\t}}\n\t\t\tupdate reply {{\n\t\t\t\t&Mikrotik-Rate-Limit := \"1M/2M\"\n\t\t\t\t&Session-Timeout := 3600\n\t\t\t\t&Mikrotik-Address-List := \"netily-a\"\n\t\t\t\t&Mikrotik-Address-List += \"netily-b\"\n\t\t\t}}\n\t\t\treturn\n\t\t}}"
    );
    let base = Radiusd::start_with(with(Some(&unlang))).unwrap();
    let netily = Radiusd::start_with(with(Some(accept))).unwrap();
    let [(base_rate, base_cpu), (rate, cpu)] = compare(
        (
            "unlang sets the same pairs (no netily call)",
            &base,
            &["netily-bench".to_string()],
        ),
        (
            "netily reads request, sets control+reply",
            &netily,
            &["netily-test-accept".to_string()],
        ),
    );
    println!(
        "netily authorize overhead vs unlang: {:+.1} us radiusd CPU/request, {:+.1} us wall/request at {IN_FLIGHT} in flight",
        cpu - base_cpu,
        1e6 / rate - 1e6 / base_rate,
    );
}

/// The real path: 10,000 subscribers in PostgreSQL, each login looked up in
/// netily-core's snapshot and decided by `decide`, against the unlang baseline.
#[test]
#[ignore]
fn real_decision_for_10000_subscribers() {
    use netily_core::db;
    use netily_tests::postgres::PgCluster;

    let module = release_module();
    let cluster = PgCluster::start();
    let url = cluster.create_database("netily_bench").unwrap();
    let mut conn = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db::migrate(&mut conn).unwrap();
    let vpn = netily_core::config::Config::default().vpn_network;
    db::seed_synthetic(&mut conn, 10_000, 0, &vpn, &mut |_, _| {}).unwrap();
    let dir =
        freeradius::workspace().join(format!("target/radius-tests/bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("netily.conf");
    // Walled garden on: overdue synthetic subscribers are accepted, not delayed
    // by reject_delay.
    std::fs::write(&conf, format!("database_url = {url}\nwalled_garden = on\n")).unwrap();
    // Every 100th synthetic subscriber is suspended (a reject): leave them out.
    let users: Vec<String> = (1..=10_000u32)
        .filter(|g| g % 100 != 0)
        .map(|g| format!("synth{g:07}"))
        .collect();
    let accept = "\t\tupdate control {\n\t\t\t&Auth-Type := Accept\n\t\t}\n";
    let unlang = format!(
        "{accept}\t\tupdate control {{\n\t\t\t&Cleartext-Password := \"x\"\n\t\t}}\n\t\tupdate reply {{\n\t\t\t&Mikrotik-Rate-Limit := \"1M/2M\"\n\t\t}}\n\t\treturn"
    );
    let opts = |before: &str| RadiusdOptions {
        module: Some(module.clone()),
        config_file: Some(conf.clone()),
        before_netily: Some(before.to_string()),
        ..Default::default()
    };
    let base = Radiusd::start_with(opts(&unlang)).unwrap();
    let netily = Radiusd::start_with(opts(accept)).unwrap();
    assert!(
        netily.log().contains("loaded 10000 subscriber(s)"),
        "{}",
        netily.log()
    );
    let [(base_rate, base_cpu), (rate, cpu)] = compare(
        ("unlang sets fixed pairs (no netily call)", &base, &users),
        ("netily snapshot lookup + decide + pairs", &netily, &users),
    );
    println!(
        "netily real decision vs unlang: {:+.1} us radiusd CPU/request, {:+.1} us wall/request at {IN_FLIGHT} in flight",
        cpu - base_cpu,
        1e6 / rate - 1e6 / base_rate,
    );
    drop((base, netily));
    let _ = std::fs::remove_dir_all(dir);
}
