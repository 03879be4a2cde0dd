//! Retention: radacct's months created ahead and dropped when old
//! (partitions, migration 0030), and old rows of the authentication log and
//! the hourly and monthly usage deleted, as `crate::retention` says.
//!
//! Failure behaviour: each step is its own transaction, and a step that
//! fails is said (`RetentionRun::errors`) while the others go on; the next
//! run tries it again. A lost connection ends the run. A
//! step that needs a lock on radacct (creating or dropping a month) waits
//! at most [`LOCK_WAIT`] and is tried [`LOCK_TRIES`] times, so accounting
//! stalls for at most a moment and never queues behind retention for long.
//! A month with sessions still open is kept (their rows would come back,
//! counted again, with the router's next Interim-Update) and reported.
//! Deleting rows goes in chunks of [`DELETE_CHUNK`], each its own
//! transaction, until the run's time budget is spent (so the enforcer's
//! loop is never held for long); what is left waits for the next run.

use std::thread::sleep;
use std::time::{Duration, Instant};

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
    /// Rows are left for the next run: the time budget was spent.
    pub unfinished: bool,
    /// The steps that failed; the others were done.
    pub errors: Vec<String>,
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

/// Rows deleted by age: which table, which rows are old (`$1` is the
/// cutoff, epoch seconds), and what else they must be.
struct Aged {
    table: &'static str,
    old: &'static str,
}

/// Closed sessions only: an open one's month is kept too.
const DEFAULT_PARTITION: Aged = Aged {
    table: "radacct_default",
    old: "acctstarttime < to_timestamp($1::bigint) AND acctstoptime IS NOT NULL",
};
const LOGINS: Aged = Aged {
    table: "radpostauth",
    old: "authdate < to_timestamp($1::bigint)",
};
const HOURS: Aged = Aged {
    table: "usage_hours",
    old: "hour < to_timestamp($1::bigint)",
};
const ROUTER_HOURS: Aged = Aged {
    table: "router_usage_hours",
    old: "hour < to_timestamp($1::bigint)",
};
/// Months begin on the ISP's clock: the month holding the cutoff is kept.
const MONTHS: Aged = Aged {
    table: "usage_months",
    old: "month < date_trunc('month', to_timestamp($1::bigint), netily_zone())",
};

/// Deletes `aged`'s rows older than `before`, a chunk per transaction,
/// until none are left or `deadline` passes; how many, and whether it
/// stopped for the deadline. Dry: counts them.
fn delete_old(
    conn: &mut Client,
    aged: &Aged,
    before: UnixTime,
    dry_run: bool,
    deadline: Option<Instant>,
) -> Result<(u64, bool)> {
    let Aged { table, old } = aged;
    let what = format!("deleting old rows of {table}");
    if dry_run {
        let n: i64 = conn
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE {old}"),
                &[&before],
            )
            .map_err(q(&what))?
            .get(0);
        return Ok((u64::try_from(n).unwrap_or(0), false));
    }
    let statement = format!(
        "DELETE FROM {table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table} WHERE {old} LIMIT $2))"
    );
    let mut total = 0u64;
    loop {
        let n = conn
            .execute(&statement, &[&before, &DELETE_CHUNK])
            .map_err(q(&what))?;
        total += n;
        if n < u64::try_from(DELETE_CHUNK).unwrap_or(u64::MAX) {
            return Ok((total, false));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok((total, true));
        }
    }
}

/// Says what a step that failed did wrong, unless the connection is gone
/// (then the run is over).
fn step<T>(errors: &mut Vec<String>, outcome: Result<T>) -> Result<Option<T>> {
    match outcome {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_connection_error() => Err(e),
        Err(e) => {
            errors.push(e.to_string());
            Ok(None)
        }
    }
}

/// One radacct month past retention: detached (a transaction holding the
/// lock on radacct for a moment), then dropped in a transaction of its
/// own. Dry: what the run would find.
fn drop_month(conn: &mut Client, name: &str, dry_run: bool) -> Result<DroppedMonth> {
    let (open_sessions, bytes): (i64, i64) = if dry_run {
        let row = conn
            .query_one(
                "SELECT netily_radacct_open_sessions($1),
                        pg_total_relation_size(format('%I', $1::text)::regclass)",
                &[&name],
            )
            .map_err(q("measuring a radacct partition"))?;
        (row.get(0), row.get(1))
    } else {
        let detached = with_short_lock(conn, "detaching a month of radacct", |tx| {
            let row = tx.query_one(
                "SELECT open_sessions, bytes FROM netily_radacct_detach($1)",
                &[&name],
            )?;
            Ok((row.try_get(0)?, row.try_get(1)?))
        })?;
        conn.query_one("SELECT netily_radacct_forget($1)", &[&name])
            .map_err(q("dropping a detached month of radacct"))?;
        detached
    };
    Ok(DroppedMonth {
        partition: name.to_owned(),
        bytes,
        open_sessions,
    })
}

/// One retention run at `now`: months created ahead, then what `keep` says
/// is old goes: radacct's months whole, other rows in chunks until
/// `budget` is spent (the rest is left for the next run: `unfinished`).
/// Each step is tried whatever the others did; their errors are in
/// `errors`. A lost connection ends the run with an error. `dry_run`:
/// nothing changes, what would go is reported.
pub fn run(
    conn: &mut Client,
    now: UnixTime,
    keep: &Retention,
    dry_run: bool,
    budget: Option<Duration>,
) -> Result<RetentionRun> {
    let deadline = budget.map(|b| Instant::now() + b);
    let mut done = RetentionRun {
        dry_run,
        ..RetentionRun::default()
    };
    let mut errors = Vec::new();
    let sessions_from = cutoff(now, keep.radacct_months);
    if !dry_run {
        done.created =
            step(&mut errors, create_months(conn, now, sessions_from))?.unwrap_or_default();
    }
    if let Some(before) = sessions_from {
        let listed = step(&mut errors, partitions(conn))?.unwrap_or_default();
        for p in listed {
            if p.is_default || p.to.is_none_or(|to| to > before) {
                continue;
            }
            if let Some(month) = step(&mut errors, drop_month(conn, &p.name, dry_run))? {
                done.dropped.push(month);
            }
        }
    }
    let folded = step(
        &mut errors,
        conn.query_one(
            "SELECT floor(extract(epoch FROM usage_folded_upto))::bigint FROM netily_settings",
            &[],
        )
        .map_err(q("reading the usage fold's watermark")),
    )?
    .map(|r| r.get::<_, i64>(0));
    let hours_from = cutoff(now, keep.hourly_usage_months)
        .zip(folded)
        // Never an hour not folded into its month yet.
        .map(|(before, folded)| before.min(folded));
    let aged: [(&Aged, Option<UnixTime>, &mut u64); 5] = [
        (
            &DEFAULT_PARTITION,
            sessions_from,
            &mut done.radacct_default_rows,
        ),
        (
            &LOGINS,
            cutoff(now, keep.radpostauth_months),
            &mut done.radpostauth_rows,
        ),
        (&HOURS, hours_from, &mut done.usage_hours_rows),
        (&ROUTER_HOURS, hours_from, &mut done.router_usage_hours_rows),
        (
            &MONTHS,
            cutoff(now, keep.monthly_usage_months),
            &mut done.usage_months_rows,
        ),
    ];
    for (what, before, count) in aged {
        let Some(before) = before else { continue };
        if let Some((n, stopped)) = step(
            &mut errors,
            delete_old(conn, what, before, dry_run, deadline),
        )? {
            *count = n;
            done.unfinished |= stopped;
        }
    }
    done.errors = errors;
    Ok(done)
}
