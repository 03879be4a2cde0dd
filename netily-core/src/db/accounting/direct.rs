//! [`DirectWriter`]: packets applied straight to PostgreSQL, one commit
//! each, the caller waiting for the outcome. For tests of the accounting
//! rules and for tools that replay packets; the RADIUS server uses the
//! journaled [`super::AccountingStore`], which never waits on the database.
//!
//! Failure behaviour: an error is returned as it comes (nothing retried);
//! a lost connection is replaced on the next call.

use std::time::Duration;

use parking_lot::Mutex;

use super::super::error::{q, Result};
use super::sql::{writer_config, PreparedConnection};
use super::writer::commit_batch;
use super::Recorded;
use crate::accounting::Change;

pub struct DirectWriter {
    config: postgres::Config,
    conn: Mutex<Option<PreparedConnection>>,
}

impl DirectWriter {
    /// Parses the URL; connects on first use. `timeout` bounds a connect
    /// and (as statement_timeout) a statement.
    pub fn new(url: &str, timeout: Duration) -> Result<DirectWriter> {
        Ok(DirectWriter {
            config: writer_config(url, timeout)?,
            conn: Mutex::new(None),
        })
    }

    /// Applies one change and says what it did.
    pub fn record(&self, change: &Change) -> Result<Recorded> {
        if let Change::Ignore { .. } = change {
            return Ok(Recorded::Ignored);
        }
        let what = "recording accounting in radacct";
        let mut conn = self.conn.lock();
        let c = match &mut *conn {
            Some(c) => c,
            None => conn.insert(PreparedConnection::open(&self.config).map_err(q(what))?),
        };
        match commit_batch(c, std::slice::from_ref(change)) {
            Ok(mut results) => results.pop().unwrap_or(Ok(Recorded::Ignored)),
            Err(e) => {
                *conn = None;
                Err(q(what)(e))
            }
        }
    }
}
