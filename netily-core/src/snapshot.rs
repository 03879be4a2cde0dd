//! An in-memory copy of every subscriber record, kept fresh by PostgreSQL
//! LISTEN/NOTIFY, so a login costs a hash lookup instead of a round trip.
//!
//! Why: an Access-Request must be answered faster than rlm_sql and must not
//! wait on a slow or absent database. The billing tables fire
//! `NOTIFY netily_changed '<table> <key>'` (migrations 0004 and 0006); one
//! background thread listens and reloads just what changed, usually within
//! milliseconds of the commit, on every server that runs a snapshot.
//!
//! Failure model: the thread LISTENs *before* it loads, so no change made
//! during a load is lost. When the connection drops it reconnects with
//! backoff and reloads everything, since notifications sent while it was
//! away are gone. Until the first load completes, `lookup` says `NotLoaded`
//! (callers answer FAIL); after that it serves the last known state, and
//! `health()` tells how old that is.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::{Condvar, Mutex, RwLock};
use postgres::Client;

use crate::db;
use crate::model::{Plan, SubscriberRecord};

/// How long the listener waits for a notification before checking whether
/// it should stop or probe the connection.
const POLL: Duration = Duration::from_millis(200);
/// A silent connection is probed this often, so a dead one is noticed.
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// At most this many usernames are reloaded one by one per batch; a larger
/// burst (a bulk change) is cheaper as a full reload.
const MAX_TARGETED: usize = 2_000;

/// What `lookup` knows about a username.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The snapshot has never been loaded: no answer is possible.
    NotLoaded,
    /// Not a subscriber, as of the last known state.
    Unknown,
    Found(Arc<SubscriberRecord>),
}

/// The listener's view of its own freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub loaded: bool,
    /// True while the LISTEN connection is up (changes arrive live).
    pub live: bool,
    pub subscribers: usize,
    /// How long since the snapshot was last known to match the database.
    pub since_in_sync: Option<Duration>,
}

#[derive(Default)]
struct Records {
    by_name: HashMap<String, Arc<SubscriberRecord>>,
    /// Subscriber id -> username, so a rename or delete drops the old key.
    name_of: HashMap<i64, String>,
}

impl Records {
    fn from_all(all: Vec<SubscriberRecord>) -> Records {
        let mut r = Records {
            by_name: HashMap::with_capacity(all.len()),
            name_of: HashMap::with_capacity(all.len()),
        };
        for rec in all {
            r.name_of
                .insert(rec.subscriber.id, rec.subscriber.username.clone());
            r.by_name
                .insert(rec.subscriber.username.clone(), Arc::new(rec));
        }
        r
    }

    /// Puts one reloaded username in place (or removes it when gone).
    fn put(&mut self, username: &str, rec: Option<SubscriberRecord>) {
        match rec {
            None => {
                if let Some(old) = self.by_name.remove(username) {
                    self.name_of.remove(&old.subscriber.id);
                }
            }
            Some(rec) => {
                let id = rec.subscriber.id;
                if let Some(old_name) = self.name_of.insert(id, username.to_owned()) {
                    if old_name != username {
                        self.by_name.remove(&old_name);
                    }
                }
                self.by_name.insert(username.to_owned(), Arc::new(rec));
            }
        }
    }

    /// Swaps in a changed plan for every subscriber on it.
    fn replace_plan(&mut self, plan: &Plan) {
        for rec in self.by_name.values_mut() {
            if rec.plan.as_ref().is_some_and(|p| p.id == plan.id) {
                Arc::make_mut(rec).plan = Some(plan.clone());
            }
        }
    }
}

struct Shared {
    records: RwLock<Records>,
    loaded: AtomicBool,
    live: AtomicBool,
    in_sync_at: Mutex<Option<Instant>>,
    stop: AtomicBool,
    /// Woken on every load and every applied batch (for `wait_*`).
    changed: Condvar,
    changed_lock: Mutex<u64>,
}

/// The snapshot and its listener thread; dropping it stops and joins the thread.
pub struct SubscriberSnapshot {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SubscriberSnapshot {
    /// Starts the listener; the first load happens in the background.
    pub fn start(database_url: String, connect_timeout: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            records: RwLock::new(Records::default()),
            loaded: AtomicBool::new(false),
            live: AtomicBool::new(false),
            in_sync_at: Mutex::new(None),
            stop: AtomicBool::new(false),
            changed: Condvar::new(),
            changed_lock: Mutex::new(0),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("netily-snapshot".into())
            .spawn(move || listen_forever(&worker, &database_url, connect_timeout))?;
        Ok(SubscriberSnapshot {
            shared,
            thread: Some(thread),
        })
    }

    /// The current record of `username`; never touches the database.
    pub fn lookup(&self, username: &str) -> Lookup {
        if !self.shared.loaded.load(Ordering::Acquire) {
            return Lookup::NotLoaded;
        }
        match self.shared.records.read().by_name.get(username) {
            Some(rec) => Lookup::Found(Arc::clone(rec)),
            None => Lookup::Unknown,
        }
    }

    pub fn health(&self) -> Health {
        let live = self.shared.live.load(Ordering::Acquire);
        let since = if live {
            Some(Duration::ZERO)
        } else {
            self.shared.in_sync_at.lock().map(|t| t.elapsed())
        };
        Health {
            loaded: self.shared.loaded.load(Ordering::Acquire),
            live,
            subscribers: self.shared.records.read().by_name.len(),
            since_in_sync: since,
        }
    }

    /// Blocks until the first load completes or `timeout` passes.
    pub fn wait_loaded(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut generation = self.shared.changed_lock.lock();
        while !self.shared.loaded.load(Ordering::Acquire) {
            if self
                .shared
                .changed
                .wait_until(&mut generation, deadline)
                .timed_out()
            {
                return self.shared.loaded.load(Ordering::Acquire);
            }
        }
        true
    }
}

impl Drop for SubscriberSnapshot {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                warn!("snapshot listener thread panicked");
            }
        }
    }
}

fn listen_forever(shared: &Shared, url: &str, connect_timeout: Duration) {
    let mut backoff = BACKOFF_MIN;
    let mut last_error = String::new();
    while !shared.stop.load(Ordering::Acquire) {
        match serve_one_connection(shared, url, connect_timeout) {
            Ok(()) => return, // asked to stop
            Err(e) => {
                // A connection that was serving live starts over from the
                // shortest wait; repeated failures back off.
                if shared.live.swap(false, Ordering::AcqRel) {
                    backoff = BACKOFF_MIN;
                }
                let text = e.to_string();
                if text != last_error {
                    warn!("subscriber snapshot: {text}; serving the last known state and retrying");
                    last_error = text;
                }
            }
        }
        sleep_unless_stopped(shared, backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

fn sleep_unless_stopped(shared: &Shared, total: Duration) {
    let deadline = Instant::now() + total;
    while !shared.stop.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// One connection's life: LISTEN, full load, then apply changes until the
/// connection fails (Err) or the snapshot is dropped (Ok).
fn serve_one_connection(shared: &Shared, url: &str, connect_timeout: Duration) -> db::Result<()> {
    let mut client = db::connect(url, connect_timeout)?;
    db::listen::subscribe(&mut client)?;
    full_reload(shared, &mut client)?;
    info!("subscriber snapshot live");

    let mut last_probe = Instant::now();
    while !shared.stop.load(Ordering::Acquire) {
        let batch = next_batch(&mut client)?;
        if batch.is_empty() {
            if last_probe.elapsed() >= PROBE_EVERY {
                db::listen::probe(&mut client)?;
                last_probe = Instant::now();
            }
            continue;
        }
        last_probe = Instant::now();
        apply(shared, &mut client, batch)?;
    }
    Ok(())
}

/// What a batch of notifications asks for.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    everything: bool,
    usernames: HashSet<String>,
    plans: HashSet<i64>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        !self.everything && self.usernames.is_empty() && self.plans.is_empty()
    }

    /// Reads one `'<table> <key>'` payload (see migration 0004).
    fn note(&mut self, payload: &str) {
        let (table, key) = payload.split_once(' ').unwrap_or((payload, "*"));
        match (table, key) {
            ("nas" | "certificates" | "routers", _) => {}
            (_, "*") => self.everything = true,
            ("plans", id) => match id.parse() {
                Ok(id) => {
                    self.plans.insert(id);
                }
                Err(_) => self.everything = true,
            },
            // A group's reply changed: which subscribers it touches is a
            // query of its own; group edits are rare, so reload all.
            ("radgroupreply", _) => self.everything = true,
            (_, username) => {
                self.usernames.insert(username.to_owned());
            }
        }
        if self.usernames.len() > MAX_TARGETED {
            self.everything = true;
        }
    }
}

/// Waits up to `POLL` for notifications and folds them into one batch.
fn next_batch(client: &mut Client) -> db::Result<Changes> {
    let mut changes = Changes::default();
    for payload in db::listen::next_changes(client, POLL)? {
        changes.note(&payload);
    }
    Ok(changes)
}

fn apply(shared: &Shared, client: &mut Client, changes: Changes) -> db::Result<()> {
    if changes.everything {
        return full_reload(shared, client);
    }
    let mut plans = Vec::with_capacity(changes.plans.len());
    for id in changes.plans {
        if let Some(plan) = db::listen::plan_by_id(client, id)? {
            plans.push(plan);
        }
    }
    // One round trip for the whole batch: a burst of session starts must not
    // cost a query each.
    let names: Vec<String> = changes.usernames.into_iter().collect();
    let reloaded = if names.is_empty() {
        Vec::new()
    } else {
        db::load_subscribers(client, &names)?
    };
    {
        let mut records = shared.records.write();
        for plan in &plans {
            records.replace_plan(plan);
        }
        for (name, rec) in reloaded {
            records.put(&name, rec);
        }
    }
    mark_in_sync(shared);
    Ok(())
}

fn full_reload(shared: &Shared, client: &mut Client) -> db::Result<()> {
    let started = Instant::now();
    let all = db::load_all_subscribers(client)?;
    let fresh = Records::from_all(all);
    let count = fresh.by_name.len();
    *shared.records.write() = fresh;
    // Only ever called on a subscribed connection: from here changes arrive
    // live. Set before `loaded`, so a caller woken by the load sees both.
    shared.live.store(true, Ordering::Release);
    shared.loaded.store(true, Ordering::Release);
    mark_in_sync(shared);
    info!(
        "subscriber snapshot loaded: {count} subscribers in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

fn mark_in_sync(shared: &Shared) {
    *shared.in_sync_at.lock() = Some(Instant::now());
    let mut generation = shared.changed_lock.lock();
    *generation += 1;
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_pick_targeted_or_full_reloads() {
        let mut c = Changes::default();
        c.note("customers alice");
        c.note("invoices bob");
        c.note("radacct alice");
        c.note("plans 7");
        c.note("nas 127.0.0.1");
        assert!(!c.everything);
        assert_eq!(c.usernames.len(), 2);
        assert!(c.plans.contains(&7));

        let mut bulk = Changes::default();
        bulk.note("customers *");
        assert!(bulk.everything);

        let mut group = Changes::default();
        group.note("radgroupreply group:gold");
        assert!(group.everything);

        let mut bad_plan = Changes::default();
        bad_plan.note("plans x");
        assert!(bad_plan.everything);

        let mut ignored = Changes::default();
        ignored.note("certificates 12");
        assert!(ignored.is_empty());
    }

    #[test]
    fn a_flood_of_usernames_becomes_one_full_reload() {
        let mut c = Changes::default();
        for i in 0..=MAX_TARGETED {
            c.note(&format!("customers u{i}"));
        }
        assert!(c.everything);
    }
}
