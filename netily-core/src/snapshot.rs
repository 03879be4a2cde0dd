//! An in-memory copy of every subscriber record, kept fresh by PostgreSQL
//! LISTEN/NOTIFY, so a login costs a hash lookup instead of a round trip.
//!
//! Why: an Access-Request must be answered faster than rlm_sql and must not
//! wait on a slow or absent database. The billing tables fire
//! `NOTIFY netily_changed '<table> <key>'` (migrations 0004 and 0006); one
//! background thread listens and reloads just what changed, usually within
//! milliseconds of the commit, on every server that runs a snapshot.
//!
//! Failure model: the loop of [`crate::live`] (LISTEN before the load, so no
//! change made during a load is lost; on a lost connection, reconnect with
//! backoff and reload everything). Until the first load completes, `lookup`
//! finds the subscribers loaded so far and says `NotLoaded` for the others
//! (`lookup_or_fetch` asks the database for them, bounded: `fallback`);
//! after that it serves the last known state, and `health()` tells how old
//! that is.
//!
//! Memory: records are compact (`compact`: ~100 bytes and one allocation
//! each, plans shared) in one table (`table`). A load streams complete
//! records one at a time and puts each in place as it comes, in batches, so
//! a full resync never holds a second copy: the old record of a subscriber
//! serves until its new one replaces it.
//!
//! Usage needs no reload at a cycle's end: a record holds the usage of the
//! billing cycle of its load (`usage_cycle_start`), which a decision reads as
//! 0 once that cycle is over (`cycle::usage_now`); the new cycle's usage
//! reloads the record when it crosses the cap (`usage` notification).
//!
//! Reply override rows are checked as they are read (`Dictionary::screen`,
//! against the snapshot's dictionary): a row FreeRADIUS could not send is
//! left out of the reply, and the log says so once per row, not per login.

mod compact;
mod fallback;
mod skipped;
mod table;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::RwLock;
use postgres::Client;

use crate::db;
use crate::dictionary::Dictionary;
use crate::live::{self, Live, Mirror, Payload};
use crate::model::{OpenSession, SubscriberRecord};
use fallback::{Fallback, Fetched};
use skipped::SkippedRows;
pub use table::Table;

/// At most this many usernames are reloaded one by one per batch; a larger
/// burst (a bulk change) is cheaper as a full reload.
const MAX_TARGETED: usize = 2_000;
/// A load puts this many records in place per hold of the write lock, so
/// a login waits at most for one batch.
const LOAD_BATCH: usize = 1024;
/// How long a login before the first load may wait on the database.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a login before the first load waits for a fallback connection
/// that other logins hold.
const BUSY_WAIT: Duration = Duration::from_secs(1);

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

/// What a batch changed, for a watcher (the enforcer), sent after it is in
/// place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// A full load: any record may have changed.
    Everything,
    /// The records of these usernames (a session opening or closing, a plan
    /// change for the online subscribers on it).
    Subscribers(Vec<String>),
}

/// The snapshot and its loop; dropping it stops and joins the loop's thread.
pub struct SubscriberSnapshot {
    records: Arc<RwLock<Table>>,
    dictionary: Arc<Dictionary>,
    fallback: Arc<Fallback>,
    live: Live,
}

impl SubscriberSnapshot {
    /// Starts the listener; the first load happens in the background.
    pub fn start(database_url: String, connect_timeout: Duration) -> std::io::Result<Self> {
        Self::start_with_dictionary(
            database_url,
            connect_timeout,
            Dictionary::standard().clone(),
        )
    }

    /// [`SubscriberSnapshot::start`], override rows checked against
    /// `dictionary` (rlm_netily: the attributes radiusd's dictionary confirms).
    pub fn start_with_dictionary(
        database_url: String,
        connect_timeout: Duration,
        dictionary: Dictionary,
    ) -> std::io::Result<Self> {
        Self::start_inner(database_url, connect_timeout, dictionary, None)
    }

    /// [`SubscriberSnapshot::start`], telling `watcher` (on the loop's
    /// thread) what each batch changed, once it is in place; a watcher that
    /// returns false is not told again.
    pub fn start_watched(
        database_url: String,
        connect_timeout: Duration,
        watcher: impl FnMut(Changed) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::start_inner(
            database_url,
            connect_timeout,
            Dictionary::standard().clone(),
            Some(Box::new(watcher)),
        )
    }

    fn start_inner(
        database_url: String,
        connect_timeout: Duration,
        dictionary: Dictionary,
        watcher: Option<Watcher>,
    ) -> std::io::Result<Self> {
        let records = Arc::new(RwLock::new(Table::new()));
        let dictionary = Arc::new(dictionary);
        let fallback = Arc::new(Fallback::new(
            database_url.clone(),
            connect_timeout.min(FALLBACK_TIMEOUT),
        ));
        let loader = Loader {
            records: Arc::clone(&records),
            dictionary: Arc::clone(&dictionary),
            fallback: Arc::clone(&fallback),
            skipped: SkippedRows::default(),
            watcher,
        };
        let options = live::Options::new(
            "netily-snapshot",
            "subscriber snapshot",
            database_url,
            connect_timeout,
        );
        Ok(SubscriberSnapshot {
            records,
            dictionary,
            fallback,
            live: Live::start(options, loader)?,
        })
    }

    /// The current record of `username`; never touches the database.
    /// Before the first load completes: the record if it is in already,
    /// else `NotLoaded`.
    pub fn lookup(&self, username: &str) -> Lookup {
        // Loaded first: a record put in place before the flag is seen.
        let loaded = self.live.is_loaded();
        match self.records.read().get(username) {
            Some(rec) => Lookup::Found(Arc::new(rec)),
            None if loaded => Lookup::Unknown,
            None => Lookup::NotLoaded,
        }
    }

    /// [`SubscriberSnapshot::lookup`], and before the first load completes,
    /// a subscriber not in yet is looked up in the database (bounded, see
    /// `fallback`: a burst of logins at start waits for a connection at
    /// most [`BUSY_WAIT`]); `NotLoaded` only when that lookup cannot be
    /// made.
    pub fn lookup_or_fetch(&self, username: &str) -> Lookup {
        let found = self.lookup(username);
        if found != Lookup::NotLoaded {
            return found;
        }
        match self.fallback.fetch(username, Instant::now() + BUSY_WAIT) {
            Fetched::Done(Ok(Some(mut rec))) => {
                self.dictionary.screen(&mut rec);
                Lookup::Found(Arc::new(rec))
            }
            Fetched::Done(Ok(None)) => Lookup::Unknown,
            Fetched::Done(Err(e)) => {
                log::debug!("lookup of {username:?} before the snapshot loaded: {e}");
                Lookup::NotLoaded
            }
            // Loaded a moment ago; the flag follows at once.
            Fetched::Closed => {
                self.live.wait_loaded(BUSY_WAIT);
                self.lookup(username)
            }
            Fetched::Busy | Fetched::Unavailable => Lookup::NotLoaded,
        }
    }

    /// Whether [`SubscriberSnapshot::lookup_or_fetch`] can reach the
    /// database now (for a host deciding whether to wait for the load).
    pub fn database_reachable(&self) -> bool {
        self.live.is_loaded() || self.fallback.reachable()
    }

    /// The records of every subscriber with an open session.
    pub fn online(&self) -> Vec<Arc<SubscriberRecord>> {
        self.records.read().online().map(Arc::new).collect()
    }

    pub fn health(&self) -> Health {
        let status = self.live.status();
        Health {
            loaded: status.loaded,
            live: status.live,
            subscribers: self.records.read().len(),
            since_in_sync: status.since_in_sync,
        }
    }

    /// Blocks until the first load completes or `timeout` passes.
    pub fn wait_loaded(&self, timeout: Duration) -> bool {
        self.live.wait_loaded(timeout)
    }
}

/// The snapshot's side of the loop, on the loop's thread.
struct Loader {
    records: Arc<RwLock<Table>>,
    /// What override rows may set (narrower than the standard table when
    /// radiusd's own dictionary lacks some).
    dictionary: Arc<Dictionary>,
    /// Closed once loaded: lookups no longer need it.
    fallback: Arc<Fallback>,
    skipped: SkippedRows,
    watcher: Option<Watcher>,
}

/// Told what each batch changed; false: tell it no more.
type Watcher = Box<dyn FnMut(Changed) -> bool + Send>;

impl Loader {
    fn tell(&mut self, changed: Changed) {
        if let Some(w) = &mut self.watcher {
            if !w(changed) {
                self.watcher = None;
            }
        }
    }
}

impl Mirror for Loader {
    type Changes = Changes;

    fn note(&self, changes: &mut Changes, payload: Payload<'_>) {
        changes.note(payload);
    }

    fn load_all(&mut self, client: &mut Client) -> db::Result<()> {
        self.full_reload(client)
    }

    fn apply(&mut self, client: &mut Client, changes: Changes) -> db::Result<()> {
        self.apply_changes(client, changes)
    }
}

/// Applies a session open or close to the subscriber's open sessions.
/// Idempotent, so a change the last reload already saw is harmless.
fn apply_session(table: &mut Table, delta: &SessionDelta) {
    let (username, id) = match delta {
        SessionDelta::Opened { username, session } => (username, &session.acct_unique_id),
        SessionDelta::Closed {
            username,
            acct_unique_id,
        } => (username, acct_unique_id),
    };
    // Sessions of usernames that are no subscriber's matter to nobody.
    table.change_sessions(username, |open| {
        open.retain(|s| &s.acct_unique_id != id);
        if let SessionDelta::Opened { session, .. } = delta {
            // The order a reload gives: by start time, then as they came.
            let at = open.partition_point(|s| s.started_at <= session.started_at);
            open.insert(at, session.clone());
        }
    });
}

/// A session opened or closed, as migration 0010's payloads tell.
#[derive(Debug, Clone, PartialEq)]
enum SessionDelta {
    Opened {
        username: String,
        session: OpenSession,
    },
    Closed {
        username: String,
        acct_unique_id: String,
    },
}

impl SessionDelta {
    fn username(&self) -> &str {
        match self {
            SessionDelta::Opened { username, .. } | SessionDelta::Closed { username, .. } => {
                username
            }
        }
    }
}

/// What a batch of notifications asks for.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    everything: bool,
    usernames: HashSet<String>,
    plans: HashSet<i64>,
    /// In commit order; applied after the reloads of the same batch.
    sessions: Vec<SessionDelta>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        !self.everything
            && self.usernames.is_empty()
            && self.plans.is_empty()
            && self.sessions.is_empty()
    }

    /// Reads one session payload; a malformed one costs a full reload.
    fn note_session(&mut self, opened: bool, json: &str) {
        let delta = if opened {
            serde_json::from_str::<OpenedPayload>(json)
                .ok()
                .map(|o| SessionDelta::Opened {
                    username: o.username,
                    session: o.session,
                })
        } else {
            serde_json::from_str::<ClosedPayload>(json)
                .ok()
                .map(|c| SessionDelta::Closed {
                    username: c.username,
                    acct_unique_id: c.acct_unique_id,
                })
        };
        match delta {
            Some(d) => self.sessions.push(d),
            None => {
                warn!("unreadable session change notification; reloading every subscriber");
                self.everything = true;
            }
        }
    }

    /// Reads one `'<table> <key>'` payload (migration 0004) or session
    /// payload (migration 0010).
    fn note(&mut self, payload: Payload<'_>) {
        match (payload.table, payload.key) {
            ("session+", json) => self.note_session(true, json),
            ("session-", json) => self.note_session(false, json),
            ("nas" | "certificates" | "routers", _) => {}
            (_, "*") => self.everything = true,
            ("plans", id) => match id.parse() {
                Ok(id) => {
                    self.plans.insert(id);
                }
                Err(_) => self.everything = true,
            },
            // A group's reply or check changed: which subscribers it touches
            // is a query of its own; group edits are rare, so reload all.
            ("radgroupreply" | "radgroupcheck", _) => self.everything = true,
            (_, username) => {
                self.usernames.insert(username.to_owned());
            }
        }
        if self.usernames.len() > MAX_TARGETED {
            self.everything = true;
        }
    }
}

#[derive(serde::Deserialize)]
struct OpenedPayload {
    username: String,
    #[serde(flatten)]
    session: OpenSession,
}

#[derive(serde::Deserialize)]
struct ClosedPayload {
    username: String,
    acct_unique_id: String,
}

impl Loader {
    fn apply_changes(&mut self, client: &mut Client, changes: Changes) -> db::Result<()> {
        if changes.everything {
            return self.full_reload(client);
        }
        if changes.is_empty() {
            return Ok(());
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
        let mut changed = names.clone();
        let mut reloaded = if names.is_empty() {
            Vec::new()
        } else {
            db::load_subscribers(client, &names)?
        };
        for rec in reloaded.iter_mut().filter_map(|(_, r)| r.as_mut()) {
            self.dictionary.screen(rec);
        }
        self.report_skipped(reloaded.iter().filter_map(|(_, r)| r.as_ref()), false);
        let mut records = self.records.write();
        for plan in plans {
            records.replace_plan(plan, &mut changed);
        }
        for (name, rec) in reloaded {
            match rec {
                Some(rec) => records.upsert(rec),
                None => records.remove(&name),
            }
        }
        // Every delta here was committed before the reload above read, so
        // applying them on top (idempotently, in order) is exact.
        for delta in &changes.sessions {
            apply_session(&mut records, delta);
            changed.push(delta.username().to_owned());
        }
        drop(records);
        if self.watcher.is_some() && !changed.is_empty() {
            changed.sort_unstable();
            changed.dedup();
            self.tell(Changed::Subscribers(changed));
        }
        Ok(())
    }

    fn full_reload(&mut self, client: &mut Client) -> db::Result<()> {
        let started = Instant::now();
        self.records.write().begin_pass();
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        let (records, dictionary) = (&self.records, &self.dictionary);
        let put = |batch: &mut Vec<SubscriberRecord>| {
            let mut table = records.write();
            for rec in batch.drain(..) {
                table.upsert(rec);
            }
        };
        db::for_each_subscriber(client, &mut |mut rec| {
            dictionary.screen(&mut rec);
            batch.push(rec);
            if batch.len() == LOAD_BATCH {
                put(&mut batch);
            }
            Ok(())
        })?;
        put(&mut batch);
        let (count, skipped) = {
            let mut table = self.records.write();
            table.end_pass();
            let skipped: Vec<SubscriberRecord> = table.with_skipped_rows().collect();
            (table.len(), skipped)
        };
        self.report_skipped(&skipped, true);
        self.fallback.close();
        self.tell(Changed::Everything);
        info!(
            "subscriber snapshot loaded: {count} subscribers in {} ms",
            started.elapsed().as_millis()
        );
        Ok(())
    }

    /// Logs the skipped override rows of a load that the log has not named.
    fn report_skipped<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a SubscriberRecord>,
        full: bool,
    ) {
        for line in self.skipped.note(records, full) {
            warn!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_pick_targeted_or_full_reloads() {
        let mut c = Changes::default();
        c.note(Payload::parse("customers alice"));
        c.note(Payload::parse("invoices bob"));
        c.note(Payload::parse("radacct alice"));
        c.note(Payload::parse("plans 7"));
        c.note(Payload::parse("nas 127.0.0.1"));
        assert!(!c.everything);
        assert_eq!(c.usernames.len(), 2);
        assert!(c.plans.contains(&7));

        let mut bulk = Changes::default();
        bulk.note(Payload::parse("customers *"));
        assert!(bulk.everything);

        let mut group = Changes::default();
        group.note(Payload::parse("radgroupreply group:gold"));
        assert!(group.everything);

        let mut bad_plan = Changes::default();
        bad_plan.note(Payload::parse("plans x"));
        assert!(bad_plan.everything);

        let mut ignored = Changes::default();
        ignored.note(Payload::parse("certificates 12"));
        assert!(ignored.is_empty());
    }

    fn opened(id: &str, at: i64) -> String {
        format!(
            r#"session+ {{"username":"alice","acct_unique_id":"{id}","nas_ip":"10.0.0.1","calling_station_id":null,"started_at":{at}}}"#
        )
    }

    /// Alice with no open session, in the shape the database loads.
    fn alice() -> Table {
        let rec: SubscriberRecord = serde_json::from_str(
            r#"{"subscriber": {"id": 1, "username": "alice", "password": "pw", "full_name": "Alice",
                               "status": "active", "mac_binding": null, "static_ip": null},
                "plan": null, "subscription": null, "unpaid_invoices": [], "cycle_usage_bytes": 0,
                "usage_cycle_start": null,
                "open_sessions": [], "group_replies": [], "user_replies": []}"#,
        )
        .expect("a valid record");
        let mut table = Table::new();
        table.upsert(rec);
        table
    }

    fn apply_all(records: &mut Table, c: &Changes) {
        for d in &c.sessions {
            apply_session(records, d);
        }
    }

    #[test]
    fn session_payloads_open_and_close_in_memory() {
        let mut c = Changes::default();
        c.note(Payload::parse(&opened("s2", 200)));
        c.note(Payload::parse(&opened("s1", 100)));
        c.note(Payload::parse(&opened("s3", 200)));
        c.note(Payload::parse(
            r#"session- {"username":"alice","acct_unique_id":"s2"}"#,
        ));
        c.note(Payload::parse(&opened("s9", 50).replace("alice", "nobody")));
        assert!(!c.everything && c.usernames.is_empty());
        assert_eq!(c.sessions.len(), 5);

        let mut records = alice();
        apply_all(&mut records, &c);
        let open = records.open_sessions("alice");
        let ids: Vec<_> = open.iter().map(|s| s.acct_unique_id.as_str()).collect();
        // Ordered by start time, then arrival, as a reload orders them.
        assert_eq!(ids, ["s1", "s3"]);
        assert!(!records.contains("nobody"));

        // Applying the same changes again changes nothing (a reload that
        // already saw them, a duplicate notification).
        let before = records.get("alice");
        apply_all(&mut records, &c);
        assert_eq!(records.get("alice"), before);
    }

    #[test]
    fn a_reopened_session_is_replaced_not_doubled() {
        let mut c = Changes::default();
        c.note(Payload::parse(&opened("s1", 100)));
        c.note(Payload::parse(
            &opened("s1", 100).replace("null", r#""aa-bb""#),
        ));
        let mut records = alice();
        apply_all(&mut records, &c);
        let open = records.open_sessions("alice");
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].calling_station_id.as_deref(), Some("aa-bb"));
    }

    #[test]
    fn an_unreadable_session_payload_reloads_everything() {
        for bad in [
            "session+ {",
            r#"session+ {"username":"alice"}"#,
            "session- []",
        ] {
            let mut c = Changes::default();
            c.note(Payload::parse(bad));
            assert!(c.everything, "{bad}");
        }
    }

    #[test]
    fn a_flood_of_usernames_becomes_one_full_reload() {
        let mut c = Changes::default();
        for i in 0..=MAX_TARGETED {
            c.note(Payload::parse(&format!("customers u{i}")));
        }
        assert!(c.everything);
    }
}
