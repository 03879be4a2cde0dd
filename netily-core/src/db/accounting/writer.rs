//! The writer threads: take a batch, commit it, answer its requests.
//!
//! Each writer holds one connection with the statements prepared on it and
//! commits a batch as one statement where it can (one statement is its own
//! transaction), else in one transaction. Replaying a batch is harmless
//! (the statements are idempotent), so a batch whose commit is in doubt is
//! simply retried, and a request that gave up waiting can be committed later
//! without harm: the NAS's retransmit then finds it done.
//!
//! Failure behaviour: a connection that broke (a database restart) is
//! replaced once and the batch replayed on the new one; if that fails too,
//! or the database cannot be reached, the batch (and, on a failed connect,
//! everything queued) is answered with the error, the fail-fast window opens
//! and the connection is dropped; while the window is open a writer without
//! a connection answers at once instead of connecting. A statement the
//! database refuses fails its batch over to one packet per transaction, so
//! only the bad packet fails.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::super::error::{q, Result};
use super::super::pool::connect_detail;
use super::plan::is_one_statement;
use super::queue::{Batch, Job};
use super::sql::PreparedConnection;
use super::store::Shared;
use super::Recorded;

/// How often an idle writer checks whether to stop.
const POLL: Duration = Duration::from_millis(200);

/// A writer thread's life: batches until the store is dropped and the
/// queue is empty.
pub(super) fn write_forever(shared: &Shared) {
    let mut conn: Option<PreparedConnection> = None;
    while let Some(Batch { jobs, keys }) = next_batch(shared) {
        write_batch(shared, &mut conn, jobs);
        release(shared, &keys);
    }
}

/// Takes up to BATCH_MAX queued jobs whose subscribers no other batch holds,
/// waiting while there are none; None when the store is dropped.
fn next_batch(shared: &Shared) -> Option<Batch> {
    let mut queue = shared.queue.lock();
    loop {
        let batch = queue.take_batch();
        if !batch.jobs.is_empty() {
            drop(queue);
            return Some(batch);
        }
        if shared.stop.load(Ordering::Acquire) && queue.is_empty() {
            return None;
        }
        shared.queued.wait_for(&mut queue, POLL);
    }
}

/// Frees a committed batch's subscribers for the other writers.
fn release(shared: &Shared, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    shared.queue.lock().release(keys);
    shared.queued.notify_all();
}

/// Fails every queued job (the database is unreachable).
fn fail_queued(shared: &Shared, detail: &str) {
    let jobs = shared.queue.lock().drain();
    for j in jobs {
        j.slot.fill(Err(shared.health.error(detail)));
    }
}

/// Commits one batch and answers its requests.
fn write_batch(shared: &Shared, conn: &mut Option<PreparedConnection>, batch: Vec<Job>) {
    if conn.is_none() {
        // While the database is known unreachable, answer at once: a
        // connect attempt per batch would hold request threads. The
        // fail-fast window paces the reconnect attempts.
        if shared.health.failing() {
            for j in batch {
                j.slot.fill(Err(shared.health.error("unavailable")));
            }
            return;
        }
        match PreparedConnection::open(&shared.config) {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                let err = connect_detail(&e);
                shared.health.trip(&err);
                for j in batch {
                    j.slot.fill(Err(shared.health.error(&err)));
                }
                fail_queued(shared, &err);
                return;
            }
        }
    }
    let Some(c) = conn.as_mut() else { return };
    let mut outcome = commit_batch(c, &batch);
    if matches!(&outcome, Err(e) if e.is_closed()) {
        // A connection from before a database restart: replay the batch
        // (idempotent) once on a fresh one.
        outcome = PreparedConnection::open(&shared.config).and_then(|fresh| {
            let c = conn.insert(fresh);
            commit_batch(c, &batch)
        });
    }
    match outcome {
        Ok(results) => {
            shared.health.up();
            for (j, r) in batch.into_iter().zip(results) {
                j.slot.fill(r);
            }
        }
        Err(e) => {
            // The connection is gone (or the commit is in doubt): drop
            // it; the batch is refused and the NASes retransmit.
            *conn = None;
            let err = connect_detail(&e);
            shared.health.trip(&err);
            for j in batch {
                j.slot.fill(Err(shared.health.error(&err)));
            }
        }
    }
}

/// One transaction for the batch. A statement that fails on its data (not
/// the connection) aborts the transaction; the batch is then replayed one
/// packet per transaction, so only the bad packet fails. Err only when the
/// connection failed.
fn commit_batch(
    c: &mut PreparedConnection,
    batch: &[Job],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    if batch.len() == 1 || is_one_statement(batch) {
        // One statement is its own transaction: no BEGIN/COMMIT round trips.
        return match c.apply(batch) {
            Ok(results) => Ok(results.into_iter().map(Ok).collect()),
            Err(e) if e.as_db_error().is_some() && batch.len() > 1 => one_by_one(c, batch),
            Err(e) if e.as_db_error().is_some() => {
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
        Err(e) if e.as_db_error().is_some() => {
            c.transaction("ROLLBACK")?;
            one_by_one(c, batch)
        }
        Err(e) => Err(e),
    }
}

fn one_by_one(
    c: &mut PreparedConnection,
    batch: &[Job],
) -> std::result::Result<Vec<Result<Recorded>>, postgres::Error> {
    let mut results = Vec::with_capacity(batch.len());
    for j in batch {
        match c.apply(std::slice::from_ref(j)) {
            Ok(r) => results.push(Ok(r.into_iter().next().unwrap_or(Recorded::Ignored))),
            Err(e) if e.as_db_error().is_some() => {
                results.push(Err(q("recording accounting in radacct")(e)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(results)
}
