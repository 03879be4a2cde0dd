//! Connection records, written by a background thread from a queue, so
//! OpenVPN's thread only enqueues. While the database is down the records wait
//! in order and are written when it returns. The recorder also logs each
//! connection and disconnection (to syslog), so OpenVPN's thread does not have
//! to.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netily_core::db::vpn_store::{self, ConnectionClosed, ConnectionHeartbeat, ConnectionOpened};
use parking_lot::Mutex;

use crate::background::{connect_db, Stop};
use netily_core::db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Opened {
        opened: ConnectionOpened,
        router_name: Arc<str>,
    },
    Heartbeat(ConnectionHeartbeat),
    Closed {
        closed: ConnectionClosed,
        router_name: Arc<str>,
        /// OpenVPN's time_duration: how long the tunnel was up.
        seconds: i64,
    },
}

impl Record {
    /// The line an operator reads about this record; heartbeats have none.
    pub fn note(&self) -> Option<String> {
        match self {
            Record::Opened {
                opened,
                router_name,
            } => Some(format!(
                "router {router_name} (id {}) connected from {}, address {}",
                opened.router_id, opened.real_address, opened.vpn_address
            )),
            Record::Closed {
                closed,
                router_name,
                seconds,
            } => Some(format!(
                "router {router_name} disconnected from {} after {seconds}s, {} bytes in, {} bytes out",
                closed.real_address, closed.bytes_in, closed.bytes_out
            )),
            Record::Heartbeat(_) => None,
        }
    }
}

/// Records on their way to the recorder. A push is one uncontended lock and
/// a Vec push: no system call, and no wake-up of the recorder, which on a busy
/// host could take OpenVPN's CPU in the middle of an event. The recorder
/// collects the queue every [`POLL`] instead.
#[derive(Clone, Default)]
pub struct Queue(Arc<Mutex<Vec<Record>>>);

impl Queue {
    pub fn push(&self, record: Record) {
        self.0.lock().push(record);
    }

    /// Swaps the waiting records into `batch` (empty, keeping its capacity
    /// for the next pushes).
    fn take(&self, batch: &mut Vec<Record>) {
        std::mem::swap(&mut *self.0.lock(), batch);
    }

    #[cfg(test)]
    pub fn drain(&self) -> Vec<Record> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// Bounded so a long outage cannot exhaust memory; the oldest go first.
const MAX_QUEUED: usize = 100_000;
/// How often the recorder collects the queue: the delay before a record
/// reaches the database.
const POLL: Duration = Duration::from_millis(25);
/// How often a database that failed is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The recorder thread's body, until `stop`; then one last write.
pub fn run(records: Queue, database_url: String, stop: Arc<Stop>) {
    let mut queue: VecDeque<Record> = VecDeque::new();
    let mut batch: Vec<Record> = Vec::with_capacity(256);
    let mut client: Option<db::Client> = None;
    let mut dropped = 0usize;
    let mut down_since_logged = false;
    let mut next_try = Instant::now();
    loop {
        let closing = stop.wait(POLL);
        records.take(&mut batch);
        for record in batch.drain(..) {
            if let Some(note) = record.note() {
                log::info!("{note}");
            }
            queue.push_back(record);
        }
        while queue.len() > MAX_QUEUED {
            queue.pop_front();
            dropped += 1;
        }
        if dropped > 0 {
            log::warn!("database unavailable too long: {dropped} VPN connection records dropped");
            dropped = 0;
        }
        if !queue.is_empty() && (closing || Instant::now() >= next_try) {
            match flush(&mut queue, &mut client, &database_url) {
                Ok(()) => {
                    if down_since_logged {
                        log::info!("database back: queued VPN connection records written");
                        down_since_logged = false;
                    }
                }
                Err(e) => {
                    next_try = Instant::now() + RETRY_EVERY;
                    if !down_since_logged {
                        log::warn!(
                            "cannot write VPN connection records, {} queued for later: {e}",
                            queue.len()
                        );
                        down_since_logged = true;
                    }
                }
            }
        }
        if closing {
            if !queue.is_empty() {
                log::warn!(
                    "closing with {} VPN connection records unwritten (database unavailable)",
                    queue.len()
                );
            }
            return;
        }
    }
}

fn flush(
    queue: &mut VecDeque<Record>,
    client: &mut Option<db::Client>,
    database_url: &str,
) -> Result<(), String> {
    let c = match client {
        Some(c) => c,
        None => client.insert(connect_db(database_url)?),
    };
    while let Some(record) = queue.front() {
        let result = match record {
            Record::Opened { opened, .. } => vpn_store::record_opened(c, opened),
            Record::Heartbeat(r) => vpn_store::record_heartbeat(c, r),
            Record::Closed { closed, .. } => vpn_store::record_closed(c, closed),
        };
        match result {
            Ok(()) => {
                queue.pop_front();
            }
            Err(e) if e.is_connection_error() => {
                *client = None;
                return Err(e.to_string());
            }
            Err(e) => {
                // The database refused this record (e.g. the router was
                // deleted meanwhile): retrying cannot help, keep the rest going.
                log::warn!("VPN connection record refused by the database, dropped: {e}");
                queue.pop_front();
            }
        }
    }
    Ok(())
}
