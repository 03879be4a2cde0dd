//! Reading a journal in order, and the cursor that says how far it has
//! been applied.
//!
//! The cursor file holds a position and its CRC-32, rewritten in place
//! (one small write, never synced on its own: a cursor older than the truth
//! only hands over again records that were applied, and a torn one is
//! detected and read as "from the oldest segment"). Segments wholly before
//! the cursor are deleted once the cursor saying so is written.
//!
//! Failure behaviour: damage (a torn end after a crash, a bad checksum) is
//! skipped to the next segment and logged with its size; in the segment
//! still being written, the flusher is asked to start a new one first. A
//! segment that vanished is skipped. Read errors are returned; the caller
//! retries.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::segment::{self, Frame, Position, HEADER, RECORD_MAX};
use super::{context, Shared};

/// Bytes read from a segment at a time: the largest record and its header
/// fit, so a record is never longer than a chunk.
const CHUNK: usize = 2 * RECORD_MAX;
/// The cursor is written at most this often while the reader is behind
/// (always once it has caught up).
const CURSOR_EVERY: Duration = Duration::from_millis(100);

/// One record and the position just after it (what to commit once it is
/// applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub payload: Vec<u8>,
    pub end: Position,
}

/// The journal's one reader.
pub struct Reader {
    shared: Arc<Shared>,
    /// Where the next record is read from.
    at: Position,
    file: Option<(u64, File)>,
    chunk: Vec<u8>,
    cursor_file: File,
    /// What the cursor file says (or will, once written).
    committed: Position,
    cursor_written: Option<Instant>,
    cursor_dirty: bool,
    /// Where damage was last found (logged once).
    damaged: Option<Position>,
}

impl Reader {
    pub(super) fn open(shared: Arc<Shared>) -> io::Result<Reader> {
        let path = shared.dir.join("cursor");
        let cursor_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| context(e, "cannot open", &path))?;
        let committed = read_cursor(&cursor_file).unwrap_or_default();
        Ok(Reader {
            shared,
            at: committed,
            file: None,
            chunk: Vec::new(),
            cursor_file,
            committed,
            cursor_written: None,
            cursor_dirty: false,
            damaged: None,
        })
    }

    /// Where reading resumes.
    pub fn position(&self) -> Position {
        self.at
    }

    /// Skips ahead to `to` (a record boundary another store says is applied
    /// already, e.g. the position saved with the rows in PostgreSQL). A
    /// position behind the reader's is ignored.
    pub fn skip_to(&mut self, to: Position) {
        if to > self.at {
            self.at = to;
            self.commit(to);
        }
    }

    /// Up to `max` records from the reader's position, waiting up to `wait`
    /// for the first one. Empty when none came in time or the journal stops.
    pub fn read(&mut self, max: usize, wait: Duration) -> io::Result<Vec<Record>> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let (written, stop) = {
                let st = self.shared.state.lock();
                (st.written, st.stop)
            };
            if self.at.segment < written.segment {
                // A closed segment: everything in it up to its end.
                self.read_segment(None, max, &mut out)?;
            } else if self.at < written {
                self.read_segment(Some(written.offset), max, &mut out)?;
            }
            if !out.is_empty() || stop {
                return Ok(out);
            }
            let mut st = self.shared.state.lock();
            // Nothing new since the look above: wait for the flusher.
            if st.written == written
                && !st.stop
                && self
                    .shared
                    .flushed
                    .wait_until(&mut st, deadline)
                    .timed_out()
            {
                return Ok(out);
            }
        }
    }

    /// Reads records of the current segment up to `limit` (its end when
    /// None), moving to the next segment at the end of a closed one.
    fn read_segment(
        &mut self,
        limit: Option<u64>,
        max: usize,
        out: &mut Vec<Record>,
    ) -> io::Result<()> {
        let segment = self.at.segment;
        let file = match &self.file {
            Some((n, f)) if *n == segment => f,
            _ => match File::open(segment::path(&self.shared.dir, segment)) {
                Ok(f) => &self.file.insert((segment, f)).1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Deleted, or never made (a cursor from before): the
                    // next one that exists.
                    self.next_segment()?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            },
        };
        let end = match limit {
            Some(l) => l,
            None => file.metadata()?.len(),
        };
        if self.at.offset >= end {
            if limit.is_none() {
                self.next_segment()?;
            }
            return Ok(());
        }
        let left = end - self.at.offset;
        let want = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        self.chunk.resize(want, 0);
        let got = read_at(file, &mut self.chunk, self.at.offset)?;
        // The chunk stops short of the data's end: a record cut at its end
        // is read whole by the next call (a chunk holds the largest record).
        let capped = got == want && (want as u64) < left;
        let mut used = 0usize;
        while out.len() < max && used < got {
            match segment::decode(&self.chunk[used..got]) {
                Frame::Record(payload) => {
                    used += HEADER + payload.len();
                    out.push(Record {
                        payload: payload.to_vec(),
                        end: Position {
                            segment,
                            offset: self.at.offset + used as u64,
                        },
                    });
                }
                Frame::Incomplete if capped => break,
                Frame::Incomplete | Frame::Damaged => {
                    self.at.offset += used as u64;
                    let active = limit.is_some();
                    if self.damaged != Some(self.at) {
                        self.damaged = Some(self.at);
                        self.damage(segment, self.at.offset, end, active);
                    }
                    if !active {
                        self.next_segment()?;
                    }
                    return Ok(());
                }
            }
        }
        self.at.offset += used as u64;
        Ok(())
    }

    /// Damage at `at` in `segment` (whose data ends at `end`): logged; in a
    /// closed segment the rest is skipped, in the active one the flusher is
    /// asked to close it first (the reader skips it once it is closed).
    fn damage(&self, segment: u64, at: u64, end: u64, active: bool) {
        if active {
            self.shared.state.lock().roll = true;
            self.shared.to_flush.notify_one();
            // Written bytes that are not a record: a disk fault.
            log::error!(
                "{} journal {}: damaged record in segment {segment} at byte {at}; \
                 {} byte(s) after it skipped",
                self.shared.name,
                self.shared.dir.display(),
                end - at
            );
        } else {
            log::warn!(
                "{} journal {}: segment {segment} ends with {} byte(s) that are not a \
                 whole record (a write cut short by a crash, or damage); skipped",
                self.shared.name,
                self.shared.dir.display(),
                end - at
            );
        }
    }

    /// Moves to the oldest segment after the current one (or stays, when
    /// there is none yet).
    fn next_segment(&mut self) -> io::Result<()> {
        let after = self.at.segment;
        let next = segment::list(&self.shared.dir)?
            .into_iter()
            .map(|(n, _)| n)
            .find(|&n| n > after);
        if let Some(n) = next {
            self.at = Position {
                segment: n,
                offset: 0,
            };
            self.file = None;
        }
        Ok(())
    }

    /// Records up to `to` are applied: remember it (the cursor file, at most
    /// every [`CURSOR_EVERY`] unless caught up) and delete the segments
    /// wholly before it.
    pub fn commit(&mut self, to: Position) {
        if to <= self.committed && !self.cursor_dirty {
            return;
        }
        self.committed = self.committed.max(to);
        self.cursor_dirty = true;
        let caught_up = {
            let mut st = self.shared.state.lock();
            st.applied_offset = self.committed.offset;
            self.committed >= st.written
        };
        let due = self
            .cursor_written
            .is_none_or(|t| t.elapsed() >= CURSOR_EVERY);
        if caught_up || due {
            self.write_cursor();
        }
    }

    fn write_cursor(&mut self) {
        let c = self.committed;
        let mut bytes = [0u8; 20];
        bytes[..8].copy_from_slice(&c.segment.to_le_bytes());
        bytes[8..16].copy_from_slice(&c.offset.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..16]);
        bytes[16..].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.cursor_file.write_all_at(&bytes, 0) {
            // Replayed from the last cursor after a restart: harmless.
            log::warn!("{} journal: cannot write the cursor: {e}", self.shared.name);
            return;
        }
        self.cursor_dirty = false;
        self.cursor_written = Some(Instant::now());
        self.delete_before(c.segment);
    }

    /// Deletes the segments before `segment` (all applied).
    fn delete_before(&mut self, segment: u64) {
        let Ok(segments) = segment::list(&self.shared.dir) else {
            return;
        };
        let mut freed = 0u64;
        for (n, len) in segments.into_iter().take_while(|&(n, _)| n < segment) {
            match fs::remove_file(segment::path(&self.shared.dir, n)) {
                Ok(()) => freed += len,
                Err(e) => log::warn!(
                    "{} journal: cannot delete applied segment {n}: {e}",
                    self.shared.name
                ),
            }
        }
        if freed > 0 {
            let mut st = self.shared.state.lock();
            st.disk_bytes = st.disk_bytes.saturating_sub(freed);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.cursor_dirty {
            self.write_cursor();
        }
    }
}

/// Reads as much as the file gives at `offset` (short only at its end).
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_cursor(file: &File) -> Option<Position> {
    let mut bytes = [0u8; 20];
    if read_at(file, &mut bytes, 0).ok()? != 20 {
        return None;
    }
    let crc = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    if crc32fast::hash(&bytes[..16]) != crc {
        return None;
    }
    let mut seg = [0u8; 8];
    let mut off = [0u8; 8];
    seg.copy_from_slice(&bytes[..8]);
    off.copy_from_slice(&bytes[8..16]);
    Some(Position {
        segment: u64::from_le_bytes(seg),
        offset: u64::from_le_bytes(off),
    })
}

/// Bytes in `dir`'s journal not yet applied (after its cursor), read from
/// the files alone: for tests, while the journal's own process runs or not.
pub fn backlog(dir: &Path) -> io::Result<u64> {
    status(dir).map(|s| s.backlog_bytes)
}

/// A journal as its files show it (`netadmin journal`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Bytes written and not yet applied (after the cursor).
    pub backlog_bytes: u64,
    /// Segment files, and the bytes they take.
    pub segments: u64,
    pub disk_bytes: u64,
    /// Seconds since the oldest segment still holding unapplied records
    /// was last written (0 when nothing waits).
    pub oldest_backlog_secs: u64,
}

/// What `dir`'s journal holds, read from its files alone (the cursor may be
/// up to 0.1 s behind a running applier).
pub fn status(dir: &Path) -> io::Result<Status> {
    let cursor = match File::open(dir.join("cursor")) {
        Ok(f) => read_cursor(&f).unwrap_or_default(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Position::default(),
        Err(e) => return Err(e),
    };
    let mut status = Status::default();
    for (n, len) in segment::list(dir)? {
        status.segments += 1;
        status.disk_bytes += len;
        let waiting = match n.cmp(&cursor.segment) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => len.saturating_sub(cursor.offset),
            std::cmp::Ordering::Greater => len,
        };
        if waiting > 0 && status.backlog_bytes == 0 {
            status.oldest_backlog_secs = fs::metadata(segment::path(dir, n))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .map_or(0, |d| d.as_secs());
        }
        status.backlog_bytes += waiting;
    }
    Ok(status)
}
