//! Which routers are on the management VPN now, read from the connection
//! records the OpenVPN plugin writes.
//!
//! A router is `connected` when its open connection was seen recently,
//! `stale` when the plugin marked it so (counters stopped moving) or when it
//! has not been seen for [`STALE_AFTER_SECONDS`] (the plugin or OpenVPN
//! stopped reporting), and `disconnected` otherwise, including never.

use std::net::IpAddr;

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::epoch;
use super::error::{q, Error, Result};
use crate::model::UnixTime;

/// Three heartbeat intervals (the plugin refreshes last_seen every few
/// seconds while a tunnel's counters move; keepalive pings every 10 s move
/// them even when idle).
pub const STALE_AFTER_SECONDS: i64 = 30;

/// SQL condition on a `vpn_connections` row (unqualified columns): the router
/// is online. Kept in step with [`STALE_AFTER_SECONDS`] by a unit test.
pub(crate) const ONLINE_CONDITION: &str =
    "status = 'connected' AND last_seen >= now() - interval '30 seconds'";

#[derive(Debug, Clone, Serialize)]
pub struct VpnStatusRow {
    pub router: String,
    pub vpn_address: Option<IpAddr>,
    /// connected, stale or disconnected.
    pub state: String,
    /// The router's own status (active or disabled).
    pub router_status: String,
    pub last_seen: Option<UnixTime>,
    pub connected_at: Option<UnixTime>,
    pub disconnected_at: Option<UnixTime>,
    /// `ip:port` the tunnel comes from.
    pub real_address: Option<String>,
    /// Of the current (or, when disconnected, the last) connection, as
    /// OpenVPN counts them: in = received from the router.
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// Seconds since the tunnel came up; None when disconnected.
    pub uptime_seconds: Option<i64>,
}

const STATUS_SELECT: &str = concat!(
    "SELECT r.name, r.vpn_address, r.status,
            CASE WHEN v.id IS NULL OR v.status = 'disconnected' THEN 'disconnected'
                 WHEN v.status = 'stale'
                   OR v.last_seen < now() - make_interval(secs => $1::bigint) THEN 'stale'
                 ELSE 'connected' END, ",
    epoch!("v.last_seen"),
    ", ",
    epoch!("v.connected_at"),
    ", ",
    epoch!("v.disconnected_at"),
    ", v.real_address, coalesce(v.bytes_in, 0), coalesce(v.bytes_out, 0),
            CASE WHEN v.status <> 'disconnected'
                 THEN greatest(0, ",
    epoch!("now()"),
    " - ",
    epoch!("v.connected_at"),
    ") END
       FROM routers r
       LEFT JOIN LATERAL (
            SELECT * FROM vpn_connections c
             WHERE c.router_id = r.id
             ORDER BY (c.status <> 'disconnected') DESC, c.connected_at DESC, c.id DESC
             LIMIT 1) v ON true"
);

fn from_row(r: &Row) -> VpnStatusRow {
    VpnStatusRow {
        router: r.get(0),
        vpn_address: r.get(1),
        router_status: r.get(2),
        state: r.get(3),
        last_seen: r.get(4),
        connected_at: r.get(5),
        disconnected_at: r.get(6),
        real_address: r.get(7),
        bytes_in: r.get(8),
        bytes_out: r.get(9),
        uptime_seconds: r.get(10),
    }
}

/// Every router's VPN state, by name; or one router's (not found is an error).
pub fn vpn_status(
    conn: &mut impl GenericClient,
    router: Option<&str>,
) -> Result<Vec<VpnStatusRow>> {
    let rows = match router {
        Some(name) => conn.query(
            &format!("{STATUS_SELECT} WHERE r.name = $2"),
            &[&STALE_AFTER_SECONDS, &name],
        ),
        None => conn.query(
            &format!("{STATUS_SELECT} ORDER BY r.name"),
            &[&STALE_AFTER_SECONDS],
        ),
    }
    .map_err(q("reading VPN connections"))?;
    if let (Some(name), true) = (router, rows.is_empty()) {
        return Err(Error::not_found(format!("router '{name}'")));
    }
    Ok(rows.iter().map(from_row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_condition_uses_the_stale_limit() {
        assert!(ONLINE_CONDITION.contains(&format!("interval '{STALE_AFTER_SECONDS} seconds'")));
    }
}
