//! The flusher thread: takes the buffer, writes it at the end of the active
//! segment, syncs it, and tells the records' waiters and the reader.
//!
//! Failure behaviour: a write or sync that fails (ENOSPC, EIO) fails every
//! record of that flush, and the segment is cut back to where it ended
//! before, so no half record stays in the middle of it; if even that fails,
//! the next flush starts a new segment (the reader skips damage at the end
//! of a closed segment). Failures are logged at most once per second, with
//! the exact number of records lost since the last line.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::segment::{self, Position};
use super::{context, Flush, Shared};
use crate::log_limit::RateLimited;

/// A lingering buffer is written anyway once it holds this much.
const FLUSH_BYTES: usize = 4 << 20;

/// Creates segment `n` (it must not exist) and makes its name durable.
pub(super) fn create_segment(dir: &Path, n: u64) -> io::Result<File> {
    let path = segment::path(dir, n);
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| context(e, "cannot create", &path))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Syncs a directory, so a file created or renamed in it survives a power cut.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(e, "cannot sync", dir))
}

pub(super) fn run(shared: &Shared, mut file: File, mut at: Position) {
    let mut spare: Vec<u8> = Vec::new();
    let mut lost_since_log = 0u64;
    let failing = RateLimited::new(Duration::from_secs(1));
    let mut must_roll = false;
    loop {
        let Some((records, flush)) = next_flush(shared, &mut spare) else {
            return;
        };
        let outcome = write(shared, &mut file, &mut at, &spare, &mut must_roll);
        match outcome {
            Ok(()) => {
                {
                    let mut st = shared.state.lock();
                    st.written = at;
                    st.disk_bytes += spare.len() as u64;
                }
                shared.flushed.notify_all();
                flush.finish(Ok(()));
            }
            Err(e) => {
                shared.failed.fetch_add(records, Ordering::Relaxed);
                lost_since_log += records;
                if failing.admit().is_some() {
                    log::error!(
                        "{} journal: cannot write {} ({e}): {lost_since_log} record(s) \
                         refused since the last line; the NAS retransmits accounting, \
                         logins are not recorded",
                        shared.name,
                        shared.dir.display()
                    );
                    lost_since_log = 0;
                }
                flush.finish(Err(Arc::from(e.to_string())));
            }
        }
        spare.clear();
    }
}

/// Waits until the buffer is due (or the journal stops) and swaps it into
/// `out`; None when stopping with nothing left.
fn next_flush(shared: &Shared, out: &mut Vec<u8>) -> Option<(u64, Arc<Flush>)> {
    let linger = shared.options.linger;
    let mut st = shared.state.lock();
    loop {
        if !st.buffer.is_empty() {
            let due = st.since.map(|t| t + linger);
            let now = Instant::now();
            if st.stop
                || st.urgent
                || st.buffer.len() >= FLUSH_BYTES
                || due.is_none_or(|d| d <= now)
            {
                break;
            }
            if let Some(d) = due {
                shared.to_flush.wait_until(&mut st, d);
            }
            continue;
        }
        if st.stop {
            return None;
        }
        shared.to_flush.wait(&mut st);
    }
    std::mem::swap(&mut st.buffer, out);
    let records = std::mem::take(&mut st.records);
    st.since = None;
    st.urgent = false;
    let flush = std::mem::take(&mut st.flush);
    Some((records, flush))
}

/// Writes and syncs `data` at the end of the active segment, starting a
/// new segment first when this one is full or damaged.
fn write(
    shared: &Shared,
    file: &mut File,
    at: &mut Position,
    data: &[u8],
    must_roll: &mut bool,
) -> io::Result<()> {
    let roll_asked = std::mem::take(&mut shared.state.lock().roll);
    let full = at.offset > 0 && at.offset + data.len() as u64 > shared.options.segment_bytes;
    if full || roll_asked || *must_roll {
        let next = at.segment + 1;
        *file = create_segment(&shared.dir, next)?;
        *at = Position {
            segment: next,
            offset: 0,
        };
        *must_roll = false;
        // The reader moves on from the closed segment once it sees a later one.
        shared.state.lock().written = *at;
        shared.flushed.notify_all();
    }
    let outcome = file
        .write_all_at(data, at.offset)
        .and_then(|()| file.sync_data());
    match outcome {
        Ok(()) => {
            at.offset += data.len() as u64;
            Ok(())
        }
        Err(e) => {
            // Cut the failed bytes off, so the segment ends on a record.
            if file
                .set_len(at.offset)
                .and_then(|()| file.sync_data())
                .is_err()
            {
                *must_roll = true;
            }
            Err(e)
        }
    }
}
