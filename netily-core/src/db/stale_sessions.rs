//! Closing stale sessions: open radacct rows whose router stopped reporting
//! them (the rule: `crate::stale_session`).
//!
//! [`close_stale_sessions`] closes them: stop time = the last time heard
//! (acctupdatetime, else acctstarttime), session time to match, terminate
//! cause [`STALE_SESSION`] ('Stale-Session'). Closing fires the
//! session-closed notification (`session- ...`, migration 0010) in the same
//! transaction, so every radiusd's snapshot frees the simultaneous-use slot
//! as soon as it commits: the radacct trigger sends it, or, on a connection
//! that skips those triggers (netily.accounting_writer = on), the statement
//! itself. An Interim-Update for a session closed this way reopens it
//! (`db::accounting`). [`find_stale_sessions`] lists the same sessions and
//! changes nothing (`netadmin sessions close-stale --dry-run`).
//!
//! Cost: one statement reading only open sessions (the partial indexes on
//! `acctstoptime IS NULL`, migration 0001), never radacct's history; the
//! subscriber's plan is looked up only for a session silent longer than the
//! margin whose own interval is unknown. No index covers acctupdatetime on
//! purpose: it changes with every Interim-Update, which then could not be
//! written in place (HOT, migration 0014). Sessions are closed in batches of
//! [`CLOSE_BATCH`], each its own transaction, locking only the rows it
//! closes and skipping rows another writer holds (they are looked at again
//! on the next call), so radacct is never locked for long and accounting
//! never waits on this.
//!
//! Failure behaviour: a database error stops at that batch and is returned;
//! the batches before it stay committed (closed and notified), the rest is
//! left for the next call. A session with neither an update nor a start
//! time, or with an infinite one, is never closed. Arithmetic is numeric,
//! so no stored value can make the statement fail.

use postgres::{Client, GenericClient, Row};
use serde::Serialize;

use super::error::{q, Error, Result};
use crate::model::UnixTime;
use crate::stale_session::{
    interim_interval, stale_after, IntervalSource, StaleSessionSettings, STALE_SESSION,
};

/// The most sessions one transaction closes.
pub const CLOSE_BATCH: i64 = 500;

/// One stale session (closed, or to be closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleSession {
    pub acct_unique_id: String,
    pub acct_session_id: String,
    pub username: Option<String>,
    pub nas_ip: String,
    pub framed_ip: Option<String>,
    pub calling_station_id: Option<String>,
    pub started_at: Option<UnixTime>,
    /// The last Interim-Update, else the Start: the stop time written.
    pub last_heard_at: UnixTime,
    /// Seconds between Interim-Updates expected of it, and from where.
    pub interim_interval: i64,
    pub interval_from: IntervalSource,
    /// The last moment it counted as live (stale from the next second).
    pub stale_after: UnixTime,
}

/// `SELECT` of the open sessions stale at $1 (epoch seconds), with $2 = the
/// margin and $3 = the default interim interval (seconds), then `$tail`.
/// Columns as [`read`] takes them; `r` is radacct.
///
/// The first time condition needs nothing but the row and holds for every
/// stale session (an interval is at least 1 s); the second is the rule
/// (`stale_session::is_stale` with `interim_interval`), in numeric so a
/// hand-written interval cannot overflow it. COALESCE evaluates the plan
/// lookup only when the session's own interval is unknown.
macro_rules! stale_select {
    ($tail:literal) => {
        concat!(
            "SELECT r.radacctid, r.acctuniqueid, r.acctsessionid, r.username,
                    host(r.nasipaddress) AS nas, host(r.framedipaddress) AS framed,
                    r.callingstationid,
                    floor(extract(epoch FROM r.acctstarttime))::bigint AS started,
                    floor(extract(epoch FROM coalesce(r.acctupdatetime, r.acctstarttime)))::bigint
                        AS heard,
                    r.acctinterval AS observed,
                    (SELECT p.interim_interval::bigint FROM customers c
                       JOIN subscriptions s ON s.customer_id = c.id AND s.active
                       JOIN plans p ON p.id = s.plan_id
                      WHERE c.username = r.username) AS planned,
                    r.acctstarttime AS start_key
               FROM radacct r
              WHERE r.acctstoptime IS NULL
                AND coalesce(r.acctupdatetime, r.acctstarttime) < to_timestamp($1::bigint - $2::bigint)
                AND isfinite(coalesce(r.acctupdatetime, r.acctstarttime))
                AND floor(extract(epoch FROM coalesce(r.acctupdatetime, r.acctstarttime)))
                    + 2 * coalesce(nullif(greatest(r.acctinterval, 0), 0)::numeric,
                                   (SELECT p.interim_interval FROM customers c
                                      JOIN subscriptions s ON s.customer_id = c.id AND s.active
                                      JOIN plans p ON p.id = s.plan_id
                                     WHERE c.username = r.username),
                                   $3::bigint)
                    + $2::bigint < $1::bigint",
            $tail
        )
    };
}

const FIND: &str = stale_select!(" ORDER BY heard, r.radacctid");

/// The `SET` of a session closed as stale (radacct as `r`): stopped when
/// last heard from, its session time to match, cause `$cause`.
macro_rules! closed_as_stale {
    ($cause:literal) => {
        concat!(
            "acctstoptime = coalesce(r.acctupdatetime, r.acctstarttime),
           acctsessiontime = greatest(r.acctsessiontime,
               floor(extract(epoch FROM coalesce(r.acctupdatetime, r.acctstarttime)
                                        - r.acctstarttime))::bigint),
           acctterminatecause = ",
            $cause
        )
    };
}

/// One batch: lock up to $4 stale sessions (skipping rows others hold),
/// close them with cause $5, notify when the triggers will not.
const CLOSE: &str = concat!(
    "WITH stale AS (",
    stale_select!(" LIMIT $4::bigint FOR UPDATE OF r SKIP LOCKED"),
    "), closed AS (
    UPDATE radacct r
       SET ",
    closed_as_stale!("$5::text"),
    "
      FROM stale s
     WHERE r.radacctid = s.radacctid AND r.acctstarttime = s.start_key
       AND r.acctstoptime IS NULL
    RETURNING s.*
), sent AS (
    SELECT count(pg_notify('netily_changed', payload))
      FROM (SELECT netily_session_closed(username, acctuniqueid) AS payload
              FROM closed
             WHERE username IS NOT NULL
               AND current_setting('netily.accounting_writer', true) = 'on') x
     WHERE octet_length(payload) < 8000
)
SELECT closed.* FROM closed, sent"
);

/// Closes one open session as stale, as [`close_stale_sessions`] would,
/// whatever its silence: its NAS said it has no such session (a
/// Disconnect/CoA-NAK with Error-Cause 503). An Interim from the router
/// reopens it (the NAS may have been asked with an identity it no longer
/// knows). The radacct trigger notifies. True if it was open.
pub fn close_as_stale(conn: &mut impl GenericClient, acct_unique_id: &str) -> Result<bool> {
    let n = conn
        .execute(
            concat!(
                "UPDATE radacct r SET ",
                closed_as_stale!("$2::text"),
                " WHERE r.acctuniqueid = $1 AND r.acctstoptime IS NULL"
            ),
            &[&acct_unique_id, &STALE_SESSION],
        )
        .map_err(q("closing a session its NAS does not have"))?;
    Ok(n > 0)
}

/// The open sessions stale at `now`, oldest silence first. Changes nothing.
pub fn find_stale_sessions(
    conn: &mut impl GenericClient,
    now: UnixTime,
    settings: &StaleSessionSettings,
) -> Result<Vec<StaleSession>> {
    let rows = conn
        .query(FIND, &[&now, &margin(settings), &default(settings)])
        .map_err(q("finding stale sessions"))?;
    rows.iter().map(|r| read(r, settings)).collect()
}

/// Closes every session stale at `now` (see the module doc), in batches of
/// [`CLOSE_BATCH`], each in a transaction of its own (`conn` must not be
/// inside one). Returns what it closed, oldest silence first. With nothing
/// stale it is one statement reading the open sessions: about 35 ms per
/// 100,000 open sessions on a 2-core test machine, whatever the history.
pub fn close_stale_sessions(
    conn: &mut Client,
    now: UnixTime,
    settings: &StaleSessionSettings,
) -> Result<Vec<StaleSession>> {
    let statement = conn.prepare(CLOSE).map_err(q("closing stale sessions"))?;
    let (margin, default) = (margin(settings), default(settings));
    let mut closed = Vec::new();
    loop {
        let mut tx = conn.transaction().map_err(q("closing stale sessions"))?;
        // The plan's estimate (every open session, each with a possible plan
        // lookup) is far above what it does; JIT-compiling it would cost
        // more than running it.
        tx.batch_execute("SET LOCAL jit = off")
            .map_err(q("closing stale sessions"))?;
        let rows = tx
            .query(
                &statement,
                &[&now, &margin, &default, &CLOSE_BATCH, &STALE_SESSION],
            )
            .map_err(q("closing stale sessions"))?;
        tx.commit().map_err(q("closing stale sessions"))?;
        for row in &rows {
            closed.push(read(row, settings)?);
        }
        if (rows.len() as i64) < CLOSE_BATCH {
            break;
        }
    }
    closed.sort_by(|a, b| {
        (a.last_heard_at, &a.acct_unique_id).cmp(&(b.last_heard_at, &b.acct_unique_id))
    });
    Ok(closed)
}

fn margin(settings: &StaleSessionSettings) -> i64 {
    i64::from(settings.margin)
}

fn default(settings: &StaleSessionSettings) -> i64 {
    i64::from(settings.default_interim_interval)
}

/// A row of [`stale_select!`]'s columns.
fn read(row: &Row, settings: &StaleSessionSettings) -> Result<StaleSession> {
    let bad = |e: postgres::Error| Error::corrupt("stale session", e);
    let last_heard_at: UnixTime = row.try_get(8).map_err(bad)?;
    let (interval, from) = interim_interval(
        row.try_get(9).map_err(bad)?,
        row.try_get(10).map_err(bad)?,
        settings.default_interim_interval,
    );
    Ok(StaleSession {
        acct_unique_id: row.try_get(1).map_err(bad)?,
        acct_session_id: row.try_get(2).map_err(bad)?,
        username: row.try_get(3).map_err(bad)?,
        nas_ip: row.try_get(4).map_err(bad)?,
        framed_ip: row.try_get(5).map_err(bad)?,
        calling_station_id: row.try_get(6).map_err(bad)?,
        started_at: row.try_get(7).map_err(bad)?,
        last_heard_at,
        interim_interval: interval,
        interval_from: from,
        stale_after: stale_after(last_heard_at, interval, settings.margin),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_finding_and_closing() {
        let select = stale_select!("");
        assert!(FIND.starts_with(select));
        assert!(CLOSE.contains(select));
        // Only open sessions, so the partial indexes on open sessions serve it.
        assert!(select.contains("WHERE r.acctstoptime IS NULL"));
    }

    #[test]
    fn a_batch_locks_only_what_it_closes_and_waits_for_nobody() {
        assert!(CLOSE.contains("LIMIT $4::bigint FOR UPDATE OF r SKIP LOCKED"));
        assert!(CLOSE.contains("acctterminatecause = $5::text"));
    }
}
