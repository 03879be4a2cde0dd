//! Log lines that every request or packet could write alike (a database
//! outage, a NAS sending the same nonsense), written at most once per
//! period with exact counts of the lines left out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a line of one rate-limited kind is written at most.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// One kind of log line that is written at most once per period (the
/// database down makes every request fail alike: a line each would be
/// megabytes a minute). The lines left out are counted exactly; the next
/// line written says how many, and [`RateLimited::take_suppressed`] gives
/// the rest for a closing line.
pub struct RateLimited {
    every: Duration,
    last: Mutex<Option<Instant>>,
    /// Lines left out since the last one written; changed under `last`.
    suppressed: AtomicU64,
}

impl RateLimited {
    pub const fn new(every: Duration) -> RateLimited {
        RateLimited {
            every,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// One more occurrence: `Some(n)` when its line may be written now (and
    /// a new period starts), `n` lines having been left out since the last
    /// one; `None` when it is left out (and counted).
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        // A panic elsewhere leaves a valid Option<Instant> behind.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }

    /// The line `text` for one more occurrence, ending in how many were
    /// left out before it; `None` when this one is left out.
    pub fn line(&self, text: impl FnOnce() -> String) -> Option<String> {
        self.admit_at(Instant::now())
            .map(|n| with_suppressed(text(), n))
    }

    /// The lines left out and not yet reported (then 0): for a closing
    /// line once the cause is gone. One atomic load when there are none.
    pub fn take_suppressed(&self) -> u64 {
        if self.suppressed.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let _last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

impl RateLimited {
    /// As [`RateLimited::take_suppressed`], but only once a period has
    /// passed since the last line (which then starts a new one): for a
    /// cause that may come and go (a journal at its bound takes one packet
    /// and refuses the next), so that the closing lines are rate-limited
    /// too. What is not reported yet stays counted.
    pub fn take_suppressed_when_due(&self) -> u64 {
        self.take_suppressed_when_due_at(Instant::now())
    }

    fn take_suppressed_when_due_at(&self, now: Instant) -> u64 {
        if self.suppressed.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*last, Some(t) if now.saturating_duration_since(t) < self.every) {
            return 0;
        }
        *last = Some(now);
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

/// `text`, then how many lines like it were left out (if any).
fn with_suppressed(text: String, suppressed: u64) -> String {
    if suppressed == 0 {
        text
    } else {
        format!("{text} ({suppressed} more like this suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limited_line_is_written_once_a_period_and_counts_what_it_left_out() {
        let limit = RateLimited::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(limit.admit_at(at(0)), Some(0), "the first is written");
        for s in 1..10 {
            assert_eq!(limit.admit_at(at(s)), None);
        }
        assert_eq!(
            limit.admit_at(at(10)),
            Some(9),
            "the next period says 9 left out"
        );
        assert_eq!(limit.admit_at(at(12)), None);
        assert_eq!(limit.admit_at(at(13)), None);
        // The cause is gone: a closing line reports the rest, exactly once.
        assert_eq!(limit.take_suppressed(), 2);
        assert_eq!(limit.take_suppressed(), 0);
        assert_eq!(limit.admit_at(at(14)), None, "still the same period");
        assert_eq!(limit.admit_at(at(25)), Some(1));
    }

    #[test]
    fn a_flood_of_one_line_from_many_threads_is_counted_exactly() {
        let limit = std::sync::Arc::new(RateLimited::new(Duration::from_secs(3600)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limit = std::sync::Arc::clone(&limit);
                std::thread::spawn(move || {
                    (0..1_000)
                        .filter_map(|i| limit.line(|| format!("failure {i}")))
                        .count()
                })
            })
            .collect();
        let written: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(written, 1);
        assert_eq!(limit.take_suppressed(), 7_999);
        assert_eq!(
            with_suppressed("accounting not recorded: x".into(), 7_999),
            "accounting not recorded: x (7999 more like this suppressed)"
        );
        assert_eq!(with_suppressed("y".into(), 0), "y");
    }

    #[test]
    fn a_closing_count_waits_for_the_period_and_keeps_what_it_has_not_said() {
        let limit = RateLimited::new(Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(limit.admit_at(t), Some(0));
        assert_eq!(limit.admit_at(t + Duration::from_secs(1)), None);
        assert_eq!(limit.admit_at(t + Duration::from_secs(2)), None);
        // Too soon after the line: nothing yet, nothing lost.
        assert_eq!(
            limit.take_suppressed_when_due_at(t + Duration::from_secs(3)),
            0
        );
        assert_eq!(
            limit.take_suppressed_when_due_at(t + Duration::from_secs(10)),
            2
        );
        assert_eq!(
            limit.take_suppressed_when_due_at(t + Duration::from_secs(30)),
            0
        );
        // A new period began with the closing line.
        assert_eq!(limit.admit_at(t + Duration::from_secs(11)), None);
    }
}
