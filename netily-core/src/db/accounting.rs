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
//! [`AccountingStore`] is the server side: a bounded pool whose connections
//! carry both statements prepared, so a packet costs one round trip (bind +
//! execute). When the database is unreachable it fails fast: a checkout
//! waits at most the configured bound, and after a failure the store answers
//! "unavailable" at once for a short while instead of making every request
//! thread wait again.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
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

/// A pooled connection with the accounting statements prepared on it.
pub struct PreparedConnection {
    client: Client,
    upsert_session: Statement,
    close_nas: Statement,
}

/// r2d2 manager that prepares the statements once per connection.
pub struct PreparedManager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for PreparedManager {
    type Connection = PreparedConnection;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PreparedConnection, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        let upsert_session = client.prepare(UPSERT_SESSION)?;
        let close_nas = client.prepare(CLOSE_NAS_SESSIONS)?;
        Ok(PreparedConnection {
            client,
            upsert_session,
            close_nas,
        })
    }

    fn is_valid(&self, conn: &mut PreparedConnection) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PreparedConnection) -> bool {
        conn.client.is_closed()
    }
}

/// After a failure to reach the database, answer "unavailable" at once for
/// this long: request threads must not queue up behind a dead database.
const FAIL_FAST_FOR: Duration = Duration::from_secs(1);
/// A request waiting for a connection checks this often whether the
/// database has been found unreachable meanwhile (then it gives up at once).
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// Statements retried on another connection when the database closed the
/// first one (pooled connections left over from before a restart).
const RETRIES_ON_CLOSED: usize = 3;

/// Whether the database is reachable, as the last attempts tell; shared
/// with the pool's background connector, whose failures also count.
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
    fn trip(&self, detail: String) -> Error {
        *self.failing_until.lock() = Some(Instant::now() + FAIL_FAST_FOR);
        if !self.down.swap(true, Ordering::AcqRel) {
            log::error!(
                "accounting: database {} unavailable ({detail}); answering fail until it is back",
                self.url
            );
        }
        Error::Connect {
            url: self.url.clone(),
            detail,
        }
    }

    fn up(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            log::info!("accounting: database {} is back", self.url);
        }
    }

    fn fail_fast(&self) -> Error {
        Error::Connect {
            url: self.url.clone(),
            detail: "unavailable (it failed moments ago)".into(),
        }
    }
}

/// The pool's connection errors trip the breaker (instead of a log line
/// per attempt).
#[derive(Debug)]
struct TripOnConnectError(Arc<Health>);

impl r2d2::HandleError<postgres::Error> for TripOnConnectError {
    fn handle_error(&self, error: postgres::Error) {
        self.0.trip(error.to_string());
    }
}

/// The server's accounting writer: a bounded pool of prepared connections.
pub struct AccountingStore {
    pool: r2d2::Pool<PreparedManager>,
    checkout: Duration,
    health: Arc<Health>,
}

impl AccountingStore {
    /// A store of at most `pool_size` connections. Never blocks and never
    /// fails on an unreachable database: connections are made in the
    /// background and on demand. `timeout` bounds a connect, a checkout
    /// and (as statement_timeout) a statement.
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
        let health = Arc::new(Health {
            url: redact_url(url),
            failing_until: Mutex::new(None),
            down: AtomicBool::new(false),
        });
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            // A checkout must not cost a round trip; a dead connection shows
            // as closed (has_broken) or fails its statement, and is replaced.
            .test_on_check_out(false)
            .connection_timeout(timeout)
            .error_handler(Box::new(TripOnConnectError(Arc::clone(&health))))
            .build_unchecked(PreparedManager { config });
        Ok(AccountingStore {
            pool,
            checkout: timeout,
            health,
        })
    }

    /// A connection within the bound, or an error as soon as the database
    /// is known to be unreachable.
    fn checkout(&self) -> Result<r2d2::PooledConnection<PreparedManager>> {
        let deadline = Instant::now() + self.checkout;
        loop {
            if self.health.failing() {
                return Err(self.health.fail_fast());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.pool.get_timeout(left.min(CHECK_EVERY)) {
                Ok(c) => return Ok(c),
                Err(e) if left <= CHECK_EVERY => return Err(self.health.trip(e.to_string())),
                Err(_) => {}
            }
        }
    }

    /// Records one change; Ok only once PostgreSQL has committed it.
    pub fn record(&self, change: &Change) -> Result<Recorded> {
        if let Change::Ignore { .. } = change {
            return Ok(Recorded::Ignored);
        }
        // A connection the database closed (restart) fails its first
        // statement; a few retries on other connections ride that out.
        for attempt in 0..=RETRIES_ON_CLOSED {
            let mut conn = self.checkout()?;
            let c = &mut *conn;
            let result = match change {
                Change::Session(s) => session_params(s, |p| c.client.execute(&c.upsert_session, p))
                    .map(session_outcome),
                Change::NasRestart(r) => nas_params(r, |p| c.client.execute(&c.close_nas, p))
                    .map(Recorded::NasSessionsClosed),
                Change::Ignore { .. } => Ok(Recorded::Ignored),
            };
            match result {
                Ok(r) => {
                    self.health.up();
                    return Ok(r);
                }
                Err(e) if e.is_closed() && attempt < RETRIES_ON_CLOSED => continue,
                Err(e) if e.is_closed() || e.as_db_error().is_none() => {
                    return Err(self.health.trip(e.to_string()));
                }
                Err(e) => return Err(q("recording accounting in radacct")(e)),
            }
        }
        Err(self
            .health
            .trip("the database closed the connection".into()))
    }
}
