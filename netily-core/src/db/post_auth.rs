//! Writing the authentication log (radpostauth) in batches.
//!
//! The RADIUS server records every Accept and Reject without waiting on the
//! database: its request threads append records to the node's
//! authentication-log journal ([`encode_for_journal`], the rows already in
//! PostgreSQL's binary COPY format, written straight into the journal's
//! buffer: no allocation per login), and one writer stores a
//! [`PostAuthBatch`] of them at a time with [`insert_batch`] (one COPY,
//! whatever its size). The password column (`pass`) is never written.
//!
//! An accepted login's reply, when the record carries it, goes with the
//! batch into `login_grants` (the latest per subscriber, NAS and station:
//! what the enforcer takes the router to enforce for a session it did not
//! see start). It is encoded the same way, into a second buffer, and stored
//! in the same transaction as the log rows.

use std::io::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::GenericClient;

use super::error::{q, Error, Result};
use super::journal_positions;
use crate::decision::ReplyAttribute;
use crate::journal::Position;

/// `Access-Accept` / `Access-Reject`, as the stock schema's `reply` column holds.
pub const ACCESS_ACCEPT: &str = "Access-Accept";
pub const ACCESS_REJECT: &str = "Access-Reject";

/// One authentication result, borrowing the request's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostAuthRecord<'a> {
    pub username: &'a str,
    pub accepted: bool,
    pub called_station_id: Option<&'a str>,
    pub calling_station_id: Option<&'a str>,
    pub nas_ip: Option<IpAddr>,
    /// When the server decided.
    pub authdate: SystemTime,
    /// Why (the decision's reason, or the failing module's message).
    pub reason: Option<&'a str>,
    /// The reply of an accepted login, to remember as its grant.
    pub granted: Option<&'a [ReplyAttribute]>,
}

/// Records waiting to be written, encoded as binary COPY rows (columns as in
/// [`COPY_BATCH`]). Cleared batches keep their buffer.
#[derive(Debug, Default)]
pub struct PostAuthBatch {
    rows: Vec<u8>,
    count: u64,
    /// `login_grants` rows, encoded alike (columns as in [`COPY_GRANTS`]).
    grants: Vec<u8>,
}

impl PostAuthBatch {
    pub fn new() -> PostAuthBatch {
        PostAuthBatch::default()
    }

    /// Appends one record.
    pub fn push(&mut self, r: &PostAuthRecord<'_>) {
        encode_row(&mut self.rows, r);
        self.count += 1;
        if let (true, Some(reply), Some(nas)) = (r.accepted, r.granted, r.nas_ip) {
            encode_grant(&mut self.grants, r, nas, reply);
        }
    }

    /// Appends one record that [`encode_for_journal`] made; false (nothing
    /// appended) when the bytes are not one.
    pub fn push_journaled(&mut self, payload: &[u8]) -> bool {
        let Some((len, rest)) = payload.split_first_chunk::<4>() else {
            return false;
        };
        let len = u32::from_le_bytes(*len) as usize;
        let Some((row, grant)) = rest.split_at_checked(len) else {
            return false;
        };
        if row.is_empty() {
            return false;
        }
        self.rows.extend_from_slice(row);
        self.grants.extend_from_slice(grant);
        self.count += 1;
        true
    }
}

/// One record as the journal keeps it: its log row's length (u32,
/// little-endian), the row, then its login grant row if it has one, each
/// already in binary COPY format.
pub fn encode_for_journal(out: &mut Vec<u8>, r: &PostAuthRecord<'_>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    encode_row(out, r);
    // A row is a few KB at most (RADIUS attributes).
    let len = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    if let (true, Some(reply), Some(nas)) = (r.accepted, r.granted, r.nas_ip) {
        encode_grant(out, r, nas, reply);
    }
}

fn encode_row(out: &mut Vec<u8>, r: &PostAuthRecord<'_>) {
    out.extend_from_slice(&7i16.to_be_bytes());
    text(out, Some(r.username));
    text(
        out,
        Some(if r.accepted {
            ACCESS_ACCEPT
        } else {
            ACCESS_REJECT
        }),
    );
    text(out, r.called_station_id);
    text(out, r.calling_station_id);
    inet(out, r.nas_ip);
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&(unix_micros(r.authdate) - PG_EPOCH_MICROS).to_be_bytes());
    text(out, r.reason);
}

fn encode_grant(out: &mut Vec<u8>, r: &PostAuthRecord<'_>, nas: IpAddr, reply: &[ReplyAttribute]) {
    out.extend_from_slice(&5i16.to_be_bytes());
    text(out, Some(r.username));
    inet(out, Some(nas));
    text(out, Some(r.calling_station_id.unwrap_or("")));
    // The reply as JSON [[name, value], ...], written in place: its
    // length goes in front once known.
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let pairs = reply.iter().map(|a| (a.name.as_ref(), a.value.as_str()));
    let mut json = serde_json::Serializer::new(&mut *out);
    if serde::Serializer::collect_seq(&mut json, pairs).is_err() {
        out.truncate(at);
        out.extend_from_slice(&2i32.to_be_bytes());
        out.extend_from_slice(b"[]");
    } else {
        let len = i32::try_from(out.len() - at - 4).unwrap_or(i32::MAX);
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&(unix_micros(r.authdate) - PG_EPOCH_MICROS).to_be_bytes());
}

impl PostAuthBatch {
    /// Records in the batch.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the encoded records take (for bounding memory).
    pub fn encoded_bytes(&self) -> usize {
        self.rows.len() + self.grants.len()
    }

    /// Forgets the records, keeping the buffers for the next batch.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.grants.clear();
        self.count = 0;
    }
}

/// Binary COPY: PostgreSQL then stores a batch with its multi-row heap
/// insert (one WAL record and one buffer lock per page, not per row).
const COPY_BATCH: &str = "
COPY radpostauth (username, reply, calledstationid, callingstationid, nasipaddress,
                  authdate, reason)
FROM STDIN (FORMAT binary)";

/// The binary COPY header: signature, flags, header extension length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY trailer: a field count of -1.
const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// The login grants of a batch go through a temporary table, then into
/// `login_grants`, the latest per key winning. `SET LOCAL` keeps the
/// "already exists, skipping" notice of every batch after the first out of
/// radiusd's log.
const GRANTS_STAGE: &str = "SET LOCAL client_min_messages = warning;
CREATE TEMP TABLE IF NOT EXISTS login_grants_in (
    username text, nasipaddress inet, callingstationid text, reply text,
    granted_at timestamptz) ON COMMIT DELETE ROWS";
const COPY_GRANTS: &str = "
COPY login_grants_in (username, nasipaddress, callingstationid, reply, granted_at)
FROM STDIN (FORMAT binary)";
const MERGE_GRANTS: &str = "
INSERT INTO login_grants (username, nasipaddress, callingstationid, reply, granted_at)
SELECT DISTINCT ON (username, nasipaddress, callingstationid)
       username, nasipaddress, callingstationid, reply, granted_at
  FROM login_grants_in
 ORDER BY username, nasipaddress, callingstationid, granted_at DESC
ON CONFLICT (username, nasipaddress, callingstationid) DO UPDATE
   SET reply = EXCLUDED.reply, granted_at = EXCLUDED.granted_at
 WHERE login_grants.granted_at <= EXCLUDED.granted_at";

/// What a batch's write did.
#[derive(Debug)]
pub struct Written {
    /// Log rows stored.
    pub rows: u64,
    /// The login grants' own outcome: they are stored after the log rows,
    /// in a transaction of their own, so a failure here (a schema not
    /// migrated yet, a backlog too large to merge in time) loses only them
    /// (the enforcer then grants the decision of the moment) and never
    /// holds up the log.
    pub grants: Result<()>,
}

/// Stores the batch: one COPY of the log rows (all or nothing, so a retry
/// never doubles a row) and, in the same transaction, how far the journal
/// they came from is applied (`journal_id`, `to`); then the login grants.
/// `Err` only when the log rows were not stored.
pub fn insert_batch(
    conn: &mut impl GenericClient,
    batch: &PostAuthBatch,
    journal_id: &str,
    to: Position,
) -> Result<Written> {
    if batch.is_empty() {
        return Ok(Written {
            rows: 0,
            grants: Ok(()),
        });
    }
    let what = "writing the authentication log";
    let mut tx = conn.transaction().map_err(q(what))?;
    let mut sink = tx.copy_in(COPY_BATCH).map_err(q(what))?;
    sink.write_all(COPY_HEADER).map_err(io_error(what))?;
    sink.write_all(&batch.rows).map_err(io_error(what))?;
    sink.write_all(COPY_TRAILER).map_err(io_error(what))?;
    let rows = sink.finish().map_err(q(what))?;
    journal_positions::save(&mut tx, journal_id, to)?;
    tx.commit().map_err(q(what))?;
    let grants = if batch.grants.is_empty() {
        Ok(())
    } else {
        insert_grants(conn, &batch.grants)
    };
    Ok(Written { rows, grants })
}

fn io_error(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Query {
        what: what.into(),
        detail: e.to_string(),
    }
}

fn insert_grants(conn: &mut impl GenericClient, grants: &[u8]) -> Result<()> {
    let what = "remembering what logins were granted";
    let mut tx = conn.transaction().map_err(q(what))?;
    tx.batch_execute(GRANTS_STAGE).map_err(q(what))?;
    let mut sink = tx.copy_in(COPY_GRANTS).map_err(q(what))?;
    sink.write_all(COPY_HEADER).map_err(io_error(what))?;
    sink.write_all(grants).map_err(io_error(what))?;
    sink.write_all(COPY_TRAILER).map_err(io_error(what))?;
    sink.finish().map_err(q(what))?;
    tx.batch_execute(MERGE_GRANTS).map_err(q(what))?;
    tx.commit().map_err(q(what))
}

/// An inet field: family (PGSQL_AF_INET 2 / PGSQL_AF_INET6 3), prefix bits,
/// is_cidr, address length, address; or -1 for NULL.
fn inet(out: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        Some(IpAddr::V4(a)) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&[2, 32, 0, 4]);
            out.extend_from_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            out.extend_from_slice(&20i32.to_be_bytes());
            out.extend_from_slice(&[3, 128, 0, 16]);
            out.extend_from_slice(&a.octets());
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A text field: length and bytes, or -1 for NULL.
fn text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        // Text values come from RADIUS attributes (at most a few KB).
        Some(v) => {
            out.extend_from_slice(&i32::try_from(v.len()).unwrap_or(i32::MAX).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// Microseconds since the Unix epoch (a clock before it is the epoch: the
/// column is NOT NULL and the row must not be lost).
fn unix_micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX - PG_EPOCH_MICROS))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    fn at(micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(micros)
    }

    fn record() -> PostAuthRecord<'static> {
        PostAuthRecord {
            username: "alice",
            accepted: true,
            called_station_id: None,
            calling_station_id: Some("AA:BB"),
            nas_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            authdate: at(946_684_800_250_000),
            reason: None,
            granted: None,
        }
    }

    fn encoded(records: &[PostAuthRecord<'_>]) -> Vec<u8> {
        let mut batch = PostAuthBatch::new();
        for r in records {
            batch.push(r);
        }
        assert_eq!(batch.len(), records.len() as u64);
        batch.rows
    }

    #[test]
    fn a_row_in_binary_copy_format() {
        let mut want: Vec<u8> = vec![0, 7];
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"alice");
        want.extend_from_slice(&[0, 0, 0, 13]);
        want.extend_from_slice(b"Access-Accept");
        want.extend_from_slice(&[0xff; 4]);
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"AA:BB");
        want.extend_from_slice(&[0, 0, 0, 8, 2, 32, 0, 4, 10, 0, 0, 1]);
        // 0.25 s after PostgreSQL's epoch.
        want.extend_from_slice(&[0, 0, 0, 8]);
        want.extend_from_slice(&250_000i64.to_be_bytes());
        want.extend_from_slice(&[0xff; 4]);
        assert_eq!(encoded(&[record()]), want);
        assert_eq!(COPY_HEADER.len(), 19);
    }

    #[test]
    fn rows_follow_each_other_and_clear_keeps_the_buffer() {
        let mut reject = record();
        reject.accepted = false;
        reject.reason = Some("Unknown user");
        let one = encoded(&[record()]);
        let two = encoded(&[reject]);
        assert!(two.windows(13).any(|w| w == b"Access-Reject"));
        assert_eq!(encoded(&[record(), reject]), [one.clone(), two].concat());

        let mut batch = PostAuthBatch::new();
        batch.push(&record());
        let capacity = batch.rows.capacity();
        batch.clear();
        assert!(batch.is_empty() && batch.encoded_bytes() == 0);
        assert_eq!(batch.rows.capacity(), capacity);
        batch.push(&record());
        assert_eq!(batch.rows, one);
    }

    #[test]
    fn ipv6_and_bad_times() {
        let mut r = record();
        r.nas_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let data = encoded(&[r]);
        let at6 = data
            .windows(4)
            .position(|w| w == [3, 128, 0, 16])
            .unwrap_or(0);
        assert!(at6 > 0 && data[at6 - 4..at6] == [0, 0, 0, 20], "{data:?}");
        assert_eq!(
            unix_micros(at(1_700_000_000_500_000)),
            1_700_000_000_500_000
        );
        assert_eq!(unix_micros(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }
}
