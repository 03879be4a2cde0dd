//! The authentication log writer: request threads hand post-auth records to
//! a bounded queue and return at once; one background thread stores them in
//! batches (one COPY each).
//!
//! Why: post-auth runs on the request thread before the reply is sent, so a
//! slow or absent database must not delay a login. Memory stays bounded: when
//! the queue is full (database down or far behind) a record is dropped and
//! counted, with a warning at most every [`WARN_EVERY`]. The thread is stopped
//! and joined when the writer is dropped (module detach, HUP).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netily_core::db::{self, post_auth, post_auth::PostAuthRecord};

/// Records waiting at most (about 10 MB at ~200 bytes each): a few seconds
/// of a busy server's logins.
pub const QUEUE_CAPACITY: usize = 50_000;
/// Records per COPY at most.
const BATCH_MAX: usize = 10_000;
/// How long a batch may wait for more records after its first. Nobody waits
/// on the log, and one statement of a thousand rows costs PostgreSQL far less
/// than a hundred of ten (on the benchmark, the log's share of the database
/// fell from half a core to a tenth).
const LINGER: Duration = Duration::from_millis(50);
/// How long the thread waits for a record before checking whether to stop.
const POLL: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// At most one "dropped" or "cannot write" warning this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A warning that is logged at most once per [`WARN_EVERY`].
struct RateLimited {
    last: Mutex<Option<Instant>>,
}

impl RateLimited {
    const fn new() -> RateLimited {
        RateLimited {
            last: Mutex::new(None),
        }
    }

    /// True when a warning may be logged now (and starts a new period).
    fn due(&self) -> bool {
        // A poisoned lock only means another thread panicked mid-check.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if t.elapsed() < WARN_EVERY => false,
            _ => {
                *last = Some(Instant::now());
                true
            }
        }
    }
}

struct Shared {
    stop: AtomicBool,
    written: AtomicU64,
    dropped: AtomicU64,
    /// Drops not yet reported in a warning.
    dropped_unreported: AtomicU64,
    drop_warning: RateLimited,
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    pub written: u64,
    pub dropped: u64,
}

/// The queue and its writer thread.
pub struct AuthLogWriter {
    queue: Option<SyncSender<PostAuthRecord>>,
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
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dropped_unreported: AtomicU64::new(0),
            drop_warning: RateLimited::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("netily-authlog".into())
            .spawn(move || run(&worker, &rx, &database_url, timeout))?;
        Ok(AuthLogWriter {
            queue: Some(tx),
            shared,
            thread: Some(thread),
        })
    }

    /// Queues one record without blocking. False when it was dropped
    /// (queue full or writer stopped); drops are counted and warned about.
    pub fn push(&self, record: PostAuthRecord) -> bool {
        let Some(queue) = &self.queue else {
            return false;
        };
        match queue.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .dropped_unreported
                    .fetch_add(1, Ordering::Relaxed);
                if self.shared.drop_warning.due() {
                    let n = self.shared.dropped_unreported.swap(0, Ordering::Relaxed);
                    log::warn!(
                        "authentication log queue full (database slow or down): \
                         dropped {n} record(s) since the last warning, {} in all",
                        self.shared.dropped.load(Ordering::Relaxed)
                    );
                }
                false
            }
        }
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
        self.shared.stop.store(true, Ordering::Release);
        // Closing the queue lets the thread drain what is left and exit.
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("authentication log writer thread panicked");
            }
        }
    }
}

fn connect(url: &str, timeout: Duration) -> db::Result<db::Client> {
    let mut client = db::connect(url, timeout)?;
    // A stuck statement must not hold the thread (and detach) forever.
    let ms = timeout.as_millis().max(1);
    client
        .batch_execute(&format!("SET statement_timeout = {ms}"))
        .map_err(|e| db::Error::Query {
            what: "setting statement_timeout".into(),
            detail: e.to_string(),
        })?;
    Ok(client)
}

fn sleep_unless_stopped(shared: &Shared, total: Duration) {
    let deadline = Instant::now() + total;
    while !shared.stop.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

fn run(shared: &Shared, queue: &Receiver<PostAuthRecord>, url: &str, timeout: Duration) {
    let mut conn: Option<db::Client> = None;
    let mut batch: Vec<PostAuthRecord> = Vec::with_capacity(BATCH_MAX);
    let mut backoff = BACKOFF_MIN;
    let write_warning = RateLimited::new();
    let mut closed = false;
    let mut behind = false;
    loop {
        if batch.is_empty() {
            if closed {
                return;
            }
            match queue.recv_timeout(POLL) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // Let a batch gather, unless the writer is behind (then what is
        // queued is batch enough). Sleep rather than wait on the queue: a
        // waiting receiver is woken, a syscall and a context switch, by
        // every record sent.
        if batch.len() == 1 && !closed && !behind {
            sleep_unless_stopped(shared, LINGER);
        }
        while batch.len() < BATCH_MAX {
            match queue.try_recv() {
                Ok(r) => batch.push(r),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        behind = batch.len() >= BATCH_MAX / 2;
        match write(&mut conn, url, timeout, &batch) {
            Ok(n) => {
                shared.written.fetch_add(n, Ordering::Relaxed);
                batch.clear();
                backoff = BACKOFF_MIN;
            }
            Err(e) => {
                conn = None;
                if shared.stop.load(Ordering::Acquire) {
                    // Shutting down with the database away: give up on what
                    // is left rather than hold up detach.
                    let left = batch.len() as u64 + queue.try_iter().count() as u64;
                    shared.dropped.fetch_add(left, Ordering::Relaxed);
                    log::warn!("authentication log: {e}; {left} record(s) not written at shutdown");
                    return;
                }
                if write_warning.due() {
                    log::warn!(
                        "authentication log: {e}; keeping {} record(s) and retrying",
                        batch.len()
                    );
                }
                sleep_unless_stopped(shared, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn write(
    conn: &mut Option<db::Client>,
    url: &str,
    timeout: Duration,
    batch: &[PostAuthRecord],
) -> db::Result<u64> {
    if conn.is_none() {
        *conn = Some(connect(url, timeout)?);
    }
    match conn {
        Some(c) => post_auth::insert_batch(c, batch),
        None => Ok(0),
    }
}
