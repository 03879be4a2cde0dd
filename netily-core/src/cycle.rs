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
//! A plan may have its own period instead (`Plan::cycle_days`, e.g. 1 for
//! a hotspot day pass, 7 for a weekly plan): cycle `n` then starts exactly
//! `n * days * 86400` seconds after the anchor (UTC seconds, so no time zone
//! moves it), also before the anchor. [`cycle_of`] picks the plan's rule.
//!
//! Nothing rolls a cycle over: usage is stored per cycle (the cycle of each
//! accounting event's time, `netily_cycle_start` in SQL, migration 0017,
//! and its 3-argument form, migration 0021, compute the same as
//! [`cycle_of`]) and a decision reads the usage of the
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

/// The longest period a plan may have, in days (the CHECK of migration 0021).
pub const MAX_CYCLE_DAYS: u32 = 3660;

/// The cycle that contains `at` of a subscription anchored at `anchor` on a
/// plan with `days`-day cycles, or monthly ones when `days` is None.
pub fn cycle_of(anchor: UnixTime, days: Option<u32>, at: UnixTime) -> Cycle {
    match days {
        None => cycle_at(anchor, at),
        Some(days) => cycle_every(anchor, days, at),
    }
}

/// The `days`-day cycle (at least 1 day) anchored at `anchor` that contains
/// `at`; computed in i128 and clamped to the ends of time, so no input
/// overflows.
pub fn cycle_every(anchor: UnixTime, days: u32, at: UnixTime) -> Cycle {
    let period = i128::from(days.max(1)) * i128::from(SECONDS_PER_DAY);
    let n = (i128::from(at) - i128::from(anchor)).div_euclid(period);
    let start = i128::from(anchor) + n * period;
    let clamp = |t: i128| i64::try_from(t).unwrap_or(if t < 0 { i64::MIN } else { i64::MAX });
    Cycle {
        start: clamp(start),
        end: clamp(start + period),
    }
}

/// The cycle of `now` for a record's subscription and plan (None without a
/// subscription).
pub fn record_cycle(record: &SubscriberRecord, now: UnixTime) -> Option<Cycle> {
    let s = record.subscription.as_ref()?;
    let days = record.plan.as_ref().and_then(|p| p.cycle_days);
    Some(cycle_of(s.cycle_start, days, now))
}

/// The usage a record holds for the cycle of `now`: its stored usage when
/// that was counted for this very cycle, else 0 (a cycle that began after
/// the record was loaded has seen no usage yet as far as this record goes;
/// the accounting writer notifies when the new cycle's usage crosses the cap).
pub fn usage_now(record: &SubscriberRecord, now: UnixTime) -> u64 {
    match (record_cycle(record, now), record.usage_cycle_start) {
        (Some(c), Some(counted)) if c.start == counted => record.cycle_usage_bytes,
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
    /// The plan's period in days; None is monthly on the anchor day.
    pub cycle_days: Option<u32>,
}

/// The cycle of `now` with what the decision reads of it; None without a
/// subscription.
pub fn cycle_usage(record: &SubscriberRecord, now: UnixTime) -> Option<CycleUsage> {
    Some(CycleUsage {
        cycle: record_cycle(record, now)?,
        usage_bytes: usage_now(record, now),
        cap_bytes: record.plan.as_ref().and_then(|p| p.data_cap_bytes),
        cycle_days: record.plan.as_ref().and_then(|p| p.cycle_days),
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

    #[test]
    fn n_day_cycles_start_every_n_days_at_the_anchor_second() {
        let anchor = t("2026-03-28 09:30:00");
        let day = |days, at: &str| {
            let c = cycle_of(anchor, Some(days), t(at));
            (format_utc(c.start), format_utc(c.end))
        };
        let s = |x: &str| format!("{x} UTC");
        // A day pass: the boundary is the anchor's second, each day.
        assert_eq!(
            day(1, "2026-03-28 09:30:00"),
            (s("2026-03-28 09:30:00"), s("2026-03-29 09:30:00"))
        );
        assert_eq!(
            day(1, "2026-03-29 09:29:59"),
            (s("2026-03-28 09:30:00"), s("2026-03-29 09:30:00"))
        );
        assert_eq!(
            day(1, "2026-03-29 09:30:00"),
            (s("2026-03-29 09:30:00"), s("2026-03-30 09:30:00"))
        );
        // Weekly, across a month end and a year end.
        assert_eq!(
            day(7, "2026-04-04 09:30:00"),
            (s("2026-04-04 09:30:00"), s("2026-04-11 09:30:00"))
        );
        assert_eq!(
            day(7, "2027-01-01 00:00:00"),
            (s("2026-12-26 09:30:00"), s("2027-01-02 09:30:00"))
        );
        // Before the anchor: cycles extend backwards.
        assert_eq!(
            day(7, "2026-03-28 09:29:59"),
            (s("2026-03-21 09:30:00"), s("2026-03-28 09:30:00"))
        );
        assert_eq!(
            day(1, "2026-01-01 00:00:00"),
            (s("2025-12-31 09:30:00"), s("2026-01-01 09:30:00"))
        );
        // The longest period allowed.
        assert_eq!(
            day(MAX_CYCLE_DAYS, "2036-03-27 00:00:00"),
            (s("2026-03-28 09:30:00"), s("2036-04-04 09:30:00"))
        );
        // No period is monthly.
        assert_eq!(
            cycle_of(anchor, None, anchor + 1),
            cycle_at(anchor, anchor + 1)
        );
    }

    #[test]
    fn every_second_is_in_exactly_one_n_day_cycle() {
        let anchor = t("2024-02-29 23:00:00");
        for days in [1, 2, 7, 30, 365] {
            let mut at = anchor - 40 * SECONDS_PER_DAY;
            let mut previous = cycle_every(anchor, days, at);
            while at < anchor + 40 * SECONDS_PER_DAY {
                at += 1_799;
                let c = cycle_every(anchor, days, at);
                assert!(c.contains(at), "{days}: {c:?} {at}");
                assert!(
                    c == previous || c.start == previous.end,
                    "{previous:?} then {c:?}"
                );
                assert_eq!(c.end - c.start, i64::from(days) * SECONDS_PER_DAY);
                assert_eq!((c.start - anchor).rem_euclid(SECONDS_PER_DAY), 0);
                previous = c;
            }
        }
    }

    #[test]
    fn n_day_cycles_at_the_ends_of_time_do_not_overflow() {
        for days in [0, 1, 7, MAX_CYCLE_DAYS, u32::MAX] {
            for (anchor, at) in [
                (0, i64::MAX),
                (0, i64::MIN),
                (i64::MAX, 0),
                (i64::MIN, i64::MAX),
                (i64::MAX, i64::MIN),
                (i64::MAX, i64::MAX),
            ] {
                let c = cycle_every(anchor, days, at);
                assert!(c.start <= c.end, "{days} {anchor} {at}: {c:?}");
            }
        }
    }
}
