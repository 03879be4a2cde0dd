//! Accounting into radacct, many packets per statement.
//!
//! Starts, Interim-Updates or Stops are one `INSERT ... SELECT FROM unnest
//! ... ON CONFLICT (acctuniqueid, acctstarttime) DO UPDATE ... WHERE
//! acctstoptime IS NULL`, after a lookup of each session's stored start
//! (radacct is partitioned by month of it: migration 0030):
//! the rules of `crate::accounting` are conditions in SQL, so the database
//! applies them atomically and a retransmit can never double-count (counters
//! only move up, a closed session stays closed unless Netily closed it as
//! stale: see `crate::stale_session`). Accounting-On/Off is one
//! UPDATE of the NAS's open sessions. The radacct triggers (migration 0010)
//! add each row's octet delta to the subscriber's cycle (a duplicate changes
//! nothing, so it adds nothing) and tell the snapshots which sessions opened
//! or closed.
//!
//! [`AccountingStore`] is the server side: a packet is acknowledged once it
//! is in the node's journal (`crate::journal`: written and synced, group
//! commit), then an applier thread queues the journal's packets, in order,
//! for a few writer threads that commit them in batches with the statements
//! prepared on their connections, usually one statement per batch.
//!
//! The parts, one idea each:
//! - `sql`: the statements, the connection they run on and the arrays they
//!   take;
//! - `plan`: which statements a batch needs (pure);
//! - `queue`: the packets waiting, how a batch is taken from them, and the
//!   slot a request waits on (pure but for its locks);
//! - `health`: whether the database is reachable, and the fail-fast window;
//! - `store`: [`AccountingStore`], the handle request threads call;
//! - `applier`: the journal read in order, and its cursor moved past what
//!   is committed;
//! - `writer`: the writer threads' loop, commit and replay;
//! - `direct`: one packet applied and waited for (tests, tools).
//!
//! Failure behaviour: a request waits only for the journal's disk (at most
//! the configured bound), never for PostgreSQL; a full journal refuses a
//! packet at once (the NAS retransmits it). Journaled packets are applied
//! however long the database is away, each session's in the order they
//! came; a packet the database refuses is kept aside in the journal
//! directory and logged, and the rest go on.

mod applier;
mod direct;
mod health;
mod plan;
mod queue;
mod sql;
mod store;
mod writer;

#[cfg(test)]
mod fixtures;

pub use direct::DirectWriter;
pub use store::{AccountingStore, JournalSettings};

/// What recording one packet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// In the node's journal, to be applied to PostgreSQL.
    Journaled,
    /// The session row was created or updated.
    Session,
    /// An Interim-Update reopened a session Netily had closed as stale
    /// (`crate::stale_session`): its router still reports it.
    Reopened,
    /// Nothing changed: the session was already closed (a late Interim, a
    /// duplicate Stop). The packet is still acknowledged.
    AlreadyClosed,
    /// Accounting-On/Off closed this many open sessions.
    NasSessionsClosed(u64),
    /// A status type radacct does not record.
    Ignored,
}
