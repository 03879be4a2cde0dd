//! Live enforcement's tables (migration 0022): what each online session was
//! granted (`session_grants`), where a request for a session goes, the
//! outcome log (`coa_log`), and the advisory lock that makes one enforcer
//! act at a time.
//!
//! Where a request goes: the session's NAS-IP-Address names a RADIUS client,
//! either a hand-made `nas` row or a router (by its `--ip` or its management
//! VPN address). A router gets the request at its VPN address while its
//! tunnel is up (routers sit behind NAT) and at its NAS address otherwise;
//! a plain NAS at its `nasname`. The port is the `nas` row's `ports`
//! (FreeRADIUS's column; daloRADIUS keeps the CoA port there), 3799 when
//! empty. The secret is the client's.

use std::net::IpAddr;

use postgres::{Client, GenericClient};
use serde::Serialize;

use super::epoch;
use super::error::{q, Result};
use super::vpn_status::ONLINE_CONDITION;
use crate::coa::{Kind, SessionIdentity};
use crate::decision::ReplyAttribute;
use crate::enforcement::Grant;
use crate::model::UnixTime;
use crate::vpn_plan::VpnPlan;

/// RFC 5176's port, and RouterOS's once `/radius incoming` is set to it.
pub const DEFAULT_COA_PORT: u16 = 3799;

/// Key of the advisory lock the acting enforcer holds ("enforce" in ASCII).
pub const ENFORCER_LOCK: i64 = 0x65_6e66_6f72_6365;

/// Takes the enforcer's lock on this connection if no other session holds
/// it; it is released when the connection ends (a dead enforcer's too).
pub fn try_lead(client: &mut Client) -> Result<bool> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&ENFORCER_LOCK])
        .map_err(q("taking the enforcer lock"))?;
    Ok(row.get(0))
}

/// A session's grant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    pub acct_unique_id: String,
    pub username: String,
    pub grant: Grant,
    /// A Disconnect-Request was acknowledged at this time.
    pub ended_at: Option<UnixTime>,
}

fn reply_to_json(reply: &[ReplyAttribute]) -> String {
    let pairs: Vec<[&str; 2]> = reply
        .iter()
        .map(|a| [a.name.as_ref(), a.value.as_str()])
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

fn reply_from_json(json: &str) -> Vec<ReplyAttribute> {
    serde_json::from_str::<Vec<(String, String)>>(json)
        .map(|pairs| {
            pairs
                .into_iter()
                .map(|(n, v)| ReplyAttribute::new(n, v))
                .collect()
        })
        .unwrap_or_default()
}

/// The grants of every session still open.
pub fn load_grants(conn: &mut impl GenericClient) -> Result<Vec<StoredGrant>> {
    let rows = conn
        .query(
            concat!(
                "SELECT g.acctuniqueid, g.username, g.reply::text, ",
                epoch!("g.granted_at"),
                ", ",
                epoch!("g.ended_at"),
                " FROM session_grants g
                  WHERE EXISTS (SELECT 1 FROM radacct a
                                 WHERE a.acctuniqueid = g.acctuniqueid
                                   AND a.acctstoptime IS NULL)"
            ),
            &[],
        )
        .map_err(q("reading session grants"))?;
    Ok(rows
        .iter()
        .map(|r| StoredGrant {
            acct_unique_id: r.get(0),
            username: r.get(1),
            grant: Grant {
                reply: reply_from_json(r.get(2)),
                granted_at: r.get(3),
            },
            ended_at: r.get(4),
        })
        .collect())
}

/// Grants per statement: a takeover saves every online session's at once,
/// and each statement must finish within the connection's statement
/// timeout.
const GRANTS_PER_STATEMENT: usize = 5_000;

/// The login grants (what rlm_netily's Access-Accept said, migration 0023)
/// of these open sessions, where one matches: same subscriber, NAS and
/// station, granted in the two minutes before the session started (a
/// minute of slack after it for the NAS's clock): an older row is an earlier
/// login's, not this session's.
pub fn login_grants(conn: &mut impl GenericClient, ids: &[String]) -> Result<Vec<StoredGrant>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query(
            concat!(
                "SELECT a.acctuniqueid, a.username, lg.reply::text, ",
                epoch!("lg.granted_at"),
                " FROM radacct a
                   JOIN login_grants lg
                     ON lg.username = a.username AND lg.nasipaddress = a.nasipaddress
                    AND lg.callingstationid = coalesce(a.callingstationid, '')
                  WHERE a.acctuniqueid = ANY($1) AND a.acctstoptime IS NULL
                    AND lg.granted_at <= coalesce(a.acctstarttime, now()) + interval '60 seconds'
                    AND lg.granted_at >= coalesce(a.acctstarttime, now()) - interval '120 seconds'"
            ),
            &[&ids],
        )
        .map_err(q("reading what logins were granted"))?;
    Ok(rows
        .iter()
        .map(|r| StoredGrant {
            acct_unique_id: r.get(0),
            username: r.get(1),
            grant: Grant {
                reply: reply_from_json(r.get(2)),
                granted_at: r.get(3),
            },
            ended_at: None,
        })
        .collect())
}

/// Pages of `login_grants` one pruning statement reads (8 MB).
const PRUNE_PAGES: i64 = 1_000;

/// Deletes login grants older than `days` (a subscriber's old stations and
/// NASes); how many. The table has no index on age (an index on a column
/// every login updates would make each update a new row version in every
/// index: migration 0027), so it is read once, [`PRUNE_PAGES`] pages per
/// statement (a TID range scan, PostgreSQL 14 and later): each statement
/// stays short whatever the table's size.
pub fn prune_login_grants(conn: &mut impl GenericClient, days: i32) -> Result<u64> {
    let pages: i64 = conn
        .query_one(
            "SELECT pg_relation_size('login_grants') / current_setting('block_size')::bigint",
            &[],
        )
        .map_err(q("sizing the login grants"))?
        .get(0);
    let mut total = 0;
    let mut from = 0i64;
    while from < pages {
        // A TID range scan: only these pages are read.
        total += conn
            .execute(
                "DELETE FROM login_grants
                  WHERE ctid >= format('(%s,0)', $1::bigint)::tid
                    AND ctid < format('(%s,0)', $2::bigint)::tid
                    AND granted_at < now() - make_interval(days => $3)",
                &[&from, &(from + PRUNE_PAGES), &days],
            )
            .map_err(q("pruning old login grants"))?;
        from += PRUNE_PAGES;
    }
    Ok(total)
}

/// Inserts or replaces these grants, [`GRANTS_PER_STATEMENT`] per statement.
pub fn save_grants(conn: &mut impl GenericClient, grants: &[StoredGrant]) -> Result<()> {
    for chunk in grants.chunks(GRANTS_PER_STATEMENT) {
        save_grant_chunk(conn, chunk)?;
    }
    Ok(())
}

fn save_grant_chunk(conn: &mut impl GenericClient, grants: &[StoredGrant]) -> Result<()> {
    if grants.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = grants.iter().map(|g| g.acct_unique_id.as_str()).collect();
    let users: Vec<&str> = grants.iter().map(|g| g.username.as_str()).collect();
    let replies: Vec<String> = grants
        .iter()
        .map(|g| reply_to_json(&g.grant.reply))
        .collect();
    let at: Vec<i64> = grants.iter().map(|g| g.grant.granted_at).collect();
    let ended: Vec<Option<i64>> = grants.iter().map(|g| g.ended_at).collect();
    conn.execute(
        "INSERT INTO session_grants (acctuniqueid, username, reply, granted_at, ended_at)
         SELECT i, u, r::jsonb, to_timestamp(t), to_timestamp(e)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
                AS x(i, u, r, t, e)
         ON CONFLICT (acctuniqueid) DO UPDATE
            SET username = EXCLUDED.username, reply = EXCLUDED.reply,
                granted_at = EXCLUDED.granted_at, ended_at = EXCLUDED.ended_at",
        &[&ids, &users, &replies, &at, &ended],
    )
    .map_err(q("saving session grants"))?;
    Ok(())
}

/// Deletes the grants of sessions that have closed; their ids.
pub fn forget_closed_grants(conn: &mut impl GenericClient) -> Result<Vec<String>> {
    let rows = conn
        .query(
            "DELETE FROM session_grants g
              WHERE NOT EXISTS (SELECT 1 FROM radacct a
                                 WHERE a.acctuniqueid = g.acctuniqueid
                                   AND a.acctstoptime IS NULL)
          RETURNING acctuniqueid",
            &[],
        )
        .map_err(q("forgetting grants of closed sessions"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// (username, acctuniqueid) of the sessions whose Disconnect-Request was
/// acknowledged and that their router has reported since (an accounting
/// update more than 10 s after the ACK, so not one that crossed it): the
/// router said yes and kept the session.
pub fn still_reported(conn: &mut impl GenericClient) -> Result<Vec<(String, String)>> {
    let rows = conn
        .query(
            "SELECT g.username, g.acctuniqueid
               FROM session_grants g
               JOIN radacct a ON a.acctuniqueid = g.acctuniqueid AND a.acctstoptime IS NULL
              WHERE a.acctupdatetime > g.ended_at + interval '10 seconds'",
            &[],
        )
        .map_err(q("finding sessions still reported after a Disconnect-ACK"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Usernames with at least one open session.
pub fn online_usernames(conn: &mut impl GenericClient) -> Result<Vec<String>> {
    let rows = conn
        .query(
            "SELECT DISTINCT username FROM radacct
              WHERE acctstoptime IS NULL AND username IS NOT NULL",
            &[],
        )
        .map_err(q("listing online subscribers"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Where a request for a session goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub address: IpAddr,
    pub port: u16,
    #[serde(skip)]
    pub secret: String,
    /// The router, when the NAS is a managed one.
    pub router: Option<String>,
    /// True when `address` is the router's management VPN address.
    pub via_vpn: bool,
}

/// An open session and where to reach its NAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTarget {
    pub acct_unique_id: String,
    pub identity: SessionIdentity,
    /// None when no RADIUS client matches the session's NAS, or its
    /// `nasname` is not an address (why is in `no_route`).
    pub destination: Option<Destination>,
    pub no_route: Option<String>,
}

/// Each NAS address among the sessions is matched once, by three index
/// lookups (a `nas` row by name, a router by `--ip`, a router by VPN id, the
/// address's offset in the plan), not by a scan per session.
const TARGET_SELECT: &str = "WITH s AS (
        -- (One per id: a router reusing a session id can leave two rows
        -- open in two months; the newest is the session online.)
        SELECT DISTINCT ON (acctuniqueid)
               acctuniqueid, username, acctsessionid, framedipaddress, nasipaddress
          FROM radacct
         WHERE acctuniqueid = ANY($1) AND acctstoptime IS NULL AND username IS NOT NULL
         ORDER BY acctuniqueid, acctstarttime DESC),
     n AS (SELECT DISTINCT nasipaddress FROM s WHERE nasipaddress IS NOT NULL),
     t AS (
        SELECT n.nasipaddress, x.*
          FROM n LEFT JOIN LATERAL (
               SELECT c.nasname, c.secret, c.ports AS port, r.name AS router,
                      CASE WHEN r.vpn_id BETWEEN 1 AND $3::bigint
                           THEN $2::inet + (r.vpn_id + 1) END AS vpn_address,
                      EXISTS (SELECT 1 FROM vpn_connections v
                               WHERE v.router_id = r.id AND ONLINE) AS vpn_up
                 FROM (SELECT m.id, 1 AS pick FROM nas m WHERE m.nasname = host(n.nasipaddress)
                       UNION ALL
                       SELECT m.id, 2 FROM routers q JOIN nas m ON m.router_id = q.id
                        WHERE q.nas_ip = n.nasipaddress
                       UNION ALL
                       SELECT m.id, 3 FROM routers q JOIN nas m ON m.router_id = q.id
                        WHERE q.vpn_id BETWEEN 1 AND $3::bigint
                          AND q.vpn_id = (CASE WHEN family(n.nasipaddress) = family($2::inet)
                                               THEN n.nasipaddress - $2::inet END) - 1) hit
                 JOIN nas c ON c.id = hit.id
                 LEFT JOIN routers r ON r.id = c.router_id
                ORDER BY hit.pick, c.id
                LIMIT 1) x ON true)
    SELECT s.acctuniqueid, s.username, s.acctsessionid, s.framedipaddress, s.nasipaddress,
           t.nasname, t.secret, t.port, t.router, t.vpn_address, t.vpn_up
      FROM s LEFT JOIN t ON t.nasipaddress = s.nasipaddress";

/// The open sessions among `ids`, with where to reach each one's NAS.
pub fn session_targets(
    conn: &mut impl GenericClient,
    ids: &[String],
    plan: &VpnPlan,
) -> Result<Vec<SessionTarget>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = TARGET_SELECT.replace(
        "v.router_id = r.id AND ONLINE",
        &format!("v.router_id = r.id AND {ONLINE_CONDITION}"),
    );
    let network = IpAddr::V4(plan.network());
    let rows = conn
        .query(sql.as_str(), &[&ids, &network, &plan.max_router_id()])
        .map_err(q("finding where sessions' routers are"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let nas_ip: Option<IpAddr> = r.get(4);
            let nasname: Option<String> = r.get(5);
            let router: Option<String> = r.get(8);
            let vpn_address: Option<IpAddr> = r.get(9);
            let vpn_up: Option<bool> = r.get(10);
            let port = r
                .get::<_, Option<i32>>(7)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p > 0)
                .unwrap_or(DEFAULT_COA_PORT);
            let (destination, no_route) = match (nasname, router.is_some()) {
                (None, _) => (
                    None,
                    Some("no RADIUS client has this NAS address".to_owned()),
                ),
                (Some(name), has_router) => {
                    let address = match (has_router, vpn_up, vpn_address) {
                        (true, Some(true), Some(vpn)) => Some((vpn, true)),
                        (true, _, _) => nas_ip_of_router(&name).map(|a| (a, false)),
                        (false, _, _) => nas_ip_of_router(&name).map(|a| (a, false)),
                    };
                    match address {
                        Some((address, via_vpn)) => (
                            Some(Destination {
                                address,
                                port,
                                secret: r.get(6),
                                router: router.clone(),
                                via_vpn,
                            }),
                            None,
                        ),
                        None => (
                            None,
                            Some(format!("NAS {name:?} is not an address to send to")),
                        ),
                    }
                }
            };
            SessionTarget {
                acct_unique_id: r.get(0),
                identity: SessionIdentity {
                    user_name: r.get(1),
                    acct_session_id: r.get(2),
                    framed_ip: r.get(3),
                    nas_ip,
                },
                destination,
                no_route,
            }
        })
        .collect())
}

/// A `nasname` as an address (a router's is its `--ip`); None for a name
/// or a network.
fn nas_ip_of_router(nasname: &str) -> Option<IpAddr> {
    nasname.trim().parse().ok()
}

/// (username, acctuniqueid) of the open sessions of `username`, or of the
/// one session whose Acct-Session-Id or acctuniqueid is `session`.
pub fn open_sessions(
    conn: &mut impl GenericClient,
    username: Option<&str>,
    session: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let rows = conn
        .query(
            "SELECT username, acctuniqueid FROM radacct
              WHERE acctstoptime IS NULL AND username IS NOT NULL
                AND ($1::text IS NULL OR username = $1)
                AND ($2::text IS NULL OR acctsessionid = $2 OR acctuniqueid = $2)
              ORDER BY acctstarttime",
            &[&username, &session],
        )
        .map_err(q("finding open sessions"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// One request's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoaLogEntry {
    pub id: i64,
    pub sent_at: UnixTime,
    pub username: String,
    pub acct_unique_id: Option<String>,
    pub acct_session_id: Option<String>,
    pub nas_ip: Option<IpAddr>,
    pub router: Option<String>,
    pub target: String,
    pub kind: String,
    pub attributes: String,
    pub why: String,
    pub outcome: String,
    pub error_cause: Option<i32>,
    pub attempts: i32,
    pub rtt_ms: Option<i32>,
    pub origin: String,
}

/// A request's outcome to record (and to print, as `coa-log` reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewCoaLog {
    pub username: String,
    pub acct_unique_id: String,
    pub acct_session_id: Option<String>,
    pub nas_ip: Option<IpAddr>,
    pub router: Option<String>,
    pub target: String,
    pub kind: Kind,
    pub attributes: String,
    pub why: String,
    pub outcome: String,
    pub error_cause: Option<u32>,
    pub attempts: u32,
    pub rtt_ms: Option<u32>,
    pub origin: &'static str,
}

/// Appends outcomes, in one statement.
pub fn record_outcomes(conn: &mut impl GenericClient, entries: &[NewCoaLog]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&NewCoaLog) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(f).collect()
    };
    let users = col(|e| Some(e.username.clone()));
    let uids = col(|e| Some(e.acct_unique_id.clone()));
    let sids = col(|e| e.acct_session_id.clone());
    let nas: Vec<Option<IpAddr>> = entries.iter().map(|e| e.nas_ip).collect();
    let routers = col(|e| e.router.clone());
    let targets = col(|e| Some(e.target.clone()));
    let kinds = col(|e| Some(e.kind.as_str().to_owned()));
    let attrs = col(|e| Some(e.attributes.clone()));
    let whys = col(|e| Some(e.why.clone()));
    let outcomes = col(|e| Some(e.outcome.clone()));
    let causes: Vec<Option<i32>> = entries
        .iter()
        .map(|e| e.error_cause.and_then(|c| i32::try_from(c).ok()))
        .collect();
    let attempts: Vec<i32> = entries
        .iter()
        .map(|e| i32::try_from(e.attempts).unwrap_or(i32::MAX))
        .collect();
    let rtts: Vec<Option<i32>> = entries
        .iter()
        .map(|e| e.rtt_ms.map(|r| i32::try_from(r).unwrap_or(i32::MAX)))
        .collect();
    let origins = col(|e| Some(e.origin.to_owned()));
    conn.execute(
        "INSERT INTO coa_log (username, acctuniqueid, acctsessionid, nasipaddress, router,
                              target, kind, attributes, why, outcome, error_cause,
                              attempts, rtt_ms, origin)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::inet[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                              $11::int[], $12::int[], $13::int[], $14::text[])",
        &[
            &users, &uids, &sids, &nas, &routers, &targets, &kinds, &attrs, &whys, &outcomes,
            &causes, &attempts, &rtts, &origins,
        ],
    )
    .map_err(q("recording CoA outcomes"))?;
    Ok(())
}

/// What one round of requests changed, saved in one transaction: sessions
/// their NAS does not have are closed (and their grants deleted), grants
/// saved, outcomes recorded.
pub fn save_round(
    conn: &mut impl GenericClient,
    not_found: &[String],
    grants: &[StoredGrant],
    outcomes: &[NewCoaLog],
) -> Result<()> {
    let mut tx = conn.transaction().map_err(q("starting a transaction"))?;
    for id in not_found {
        super::stale_sessions::close_as_stale(&mut tx, id)?;
    }
    if !not_found.is_empty() {
        tx.execute(
            "DELETE FROM session_grants WHERE acctuniqueid = ANY($1)",
            &[&not_found],
        )
        .map_err(q("forgetting grants of sessions their NAS does not have"))?;
    }
    save_grants(&mut tx, grants)?;
    record_outcomes(&mut tx, outcomes)?;
    tx.commit().map_err(q("committing CoA outcomes"))
}

/// Which outcomes to list.
#[derive(Debug, Clone, Default)]
pub struct CoaLogFilter {
    pub username: Option<String>,
    pub since: Option<UnixTime>,
    /// Only outcomes older than this id (the next page).
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

/// Outcomes, newest first.
pub fn list_coa_log(conn: &mut impl GenericClient, f: &CoaLogFilter) -> Result<Vec<CoaLogEntry>> {
    let rows = conn
        .query(
            concat!(
                "SELECT id, ",
                epoch!("sent_at"),
                ", username, acctuniqueid, acctsessionid, nasipaddress, router, target, kind,
                        attributes, why, outcome, error_cause, attempts, rtt_ms, origin
                   FROM coa_log
                  WHERE ($1::text IS NULL OR username = $1)
                    AND ($2::bigint IS NULL OR sent_at >= to_timestamp($2))
                    AND ($4::bigint IS NULL OR id < $4)
                  ORDER BY id DESC
                  LIMIT $3"
            ),
            &[&f.username, &f.since, &f.limit.unwrap_or(100), &f.before_id],
        )
        .map_err(q("listing CoA outcomes"))?;
    Ok(rows
        .iter()
        .map(|r| CoaLogEntry {
            id: r.get(0),
            sent_at: r.get(1),
            username: r.get(2),
            acct_unique_id: r.get(3),
            acct_session_id: r.get(4),
            nas_ip: r.get(5),
            router: r.get(6),
            target: r.get(7),
            kind: r.get(8),
            attributes: r.get(9),
            why: r.get(10),
            outcome: r.get(11),
            error_cause: r.get(12),
            attempts: r.get(13),
            rtt_ms: r.get(14),
            origin: r.get(15),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_survives_its_json_form() {
        let reply = vec![
            ReplyAttribute::new("Mikrotik-Rate-Limit", "2M/4M"),
            ReplyAttribute::new("Session-Timeout", "600"),
        ];
        assert_eq!(reply_from_json(&reply_to_json(&reply)), reply);
    }
}
