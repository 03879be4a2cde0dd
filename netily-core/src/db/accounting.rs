//! Accounting into radacct, many packets per statement.
//!
//! Starts, Interim-Updates or Stops are one `INSERT ... SELECT FROM unnest
//! ... ON CONFLICT (acctuniqueid) DO UPDATE ... WHERE acctstoptime IS NULL`:
//! the rules of `crate::accounting` are conditions in SQL, so the database
//! applies them atomically and a retransmit can never double-count (counters
//! only move up, a closed session stays closed). Accounting-On/Off is one
//! UPDATE of the NAS's open sessions. The radacct triggers (migration 0010)
//! add each row's octet delta to the subscriber's cycle (a duplicate changes
//! nothing, so it adds nothing) and tell the snapshots which sessions opened
//! or closed.
//!
//! [`AccountingStore`] is the server side: a few writer threads with the
//! statements prepared on their connections commit queued packets in
//! batches (group commit), a handful of statements per batch. When the database is unreachable it fails fast:
//! a request waits at most the configured bound, and after a failure the
//! store answers "unavailable" at once for a short while instead of making
//! every request thread wait again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use postgres::{Client, NoTls, Statement};

use super::error::{q, Error, Result};
use super::pool::redact_url;
use crate::accounting::{Change, SessionChange, SessionEvent};

/// Start, Interim-Update and Stop packets of many sessions, each session at
/// most once, as one statement. $1.. are arrays with one element per packet
/// (see [`SessionColumns`]); $1 is the event ('start', 'interim', 'stop').
/// Returns the acctuniqueid of every row it created or changed; one missing
/// was already closed.
///
/// The statement also does, once for the whole batch, what the radacct
/// triggers do for other writers (migration 0010; this connection sets
/// netily.accounting_writer so they skip it): it adds what the counters grew
/// by to the subscriber's usage in the cycle of the packet's event time
/// (`netily_cycle_start`, migration 0017; so a new cycle starts at zero), and notifies the sessions that opened
/// or closed and the caps crossed, with the triggers' payloads. What a
/// counter grew by is measured against the row as this statement found it;
/// a subscriber's packets are never in two writers' batches at once (see
/// [`Queue`]), so no
/// other writer of this server changes the row in between.
///
/// Sums never fail: byte counts are added as numeric and the usage stored
/// saturates at the top of bigint (a packet's own counters are bounded by
/// `crate::accounting`, but rows written by others may hold anything).
const RECORD_SESSIONS: &str = "
WITH input AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::inet[], $6::text[],
                         $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                         $12::bigint[], $13::text[], $14::text[], $15::text[], $16::inet[],
                         $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
           WITH ORDINALITY AS x(ev, uid, sid, uname, nas, portid, porttype, ev_at, started,
                                stime, inoct, outoct, cause, called, calling, fip, authentic,
                                stype, fproto, ci, cls, ord)
), before AS MATERIALIZED (
    SELECT r.acctuniqueid AS uid, r.username, r.nasipaddress AS nas, r.callingstationid AS calling,
           r.acctstarttime AS started, r.acctstoptime IS NULL AS is_open,
           coalesce(r.acctinputoctets, 0)::numeric + coalesce(r.acctoutputoctets, 0) AS bytes
      FROM radacct r
     WHERE r.acctuniqueid = ANY ($2::text[])
), changed AS (
    INSERT INTO radacct AS r (
        acctsessionid, acctuniqueid, username, nasipaddress, nasportid, nasporttype,
        acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
        connectinfo_start, connectinfo_stop, acctinputoctets, acctoutputoctets,
        calledstationid, callingstationid, acctterminatecause, servicetype, framedprotocol,
        framedipaddress, class)
    SELECT sid, uid, uname, nas, portid, porttype,
           to_timestamp(started), to_timestamp(ev_at),
           CASE WHEN ev = 'stop' THEN to_timestamp(ev_at) END,
           coalesce(stime, 0), authentic,
           CASE WHEN ev <> 'stop' THEN ci END,
           CASE WHEN ev = 'stop' THEN ci END,
           coalesce(inoct, 0), coalesce(outoct, 0),
           called, calling, cause, stype, fproto, fip, cls
      FROM input
     ORDER BY ord
    ON CONFLICT (acctuniqueid) DO UPDATE SET
        -- EXCLUDED is the row the insert would have made: the packet's
        -- values; its event comes from the Start and Interim id lists
        -- ($22, $23; an array test, not a scan of the input per row).
        acctstarttime = CASE WHEN EXCLUDED.acctuniqueid = ANY ($22::text[])
                             THEN EXCLUDED.acctstarttime ELSE r.acctstarttime END,
        acctupdatetime = greatest(r.acctupdatetime, EXCLUDED.acctupdatetime),
        acctstoptime = EXCLUDED.acctstoptime,
        acctinterval = CASE WHEN EXCLUDED.acctuniqueid = ANY ($23::text[])
                             AND EXCLUDED.acctupdatetime > coalesce(r.acctupdatetime, r.acctstarttime)
                            THEN floor(extract(epoch FROM EXCLUDED.acctupdatetime))::bigint
                                 - floor(extract(epoch FROM coalesce(r.acctupdatetime, r.acctstarttime)))::bigint
                            ELSE r.acctinterval END,
        acctsessiontime = greatest(r.acctsessiontime, EXCLUDED.acctsessiontime,
                                   CASE WHEN EXCLUDED.acctstoptime IS NOT NULL
                                        THEN floor(extract(epoch FROM EXCLUDED.acctstoptime))::bigint
                                             - floor(extract(epoch FROM r.acctstarttime))::bigint END),
        -- A counter the packet lacks was stored as 0: greatest() keeps the total.
        acctinputoctets = greatest(r.acctinputoctets, EXCLUDED.acctinputoctets),
        acctoutputoctets = greatest(r.acctoutputoctets, EXCLUDED.acctoutputoctets),
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
    WHERE r.acctstoptime IS NULL
    RETURNING r.acctuniqueid AS uid, r.username, r.nasipaddress AS nas,
              r.callingstationid AS calling, r.acctstarttime AS started,
              r.acctstoptime IS NULL AS is_open,
              coalesce(r.acctinputoctets, 0)::numeric + coalesce(r.acctoutputoctets, 0) AS bytes
), grown AS (
    -- OFFSET 0 keeps the lookups per subscriber (index probes): a cached
    -- plan cannot know the batch is small and would hash whole tables.
    SELECT k.customer_id, netily_cycle_start(k.anchor, d.at) AS cycle_start, k.cap, d.username,
           least(sum(d.bytes), 9223372036854775807)::bigint AS bytes
      FROM (SELECT n.username, to_timestamp(i.ev_at) AS at,
                   greatest(n.bytes - coalesce(b.bytes, 0), 0) AS bytes
              FROM changed n JOIN input i ON i.uid = n.uid LEFT JOIN before b ON b.uid = n.uid
             WHERE n.username IS NOT NULL) d,
           LATERAL (SELECT c.id AS customer_id, s.cycle_start AS anchor, p.data_cap_bytes AS cap
                      FROM customers c
                      JOIN subscriptions s ON s.customer_id = c.id AND s.active
                      LEFT JOIN plans p ON p.id = s.plan_id
                     WHERE c.username = d.username
                    OFFSET 0) k
     GROUP BY k.customer_id, 2, k.cap, d.username
), used AS (
    INSERT INTO usage AS u (customer_id, cycle_start, bytes)
    SELECT customer_id, cycle_start, bytes FROM grown WHERE bytes > 0 ORDER BY customer_id
    ON CONFLICT (customer_id, cycle_start)
       DO UPDATE SET bytes = least(u.bytes::numeric + EXCLUDED.bytes, 9223372036854775807)::bigint
    RETURNING u.customer_id, u.cycle_start, u.bytes
), notes AS (
    SELECT netily_session_closed(b.username, b.uid) AS payload
      FROM changed n JOIN before b ON b.uid = n.uid
     WHERE b.is_open AND b.username IS NOT NULL
       AND (NOT n.is_open OR n.username IS DISTINCT FROM b.username)
    UNION ALL
    SELECT netily_session_opened(n.username, n.uid, n.nas, n.calling, n.started)
      FROM changed n LEFT JOIN before b ON b.uid = n.uid
     WHERE n.is_open AND n.username IS NOT NULL
       AND (b.uid IS NULL OR NOT b.is_open
            OR (b.username, b.nas, b.calling, b.started)
               IS DISTINCT FROM (n.username, n.nas, n.calling, n.started))
    UNION ALL
    SELECT 'usage ' || g.username
      FROM used x
      JOIN grown g ON g.customer_id = x.customer_id AND g.cycle_start = x.cycle_start
     WHERE x.bytes >= g.cap AND x.bytes - g.bytes < g.cap
), sent AS (
    SELECT count(pg_notify('netily_changed', payload)) FROM notes
     WHERE octet_length(payload) < 8000
)
SELECT n.uid FROM changed n, sent";

/// Accounting-On/Off: every session of the NAS that began before it
/// restarted. Notifies the closed sessions itself, as [`RECORD_SESSIONS`]
/// does; returns how many it closed.
const CLOSE_NAS_SESSIONS: &str = "
WITH closed AS (
    UPDATE radacct
       SET acctstoptime = to_timestamp($2::bigint),
           acctupdatetime = to_timestamp($2::bigint),
           acctsessiontime = greatest(acctsessiontime,
                                      $2::bigint - floor(extract(epoch FROM acctstarttime))::bigint),
           acctterminatecause = $3::text
     WHERE acctstoptime IS NULL
       AND nasipaddress = $1::inet
       AND acctstarttime <= to_timestamp($2::bigint)
    RETURNING username, acctuniqueid
), sent AS (
    SELECT count(pg_notify('netily_changed', payload))
      FROM (SELECT netily_session_closed(username, acctuniqueid) AS payload
              FROM closed WHERE username IS NOT NULL) x
     WHERE octet_length(payload) < 8000
)
SELECT count(*)::bigint FROM closed, sent";

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

/// The packets' values as the arrays [`RECORD_SESSIONS`] takes ($1..$21),
/// and the unique ids of its Starts ($22) and Interim-Updates ($23).
#[derive(Default)]
struct SessionColumns<'a> {
    event: Vec<&'static str>,
    unique_id: Vec<&'a str>,
    session_id: Vec<&'a str>,
    username: Vec<Option<&'a str>>,
    nas_ip: Vec<IpAddr>,
    nas_port_id: Vec<Option<&'a str>>,
    nas_port_type: Vec<Option<&'a str>>,
    event_at: Vec<i64>,
    started_at: Vec<i64>,
    session_time: Vec<Option<i64>>,
    input_octets: Vec<Option<i64>>,
    output_octets: Vec<Option<i64>>,
    terminate_cause: Vec<Option<&'a str>>,
    called_station_id: Vec<Option<&'a str>>,
    calling_station_id: Vec<Option<&'a str>>,
    framed_ip: Vec<Option<IpAddr>>,
    acct_authentic: Vec<Option<&'a str>>,
    service_type: Vec<Option<&'a str>>,
    framed_protocol: Vec<Option<&'a str>>,
    connect_info: Vec<Option<&'a str>>,
    class: Vec<Option<&'a str>>,
    starts: Vec<&'a str>,
    interims: Vec<&'a str>,
}

impl<'a> SessionColumns<'a> {
    fn of(sessions: &[&'a SessionChange]) -> Self {
        let mut c = SessionColumns::default();
        for s in sessions {
            c.event.push(s.event.as_str());
            c.unique_id.push(&s.unique_id);
            c.session_id.push(&s.session_id);
            c.username.push(s.username.as_deref());
            c.nas_ip.push(s.nas_ip);
            c.nas_port_id.push(s.nas_port_id.as_deref());
            c.nas_port_type.push(s.nas_port_type.as_deref());
            c.event_at.push(s.event_at);
            c.started_at.push(s.started_at);
            c.session_time.push(s.session_time);
            c.input_octets.push(s.input_octets);
            c.output_octets.push(s.output_octets);
            c.terminate_cause.push(s.terminate_cause.as_deref());
            c.called_station_id.push(s.called_station_id.as_deref());
            c.calling_station_id.push(s.calling_station_id.as_deref());
            c.framed_ip.push(s.framed_ip);
            c.acct_authentic.push(s.acct_authentic.as_deref());
            c.service_type.push(s.service_type.as_deref());
            c.framed_protocol.push(s.framed_protocol.as_deref());
            c.connect_info.push(s.connect_info.as_deref());
            c.class.push(s.class.as_deref());
            match s.event {
                SessionEvent::Start => c.starts.push(&s.unique_id),
                SessionEvent::Interim => c.interims.push(&s.unique_id),
                SessionEvent::Stop => {}
            }
        }
        c
    }
}

/// Runs [`RECORD_SESSIONS`] for sessions that each appear at most once;
/// returns the unique ids of the rows it created or changed.
fn record_sessions(
    conn: &mut Client,
    statement: &Statement,
    sessions: &[&SessionChange],
) -> std::result::Result<HashSet<String>, postgres::Error> {
    let c = SessionColumns::of(sessions);
    let rows = conn.query(
        statement,
        &[
            &c.event,
            &c.unique_id,
            &c.session_id,
            &c.username,
            &c.nas_ip,
            &c.nas_port_id,
            &c.nas_port_type,
            &c.event_at,
            &c.started_at,
            &c.session_time,
            &c.input_octets,
            &c.output_octets,
            &c.terminate_cause,
            &c.called_station_id,
            &c.calling_station_id,
            &c.framed_ip,
            &c.acct_authentic,
            &c.service_type,
            &c.framed_protocol,
            &c.connect_info,
            &c.class,
            &c.starts,
            &c.interims,
        ],
    )?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

fn session_outcome(changed: &HashSet<String>, s: &SessionChange) -> Recorded {
    if changed.contains(&s.unique_id) {
        Recorded::Session
    } else {
        Recorded::AlreadyClosed
    }
}

/// A connection with the accounting statements prepared on it.
struct PreparedConnection {
    client: Client,
    record_sessions: Statement,
    close_nas: Statement,
}

impl PreparedConnection {
    fn open(config: &postgres::Config) -> std::result::Result<Self, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        let record_sessions = client.prepare(RECORD_SESSIONS)?;
        let close_nas = client.prepare(CLOSE_NAS_SESSIONS)?;
        Ok(PreparedConnection {
            client,
            record_sessions,
            close_nas,
        })
    }

    /// Applies `jobs` in order (inside whatever transaction is open), a
    /// few statements for the lot; one result per job.
    fn apply(&mut self, jobs: &[Job]) -> std::result::Result<Vec<Recorded>, postgres::Error> {
        let mut results = vec![Recorded::Ignored; jobs.len()];
        // A NAS restart closes sessions up to its time: sessions before it
        // in the batch go first, those after it afterwards.
        let mut from = 0;
        while from < jobs.len() {
            let run = jobs[from..]
                .iter()
                .take_while(|j| matches!(j.change, Change::Session(_)))
                .count();
            if run > 0 {
                self.apply_sessions(&jobs[from..from + run], &mut results[from..from + run])?;
                from += run;
                continue;
            }
            results[from] = match &jobs[from].change {
                Change::NasRestart(r) => {
                    let row = self
                        .client
                        .query_one(&self.close_nas, &[&r.nas_ip, &r.at, &r.terminate_cause])?;
                    let closed: i64 = row.try_get(0)?;
                    Recorded::NasSessionsClosed(u64::try_from(closed).unwrap_or(0))
                }
                Change::Session(_) | Change::Ignore { .. } => Recorded::Ignored,
            };
            from += 1;
        }
        Ok(results)
    }

    /// Session packets in order: the n-th packet of each session goes in
    /// round n, since an upsert touches a row once per statement. Usually
    /// there is one round: one statement for the whole batch.
    fn apply_sessions(
        &mut self,
        jobs: &[Job],
        results: &mut [Recorded],
    ) -> std::result::Result<(), postgres::Error> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(jobs.len());
        let mut rounds: Vec<Vec<(usize, &SessionChange)>> = Vec::new();
        for (i, j) in jobs.iter().enumerate() {
            if let Change::Session(s) = &j.change {
                let n = seen.entry(s.unique_id.as_str()).or_insert(0);
                if rounds.len() <= *n {
                    rounds.push(Vec::new());
                }
                rounds[*n].push((i, s));
                *n += 1;
            }
        }
        for round in rounds {
            let (idx, sessions): (Vec<usize>, Vec<&SessionChange>) = round.into_iter().unzip();
            let changed = record_sessions(&mut self.client, &self.record_sessions, &sessions)?;
            for (i, s) in idx.into_iter().zip(sessions) {
                results[i] = session_outcome(&changed, s);
            }
        }
        Ok(())
    }
}

/// How the writer's statements are planned: once per connection (planning
/// the batch statement costs more than running it), and never with a
/// sequential scan. Every lookup the writer makes has its index; a plan
/// made while radacct was still small (a new install, a cached plan made
/// before autovacuum's first ANALYZE) would otherwise read the whole table
/// for every batch. Measured: 3.7k packets/s against 8k+ on a bench run
/// that started from an empty radacct.
const WRITER_PLANS: &str = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off";

/// After a failure to reach the database, answer "unavailable" at once for
/// this long: request threads must not queue up behind a dead database.
const FAIL_FAST_FOR: Duration = Duration::from_secs(1);
/// Packets committed together at most.
const BATCH_MAX: usize = 512;
/// Packets waiting at most (all writers together); beyond that the database
/// is too slow and a new packet fails at once (the NAS retransmits it).
const QUEUE_MAX: usize = 4_096;
/// Writer threads (and connections) at most: commits of packets that open
/// or close a session serialize in PostgreSQL anyway (their NOTIFY), so more
/// writers would only make smaller batches.
const WRITERS_MAX: u32 = 4;
/// Writers: the pool size, at most [`WRITERS_MAX`] and at most one per CPU.
/// More writers than cores only make batches smaller, and a batch's fixed
/// cost is most of a small batch's (measured on 2 cores at 128 requests in
/// flight: 2 writers 9.0k packets/s, 4 writers 8.4k, 1 writer 8.2k).
fn writer_count(pool_size: u32) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (pool_size.clamp(1, WRITERS_MAX) as usize).min(cpus.max(1))
}

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

/// The packets waiting, which every writer takes from.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Subscribers (sessions without a username: their id) in a batch that
    /// a writer is committing. Their later packets wait for that commit, so
    /// a subscriber's rows (its sessions in radacct, its usage) are only
    /// ever written by one batch at a time: the counters a batch reads are
    /// the ones it updates, and writers do not wait on each other's rows.
    busy: HashSet<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a packet is queued or a batch's subscribers are free.
    queued: Condvar,
    writers: usize,
    stop: AtomicBool,
    health: Health,
    config: postgres::Config,
}

/// The server's accounting writer.
///
/// Request threads queue their packet and wait (at most the configured
/// bound) for its result; a few writer threads, each with its own
/// connection and prepared statements, take whatever is queued in their lane
/// and commit it in one transaction: one upsert statement per packet kind,
/// one commit (one WAL flush, one NOTIFY lock) per batch. That is PostgreSQL's group commit done in the
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
    /// A store with up to `pool_size` writer connections (at most 4, and one
    /// per CPU; see [`writer_count`]). Never blocks and never fails on an
    /// unreachable database: writers connect in the background. `timeout` bounds a connect, a request's wait and
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
        // netily.accounting_writer: RECORD_SESSIONS does the radacct
        // triggers' work itself (migration 0010).
        let statement_timeout = format!(
            "-c statement_timeout={} -c netily.accounting_writer=on {WRITER_PLANS}",
            timeout.as_millis().max(1)
        );
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {statement_timeout}"),
            _ => statement_timeout,
        };
        config.options(&options);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            writers: writer_count(pool_size),
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
        for n in 0..store.shared.writers {
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
            if queue.jobs.len() >= QUEUE_MAX {
                return Err(health.error("too slow: the accounting queue is full"));
            }
            queue.jobs.push_back(Job {
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

/// A batch, and the subscribers it holds busy.
struct Batch {
    jobs: Vec<Job>,
    keys: Vec<String>,
}

/// Takes up to BATCH_MAX queued jobs whose subscribers no other batch holds,
/// waiting while there are none; None when the store is dropped.
fn next_batch(shared: &Shared) -> Option<Batch> {
    let mut queue = shared.queue.lock();
    loop {
        let batch = take_free(&mut queue);
        if !batch.jobs.is_empty() {
            drop(queue);
            return Some(batch);
        }
        if shared.stop.load(Ordering::Acquire) && queue.jobs.is_empty() {
            return None;
        }
        shared.queued.wait_for(&mut queue, POLL);
    }
}

fn take_free(queue: &mut Queue) -> Batch {
    let mut jobs = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut left = VecDeque::with_capacity(queue.jobs.len());
    while let Some(job) = queue.jobs.pop_front() {
        let key = key_of(&job.change);
        let held = key.is_some_and(|k| queue.busy.contains(k));
        if held || jobs.len() >= BATCH_MAX {
            left.push_back(job);
            continue;
        }
        if let Some(k) = key {
            // Taken: from now on the subscriber's later packets wait.
            queue.busy.insert(k.to_owned());
            keys.push(k.to_owned());
        }
        jobs.push(job);
    }
    queue.jobs = left;
    // Rows locked in one order (a NAS restart, which closes sessions of
    // many subscribers, first), so batches that meet wait instead of
    // deadlocking. Stable: a session's packets keep their order.
    jobs.sort_by(|a, b| lock_order(&a.change).cmp(&lock_order(&b.change)));
    Batch { jobs, keys }
}

/// Frees a committed batch's subscribers for the other writers.
fn release(shared: &Shared, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    let mut queue = shared.queue.lock();
    for k in keys {
        queue.busy.remove(k);
    }
    drop(queue);
    shared.queued.notify_all();
}

fn lock_order(change: &Change) -> (u8, Option<&str>, &str) {
    match change {
        Change::NasRestart(_) | Change::Ignore { .. } => (0, None, ""),
        Change::Session(s) => (1, s.username.as_deref(), s.unique_id.as_str()),
    }
}

/// Whose rows a packet writes: the subscriber's, else (no username) the
/// session's; a NAS restart belongs to nobody.
fn key_of(change: &Change) -> Option<&str> {
    match change {
        Change::Session(s) => Some(s.username.as_deref().unwrap_or(&s.unique_id)),
        Change::NasRestart(_) | Change::Ignore { .. } => None,
    }
}

/// Fails every queued job (the database is unreachable).
fn fail_queued(shared: &Shared, detail: &str) {
    let jobs: Vec<Job> = shared.queue.lock().jobs.drain(..).collect();
    for j in jobs {
        j.slot.fill(Err(shared.health.error(detail)));
    }
}

fn write_forever(shared: &Shared) {
    let mut conn: Option<PreparedConnection> = None;
    while let Some(Batch { jobs, keys }) = next_batch(shared) {
        write_batch(shared, &mut conn, jobs);
        release(shared, &keys);
    }
}

/// Commits one batch and answers its requests.
fn write_batch(shared: &Shared, conn: &mut Option<PreparedConnection>, batch: Vec<Job>) {
    if conn.is_none() {
        // While the database is known unreachable, answer at once: a
        // connect attempt per batch would hold request threads. The
        // fail-fast window paces the reconnect attempts.
        if shared.health.failing() {
            for j in batch {
                j.slot.fill(Err(shared.health.error("unavailable")));
            }
            return;
        }
        match PreparedConnection::open(&shared.config) {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                let err = connect_detail(&e);
                shared.health.trip(&err);
                for j in batch {
                    j.slot.fill(Err(shared.health.error(&err)));
                }
                fail_queued(shared, &err);
                return;
            }
        }
    }
    let Some(c) = conn.as_mut() else { return };
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
            *conn = None;
            let err = connect_detail(&e);
            shared.health.trip(&err);
            for j in batch {
                j.slot.fill(Err(shared.health.error(&err)));
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
    if batch.len() == 1 || is_one_statement(batch) {
        // One statement is its own transaction: no BEGIN/COMMIT round trips.
        return match c.apply(batch) {
            Ok(results) => Ok(results.into_iter().map(Ok).collect()),
            Err(e) if e.as_db_error().is_some() && batch.len() > 1 => one_by_one(c, batch),
            Err(e) if e.as_db_error().is_some() => {
                Ok(vec![Err(q("recording accounting in radacct")(e))])
            }
            Err(e) => Err(e),
        };
    }
    c.client.batch_execute("BEGIN")?;
    match c.apply(batch) {
        Ok(results) => {
            c.client.batch_execute("COMMIT")?;
            Ok(results.into_iter().map(Ok).collect())
        }
        Err(e) if e.as_db_error().is_some() => {
            c.client.batch_execute("ROLLBACK")?;
            one_by_one(c, batch)
        }
        Err(e) => Err(e),
    }
}

/// True when the batch is session packets only, each session once: one
/// [`RECORD_SESSIONS`] statement.
fn is_one_statement(batch: &[Job]) -> bool {
    let mut seen = HashSet::with_capacity(batch.len());
    batch.iter().all(|j| match &j.change {
        Change::Session(s) => seen.insert(s.unique_id.as_str()),
        Change::NasRestart(_) | Change::Ignore { .. } => false,
    })
}

fn one_by_one(
    c: &mut PreparedConnection,
    batch: &[Job],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    let mut results = Vec::with_capacity(batch.len());
    for j in batch {
        match c.apply(std::slice::from_ref(j)) {
            Ok(r) => results.push(Ok(r.into_iter().next().unwrap_or(Recorded::Ignored))),
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
