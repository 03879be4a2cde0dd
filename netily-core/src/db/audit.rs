//! The audit log: who changed what, when, from where, before and after.
//!
//! Rows are written by triggers (migration 0031), so no change path can
//! forget them. A writer only says who it is for its transaction
//! (`attribute`); the settings end with the transaction, so a pooled
//! connection never carries one operator's name into another's work.

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::epoch;
use super::error::{q, Error, Result};
use crate::model::UnixTime;

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Console,
    Api,
    Netadmin,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Console => "console",
            Via::Api => "api",
            Via::Netadmin => "netadmin",
        }
    }
}

/// Names the operator, the channel and the action for every audited change
/// the rest of this transaction makes. Must run inside a transaction.
pub fn attribute(conn: &mut impl GenericClient, actor: &str, via: Via, action: &str) -> Result<()> {
    conn.execute(
        "SELECT set_config('netily.actor', $1, true), set_config('netily.via', $2, true),
                set_config('netily.action', $3, true)",
        &[&actor, &via.as_str(), &action],
    )
    .map_err(q("naming the operator for the audit log"))?;
    Ok(())
}

/// Bulk loads that are not an operator's change (synthetic seeding) leave
/// no audit rows. Must run inside a transaction.
pub fn suppress(conn: &mut impl GenericClient) -> Result<()> {
    conn.execute("SELECT set_config('netily.audit', 'off', true)", &[])
        .map_err(q("turning the audit log off for a bulk load"))?;
    Ok(())
}

/// Records an event that changes no audited row but must be known (a
/// router's profile, holding its private key, was downloaded), under the
/// transaction's attribution (`attribute`).
pub fn record(conn: &mut impl GenericClient, entity: &str, key: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (actor, via, action, entity, entity_key)
         VALUES (coalesce(nullif(current_setting('netily.actor', true), ''), session_user),
                 coalesce(nullif(current_setting('netily.via', true), ''), 'sql'),
                 coalesce(nullif(current_setting('netily.action', true), ''), 'event'),
                 $1, $2)",
        &[&entity, &key],
    )
    .map_err(q("writing the audit log"))?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: UnixTime,
    /// Rows changed by one action share it.
    pub change_id: i64,
    pub actor: String,
    pub via: String,
    pub action: String,
    /// The table changed.
    pub entity: String,
    pub entity_key: Option<String>,
    pub subscriber: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A page of the log, newest first. `before_id` continues a previous page
/// (keyset, so every page costs the same at any depth).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subscriber: Option<String>,
    pub actor: Option<String>,
    /// A table: customers, plans, invoices, routers, operators...
    pub entity: Option<String>,
    pub before_id: Option<i64>,
    /// Only entries newer than this id.
    pub after_id: Option<i64>,
    pub limit: i64,
}

pub const MAX_PAGE: i64 = 500;

/// The audit entry of the last removal of subscriber `username`, if one is
/// recorded: (its id, when). A username removed and made again is a new
/// subscriber, whose history starts after it.
pub fn last_removal(
    conn: &mut impl GenericClient,
    username: &str,
) -> Result<Option<(i64, UnixTime)>> {
    Ok(conn
        .query_opt(
            concat!(
                "SELECT id, ",
                epoch!("at"),
                " FROM audit_log
                  WHERE subscriber = $1 AND entity = 'customers' AND after IS NULL
                  ORDER BY id DESC LIMIT 1"
            ),
            &[&username],
        )
        .map_err(q("reading the audit log"))?
        .map(|r| (r.get(0), r.get(1))))
}

pub fn list_audit(conn: &mut impl GenericClient, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    if !(1..=MAX_PAGE).contains(&f.limit) {
        return Err(Error::invalid("limit", format!("1 to {MAX_PAGE}")));
    }
    let rows = conn
        .query(
            concat!(
                "SELECT id, ",
                epoch!("at"),
                ", change_id, actor, via, action, entity, entity_key, subscriber, before, after
                   FROM audit_log
                  WHERE ($1::text IS NULL OR subscriber = $1)
                    AND ($2::text IS NULL OR actor = $2)
                    AND ($3::text IS NULL OR entity = $3)
                    AND ($4::bigint IS NULL OR id < $4)
                    AND ($6::bigint IS NULL OR id > $6)
                  ORDER BY id DESC
                  LIMIT $5"
            ),
            &[
                &f.subscriber,
                &f.actor,
                &f.entity,
                &f.before_id,
                &f.limit,
                &f.after_id,
            ],
        )
        .map_err(q("reading the audit log"))?;
    Ok(rows.iter().map(entry_from_row).collect())
}

fn entry_from_row(r: &Row) -> AuditEntry {
    AuditEntry {
        id: r.get(0),
        at: r.get(1),
        change_id: r.get(2),
        actor: r.get(3),
        via: r.get(4),
        action: r.get(5),
        entity: r.get(6),
        entity_key: r.get(7),
        subscriber: r.get(8),
        before: r.get(9),
        after: r.get(10),
    }
}
