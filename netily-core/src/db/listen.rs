//! The change feed: LISTEN netily_changed and read its payloads, for the
//! servers' in-memory snapshots (see `crate::snapshot`).

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient};

use super::error::{q, Result};
use super::plans::{plan_from_row, PLAN_COLUMNS};
use crate::model::Plan;

/// The channel migration 0004's triggers notify on.
pub const CHANNEL: &str = "netily_changed";

/// Subscribes this connection to change notifications.
pub fn subscribe(client: &mut Client) -> Result<()> {
    client
        .batch_execute("LISTEN netily_changed")
        .map_err(q("subscribing to changes"))
}

/// Waits up to `wait` for a notification, then returns it and every other
/// one already pending; empty when none came.
pub fn next_changes(client: &mut Client, wait: Duration) -> Result<Vec<String>> {
    let mut notes = client.notifications();
    let Some(first) = notes
        .timeout_iter(wait)
        .next()
        .map_err(q("waiting for changes"))?
    else {
        return Ok(Vec::new());
    };
    let mut payloads = vec![first.payload().to_owned()];
    let mut rest = notes.iter();
    while let Some(n) = rest.next().map_err(q("reading changes"))? {
        payloads.push(n.payload().to_owned());
    }
    Ok(payloads)
}

/// A cheap round trip that fails when the connection is dead.
pub fn probe(client: &mut Client) -> Result<()> {
    client
        .simple_query("SELECT 1")
        .map(drop)
        .map_err(q("probing the connection"))
}

/// One plan by id, or None once it is gone.
pub fn plan_by_id(conn: &mut impl GenericClient, id: i64) -> Result<Option<Plan>> {
    conn.query_opt(
        &format!("SELECT {PLAN_COLUMNS} FROM plans p WHERE p.id = $1"),
        &[&id],
    )
    .map_err(q("reading a plan"))?
    .map(|row| plan_from_row(&row, 0))
    .transpose()
}
