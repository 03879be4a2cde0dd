//! The writer threads: take a batch, commit it, hand each packet's result
//! back to the applier.
//!
//! Each writer holds one connection with the statements prepared on it and
//! commits a batch as one statement where it can (one statement is its own
//! transaction), else in one transaction. Replaying a batch is harmless
//! (the statements are idempotent), so a batch whose commit is in doubt is
//! simply committed again.
//!
//! Failure behaviour: every packet here is already acknowledged (it is in
//! the journal), so a batch is never given up while the store runs: a
//! connection that broke (a database restart, a failover) is replaced and
//! the batch replayed; an unreachable database is retried with a backoff
//! from 0.25 s to 5 s, the outage logged once when it starts and once when
//! it ends. A statement the database refuses fails its batch over to one
//! packet per transaction, so only the bad packet is refused (the applier
//! keeps it aside). A batch left when the store stops stays in the journal
//! for the next start.

use std::borrow::Borrow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::super::error::{q, Result};
use super::super::pool::connect_detail;
use super::plan::is_one_statement;
use super::queue::{Batch, Job};
use super::sql::PreparedConnection;
use super::store::Shared;
use super::Recorded;
use crate::accounting::Change;
use crate::live::{pause, Backoff};

/// How often an idle writer checks whether to stop.
const POLL: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A writer thread's life: batches until the store is dropped.
pub(super) fn write_forever(shared: &Shared) {
    let mut conn: Option<PreparedConnection> = None;
    while let Some(Batch { jobs, keys }) = next_batch(shared) {
        write_batch(shared, &mut conn, jobs);
        release(shared, &keys);
    }
}

/// Takes up to BATCH_MAX queued jobs whose subscribers no other batch holds,
/// once a batch is due (see [`super::queue::LINGER`]), waiting while there
/// are none; None when the store is dropped.
fn next_batch(shared: &Shared) -> Option<Batch> {
    let mut queue = shared.queue.lock();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return None;
        }
        let mut wait = queue.batch_due_in(Instant::now(), POLL);
        if wait.is_zero() {
            let batch = queue.take_batch();
            if !batch.jobs.is_empty() {
                drop(queue);
                return Some(batch);
            }
            // Every waiting packet's subscriber is in another batch.
            wait = POLL;
        }
        shared.queued.wait_for(&mut queue, wait);
    }
}

/// Frees a committed batch's subscribers (and what waits behind an
/// Accounting-On/Off) for the other writers.
fn release(shared: &Shared, keys: &[String]) {
    shared.queue.lock().release(keys);
    shared.queued.notify_all();
}

/// Commits one batch, however long the database takes to come back, and
/// hands back each packet's result; leaves the slots empty only when the
/// store stops first.
fn write_batch(shared: &Shared, conn: &mut Option<PreparedConnection>, batch: Vec<Job>) {
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut replayed = false;
    loop {
        if shared.stopping() {
            return;
        }
        let detail = |e: postgres::Error| Some(connect_detail(&e));
        // While the database is known unreachable, the health window paces
        // the connect attempts.
        let outcome = match conn {
            Some(c) => commit_batch(c, &batch).map_err(detail),
            None if shared.health.failing() => Err(None),
            None => PreparedConnection::open(&shared.config)
                .map_err(detail)
                .and_then(|c| commit_batch(conn.insert(c), &batch).map_err(detail)),
        };
        match outcome {
            Ok(results) => {
                shared.health.up();
                for (j, r) in batch.into_iter().zip(results) {
                    j.slot.fill(r);
                }
                return;
            }
            Err(detail) => {
                // The connection is gone or the commit is in doubt: a new
                // connection replays the batch (idempotent).
                *conn = None;
                if let Some(detail) = detail {
                    shared.health.trip(&detail);
                    if !replayed {
                        // A connection from before a restart: once at once.
                        replayed = true;
                        continue;
                    }
                }
                pause(backoff.next_wait(), &shared.stop);
            }
        }
    }
}

/// One transaction for the batch. A statement refused for its data aborts
/// the transaction; the batch is then replayed one packet per transaction,
/// so only the bad packet fails. Err when the connection failed, or for an
/// error of the moment (see [`refused_for_its_data`]).
pub(super) fn commit_batch<C: Borrow<Change>>(
    c: &mut PreparedConnection,
    batch: &[C],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    if batch.len() == 1 || is_one_statement(batch) {
        // One statement is its own transaction: no BEGIN/COMMIT round trips.
        return match c.apply(batch) {
            Ok(results) => Ok(results.into_iter().map(Ok).collect()),
            Err(e) if refused_for_its_data(&e) && batch.len() > 1 => one_by_one(c, batch),
            Err(e) if refused_for_its_data(&e) => {
                Ok(vec![Err(q("recording accounting in radacct")(e))])
            }
            Err(e) => Err(e),
        };
    }
    c.transaction("BEGIN")?;
    match c.apply(batch) {
        Ok(results) => {
            c.transaction("COMMIT")?;
            Ok(results.into_iter().map(Ok).collect())
        }
        Err(e) if refused_for_its_data(&e) => {
            c.transaction("ROLLBACK")?;
            one_by_one(c, batch)
        }
        Err(e) => Err(e),
    }
}

/// PostgreSQL refused the packet itself, and would again: a data exception
/// (SQLSTATE class 22) or a constraint violation (23). Anything else (the
/// server shutting down, a timeout, a deadlock, a table not migrated yet)
/// belongs to the moment, and the batch is committed again later.
fn refused_for_its_data(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code().get(..2), Some("22" | "23")))
}

fn one_by_one<C: Borrow<Change>>(
    c: &mut PreparedConnection,
    batch: &[C],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    let mut results = Vec::with_capacity(batch.len());
    for j in batch {
        match c.apply(std::slice::from_ref(j)) {
            Ok(r) => results.push(Ok(r.into_iter().next().unwrap_or(Recorded::Ignored))),
            Err(e) if refused_for_its_data(&e) => {
                results.push(Err(q("recording accounting in radacct")(e)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}
