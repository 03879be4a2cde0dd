//! Writing the authentication log (radpostauth) in batches.
//!
//! The RADIUS server records every Accept and Reject without waiting on the
//! database: its request threads queue records and one writer stores them
//! many at a time with [`insert_batch`], a single binary COPY (one
//! statement, one round trip, whatever the batch size). The
//! password column (`pass`) is never written.

use std::net::IpAddr;

use std::io::Write;

use postgres::GenericClient;

use super::error::{q, Error, Result};

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

/// Binary COPY: PostgreSQL then stores a batch with its multi-row heap
/// insert (one WAL record and one buffer lock per page, not per row).
const COPY_BATCH: &str = "
COPY radpostauth (username, reply, calledstationid, callingstationid, nasipaddress,
                  authdate, reason)
FROM STDIN (FORMAT binary)";

/// Stores `records` with one COPY (one round trip, all or nothing).
/// Returns how many rows were written.
pub fn insert_batch(conn: &mut impl GenericClient, records: &[PostAuthRecord]) -> Result<u64> {
    if records.is_empty() {
        return Ok(0);
    }
    let what = "writing the authentication log";
    // One buffer, one write: the client's row-by-row binary writer goes
    // through its runtime for every row.
    let data = encode(records);
    let mut sink = conn.copy_in(COPY_BATCH).map_err(q(what))?;
    sink.write_all(&data).map_err(|e| Error::Query {
        what: what.into(),
        detail: e.to_string(),
    })?;
    sink.finish().map_err(q(what))
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `records` in PostgreSQL's binary COPY format, columns as in [`COPY_BATCH`].
fn encode(records: &[PostAuthRecord]) -> Vec<u8> {
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
    let mut out = Vec::with_capacity(19 + records.len() * 160);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for r in records {
        out.extend_from_slice(&7i16.to_be_bytes());
        text(&mut out, Some(&r.username));
        text(&mut out, Some(r.reply));
        text(&mut out, r.called_station_id.as_deref());
        text(&mut out, r.calling_station_id.as_deref());
        // inet: family (PGSQL_AF_INET 2 / PGSQL_AF_INET6 3), prefix bits,
        // is_cidr, address length, address.
        match r.nas_ip {
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
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&(authdate_micros(r.authdate) - PG_EPOCH_MICROS).to_be_bytes());
        text(&mut out, r.reason.as_deref());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Microseconds since the Unix epoch (a time before it or not a number is the
/// epoch: the column is NOT NULL and the row must not be lost).
fn authdate_micros(unix_seconds: f64) -> i64 {
    let micros = (unix_seconds * 1e6).round();
    if micros.is_finite() && micros > 0.0 && micros < 1e17 {
        // In range: checked just above.
        micros as i64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn record() -> PostAuthRecord {
        PostAuthRecord {
            username: "alice".into(),
            reply: ACCESS_ACCEPT,
            called_station_id: None,
            calling_station_id: Some("AA:BB".into()),
            nas_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            authdate: 946_684_800.25,
            reason: None,
        }
    }

    #[test]
    fn a_row_in_binary_copy_format() {
        let data = encode(&[record()]);
        let mut want: Vec<u8> = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        want.extend_from_slice(&[0, 7]);
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
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(data, want);
    }

    #[test]
    fn ipv6_and_bad_times() {
        let mut r = record();
        r.nas_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let data = encode(&[r]);
        let at = data
            .windows(4)
            .position(|w| w == [3, 128, 0, 16])
            .unwrap_or(0);
        assert!(at > 0 && data[at - 4..at] == [0, 0, 0, 20], "{data:?}");
        assert_eq!(authdate_micros(1_700_000_000.5), 1_700_000_000_500_000);
        assert_eq!(authdate_micros(-5.0), 0);
        assert_eq!(authdate_micros(f64::NAN), 0);
        assert_eq!(authdate_micros(f64::INFINITY), 0);
    }
}
