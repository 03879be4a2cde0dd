//! [`AccountingStore`]: the handle request threads record packets through,
//! and the writer threads it owns.
//!
//! Failure behaviour: creating a store never blocks and fails only on a
//! URL that does not parse (or a thread that cannot start); writers connect
//! in the background. A request waits at most the store's bound and not at
//! all while the database is known unreachable or the queue is full; it is
//! then answered with an error, never left hanging. Dropping the store
//! stops the writers after they have answered what was queued, and joins
//! them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::super::error::{Error, Result};
use super::super::pool::redact_url;
use super::health::Health;
use super::queue::{Job, Queue, Slot};
use super::sql::writer_config;
use super::writer::write_forever;
use super::Recorded;
use crate::accounting::Change;

/// Writer threads (and connections) at most: commits of packets that open
/// or close a session serialize in PostgreSQL anyway (their NOTIFY), so more
/// writers would only make smaller batches.
const WRITERS_MAX: u32 = 4;

/// What the request threads and the writers share.
pub(super) struct Shared {
    pub(super) queue: Mutex<Queue>,
    /// Signalled when a packet is queued or a batch's subscribers are free.
    pub(super) queued: Condvar,
    /// Set when the store is dropped: writers finish the queue and return.
    pub(super) stop: AtomicBool,
    pub(super) health: Health,
    pub(super) config: postgres::Config,
}

/// The server's accounting writer.
///
/// Request threads queue their packet and wait (at most the configured
/// bound) for its result; a few writer threads, each with its own
/// connection and prepared statements, take whatever is queued (a
/// subscriber's packets in one batch at a time) and commit it, usually as
/// one statement: one commit (one WAL flush, one NOTIFY lock) per batch.
/// That is PostgreSQL's group commit done in the application, where it
/// also covers NOTIFY, whose commit lock otherwise serializes every session
/// Start and Stop. A packet is acknowledged only after its batch committed.
pub struct AccountingStore {
    shared: Arc<Shared>,
    wait: Duration,
    writers: Vec<JoinHandle<()>>,
}

impl AccountingStore {
    /// A store with up to `pool_size` writer connections (at most 4, and one
    /// per CPU; see [`writer_count`]). Never blocks and never fails on an
    /// unreachable database: writers connect in the background. `timeout`
    /// bounds a connect, a request's wait and (as statement_timeout) a
    /// statement.
    pub fn new(url: &str, pool_size: u32, timeout: Duration) -> Result<AccountingStore> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            stop: AtomicBool::new(false),
            health: Health::new(redact_url(url)),
            config: writer_config(url, timeout)?,
        });
        let mut store = AccountingStore {
            shared,
            wait: timeout,
            writers: Vec::new(),
        };
        for n in 0..writer_count(pool_size) {
            let shared = Arc::clone(&store.shared);
            let writer = std::thread::Builder::new()
                .name(format!("netily-acct-{n}"))
                .spawn(move || write_forever(&shared))
                .map_err(|e| Error::Query {
                    what: "starting the accounting writer".into(),
                    detail: e.to_string(),
                })?;
            store.writers.push(writer);
        }
        Ok(store)
    }

    /// Records one change; Ok only once PostgreSQL has committed it. Waits
    /// at most the store's bound, and not at all while the database is
    /// known to be unreachable.
    pub fn record(&self, change: &Change) -> Result<Recorded> {
        if let Change::Ignore { .. } = change {
            return Ok(Recorded::Ignored);
        }
        let health = &self.shared.health;
        if health.failing() {
            return Err(health.error("unavailable (it failed moments ago)"));
        }
        let slot = Arc::new(Slot::default());
        let job = Job {
            change: change.clone(),
            slot: Arc::clone(&slot),
        };
        if self.shared.queue.lock().push(job).is_err() {
            return Err(health.error("too slow: the accounting queue is full"));
        }
        self.shared.queued.notify_one();
        match slot.wait_until(Instant::now() + self.wait) {
            Some(r) => r,
            None => Err(health.error(&format!("no answer within {} ms", self.wait.as_millis()))),
        }
    }
}

impl Drop for AccountingStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.queued.notify_all();
        for w in self.writers.drain(..) {
            if w.join().is_err() {
                log::error!("accounting writer thread panicked");
            }
        }
    }
}

/// Writers: the pool size, at most [`WRITERS_MAX`] and at most one per CPU.
fn writer_count(pool_size: u32) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    writers_for(pool_size, cpus)
}

/// More writers than cores only make batches smaller, and a batch's fixed
/// cost is most of a small batch's (measured on 2 cores at 128 requests in
/// flight: 2 writers 9.0k packets/s, 4 writers 8.4k, 1 writer 8.2k).
fn writers_for(pool_size: u32, cpus: usize) -> usize {
    (pool_size.clamp(1, WRITERS_MAX) as usize).min(cpus.max(1))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::interim;
    use super::*;

    #[test]
    fn one_writer_per_connection_up_to_four_and_one_per_cpu() {
        assert_eq!(writers_for(0, 8), 1);
        assert_eq!(writers_for(1, 8), 1);
        assert_eq!(writers_for(3, 8), 3);
        assert_eq!(writers_for(10, 8), 4);
        assert_eq!(writers_for(10, 2), 2);
        assert_eq!(writers_for(10, 0), 1);
        assert!((1..=4).contains(&writer_count(u32::MAX)));
    }

    /// A store whose database is unreachable: nothing listens on port 1.
    fn store_without_database() -> AccountingStore {
        let url = "postgresql://netily:secret@127.0.0.1:1/netily";
        AccountingStore::new(url, 2, Duration::from_secs(5)).expect("a valid URL")
    }

    #[test]
    fn a_status_radacct_does_not_record_is_answered_without_the_database() {
        let store = store_without_database();
        let got = store.record(&Change::Ignore { status_type: 9 });
        assert!(matches!(got, Ok(Recorded::Ignored)));
    }

    #[test]
    fn an_unreachable_database_fails_the_packet_then_fails_fast() {
        let store = store_without_database();
        let first = store
            .record(&interim("a1", "alice"))
            .expect_err("no database");
        assert!(first.is_connection_error());
        assert!(!first.to_string().contains("secret"), "{first}");

        let started = Instant::now();
        let second = store
            .record(&interim("a1", "alice"))
            .expect_err("no database");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(
            second
                .to_string()
                .ends_with("unavailable (it failed moments ago)"),
            "{second}"
        );
        // Dropping the store joins its writers.
        drop(store);
    }

    #[test]
    fn a_url_that_does_not_parse_is_refused_at_once() {
        let refused = AccountingStore::new("postgresql://db:notaport/x", 2, Duration::from_secs(1));
        assert!(refused.is_err());
    }
}
