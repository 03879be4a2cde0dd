//! Retention: radacct's months created ahead and dropped when old
//! (partitions, migration 0030), and old rows of the authentication log and
//! the hourly and monthly usage deleted, as `crate::retention` says.
//!
//! Failure behaviour: each step is its own transaction, so an error keeps
//! what the steps before it did, and the next run goes on from there. A
//! step that needs a lock on radacct (creating or dropping a month) waits
//! at most [`LOCK_WAIT`] and is tried [`LOCK_TRIES`] times, so accounting
//! stalls for at most a moment and never queues behind retention for long.
//! A month with sessions still open is kept (their rows would come back,
//! counted again, with the router's next Interim-Update) and reported.
//! Deleting rows goes in chunks of [`DELETE_CHUNK`], each its own
//! transaction.

use std::thread::sleep;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::Client;
use serde::Serialize;

use super::error::{q, Result};
use crate::model::UnixTime;
use crate::retention::{cutoff, month_start, Retention, MONTHS_AHEAD};

/// How long a step waits for its lock on radacct before giving way.
const LOCK_WAIT: &str = "500ms";
/// Tries of a step that gave way, a moment apart.
const LOCK_TRIES: u32 = 10;
/// Rows deleted per transaction from the tables that are not partitioned.
const DELETE_CHUNK: i64 = 20_000;

/// One of radacct's partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub name: String,
    /// None: from the beginning (the history from before partitioning).
    pub from: Option<UnixTime>,
    /// None for the default partition.
    pub to: Option<UnixTime>,
    pub is_default: bool,
}

/// radacct's partitions, oldest first, the default one last.
pub fn partitions(conn: &mut Client) -> Result<Vec<Partition>> {
    let rows = conn
        .query(
            "SELECT name, floor(extract(epoch FROM lower))::bigint,
                    floor(extract(epoch FROM upper))::bigint, is_default
               FROM netily_radacct_partitions()",
            &[],
        )
        .map_err(q("listing radacct's partitions"))?;
    Ok(rows
        .iter()
        .map(|r| Partition {
            name: r.get(0),
            from: r.get(1),
            to: r.get(2),
            is_default: r.get(3),
        })
        .collect())
}

/// A month that went, or was kept because sessions in it are open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedMonth {
    pub partition: String,
    pub bytes: i64,
    /// Non-zero: the partition was kept.
    pub open_sessions: i64,
}

/// What one run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionRun {
    pub dry_run: bool,
    /// radacct partitions created (months ahead, months found in the
    /// default partition).
    pub created: Vec<String>,
    pub dropped: Vec<DroppedMonth>,
    /// Old rows deleted (dry: found) per table.
    pub radacct_default_rows: u64,
    pub radpostauth_rows: u64,
    pub usage_hours_rows: u64,
    pub router_usage_hours_rows: u64,
    pub usage_months_rows: u64,
}

/// Runs `step` in a transaction with a short lock_timeout, again after a
/// moment when it gave way, up to [`LOCK_TRIES`] times.
fn with_short_lock<T>(
    conn: &mut Client,
    what: &str,
    mut step: impl FnMut(&mut postgres::Transaction<'_>) -> std::result::Result<T, postgres::Error>,
) -> Result<T> {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = (|| -> std::result::Result<T, postgres::Error> {
            let mut tx = conn.transaction()?;
            tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))?;
            let value = step(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })();
        match outcome {
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) && tries < LOCK_TRIES => {
                sleep(Duration::from_millis(200));
            }
            other => return other.map_err(q(what)),
        }
    }
}

/// Creates radacct's months from last month to [`MONTHS_AHEAD`] ahead, and
/// one for each month since `keep_from` that has rows in the default
/// partition (moving them there); returns the partitions it created.
pub fn create_months(
    conn: &mut Client,
    now: UnixTime,
    keep_from: Option<UnixTime>,
) -> Result<Vec<String>> {
    let ahead_until = month_start(now, i64::from(MONTHS_AHEAD) + 1);
    let mut months: Vec<UnixTime> = (-1..=i64::from(MONTHS_AHEAD))
        .map(|m| month_start(now, m))
        .collect();
    let stray = conn
        .query(
            "SELECT DISTINCT floor(extract(epoch FROM date_trunc('month', acctstarttime, 'UTC')))::bigint
               FROM radacct_default
              WHERE acctstarttime >= to_timestamp($1::bigint)
                AND acctstarttime < to_timestamp($2::bigint)",
            &[&keep_from.unwrap_or(0), &ahead_until],
        )
        .map_err(q("finding months in radacct's default partition"))?;
    months.extend(stray.iter().map(|r| r.get::<_, i64>(0)));
    months.sort_unstable();
    months.dedup();
    let mut created = Vec::new();
    for month in months {
        let name: Option<String> = with_short_lock(conn, "creating a month of radacct", |tx| {
            tx.query_one(
                "SELECT netily_radacct_month(to_timestamp($1::bigint))",
                &[&month],
            )?
            .try_get(0)
        })?;
        created.extend(name);
    }
    Ok(created)
}

/// Deletes rows of `table` whose `column` is before `before`, a chunk per
/// transaction; how many. `table` and `column` are this module's constants.
fn delete_before(
    conn: &mut Client,
    table: &str,
    column: &str,
    before: UnixTime,
    dry_run: bool,
) -> Result<u64> {
    let what = format!("deleting old rows of {table}");
    if dry_run {
        let n: i64 = conn
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE {column} < to_timestamp($1::bigint)"),
                &[&before],
            )
            .map_err(q(&what))?
            .get(0);
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    let statement = format!(
        "DELETE FROM {table} WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM {table} WHERE {column} < to_timestamp($1::bigint) LIMIT $2))"
    );
    let mut total = 0u64;
    loop {
        let n = conn
            .execute(&statement, &[&before, &DELETE_CHUNK])
            .map_err(q(&what))?;
        total += n;
        if n < u64::try_from(DELETE_CHUNK).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

/// One retention run at `now`: months created ahead, then what is older
/// than `keep` says goes (`dry_run`: nothing changes, what would go is
/// reported; the default partition's rows are counted, months listed).
pub fn run(
    conn: &mut Client,
    now: UnixTime,
    keep: &Retention,
    dry_run: bool,
) -> Result<RetentionRun> {
    let mut done = RetentionRun {
        dry_run,
        ..RetentionRun::default()
    };
    let sessions_from = cutoff(now, keep.radacct_months);
    if !dry_run {
        done.created = create_months(conn, now, sessions_from)?;
    }
    if let Some(before) = sessions_from {
        for p in partitions(conn)? {
            if p.is_default || p.to.is_none_or(|to| to > before) {
                continue;
            }
            let (open_sessions, bytes) = if dry_run {
                let row = conn
                    .query_one(
                        "SELECT pg_total_relation_size(format('%I', $1::text)::regclass)",
                        &[&p.name],
                    )
                    .map_err(q("measuring a radacct partition"))?;
                (0, row.get(0))
            } else {
                with_short_lock(conn, "dropping a month of radacct", |tx| {
                    let row = tx.query_one(
                        "SELECT open_sessions, bytes FROM netily_radacct_drop($1)",
                        &[&p.name],
                    )?;
                    Ok((row.try_get(0)?, row.try_get(1)?))
                })?
            };
            done.dropped.push(DroppedMonth {
                partition: p.name,
                bytes,
                open_sessions,
            });
        }
        // Strays of the default partition: closed sessions only, as above.
        done.radacct_default_rows = if dry_run {
            delete_before(conn, "radacct_default", "acctstarttime", before, true)?
        } else {
            conn.execute(
                "DELETE FROM radacct_default
                  WHERE acctstarttime < to_timestamp($1::bigint) AND acctstoptime IS NOT NULL",
                &[&before],
            )
            .map_err(q("deleting old rows of radacct_default"))?
        };
    }
    if let Some(before) = cutoff(now, keep.radpostauth_months) {
        done.radpostauth_rows = delete_before(conn, "radpostauth", "authdate", before, dry_run)?;
    }
    if let Some(before) = cutoff(now, keep.hourly_usage_months) {
        // Never an hour not folded into its month yet.
        let folded: i64 = conn
            .query_one(
                "SELECT floor(extract(epoch FROM usage_folded_upto))::bigint FROM netily_settings",
                &[],
            )
            .map_err(q("reading the usage fold's watermark"))?
            .get(0);
        let before = before.min(folded);
        done.usage_hours_rows = delete_before(conn, "usage_hours", "hour", before, dry_run)?;
        done.router_usage_hours_rows =
            delete_before(conn, "router_usage_hours", "hour", before, dry_run)?;
    }
    if let Some(before) = cutoff(now, keep.monthly_usage_months) {
        done.usage_months_rows = delete_before(conn, "usage_months", "month", before, dry_run)?;
    }
    Ok(done)
}
