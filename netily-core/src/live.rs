//! One "live mirror" loop: an in-memory copy of some tables, kept fresh by
//! PostgreSQL LISTEN/NOTIFY on a background thread, for the servers'
//! request paths, which read memory and never wait on the database.
//!
//! The loop is the same for every mirror (the subscriber snapshot, the
//! RADIUS client directory, the VPN plugin's router certificates): connect,
//! LISTEN `netily_changed`, load everything, then fold each batch of
//! notifications into the mirror's own [`Mirror::Changes`] and apply it.
//! What a payload means, and what to reload for it, is the mirror's call.
//!
//! Failure behaviour:
//!
//! * LISTEN comes before the load, so a change committed during a load is
//!   never lost: it arrives as a notification right after.
//! * A lost connection (any error: connect, LISTEN, load, apply, or the
//!   periodic probe of a silent connection) ends the connection; the loop
//!   reconnects after a backoff ([`Backoff`]: doubling from `backoff_min` to
//!   `backoff_max`, back to the minimum after a successful load) and loads
//!   everything again, since notifications sent while it was away are gone.
//!   Meanwhile the mirror keeps serving its last loaded state; [`Status`]
//!   says whether it is live and since when it is not.
//! * Before the first load, [`Live::is_loaded`] is false: hosts answer
//!   "don't know" (rlm: FAIL; the plugin: refuse), never "no".
//! * Logs are rate-limited: the first failure of an outage and any failure
//!   that reads differently are logged, repeats are only counted, and the
//!   recovery line gives the exact count of failed attempts.
//! * Dropping the [`Live`] handle stops the thread and joins it. The thread
//!   notices within `poll` while it waits for notifications and at once while
//!   it backs off; a connect or statement in flight is waited for (bounded
//!   by `connect_timeout`, and with `bounded`, every statement too).
//! * With `reload_every`, everything is also loaded on that period, for what
//!   changes with time and fires no notification (a certificate's expiry).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::{Condvar, Mutex};

use crate::db::{self, Client};

/// One notification payload, `'<table> <key>'` (migration 0004; session
/// payloads of migration 0010 carry JSON as the key). A payload without a
/// key is about the whole table, as `'<table> *'` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload<'a> {
    pub table: &'a str,
    pub key: &'a str,
}

impl<'a> Payload<'a> {
    pub fn parse(payload: &'a str) -> Payload<'a> {
        let (table, key) = payload.split_once(' ').unwrap_or((payload, "*"));
        Payload { table, key }
    }

    /// True when the change may touch every row of its table (a bulk load).
    pub fn is_bulk(&self) -> bool {
        self.key == "*"
    }

    /// True when the payload is about one of `tables`.
    pub fn is_about(&self, tables: &[&str]) -> bool {
        tables.contains(&self.table)
    }
}

/// What a mirror knows how to do; the loop does the rest. Runs on the
/// loop's thread only.
pub trait Mirror: Send + 'static {
    /// A batch of notifications, folded together.
    type Changes: Default;

    /// Folds one notification into the batch. Pure: no database here.
    fn note(&self, changes: &mut Self::Changes, payload: Payload<'_>);

    /// Loads everything and puts it in place (first load, after a lost
    /// connection, and every `reload_every`).
    fn load_all(&mut self, client: &mut Client) -> db::Result<()>;

    /// Applies one batch (reloading what it names).
    fn apply(&mut self, client: &mut Client, changes: Self::Changes) -> db::Result<()>;
}

/// A mirror loaded whole, and again whenever a payload names one of its
/// tables: for small tables (the RADIUS clients, the router certificates).
pub struct Whole<F> {
    tables: &'static [&'static str],
    load: F,
}

impl<F> Whole<F>
where
    F: FnMut(&mut Client) -> db::Result<()> + Send + 'static,
{
    pub fn new(tables: &'static [&'static str], load: F) -> Whole<F> {
        Whole { tables, load }
    }
}

impl<F> Mirror for Whole<F>
where
    F: FnMut(&mut Client) -> db::Result<()> + Send + 'static,
{
    /// Whether to load again.
    type Changes = bool;

    fn note(&self, reload: &mut bool, payload: Payload<'_>) {
        *reload |= payload.is_about(self.tables);
    }

    fn load_all(&mut self, client: &mut Client) -> db::Result<()> {
        (self.load)(client)
    }

    fn apply(&mut self, client: &mut Client, reload: bool) -> db::Result<()> {
        if reload {
            (self.load)(client)?;
        }
        Ok(())
    }
}

/// Sleeps `d` in short steps (a tenth of a second at most), for a thread
/// that a `stop` flag ends; true when `stop` was set meanwhile.
pub fn pause(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        );
    }
    stop.load(Ordering::Relaxed)
}

/// Reconnect waits: doubling from `min` up to `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt; the one after is twice as long,
    /// up to the maximum.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// After a success: the next failure waits the minimum again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// How a loop connects and paces itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// The thread's name (`netily-…`).
    pub thread: String,
    /// What the mirror is, at the start of its log lines.
    pub what: String,
    pub database_url: String,
    pub connect_timeout: Duration,
    /// Bound every statement by `connect_timeout` too (`db::connect_bounded`):
    /// for mirrors whose loads are small, so a stuck statement never holds
    /// the thread (and its host's shutdown).
    pub bounded: bool,
    /// How long one wait for notifications lasts: the stop check's period.
    pub poll: Duration,
    /// A silent connection is probed this often, so a dead one is noticed.
    pub probe_every: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Load everything this often too, notification or not.
    pub reload_every: Option<Duration>,
}

impl Options {
    pub fn new(
        thread: &str,
        what: &str,
        database_url: String,
        connect_timeout: Duration,
    ) -> Options {
        Options {
            thread: thread.to_owned(),
            what: what.to_owned(),
            database_url,
            connect_timeout,
            bounded: false,
            poll: Duration::from_millis(200),
            probe_every: Duration::from_secs(5),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            reload_every: None,
        }
    }
}

/// The loop's view of its own freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub loaded: bool,
    /// True while the LISTEN connection is up (changes arrive live).
    pub live: bool,
    /// How long since the mirror was last known to match the database
    /// (zero while live; None before the first load).
    pub since_in_sync: Option<Duration>,
    /// Why the last attempt failed, until a load succeeds (never a password).
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Progress {
    in_sync_at: Option<Instant>,
    /// Failed attempts so far (for `wait_attempt`).
    failed: u64,
    last_error: Option<String>,
}

#[derive(Default)]
struct State {
    loaded: AtomicBool,
    live: AtomicBool,
    progress: Mutex<Progress>,
    /// Woken on every load, applied batch and failed attempt.
    progressed: Condvar,
    stop: Mutex<bool>,
    stopping: Condvar,
}

impl State {
    fn stopped(&self) -> bool {
        *self.stop.lock()
    }

    /// Sleeps up to `d`; true once stop was requested.
    fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stop.lock();
        if !*stop {
            self.stopping.wait_for(&mut stop, d);
        }
        *stop
    }

    fn in_sync(&self, loaded: bool) {
        if loaded {
            // Live before loaded: a caller woken by the load sees both.
            self.live.store(true, Ordering::Release);
            self.loaded.store(true, Ordering::Release);
        }
        let mut p = self.progress.lock();
        p.in_sync_at = Some(Instant::now());
        if loaded {
            p.last_error = None;
        }
        self.progressed.notify_all();
    }

    fn failed(&self, why: String) {
        self.live.store(false, Ordering::Release);
        let mut p = self.progress.lock();
        p.failed += 1;
        p.last_error = Some(why);
        self.progressed.notify_all();
    }

    /// Waits until `done` or `timeout`; returns whether it is loaded.
    fn wait(&self, timeout: Duration, done: impl Fn(&Progress) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut p = self.progress.lock();
        while !self.loaded.load(Ordering::Acquire) && !done(&p) {
            if self.progressed.wait_until(&mut p, deadline).timed_out() {
                break;
            }
        }
        self.loaded.load(Ordering::Acquire)
    }
}

/// A running loop; dropping it stops the thread and joins it.
pub struct Live {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    /// Starts the loop's thread; the first load happens in the background.
    pub fn start<M: Mirror>(options: Options, mut mirror: M) -> std::io::Result<Live> {
        let state = Arc::new(State::default());
        let worker = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(options.thread.clone())
            .spawn(move || run(&worker, &options, &mut mirror))?;
        Ok(Live {
            state,
            thread: Some(thread),
        })
    }

    pub fn is_loaded(&self) -> bool {
        self.state.loaded.load(Ordering::Acquire)
    }

    /// Blocks until the first load completes or `timeout` passes.
    pub fn wait_loaded(&self, timeout: Duration) -> bool {
        self.state.wait(timeout, |_| false)
    }

    /// Blocks until the first load or the first failed attempt, at most
    /// `timeout`; true when loaded. For a host that must not sit out a whole
    /// timeout at startup when the database is plainly down.
    pub fn wait_attempt(&self, timeout: Duration) -> bool {
        self.state.wait(timeout, |p| p.failed > 0)
    }

    pub fn status(&self) -> Status {
        let live = self.state.live.load(Ordering::Acquire);
        let p = self.state.progress.lock();
        Status {
            loaded: self.state.loaded.load(Ordering::Acquire),
            live,
            since_in_sync: if live {
                Some(Duration::ZERO)
            } else {
                p.in_sync_at.map(|t| t.elapsed())
            },
            last_error: p.last_error.clone(),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        *self.state.stop.lock() = true;
        self.state.stopping.notify_all();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                warn!("a live mirror thread panicked");
            }
        }
    }
}

/// The log lines of an outage: its first failure and any that reads
/// differently; repeats are counted for the recovery line.
#[derive(Debug, Default)]
struct Outage {
    failures: u64,
    said: Option<String>,
}

impl Outage {
    /// The line to log for this failure, if any.
    fn failed(&mut self, what: &str, why: &str) -> Option<String> {
        self.failures += 1;
        if self.said.as_deref() == Some(why) {
            return None;
        }
        self.said = Some(why.to_owned());
        Some(format!(
            "{what}: {why}; serving the last known state and retrying"
        ))
    }

    /// The line to log after a successful load, if it ends an outage.
    fn recovered(&mut self, what: &str) -> Option<String> {
        let failures = std::mem::take(&mut self.failures);
        self.said = None;
        (failures > 0).then(|| {
            format!(
                "{what}: live again after {failures} failed attempt{}",
                if failures == 1 { "" } else { "s" }
            )
        })
    }
}

fn run<M: Mirror>(state: &State, options: &Options, mirror: &mut M) {
    let mut backoff = Backoff::new(options.backoff_min, options.backoff_max);
    let mut outage = Outage::default();
    while !state.stopped() {
        match serve(state, options, mirror, &mut backoff, &mut outage) {
            Ok(()) => return, // asked to stop
            Err(e) => {
                let why = e.to_string();
                if let Some(line) = outage.failed(&options.what, &why) {
                    warn!("{line}");
                }
                state.failed(why);
            }
        }
        if state.sleep(backoff.next_wait()) {
            return;
        }
    }
}

/// A listener mostly waits: it must notice a vanished primary within
/// seconds to move to the next one the URL names.
fn connect(options: &Options) -> db::Result<Client> {
    db::connect_watchful(
        &options.database_url,
        options.connect_timeout,
        options.bounded,
    )
}

/// One connection's life: LISTEN, load everything, then apply changes until
/// the connection fails (Err) or the loop is stopped (Ok).
fn serve<M: Mirror>(
    state: &State,
    options: &Options,
    mirror: &mut M,
    backoff: &mut Backoff,
    outage: &mut Outage,
) -> db::Result<()> {
    let mut client = connect(options)?;
    db::listen::subscribe(&mut client)?;
    mirror.load_all(&mut client)?;
    state.in_sync(true);
    backoff.reset();
    match outage.recovered(&options.what) {
        Some(line) => info!("{line}"),
        None => info!("{} live", options.what),
    }

    let mut last_load = Instant::now();
    let mut last_heard = Instant::now();
    while !state.stopped() {
        let payloads = db::listen::next_changes(&mut client, options.poll)?;
        if options
            .reload_every
            .is_some_and(|every| last_load.elapsed() >= every)
        {
            // A full load covers whatever this batch named.
            mirror.load_all(&mut client)?;
            last_load = Instant::now();
            last_heard = last_load;
            state.in_sync(false);
            continue;
        }
        if payloads.is_empty() {
            if last_heard.elapsed() >= options.probe_every {
                db::listen::probe(&mut client)?;
                last_heard = Instant::now();
            }
            continue;
        }
        last_heard = Instant::now();
        let changes = fold(mirror, &payloads);
        mirror.apply(&mut client, changes)?;
        state.in_sync(false);
    }
    Ok(())
}

/// Folds a batch of payloads into the mirror's changes, in order.
fn fold<M: Mirror>(mirror: &M, payloads: &[String]) -> M::Changes {
    let mut changes = M::Changes::default();
    for p in payloads {
        mirror.note(&mut changes, Payload::parse(p));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_split_into_table_and_key() {
        let p = Payload::parse("customers alice");
        assert_eq!((p.table, p.key), ("customers", "alice"));
        assert!(!p.is_bulk());
        assert!(p.is_about(&["nas", "customers"]));
        assert!(!p.is_about(&["nas"]));

        let json = Payload::parse(r#"session- {"username":"a b"}"#);
        assert_eq!(
            (json.table, json.key),
            ("session-", r#"{"username":"a b"}"#)
        );

        assert!(Payload::parse("customers *").is_bulk());
        let bare = Payload::parse("nas");
        assert_eq!((bare.table, bare.key), ("nas", "*"));
        assert!(bare.is_bulk());
        assert_eq!(Payload::parse("").table, "");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(250), ms(1500));
        let waits: Vec<_> = (0..5).map(|_| b.next_wait()).collect();
        assert_eq!(waits, [ms(250), ms(500), ms(1000), ms(1500), ms(1500)]);
        b.reset();
        assert_eq!(b.next_wait(), ms(250));

        // A cap below the minimum is the minimum.
        let mut odd = Backoff::new(ms(100), ms(10));
        assert_eq!((odd.next_wait(), odd.next_wait()), (ms(100), ms(100)));
        // Never overflows.
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.next_wait(), Duration::MAX);
        assert_eq!(huge.next_wait(), Duration::MAX);
    }

    #[test]
    fn an_outage_is_logged_once_per_reason_and_counted() {
        let mut o = Outage::default();
        assert_eq!(o.recovered("m"), None, "no outage, no recovery line");
        assert_eq!(
            o.failed("m", "refused").as_deref(),
            Some("m: refused; serving the last known state and retrying")
        );
        assert_eq!(o.failed("m", "refused"), None);
        assert!(o.failed("m", "timed out").is_some());
        assert_eq!(o.failed("m", "timed out"), None);
        assert_eq!(
            o.recovered("m").as_deref(),
            Some("m: live again after 4 failed attempts")
        );
        // The next outage is logged again, even for the same reason.
        assert!(o.failed("m", "timed out").is_some());
        assert_eq!(
            o.recovered("m").as_deref(),
            Some("m: live again after 1 failed attempt")
        );
    }

    /// Records what the loop asks of it: which payloads, folded how.
    #[derive(Default)]
    struct Tables;

    impl Mirror for Tables {
        type Changes = Vec<String>;
        fn note(&self, changes: &mut Vec<String>, payload: Payload<'_>) {
            if payload.is_about(&["nas", "routers"]) {
                changes.push(format!("{}={}", payload.table, payload.key));
            }
        }
        fn load_all(&mut self, _: &mut Client) -> db::Result<()> {
            Ok(())
        }
        fn apply(&mut self, _: &mut Client, _: Vec<String>) -> db::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_whole_mirror_reloads_for_its_tables_only() {
        let whole = Whole::new(&["nas", "routers"], |_: &mut Client| Ok(()));
        let reloads = |payloads: &[&str]| {
            let payloads: Vec<String> = payloads.iter().map(|p| p.to_string()).collect();
            fold(&whole, &payloads)
        };
        assert!(reloads(&["customers alice", "nas 10.0.0.1"]));
        assert!(reloads(&["routers"]));
        assert!(!reloads(&[
            "customers alice",
            "radacct bob",
            "certificates 3"
        ]));
        assert!(!reloads(&[]));
    }

    #[test]
    fn a_batch_is_folded_in_order_by_the_mirror() {
        let payloads: Vec<String> = ["nas 10.0.0.1", "customers alice", "routers", "nas *"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            fold(&Tables, &payloads),
            ["nas=10.0.0.1", "routers=*", "nas=*"]
        );
        assert!(fold(&Tables, &[]).is_empty());
    }

    fn unreachable() -> Options {
        // Nothing listens on port 1: every connect fails at once.
        let mut o = Options::new(
            "netily-test",
            "test mirror",
            "postgresql://netily@127.0.0.1:1/netily".into(),
            Duration::from_millis(500),
        );
        o.backoff_min = Duration::from_secs(30);
        o.backoff_max = Duration::from_secs(30);
        o
    }

    #[test]
    fn without_a_database_nothing_loads_and_drop_is_prompt() {
        let live = Live::start(unreachable(), Tables).unwrap();
        let t = Instant::now();
        assert!(!live.wait_attempt(Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(!live.wait_loaded(Duration::from_millis(50)));
        let s = live.status();
        assert!(!s.loaded && !s.live);
        assert_eq!(s.since_in_sync, None);
        assert!(s.last_error.is_some_and(|e| !e.contains("password")));
        // Backing off for 30 s, yet stopped at once.
        let t = Instant::now();
        drop(live);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
}
