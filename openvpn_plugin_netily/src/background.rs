//! What the plugin's background threads share (the recorder, the status
//! watcher, the router refresher): a stop flag close() wakes them with, and
//! the bounded database connection. Kept apart from `state` so the threads'
//! modules do not depend back on the plugin's state.

use std::time::Duration;

use netily_core::db;
use parking_lot::{Condvar, Mutex};

/// Background threads never wait on the database longer than this to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A stop flag background threads sleep on, so close wakes them at once.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Sleeps up to `d`; true once stop was requested.
    pub fn wait(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.wake.wait_for(&mut stopped, d);
        }
        *stopped
    }

    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// A database connection for a background thread (netily-core's, so every
/// host connects alike): connect and every statement bounded, so close()
/// never waits on a stuck statement; the error never includes the password.
pub fn connect_db(url: &str) -> Result<db::Client, String> {
    db::connect_bounded(url, CONNECT_TIMEOUT).map_err(|e| e.to_string())
}
