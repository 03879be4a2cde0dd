//! Whether the database is reachable, as the last attempts tell.
//!
//! After a failure to reach it, writers without a connection wait
//! [`FAIL_FAST_FOR`] before they try again, so they do not all hammer a
//! dead database. An outage is logged once when it starts and once when it
//! ends. Nothing here can fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// After a failure to reach the database, no new connection for this long.
pub(super) const FAIL_FAST_FOR: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct Health {
    /// The database, without its password.
    url: String,
    failing_until: Mutex<Option<Instant>>,
    /// True while the database is known unreachable (logged once per outage).
    down: AtomicBool,
}

impl Health {
    /// Reachable until told otherwise; `url` is already redacted.
    pub(super) fn new(url: String) -> Health {
        Health {
            url,
            failing_until: Mutex::new(None),
            down: AtomicBool::new(false),
        }
    }

    /// True inside the window: do not connect yet.
    pub(super) fn failing(&self) -> bool {
        self.failing_at(Instant::now())
    }

    fn failing_at(&self, now: Instant) -> bool {
        matches!(*self.failing_until.lock(), Some(t) if now < t)
    }

    /// Records a failure to reach the database: opens the fail-fast window,
    /// and logs the outage if it is a new one.
    pub(super) fn trip(&self, detail: &str) {
        self.trip_at(Instant::now(), detail);
    }

    fn trip_at(&self, now: Instant, detail: &str) {
        *self.failing_until.lock() = Some(now + FAIL_FAST_FOR);
        if !self.down.swap(true, Ordering::AcqRel) {
            log::error!(
                "accounting: database {} unavailable ({detail}); packets are kept in the \
                 journal and applied once it is back",
                self.url
            );
        }
    }

    /// Records a commit: the window closes, and an outage is logged as over.
    pub(super) fn up(&self) {
        *self.failing_until.lock() = None;
        if self.down.swap(false, Ordering::AcqRel) {
            log::info!("accounting: database {} is back", self.url);
        }
    }

    #[cfg(test)]
    fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        Health::new("postgresql://netily@db/netily".into())
    }

    #[test]
    fn a_new_store_tries_the_database() {
        let h = health();
        assert!(!h.failing());
        assert!(!h.is_down());
    }

    #[test]
    fn after_a_failure_it_fails_fast_for_a_second_then_tries_again() {
        let h = health();
        let t = Instant::now();
        h.trip_at(t, "Connection refused");
        assert!(h.is_down());
        assert!(h.failing_at(t));
        assert!(h.failing_at(t + FAIL_FAST_FOR - Duration::from_millis(1)));
        assert!(!h.failing_at(t + FAIL_FAST_FOR));
        // Still down (logged once) until a commit says otherwise.
        assert!(h.is_down());
    }

    #[test]
    fn each_failure_extends_the_window() {
        let h = health();
        let t = Instant::now();
        h.trip_at(t, "Connection refused");
        h.trip_at(t + FAIL_FAST_FOR, "Connection refused");
        assert!(h.failing_at(t + FAIL_FAST_FOR + Duration::from_millis(500)));
    }

    #[test]
    fn a_commit_ends_the_window_and_the_outage_at_once() {
        let h = health();
        h.trip("Connection refused");
        assert!(h.failing());
        h.up();
        assert!(!h.failing());
        assert!(!h.is_down());
        // Up again while up: nothing to change.
        h.up();
        assert!(!h.failing() && !h.is_down());
    }
}
