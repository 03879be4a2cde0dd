//! The operator's one-screen summary.

use postgres::GenericClient;
use serde::Serialize;

use super::epoch;
use super::error::{q, Result};
use super::vpn_status::ONLINE_CONDITION;
use crate::billing;
use crate::model::{Policy, UnixTime};

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub subscribers: i64,
    /// Operator status active, and nothing below applies.
    pub active: i64,
    /// Operator status active, an invoice past due + grace days.
    pub overdue: i64,
    /// Operator status active, subscription expired or missing.
    pub expired: i64,
    pub suspended: i64,
    pub terminated: i64,
    pub active_sessions: i64,
    pub accepts_24h: i64,
    pub rejects_24h: i64,
    pub routers: i64,
    /// Connected and seen within `vpn_status::STALE_AFTER_SECONDS`.
    pub routers_online: i64,
}

/// Counts at `now`, with billing states by `policy`'s grace rule
/// ([`billing::past_grace_if_due_by`]: the rule exists once, in billing).
pub fn dashboard(
    conn: &mut impl GenericClient,
    policy: &Policy,
    now: UnixTime,
) -> Result<Dashboard> {
    let due_by = billing::past_grace_if_due_by(now, policy) as f64;
    let row = conn
        .query_one(
            &format!("WITH st AS (
                SELECT c.status,
                       (s.id IS NULL OR (s.expires_at IS NOT NULL
                                         AND s.expires_at <= to_timestamp($2::float8))) AS expired,
                       EXISTS (SELECT 1 FROM invoices i
                                WHERE i.customer_id = c.id AND i.status = 'unpaid'
                                  AND i.due_at <= to_timestamp($1::float8)) AS overdue
                  FROM customers c
                  LEFT JOIN subscriptions s ON s.customer_id = c.id AND s.active)
             SELECT (SELECT count(*) FROM st),
                    (SELECT count(*) FROM st WHERE status = 'active' AND NOT expired AND NOT overdue),
                    (SELECT count(*) FROM st WHERE status = 'active' AND overdue),
                    (SELECT count(*) FROM st WHERE status = 'active' AND expired AND NOT overdue),
                    (SELECT count(*) FROM st WHERE status = 'suspended'),
                    (SELECT count(*) FROM st WHERE status = 'terminated'),
                    (SELECT count(*) FROM radacct WHERE acctstoptime IS NULL),
                    (SELECT count(*) FROM radpostauth
                      WHERE authdate > now() - interval '24 hours' AND reply = 'Access-Accept'),
                    (SELECT count(*) FROM radpostauth
                      WHERE authdate > now() - interval '24 hours' AND reply = 'Access-Reject'),
                    (SELECT count(*) FROM routers),
                    (SELECT count(DISTINCT router_id) FROM vpn_connections WHERE {online})",
                online = ONLINE_CONDITION
            ),
            &[&due_by, &(now as f64)],
        )
        .map_err(q("counting for the dashboard"))?;
    Ok(Dashboard {
        subscribers: row.get(0),
        active: row.get(1),
        overdue: row.get(2),
        expired: row.get(3),
        suspended: row.get(4),
        terminated: row.get(5),
        active_sessions: row.get(6),
        accepts_24h: row.get(7),
        rejects_24h: row.get(8),
        routers: row.get(9),
        routers_online: row.get(10),
    })
}

/// One hour of the dashboard's charts.
#[derive(Debug, Clone, Serialize)]
pub struct HourCounts {
    /// The hour's start.
    pub hour: UnixTime,
    pub accepts: i64,
    pub rejects: i64,
    /// Through every router, once the hour is folded into the routers'
    /// rollups (`netadmin usage fold`; the enforcer does it every few
    /// minutes): the current hour reads 0 until then.
    pub bytes_up: i64,
    pub bytes_down: i64,
}

/// The last 24 hours (the current one last), each present even when empty.
pub fn last_24_hours(conn: &mut impl GenericClient) -> Result<Vec<HourCounts>> {
    let rows = conn
        .query(
            concat!(
                "WITH h AS (
                    SELECT generate_series(date_trunc('hour', now()) - interval '23 hours',
                                           date_trunc('hour', now()), interval '1 hour') AS hour),
                 a AS (
                    SELECT date_trunc('hour', authdate) AS hour,
                           count(*) FILTER (WHERE reply = 'Access-Accept') AS accepts,
                           count(*) FILTER (WHERE reply = 'Access-Reject') AS rejects
                      FROM radpostauth
                     WHERE authdate >= date_trunc('hour', now()) - interval '23 hours'
                     GROUP BY 1),
                 t AS (
                    SELECT hour, sum(bytes_up) AS up, sum(bytes_down) AS down
                      FROM router_usage_hours
                     WHERE hour >= date_trunc('hour', now()) - interval '23 hours'
                     GROUP BY 1)
                 SELECT ",
                epoch!("h.hour"),
                ", coalesce(a.accepts, 0), coalesce(a.rejects, 0),
                        least(coalesce(t.up, 0), 9223372036854775807)::bigint,
                        least(coalesce(t.down, 0), 9223372036854775807)::bigint
                   FROM h LEFT JOIN a USING (hour) LEFT JOIN t USING (hour)
                  ORDER BY h.hour"
            ),
            &[],
        )
        .map_err(q("counting the last 24 hours"))?;
    Ok(rows
        .iter()
        .map(|r| HourCounts {
            hour: r.get(0),
            accepts: r.get(1),
            rejects: r.get(2),
            bytes_up: r.get(3),
            bytes_down: r.get(4),
        })
        .collect())
}
