//! Connection records, written by a background thread from a queue, so
//! OpenVPN's thread only enqueues. While the database is down the records wait
//! in order and are written when it returns.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use netily_core::vpn_store::{
    self, is_connection_error, ConnectionClosed, ConnectionHeartbeat, ConnectionOpened,
};

use crate::state::connect_db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Opened(ConnectionOpened),
    Heartbeat(ConnectionHeartbeat),
    Closed(ConnectionClosed),
}

/// Bounded so a long outage cannot exhaust memory; the oldest go first.
const MAX_QUEUED: usize = 100_000;
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub fn run(records: Receiver<Record>, database_url: String) {
    let mut queue: VecDeque<Record> = VecDeque::new();
    let mut client: Option<postgres::Client> = None;
    let mut dropped = 0usize;
    let mut down_since_logged = false;
    loop {
        let closing = match records.recv_timeout(RETRY_EVERY) {
            Ok(r) => {
                queue.push_back(r);
                // Take whatever else is already waiting, then write in one go.
                while let Ok(r) = records.try_recv() {
                    queue.push_back(r);
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        while queue.len() > MAX_QUEUED {
            queue.pop_front();
            dropped += 1;
        }
        if dropped > 0 {
            log::warn!("database unavailable too long: {dropped} VPN connection records dropped");
            dropped = 0;
        }
        if !queue.is_empty() {
            match flush(&mut queue, &mut client, &database_url) {
                Ok(()) => {
                    if down_since_logged {
                        log::info!("database back: queued VPN connection records written");
                        down_since_logged = false;
                    }
                }
                Err(e) => {
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
    client: &mut Option<postgres::Client>,
    database_url: &str,
) -> Result<(), String> {
    if client.is_none() {
        *client = Some(connect_db(database_url)?);
    }
    let Some(c) = client.as_mut() else {
        return Err("no connection".into());
    };
    while let Some(record) = queue.front() {
        let result = match record {
            Record::Opened(r) => vpn_store::record_opened(c, r),
            Record::Heartbeat(r) => vpn_store::record_heartbeat(c, r),
            Record::Closed(r) => vpn_store::record_closed(c, r),
        };
        match result {
            Ok(()) => {
                queue.pop_front();
            }
            Err(e) if is_connection_error(&e) => {
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
