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
//! says `NotLoaded` (callers answer FAIL); after that it serves the last
//! known state, and `health()` tells how old that is.
//!
//! Usage needs no reload at a cycle's end: a record holds the usage of the
//! billing cycle of its load (`usage_cycle_start`), which a decision reads as
//! 0 once that cycle is over (`cycle::usage_now`); the new cycle's usage
//! reloads the record when it crosses the cap (`usage` notification).
//!
//! Reply override rows are checked as they are read (`Dictionary::screen`,
//! against the snapshot's dictionary): a row FreeRADIUS could not send is
//! left out of the reply, and the log says so once per row, not per login.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::RwLock;
use postgres::Client;

use crate::db;
use crate::dictionary::Dictionary;
use crate::live::{self, Live, Mirror, Payload};
use crate::model::{OpenSession, Plan, ReplyOverride, ReplySource, SkippedReply, SubscriberRecord};

/// At most this many usernames are reloaded one by one per batch; a larger
/// burst (a bulk change) is cheaper as a full reload.
const MAX_TARGETED: usize = 2_000;
/// At most this many skipped override rows are named per load; the rest
/// are counted in one line.
const MAX_SKIPPED_LINES: usize = 10;

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

    /// Applies a session open or close to the subscriber's open sessions.
    /// Idempotent, so a change the last reload already saw is harmless.
    fn apply_session(&mut self, delta: &SessionDelta) {
        let (username, id) = match delta {
            SessionDelta::Opened { username, session } => (username, &session.acct_unique_id),
            SessionDelta::Closed {
                username,
                acct_unique_id,
            } => (username, acct_unique_id),
        };
        // Sessions of usernames that are no subscriber's matter to nobody.
        let Some(rec) = self.by_name.get_mut(username.as_str()) else {
            return;
        };
        let rec = Arc::make_mut(rec);
        rec.open_sessions.retain(|s| &s.acct_unique_id != id);
        if let SessionDelta::Opened { session, .. } = delta {
            // The order a reload gives: by start time, then as they came.
            let at = rec
                .open_sessions
                .partition_point(|s| s.started_at <= session.started_at);
            rec.open_sessions.insert(at, session.clone());
        }
    }

    /// Swaps in a changed plan for every subscriber on it; the usernames
    /// of those online go to `online`.
    fn replace_plan(&mut self, plan: &Plan, online: &mut Vec<String>) {
        for (name, rec) in self.by_name.iter_mut() {
            if rec.plan.as_ref().is_some_and(|p| p.id == plan.id) {
                if !rec.open_sessions.is_empty() {
                    online.push(name.clone());
                }
                Arc::make_mut(rec).plan = Some(plan.clone());
            }
        }
    }
}

/// The skipped override rows the log has named, so each is named once:
/// per username for its radreply rows, under None for radgroupreply rows
/// (one row reaches every member of the group).
#[derive(Default)]
struct SkippedRows {
    said: HashMap<Option<String>, HashSet<ReplyOverride>>,
}

impl SkippedRows {
    /// The log lines for the skipped rows of `records` not named before: on
    /// a full load (`full`), those not skipped in the previous load; on a
    /// reload of some users, those not named yet. At most
    /// [`MAX_SKIPPED_LINES`] rows are named, the rest counted exactly.
    fn note<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a SubscriberRecord>,
        full: bool,
    ) -> Vec<String> {
        let mut before = if full {
            std::mem::take(&mut self.said)
        } else {
            HashMap::new()
        };
        let mut lines = Vec::new();
        let mut unnamed = 0u64;
        for r in records {
            let user = &r.subscriber.username;
            if !full {
                // A reloaded user's rows are all here: they replace what was said.
                if let Some(old) = self.said.remove(&Some(user.clone())) {
                    before.insert(Some(user.clone()), old);
                }
            }
            for s in &r.skipped_replies {
                let owner = match s.source {
                    ReplySource::User | ReplySource::UserCheck => Some(user.clone()),
                    ReplySource::Group | ReplySource::GroupCheck => None,
                };
                let said = before.get(&owner).is_some_and(|b| b.contains(&s.row));
                let new = self.said.entry(owner).or_default().insert(s.row.clone());
                if said || !new {
                    continue;
                }
                if lines.len() < MAX_SKIPPED_LINES {
                    lines.push(skipped_line(user, s));
                } else {
                    unnamed += 1;
                }
            }
        }
        if unnamed > 0 {
            lines.push(format!(
                "{unnamed} more reply rows skipped (not named here); \
                 netadmin check USER names a subscriber's"
            ));
        }
        lines
    }
}

/// One skipped row, for the log: never its value (a row may hold a key);
/// `netadmin check` shows it.
fn skipped_line(user: &str, s: &SkippedReply) -> String {
    let (attribute, op) = (s.row.attribute.escape_debug(), s.row.op.escape_debug());
    let user = user.escape_debug();
    match s.source {
        ReplySource::User => format!(
            "reply row skipped for user \"{user}\": {attribute} {op} (value not logged): {}; \
             netadmin check {user} shows it",
            s.reason
        ),
        ReplySource::Group => format!(
            "reply row skipped: {attribute} {op} (a group row of user \"{user}\" and maybe \
             others; value not logged): {}; netadmin check {user} shows it",
            s.reason
        ),
        ReplySource::UserCheck | ReplySource::GroupCheck => format!(
            "{} row of user \"{user}\" not used: {attribute} {op} (value not logged): {}; \
             netadmin check {user} shows it",
            s.source.table(),
            s.reason
        ),
    }
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
    records: Arc<RwLock<Records>>,
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
        let records = Arc::new(RwLock::new(Records::default()));
        let loader = Loader {
            records: Arc::clone(&records),
            dictionary,
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
            live: Live::start(options, loader)?,
        })
    }

    /// The current record of `username`; never touches the database.
    pub fn lookup(&self, username: &str) -> Lookup {
        if !self.live.is_loaded() {
            return Lookup::NotLoaded;
        }
        match self.records.read().by_name.get(username) {
            Some(rec) => Lookup::Found(Arc::clone(rec)),
            None => Lookup::Unknown,
        }
    }

    /// The records of every subscriber with an open session.
    pub fn online(&self) -> Vec<Arc<SubscriberRecord>> {
        self.records
            .read()
            .by_name
            .values()
            .filter(|r| !r.open_sessions.is_empty())
            .cloned()
            .collect()
    }

    pub fn health(&self) -> Health {
        let status = self.live.status();
        Health {
            loaded: status.loaded,
            live: status.live,
            subscribers: self.records.read().by_name.len(),
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
    records: Arc<RwLock<Records>>,
    /// What override rows may set (narrower than the standard table when
    /// radiusd's own dictionary lacks some).
    dictionary: Dictionary,
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
        for plan in &plans {
            records.replace_plan(plan, &mut changed);
        }
        for (name, rec) in reloaded {
            records.put(&name, rec);
        }
        // Every delta here was committed before the reload above read, so
        // applying them on top (idempotently, in order) is exact.
        for delta in &changes.sessions {
            records.apply_session(delta);
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
        let mut all = db::load_all_subscribers(client)?;
        for rec in &mut all {
            self.dictionary.screen(rec);
        }
        self.report_skipped(&all, true);
        let fresh = Records::from_all(all);
        let count = fresh.by_name.len();
        *self.records.write() = fresh;
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
    fn alice() -> Records {
        let rec: SubscriberRecord = serde_json::from_str(
            r#"{"subscriber": {"id": 1, "username": "alice", "password": "pw", "full_name": "Alice",
                               "status": "active", "mac_binding": null, "static_ip": null},
                "plan": null, "subscription": null, "unpaid_invoices": [], "cycle_usage_bytes": 0,
                "usage_cycle_start": null,
                "open_sessions": [], "group_replies": [], "user_replies": []}"#,
        )
        .expect("a valid record");
        Records::from_all(vec![rec])
    }

    fn apply_all(records: &mut Records, c: &Changes) {
        for d in &c.sessions {
            records.apply_session(d);
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
        let ids: Vec<_> = records.by_name["alice"]
            .open_sessions
            .iter()
            .map(|s| s.acct_unique_id.as_str())
            .collect();
        // Ordered by start time, then arrival, as a reload orders them.
        assert_eq!(ids, ["s1", "s3"]);
        assert!(!records.by_name.contains_key("nobody"));

        // Applying the same changes again changes nothing (a reload that
        // already saw them, a duplicate notification).
        let before = records.by_name["alice"].clone();
        apply_all(&mut records, &c);
        assert_eq!(records.by_name["alice"], before);
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
        let open = &records.by_name["alice"].open_sessions;
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

    /// `user` with radreply rows `user_rows` and radgroupreply rows
    /// `group_rows` (attribute, value), screened as a load screens them.
    fn with_rows(
        user: &str,
        user_rows: &[(&str, &str)],
        group_rows: &[(&str, &str)],
    ) -> SubscriberRecord {
        let mut rec = (*alice().by_name["alice"]).clone();
        rec.subscriber.username = user.into();
        let rows = |rows: &[(&str, &str)]| -> Vec<ReplyOverride> {
            rows.iter()
                .map(|(a, v)| ReplyOverride {
                    attribute: (*a).into(),
                    op: ":=".into(),
                    value: (*v).into(),
                })
                .collect()
        };
        rec.user_replies = rows(user_rows);
        rec.group_replies = rows(group_rows);
        Dictionary::standard().screen(&mut rec);
        rec
    }

    #[test]
    fn a_skipped_row_is_logged_once_not_per_load_or_member() {
        let bad_group = [("Session-Timeout", "abc")];
        let alice = with_rows("alice", &[("Framed-IP-Address", "not-an-ip")], &bad_group);
        let bob = with_rows("bob", &[], &bad_group);
        let mut said = SkippedRows::default();
        let lines = said.note([&alice, &bob], true);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[1].starts_with(
            "reply row skipped for user \"alice\": Framed-IP-Address := (value not logged): not an IPv4"
        ), "{lines:#?}");
        assert!(lines[0].starts_with(
            "reply row skipped: Session-Timeout := (a group row of user \"alice\" and maybe others"
        ), "{lines:#?}");
        assert!(
            !lines.concat().contains("not-an-ip"),
            "values are not logged"
        );

        // The same rows again: a full reload, or alice's record reloaded.
        assert!(said.note([&alice, &bob], true).is_empty());
        assert!(said.note([&alice], false).is_empty());
        // Fixed, then broken again: named again.
        let fixed = with_rows("alice", &[], &bad_group);
        assert!(said.note([&fixed], false).is_empty());
        assert_eq!(said.note([&alice], false).len(), 1);
        // A new bad row of another user is named.
        let carol = with_rows("carol", &[("Idle-Timeout", "x")], &[]);
        assert_eq!(said.note([&carol], false).len(), 1);
    }

    #[test]
    fn a_load_names_a_few_skipped_rows_and_counts_the_rest() {
        let users: Vec<SubscriberRecord> = (0..25)
            .map(|i| with_rows(&format!("u{i}"), &[("No-Such-Attribute", "x")], &[]))
            .collect();
        let lines = SkippedRows::default().note(&users, true);
        assert_eq!(lines.len(), MAX_SKIPPED_LINES + 1);
        assert_eq!(
            lines[MAX_SKIPPED_LINES],
            "15 more reply rows skipped (not named here); netadmin check USER names a subscriber's"
        );
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
