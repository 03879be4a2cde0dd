//! How long accounting, the authentication log and the usage rollups are
//! kept, and from when data is old enough to go.
//!
//! Everything is kept by whole UTC months: "keep 24 months" keeps the
//! current month and the 24 before it, so a month goes as one piece (radacct
//! drops it as one partition: migration 0030). 0 keeps for ever.

use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::model::UnixTime;

/// Months to keep; 0 = for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Sessions (radacct).
    pub radacct_months: u32,
    /// The authentication log (radpostauth).
    pub radpostauth_months: u32,
    /// Usage by hour (usage_hours, router_usage_hours): days and hours of
    /// older periods are no longer reported, their months are.
    pub hourly_usage_months: u32,
    /// Usage by month (usage_months).
    pub monthly_usage_months: u32,
}

impl Default for Retention {
    /// Sessions for two years (what many regulators ask of an ISP), logins
    /// for six months, hours for three (a busy subscriber has 720 a month),
    /// months for ever.
    fn default() -> Self {
        Retention {
            radacct_months: 24,
            radpostauth_months: 6,
            hourly_usage_months: 3,
            monthly_usage_months: 0,
        }
    }
}

/// radacct months the enforcer creates ahead of the current one, so a month
/// never begins in the default partition.
pub const MONTHS_AHEAD: u32 = 2;

/// The start of the UTC month `months` after (negative: before) the one
/// holding `now`; the calendar's first or last day past its ends.
pub fn month_start(now: UnixTime, months: i64) -> UnixTime {
    let today = OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date();
    let first = i32::try_from(months)
        .ok()
        .and_then(|shift| crate::usage::month_start(today.year(), today.month(), shift))
        .unwrap_or(if months < 0 { Date::MIN } else { Date::MAX });
    first.midnight().assume_utc().unix_timestamp()
}

/// Rows from before this instant go, when `months` are kept; None for ever.
pub fn cutoff(now: UnixTime, months: u32) -> Option<UnixTime> {
    (months > 0).then(|| month_start(now, -i64::from(months)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-03 07:00 UTC.
    const NOW: UnixTime = 1_796_281_200;
    const DEC_2026: UnixTime = 1_796_083_200;

    #[test]
    fn a_month_begins_at_midnight_utc_on_its_first_day() {
        assert_eq!(month_start(NOW, 0), DEC_2026);
        assert_eq!(month_start(DEC_2026, 0), DEC_2026);
        assert_eq!(month_start(DEC_2026 - 1, 0), 1_793_491_200); // 2026-11-01
        assert_eq!(month_start(NOW, 1), 1_798_761_600); // 2027-01-01
        assert_eq!(month_start(NOW, -12), 1_764_547_200); // 2025-12-01
        assert_eq!(month_start(NOW, -23), 1_735_689_600); // 2025-01-01
    }

    #[test]
    fn keeping_n_months_keeps_the_current_one_and_n_before_it() {
        assert_eq!(cutoff(NOW, 1), Some(1_793_491_200)); // from 2026-11-01
        assert_eq!(cutoff(NOW, 24), Some(month_start(NOW, -24)));
        assert_eq!(cutoff(NOW, 0), None);
    }

    #[test]
    fn months_far_off_saturate_instead_of_wrapping() {
        assert_eq!(
            month_start(NOW, i64::MIN / 2),
            Date::MIN.midnight().assume_utc().unix_timestamp()
        );
        assert!(month_start(NOW, 1_000_000_000) > NOW);
        assert_eq!(
            cutoff(NOW, u32::MAX),
            Some(month_start(NOW, -i64::from(u32::MAX)))
        );
    }

    #[test]
    fn by_default_sessions_outlive_logins_and_months_are_kept_for_ever() {
        let r = Retention::default();
        assert!(r.radacct_months > r.radpostauth_months);
        assert!(r.radacct_months > r.hourly_usage_months);
        assert_eq!(r.monthly_usage_months, 0);
    }
}
