//! [`AccountingStore`]: the handle request threads record packets through,
//! the node's accounting journal, and the threads that apply it.
//!
//! Failure behaviour: creating a store fails only on a URL that does not
//! parse, a journal directory that cannot be opened (or that another
//! process holds), or a thread that cannot start; it never waits on the
//! database. A request waits only for the journal's disk (at most the
//! store's bound), never for PostgreSQL; a full or failing journal answers
//! it with an error at once. Dropping the store stops the applier and the
//! writers (what they had not committed stays in the journal for the next
//! start) and joins them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::super::error::{Error, Result};
use super::super::pool::redact_url;
use super::applier::apply_forever;
use super::health::Health;
use super::queue::Queue;
use super::sql::writer_config;
use super::writer::write_forever;
use super::Recorded;
use crate::accounting::Change;
use crate::journal::{self, Journal};

/// Writer threads (and connections) at most: commits of packets that open
/// or close a session serialize in PostgreSQL anyway (their NOTIFY), so more
/// writers would only make smaller batches.
const WRITERS_MAX: u32 = 4;

/// Where a node keeps its accounting journal, and how much disk it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// What the applier, the writers and the store share.
pub(super) struct Shared {
    pub(super) queue: Mutex<Queue>,
    /// Signalled when a packet is queued or a batch's subscribers are free.
    pub(super) queued: Condvar,
    /// Set when the store is dropped: the threads return.
    pub(super) stop: AtomicBool,
    pub(super) health: Health,
    pub(super) config: postgres::Config,
}

impl Shared {
    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The server's accounting: a packet is acknowledged once it is in the
/// node's journal (written and synced, many packets per sync), and applied
/// to PostgreSQL from there.
///
/// One applier thread reads the journal in order and queues its packets; a
/// few writer threads, each with its own connection and prepared
/// statements, take whatever is queued (a subscriber's packets in one batch
/// at a time, so each session's packets are applied in the order they
/// came) and commit it, usually as one statement: one commit (one WAL
/// flush, one NOTIFY lock) per batch. The journal's cursor moves past a
/// packet only once it and every packet before it are committed; a restart
/// resumes there, and what the last moments before a crash had committed
/// already is applied again harmlessly (the statements are idempotent).
pub struct AccountingStore {
    shared: Arc<Shared>,
    journal: Arc<Journal>,
    wait: Duration,
    threads: Vec<JoinHandle<()>>,
}

impl AccountingStore {
    /// A store journaling into `journal.dir`, with up to `pool_size` writer
    /// connections (at most 4, and one per CPU; see [`writer_count`]).
    /// Never waits on the database: writers connect in the background.
    /// `timeout` bounds a request's wait for the journal's disk, a connect
    /// and (as statement_timeout) a statement.
    pub fn new(
        url: &str,
        pool_size: u32,
        timeout: Duration,
        journal: &JournalSettings,
    ) -> Result<AccountingStore> {
        let config = writer_config(url, timeout)?;
        let options = journal::Options {
            max_bytes: journal.max_bytes,
            ..journal::Options::default()
        };
        let journal =
            Journal::open(&journal.dir, "accounting", options).map_err(|e| Error::Refused {
                what: "open the accounting journal".into(),
                why: e.to_string(),
            })?;
        let reader = journal.take_reader().ok_or_else(|| Error::Refused {
            what: "open the accounting journal".into(),
            why: "its reader is taken".into(),
        })?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            stop: AtomicBool::new(false),
            health: Health::new(redact_url(url)),
            config,
        });
        let mut store = AccountingStore {
            shared,
            journal: Arc::new(journal),
            wait: timeout,
            threads: Vec::new(),
        };
        let spawn_error = |e: std::io::Error| Error::Query {
            what: "starting the accounting threads".into(),
            detail: e.to_string(),
        };
        for n in 0..writer_count(pool_size) {
            let shared = Arc::clone(&store.shared);
            let writer = std::thread::Builder::new()
                .name(format!("netily-acct-{n}"))
                .spawn(move || write_forever(&shared))
                .map_err(spawn_error)?;
            store.threads.push(writer);
        }
        let shared = Arc::clone(&store.shared);
        let journal = Arc::clone(&store.journal);
        let applier = std::thread::Builder::new()
            .name("netily-acct-apply".into())
            .spawn(move || apply_forever(&shared, &journal, reader))
            .map_err(spawn_error)?;
        store.threads.push(applier);
        Ok(store)
    }

    /// Records one change: Ok once it is in the journal on this node's disk
    /// (PostgreSQL gets it from there). Waits at most the store's bound;
    /// a full or failing journal is an error at once.
    pub fn record(&self, change: &Change) -> Result<Recorded> {
        if let Change::Ignore { .. } = change {
            return Ok(Recorded::Ignored);
        }
        let refused = |why: String| Error::Refused {
            what: "journal the accounting packet".into(),
            why,
        };
        let encoded = serde_json::to_vec(change).map_err(|e| refused(e.to_string()))?;
        self.journal
            .append_durable(Instant::now() + self.wait, |out| {
                out.extend_from_slice(&encoded);
            })
            .map_err(|e| refused(e.to_string()))?;
        Ok(Recorded::Journaled)
    }

    /// The journal's counters.
    pub fn journal_stats(&self) -> journal::Stats {
        self.journal.stats()
    }
}

impl Drop for AccountingStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.queued.notify_all();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                log::error!("accounting thread panicked");
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

    fn journal_dir(name: &str) -> JournalSettings {
        let dir = std::env::temp_dir().join(format!("netily-acct-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        JournalSettings {
            dir,
            max_bytes: 1 << 20,
        }
    }

    /// A store whose database is unreachable: nothing listens on port 1.
    fn store_without_database(journal: &JournalSettings) -> AccountingStore {
        let url = "postgresql://netily:secret@127.0.0.1:1/netily";
        AccountingStore::new(url, 2, Duration::from_secs(5), journal).expect("a valid URL")
    }

    #[test]
    fn a_status_radacct_does_not_record_is_answered_without_the_journal() {
        let journal = journal_dir("ignore");
        let store = store_without_database(&journal);
        let got = store.record(&Change::Ignore { status_type: 9 });
        assert!(matches!(got, Ok(Recorded::Ignored)));
        assert_eq!(store.journal_stats().appended, 0);
        drop(store);
        let _ = std::fs::remove_dir_all(&journal.dir);
    }

    #[test]
    fn with_the_database_unreachable_packets_are_journaled_and_kept_across_a_restart() {
        let journal = journal_dir("down");
        let store = store_without_database(&journal);
        let started = Instant::now();
        for _ in 0..3 {
            let got = store.record(&interim("a1", "alice")).expect("journaled");
            assert_eq!(got, Recorded::Journaled);
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        drop(store);
        let kept = journal::backlog(&journal.dir).expect("readable");
        assert!(kept > 0, "the three packets are still to apply");
        // Restarted, still without a database: nothing was lost or applied.
        let store = store_without_database(&journal);
        drop(store);
        assert_eq!(journal::backlog(&journal.dir).expect("readable"), kept);
        let _ = std::fs::remove_dir_all(&journal.dir);
    }

    #[test]
    fn a_full_journal_refuses_the_packet_at_once() {
        let journal = JournalSettings {
            max_bytes: 2_000,
            ..journal_dir("full")
        };
        let store = store_without_database(&journal);
        let mut kept = 0;
        let refused = loop {
            match store.record(&interim("a1", "alice")) {
                Ok(_) => kept += 1,
                Err(e) => break e,
            }
            assert!(kept < 1_000);
        };
        assert!(kept > 0);
        assert!(refused.to_string().contains("journal is full"), "{refused}");
        assert!(!refused.to_string().contains("secret"), "{refused}");
        drop(store);
        let _ = std::fs::remove_dir_all(&journal.dir);
    }

    #[test]
    fn a_url_that_does_not_parse_is_refused_at_once() {
        let journal = journal_dir("badurl");
        let refused = AccountingStore::new(
            "postgresql://db:notaport/x",
            2,
            Duration::from_secs(1),
            &journal,
        );
        assert!(refused.is_err());
        let _ = std::fs::remove_dir_all(&journal.dir);
    }
}
