//! The applier thread: reads the accounting journal in order, queues its
//! packets for the writers, and moves the journal's cursor past every
//! packet once it and all before it are committed.
//!
//! At most [`WINDOW`] packets are between the journal and PostgreSQL at a
//! time; the rest wait on disk, so an outage of any length costs disk, not
//! memory. Failure behaviour: a packet PostgreSQL refuses (its data, not the
//! connection: the writers retry those until they succeed) and a record
//! that does not read as a packet are written to `rejected.jsonl` in the
//! journal directory with the reason, logged (at most once per
//! [`WARN_EVERY`], with exact counts) and passed, so one bad packet never
//! holds up the rest. A journal read error is logged and retried.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::error::Result;
use super::queue::{Job, Slot, QUEUE_MAX};
use super::store::Shared;
use super::Recorded;
use crate::accounting::Change;
use crate::journal::{Journal, Position, Reader};
use crate::log_limit::{RateLimited, WARN_EVERY};

/// Packets read from the journal and not yet committed, at most.
const WINDOW: usize = QUEUE_MAX;
/// How long the applier waits for the journal when it has nothing in flight.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// How long it waits for the oldest packet in flight before reading on.
const COMMIT_WAIT: Duration = Duration::from_millis(50);
/// `rejected.jsonl` stops growing here; later rejections are only counted.
const REJECTED_MAX_BYTES: u64 = 64 << 20;

/// A packet between the journal and PostgreSQL.
struct InFlight {
    end: Position,
    slot: Arc<Slot>,
    payload: Vec<u8>,
}

pub(super) fn apply_forever(shared: &Shared, journal: &Journal, mut reader: Reader) {
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(WINDOW);
    let mut rejected = Rejected::new(journal.dir());
    let read_failed = RateLimited::new(WARN_EVERY);
    while !shared.stopping() {
        let mut read_any = false;
        if in_flight.len() < WINDOW {
            let wait = if in_flight.is_empty() {
                IDLE_WAIT
            } else {
                Duration::ZERO
            };
            match reader.read(WINDOW - in_flight.len(), wait) {
                Ok(records) => {
                    read_any = !records.is_empty();
                    queue(shared, records, &mut in_flight, &mut rejected);
                }
                Err(e) => {
                    if let Some(line) =
                        read_failed.line(|| format!("accounting journal: cannot read: {e}"))
                    {
                        log::error!("{line}");
                    }
                    std::thread::sleep(IDLE_WAIT);
                }
            }
        }
        // What is committed, oldest first: the cursor moves past it.
        let mut done_to = None;
        while let Some(front) = in_flight.front() {
            let wait_for = if done_to.is_none() && !read_any {
                COMMIT_WAIT
            } else {
                Duration::ZERO
            };
            let Some(result) = front.slot.wait_until(Instant::now() + wait_for) else {
                break;
            };
            if let Some(front) = in_flight.pop_front() {
                report(result, &front.payload, &mut rejected);
                done_to = Some(front.end);
            }
        }
        if let Some(end) = done_to {
            reader.commit(end);
        }
    }
}

/// Decodes the records and queues them for the writers; a record that is
/// not a packet is rejected (and counted as done) at once.
fn queue(
    shared: &Shared,
    records: Vec<crate::journal::Record>,
    in_flight: &mut VecDeque<InFlight>,
    rejected: &mut Rejected,
) {
    if records.is_empty() {
        return;
    }
    let mut queue = shared.queue.lock();
    for record in records {
        let slot = Arc::new(Slot::default());
        match serde_json::from_slice::<Change>(&record.payload) {
            Ok(change) => {
                // The window keeps the queue under its bound: never refused.
                let job = Job {
                    change,
                    slot: Arc::clone(&slot),
                };
                if let Err(job) = queue.push(job) {
                    job.slot.fill(Ok(Recorded::Ignored));
                    rejected.add(&record.payload, "the accounting queue is full");
                }
            }
            Err(e) => {
                rejected.add(&record.payload, &format!("not an accounting packet: {e}"));
                slot.fill(Ok(Recorded::Ignored));
            }
        }
        in_flight.push_back(InFlight {
            end: record.end,
            slot,
            payload: record.payload,
        });
    }
    drop(queue);
    shared.queued.notify_all();
}

/// Logs what is worth a line: sessions a NAS restart closed, a stale
/// session reopened, a packet refused.
fn report(result: Result<Recorded>, payload: &[u8], rejected: &mut Rejected) {
    match result {
        Ok(Recorded::NasSessionsClosed(n)) if n > 0 => {
            if let Ok(Change::NasRestart(r)) = serde_json::from_slice::<Change>(payload) {
                log::info!(
                    "Accounting-{}: closed {n} open session(s) of NAS {}",
                    if r.on { "On" } else { "Off" },
                    r.nas_ip
                );
            }
        }
        Ok(Recorded::Reopened) => {
            if let Ok(Change::Session(s)) = serde_json::from_slice::<Change>(payload) {
                log::info!(
                    "{} reopened session {}: it had been closed as stale",
                    s.event.as_str(),
                    s.unique_id
                );
            }
        }
        Ok(_) => {}
        Err(e) => rejected.add(payload, &e.to_string()),
    }
}

/// `rejected.jsonl`: packets the journal held that PostgreSQL refused, kept
/// for the operator (one JSON object a line: when, why, the packet).
struct Rejected {
    path: std::path::PathBuf,
    file: Option<File>,
    warned: RateLimited,
    count: u64,
}

impl Rejected {
    fn new(dir: &Path) -> Rejected {
        Rejected {
            path: dir.join("rejected.jsonl"),
            file: None,
            warned: RateLimited::new(WARN_EVERY),
            count: 0,
        }
    }

    fn add(&mut self, payload: &[u8], why: &str) {
        self.count += 1;
        let kept = self.keep(payload, why);
        if let Some(line) = self.warned.line(|| {
            format!(
                "accounting packet refused by PostgreSQL ({why}); {} in all{}",
                self.count,
                match &kept {
                    Ok(()) => format!(", kept in {}", self.path.display()),
                    Err(e) => format!(", not kept: {e}"),
                }
            )
        }) {
            log::error!("{line}");
        }
    }

    fn keep(&mut self, payload: &[u8], why: &str) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            ),
        };
        if file.metadata()?.len() >= REJECTED_MAX_BYTES {
            return Err(std::io::Error::other("rejected.jsonl is full"));
        }
        let packet: serde_json::Value = serde_json::from_slice(payload)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(payload).into()));
        let line = serde_json::json!({
            "at": crate::clock::now_millis() / 1000,
            "why": why,
            "packet": packet,
        });
        let mut text = line.to_string();
        text.push('\n');
        file.write_all(text.as_bytes())
    }
}
