//! The accounting statements, the connection they run on, and the arrays
//! a batch of session packets becomes.
//!
//! Every statement is prepared once per connection and parameterized. The
//! connection's settings bound every statement (statement_timeout = the
//! store's bound) and a connect (connect_timeout). Failure behaviour: a
//! statement's error is returned as the driver's, so the writer can tell a
//! refused packet (a database error) from a lost connection; nothing here
//! retries.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use postgres::{Client, NoTls, Statement};

use super::super::error::Result;
use super::super::pool::bounded_config;
use super::plan::{self, Step};
use super::Recorded;
use crate::accounting::{Change, SessionChange, SessionEvent};

/// Start, Interim-Update and Stop packets of many sessions, each session at
/// most once, as one statement. $1.. are arrays with one element per packet
/// (see [`SessionColumns`]); $1 is the event ('start', 'interim', 'stop');
/// $22.. list packets by unique id (Starts, Interim-Updates, and those whose
/// input or output counter is 32 bits and may have wrapped); $26 and $27
/// bound the stored starts looked at first ([`SessionColumns::window`]);
/// $28 holds the Starts' start times, in $22's order.
/// Returns the acctuniqueid of every row it created or changed (one missing
/// was already closed), and whether that reopened a stale-closed session.
///
/// The statement also does, once for the whole batch, what the radacct
/// triggers do for other writers (migration 0010; this connection sets
/// netily.accounting_writer so they skip it): it adds what the counters grew
/// by to the subscriber's usage in the cycle of the packet's event time
/// (`netily_cycle_start` with the plan's period, migrations 0017 and 0021;
/// so a new cycle starts at zero),
/// and notifies the sessions that opened or closed and the caps crossed,
/// with the triggers' payloads. What a counter grew by is measured against
/// the row as this statement found it; a subscriber's packets are never in
/// two writers' batches at once (see the `queue` module), so no other writer
/// of this server changes the row in between.
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
), near AS MATERIALIZED (
    -- Each packet's session stored with a start within a day of the
    -- packet's; only the months of the batch's window ($26, $27: the
    -- packets' starts, a day either side) are read.
    SELECT r.* FROM input i
      JOIN radacct r ON r.acctuniqueid = i.uid
                    AND r.acctstarttime >= to_timestamp(i.started - 86400)
                    AND r.acctstarttime < to_timestamp(i.started + 86401)
     WHERE r.acctstarttime >= to_timestamp($26::bigint)
       AND r.acctstarttime < to_timestamp($27::bigint)
), far AS MATERIALIZED (
    -- Any other packet that is not a Start may belong to a row stored with
    -- a start far from its own (a router's clock that jumped, a lost
    -- Start): looked up in every month. A Start found nowhere near is a
    -- new session.
    SELECT r.* FROM radacct r
     WHERE r.acctuniqueid = ANY (ARRAY(SELECT i.uid FROM input i
                                        WHERE i.ev <> 'start'
                                          AND NOT EXISTS (SELECT 1 FROM near n
                                                           WHERE n.acctuniqueid = i.uid)))
), before AS MATERIALIZED (
    -- One row per session: a session id a router reused long after is its
    -- newest row.
    SELECT DISTINCT ON (r.acctuniqueid)
           r.acctuniqueid AS uid, r.username, r.nasipaddress AS nas, r.callingstationid AS calling,
           r.acctstarttime AS started, r.acctstoptime IS NULL AS is_open,
           coalesce(r.acctupdatetime, r.acctstarttime) AS heard,
           coalesce(r.acctinputoctets, 0)::numeric AS up,
           coalesce(r.acctoutputoctets, 0)::numeric AS down,
           coalesce(r.acctsessiontime, 0)::numeric AS secs
      FROM (SELECT * FROM near UNION ALL SELECT * FROM far) r
     ORDER BY r.acctuniqueid, r.acctstarttime DESC
), changed AS (
    INSERT INTO radacct AS r (
        acctsessionid, acctuniqueid, username, nasipaddress, nasportid, nasporttype,
        acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
        connectinfo_start, connectinfo_stop, acctinputoctets, acctoutputoctets,
        calledstationid, callingstationid, acctterminatecause, servicetype, framedprotocol,
        framedipaddress, class)
    -- A stored session keeps its start, so the insert meets its row.
    SELECT i.sid, i.uid, i.uname, i.nas, i.portid, i.porttype,
           coalesce(b.started, to_timestamp(i.started)), to_timestamp(i.ev_at),
           CASE WHEN i.ev = 'stop' THEN to_timestamp(i.ev_at) END,
           coalesce(i.stime, 0), i.authentic,
           CASE WHEN i.ev <> 'stop' THEN i.ci END,
           CASE WHEN i.ev = 'stop' THEN i.ci END,
           coalesce(i.inoct, 0), coalesce(i.outoct, 0),
           i.called, i.calling, i.cause, i.stype, i.fproto, i.fip, i.cls
      FROM input i LEFT JOIN before b ON b.uid = i.uid
     ORDER BY i.ord
    ON CONFLICT (acctuniqueid, acctstarttime) DO UPDATE SET
        -- EXCLUDED is the row the insert would have made: the packet's
        -- values; its event comes from the Start and Interim id lists
        -- ($22, $23; an array test, not a scan of the input per row).
        -- A Start gives the session its start ($28, by $22's order), but
        -- only within the row's month: a row never changes partition.
        acctstarttime = coalesce(
            (SELECT x.at FROM (SELECT to_timestamp(($28::bigint[])[array_position($22::text[],
                                                                   EXCLUDED.acctuniqueid)]) AS at) x
              WHERE date_trunc('month', x.at, 'UTC') = date_trunc('month', r.acctstarttime, 'UTC')),
            r.acctstarttime),
        acctupdatetime = greatest(r.acctupdatetime, EXCLUDED.acctupdatetime),
        acctstoptime = EXCLUDED.acctstoptime,
        -- (Not from a reopening Interim: the silence before it is no interval.)
        acctinterval = CASE WHEN EXCLUDED.acctuniqueid = ANY ($23::text[])
                             AND r.acctstoptime IS NULL
                             AND EXCLUDED.acctupdatetime > coalesce(r.acctupdatetime, r.acctstarttime)
                            THEN floor(extract(epoch FROM EXCLUDED.acctupdatetime))::bigint
                                 - floor(extract(epoch FROM coalesce(r.acctupdatetime, r.acctstarttime)))::bigint
                            ELSE r.acctinterval END,
        acctsessiontime = greatest(r.acctsessiontime, EXCLUDED.acctsessiontime,
                                   CASE WHEN EXCLUDED.acctstoptime IS NOT NULL
                                        THEN floor(extract(epoch FROM EXCLUDED.acctstoptime))::bigint
                                             - floor(extract(epoch FROM r.acctstarttime))::bigint END),
        -- A counter the packet lacks was stored as 0: greatest() keeps the total.
        -- A 32-bit counter (no Gigawords: $24, $25) below the stored total's
        -- low 32 bits in a newer packet has wrapped: it adds 2^32. Newer by
        -- the event time and by the router's own session clock, so a late
        -- retransmit (an arrival time, not the router's) never passes.
        acctinputoctets = CASE WHEN EXCLUDED.acctuniqueid = ANY ($24::text[])
                                AND EXCLUDED.acctupdatetime > coalesce(r.acctupdatetime, r.acctstarttime)
                                AND EXCLUDED.acctsessiontime > r.acctsessiontime
                                AND EXCLUDED.acctinputoctets < r.acctinputoctets % 4294967296
                               THEN least(r.acctinputoctets::numeric - r.acctinputoctets % 4294967296
                                          + 4294967296 + EXCLUDED.acctinputoctets,
                                          9223372036854775807)::bigint
                               ELSE greatest(r.acctinputoctets, EXCLUDED.acctinputoctets) END,
        acctoutputoctets = CASE WHEN EXCLUDED.acctuniqueid = ANY ($25::text[])
                                 AND EXCLUDED.acctupdatetime > coalesce(r.acctupdatetime, r.acctstarttime)
                                 AND EXCLUDED.acctsessiontime > r.acctsessiontime
                                 AND EXCLUDED.acctoutputoctets < r.acctoutputoctets % 4294967296
                                THEN least(r.acctoutputoctets::numeric - r.acctoutputoctets % 4294967296
                                           + 4294967296 + EXCLUDED.acctoutputoctets,
                                           9223372036854775807)::bigint
                                ELSE greatest(r.acctoutputoctets, EXCLUDED.acctoutputoctets) END,
        -- A stale-closed session takes the router's word: an Interim clears it.
        acctterminatecause = CASE WHEN r.acctstoptime IS NULL
                                  THEN coalesce(EXCLUDED.acctterminatecause, r.acctterminatecause)
                                  ELSE EXCLUDED.acctterminatecause END,
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
    -- A closed session stays closed, except one Netily closed as stale
    -- (crate::stale_session): its router's next Interim-Update reopens it and
    -- its Stop records the real end, if newer than what was last heard.
    WHERE r.acctstoptime IS NULL
       OR (r.acctterminatecause = 'Stale-Session'
           AND NOT EXCLUDED.acctuniqueid = ANY ($22::text[])
           AND EXCLUDED.acctupdatetime > coalesce(r.acctupdatetime, r.acctstarttime))
    RETURNING r.acctuniqueid AS uid, r.username, r.nasipaddress AS nas,
              r.callingstationid AS calling, r.acctstarttime AS started,
              r.acctstoptime IS NULL AS is_open,
              coalesce(r.acctinputoctets, 0)::numeric AS up,
              coalesce(r.acctoutputoctets, 0)::numeric AS down,
              coalesce(r.acctsessiontime, 0)::numeric AS secs
), moved AS MATERIALIZED (
    -- What each session's counters grew by since the row as found, and
    -- since when (its previous report; its start if the row is new, or
    -- had no username, so was never counted).
    SELECT n.username, n.nas, to_timestamp(i.ev_at) AS at,
           CASE WHEN b.username IS NULL THEN n.started ELSE b.heard END AS since,
           CASE WHEN b.username IS NULL THEN n.started END AS began,
           least(greatest(n.up - CASE WHEN b.username IS NULL THEN 0 ELSE b.up END, 0),
                 9223372036854775807)::bigint AS up,
           least(greatest(n.down - CASE WHEN b.username IS NULL THEN 0 ELSE b.down END, 0),
                 9223372036854775807)::bigint AS down,
           least(greatest(n.secs - CASE WHEN b.username IS NULL THEN 0 ELSE b.secs END, 0),
                 9223372036854775807)::bigint AS secs
      FROM changed n JOIN input i ON i.uid = n.uid LEFT JOIN before b ON b.uid = n.uid
     WHERE n.username IS NOT NULL
), counted AS (
    -- The usage reports' hourly and monthly sums (migration 0029).
    SELECT netily_count_traffic(array_agg(username), array_agg(nas), array_agg(since),
                                array_agg(at), array_agg(up), array_agg(down), array_agg(secs),
                                array_agg(began)) AS done
      FROM moved
     WHERE up > 0 OR down > 0 OR secs > 0 OR began IS NOT NULL
), grown AS (
    -- OFFSET 0 keeps the lookups per subscriber (index probes): a cached
    -- plan cannot know the batch is small and would hash whole tables.
    SELECT k.customer_id, netily_cycle_start(k.anchor, d.at, k.days) AS cycle_start, k.cap, d.username,
           least(sum(d.up::numeric + d.down), 9223372036854775807)::bigint AS bytes
      FROM moved d,
           LATERAL (SELECT c.id AS customer_id, s.cycle_start AS anchor, p.data_cap_bytes AS cap,
                           p.cycle_days AS days
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
), notes AS MATERIALIZED (
    -- (MATERIALIZED: the size test below would otherwise be pushed into
    -- each branch and build the payload of every candidate, most of which
    -- the joins then drop: every open session an Interim updates.)
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
SELECT n.uid, n.is_open AND NOT coalesce(b.is_open, true)
  FROM changed n LEFT JOIN before b ON b.uid = n.uid, sent, counted";

/// Accounting-On/Off: up to $4 sessions of the NAS that began before it
/// restarted (the statement is run until it closes fewer: see
/// [`CLOSE_NAS_CHUNK`]). Notifies the closed sessions itself, as
/// [`RECORD_SESSIONS`] does, and counts the time online it adds up to the
/// restart in the usage rollups; returns how many it closed.
const CLOSE_NAS_SESSIONS: &str = "
WITH target AS (
    SELECT radacctid, acctstarttime, coalesce(acctsessiontime, 0) AS secs,
           coalesce(acctupdatetime, acctstarttime) AS heard
      FROM radacct
     WHERE acctstoptime IS NULL
       AND nasipaddress = $1::inet
       AND acctstarttime <= to_timestamp($2::bigint)
     LIMIT $4::bigint
       FOR UPDATE
), closed AS (
    UPDATE radacct r
       SET acctstoptime = to_timestamp($2::bigint),
           acctupdatetime = to_timestamp($2::bigint),
           acctsessiontime = greatest(r.acctsessiontime,
                                      $2::bigint - floor(extract(epoch FROM r.acctstarttime))::bigint),
           acctterminatecause = $3::text
      FROM target t
     WHERE r.radacctid = t.radacctid AND r.acctstarttime = t.acctstarttime
       AND r.acctstoptime IS NULL
    RETURNING r.username, r.acctuniqueid, r.nasipaddress AS nas, t.heard,
              greatest(coalesce(r.acctsessiontime, 0) - t.secs, 0) AS grew
), counted AS (
    SELECT netily_count_traffic(array_agg(username), array_agg(nas), array_agg(heard),
                                array_agg(to_timestamp($2::bigint)), array_agg(0::bigint),
                                array_agg(0::bigint), array_agg(grew), array_agg(NULL::timestamptz))
      FROM closed WHERE username IS NOT NULL AND grew > 0
), sent AS (
    SELECT count(pg_notify('netily_changed', payload))
      FROM (SELECT netily_session_closed(username, acctuniqueid) AS payload
              FROM closed WHERE username IS NOT NULL) x
     WHERE octet_length(payload) < 8000
)
SELECT count(*)::bigint FROM closed, sent, counted";

/// Sessions an Accounting-On/Off closes per statement. A NAS with 50,000
/// sessions closed in one statement ran past the statement timeout, and the
/// packet would have been retried, in vain, for ever; each statement is its
/// own transaction, and a restart in between closes the rest when the
/// packet is applied again.
const CLOSE_NAS_CHUNK: i64 = 2_000;

/// How the writer's statements are planned: once per connection (for a
/// small batch, planning the statement costs more than running it), and
/// never with a sequential scan. Every lookup the writer makes has its
/// index; a plan made while radacct was still small (a new install, a
/// cached plan made before autovacuum's first ANALYZE) would otherwise read
/// the whole table for every batch. Measured: 3.7k packets/s against 8k+
/// on a bench run that started from an empty radacct. And never compiled by
/// JIT: a batch planned for itself is costed high enough to be, and
/// compiling took longer than the statement timeout (seen by gdb in a
/// stuck writer's backend: 5 s in LLVM for a 0.2 s statement).
const WRITER_PLANS: &str = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c jit=off";

/// Batches of at least this many sessions get a plan of their own
/// ([`PlanMode::PerBatch`]). A plan made once cannot know the arrays'
/// length, so it joins the batch's rows to each other by nested loops and
/// tests the Start and Interim lists element by element: its cost per
/// packet grows with the batch. A plan made for the batch hashes both, for
/// about 1 ms of planning. Measured (PostgreSQL CPU per packet, the two
/// alternating on one connection): 32 packets 65 µs once-planned against
/// 98 µs per-batch; 128: 45 against 49; 256: 46 against 38; 512: 59
/// against 34; 1024: 80 against 32.
const PER_BATCH_PLAN_FROM: usize = 192;

/// Which plans the connection's statements run with now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlanMode {
    /// The connection's setting ([`WRITER_PLANS`]): one plan, made once.
    Once,
    /// plan_cache_mode=force_custom_plan: a plan for each execution.
    PerBatch,
}

impl PlanMode {
    fn for_batch(sessions: usize) -> PlanMode {
        if sessions >= PER_BATCH_PLAN_FROM {
            PlanMode::PerBatch
        } else {
            PlanMode::Once
        }
    }

    /// Its plan_cache_mode.
    fn cache_mode(self) -> &'static str {
        match self {
            PlanMode::Once => "force_generic_plan",
            PlanMode::PerBatch => "force_custom_plan",
        }
    }
}

/// The writers' connection settings for `url`: `timeout` bounds a connect
/// and (as statement_timeout) every statement; netily.accounting_writer
/// tells the radacct triggers that [`RECORD_SESSIONS`] does their work
/// itself (migration 0010); [`WRITER_PLANS`]. Options the URL already sets
/// are kept, before these.
pub(super) fn writer_config(url: &str, timeout: Duration) -> Result<postgres::Config> {
    bounded_config(
        url,
        timeout,
        "netily-accounting",
        &format!("-c netily.accounting_writer=on {WRITER_PLANS}"),
    )
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
    input_wraps: Vec<&'a str>,
    output_wraps: Vec<&'a str>,
    /// The Starts' start times, in the order of `starts`.
    start_times: Vec<i64>,
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
            if s.input_wraps {
                c.input_wraps.push(&s.unique_id);
            }
            if s.output_wraps {
                c.output_wraps.push(&s.unique_id);
            }
            match s.event {
                SessionEvent::Start => {
                    c.starts.push(&s.unique_id);
                    c.start_times.push(s.started_at);
                }
                SessionEvent::Interim => c.interims.push(&s.unique_id),
                SessionEvent::Stop => {}
            }
        }
        c
    }

    /// Where [`RECORD_SESSIONS`] looks for the sessions' stored rows first
    /// ($26, $27): from a day before the earliest start to a day after the
    /// latest, as epoch seconds.
    fn window(&self) -> (i64, i64) {
        const DAY: i64 = 86_400;
        let earliest = self.started_at.iter().min().copied().unwrap_or(0);
        let latest = self.started_at.iter().max().copied().unwrap_or(0);
        (earliest.saturating_sub(DAY), latest.saturating_add(DAY + 1))
    }
}

/// Runs [`RECORD_SESSIONS`] for sessions that each appear at most once;
/// returns the unique ids of the rows it created or changed, each with
/// whether it reopened a session closed as stale.
fn record_sessions(
    conn: &mut Client,
    statement: &Statement,
    sessions: &[&SessionChange],
) -> std::result::Result<HashMap<String, bool>, postgres::Error> {
    let c = SessionColumns::of(sessions);
    let (window_from, window_to) = c.window();
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
            &c.input_wraps,
            &c.output_wraps,
            &window_from,
            &window_to,
            &c.start_times,
        ],
    )?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

fn session_outcome(changed: &HashMap<String, bool>, s: &SessionChange) -> Recorded {
    match changed.get(&s.unique_id) {
        Some(true) => Recorded::Reopened,
        Some(false) => Recorded::Session,
        None => Recorded::AlreadyClosed,
    }
}

/// A connection with the accounting statements prepared on it.
pub(super) struct PreparedConnection {
    client: Client,
    record_sessions: Statement,
    close_nas: Statement,
    /// The plan mode set on the connection; None when unknown (a SET inside
    /// a transaction that was rolled back is undone with it).
    plans: Option<PlanMode>,
}

impl PreparedConnection {
    pub(super) fn open(config: &postgres::Config) -> std::result::Result<Self, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        let record_sessions = client.prepare(RECORD_SESSIONS)?;
        let close_nas = client.prepare(CLOSE_NAS_SESSIONS)?;
        Ok(PreparedConnection {
            client,
            record_sessions,
            close_nas,
            plans: Some(PlanMode::Once),
        })
    }

    /// Switches the plan mode for a batch of `sessions`, when it changes
    /// (a SET is a round trip; under a steady load batches stay on one side).
    fn plan_for(&mut self, sessions: usize) -> std::result::Result<(), postgres::Error> {
        let wanted = PlanMode::for_batch(sessions);
        if self.plans != Some(wanted) {
            let set = format!("SET plan_cache_mode = {}", wanted.cache_mode());
            self.client.batch_execute(&set)?;
            self.plans = Some(wanted);
        }
        Ok(())
    }

    /// Runs `BEGIN`, `COMMIT` or `ROLLBACK`.
    pub(super) fn transaction(
        &mut self,
        command: &str,
    ) -> std::result::Result<(), postgres::Error> {
        if command == "ROLLBACK" {
            self.plans = None;
        }
        self.client.batch_execute(command)
    }

    /// Applies `batch` in order (inside whatever transaction is open), the
    /// statements [`plan::steps`] names; one result per packet.
    pub(super) fn apply<C: Borrow<Change>>(
        &mut self,
        batch: &[C],
    ) -> std::result::Result<Vec<Recorded>, postgres::Error> {
        let mut results = vec![Recorded::Ignored; batch.len()];
        for step in plan::steps(batch) {
            match step {
                Step::Sessions(round) => {
                    let (idx, sessions): (Vec<usize>, Vec<&SessionChange>) =
                        round.into_iter().unzip();
                    self.plan_for(sessions.len())?;
                    let changed =
                        record_sessions(&mut self.client, &self.record_sessions, &sessions)?;
                    for (i, s) in idx.into_iter().zip(sessions) {
                        results[i] = session_outcome(&changed, s);
                    }
                }
                Step::CloseNas(i, r) => {
                    let mut closed = 0u64;
                    loop {
                        let row = self.client.query_one(
                            &self.close_nas,
                            &[&r.nas_ip, &r.at, &r.terminate_cause, &CLOSE_NAS_CHUNK],
                        )?;
                        let now: i64 = row.try_get(0)?;
                        closed += u64::try_from(now).unwrap_or(0);
                        if now < CLOSE_NAS_CHUNK {
                            break;
                        }
                    }
                    results[i] = Recorded::NasSessionsClosed(closed);
                }
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::session;
    use super::super::queue::BATCH_MAX;
    use super::*;
    use crate::stale_session::STALE_SESSION;

    fn sessions(changes: &[Change]) -> Vec<&SessionChange> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Session(s) => Some(&**s),
                Change::NasRestart(_) | Change::Ignore { .. } => None,
            })
            .collect()
    }

    #[test]
    fn each_packet_is_one_element_of_every_array_in_order() {
        let mut changes = vec![
            session(SessionEvent::Start, "a", Some("alice")),
            session(SessionEvent::Stop, "b", None),
        ];
        if let Change::Session(s) = &mut changes[1] {
            s.input_octets = Some(7);
            s.terminate_cause = Some("User-Request".into());
        }
        let all = sessions(&changes);
        let c = SessionColumns::of(&all);
        assert_eq!(c.event, ["start", "stop"]);
        assert_eq!(c.unique_id, ["a", "b"]);
        assert_eq!(c.session_id, ["sid-a", "sid-b"]);
        assert_eq!(c.username, [Some("alice"), None]);
        assert_eq!(c.input_octets, [None, Some(7)]);
        assert_eq!(c.output_octets, [None, None]);
        assert_eq!(c.terminate_cause, [None, Some("User-Request")]);
        let lengths = [
            c.nas_ip.len(),
            c.nas_port_id.len(),
            c.nas_port_type.len(),
            c.event_at.len(),
            c.started_at.len(),
            c.session_time.len(),
            c.called_station_id.len(),
            c.calling_station_id.len(),
            c.framed_ip.len(),
            c.acct_authentic.len(),
            c.service_type.len(),
            c.framed_protocol.len(),
            c.connect_info.len(),
            c.class.len(),
        ];
        assert!(lengths.iter().all(|&n| n == 2), "{lengths:?}");
    }

    #[test]
    fn starts_and_interims_are_listed_by_id_and_stops_nowhere() {
        let changes = [
            session(SessionEvent::Interim, "i1", Some("alice")),
            session(SessionEvent::Start, "s1", Some("bob")),
            session(SessionEvent::Stop, "x1", Some("carol")),
            session(SessionEvent::Interim, "i2", None),
        ];
        let all = sessions(&changes);
        let c = SessionColumns::of(&all);
        assert_eq!(c.starts, ["s1"]);
        assert_eq!(c.interims, ["i1", "i2"]);
        assert!(SessionColumns::of(&[]).event.is_empty());
    }

    #[test]
    fn a_packet_the_statement_did_not_change_was_already_closed() {
        let changes = [
            session(SessionEvent::Interim, "open", Some("alice")),
            session(SessionEvent::Interim, "closed", Some("alice")),
            session(SessionEvent::Interim, "stale", Some("alice")),
        ];
        let all = sessions(&changes);
        let changed: HashMap<String, bool> =
            [("open".to_owned(), false), ("stale".to_owned(), true)].into();
        assert_eq!(session_outcome(&changed, all[0]), Recorded::Session);
        assert_eq!(session_outcome(&changed, all[1]), Recorded::AlreadyClosed);
        assert_eq!(session_outcome(&changed, all[2]), Recorded::Reopened);
    }

    #[test]
    fn only_a_session_closed_as_stale_may_be_reopened() {
        let cause = format!("r.acctterminatecause = '{STALE_SESSION}'");
        assert!(RECORD_SESSIONS.contains(&cause), "{cause}");
    }

    #[test]
    fn a_large_batch_is_planned_for_itself_and_a_small_one_reuses_the_plan() {
        assert_eq!(PlanMode::for_batch(1), PlanMode::Once);
        assert_eq!(PlanMode::for_batch(PER_BATCH_PLAN_FROM - 1), PlanMode::Once);
        assert_eq!(PlanMode::for_batch(PER_BATCH_PLAN_FROM), PlanMode::PerBatch);
        assert_eq!(PlanMode::for_batch(BATCH_MAX), PlanMode::PerBatch);
        let once = format!("plan_cache_mode={}", PlanMode::Once.cache_mode());
        assert!(WRITER_PLANS.contains(&once), "{WRITER_PLANS}");
    }

    #[test]
    fn the_writers_connections_are_bounded_by_the_timeout() {
        let config = writer_config(
            "postgresql://netily:secret@db:5433/netily",
            Duration::from_millis(2500),
        )
        .expect("a valid URL");
        assert_eq!(
            config.get_connect_timeout(),
            Some(&Duration::from_millis(2500))
        );
        assert_eq!(config.get_application_name(), Some("netily-accounting"));
        assert_eq!(
            config.get_options(),
            Some(
                "-c statement_timeout=2500 -c netily.accounting_writer=on \
                 -c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c jit=off"
            )
        );
    }

    #[test]
    fn the_urls_own_settings_are_kept_and_a_zero_timeout_is_one_millisecond() {
        let url =
            "postgresql://netily@db/netily?application_name=radiusd&options=-c%20work_mem%3D8MB";
        let config = writer_config(url, Duration::ZERO).expect("a valid URL");
        assert_eq!(config.get_application_name(), Some("radiusd"));
        let options = config.get_options().unwrap_or_default();
        assert!(
            options.starts_with("-c work_mem=8MB -c statement_timeout=1 "),
            "{options}"
        );
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let refused = writer_config("postgresql://netily:secret@db:notaport/x", Duration::ZERO);
        let text = refused.expect_err("an invalid port").to_string();
        assert!(text.contains("not a valid PostgreSQL URL"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
