//! The authentication log (radpostauth): every Accept and Reject with why.

use postgres::GenericClient;
use serde::Serialize;

use super::epoch;
use super::error::{q, Result};
use super::page::{after_position, position_micros, Position};
use crate::model::UnixTime;

#[derive(Debug, Clone, Serialize)]
pub struct AuthLogEntry {
    pub id: i64,
    pub at: UnixTime,
    pub username: String,
    /// Access-Accept or Access-Reject.
    pub reply: Option<String>,
    pub calling_station_id: Option<String>,
    pub called_station_id: Option<String>,
    /// The NAS the request came from (NAS-IP-Address; migration 0009).
    /// None for rows written without it (the stock rlm_sql query).
    pub nas_ip: Option<String>,
    pub reason: Option<String>,
    /// Where it stands in one subscriber's list (by time, newest first).
    #[serde(skip)]
    pub position: Position,
}

#[derive(Debug, Clone, Default)]
pub struct AuthLogFilter {
    pub username: Option<String>,
    pub rejects_only: bool,
    /// Only entries after this one (everyone's: by id alone).
    pub after: Option<Position>,
    /// One subscriber's: only entries at or after this moment.
    pub since: Option<UnixTime>,
    pub limit: Option<i64>,
    /// One subscriber's listing looks back at most this many hours from
    /// now, over all its pages (a
    /// page's "recent logins": a quiet subscriber's would otherwise read
    /// every login kept). None: as far as the log goes.
    pub max_hours: Option<i32>,
}

/// How far back (hours) one subscriber's listing looks before it looks
/// further: accepts have no index by subscriber (migration 0013), so each
/// step reads one time range through the BRIN index on authdate, and a
/// recently active subscriber costs only the last hour's rows.
const LOOK_BACK_HOURS: [i32; 4] = [1, 24, 24 * 7, 24 * 31];

pub fn list_auth_log(
    conn: &mut impl GenericClient,
    f: &AuthLogFilter,
) -> Result<Vec<AuthLogEntry>> {
    // The stored password (`pass`) is never read back. Newest first:
    // everyone's by id, the order the servers wrote them in (the primary
    // key: authdate has only a BRIN index, which cannot give order); one
    // subscriber's by time.
    let limit = f.limit.unwrap_or(100);
    let columns = format!(
        "id, {}, username, reply, callingstationid, calledstationid, reason, host(nasipaddress), {}",
        epoch!("authdate"),
        position_micros!("authdate")
    );
    let Some(username) = &f.username else {
        let sql = format!(
            "SELECT {columns} FROM radpostauth
              WHERE (NOT $1 OR reply = 'Access-Reject') AND ($3::bigint IS NULL OR id < $3)
              ORDER BY id DESC LIMIT $2"
        );
        let before = f.after.map(|p| p.id);
        return read(conn, &sql, &[&f.rejects_only, &limit, &before]);
    };
    let (micros, id) = Position::params(f.after);
    // $3 $4: the position; $5: since.
    let after = concat!(
        after_position!("authdate", "id", "$3", "$4"),
        " AND ($5::bigint IS NULL OR authdate >= to_timestamp($5))"
    );
    if f.rejects_only {
        // radpostauth_rejects_idx: its predicate spelled out, as the planner needs.
        let sql = format!(
            "SELECT {columns} FROM radpostauth
              WHERE username = $1 AND reply = 'Access-Reject' AND {after}
              ORDER BY authdate DESC, id DESC LIMIT $2"
        );
        return read(conn, &sql, &[username, &limit, &micros, &id, &f.since]);
    }
    // Steps look back from the page's start (now, or the last row shown);
    // `max_hours` bounds the whole listing from now, every page of it.
    let now = crate::clock::now();
    let start = f.after.map_or(now, |p| p.micros.div_euclid(1_000_000));
    let oldest: Option<UnixTime> = f.max_hours.map(|h| now - i64::from(h) * 3600);
    let since = match (f.since, oldest) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let recent = format!(
        "SELECT {columns} FROM radpostauth
          WHERE username = $1 AND {after}
            AND authdate >= to_timestamp($6::bigint)
          ORDER BY authdate DESC, id DESC LIMIT $2"
    );
    for hours in LOOK_BACK_HOURS {
        let from = start - i64::from(hours) * 3600;
        let last = since.is_some_and(|s| from <= s);
        let from = since.map_or(from, |s| from.max(s));
        let rows = read(
            conn,
            &recent,
            &[username, &limit, &micros, &id, &since, &from],
        )?;
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit || last {
            return Ok(rows);
        }
    }
    let all = format!(
        "SELECT {columns} FROM radpostauth
          WHERE username = $1 AND {after}
          ORDER BY authdate DESC, id DESC LIMIT $2"
    );
    read(conn, &all, &[username, &limit, &micros, &id, &since])
}

fn read(
    conn: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<AuthLogEntry>> {
    let rows = conn
        .query(sql, params)
        .map_err(q("reading the authentication log"))?;
    Ok(rows
        .iter()
        .map(|r| AuthLogEntry {
            id: r.get(0),
            at: r.get(1),
            username: r.get(2),
            reply: r.get(3),
            calling_station_id: r.get(4),
            called_station_id: r.get(5),
            reason: r.get(6),
            nas_ip: r.get(7),
            position: Position {
                micros: r.get(8),
                id: r.get(0),
            },
        })
        .collect())
}
