//! The authentication log writer: request threads append post-auth records
//! to the node's authentication-log journal and return at once; one
//! background thread stores them in radpostauth, a bounded COPY at a time.
//!
//! Why a journal rather than a batch in memory: with the database away (a
//! restart, a failover) logins keep coming at thousands a second, and a
//! memory bound had to drop them. On disk the bound is large
//! (`JournalSettings::max_bytes`), and the backlog is stored in COPYs of
//! at most [`ROWS_PER_COPY`] rows while new logins keep arriving, so no
//! statement grows with the outage (one COPY of the whole backlog hit the
//! statement timeout again and again). Why records are not synced one by
//! one: the log must survive a database outage, not hold a login; the
//! journal writes them every [`LINGER`] (also the longest a login waits to
//! appear in radpostauth while the database keeps up).
//!
//! Exactly once: the journal's position is saved with the rows, in one
//! transaction (`journal_positions`), and the writer starts from it, so
//! after a crash nothing is stored twice and nothing is skipped.
//!
//! Failure behaviour: the database away → the records wait in the journal
//! and the thread retries (backoff 0.25–5 s, one warning per
//! [`WARN_EVERY`]); the journal full (or its disk failing) → the record is
//! dropped and counted exactly, with a warning per [`WARN_EVERY`] (the
//! journal's own failures are counted by it and added in [`AuthLogWriter::stats`]).
//! Dropping the writer stops the thread (what it had not stored stays in
//! the journal for the next start) and joins it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::accounting::JournalSettings;
use super::post_auth::{self, PostAuthBatch, PostAuthRecord};
use super::{connect_bounded, journal_positions, Client, Result};
use crate::journal::{self, AppendError, Journal, Position, Reader, Record};
use crate::live::{pause, Backoff};
use crate::log_limit::{RateLimited, WARN_EVERY};

/// Rows stored by one COPY at most (~1.5 MB; well under a second even on a
/// loaded database, so the statement timeout is never near).
pub const ROWS_PER_COPY: usize = 10_000;
/// How long records gather before the journal writes them.
pub const LINGER: Duration = Duration::from_millis(250);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Rows stored in radpostauth by this process.
    pub written: u64,
    /// Records lost: refused by a full journal, or in a failed journal write.
    pub dropped: u64,
}

struct Shared {
    stop: AtomicBool,
    written: AtomicU64,
    refused: AtomicU64,
    refused_warning: RateLimited,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The journal and the thread that stores it.
pub struct AuthLogWriter {
    shared: Arc<Shared>,
    journal: Arc<Journal>,
    thread: Option<JoinHandle<()>>,
}

impl AuthLogWriter {
    /// Opens the journal and starts the thread; it connects in the
    /// background (and again after any failure), so this never waits on
    /// the database. `timeout` bounds a connect and each statement.
    pub fn start(
        database_url: String,
        timeout: Duration,
        journal: &JournalSettings,
    ) -> std::io::Result<AuthLogWriter> {
        let options = journal::Options {
            max_bytes: journal.max_bytes,
            linger: LINGER,
            ..journal::Options::default()
        };
        let journal = Arc::new(Journal::open(&journal.dir, "authentication log", options)?);
        let reader = journal
            .take_reader()
            .ok_or_else(|| std::io::Error::other("the journal's reader is taken"))?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            written: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refused_warning: RateLimited::new(WARN_EVERY),
        });
        let worker = Arc::clone(&shared);
        let id = journal.id().to_owned();
        let thread = std::thread::Builder::new()
            .name("netily-authlog".into())
            .spawn(move || run(&worker, reader, &id, &database_url, timeout))?;
        Ok(AuthLogWriter {
            shared,
            journal,
            thread: Some(thread),
        })
    }

    /// Adds one record without waiting on the disk or the database. False
    /// when it was dropped (the journal full); drops are counted and
    /// warned about.
    pub fn push(&self, record: &PostAuthRecord<'_>) -> bool {
        match self
            .journal
            .append_with(|out| post_auth::encode_for_journal(out, record))
        {
            Ok(_ticket) => true,
            Err(e) => {
                let shared = &self.shared;
                let all = shared.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(unreported) = shared.refused_warning.admit() {
                    let n = unreported + 1;
                    let why = match e {
                        AppendError::Full { .. } => "database slow or down".to_owned(),
                        other => other.to_string(),
                    };
                    log::warn!(
                        "authentication log journal full ({why}): dropped {n} record(s) \
                         since the last warning, {all} in all"
                    );
                }
                false
            }
        }
    }

    pub fn stats(&self) -> WriterStats {
        WriterStats {
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.refused.load(Ordering::Relaxed) + self.journal.stats().failed,
        }
    }
}

impl Drop for AuthLogWriter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("authentication log writer thread panicked");
            }
        }
    }
}

fn run(shared: &Shared, mut reader: Reader, journal_id: &str, url: &str, timeout: Duration) {
    let mut conn: Option<Client> = None;
    let mut resumed = false;
    let mut pending: Vec<Record> = Vec::new();
    let mut batch = PostAuthBatch::new();
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let failed = RateLimited::new(WARN_EVERY);
    let malformed = RateLimited::new(WARN_EVERY);
    let grants_failed = RateLimited::new(WARN_EVERY);
    while !shared.stopping() {
        // Where the database says this journal is applied to, once.
        if !resumed {
            match connected(&mut conn, url, timeout)
                .and_then(|c| journal_positions::load(c, journal_id))
            {
                Ok(at) => {
                    if let Some(at) = at {
                        reader.skip_to(at);
                    }
                    resumed = true;
                }
                Err(e) => {
                    conn = None;
                    warn_retrying(&failed, &e, reader.position());
                    if pause(backoff.next_wait(), &shared.stop) {
                        return;
                    }
                    continue;
                }
            }
        }
        if pending.is_empty() {
            match reader.read(ROWS_PER_COPY, LINGER) {
                Ok(records) => pending = records,
                Err(e) => {
                    log::error!("authentication log journal: cannot read: {e}");
                    if pause(BACKOFF_MAX, &shared.stop) {
                        return;
                    }
                    continue;
                }
            }
            if pending.is_empty() {
                continue;
            }
            batch.clear();
            for r in &pending {
                if !batch.push_journaled(&r.payload) {
                    if let Some(line) = malformed.line(|| {
                        "authentication log journal: a record is not a login; skipped".into()
                    }) {
                        log::error!("{line}");
                    }
                }
            }
        }
        let Some(to) = pending.last().map(|r| r.end) else {
            continue;
        };
        let stored = connected(&mut conn, url, timeout)
            .and_then(|c| post_auth::insert_batch(c, &batch, journal_id, to));
        match stored {
            Ok(written) => {
                shared.written.fetch_add(written.rows, Ordering::Relaxed);
                reader.commit(to);
                pending.clear();
                backoff.reset();
                let n = failed.take_suppressed();
                if n > 0 {
                    log::warn!(
                        "authentication log: storing again ({n} more retries left out of the log)"
                    );
                }
                // The log is stored; only what the logins were granted is
                // lost (the enforcer then grants the decision it sees).
                if let Err(e) = written.grants {
                    if let Some(line) = grants_failed.line(|| {
                        format!("authentication log: {e}; the batch's login grants not kept")
                    }) {
                        log::warn!("{line}");
                    }
                }
            }
            Err(e) => {
                conn = None;
                warn_retrying(&failed, &e, to);
                if pause(backoff.next_wait(), &shared.stop) {
                    return;
                }
            }
        }
    }
}

fn warn_retrying(limit: &RateLimited, e: &super::Error, at: Position) {
    if let Some(line) = limit.line(|| {
        format!("authentication log: {e}; the logins wait in the journal ({at}) and are retried")
    }) {
        log::warn!("{line}");
    }
}

fn connected<'a>(
    conn: &'a mut Option<Client>,
    url: &str,
    timeout: Duration,
) -> Result<&'a mut Client> {
    match conn {
        Some(c) => Ok(c),
        None => Ok(conn.insert(connect_bounded(url, timeout)?)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;

    #[test]
    fn a_full_journal_drops_counts_exactly_and_still_shuts_down_promptly() {
        let dir = std::env::temp_dir().join(format!("netily-authlog-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Nothing listens on port 1: the database is down, nothing is applied.
        let url = "postgresql://netily@127.0.0.1:1/netily".to_owned();
        let settings = JournalSettings {
            dir: dir.clone(),
            max_bytes: 1_000,
        };
        let writer = AuthLogWriter::start(url, Duration::from_millis(200), &settings).unwrap();
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
        // 97 bytes a record with its frame; one more is taken while less
        // than 1,000 bytes wait: 11.
        assert_eq!(kept, 11);
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
        // What was kept is on disk for the next start.
        assert!(journal::backlog(&dir).unwrap() > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
