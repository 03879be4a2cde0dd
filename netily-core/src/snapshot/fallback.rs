//! Logins before the first load completes: one bounded database lookup of
//! the username (the same server-side function a targeted reload uses), so
//! a radiusd that starts beside 1,000,000 subscribers serves at once
//! instead of failing until its snapshot is in.
//!
//! Bounds, so no request thread waits long or piles up: at most
//! [`MAX_CONNECTIONS`] connections; while all are lent out, at most
//! [`MAX_WAITING`] logins wait for one (woken when one is given back or the
//! load completes), each until the caller's deadline, and any more get
//! [`Fetched::Busy`] at once; each connect and statement bounded by
//! `timeout`; after a failure, no attempt for [`FAIL_FAST`] (the caller
//! answers fail, the NAS retries). So a login waits at most its deadline
//! plus one connect and one statement.
//! Used only until the snapshot is loaded; the connections close then.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::db::{self, Client};
use crate::model::SubscriberRecord;

const MAX_CONNECTIONS: usize = 4;
/// Logins waiting for a connection at most: the rest of radiusd's request
/// threads stay free for subscribers already in memory.
const MAX_WAITING: usize = 2 * MAX_CONNECTIONS;
const FAIL_FAST: Duration = Duration::from_secs(1);

pub(super) struct Fallback {
    url: String,
    timeout: Duration,
    state: Mutex<State>,
    /// Signalled when a connection is given back, a lookup fails, or the
    /// fallback closes.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Client>,
    /// Connections lent out or being opened.
    busy: usize,
    /// Logins waiting for a connection.
    waiting: usize,
    failed_at: Option<Instant>,
    closed: bool,
}

// Both are made and matched at once, never stored: no reason to box.
#[allow(clippy::large_enum_variant)]
enum Taken {
    Client(db::Result<Client>),
    /// Every connection lent out until the deadline, or too many waiting.
    Busy,
    /// The database failed just now.
    Unavailable,
    /// The snapshot is loaded.
    Closed,
}

/// What a lookup in the database gave.
#[allow(clippy::large_enum_variant)]
pub(super) enum Fetched {
    Done(db::Result<Option<SubscriberRecord>>),
    /// No connection was free by the deadline (other lookups hold them).
    Busy,
    /// The database failed just now: no lookup is made.
    Unavailable,
    /// The snapshot has just loaded: look there.
    Closed,
}

impl Fallback {
    pub fn new(url: String, timeout: Duration) -> Fallback {
        Fallback {
            url,
            timeout,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// A connection: an idle one, a new one while there are fewer than the
    /// maximum, or one given back before `deadline`.
    fn take(&self, deadline: Instant) -> Taken {
        let mut s = self.state.lock();
        loop {
            if s.closed {
                return Taken::Closed;
            }
            if s.failed_at.is_some_and(|t| t.elapsed() < FAIL_FAST) {
                return Taken::Unavailable;
            }
            if let Some(c) = s.idle.pop() {
                s.busy += 1;
                return Taken::Client(Ok(c));
            }
            if s.busy + s.idle.len() < MAX_CONNECTIONS {
                s.busy += 1;
                drop(s);
                return Taken::Client(db::connect_bounded(&self.url, self.timeout));
            }
            if s.waiting >= MAX_WAITING || Instant::now() >= deadline {
                return Taken::Busy;
            }
            s.waiting += 1;
            self.changed.wait_until(&mut s, deadline);
            s.waiting -= 1;
        }
    }

    fn put_back(&self, client: Option<Client>) {
        let mut s = self.state.lock();
        s.busy = s.busy.saturating_sub(1);
        match client {
            Some(c) if !s.closed => {
                s.idle.push(c);
                self.changed.notify_one();
            }
            Some(_) => {}
            None => {
                s.failed_at = Some(Instant::now());
                // Everyone waiting learns of the failure at once.
                self.changed.notify_all();
            }
        }
    }

    /// `username`'s record from the database (`Done(Ok(None))` for an
    /// unknown username); a busy fallback is waited for until `deadline`.
    pub fn fetch(&self, username: &str, deadline: Instant) -> Fetched {
        let mut client = match self.take(deadline) {
            Taken::Client(Ok(c)) => c,
            Taken::Client(Err(e)) => {
                self.put_back(None);
                return Fetched::Done(Err(e));
            }
            Taken::Busy => return Fetched::Busy,
            Taken::Unavailable => return Fetched::Unavailable,
            Taken::Closed => return Fetched::Closed,
        };
        let found = db::load_subscriber(&mut client, username);
        // A failed statement may leave the connection unusable: drop it.
        self.put_back(found.is_ok().then_some(client));
        Fetched::Done(found)
    }

    /// Whether the database can be reached now: a connection idle or newly
    /// opened, or all of them lent out to lookups (not waited for).
    pub fn reachable(&self) -> bool {
        match self.take(Instant::now()) {
            Taken::Client(Ok(c)) => {
                self.put_back(Some(c));
                true
            }
            Taken::Client(Err(_)) => {
                self.put_back(None);
                false
            }
            Taken::Busy => true,
            Taken::Unavailable | Taken::Closed => false,
        }
    }

    /// Closes the connections (the snapshot is loaded: no more lookups)
    /// and wakes the logins waiting for one.
    pub fn close(&self) {
        let mut s = self.state.lock();
        s.closed = true;
        s.idle.clear();
        self.changed.notify_all();
    }
}
