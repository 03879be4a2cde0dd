//! Usage reports' rules: which days a period names, how rows are grouped,
//! and where a subscriber stands against the cap. Pure; the sums live in
//! PostgreSQL (migration 0029, `db::usage`).
//!
//! Periods are calendar days of the ISP's zone (`timezone` in netily.conf):
//! a period is a half-open range of local dates `[first, end)`, which
//! `db::usage` turns into UTC instants in that zone. The date of "today"
//! comes from the database in that zone too, so every tool agrees.

use std::fmt;

use serde::Serialize;
use time::{Date, Duration, Month};

use crate::cycle::CycleUsage;

/// How a subscriber's usage is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
    Month,
    /// The subscriber's billing cycles.
    Cycle,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "month" => Some(Bucket::Month),
            "cycle" => Some(Bucket::Cycle),
            _ => None,
        }
    }

    /// date_trunc's field for it (None: cycles are not calendar units).
    pub fn calendar_unit(self) -> Option<&'static str> {
        match self {
            Bucket::Hour => Some("hour"),
            Bucket::Day => Some("day"),
            Bucket::Month => Some("month"),
            Bucket::Cycle => None,
        }
    }
}

/// What `--period` accepts, in words an operator types.
pub const PERIODS: &str = "today, yesterday, 7d, 30d, month, last-month, 12m, \
                           YYYY-MM (a month) or YYYY-MM-DD (a day)";

/// A named stretch of days, relative to today where it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Yesterday,
    /// The last N days, today included.
    LastDays(u16),
    ThisMonth,
    LastMonth,
    /// The last N months, this one included.
    LastMonths(u16),
    Month(i32, Month),
    Day(Date),
    /// From the first date to the last, both included.
    Dates(Date, Date),
}

/// A period that cannot be read: what was given, and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPeriod(pub String);

impl fmt::Display for BadPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for BadPeriod {}

/// The longest period a report covers (days): ten years, so every date sum
/// stays far inside the calendar.
pub const MAX_PERIOD_DAYS: i64 = 3660;

impl Period {
    pub fn parse(s: &str) -> Result<Period, BadPeriod> {
        let bad = || BadPeriod(format!("period '{s}' is not one of: {PERIODS}"));
        match s {
            "today" => return Ok(Period::Today),
            "yesterday" => return Ok(Period::Yesterday),
            "month" => return Ok(Period::ThisMonth),
            "last-month" => return Ok(Period::LastMonth),
            _ => {}
        }
        let count = |digits: &str| {
            digits
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=3660).contains(n))
        };
        if let Some(n) = s.strip_suffix('d').and_then(count) {
            return Ok(Period::LastDays(n));
        }
        if let Some(n) = s.strip_suffix('m').and_then(count).filter(|n| *n <= 120) {
            return Ok(Period::LastMonths(n));
        }
        match s.len() {
            7 => {
                let (y, m) = parse_year_month(s).ok_or_else(bad)?;
                Ok(Period::Month(y, m))
            }
            10 => parse_date(s).map(Period::Day).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// The local dates `[first, end)` this period covers, today being `today`.
    pub fn dates(self, today: Date) -> Result<(Date, Date), BadPeriod> {
        let overflow = || BadPeriod("the period runs past the calendar".into());
        let next = |d: Date| d.next_day().ok_or_else(overflow);
        let (first, end) = match self {
            Period::Today => (today, next(today)?),
            Period::Yesterday => (today.previous_day().ok_or_else(overflow)?, today),
            Period::LastDays(n) => (
                today
                    .checked_sub(Duration::days(i64::from(n) - 1))
                    .ok_or_else(overflow)?,
                next(today)?,
            ),
            Period::ThisMonth => {
                month_span(today.year(), today.month(), 0, 1).ok_or_else(overflow)?
            }
            Period::LastMonth => {
                month_span(today.year(), today.month(), -1, 1).ok_or_else(overflow)?
            }
            Period::LastMonths(n) => {
                let back = -i32::from(n) + 1;
                month_span(today.year(), today.month(), back, i32::from(n)).ok_or_else(overflow)?
            }
            Period::Month(y, m) => month_span(y, m, 0, 1).ok_or_else(overflow)?,
            Period::Day(d) => (d, next(d)?),
            Period::Dates(a, b) => {
                if b < a {
                    return Err(BadPeriod(format!("--to {b} is before --from {a}")));
                }
                (a, next(b)?)
            }
        };
        if (end - first).whole_days() > MAX_PERIOD_DAYS {
            return Err(BadPeriod(format!(
                "a report covers at most {MAX_PERIOD_DAYS} days"
            )));
        }
        Ok((first, end))
    }
}

/// `YYYY-MM-DD`, a real date.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m) = parse_year_month(&s[..7])?;
    let d: u8 = digits(&s[8..10])?.try_into().ok()?;
    Date::from_calendar_date(y, m, d).ok()
}

fn parse_year_month(s: &str) -> Option<(i32, Month)> {
    if s.len() != 7 || s.as_bytes()[4] != b'-' {
        return None;
    }
    let y = i32::try_from(digits(&s[..4])?).ok()?;
    let m = Month::try_from(u8::try_from(digits(&s[5..7])?).ok()?).ok()?;
    (1970..=9998).contains(&y).then_some((y, m))
}

/// Only ASCII digits (no sign, no spaces).
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `count` months from the month `shift` months after (y, m).
fn month_span(y: i32, m: Month, shift: i32, count: i32) -> Option<(Date, Date)> {
    let first = month_start(y, m, shift)?;
    let end = month_start(y, m, shift + count)?;
    Some((first, end))
}

/// The first day of the month `shift` months after (y, m); None past the
/// calendar's ends.
pub(crate) fn month_start(y: i32, m: Month, shift: i32) -> Option<Date> {
    let index = y
        .checked_mul(12)?
        .checked_add(i32::from(u8::from(m)) - 1)?
        .checked_add(shift)?;
    let year = index.div_euclid(12);
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    Date::from_calendar_date(year, month, 1).ok()
}

/// Traffic and time online over some stretch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Octets from the subscriber (Acct-Input-Octets).
    pub bytes_up: u64,
    /// Octets to the subscriber (Acct-Output-Octets).
    pub bytes_down: u64,
    pub seconds_online: u64,
    /// Sessions begun.
    pub sessions: u64,
}

impl Totals {
    pub fn bytes(&self) -> u64 {
        self.bytes_up.saturating_add(self.bytes_down)
    }

    pub fn add(&mut self, other: &Totals) {
        self.bytes_up = self.bytes_up.saturating_add(other.bytes_up);
        self.bytes_down = self.bytes_down.saturating_add(other.bytes_down);
        self.seconds_online = self.seconds_online.saturating_add(other.seconds_online);
        self.sessions = self.sessions.saturating_add(other.sessions);
    }
}

/// Where a subscriber stands against the plan's cap in the current cycle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CapStanding {
    pub cycle_start: i64,
    pub cycle_end: i64,
    pub used_bytes: u64,
    /// None: the plan has no cap.
    pub cap_bytes: Option<u64>,
    pub remaining_bytes: Option<u64>,
    /// Used as a share of the cap, in percent (one decimal).
    pub percent_of_cap: Option<f64>,
    pub over_cap: bool,
}

impl CapStanding {
    pub fn of(c: &CycleUsage) -> CapStanding {
        let cap = c.cap_bytes;
        CapStanding {
            cycle_start: c.cycle.start,
            cycle_end: c.cycle.end,
            used_bytes: c.usage_bytes,
            cap_bytes: cap,
            remaining_bytes: cap.map(|cap| cap.saturating_sub(c.usage_bytes)),
            percent_of_cap: cap
                .filter(|cap| *cap > 0)
                .map(|cap| (c.usage_bytes as f64 * 1000.0 / cap as f64).round() / 10.0),
            over_cap: cap.is_some_and(|cap| c.usage_bytes >= cap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::Cycle;

    fn date(s: &str) -> Date {
        parse_date(s).expect("a date")
    }

    fn span(p: &str, today: &str) -> (String, String) {
        let (a, b) = Period::parse(p)
            .expect("a period")
            .dates(date(today))
            .expect("in range");
        (a.to_string(), b.to_string())
    }

    #[test]
    fn periods_name_local_days_half_open() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(span("today", "2026-03-01"), s("2026-03-01", "2026-03-02"));
        assert_eq!(
            span("yesterday", "2026-03-01"),
            s("2026-02-28", "2026-03-01")
        );
        assert_eq!(span("7d", "2026-03-03"), s("2026-02-25", "2026-03-04"));
        assert_eq!(span("month", "2026-12-31"), s("2026-12-01", "2027-01-01"));
        assert_eq!(
            span("last-month", "2026-01-15"),
            s("2025-12-01", "2026-01-01")
        );
        assert_eq!(span("12m", "2026-01-15"), s("2025-02-01", "2026-02-01"));
        assert_eq!(span("2024-02", "2026-01-15"), s("2024-02-01", "2024-03-01"));
        assert_eq!(
            span("2024-02-29", "2026-01-15"),
            s("2024-02-29", "2024-03-01")
        );
    }

    #[test]
    fn a_date_range_includes_its_last_day_and_refuses_a_reversed_one() {
        let p = Period::Dates(date("2026-11-01"), date("2026-11-30"));
        let (a, b) = p.dates(date("2026-12-03")).expect("a range");
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-11-01".into(), "2026-12-01".into())
        );
        let reversed = Period::Dates(date("2026-11-30"), date("2026-11-01"));
        let e = reversed.dates(date("2026-12-03")).expect_err("reversed");
        assert!(e.0.contains("before"), "{e}");
    }

    #[test]
    fn bad_periods_are_refused_with_what_is_accepted() {
        for bad in [
            "",
            "week",
            "0d",
            "-3d",
            "9999d",
            "2026-13",
            "2026-02-30",
            "2026-2-01",
            "+2026-01",
            "121m",
            "2026-01-01x",
            "１２m",
        ] {
            let e = Period::parse(bad).expect_err(bad);
            assert!(e.0.contains("today, yesterday"), "{bad}: {e}");
        }
        let e = Period::Dates(date("2000-01-01"), date("2026-01-01"))
            .dates(date("2026-01-01"))
            .expect_err("too long");
        assert!(e.0.contains("at most"), "{e}");
    }

    #[test]
    fn buckets_are_read_by_name() {
        assert_eq!(Bucket::parse("day"), Some(Bucket::Day));
        assert_eq!(Bucket::parse("cycle"), Some(Bucket::Cycle));
        assert_eq!(Bucket::parse("week"), None);
        assert_eq!(Bucket::Cycle.calendar_unit(), None);
        assert_eq!(Bucket::Hour.calendar_unit(), Some("hour"));
    }

    #[test]
    fn the_cap_standing_says_what_is_left_and_saturates() {
        let c = CycleUsage {
            cycle: Cycle { start: 0, end: 10 },
            usage_bytes: 7_500,
            cap_bytes: Some(10_000),
            cycle_days: None,
        };
        let s = CapStanding::of(&c);
        assert_eq!(s.remaining_bytes, Some(2_500));
        assert_eq!(s.percent_of_cap, Some(75.0));
        assert!(!s.over_cap);
        let over = CapStanding::of(&CycleUsage {
            usage_bytes: 12_000,
            ..c
        });
        assert_eq!(over.remaining_bytes, Some(0));
        assert!(over.over_cap);
        let uncapped = CapStanding::of(&CycleUsage {
            cap_bytes: None,
            ..c
        });
        assert_eq!(
            (uncapped.remaining_bytes, uncapped.percent_of_cap),
            (None, None)
        );
        let zero = CapStanding::of(&CycleUsage {
            cap_bytes: Some(0),
            ..c
        });
        assert_eq!(zero.percent_of_cap, None);
        assert!(zero.over_cap);
    }

    #[test]
    fn totals_add_without_overflow() {
        let mut t = Totals {
            bytes_up: u64::MAX - 1,
            bytes_down: 5,
            seconds_online: 1,
            sessions: 1,
        };
        t.add(&Totals {
            bytes_up: 10,
            bytes_down: 5,
            seconds_online: 2,
            sessions: 1,
        });
        assert_eq!(t.bytes_up, u64::MAX);
        assert_eq!(t.bytes(), u64::MAX);
        assert_eq!((t.bytes_down, t.seconds_online, t.sessions), (10, 3, 2));
    }
}
