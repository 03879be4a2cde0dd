//! The authentication log (radpostauth): every Accept and Reject with why.

use postgres::GenericClient;
use serde::Serialize;

use super::epoch;
use super::error::{q, Result};
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
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuthLogFilter {
    pub username: Option<String>,
    pub rejects_only: bool,
    pub limit: Option<i64>,
}

pub fn list_auth_log(
    conn: &mut impl GenericClient,
    f: &AuthLogFilter,
) -> Result<Vec<AuthLogEntry>> {
    // The stored password (`pass`) is never read back. Newest first: one
    // subscriber's by time (radpostauth_username_authdate_idx); everyone's
    // by id, the order the servers wrote them in (the primary key: authdate
    // has only a BRIN index, which cannot give order; see migration 0012).
    let order = if f.username.is_some() {
        "authdate DESC, id DESC"
    } else {
        "id DESC"
    };
    let sql = format!(
        "SELECT id, {}, username, reply, callingstationid, calledstationid, reason
           FROM radpostauth
          WHERE ($1::text IS NULL OR username = $1)
            AND (NOT $2 OR reply = 'Access-Reject')
          ORDER BY {order}
          LIMIT $3",
        epoch!("authdate")
    );
    let rows = conn
        .query(
            &sql,
            &[&f.username, &f.rejects_only, &f.limit.unwrap_or(100)],
        )
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
        })
        .collect())
}
