//! The packets waiting for a writer, how a writer takes a batch of them,
//! and the slot the applier waits on for each packet's result.
//!
//! A subscriber's packets are never in two batches at once: a batch holds
//! its subscribers busy until it is committed, and their later packets wait
//! in the queue. An Accounting-On/Off is a barrier: it closes the NAS's
//! sessions that began up to its time, whoever they belong to, so it is
//! applied alone, once every packet before it is committed, and no packet
//! after it is taken until it is (else a Start in its second, committed
//! first, would be closed, or a Start before it, committed after, left
//! open). Nothing here touches the database. Failure behaviour: a
//! full queue refuses a packet at once ([`Queue::push`]; the applier's
//! window keeps it from filling); a slot not filled in time gives nothing
//! yet ([`Slot::wait_until`]).

use std::borrow::Borrow;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::super::error::Result;
use super::Recorded;
use crate::accounting::Change;

/// Packets committed together at most. Large batches are the cheapest per
/// packet (see `sql::PER_BATCH_PLAN_FROM`); this bounds one commit's time
/// (about 70 ms of PostgreSQL CPU) and what a refused batch replays one by one.
pub(super) const BATCH_MAX: usize = 2_048;
/// Packets waiting at most (all writers together): the applier's window,
/// a full batch for each of the writers and as many being read.
pub(super) const QUEUE_MAX: usize = 8_192;
/// How long a packet waits for others to share its batch. Requests are
/// answered from the journal, so this delays only when PostgreSQL shows
/// the packet (usage, sessions online), and it makes a batch of what comes
/// in meanwhile: at 10,000 packets/s, 500 in one statement instead of a
/// few dozen each.
pub(super) const LINGER: Duration = Duration::from_millis(50);

/// Where a writer puts one packet's result for the request thread waiting on it.
#[derive(Default)]
pub(super) struct Slot {
    result: Mutex<Option<Result<Recorded>>>,
    filled: Condvar,
}

impl Slot {
    pub(super) fn fill(&self, r: Result<Recorded>) {
        *self.result.lock() = Some(r);
        self.filled.notify_one();
    }

    /// The result, once filled; None if it is not by `deadline`.
    pub(super) fn wait_until(&self, deadline: Instant) -> Option<Result<Recorded>> {
        let mut result = self.result.lock();
        loop {
            if let Some(r) = result.take() {
                return Some(r);
            }
            if self.filled.wait_until(&mut result, deadline).timed_out() {
                return result.take();
            }
        }
    }
}

/// One queued packet and the slot its request waits on.
pub(super) struct Job {
    pub(super) change: Change,
    pub(super) slot: Arc<Slot>,
}

impl Borrow<Change> for Job {
    fn borrow(&self) -> &Change {
        &self.change
    }
}

/// A batch, and the subscribers it holds busy.
pub(super) struct Batch {
    pub(super) jobs: Vec<Job>,
    pub(super) keys: Vec<String>,
}

/// The packets waiting, which every writer takes from.
#[derive(Default)]
pub(super) struct Queue {
    jobs: VecDeque<Job>,
    /// Subscribers (sessions without a username: their id) in a batch that
    /// a writer is committing. Their later packets wait for that commit, so
    /// a subscriber's rows (its sessions in radacct, its usage) are only
    /// ever written by one batch at a time: the counters a batch reads are
    /// the ones it updates, and writers do not wait on each other's rows.
    busy: HashSet<String>,
    /// When the oldest packet still waiting was queued (or one queued
    /// before it: after a batch is taken, the time is kept, not searched).
    oldest: Option<Instant>,
    /// Batches taken and not yet released.
    in_flight: usize,
    /// An Accounting-On/Off is in flight: nothing else may be taken.
    barrier_in_flight: bool,
}

impl Queue {
    /// Queues a packet; gives it back when [`QUEUE_MAX`] are waiting.
    pub(super) fn push(&mut self, job: Job) -> std::result::Result<(), Job> {
        if self.jobs.len() >= QUEUE_MAX {
            return Err(job);
        }
        self.jobs.push_back(job);
        self.oldest.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// How long a writer should wait before taking a batch at `now`: zero
    /// once a full batch waits or the oldest packet has waited [`LINGER`];
    /// `idle` when nothing waits.
    pub(super) fn batch_due_in(&self, now: Instant, idle: Duration) -> Duration {
        match self.oldest {
            None => idle,
            Some(_) if self.jobs.len() >= BATCH_MAX => Duration::ZERO,
            Some(at) => LINGER.saturating_sub(now.saturating_duration_since(at)),
        }
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Takes up to [`BATCH_MAX`] packets, oldest first, of subscribers no
    /// batch holds and from before the first Accounting-On/Off waiting, and
    /// holds those subscribers busy until [`Queue::release`]. The
    /// Accounting-On/Off itself is taken alone, once it is first in line
    /// and nothing is in flight. Empty when nothing can be taken yet.
    pub(super) fn take_batch(&mut self) -> Batch {
        let mut jobs = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        if self.barrier_in_flight {
            return self.taken(jobs, keys);
        }
        if self.jobs.front().is_some_and(|j| is_barrier(&j.change)) {
            if self.in_flight == 0 {
                jobs.extend(self.jobs.pop_front());
                self.barrier_in_flight = true;
                if self.jobs.is_empty() {
                    self.oldest = None;
                }
            }
            return self.taken(jobs, keys);
        }
        let mut left = VecDeque::with_capacity(self.jobs.len());
        let mut behind_barrier = false;
        while let Some(job) = self.jobs.pop_front() {
            behind_barrier = behind_barrier || is_barrier(&job.change);
            let key = key_of(&job.change);
            let held = key.is_some_and(|k| self.busy.contains(k));
            if behind_barrier || held || jobs.len() >= BATCH_MAX {
                left.push_back(job);
                continue;
            }
            if let Some(k) = key {
                // Taken: from now on the subscriber's later packets wait.
                self.busy.insert(k.to_owned());
                keys.push(k.to_owned());
            }
            jobs.push(job);
        }
        self.jobs = left;
        if self.jobs.is_empty() {
            self.oldest = None;
        }
        // Rows locked in one order, so batches that meet wait instead of
        // deadlocking. Stable: a session's packets keep their order.
        jobs.sort_by(|a, b| lock_order(&a.change).cmp(&lock_order(&b.change)));
        self.taken(jobs, keys)
    }

    /// A batch of `jobs`, counted in flight unless empty.
    fn taken(&mut self, jobs: Vec<Job>, keys: Vec<String>) -> Batch {
        if !jobs.is_empty() {
            self.in_flight += 1;
        }
        Batch { jobs, keys }
    }

    /// Frees a committed (non-empty) batch's subscribers for the other
    /// writers, and the packets behind an Accounting-On/Off once it is
    /// committed.
    pub(super) fn release(&mut self, keys: &[String]) {
        for k in keys {
            self.busy.remove(k);
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.barrier_in_flight = false;
        }
    }
}

/// An Accounting-On/Off: it changes rows of every subscriber of a NAS.
fn is_barrier(change: &Change) -> bool {
    matches!(change, Change::NasRestart(_))
}

fn lock_order(change: &Change) -> (Option<&str>, &str) {
    match change {
        Change::NasRestart(_) | Change::Ignore { .. } => (None, ""),
        Change::Session(s) => (s.username.as_deref(), s.unique_id.as_str()),
    }
}

/// Whose rows a packet writes: the subscriber's, else (no username) the
/// session's; a NAS restart belongs to nobody.
fn key_of(change: &Change) -> Option<&str> {
    match change {
        Change::Session(s) => Some(s.username.as_deref().unwrap_or(&s.unique_id)),
        Change::NasRestart(_) | Change::Ignore { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixtures::{interim, nas_restart, session};
    use super::*;
    use crate::accounting::SessionEvent;

    fn job(change: Change) -> Job {
        Job {
            change,
            slot: Arc::default(),
        }
    }

    fn queue(changes: Vec<Change>) -> Queue {
        let mut q = Queue::default();
        for c in changes {
            assert!(q.push(job(c)).is_ok());
        }
        q
    }

    /// "event unique_id" of each packet, or "restart".
    fn names(jobs: &[Job]) -> Vec<String> {
        jobs.iter()
            .map(|j| match &j.change {
                Change::Session(s) => format!("{} {}", s.event.as_str(), s.unique_id),
                Change::NasRestart(_) => "restart".into(),
                Change::Ignore { status_type } => format!("ignore {status_type}"),
            })
            .collect()
    }

    #[test]
    fn a_subscribers_later_packets_wait_for_the_batch_holding_it() {
        let mut q = queue(vec![
            interim("a1", "alice"),
            interim("b1", "bob"),
            interim("a2", "alice"),
            interim("a1", "alice"),
        ]);
        let first = q.take_batch();
        assert_eq!(names(&first.jobs), ["interim a1", "interim b1"]);
        assert_eq!(first.keys, ["alice", "bob"]);
        // Alice is busy until the first batch is released.
        assert!(q.take_batch().jobs.is_empty());
        q.release(&first.keys);
        let second = q.take_batch();
        assert_eq!(names(&second.jobs), ["interim a2"]);
        q.release(&second.keys);
        assert_eq!(names(&q.take_batch().jobs), ["interim a1"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_session_without_a_username_is_held_by_its_id() {
        let mut q = queue(vec![
            session(SessionEvent::Start, "x", None),
            session(SessionEvent::Stop, "x", None),
            session(SessionEvent::Start, "y", None),
        ]);
        let batch = q.take_batch();
        assert_eq!(names(&batch.jobs), ["start x", "start y"]);
        assert_eq!(batch.keys, ["x", "y"]);
    }

    #[test]
    fn a_nas_restart_is_applied_alone_after_everything_before_it_and_before_everything_after() {
        let mut q = queue(vec![
            session(SessionEvent::Start, "a1", Some("alice")),
            nas_restart(),
            session(SessionEvent::Start, "b1", Some("bob")),
        ]);
        // Only what came before the restart; Bob waits behind it.
        let before = q.take_batch();
        assert_eq!(names(&before.jobs), ["start a1"]);
        // The restart waits until Alice's Start is committed.
        assert!(q.take_batch().jobs.is_empty());
        q.release(&before.keys);
        let restart = q.take_batch();
        assert_eq!(names(&restart.jobs), ["restart"]);
        assert!(restart.keys.is_empty());
        // Nothing is taken while the restart is in flight.
        assert!(q.take_batch().jobs.is_empty());
        q.release(&restart.keys);
        assert_eq!(names(&q.take_batch().jobs), ["start b1"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_nas_restart_first_in_line_waits_for_every_batch_in_flight() {
        let mut q = queue(vec![interim("a1", "alice"), interim("b1", "bob")]);
        let first = q.take_batch();
        assert!(q.push(job(nas_restart())).is_ok());
        assert!(q.take_batch().jobs.is_empty());
        q.release(&first.keys);
        assert_eq!(names(&q.take_batch().jobs), ["restart"]);
    }

    #[test]
    fn a_batch_locks_rows_in_one_order() {
        let mut q = queue(vec![
            interim("c1", "carol"),
            session(SessionEvent::Start, "z", None),
            interim("a1", "alice"),
            interim("b1", "bob"),
        ]);
        let batch = q.take_batch();
        // Sessions without a username sort first (None < Some).
        assert_eq!(
            names(&batch.jobs),
            ["start z", "interim a1", "interim b1", "interim c1"]
        );
    }

    #[test]
    fn a_batch_holds_at_most_batch_max_packets_and_the_rest_keep_their_order() {
        let users: Vec<String> = (0..BATCH_MAX + 2).map(|i| format!("u{i:04}")).collect();
        let mut q = queue(users.iter().map(|u| interim(u, u)).collect());
        let batch = q.take_batch();
        assert_eq!(batch.jobs.len(), BATCH_MAX);
        assert_eq!(batch.keys.len(), BATCH_MAX);
        let rest = q.take_batch();
        let expected: Vec<String> = users[BATCH_MAX..]
            .iter()
            .map(|u| format!("interim {u}"))
            .collect();
        assert_eq!(names(&rest.jobs), expected);
    }

    #[test]
    fn a_batch_is_due_once_full_or_once_its_oldest_packet_has_lingered() {
        let idle = Duration::from_millis(200);
        let mut q = Queue::default();
        let start = Instant::now();
        assert_eq!(q.batch_due_in(start, idle), idle);
        assert!(q.push(job(interim("a1", "alice"))).is_ok());
        let due = q.batch_due_in(Instant::now(), idle);
        assert!(due > Duration::ZERO && due <= LINGER, "{due:?}");
        assert_eq!(
            q.batch_due_in(Instant::now() + LINGER, idle),
            Duration::ZERO
        );
        // Taken: nothing waits, so nothing is due.
        let _ = q.take_batch();
        assert_eq!(q.batch_due_in(Instant::now() + LINGER, idle), idle);
        // A full batch is due at once.
        for i in 0..BATCH_MAX {
            assert!(q
                .push(job(interim(&format!("s{i}"), &format!("u{i}"))))
                .is_ok());
        }
        assert_eq!(q.batch_due_in(Instant::now(), idle), Duration::ZERO);
    }

    #[test]
    fn a_full_queue_refuses_a_packet_at_once() {
        let mut q = Queue::default();
        for i in 0..QUEUE_MAX {
            assert!(q.push(job(interim(&i.to_string(), "alice"))).is_ok());
        }
        let refused = q.push(job(interim("late", "bob")));
        assert_eq!(names(&[refused.expect_err("full")]), ["interim late"]);
    }

    #[test]
    fn a_request_gets_its_result_once_filled_or_nothing_at_the_deadline() {
        let slot = Arc::new(Slot::default());
        let writer = Arc::clone(&slot);
        let filler = std::thread::spawn(move || writer.fill(Ok(Recorded::Session)));
        let got = slot.wait_until(Instant::now() + Duration::from_secs(10));
        assert!(matches!(got, Some(Ok(Recorded::Session))));
        assert!(filler.join().is_ok());

        let empty = Slot::default();
        let started = Instant::now();
        assert!(empty
            .wait_until(started + Duration::from_millis(20))
            .is_none());
        assert!(started.elapsed() >= Duration::from_millis(20));

        // Filled before anyone waits: returned at once, even past the deadline.
        empty.fill(Ok(Recorded::AlreadyClosed));
        assert!(matches!(
            empty.wait_until(started),
            Some(Ok(Recorded::AlreadyClosed))
        ));
    }
}
