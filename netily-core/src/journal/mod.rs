//! A local, append-only journal: what a RADIUS node has acknowledged but
//! PostgreSQL may not hold yet.
//!
//! Request threads append records to a shared buffer; one flusher thread
//! writes the buffer to the active segment file and `fdatasync`s it, so a
//! whole group of records costs one write and one sync (group commit). A
//! caller that must not answer before its record is on disk waits on its
//! [`Ticket`]; one that only must not lose it under a database outage (the
//! authentication log) returns at once, and its record reaches the disk
//! within the journal's linger. One [`Reader`] per journal hands the records
//! to whatever applies them to PostgreSQL, in the order they were appended,
//! and remembers how far that got (the cursor), so after a restart, however
//! abrupt, it resumes there: nothing on disk is skipped, and at most what
//! was applied in the last moments before a crash is handed over again.
//!
//! Bounds: a journal holds at most `max_bytes` not yet applied (on disk,
//! plus the buffer); beyond that an append is refused at once
//! ([`AppendError::Full`]), never queued in memory. A failed write or sync
//! (a full disk) fails the records of that flush, which are cut off the
//! file again, and the journal carries on when space returns.
//!
//! Files: `LOCK` (one process per journal, by `flock`), `ID` (a random id
//! naming this journal in the database), `cursor`, and the segments
//! (`segment.rs`). Failure behaviour: opening fails with a clear error when
//! the directory cannot be created or written, or another process holds it;
//! damage found while reading (a torn write after a power cut, a bad
//! checksum) is skipped to the next segment and logged with its size.

mod flusher;
mod reader;
pub mod segment;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

pub use reader::{backlog, status, Reader, Record, Status};
pub use segment::Position;

/// How a journal is bounded and paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// A segment is closed and the next begun past this size.
    pub segment_bytes: u64,
    /// Records not yet applied that the journal holds at most, written or
    /// waiting to be (on disk there may be up to one segment more: applied
    /// records are deleted a segment at a time).
    pub max_bytes: u64,
    /// How long records may wait in memory before they are written, unless
    /// someone waits on one. Zero: written as soon as the flusher is free.
    pub linger: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            segment_bytes: 64 << 20,
            max_bytes: 1 << 30,
            linger: Duration::ZERO,
        }
    }
}

/// Why a record is not (or not known to be) on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The journal holds `max_bytes` already: the database is far behind.
    Full { max_bytes: u64 },
    /// Empty, or larger than [`segment::RECORD_MAX`].
    BadSize,
    /// Writing or syncing the flush that held it failed (the disk is full
    /// or failing); the record is not in the journal.
    Failed(Arc<str>),
    /// Not written within the caller's bound (the disk is very slow).
    TimedOut,
    /// The journal is shutting down.
    Stopped,
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::Full { max_bytes } => write!(
                f,
                "the journal is full ({} MiB not yet applied to PostgreSQL)",
                max_bytes >> 20
            ),
            AppendError::BadSize => f.write_str("record empty or too large for the journal"),
            AppendError::Failed(e) => write!(f, "cannot write the journal: {e}"),
            AppendError::TimedOut => {
                f.write_str("the journal's disk did not confirm the write in time")
            }
            AppendError::Stopped => f.write_str("the journal is shutting down"),
        }
    }
}

impl std::error::Error for AppendError {}

/// The outcome of one flush, which every record in it waits on.
#[derive(Default)]
struct Flush {
    outcome: Mutex<Option<Result<(), Arc<str>>>>,
    done: Condvar,
}

impl Flush {
    fn finish(&self, outcome: Result<(), Arc<str>>) {
        *self.outcome.lock() = Some(outcome);
        self.done.notify_all();
    }
}

/// A record's place in a flush: wait on it to know it is on disk.
#[must_use = "a record is durable only once its ticket says so"]
pub struct Ticket(Arc<Flush>);

impl Ticket {
    /// Ok once the record is written and synced; an error when its flush
    /// failed, or it is not done by `deadline`.
    pub fn wait(&self, deadline: Instant) -> Result<(), AppendError> {
        let mut outcome = self.0.outcome.lock();
        loop {
            match &*outcome {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(AppendError::Failed(Arc::clone(e))),
                None => {}
            }
            if self.0.done.wait_until(&mut outcome, deadline).timed_out() && outcome.is_none() {
                return Err(AppendError::TimedOut);
            }
        }
    }
}

/// What the flusher and appenders share.
struct State {
    /// Framed records not yet written.
    buffer: Vec<u8>,
    records: u64,
    /// When the oldest record in `buffer` was appended.
    since: Option<Instant>,
    /// The flush that will take `buffer`.
    flush: Arc<Flush>,
    /// Someone waits on a record in `buffer`: write it now.
    urgent: bool,
    /// The end of what is written and synced.
    written: Position,
    /// Bytes in segment files (the reader subtracts what it deletes).
    disk_bytes: u64,
    /// Bytes of the reader's current segment already applied: with
    /// `disk_bytes`, what is not applied yet (counting any applied segment
    /// not deleted yet as unapplied: the bound errs on the safe side).
    applied_offset: u64,
    /// The reader found damage in the active segment: start a new one.
    roll: bool,
    stop: bool,
}

impl State {
    /// Bytes written and not yet applied (at most).
    fn unapplied(&self) -> u64 {
        self.disk_bytes.saturating_sub(self.applied_offset)
    }
}

/// Counters, for logs, `netadmin journal` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records appended (accepted into the buffer).
    pub appended: u64,
    /// Records refused because the journal was full.
    pub refused: u64,
    /// Records whose flush failed (not in the journal).
    pub failed: u64,
    /// Bytes on disk not yet released by the reader.
    pub disk_bytes: u64,
    /// Bytes written and not yet applied (what `max_bytes` bounds).
    pub unapplied_bytes: u64,
}

struct Shared {
    dir: PathBuf,
    /// "accounting", "authentication log": for log lines.
    name: &'static str,
    options: Options,
    state: Mutex<State>,
    /// The flusher waits on it for records.
    to_flush: Condvar,
    /// The reader waits on it for written records.
    flushed: Condvar,
    appended: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// An open journal: appends go to its buffer, its flusher thread writes
/// them. Dropping it writes what is buffered and joins the flusher.
pub struct Journal {
    shared: Arc<Shared>,
    id: String,
    flusher: Option<JoinHandle<()>>,
    reader: Mutex<Option<Reader>>,
    /// Held for the journal's life: one process per directory.
    _lock: File,
}

impl Journal {
    /// Opens (creating it if need be) the journal in `dir` and starts its
    /// flusher. Appends go to a new segment; what earlier runs left is
    /// still there for the reader.
    pub fn open(dir: &Path, name: &'static str, options: Options) -> io::Result<Journal> {
        fs::create_dir_all(dir).map_err(|e| context(e, "cannot create", dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| context(e, "cannot open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::other(format!(
                    "the {name} journal {} is in use by another process \
                     (two radiusd instances cannot share one journal directory)",
                    dir.display()
                )))
            }
            Err(fs::TryLockError::Error(e)) => return Err(context(e, "cannot lock", &lock_path)),
        }
        let id = journal_id(dir)?;
        let segments = segment::list(dir).map_err(|e| context(e, "cannot list", dir))?;
        let disk_bytes = segments.iter().map(|(_, len)| len).sum();
        let next = segments.last().map_or(1, |(n, _)| n + 1);
        let file = flusher::create_segment(dir, next)?;
        let written = Position {
            segment: next,
            offset: 0,
        };
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            name,
            options,
            state: Mutex::new(State {
                buffer: Vec::new(),
                records: 0,
                since: None,
                flush: Arc::default(),
                urgent: false,
                written,
                disk_bytes,
                applied_offset: 0,
                roll: false,
                stop: false,
            }),
            to_flush: Condvar::new(),
            flushed: Condvar::new(),
            appended: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let reader = Reader::open(Arc::clone(&shared))?;
        let worker = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("netily-journal".into())
            .spawn(move || flusher::run(&worker, file, written))?;
        Ok(Journal {
            shared,
            id,
            flusher: Some(flusher),
            reader: Mutex::new(Some(reader)),
            _lock: lock,
        })
    }

    /// The journal's random id (for its row in `journal_positions`).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The one reader, for the thread that applies the journal (None after
    /// the first call).
    pub fn take_reader(&self) -> Option<Reader> {
        self.reader.lock().take()
    }

    /// Appends one record, which `encode` writes into the buffer (no copy
    /// on the way). Never waits on the disk: the ticket tells when the
    /// record is on it.
    pub fn append_with(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<Ticket, AppendError> {
        let shared = &self.shared;
        let mut st = shared.state.lock();
        if st.stop {
            return Err(AppendError::Stopped);
        }
        let max_bytes = shared.options.max_bytes;
        if st.unapplied() + st.buffer.len() as u64 >= max_bytes {
            drop(st);
            shared.refused.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::Full { max_bytes });
        }
        let start = segment::begin(&mut st.buffer);
        encode(&mut st.buffer);
        if !segment::finish(&mut st.buffer, start) {
            return Err(AppendError::BadSize);
        }
        st.records += 1;
        let first = st.since.is_none();
        if first {
            st.since = Some(Instant::now());
        }
        let ticket = Ticket(Arc::clone(&st.flush));
        drop(st);
        shared.appended.fetch_add(1, Ordering::Relaxed);
        if first || shared.options.linger.is_zero() {
            shared.to_flush.notify_one();
        }
        Ok(ticket)
    }

    pub fn append(&self, record: &[u8]) -> Result<Ticket, AppendError> {
        self.append_with(|out| out.extend_from_slice(record))
    }

    /// Appends one record and waits until it is on disk (at most until
    /// `deadline`), asking the flusher not to linger.
    pub fn append_durable(
        &self,
        deadline: Instant,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), AppendError> {
        let ticket = self.append_with(encode)?;
        if !self.shared.options.linger.is_zero() {
            self.shared.state.lock().urgent = true;
            self.shared.to_flush.notify_one();
        }
        ticket.wait(deadline)
    }

    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        let (disk_bytes, unapplied_bytes) = {
            let st = s.state.lock();
            (st.disk_bytes, st.unapplied())
        };
        Stats {
            appended: s.appended.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            disk_bytes,
            unapplied_bytes,
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.to_flush.notify_all();
        self.shared.flushed.notify_all();
        // The flusher writes what is buffered, then returns.
        if let Some(t) = self.flusher.take() {
            if t.join().is_err() {
                log::error!("journal flusher thread panicked");
            }
        }
    }
}

/// The journal's id: read from `ID`, or made (16 random bytes, hex) and
/// synced on first use.
fn journal_id(dir: &Path) -> io::Result<String> {
    let path = dir.join("ID");
    let mut existing = String::new();
    match File::open(&path) {
        Ok(mut f) => {
            f.read_to_string(&mut existing)
                .map_err(|e| context(e, "cannot read", &path))?;
            let id = existing.trim();
            if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(id.to_owned());
            }
            return Err(io::Error::other(format!(
                "{} does not hold a journal id (32 hex digits)",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context(e, "cannot read", &path)),
    }
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| io::Error::other("no randomness for the journal id"))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join("ID.tmp");
    fs::write(&tmp, format!("{id}\n")).map_err(|e| context(e, "cannot write", &tmp))?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &path).map_err(|e| context(e, "cannot write", &path))?;
    flusher::sync_dir(dir)?;
    Ok(id)
}

fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
