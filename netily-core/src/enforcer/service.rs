//! The long-running enforcer (`netadmin enforce --follow`): one acts at a
//! time, anywhere.
//!
//! Every node runs the same loop. It keeps a subscriber snapshot (the one
//! rlm_netily uses, told what each batch of notifications changed) and
//! tries, every `poll`, to take the enforcer's advisory lock on a
//! connection of its own. The node that holds it acts; the others wait.
//! PostgreSQL releases the lock when the holder's connection ends, so when
//! the acting node dies another takes over within `poll` (plus the time
//! PostgreSQL needs to see the connection gone: at once for a killed
//! process, TCP keepalive for a vanished host).
//!
//! Acting: load the stored grants, review every online subscriber once,
//! then review the subscribers each batch of changes names and those whose
//! deadline passed, waking at the deadline to the millisecond. Every `poll`
//! the lock's connection is probed; any database error gives the lock up
//! (the packets of that round were sent, their outcome may be unsaved) and
//! the loop starts over, as a node taking over would. Every
//! `housekeeping`, stale sessions are closed, grants of closed sessions
//! forgotten and finished hours of usage folded into the monthly sums.
//!
//! Logs: a line when this node starts or stops acting, one per round that
//! sent anything (counts by outcome), and failures rate-limited as the
//! live loop does (first of an outage, then a count on recovery).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use postgres::Client;

use super::sender::{Dispatcher, Done, OnDone};
use super::{Enforcer, Planned, Settings, ORIGIN_ENFORCER};
use crate::clock;
use crate::config::Config;
use crate::db;
use crate::db::enforcement::NewCoaLog;
use crate::live::{pause, Backoff};
use crate::log_limit::RateLimited;
use crate::retention::Retention;
use crate::snapshot::{Changed, Lookup, SubscriberSnapshot};
use crate::stale_session::StaleSessionSettings;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub database_url: String,
    pub connect_timeout: Duration,
    pub settings: Settings,
    pub stale: StaleSessionSettings,
    /// How often a waiting node tries the lock and the acting one probes it.
    pub poll: Duration,
    /// How often stale sessions are closed, sessions acknowledged as
    /// disconnected but still reported are found, and closed grants
    /// forgotten (`stale_session_check_interval`).
    pub housekeeping: Duration,
    /// What retention keeps (`crate::retention`), applied every
    /// [`RETENTION_EVERY`].
    pub retention: Retention,
}

impl Settings {
    /// The enforcer's settings from the configuration. Requests leave from
    /// `coa_source_address` when set; else those through the management VPN
    /// leave from the RADIUS address routers name (their `/radius` entry,
    /// so their only accepted sender) when this host has it (said in the
    /// log when it does not), and the others from the system's choice (the
    /// address a NAS on the LAN knows this host by).
    pub fn from_config(config: &Config) -> Settings {
        let vpn_source = match config.coa_source_address {
            Some(_) => None,
            None => {
                let radius = IpAddr::V4(config.radius_address());
                let local = UdpSocket::bind(SocketAddr::new(radius, 0)).is_ok();
                if !local {
                    info!(
                        "CoA requests to routers on the VPN leave from the system's choice of \
                         address: {radius} (the RADIUS address routers name) is not on this \
                         host; run the enforcer beside the VPN server or set coa_source_address"
                    );
                }
                local.then_some(radius)
            }
        };
        Settings {
            policy: config.policy(),
            plan: config.router_plan(),
            vpn_source,
            send: super::SendOptions {
                source: config.coa_source_address,
                per_router: config.coa_per_router as usize,
                first_timeout: Duration::from_secs(u64::from(config.coa_timeout)),
                tries: config.coa_tries,
            },
            retry_after: i64::from(config.coa_retry_after),
        }
    }
}

impl ServiceOptions {
    pub fn from_config(config: &Config) -> ServiceOptions {
        ServiceOptions {
            database_url: config.database_url.clone(),
            connect_timeout: Duration::from_secs(u64::from(config.connect_timeout)),
            settings: Settings::from_config(config),
            stale: config.stale_sessions(),
            poll: Duration::from_secs(1),
            housekeeping: Duration::from_secs(u64::from(config.stale_session_check_interval)),
            retention: config.retention,
        }
    }
}

/// Runs until `stop` is set.
pub fn run(options: &ServiceOptions, stop: &AtomicBool) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel();
    let changes = tx.clone();
    let snapshot = SubscriberSnapshot::start_watched(
        options.database_url.clone(),
        options.connect_timeout,
        move |c| changes.send(Event::Changed(c)).is_ok(),
    )?;
    let mut backoff = Backoff::new(options.poll, Duration::from_secs(30));
    let mut failures = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let attempt = db::connect_lease(&options.database_url, options.connect_timeout).and_then(
            |mut conn| db::enforcement::try_lead(&mut conn).map(|leads| leads.then_some(conn)),
        );
        match attempt {
            Ok(None) => {
                if failures > 0 {
                    info!("enforcer: database reachable again after {failures} failed attempt(s)");
                    failures = 0;
                }
                backoff.reset();
                // Another node acts; what it is told is not ours to keep.
                while rx.try_recv().is_ok() {}
                pause(options.poll, stop);
            }
            Ok(Some(mut conn)) => {
                failures = 0;
                backoff.reset();
                info!("enforcer: this node acts now");
                match act(&mut conn, &snapshot, (&tx, &rx), options, stop) {
                    Ok(()) => info!("enforcer: stopped acting"),
                    Err(e) => {
                        // Not at once again: an error that persists (a
                        // statement timing out, a full disk) would otherwise
                        // be a loop of takeovers, each resending.
                        warn!("enforcer: stopped acting: {e}");
                        drop(conn);
                        pause(backoff.next_wait(), stop);
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    warn!("enforcer: cannot reach the database: {e}");
                }
                pause(backoff.next_wait(), stop);
            }
        }
    }
    Ok(())
}

/// Outcomes counted by kind ("coa ack", ...) between two log lines: one
/// line per `poll` at most, however many requests complete.
#[derive(Default)]
struct Tally(Vec<(String, usize)>);

impl Tally {
    fn add(&mut self, log: &[NewCoaLog]) {
        for e in log {
            let key = format!("{} {}", e.kind.as_str(), e.outcome);
            match self.0.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => self.0.push((key, 1)),
            }
        }
    }

    /// Logs and clears what was counted, if anything.
    fn flush(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = self
            .0
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        info!("enforcer: {line}");
        self.0.clear();
    }
}

/// Login grants older than this are deleted (a subscriber's old stations
/// and NASes; a session that old has long had a grant of its own), once an
/// hour.
const LOGIN_GRANT_DAYS: i32 = 30;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What reaches the acting loop: changes from the snapshot, outcomes from
/// the dispatcher's workers.
enum Event {
    Changed(Changed),
    Done(Done),
}

/// Sends what `planned` asks (outcomes come back as events) and saves the
/// grants first seen.
fn round(
    enforcer: &mut Enforcer,
    dispatcher: &mut Dispatcher,
    conn: &mut Client,
    planned: &[Planned],
    tally: &mut Tally,
) -> db::Result<()> {
    if !planned.is_empty() {
        let (jobs, unsent) = enforcer.dispatch(conn, planned, ORIGIN_ENFORCER, clock::now())?;
        tally.add(&unsent);
        for job in jobs {
            dispatcher.send(job);
        }
    }
    if enforcer.has_unsaved() {
        enforcer.save(conn)?;
    }
    Ok(())
}

/// What the events received so far ask to review, and the outcomes that
/// came.
#[derive(Default)]
struct Batch {
    everyone: bool,
    names: HashSet<String>,
    done: Vec<Done>,
}

fn collect(first: Event, rx: &Receiver<Event>) -> Batch {
    let mut batch = Batch::default();
    let mut next = Some(first);
    while let Some(event) = next {
        match event {
            Event::Changed(Changed::Everything) => batch.everyone = true,
            Event::Changed(Changed::Subscribers(list)) => batch.names.extend(list),
            Event::Done(d) => batch.done.push(d),
        }
        next = rx.try_recv().ok();
    }
    batch
}

/// Every online subscriber the snapshot knows, and the sessions granted to
/// subscribers it no longer knows (removed).
fn review_everyone(
    enforcer: &mut Enforcer,
    conn: &mut Client,
    snapshot: &SubscriberSnapshot,
) -> db::Result<Vec<Planned>> {
    let now = clock::now();
    let online = snapshot.online();
    enforcer.adopt_login_grants(conn, online.iter().map(|r| &**r), now)?;
    let mut planned: Vec<Planned> = online
        .iter()
        .flat_map(|r| enforcer.review(r, now))
        .collect();
    let removed =
        enforcer.unknown_usernames(|name| !matches!(snapshot.lookup(name), Lookup::Unknown));
    for name in removed {
        planned.extend(enforcer.review_removed(&name, now));
    }
    Ok(planned)
}

fn review_names<'a>(
    enforcer: &mut Enforcer,
    conn: &mut Client,
    snapshot: &SubscriberSnapshot,
    names: impl IntoIterator<Item = &'a String>,
) -> db::Result<Vec<Planned>> {
    let now = clock::now();
    let mut planned = Vec::new();
    let mut found = Vec::new();
    for name in names {
        match snapshot.lookup(name) {
            Lookup::Found(r) => found.push(r),
            // A grant scan: removals are rare and come one by one.
            Lookup::Unknown => planned.extend(enforcer.review_removed(name, now)),
            Lookup::NotLoaded => {}
        }
    }
    enforcer.adopt_login_grants(conn, found.iter().map(|r| &**r), now)?;
    for r in &found {
        planned.extend(enforcer.review(r, now));
    }
    Ok(planned)
}

/// How long to wait for changes: until the next deadline, at most `poll`.
fn wait_for(enforcer: &Enforcer, poll: Duration) -> Duration {
    match enforcer.next_deadline() {
        None => poll,
        Some(at) => {
            let ms = at.saturating_mul(1000).saturating_sub(clock::now_millis());
            Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(poll)
        }
    }
}

/// Acts while this node holds the lock on `conn`.
fn act(
    conn: &mut Client,
    snapshot: &SubscriberSnapshot,
    (tx, rx): (&Sender<Event>, &Receiver<Event>),
    options: &ServiceOptions,
    stop: &AtomicBool,
) -> db::Result<()> {
    while !snapshot.wait_loaded(options.poll) {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
    // Outcomes of an earlier turn's requests are not this turn's.
    while rx.try_recv().is_ok() {}
    let outcomes = parking_lot::Mutex::new(tx.clone());
    let on_done: OnDone = Arc::new(move |d| {
        let _ = outcomes.lock().send(Event::Done(d));
    });
    let mut dispatcher = Dispatcher::new(options.settings.send.clone(), on_done);
    let mut enforcer = Enforcer::new(options.settings.clone());
    enforcer.load_grants(conn)?;
    let mut tally = Tally::default();
    let planned = review_everyone(&mut enforcer, conn, snapshot)?;
    round(&mut enforcer, &mut dispatcher, conn, &planned, &mut tally)?;
    info!(
        "enforcer: reviewed every online session ({} with a grant)",
        enforcer.grants()
    );
    let mut probed = Instant::now();
    let mut housekept = Instant::now();
    let mut pruned: Option<Instant> = None;
    let mut retained: Option<Instant> = None;
    let mut retention_wait = RETENTION_EVERY;
    while !stop.load(Ordering::Relaxed) {
        let batch = match rx.recv_timeout(wait_for(&enforcer, options.poll)) {
            Ok(first) => collect(first, rx),
            Err(RecvTimeoutError::Timeout) => Batch::default(),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(db::Error::Lost {
                    what: "the subscriber snapshot".to_owned(),
                    detail: "its loop stopped".to_owned(),
                })
            }
        };
        let mut names = batch.names;
        if !batch.done.is_empty() {
            let mut again = Vec::new();
            let log = enforcer.complete(conn, batch.done, clock::now(), &mut again)?;
            tally.add(&log);
            names.extend(again);
        }
        let mut planned = if batch.everyone {
            review_everyone(&mut enforcer, conn, snapshot)?
        } else {
            review_names(&mut enforcer, conn, snapshot, &names)?
        };
        let due = enforcer.due(clock::now());
        planned.extend(review_names(&mut enforcer, conn, snapshot, &due)?);
        round(&mut enforcer, &mut dispatcher, conn, &planned, &mut tally)?;
        if probed.elapsed() >= options.poll {
            tally.flush();
            conn.simple_query("SELECT 1").map_err(|e| db::Error::Lost {
                what: "probing the enforcer lock's connection".to_owned(),
                detail: e.to_string(),
            })?;
            probed = Instant::now();
            dispatcher.reap();
        }
        if housekept.elapsed() >= options.housekeeping {
            housekeeping(&mut enforcer, conn, options)?;
            housekept = Instant::now();
        }
        if retained.is_none_or(|at| at.elapsed() >= retention_wait) {
            // Rows left over (the budget was spent) go on next round.
            retention_wait = if retain(conn, &options.retention)? {
                options.housekeeping
            } else {
                RETENTION_EVERY
            };
            retained = Some(Instant::now());
        }
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            // Housekeeping, not enforcement: a failure is said, not acted on.
            match db::enforcement::prune_login_grants(conn, LOGIN_GRANT_DAYS) {
                Ok(0) => {}
                Ok(n) => {
                    info!("enforcer: forgot {n} login grant(s) older than {LOGIN_GRANT_DAYS} days")
                }
                Err(e) => warn!("enforcer: login grants not pruned: {e}"),
            }
            enforcer.forget_old_holds(clock::now());
            pruned = Some(Instant::now());
        }
    }
    Ok(())
}

/// How often retention runs: radacct's months ahead are created, old ones
/// dropped, old rows deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// What one retention run may spend deleting rows: the enforcer's loop
/// (CoA, disconnects) waits meanwhile.
const RETENTION_BUDGET: Duration = Duration::from_secs(2);

/// One retention run; true when rows are left for another. Housekeeping: a
/// failure other than a lost connection is said (once an hour at most) and
/// tried again next time.
fn retain(conn: &mut Client, keep: &Retention) -> db::Result<bool> {
    static FAILED: RateLimited = RateLimited::new(Duration::from_secs(3600));
    let run = match db::retention::run(conn, clock::now(), keep, false, Some(RETENTION_BUDGET)) {
        Ok(run) => run,
        Err(e) if e.is_connection_error() => return Err(e),
        Err(e) => {
            if let Some(line) =
                FAILED.line(|| format!("enforcer: retention: {e}; tried again every hour"))
            {
                warn!("{line}");
            }
            return Ok(false);
        }
    };
    for e in &run.errors {
        if let Some(line) =
            FAILED.line(|| format!("enforcer: retention: {e}; tried again every hour"))
        {
            warn!("{line}");
        }
    }
    for name in &run.created {
        info!("enforcer: created radacct partition {name}");
    }
    for month in &run.dropped {
        if month.open_sessions > 0 {
            static KEPT: RateLimited = RateLimited::new(Duration::from_secs(86_400));
            if let Some(line) = KEPT.line(|| {
                format!(
                    "enforcer: radacct partition {} is past retention but kept: {} session(s) \
                     in it still open",
                    month.partition, month.open_sessions
                )
            }) {
                warn!("{line}");
            }
        } else {
            info!(
                "enforcer: dropped radacct partition {} ({} bytes), past retention",
                month.partition, month.bytes
            );
        }
    }
    let deleted = run.radacct_default_rows
        + run.radpostauth_rows
        + run.usage_hours_rows
        + run.router_usage_hours_rows
        + run.usage_months_rows;
    if deleted > 0 {
        info!("enforcer: deleted {deleted} row(s) past retention");
    }
    Ok(run.unfinished)
}

/// Hours of usage folded into the months per housekeeping round at most: a
/// day's, so catching up after a long stop never holds the accounting
/// writers off for long (they wait while a fold runs).
const FOLD_HOURS: u32 = 24;

fn housekeeping(
    enforcer: &mut Enforcer,
    conn: &mut Client,
    options: &ServiceOptions,
) -> db::Result<()> {
    let closed = db::stale_sessions::close_stale_sessions(conn, clock::now(), &options.stale)?;
    if !closed.is_empty() {
        info!(
            "enforcer: closed {} stale session(s) (no accounting for over twice their interim \
             interval plus {} s)",
            closed.len(),
            options.stale.margin
        );
    }
    // A fold that fails is tried again next round; the enforcer goes on
    // (reports are right without it, only slower).
    match db::usage::fold_hours(conn, clock::now(), FOLD_HOURS) {
        Ok(folded) if folded > 1 => {
            info!("enforcer: folded {folded} hour(s) of usage into the monthly sums");
        }
        Ok(_) => {}
        Err(e) if e.is_connection_error() => return Err(e),
        Err(e) => {
            static FOLD_FAILED: RateLimited = RateLimited::new(Duration::from_secs(3600));
            if let Some(line) = FOLD_FAILED
                .line(|| format!("enforcer: folding usage hours: {e}; tried again every round"))
            {
                warn!("{line}");
            }
        }
    }
    let closed = db::enforcement::forget_closed_grants(conn)?;
    enforcer.forget(&closed);
    let now = clock::now();
    let kept = db::enforcement::still_reported(conn)?;
    let (again, given_up) = enforcer.not_ended(&kept);
    if !again.is_empty() {
        warn!(
            "enforcer: {} session(s) acknowledged as disconnected are still reported by their \
             router; disconnecting again",
            again.len()
        );
    }
    for name in again {
        enforcer.schedule(&name, now);
    }
    if !given_up.is_empty() {
        // Named up to ten at a time: one line, whatever the count.
        let more = given_up.len().saturating_sub(10);
        let named = given_up
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        warn!(
            "enforcer: routers acknowledged {} Disconnect-Requests and kept these sessions; \
             no more are sent (end them on the router): {named}{more}",
            super::MAX_DISCONNECTS
        );
    }
    Ok(())
}
