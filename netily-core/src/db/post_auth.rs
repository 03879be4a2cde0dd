//! Writing the authentication log (radpostauth) in batches.
//!
//! The RADIUS server records every Accept and Reject without waiting on the
//! database: its request threads queue records and one writer stores them
//! many at a time with [`insert_batch`], a single multi-row INSERT over
//! arrays (one statement, one round trip, whatever the batch size). The
//! password column (`pass`) is never written.

use std::net::IpAddr;

use postgres::{GenericClient, Statement};

use super::error::{q, Result};

/// `Access-Accept` / `Access-Reject`, as the stock schema's `reply` column holds.
pub const ACCESS_ACCEPT: &str = "Access-Accept";
pub const ACCESS_REJECT: &str = "Access-Reject";

/// One authentication result.
#[derive(Debug, Clone, PartialEq)]
pub struct PostAuthRecord {
    pub username: String,
    /// [`ACCESS_ACCEPT`] or [`ACCESS_REJECT`].
    pub reply: &'static str,
    pub called_station_id: Option<String>,
    pub calling_station_id: Option<String>,
    pub nas_ip: Option<IpAddr>,
    /// When the server decided, seconds since the epoch (sub-second precision).
    pub authdate: f64,
    /// Why (the decision's reason, or the failing module's message).
    pub reason: Option<String>,
}

const INSERT_BATCH: &str = "
INSERT INTO radpostauth (username, reply, calledstationid, callingstationid, nasipaddress,
                         authdate, reason)
SELECT u, r, cd, cg, n, to_timestamp(t), why
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::inet[], $6::float8[],
              $7::text[]) AS x(u, r, cd, cg, n, t, why)";

/// The batch insert, prepared on one connection.
pub struct PreparedInsert(Statement);

/// Prepares the batch insert (once per connection).
pub fn prepare_insert(conn: &mut impl GenericClient) -> Result<PreparedInsert> {
    conn.prepare(INSERT_BATCH)
        .map(PreparedInsert)
        .map_err(q("preparing the authentication log insert"))
}

/// Stores `records` in one statement; `statement` is from [`prepare_insert`]
/// on the same connection. Returns how many rows were written.
pub fn insert_batch(
    conn: &mut impl GenericClient,
    statement: &PreparedInsert,
    records: &[PostAuthRecord],
) -> Result<u64> {
    if records.is_empty() {
        return Ok(0);
    }
    let n = records.len();
    let mut usernames = Vec::with_capacity(n);
    let mut replies = Vec::with_capacity(n);
    let mut called = Vec::with_capacity(n);
    let mut calling = Vec::with_capacity(n);
    let mut nas = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    for r in records {
        usernames.push(r.username.as_str());
        replies.push(r.reply);
        called.push(r.called_station_id.as_deref());
        calling.push(r.calling_station_id.as_deref());
        nas.push(r.nas_ip);
        at.push(r.authdate);
        reasons.push(r.reason.as_deref());
    }
    conn.execute(
        &statement.0,
        &[&usernames, &replies, &called, &calling, &nas, &at, &reasons],
    )
    .map_err(q("writing the authentication log"))
}
