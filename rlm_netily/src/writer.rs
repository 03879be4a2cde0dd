//! The authentication log writer: request threads append post-auth records
//! to a shared batch and return at once; one background thread takes the
//! batch four times a second and stores it (one COPY).
//!
//! Why: post-auth runs on the request thread before the reply is sent, so a
//! slow or absent database must not delay a login. Why a shared, already
//! encoded batch rather than a queue of records: appending costs a lock and
//! a copy of ~150 bytes, with no allocation per login and nothing freed on
//! another thread (which defeats malloc's per-thread caches). Why every
//! 250 ms (measured with `make bench`, 2 cores): a COPY and commit every
//! 50 ms cost PostgreSQL and radiusd a fifth more CPU for the same rows; one
//! a second made each COPY a burst of PostgreSQL work long enough to hold
//! back radiusd's socket reader (p99 at half peak over 5 ms, with packets
//! dropped, in 8 of 12 runs; at 250 ms, 1 of 8, throughput within noise).
//!
//! Memory stays bounded (the batch being written or retried, plus one
//! waiting batch): when the waiting records reach [`PENDING_BYTES`]
//! (database down or far behind) a record is dropped and counted, with a
//! warning at most every [`WARN_EVERY`]. The thread is stopped and joined,
//! after a last write, when the writer is dropped (module detach, HUP).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use netily_core::db::{self, post_auth, post_auth::PostAuthBatch, post_auth::PostAuthRecord};

use crate::log::{RateLimited, WARN_EVERY};

/// Encoded records waiting at most: ~200,000 logins (~150 bytes each),
/// several seconds of the benchmark's peak, an hour of a busy ISP's.
pub const PENDING_BYTES: usize = 32 << 20;
/// How long records gather before a write (also the longest a login waits
/// to appear in radpostauth while the database keeps up).
const LINGER: Duration = Duration::from_millis(250);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A lock that survives a panic elsewhere: the data behind it (a batch or a
/// flag) is valid after any partial update.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Shared {
    /// Records appended by request threads, not yet taken by the writer.
    pending: Mutex<PostAuthBatch>,
    capacity: usize,
    /// Set (and signalled) when the writer is dropped.
    stop: Mutex<bool>,
    stopping: Condvar,
    written: AtomicU64,
    dropped: AtomicU64,
    /// One warning per [`WARN_EVERY`]; it counts the drops in between.
    drop_warning: RateLimited,
}

impl Shared {
    /// Waits `total` or until stop is asked; true when stopping.
    fn wait_unless_stopped(&self, total: Duration) -> bool {
        let stop = lock(&self.stop);
        let (stop, _) = self
            .stopping
            .wait_timeout_while(stop, total, |stop| !*stop)
            .unwrap_or_else(|p| p.into_inner());
        *stop
    }

    fn stopped(&self) -> bool {
        *lock(&self.stop)
    }
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    pub written: u64,
    pub dropped: u64,
}

/// The pending batch and its writer thread.
pub struct AuthLogWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl AuthLogWriter {
    /// Starts the writer thread; it connects in the background (and again
    /// after any failure), so this never waits on the database.
    pub fn start(
        database_url: String,
        timeout: Duration,
        capacity: usize,
    ) -> std::io::Result<AuthLogWriter> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(PostAuthBatch::new()),
            capacity: capacity.max(1),
            stop: Mutex::new(false),
            stopping: Condvar::new(),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            drop_warning: RateLimited::new(WARN_EVERY),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("netily-authlog".into())
            .spawn(move || run(&worker, &database_url, timeout))?;
        Ok(AuthLogWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Adds one record without waiting on the database. False when it was
    /// dropped (too much waiting already); drops are counted and warned about.
    pub fn push(&self, record: &PostAuthRecord<'_>) -> bool {
        {
            let mut pending = lock(&self.shared.pending);
            if pending.encoded_bytes() < self.shared.capacity {
                pending.push(record);
                return true;
            }
        }
        let shared = &self.shared;
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(unreported) = shared.drop_warning.admit() {
            let n = unreported + 1;
            log::warn!(
                "authentication log full (database slow or down): \
                 dropped {n} record(s) since the last warning, {} in all",
                shared.dropped.load(Ordering::Relaxed)
            );
        }
        false
    }

    pub fn stats(&self) -> WriterStats {
        WriterStats {
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }
}

impl Drop for AuthLogWriter {
    fn drop(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.stopping.notify_all();
        // The thread writes what is left, then exits.
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("authentication log writer thread panicked");
            }
        }
    }
}

fn run(shared: &Shared, url: &str, timeout: Duration) {
    let mut conn: Option<db::Client> = None;
    // The batch being written; after a failed write it is kept (and retried)
    // while new records gather in `pending`. Swapping the two keeps both
    // buffers: no allocation once they have grown.
    let mut batch = PostAuthBatch::new();
    let mut backoff = BACKOFF_MIN;
    let write_warning = RateLimited::new(WARN_EVERY);
    let grants_warning = RateLimited::new(WARN_EVERY);
    loop {
        // Gather, unless the writer is behind (then what waits is batch enough).
        let behind = lock(&shared.pending).encoded_bytes() >= shared.capacity / 2;
        let stopping = if batch.is_empty() && !behind {
            shared.wait_unless_stopped(LINGER)
        } else {
            shared.stopped()
        };
        if batch.is_empty() {
            std::mem::swap(&mut batch, &mut *lock(&shared.pending));
            if batch.is_empty() {
                if stopping {
                    return;
                }
                continue;
            }
        }
        match write(&mut conn, url, timeout, &batch) {
            Ok(written) => {
                shared.written.fetch_add(written.rows, Ordering::Relaxed);
                batch.clear();
                backoff = BACKOFF_MIN;
                // The log is stored; only what the logins were granted is
                // lost (the enforcer then grants the decision it sees).
                if let Err(e) = written.grants {
                    if let Some(line) = grants_warning.line(|| {
                        format!("authentication log: {e}; the batch's login grants not kept")
                    }) {
                        log::warn!("{line}");
                    }
                }
            }
            Err(e) => {
                conn = None;
                if stopping {
                    // Shutting down with the database away: give up on what
                    // is left rather than hold up detach.
                    let left = batch.len() + lock(&shared.pending).len();
                    shared.dropped.fetch_add(left, Ordering::Relaxed);
                    log::warn!("authentication log: {e}; {left} record(s) not written at shutdown");
                    return;
                }
                if let Some(line) = write_warning.line(|| {
                    format!(
                        "authentication log: {e}; keeping {} record(s) and retrying",
                        batch.len()
                    )
                }) {
                    log::warn!("{line}");
                }
                shared.wait_unless_stopped(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn write(
    conn: &mut Option<db::Client>,
    url: &str,
    timeout: Duration,
    batch: &PostAuthBatch,
) -> db::Result<post_auth::Written> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(db::connect_bounded(url, timeout)?),
    };
    post_auth::insert_batch(c, batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Instant, SystemTime};

    #[test]
    #[allow(clippy::unwrap_used, reason = "a test: failing to start fails it")]
    fn a_full_log_drops_counts_and_still_shuts_down_promptly() {
        // Nothing listens on port 1: every write fails, as with the database down.
        let url = "postgresql://netily@127.0.0.1:1/netily".to_owned();
        let writer = AuthLogWriter::start(url, Duration::from_millis(200), 400).unwrap();
        let record = PostAuthRecord {
            username: "alice",
            accepted: false,
            called_station_id: None,
            calling_station_id: Some("AA:BB:CC:DD:EE:FF"),
            nas_ip: None,
            authdate: SystemTime::now(),
            reason: Some("Unknown user"),
            granted: None,
        };
        let kept = (0..40).filter(|_| writer.push(&record)).count() as u64;
        // 85 bytes a record: 5 fit under 400 bytes. The writer may already
        // hold one such batch (retrying it) while 5 more wait: at most 10 in
        // memory, however the threads interleave; the rest are dropped.
        assert!((5..=10).contains(&kept), "kept {kept}");
        assert_eq!(
            writer.stats(),
            WriterStats {
                written: 0,
                dropped: 40 - kept
            }
        );
        let started = Instant::now();
        drop(writer);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
