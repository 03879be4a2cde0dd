//! Billing cycles: the fair-use cap counts the usage of one cycle.
//!
//! A subscription's cycles are monthly, anchored at the start of its first
//! cycle (`subscriptions.cycle_start`, the subscription's start unless set
//! otherwise): cycle `n` starts `n` months after the anchor, on the anchor's
//! day of the month at the anchor's time of day (UTC). A month without that
//! day ends the day early: anchored on the 31st, a cycle starts on February
//! 28th (29th in a leap year), April 30th, then March 31st again; each start
//! is counted from the anchor, never from the previous start, so a short
//! month does not pull later cycles earlier. Cycles are half-open like every
//! period here: `[start, end)`, and `end` is the next cycle's start.
//!
//! Nothing rolls a cycle over: usage is stored per cycle (the cycle of each
//! accounting event's time, `netily_cycle_start` in SQL, migration 0017,
//! computes the same as [`cycle_at`]) and a decision reads the usage of the
//! cycle of its `now`, so a new cycle starts at zero at its first second.

use serde::Serialize;

use crate::billing::civil_from_days;
use crate::model::{SubscriberRecord, UnixTime, SECONDS_PER_DAY};

/// One billing cycle: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cycle {
    pub start: UnixTime,
    /// The first second of the next cycle.
    pub end: UnixTime,
}

impl Cycle {
    pub fn contains(&self, t: UnixTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// The cycle of the subscription anchored at `anchor` that contains `at`
/// (also before the anchor: cycles extend both ways).
pub fn cycle_at(anchor: UnixTime, at: UnixTime) -> Cycle {
    let anchor = Anchor::of(anchor);
    let (year, month, _) = civil_from_days(at.div_euclid(SECONDS_PER_DAY));
    // The cycle starting in `at`'s month, or else the one before it.
    let mut n = (year - anchor.year) * 12 + i64::from(month) - i64::from(anchor.month);
    if anchor.start_of(n) > at {
        n -= 1;
    }
    Cycle {
        start: anchor.start_of(n),
        end: anchor.start_of(n.saturating_add(1)),
    }
}

/// The usage a record holds for the cycle of `now`: its stored usage when
/// that was counted for this very cycle, else 0 (a cycle that began after
/// the record was loaded has seen no usage yet as far as this record goes;
/// the accounting writer notifies when the new cycle's usage crosses the cap).
pub fn usage_now(record: &SubscriberRecord, now: UnixTime) -> u64 {
    match (&record.subscription, record.usage_cycle_start) {
        (Some(s), Some(counted)) if cycle_at(s.cycle_start, now).start == counted => {
            record.cycle_usage_bytes
        }
        _ => 0,
    }
}

/// A subscriber's billing cycle of a moment, with its usage and the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CycleUsage {
    #[serde(flatten)]
    pub cycle: Cycle,
    pub usage_bytes: u64,
    /// The plan's data cap, if it has one.
    pub cap_bytes: Option<u64>,
}

/// The cycle of `now` with what the decision reads of it; None without a
/// subscription.
pub fn cycle_usage(record: &SubscriberRecord, now: UnixTime) -> Option<CycleUsage> {
    let subscription = record.subscription.as_ref()?;
    Some(CycleUsage {
        cycle: cycle_at(subscription.cycle_start, now),
        usage_bytes: usage_now(record, now),
        cap_bytes: record.plan.as_ref().and_then(|p| p.data_cap_bytes),
    })
}

/// An anchor split into calendar parts.
struct Anchor {
    year: i64,
    month: u32,
    day: u32,
    second_of_day: i64,
}

impl Anchor {
    fn of(t: UnixTime) -> Anchor {
        let (year, month, day) = civil_from_days(t.div_euclid(SECONDS_PER_DAY));
        Anchor {
            year,
            month,
            day,
            second_of_day: t.rem_euclid(SECONDS_PER_DAY),
        }
    }

    /// The start of cycle `n`: `n` months after the anchor, its day clamped
    /// to the month's length. Saturates at the ends of time.
    fn start_of(&self, n: i64) -> UnixTime {
        let months = (self.year * 12 + i64::from(self.month) - 1).saturating_add(n);
        let (year, month) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
        let day = self.day.min(days_in_month(year, month));
        days_from_civil(year, month, day)
            .saturating_mul(SECONDS_PER_DAY)
            .saturating_add(self.second_of_day)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's
/// days_from_civil, the inverse of `billing::civil_from_days`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.saturating_mul(146_097).saturating_add(doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::format_utc;

    /// `YYYY-MM-DD HH:MM:SS` (UTC) to a Unix time.
    fn t(s: &str) -> UnixTime {
        let n =
            |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or_else(|e| panic!("{s}: {e}"));
        let days = days_from_civil(n(0..4), n(5..7) as u32, n(8..10) as u32);
        days * SECONDS_PER_DAY + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
    }

    /// Asserts the cycle of each (anchor, at) is [start, end).
    fn assert_cycles(cases: &[(&str, &str, &str, &str)]) {
        for &(anchor, at, start, end) in cases {
            let c = cycle_at(t(anchor), t(at));
            assert!(c.contains(t(at)), "{anchor} {at}: {c:?}");
            assert_eq!(
                (format_utc(c.start), format_utc(c.end)),
                (format!("{start} UTC"), format!("{end} UTC")),
                "anchor {anchor}, at {at}"
            );
        }
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-719_468, -1, 0, 1, 59, 60, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(
            format_utc(t("2024-02-29 23:59:59")),
            "2024-02-29 23:59:59 UTC"
        );
    }

    #[test]
    fn cycles_roll_over_monthly_on_the_anchor_day_and_time() {
        let anchor = "2026-01-15 09:30:00";
        assert_cycles(&[
            (
                anchor,
                "2026-01-15 09:30:00",
                "2026-01-15 09:30:00",
                "2026-02-15 09:30:00",
            ),
            (
                anchor,
                "2026-02-15 09:29:59",
                "2026-01-15 09:30:00",
                "2026-02-15 09:30:00",
            ),
            // The new cycle begins at the anchor's second, not at midnight.
            (
                anchor,
                "2026-02-15 09:30:00",
                "2026-02-15 09:30:00",
                "2026-03-15 09:30:00",
            ),
            // Years later, and across a year end.
            (
                anchor,
                "2029-12-31 23:59:59",
                "2029-12-15 09:30:00",
                "2030-01-15 09:30:00",
            ),
        ]);
    }

    #[test]
    fn an_anchor_on_the_31st_starts_short_months_on_their_last_day() {
        let anchor = "2023-01-31 00:00:00";
        assert_cycles(&[
            (
                anchor,
                "2023-02-28 00:00:00",
                "2023-02-28 00:00:00",
                "2023-03-31 00:00:00",
            ),
            (
                anchor,
                "2023-02-27 23:59:59",
                "2023-01-31 00:00:00",
                "2023-02-28 00:00:00",
            ),
            // A leap year's February, then back to the 31st.
            (
                anchor,
                "2024-03-01 12:00:00",
                "2024-02-29 00:00:00",
                "2024-03-31 00:00:00",
            ),
            (
                anchor,
                "2024-04-30 00:00:00",
                "2024-04-30 00:00:00",
                "2024-05-31 00:00:00",
            ),
            // On the 29th: February 28th except in leap years.
            (
                "2024-01-29 06:00:00",
                "2025-03-01 00:00:00",
                "2025-02-28 06:00:00",
                "2025-03-29 06:00:00",
            ),
        ]);
    }

    #[test]
    fn cycles_extend_before_the_anchor() {
        assert_cycles(&[(
            "2026-03-31 00:00:00",
            "2026-03-01 00:00:00",
            "2026-02-28 00:00:00",
            "2026-03-31 00:00:00",
        )]);
    }

    #[test]
    fn every_second_is_in_exactly_one_cycle() {
        let anchor = t("2024-01-31 22:00:00");
        let mut at = anchor - 400 * SECONDS_PER_DAY;
        let mut previous = cycle_at(anchor, at);
        while at < anchor + 800 * SECONDS_PER_DAY {
            at += 3_599;
            let c = cycle_at(anchor, at);
            assert!(c.contains(at), "{c:?} {at}");
            assert!(
                c == previous || c.start == previous.end,
                "{previous:?} then {c:?}"
            );
            assert!((28..=31).contains(&((c.end - c.start) / SECONDS_PER_DAY)));
            previous = c;
        }
    }

    #[test]
    fn the_ends_of_time_do_not_overflow() {
        for (anchor, at) in [
            (0, i64::MAX),
            (0, i64::MIN),
            (i64::MAX, 0),
            (i64::MIN, i64::MAX),
        ] {
            let c = cycle_at(anchor, at);
            assert!(c.start <= c.end, "{anchor} {at}: {c:?}");
        }
    }
}
