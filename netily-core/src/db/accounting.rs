//! Accounting into radacct: one statement per packet.
//!
//! A Start, Interim-Update or Stop is one `INSERT ... ON CONFLICT
//! (acctuniqueid) DO UPDATE ... WHERE acctstoptime IS NULL`: the rules of
//! `crate::accounting` are conditions in SQL, so the database applies them
//! atomically and a retransmit can never double-count (counters only move
//! up, a closed session stays closed). Accounting-On/Off is one UPDATE of the
//! NAS's open sessions. The usage trigger (migration 0005) adds each row's
//! octet delta to the subscriber's cycle: a duplicate changes nothing, so it
//! adds nothing.
//!
//! [`AccountingStore`] is the server side: a few writer threads with the
//! statements prepared on their connections commit queued packets in
//! batches (group commit). When the database is unreachable it fails fast:
//! a request waits at most the configured bound, and after a failure the
//! store answers "unavailable" at once for a short while instead of making
//! every request thread wait again.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Statement};

use super::error::{q, Error, Result};
use super::pool::redact_url;
use crate::accounting::{Change, NasRestart, SessionChange};

/// Start/Interim/Stop as one upsert. $1 is the event ('start', 'interim',
/// 'stop'); see [`session_params`] for the rest.
const UPSERT_SESSION: &str = "
INSERT INTO radacct AS r (
    acctsessionid, acctuniqueid, username, nasipaddress, nasportid, nasporttype,
    acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    connectinfo_start, connectinfo_stop, acctinputoctets, acctoutputoctets,
    calledstationid, callingstationid, acctterminatecause, servicetype, framedprotocol,
    framedipaddress, class)
VALUES (
    $3::text, $2::text, $4::text, $5::inet, $6::text, $7::text,
    to_timestamp($9::bigint), to_timestamp($8::bigint),
    CASE WHEN $1::text = 'stop' THEN to_timestamp($8::bigint) END,
    coalesce($10::bigint, 0), $17::text,
    CASE WHEN $1::text <> 'stop' THEN $20::text END,
    CASE WHEN $1::text = 'stop' THEN $20::text END,
    coalesce($11::bigint, 0), coalesce($12::bigint, 0),
    $14::text, $15::text, $13::text, $18::text, $19::text,
    $16::inet, $21::text)
ON CONFLICT (acctuniqueid) DO UPDATE SET
    acctstarttime = CASE WHEN $1::text = 'start' THEN EXCLUDED.acctstarttime
                         ELSE r.acctstarttime END,
    acctupdatetime = greatest(r.acctupdatetime, EXCLUDED.acctupdatetime),
    acctstoptime = EXCLUDED.acctstoptime,
    acctinterval = CASE WHEN $1::text = 'interim'
                         AND EXCLUDED.acctupdatetime > coalesce(r.acctupdatetime, r.acctstarttime)
                        THEN $8::bigint - floor(extract(epoch FROM coalesce(r.acctupdatetime, r.acctstarttime)))::bigint
                        ELSE r.acctinterval END,
    acctsessiontime = greatest(r.acctsessiontime, $10::bigint,
                               CASE WHEN $1::text = 'stop'
                                    THEN $8::bigint - floor(extract(epoch FROM r.acctstarttime))::bigint END),
    acctinputoctets = greatest(r.acctinputoctets, $11::bigint),
    acctoutputoctets = greatest(r.acctoutputoctets, $12::bigint),
    acctterminatecause = coalesce(EXCLUDED.acctterminatecause, r.acctterminatecause),
    connectinfo_start = coalesce(r.connectinfo_start, EXCLUDED.connectinfo_start),
    connectinfo_stop = coalesce(EXCLUDED.connectinfo_stop, r.connectinfo_stop),
    username = coalesce(r.username, EXCLUDED.username),
    nasportid = coalesce(EXCLUDED.nasportid, r.nasportid),
    nasporttype = coalesce(EXCLUDED.nasporttype, r.nasporttype),
    calledstationid = coalesce(EXCLUDED.calledstationid, r.calledstationid),
    callingstationid = coalesce(EXCLUDED.callingstationid, r.callingstationid),
    framedipaddress = coalesce(EXCLUDED.framedipaddress, r.framedipaddress),
    acctauthentic = coalesce(EXCLUDED.acctauthentic, r.acctauthentic),
    servicetype = coalesce(EXCLUDED.servicetype, r.servicetype),
    framedprotocol = coalesce(EXCLUDED.framedprotocol, r.framedprotocol),
    class = coalesce(EXCLUDED.class, r.class)
WHERE r.acctstoptime IS NULL";

/// Accounting-On/Off: every session of the NAS that began before it restarted.
const CLOSE_NAS_SESSIONS: &str = "
UPDATE radacct
   SET acctstoptime = to_timestamp($2::bigint),
       acctupdatetime = to_timestamp($2::bigint),
       acctsessiontime = greatest(acctsessiontime,
                                  $2::bigint - floor(extract(epoch FROM acctstarttime))::bigint),
       acctterminatecause = $3::text
 WHERE acctstoptime IS NULL
   AND nasipaddress = $1::inet
   AND acctstarttime <= to_timestamp($2::bigint)";

/// What recording one packet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The session row was created or updated.
    Session,
    /// Nothing changed: the session was already closed (a late Interim, a
    /// duplicate Stop). The packet is still acknowledged.
    AlreadyClosed,
    /// Accounting-On/Off closed this many open sessions.
    NasSessionsClosed(u64),
    /// A status type radacct does not record.
    Ignored,
}

/// Runs the session upsert through `exec` with its parameters in order.
fn session_params<R>(s: &SessionChange, exec: impl FnOnce(&[&(dyn ToSql + Sync)]) -> R) -> R {
    let framed_ip: Option<IpAddr> = s.framed_ip;
    exec(&[
        &s.event.as_str(),
        &s.unique_id,
        &s.session_id,
        &s.username,
        &s.nas_ip,
        &s.nas_port_id,
        &s.nas_port_type,
        &s.event_at,
        &s.started_at,
        &s.session_time,
        &s.input_octets,
        &s.output_octets,
        &s.terminate_cause,
        &s.called_station_id,
        &s.calling_station_id,
        &framed_ip,
        &s.acct_authentic,
        &s.service_type,
        &s.framed_protocol,
        &s.connect_info,
        &s.class,
    ])
}

fn nas_params<R>(r: &NasRestart, exec: impl FnOnce(&[&(dyn ToSql + Sync)]) -> R) -> R {
    exec(&[&r.nas_ip, &r.at, &r.terminate_cause])
}

fn session_outcome(rows: u64) -> Recorded {
    if rows == 0 {
        Recorded::AlreadyClosed
    } else {
        Recorded::Session
    }
}

/// Applies one change on any client (netadmin, tests, a detail replay):
/// the same statements the server uses, prepared on the fly.
pub fn record_change(conn: &mut impl GenericClient, change: &Change) -> Result<Recorded> {
    match change {
        Change::Session(s) => session_params(s, |p| conn.execute(UPSERT_SESSION, p))
            .map(session_outcome)
            .map_err(q("recording a session in radacct")),
        Change::NasRestart(r) => nas_params(r, |p| conn.execute(CLOSE_NAS_SESSIONS, p))
            .map(Recorded::NasSessionsClosed)
            .map_err(q("closing a NAS's sessions in radacct")),
        Change::Ignore { .. } => Ok(Recorded::Ignored),
    }
}

/// A connection with the accounting statements prepared on it.
struct PreparedConnection {
    client: Client,
    upsert_session: Statement,
    close_nas: Statement,
}

impl PreparedConnection {
    fn open(config: &postgres::Config) -> std::result::Result<Self, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        let upsert_session = client.prepare(UPSERT_SESSION)?;
        let close_nas = client.prepare(CLOSE_NAS_SESSIONS)?;
        Ok(PreparedConnection {
            client,
            upsert_session,
            close_nas,
        })
    }

    /// One change on this connection (inside whatever transaction is open).
    fn apply(&mut self, change: &Change) -> std::result::Result<Recorded, postgres::Error> {
        let client = &mut self.client;
        match change {
            Change::Session(s) => {
                session_params(s, |p| client.execute(&self.upsert_session, p)).map(session_outcome)
            }
            Change::NasRestart(r) => nas_params(r, |p| client.execute(&self.close_nas, p))
                .map(Recorded::NasSessionsClosed),
            Change::Ignore { .. } => Ok(Recorded::Ignored),
        }
    }
}

/// After a failure to reach the database, answer "unavailable" at once for
/// this long: request threads must not queue up behind a dead database.
const FAIL_FAST_FOR: Duration = Duration::from_secs(1);
/// Packets committed together at most.
const BATCH_MAX: usize = 128;
/// Packets waiting at most; beyond that the database is too slow and a new
/// packet fails at once (the NAS retransmits it).
const QUEUE_MAX: usize = 4_096;
/// Writer threads (and connections) at most: commits of packets that open
/// or close a session serialize in PostgreSQL anyway (their NOTIFY), so more
/// writers would only make smaller batches.
const WRITERS_MAX: u32 = 4;
/// How often an idle writer checks whether to stop.
const POLL: Duration = Duration::from_millis(200);

/// Whether the database is reachable, as the last attempts tell.
#[derive(Debug)]
struct Health {
    url: String,
    failing_until: Mutex<Option<Instant>>,
    /// True while the database is known unreachable (logged once per outage).
    down: AtomicBool,
}

impl Health {
    fn failing(&self) -> bool {
        matches!(*self.failing_until.lock(), Some(t) if Instant::now() < t)
    }

    /// Records a failure to reach the database; returns the error to report.
    fn trip(&self, detail: &str) -> Error {
        *self.failing_until.lock() = Some(Instant::now() + FAIL_FAST_FOR);
        if !self.down.swap(true, Ordering::AcqRel) {
            log::error!(
                "accounting: database {} unavailable ({detail}); answering fail until it is back",
                self.url
            );
        }
        self.error(detail)
    }

    fn up(&self) {
        *self.failing_until.lock() = None;
        if self.down.swap(false, Ordering::AcqRel) {
            log::info!("accounting: database {} is back", self.url);
        }
    }

    fn error(&self, detail: &str) -> Error {
        Error::Connect {
            url: self.url.clone(),
            detail: detail.to_owned(),
        }
    }
}

/// Where a writer puts one packet's result for the request thread waiting on it.
#[derive(Default)]
struct Slot {
    result: Mutex<Option<Result<Recorded>>>,
    filled: Condvar,
}

impl Slot {
    fn fill(&self, r: Result<Recorded>) {
        *self.result.lock() = Some(r);
        self.filled.notify_one();
    }
}

struct Job {
    change: Change,
    slot: Arc<Slot>,
}

struct Shared {
    queue: Mutex<VecDeque<Job>>,
    queued: Condvar,
    stop: AtomicBool,
    health: Health,
    config: postgres::Config,
}

/// The server's accounting writer.
///
/// Request threads queue their packet and wait (at most the configured
/// bound) for its result; a few writer threads, each with its own
/// connection and prepared statements, take whatever is queued and commit it
/// in one transaction: one upsert per packet, one commit (one WAL flush, one
/// NOTIFY lock) per batch. That is PostgreSQL's group commit done in the
/// application, where it also covers NOTIFY, whose commit lock otherwise
/// serializes every session Start and Stop. A packet is acknowledged only
/// after its batch committed. Replaying a batch is harmless (the statements
/// are idempotent), so a batch whose commit is in doubt is simply retried,
/// and a request that gave up waiting can be committed later without harm:
/// the NAS's retransmit then finds it done.
pub struct AccountingStore {
    shared: Arc<Shared>,
    wait: Duration,
    writers: Vec<JoinHandle<()>>,
}

impl AccountingStore {
    /// A store with up to `pool_size` (at most 4) writer connections. Never
    /// blocks and never fails on an unreachable database: writers connect
    /// in the background. `timeout` bounds a connect, a request's wait and
    /// (as statement_timeout) a statement.
    pub fn new(url: &str, pool_size: u32, timeout: Duration) -> Result<AccountingStore> {
        let mut config: postgres::Config =
            url.parse().map_err(|e: postgres::Error| Error::Connect {
                url: redact_url(url),
                detail: format!("not a valid PostgreSQL URL ({e})"),
            })?;
        config.connect_timeout(timeout);
        if config.get_application_name().is_none() {
            config.application_name("netily-accounting");
        }
        let statement_timeout = format!("-c statement_timeout={}", timeout.as_millis().max(1));
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {statement_timeout}"),
            _ => statement_timeout,
        };
        config.options(&options);
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            stop: AtomicBool::new(false),
            health: Health {
                url: redact_url(url),
                failing_until: Mutex::new(None),
                down: AtomicBool::new(false),
            },
            config,
        });
        let mut store = AccountingStore {
            shared,
            wait: timeout,
            writers: Vec::new(),
        };
        for n in 0..pool_size.clamp(1, WRITERS_MAX) {
            let shared = Arc::clone(&store.shared);
            let writer = std::thread::Builder::new()
                .name(format!("netily-acct-{n}"))
                .spawn(move || write_forever(&shared))
                .map_err(|e| Error::Query {
                    what: "starting the accounting writer".into(),
                    detail: e.to_string(),
                })?;
            store.writers.push(writer);
        }
        Ok(store)
    }

    /// Records one change; Ok only once PostgreSQL has committed it. Waits
    /// at most the store's bound, and not at all while the database is
    /// known to be unreachable.
    pub fn record(&self, change: &Change) -> Result<Recorded> {
        if let Change::Ignore { .. } = change {
            return Ok(Recorded::Ignored);
        }
        let health = &self.shared.health;
        if health.failing() {
            return Err(health.error("unavailable (it failed moments ago)"));
        }
        let slot = Arc::new(Slot::default());
        {
            let mut queue = self.shared.queue.lock();
            if queue.len() >= QUEUE_MAX {
                return Err(health.error("too slow: the accounting queue is full"));
            }
            queue.push_back(Job {
                change: change.clone(),
                slot: Arc::clone(&slot),
            });
        }
        self.shared.queued.notify_one();
        let deadline = Instant::now() + self.wait;
        let mut result = slot.result.lock();
        loop {
            if let Some(r) = result.take() {
                return r;
            }
            if slot.filled.wait_until(&mut result, deadline).timed_out() {
                return match result.take() {
                    Some(r) => r,
                    None => {
                        Err(health.error(&format!("no answer within {} ms", self.wait.as_millis())))
                    }
                };
            }
        }
    }
}

impl Drop for AccountingStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.queued.notify_all();
        for w in self.writers.drain(..) {
            if w.join().is_err() {
                log::error!("accounting writer thread panicked");
            }
        }
    }
}

/// Takes up to BATCH_MAX queued jobs, waiting while there are none; None
/// when the store is dropped.
fn next_batch(shared: &Shared) -> Option<Vec<Job>> {
    let mut queue = shared.queue.lock();
    while queue.is_empty() {
        if shared.stop.load(Ordering::Acquire) {
            return None;
        }
        shared.queued.wait_for(&mut queue, POLL);
    }
    let n = queue.len().min(BATCH_MAX);
    let mut batch: Vec<Job> = queue.drain(..n).collect();
    drop(queue);
    // Every writer takes its row locks (radacct, and the usage row the
    // trigger updates) in one order, so concurrent batches wait for each
    // other instead of deadlocking. Stable: a session's packets keep their
    // order.
    batch.sort_by(|a, b| lock_order(&a.change).cmp(&lock_order(&b.change)));
    Some(batch)
}

fn lock_order(change: &Change) -> (u8, Option<&str>, &str) {
    match change {
        Change::NasRestart(_) | Change::Ignore { .. } => (0, None, ""),
        Change::Session(s) => (1, s.username.as_deref(), s.unique_id.as_str()),
    }
}

/// Fails every queued job (the database is unreachable).
fn fail_queued(shared: &Shared, detail: &str) {
    let jobs: Vec<Job> = shared.queue.lock().drain(..).collect();
    for j in jobs {
        j.slot.fill(Err(shared.health.error(detail)));
    }
}

fn write_forever(shared: &Shared) {
    let mut conn: Option<PreparedConnection> = None;
    while let Some(batch) = next_batch(shared) {
        if conn.is_none() {
            // While the database is known unreachable, answer at once: a
            // connect attempt per batch would hold request threads. The
            // fail-fast window paces the reconnect attempts.
            if shared.health.failing() {
                for j in batch {
                    j.slot.fill(Err(shared.health.error("unavailable")));
                }
                continue;
            }
            match PreparedConnection::open(&shared.config) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let err = connect_detail(&e);
                    shared.health.trip(&err);
                    for j in batch {
                        j.slot.fill(Err(shared.health.error(&err)));
                    }
                    fail_queued(shared, &err);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut outcome = commit_batch(c, &batch);
        if matches!(&outcome, Err(e) if e.is_closed()) {
            // A connection from before a database restart: replay the batch
            // (idempotent) once on a fresh one.
            outcome = PreparedConnection::open(&shared.config).and_then(|fresh| {
                let c = conn.insert(fresh);
                commit_batch(c, &batch)
            });
        }
        match outcome {
            Ok(results) => {
                shared.health.up();
                for (j, r) in batch.into_iter().zip(results) {
                    j.slot.fill(r);
                }
            }
            Err(e) => {
                // The connection is gone (or the commit is in doubt): drop
                // it; the batch is refused and the NASes retransmit.
                conn = None;
                let err = connect_detail(&e);
                shared.health.trip(&err);
                for j in batch {
                    j.slot.fill(Err(shared.health.error(&err)));
                }
            }
        }
    }
}

/// One transaction for the batch. A statement that fails on its data (not
/// the connection) aborts the transaction; the batch is then replayed one
/// packet per transaction, so only the bad packet fails. Err only when the
/// connection failed.
fn commit_batch(
    c: &mut PreparedConnection,
    batch: &[Job],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    if batch.len() == 1 {
        return one_by_one(c, batch);
    }
    c.client.batch_execute("BEGIN")?;
    let mut results = Vec::with_capacity(batch.len());
    for j in batch {
        match c.apply(&j.change) {
            Ok(r) => results.push(Ok(r)),
            Err(e) if e.as_db_error().is_some() => {
                c.client.batch_execute("ROLLBACK")?;
                return one_by_one(c, batch);
            }
            Err(e) => return Err(e),
        }
    }
    c.client.batch_execute("COMMIT")?;
    Ok(results)
}

fn one_by_one(
    c: &mut PreparedConnection,
    batch: &[Job],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    let mut results = Vec::with_capacity(batch.len());
    for j in batch {
        match c.apply(&j.change) {
            Ok(r) => results.push(Ok(r)),
            Err(e) if e.as_db_error().is_some() => {
                results.push(Err(q("recording accounting in radacct")(e)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}

/// The cause of a connection failure ("Connection refused"), not just the
/// driver's "error connecting to server".
fn connect_detail(e: &postgres::Error) -> String {
    use std::error::Error as _;
    match (e.as_db_error(), e.source()) {
        (Some(db), _) => db.message().to_owned(),
        (None, Some(src)) => src.to_string(),
        (None, None) => e.to_string(),
    }
}
