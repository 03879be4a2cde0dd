//! Logins before the first load completes: one bounded database lookup of
//! the username (the same server-side function a targeted reload uses), so
//! a radiusd that starts beside 1,000,000 subscribers serves at once
//! instead of failing until its snapshot is in.
//!
//! Bounds, so no request thread waits long or piles up: at most
//! [`MAX_CONNECTIONS`] connections (all busy: [`Fetched::Busy`], and the
//! caller may wait a bounded while for one or for the load); each connect
//! and statement bounded by `timeout`; after a failure, no attempt for
//! [`FAIL_FAST`] (the caller answers fail, the NAS retries).
//! Used only until the snapshot is loaded; the connections close then.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::db::{self, Client};
use crate::model::SubscriberRecord;

const MAX_CONNECTIONS: usize = 4;
const FAIL_FAST: Duration = Duration::from_secs(1);

pub(super) struct Fallback {
    url: String,
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    idle: Vec<Client>,
    /// Connections lent out or being opened.
    busy: usize,
    failed_at: Option<Instant>,
    closed: bool,
}

// Both are made and matched at once, never stored: no reason to box.
#[allow(clippy::large_enum_variant)]
enum Taken {
    Client(db::Result<Client>),
    /// Every connection is lent out.
    Busy,
    /// Closed (the snapshot is loaded), or the database failed just now.
    Unavailable,
}

/// What a lookup in the database gave.
#[allow(clippy::large_enum_variant)]
pub(super) enum Fetched {
    Done(db::Result<Option<SubscriberRecord>>),
    /// Every connection is in use by other lookups: one is free again
    /// within a statement's time.
    Busy,
    /// No lookup can be made now.
    Unavailable,
}

impl Fallback {
    pub fn new(url: String, timeout: Duration) -> Fallback {
        Fallback {
            url,
            timeout,
            state: Mutex::new(State::default()),
        }
    }

    /// A connection: an idle one, or a new one while there are fewer than
    /// the maximum.
    fn take(&self) -> Taken {
        {
            let mut s = self.state.lock();
            if s.closed || s.failed_at.is_some_and(|t| t.elapsed() < FAIL_FAST) {
                return Taken::Unavailable;
            }
            if let Some(c) = s.idle.pop() {
                s.busy += 1;
                return Taken::Client(Ok(c));
            }
            if s.busy + s.idle.len() >= MAX_CONNECTIONS {
                return Taken::Busy;
            }
            s.busy += 1;
        }
        Taken::Client(db::connect_bounded(&self.url, self.timeout))
    }

    fn put_back(&self, client: Option<Client>) {
        let mut s = self.state.lock();
        s.busy = s.busy.saturating_sub(1);
        match client {
            Some(c) if !s.closed => s.idle.push(c),
            Some(_) => {}
            None => s.failed_at = Some(Instant::now()),
        }
    }

    /// `username`'s record from the database (`Done(Ok(None))` for an
    /// unknown username).
    pub fn fetch(&self, username: &str) -> Fetched {
        let mut client = match self.take() {
            Taken::Client(Ok(c)) => c,
            Taken::Client(Err(e)) => {
                self.put_back(None);
                return Fetched::Done(Err(e));
            }
            Taken::Busy => return Fetched::Busy,
            Taken::Unavailable => return Fetched::Unavailable,
        };
        let found = db::load_subscriber(&mut client, username);
        // A failed statement may leave the connection unusable: drop it.
        self.put_back(found.is_ok().then_some(client));
        Fetched::Done(found)
    }

    /// Whether the database can be reached now (a connection opened or idle).
    pub fn reachable(&self) -> bool {
        match self.take() {
            Taken::Client(Ok(c)) => {
                self.put_back(Some(c));
                true
            }
            Taken::Client(Err(_)) => {
                self.put_back(None);
                false
            }
            Taken::Busy => true,
            Taken::Unavailable => false,
        }
    }

    /// Closes the connections (the snapshot is loaded: no more lookups).
    pub fn close(&self) {
        let mut s = self.state.lock();
        s.closed = true;
        s.idle.clear();
    }
}
