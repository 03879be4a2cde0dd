//! The management VPN's queries: which certificates may connect, and the
//! record of each router's VPN connection. Used by the OpenVPN plugin's
//! background threads only (never on OpenVPN's own thread).
//!
//! Every statement is parameterized. The caller tells a lost connection (keep
//! the record, retry later) from a statement the database refused (log it,
//! drop it) with [`Error::is_connection_error`].

use std::net::Ipv4Addr;

use postgres::GenericClient;

use super::error::{q, Result};
use crate::model::UnixTime;
use crate::pki::Serial;

/// A certificate that may connect right now: active, unexpired, belonging to
/// an active router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedCertificate {
    pub serial: Serial,
    pub certificate_id: i64,
    pub router_id: i64,
    pub router_name: String,
    /// The router's place in the VPN address plan.
    pub vpn_id: i64,
}

/// A router's tunnel came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOpened {
    pub router_id: i64,
    pub certificate_id: i64,
    pub vpn_address: Ipv4Addr,
    /// `ip:port` as OpenVPN shows it (trusted_ip:trusted_port).
    pub real_address: String,
    pub at: UnixTime,
}

/// Counters of a live tunnel, from the status file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionHeartbeat {
    pub router_id: i64,
    pub real_address: String,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// When the counters last moved; None when they have stopped (stale).
    pub moving_at: Option<UnixTime>,
}

/// A router's tunnel went down, with OpenVPN's final counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClosed {
    pub router_id: i64,
    pub real_address: String,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub at: UnixTime,
}

/// Rows whose serial text the PKI cannot parse are skipped (and counted), so
/// one bad row never locks every router out.
pub fn load_authorized(
    client: &mut impl GenericClient,
) -> Result<(Vec<AuthorizedCertificate>, usize)> {
    let rows = client
        .query(
            "SELECT c.serial, c.id, r.id, r.name, r.vpn_id::bigint
               FROM certificates c
               JOIN routers r ON r.id = c.router_id
              WHERE c.status = 'active' AND r.status = 'active' AND c.not_after > now()",
            &[],
        )
        .map_err(q("reading the routers' certificates"))?;
    let mut out = Vec::with_capacity(rows.len());
    let mut unreadable = 0;
    for row in rows {
        let serial: String = row.get(0);
        match Serial::from_hex(&serial) {
            Ok(serial) => out.push(AuthorizedCertificate {
                serial,
                certificate_id: row.get(1),
                router_id: row.get(2),
                router_name: row.get(3),
                vpn_id: row.get(4),
            }),
            Err(_) => unreadable += 1,
        }
    }
    Ok((out, unreadable))
}

/// Opens a connection row, closing any the router still has open (a router
/// that reconnects replaces its old session, as OpenVPN does with one CN).
pub fn record_opened(client: &mut impl GenericClient, c: &ConnectionOpened) -> Result<()> {
    let what = "recording a VPN connection";
    let mut tx = client.transaction().map_err(q(what))?;
    tx.execute(
        "UPDATE vpn_connections
            SET status = 'disconnected', disconnected_at = to_timestamp($2::bigint)
          WHERE router_id = $1 AND status <> 'disconnected'",
        &[&c.router_id, &c.at],
    )
    .map_err(q(what))?;
    tx.execute(
        "INSERT INTO vpn_connections
                (router_id, certificate_id, vpn_address, real_address, connected_at, last_seen, status)
         VALUES ($1, $2, $3::text::inet, $4, to_timestamp($5::bigint), to_timestamp($5::bigint), 'connected')",
        &[
            &c.router_id,
            &c.certificate_id,
            &c.vpn_address.to_string(),
            &c.real_address,
            &c.at,
        ],
    )
    .map_err(q(what))?;
    tx.commit().map_err(q(what))
}

/// Updates the open connection's counters; a moving tunnel is `connected`
/// with a fresh last_seen, a still one turns `stale`.
pub fn record_heartbeat(client: &mut impl GenericClient, h: &ConnectionHeartbeat) -> Result<()> {
    client
        .execute(
            "UPDATE vpn_connections
            SET bytes_in = $3, bytes_out = $4,
                last_seen = coalesce(to_timestamp($5::bigint), last_seen),
                status = CASE WHEN $5::bigint IS NULL THEN 'stale' ELSE 'connected' END
          WHERE router_id = $1 AND real_address = $2 AND status <> 'disconnected'",
            &[
                &h.router_id,
                &h.real_address,
                &h.bytes_in,
                &h.bytes_out,
                &h.moving_at,
            ],
        )
        .map_err(q("recording a VPN heartbeat"))?;
    Ok(())
}

/// Closes the connection with OpenVPN's final counters.
pub fn record_closed(client: &mut impl GenericClient, c: &ConnectionClosed) -> Result<()> {
    client
        .execute(
            "UPDATE vpn_connections
            SET bytes_in = $3, bytes_out = $4, status = 'disconnected',
                disconnected_at = to_timestamp($5::bigint),
                last_seen = greatest(last_seen, to_timestamp($5::bigint))
          WHERE router_id = $1 AND real_address = $2 AND status <> 'disconnected'",
            &[
                &c.router_id,
                &c.real_address,
                &c.bytes_in,
                &c.bytes_out,
                &c.at,
            ],
        )
        .map_err(q("closing a VPN connection"))?;
    Ok(())
}
