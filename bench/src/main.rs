//! radload: a light RADIUS load generator for `make bench`.
//!
//! It sends PAP Access-Requests or accounting sessions (Start, Interim,
//! Stop) for the subscribers in a file, keeps a window of requests in
//! flight (or paces them at a target rate), verifies every reply's
//! authenticator, and reports throughput, latency percentiles and the CPU
//! it used itself, so a run can tell whether the generator was the
//! bottleneck. `--mode storm` is the reconnect storm (storm.rs): a NAS
//! restarts and all its subscribers dial in again at once.

mod cpu;
mod engine;
mod storm;
mod workload;

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::json;

use engine::{Mode, Plan};
use workload::{Nas, Rng};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Access-Request, PAP
    Auth,
    /// Accounting sessions: Start, Interim-Update(s), Stop
    Acct,
    /// Reconnect storm: a NAS with --subscribers online sends Accounting-On,
    /// then each subscriber Access-Request and, on Accept, Accounting-Start;
    /// timed until answered and until recorded in --db-table
    Storm,
}

#[derive(Debug, Parser)]
#[command(
    name = "radload",
    version,
    about = "RADIUS load generator: PAP Access-Requests or accounting sessions"
)]
struct Args {
    /// RADIUS server, e.g. 127.0.0.1:1812
    #[arg(long)]
    server: String,
    /// Storm: where its Accounting-Requests go [default: --server]
    #[arg(long)]
    acct_server: Option<String>,
    /// Shared secret
    #[arg(long, default_value = "testing123")]
    secret: String,
    /// Subscribers: `username<TAB>password` per line
    #[arg(long, value_name = "FILE")]
    users: PathBuf,
    #[arg(long, value_enum, default_value_t = Kind::Auth)]
    mode: Kind,
    /// Accounting: Interim-Updates per session between Start and Stop
    #[arg(long, default_value_t = 1)]
    interims: u32,
    /// Stop sending after this many seconds
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Stop sending after this many requests
    #[arg(long)]
    count: Option<u64>,
    /// Requests per second to pace at; 0 = as fast as the server answers
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Requests in flight at most (all threads)
    #[arg(long, default_value_t = 128)]
    window: usize,
    /// UDP sockets per thread (256 identifiers each) [default: enough for the window, at least 2]
    #[arg(long)]
    sockets: Option<usize>,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Give up on a request (or send it again: --tries) after this long
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    timeout_ms: u64,
    /// Sends of a request at most, as a NAS retransmits (1 = never again)
    #[arg(long, default_value_t = 1)]
    tries: u32,
    /// Storm: the NAS's subscribers (the first N of the shuffled users file)
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Storm: PostgreSQL URL of the database the server records accounting in
    #[arg(long, value_name = "URL")]
    db_url: Option<String>,
    /// Storm: the radacct table there, e.g. stock.radacct
    #[arg(long, default_value = "radacct")]
    db_table: String,
    /// Storm: how long to wait for radacct to hold what was answered
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    record_timeout: u64,
    /// Add Message-Authenticator to Access-Requests
    #[arg(long)]
    message_authenticator: bool,
    /// NAS-IP-Address to send
    #[arg(long, default_value = "127.0.0.1")]
    nas_ip: Ipv4Addr,
    /// Order of subscribers (they are shuffled with this seed)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also report the CPU of a process: NAME=PID, or NAME=PID+ to include its children
    #[arg(long, value_name = "NAME=PID[+]")]
    watch: Vec<cpu::Watch>,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn address(option: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .to_socket_addrs()
        .map_err(|e| format!("{option} {value}: {e}"))?
        .next()
        .ok_or_else(|| format!("{option} {value}: no address"))
}

fn run(args: Args) -> Result<bool, String> {
    if args.duration.is_none() && args.count.is_none() && args.mode != Kind::Storm {
        return Err("give --duration SECONDS or --count N (or both)".into());
    }
    if let Some(d) = args.duration {
        if !(d > 0.0 && d < 86_400.0) {
            return Err("--duration: seconds, more than 0 and less than 86400".into());
        }
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err("--rate: requests per second, 0 or more".into());
    }
    if args.threads == 0 || args.threads > 64 {
        return Err("--threads: 1 to 64".into());
    }
    if args.window < args.threads {
        return Err("--window: at least one per thread".into());
    }
    if args.timeout_ms == 0 {
        return Err("--timeout-ms: more than 0".into());
    }
    if !(1..=10).contains(&args.tries) {
        return Err("--tries: 1 to 10".into());
    }
    let server = address("--server", &args.server)?;
    let acct_server = match &args.acct_server {
        Some(a) => address("--acct-server", a)?,
        None => server,
    };
    let mut subs = workload::read_subscribers(&args.users)?;
    Rng::new(args.seed).shuffle(&mut subs);
    let subs = Arc::new(subs);
    let per_thread_window = args.window / args.threads;
    let sockets = args
        .sockets
        .unwrap_or_else(|| per_thread_window.div_ceil(200).max(2));
    if sockets == 0 || sockets * 256 < per_thread_window {
        return Err(format!(
            "--sockets: {per_thread_window} in flight per thread needs at least {} sockets",
            per_thread_window.div_ceil(256)
        ));
    }
    let mode = match args.mode {
        Kind::Auth => Mode::Auth,
        Kind::Acct => Mode::Acct {
            interims: args.interims,
        },
        Kind::Storm => Mode::Login,
    };
    let nas = Nas {
        secret: args.secret.as_bytes().to_vec(),
        ip: args.nas_ip.octets(),
        message_authenticator: args.message_authenticator,
    };
    let mut rng = Rng::from_os();
    let run_tag = rng.next_u64() as u32;

    let before: Vec<_> = args.watch.iter().map(|w| w.sample()).collect();
    let machine0 = cpu::Machine::sample();
    let drops0 = cpu::udp_rcvbuf_errors();
    let cpu0 = cpu::own_cpu();
    let wall0 = Instant::now();
    let plan = Plan {
        server,
        acct_server,
        mode,
        sockets,
        window: per_thread_window,
        rate: args.rate,
        duration: args.duration.map(Duration::from_secs_f64),
        count: args.count,
        timeout: Duration::from_millis(args.timeout_ms),
        tries: args.tries,
        nas,
        subscribers: subs.clone(),
        first_subscriber: 0,
        thread: 0,
        run_tag,
        seed: 0,
    };
    if args.mode == Kind::Storm {
        let storm = storm::Storm {
            subscribers: args.subscribers,
            threads: args.threads,
            db_url: args
                .db_url
                .clone()
                .ok_or("--mode storm needs --db-url (radacct is checked)")?,
            table: args.db_table.clone(),
            record_timeout: Duration::from_secs(args.record_timeout),
        };
        let (report, ok) = storm::run(&storm, &plan, &mut rng)?;
        if args.json {
            println!("{report}");
        } else {
            println!("{report:#}");
        }
        return Ok(ok);
    }
    let mut tally = engine::run_threads(&plan, args.threads, subs.len(), &mut rng)?;
    let wall = wall0.elapsed();
    let own = cpu::own_cpu() - cpu0;
    let (busy, steal) = machine0.used(&cpu::Machine::sample());
    let udp_drops = cpu::udp_rcvbuf_errors().saturating_sub(drops0);
    let watched: Vec<(String, f64)> = args
        .watch
        .iter()
        .zip(&before)
        .map(|(w, b)| {
            (
                w.name.clone(),
                w.used(b, &w.sample()).as_secs_f64() / wall.as_secs_f64(),
            )
        })
        .collect();

    let mut lat = std::mem::take(&mut tally.latencies_us);
    lat.sort_unstable();
    let span = match (tally.first_send, tally.last_reply) {
        (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let replies = tally.replies();
    let throughput = if span > 0.0 {
        replies as f64 / span
    } else {
        0.0
    };
    let mean = if lat.is_empty() {
        0.0
    } else {
        lat.iter().map(|&v| f64::from(v)).sum::<f64>() / lat.len() as f64 / 1000.0
    };
    let gen_cores = own.as_secs_f64() / wall.as_secs_f64();
    let busy_cores = busy.as_secs_f64() / wall.as_secs_f64();
    let steal_cores = steal.as_secs_f64() / wall.as_secs_f64();
    let (p50, p90, p99, p999) = (
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
    );
    let max = lat.last().map_or(0.0, |&v| f64::from(v) / 1000.0);
    let mode_name = match args.mode {
        Kind::Auth => "auth",
        Kind::Acct => "acct",
        Kind::Storm => "storm",
    };

    if args.json {
        let mut cpu_watch = serde_json::Map::new();
        for (n, c) in &watched {
            cpu_watch.insert(n.clone(), json!(c));
        }
        let v = json!({
            "mode": mode_name,
            "server": server.to_string(),
            "threads": args.threads,
            "sockets_per_thread": sockets,
            "window": args.window,
            "target_rate": args.rate,
            "subscribers": subs.len(),
            "seconds": span,
            "wall_seconds": wall.as_secs_f64(),
            "sent": tally.sent,
            "replies": replies,
            "accepts": tally.accepts,
            "accepts_with_rate_limit": tally.accepts_with_rate,
            "rejects": tally.rejects,
            "acct_responses": tally.acct_responses,
            "other_codes": tally.other_codes,
            "timeouts": tally.timeouts,
            "retransmits": tally.retransmits,
            "gave_up": tally.gave_up,
            "bad_replies": tally.bad_replies,
            "unmatched": tally.unmatched,
            "skipped": tally.skipped,
            "send_errors": tally.send_errors,
            "udp_rcvbuf_drops_machine": udp_drops,
            "throughput": throughput,
            "latency_ms": {"mean": mean, "p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max},
            "cpu_cores": {
                "radload": gen_cores,
                "watched": cpu_watch,
                "machine_busy": busy_cores,
                "machine_steal": steal_cores,
                "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            },
        });
        println!("{v}");
    } else {
        let pace = if args.rate > 0.0 {
            format!("paced at {:.0}/s", args.rate)
        } else {
            "saturating".to_string()
        };
        println!(
            "radload {mode_name} -> {server}: {span:.1} s, {} subscribers, window {} ({} thread(s) x {sockets} sockets), {pace}",
            subs.len(),
            args.window,
            args.threads
        );
        println!(
            "  sent {}  replies {replies} (accept {} [{} with Mikrotik-Rate-Limit], reject {}, accounting {}, other {})",
            tally.sent,
            tally.accepts,
            tally.accepts_with_rate,
            tally.rejects,
            tally.acct_responses,
            tally.other_codes
        );
        println!(
            "  timeouts {} (retransmitted {}, given up {})  bad replies {}  unmatched {}  skipped (window full) {}  send errors {}  UDP receive-buffer drops (whole machine) {udp_drops}",
            tally.timeouts, tally.retransmits, tally.gave_up, tally.bad_replies, tally.unmatched, tally.skipped, tally.send_errors
        );
        println!(
            "  throughput {throughput:.0}/s  latency ms: mean {mean:.3} p50 {p50:.3} p90 {p90:.3} p99 {p99:.3} p99.9 {p999:.3} max {max:.3}"
        );
        let mut line = format!("  CPU (cores): radload {gen_cores:.2}");
        for (n, c) in &watched {
            line += &format!(", {n} {c:.2}");
        }
        line += &format!("; whole machine busy {busy_cores:.2}, steal {steal_cores:.2}");
        println!("{line}");
    }
    Ok(true)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        // The storm left the database wrong: its report says how.
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("radload: {e}");
            ExitCode::from(2)
        }
    }
}
