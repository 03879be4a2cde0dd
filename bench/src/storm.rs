//! The reconnect storm: a NAS with N subscribers online restarts. It sends
//! Accounting-On, then every subscriber dials in again at once: an
//! Access-Request, and on Access-Accept an Accounting-Start, with a bounded
//! number in flight and retransmits on timeout (the engine's `Login` mode).
//!
//! Timed from the Accounting-On's first send: the last Access-Accept, the
//! last Start answered, and the moment `radacct` (polled from the
//! database once the NAS has its answers) holds one open session for every
//! subscriber and none from before the restart. A server that answers
//! before it writes (Netily's journal) is recorded later than it answers;
//! one that writes before it answers (rlm_sql) is recorded by then.
//!
//! Before the storm the NAS boots once the same way, untimed: an
//! Accounting-On closes whatever an earlier run left open on it, then the
//! N subscribers log in, and the storm waits until they are recorded.
//! Afterwards the database is checked: every subscriber has exactly one
//! open session (the storm's), and every session from before the restart
//! is closed at the Accounting-On's time with cause NAS-Reboot.

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::cpu;
use crate::engine::{self, Mode, Plan, Tally};
use crate::percentile;
use crate::workload::Rng;

/// What `radload --mode storm` was asked for.
pub struct Storm {
    /// Subscribers of the NAS: the first this many of the (shuffled) file.
    pub subscribers: usize,
    pub threads: usize,
    /// Where radacct is, and its name there (e.g. `stock.radacct`).
    pub db_url: String,
    pub table: String,
    /// How long to wait for radacct to hold what was answered.
    pub record_timeout: Duration,
}

/// One query's counts (every column a bigint).
type Query<'a> = dyn FnMut(&str) -> Result<Vec<i64>, String> + 'a;

/// Runs the storm; the report, and whether the database was left right.
pub fn run(s: &Storm, base: &Plan, rng: &mut Rng) -> Result<(Value, bool), String> {
    let n = s.subscribers;
    if n == 0 || n > base.subscribers.len() {
        return Err(format!(
            "--subscribers: 1 to {} (the users file's)",
            base.subscribers.len()
        ));
    }
    if !s
        .table
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err("--db-table: a table name (letters, digits, _ and .)".into());
    }
    let mut client = netily_core::db::pool::connect(&s.db_url, Duration::from_secs(10))
        .map_err(|e| format!("--db-url: {e}"))?;
    let mut query = move |sql: &str| -> Result<Vec<i64>, String> {
        let row = client
            .query_one(sql, &[])
            .map_err(|e| format!("querying radacct: {e}"))?;
        (0..row.len())
            .map(|i| row.try_get(i).map_err(|e| format!("querying radacct: {e}")))
            .collect()
    };
    let nas = Ipv4Addr::from(base.nas.ip);
    let on_nas = format!("{} WHERE nasipaddress = '{nas}'", s.table);

    // Boot: close what earlier runs left open on this NAS, let the servers'
    // caches follow (Netily's snapshot: tens of milliseconds), log in. Sent
    // once and not required to be answered: with nothing to close, stock
    // rlm_sql's accounting is `noop` and FreeRADIUS sends no reply.
    on_once(
        &Plan {
            tries: 1,
            timeout: Duration::from_secs(1),
            ..base.clone()
        },
        rng,
    )?;
    let closed = format!("SELECT count(*) FROM {on_nas} AND acctstoptime IS NULL");
    if poll(&mut query, &closed, s.record_timeout, |c| c[0] == 0)?.is_none() {
        return Err(format!(
            "the first Accounting-On did not close NAS {nas}'s sessions in {} s",
            s.record_timeout.as_secs()
        ));
    }
    thread::sleep(Duration::from_secs(1));
    let before_tag = rng.next_u64() as u32;
    let boot = Instant::now();
    let before = login(s, base, before_tag, rng)?;
    if before.accepts != n as u64 || before.acct_responses != n as u64 {
        return Err(format!(
            "before the storm only {} of {n} subscribers were accepted and {} Starts answered \
             ({} rejects, {} given up): the users file must list subscribers the server admits",
            before.accepts, before.acct_responses, before.rejects, before.gave_up
        ));
    }
    let online = open_sessions(&on_nas, before_tag);
    let Some(before_recorded) = poll(&mut query, &online, s.record_timeout, |c| {
        c[0] == n as i64 && c[1] == n as i64 && c[2] == 0
    })?
    else {
        return Err(format!(
            "before the storm: the {n} Starts were not all in {} within {} s",
            s.table,
            s.record_timeout.as_secs()
        ));
    };

    // The restart.
    let on_from = unix_now();
    let on = on_once(base, rng)?;
    if on.acct_responses != 1 {
        return Err(format!(
            "the storm's Accounting-On not answered ({} tries of {} ms)",
            base.tries,
            base.timeout.as_millis()
        ));
    }
    let on_until = unix_now() + 1;
    let t0 = on.first_send.unwrap_or_else(Instant::now);
    let storm_tag = loop {
        let t = rng.next_u64() as u32;
        if t != before_tag {
            break t;
        }
    };
    let drops0 = cpu::udp_rcvbuf_errors();
    let mut storm = login(s, base, storm_tag, rng)?;
    let udp_drops = cpu::udp_rcvbuf_errors().saturating_sub(drops0);
    let answered = storm.last_reply.unwrap_or(t0);
    let online = open_sessions(&on_nas, storm_tag);
    let recorded = poll(&mut query, &online, s.record_timeout, |c| {
        c[0] == n as i64 && c[1] == n as i64 && c[2] == 0
    })?;

    // Left right?
    let (st, bt) = (
        format!("'{storm_tag:08X}%'"),
        format!("'{before_tag:08X}%'"),
    );
    let c = query(&format!(
        "SELECT count(*) FILTER (WHERE acctsessionid LIKE {st}),
                count(*) FILTER (WHERE acctsessionid LIKE {st} AND acctstoptime IS NULL),
                count(DISTINCT username) FILTER (WHERE acctsessionid LIKE {st} AND acctstoptime IS NULL),
                count(*) FILTER (WHERE acctsessionid LIKE {st} AND acctstarttime < to_timestamp({on_from})),
                count(*) FILTER (WHERE acctsessionid LIKE {bt}),
                count(*) FILTER (WHERE acctsessionid LIKE {bt} AND acctstoptime IS NOT NULL),
                count(*) FILTER (WHERE acctsessionid LIKE {bt} AND acctterminatecause = 'NAS-Reboot'
                                   AND acctstoptime BETWEEN to_timestamp({on_from}) AND to_timestamp({on_until})),
                count(*) FILTER (WHERE acctstoptime IS NULL AND acctsessionid NOT LIKE {st})
           FROM {on_nas}"
    ))?;
    let anywhere = query(&format!(
        "SELECT count(*) FROM {} WHERE acctstoptime IS NULL AND username IN
            (SELECT username FROM {on_nas} AND acctsessionid LIKE {st})",
        s.table
    ))?[0];
    let [storm_rows, storm_open, storm_users, started_early, before_rows, before_closed, closed_at_on, other_open] =
        c[..]
    else {
        return Err("querying radacct: not 8 columns".into());
    };
    let n64 = n as i64;
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    expect(
        storm.accepts == n as u64 && storm.acct_responses == n as u64,
        format!(
            "the storm: {} of {n} accepted, {} Starts answered ({} rejects, {} given up)",
            storm.accepts, storm.acct_responses, storm.rejects, storm.gave_up
        ),
    );
    expect(
        recorded.is_some(),
        format!(
            "radacct did not hold the storm's sessions within {} s (or stopped changing for {} s)",
            s.record_timeout.as_secs(),
            STALLED.as_secs()
        ),
    );
    expect(
        storm_rows == n64,
        format!("{storm_rows} sessions of the storm in radacct, expected {n}"),
    );
    expect(
        storm_open == n64 && storm_users == n64,
        format!("{storm_open} storm sessions open ({storm_users} subscribers), expected {n}"),
    );
    expect(
        anywhere == n64,
        format!("the subscribers hold {anywhere} open sessions in all, expected one each ({n})"),
    );
    expect(
        started_early == 0,
        format!("{started_early} storm sessions start before the Accounting-On"),
    );
    expect(
        before_rows == n64 && before_closed == n64,
        format!("{before_closed} of the {before_rows} sessions from before the restart closed, expected {n}"),
    );
    expect(
        closed_at_on == before_closed,
        format!(
            "{} sessions from before the restart closed, but not at the Accounting-On's time with NAS-Reboot",
            before_closed - closed_at_on
        ),
    );
    expect(
        other_open == 0,
        format!("{other_open} other sessions open on NAS {nas}"),
    );
    let ok = problems.is_empty();

    let secs = |at: Option<Instant>| at.map(|a| a.saturating_duration_since(t0).as_secs_f64());
    // When the 99th of each hundred subscribers was through: the time
    // without the last few, whose packets a full socket buffer may have
    // dropped and the NAS sent again only after its timeout.
    let p99 = |times: &mut Vec<Instant>| {
        times.sort_unstable();
        let k = (n * 99).div_ceil(100);
        secs(times.get(k.max(1) - 1).copied())
    };
    let mut lat = std::mem::take(&mut storm.latencies_us);
    lat.sort_unstable();
    let report = json!({
        "mode": "storm",
        "server": base.server.to_string(),
        "acct_server": base.acct_server.to_string(),
        "nas_ip": nas.to_string(),
        "subscribers": n,
        "window": base.window * s.threads,
        "threads": s.threads,
        "timeout_ms": base.timeout.as_millis() as u64,
        "tries": base.tries,
        "before": {
            "tally": summary(&before),
            "recorded_s": before_recorded.saturating_duration_since(boot).as_secs_f64(),
        },
        "accounting_on": {
            "answered_ms": on.latencies_us.first().map(|&us| f64::from(us) / 1000.0),
            "retransmits": on.retransmits,
        },
        "storm": summary(&storm),
        // Where the timeouts went: requests the kernel dropped at a full
        // socket buffer (radiusd's, mostly), on the whole machine.
        "udp_rcvbuf_drops_machine": udp_drops,
        "last_accept_s": secs(storm.last_accept),
        "last_start_s": secs(storm.last_acct_response),
        "accepted_99_s": p99(&mut storm.accepted_at),
        "started_99_s": p99(&mut storm.started_at),
        "answered_s": secs(Some(answered)),
        "recorded_s": secs(recorded),
        "latency_ms": {
            "p50": percentile(&lat, 50.0),
            "p99": percentile(&lat, 99.0),
            "max": lat.last().map_or(0.0, |&v| f64::from(v) / 1000.0),
        },
        "check": {
            "storm_sessions": storm_rows,
            "storm_open": storm_open,
            "storm_open_subscribers": storm_users,
            "open_anywhere": anywhere,
            "storm_started_before_on": started_early,
            "before_sessions": before_rows,
            "before_closed": before_closed,
            "before_closed_at_on": closed_at_on,
            "other_open": other_open,
            "problems": problems,
        },
        "ok": ok,
    });
    Ok((report, ok))
}

/// The counts a storm report gives of one phase.
fn summary(t: &Tally) -> Value {
    json!({
        "sent": t.sent,
        "accepts": t.accepts,
        "rejects": t.rejects,
        "starts_answered": t.acct_responses,
        "other_codes": t.other_codes,
        "timeouts": t.timeouts,
        "retransmits": t.retransmits,
        "gave_up": t.gave_up,
        "bad_replies": t.bad_replies,
        "send_errors": t.send_errors,
    })
}

/// The open sessions of the NAS: those of `tag`'s run, their subscribers,
/// and any other.
fn open_sessions(on_nas: &str, tag: u32) -> String {
    let mine = format!("acctsessionid LIKE '{tag:08X}%'");
    format!(
        "SELECT count(*) FILTER (WHERE {mine}), count(DISTINCT username) FILTER (WHERE {mine}),
                count(*) FILTER (WHERE NOT {mine})
           FROM {on_nas} AND acctstoptime IS NULL"
    )
}

/// Every subscriber dials in once (the engine's Login mode, split over the threads).
fn login(s: &Storm, base: &Plan, run_tag: u32, rng: &mut Rng) -> Result<Tally, String> {
    let plan = Plan {
        mode: Mode::Login,
        count: Some(s.subscribers as u64),
        duration: None,
        rate: 0.0,
        run_tag,
        ..base.clone()
    };
    engine::run_threads(&plan, s.threads, s.subscribers, rng)
}

/// An Accounting-On, retransmitted until answered or its tries run out.
fn on_once(base: &Plan, rng: &mut Rng) -> Result<Tally, String> {
    let plan = Plan {
        mode: Mode::NasOn,
        server: base.acct_server,
        count: Some(1),
        duration: None,
        rate: 0.0,
        window: 1,
        ..base.clone()
    };
    engine::run_threads(&plan, 1, 1, rng)
}

/// Counts that stay the same this long will not change (a session closed
/// by mistake is never reopened): the poll gives up before its timeout.
const STALLED: Duration = Duration::from_secs(30);

/// Runs `sql` every 50 ms until `done` holds of its counts: when the query
/// that saw it began, or None after `timeout` or once they stall.
fn poll(
    query: &mut Query<'_>,
    sql: &str,
    timeout: Duration,
    done: impl Fn(&[i64]) -> bool,
) -> Result<Option<Instant>, String> {
    let until = Instant::now() + timeout;
    let mut last: (Vec<i64>, Instant) = (Vec::new(), Instant::now());
    loop {
        let at = Instant::now();
        let counts = query(sql)?;
        if done(&counts) {
            return Ok(Some(at));
        }
        if counts != last.0 {
            last = (counts, at);
        }
        if at >= until || at.duration_since(last.1) >= STALLED {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
