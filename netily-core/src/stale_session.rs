//! Stale sessions: the rule for a session whose router stopped reporting it.
//!
//! A NAS sends an Interim-Update for every open session each interim
//! interval. A router that rebooted or lost power without sending
//! Accounting-On leaves its sessions open in `radacct` for good, and an open
//! session counts against simultaneous use: the subscriber is refused
//! ("Simultaneous-use limit reached") with nobody online. So a session is
//! *stale* when nothing was heard of it for longer than two interim
//! intervals plus a margin ([`StaleSessionSettings::margin`], config
//! `stale_session_margin`): two Interim-Updates in a row lost, and then some.
//!
//! - *Heard* is the last Interim-Update (radacct's acctupdatetime), else the
//!   Start (acctstarttime). A session with neither time is never stale:
//!   nothing says how old it is.
//! - *Its interim interval* ([`interim_interval`]) is, in this order: the
//!   gap its router actually keeps (radacct's acctinterval, the time between
//!   its last two Interim-Updates), the subscriber's plan's
//!   Acct-Interim-Interval (what Netily told the router at login), or
//!   [`StaleSessionSettings::default_interim_interval`] (config
//!   `default_interim_interval`). A zero or negative value is unknown.
//!   A NAS that sends one Interim-Update right after the Start (when the
//!   address is assigned) shows a gap of a second or two until its next
//!   regular one: the margin must absorb that period, so keep it at least
//!   the routers' interim interval (the defaults, 300 s each, do). Should a
//!   session be closed too early anyway, its next Interim-Update reopens it.
//!
//! Netily closes a stale session (`db::stale_sessions`) with terminate cause
//! [`STALE_SESSION`] and stop time = the last time heard. Unlike a session
//! its router stopped (Stop, Accounting-On/Off), which stays closed whatever
//! arrives later, a session closed as stale is only presumed gone: the next
//! Interim-Update from its router (newer than the last one heard) reopens it,
//! and its Stop records its real end (`db::accounting`).
//!
//! Pure: `db::stale_sessions` applies the same rule in SQL to every open
//! session, and uses these functions for what it reports.

use serde::Serialize;

use crate::model::UnixTime;

/// The Acct-Terminate-Cause Netily writes when it closes a stale session.
/// Not an RFC 2866 value, so it can never be mistaken for what a NAS said.
pub const STALE_SESSION: &str = "Stale-Session";

/// Seconds of silence allowed beyond two interim intervals, by default.
pub const DEFAULT_MARGIN: u32 = 300;
/// The interim interval assumed when neither the session nor its plan tells:
/// RouterOS's usual 5 minutes (what `netadmin mikrotik-script` sets).
pub const DEFAULT_INTERIM_INTERVAL: u32 = 300;

/// What decides when a session is stale (from the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StaleSessionSettings {
    /// `stale_session_margin`: seconds of silence allowed beyond two interim
    /// intervals.
    pub margin: u32,
    /// `default_interim_interval`: seconds; used when neither the session
    /// nor its plan tells.
    pub default_interim_interval: u32,
}

impl Default for StaleSessionSettings {
    fn default() -> Self {
        StaleSessionSettings {
            margin: DEFAULT_MARGIN,
            default_interim_interval: DEFAULT_INTERIM_INTERVAL,
        }
    }
}

/// Where a session's interim interval came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalSource {
    /// The gap between its last two Interim-Updates (radacct.acctinterval).
    Session,
    /// Its subscriber's plan's Acct-Interim-Interval.
    Plan,
    /// The config's `default_interim_interval`.
    Default,
}

impl IntervalSource {
    /// The name it is serialized as: session, plan or default.
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalSource::Session => "session",
            IntervalSource::Plan => "plan",
            IntervalSource::Default => "default",
        }
    }
}

/// A session's interim interval in seconds, and where it came from: its
/// own observed gap, else its plan's, else `default` (see the module doc).
pub fn interim_interval(
    observed: Option<i64>,
    plan: Option<i64>,
    default: u32,
) -> (i64, IntervalSource) {
    match (observed.filter(|s| *s > 0), plan.filter(|s| *s > 0)) {
        (Some(s), _) => (s, IntervalSource::Session),
        (None, Some(p)) => (p, IntervalSource::Plan),
        (None, None) => (i64::from(default), IntervalSource::Default),
    }
}

/// The last moment a session heard from at `last_heard` is still live:
/// `last_heard + 2 × interval + margin` (saturating; never an overflow).
pub fn stale_after(last_heard: UnixTime, interval: i64, margin: u32) -> UnixTime {
    last_heard
        .saturating_add(interval.max(0).saturating_mul(2))
        .saturating_add(i64::from(margin))
}

/// Whether a session last heard from at `last_heard` (None: neither an
/// Interim-Update nor a Start time is known) is stale at `now`, with
/// `interval` from [`interim_interval`].
pub fn is_stale(
    last_heard: Option<UnixTime>,
    interval: i64,
    now: UnixTime,
    settings: &StaleSessionSettings,
) -> bool {
    last_heard.is_some_and(|t| now > stale_after(t, interval, settings.margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: UnixTime = 1_800_000_000;

    fn settings(margin: u32, default: u32) -> StaleSessionSettings {
        StaleSessionSettings {
            margin,
            default_interim_interval: default,
        }
    }

    #[test]
    fn the_sessions_own_interval_wins_then_the_plans_then_the_default() {
        assert_eq!(
            interim_interval(Some(60), Some(600), 300),
            (60, IntervalSource::Session)
        );
        assert_eq!(
            interim_interval(None, Some(600), 300),
            (600, IntervalSource::Plan)
        );
        assert_eq!(
            interim_interval(None, None, 300),
            (300, IntervalSource::Default)
        );
    }

    #[test]
    fn sources_are_named_as_serialized() {
        for source in [
            IntervalSource::Session,
            IntervalSource::Plan,
            IntervalSource::Default,
        ] {
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(json, format!("\"{}\"", source.as_str()));
        }
    }

    #[test]
    fn a_zero_or_negative_interval_is_unknown() {
        assert_eq!(
            interim_interval(Some(0), Some(600), 300),
            (600, IntervalSource::Plan)
        );
        assert_eq!(
            interim_interval(Some(-5), Some(0), 300),
            (300, IntervalSource::Default)
        );
    }

    #[test]
    fn stale_only_after_two_intervals_and_the_margin() {
        let s = settings(300, 300);
        // 300 s interval: live up to 2 × 300 + 300 = 900 s after last heard.
        assert_eq!(stale_after(T, 300, s.margin), T + 900);
        assert!(!is_stale(Some(T), 300, T + 899, &s));
        assert!(!is_stale(Some(T), 300, T + 900, &s), "the deadline itself");
        assert!(is_stale(Some(T), 300, T + 901, &s));
        // One lost Interim-Update is not enough.
        assert!(!is_stale(Some(T), 300, T + 600, &s));
    }

    #[test]
    fn a_session_never_heard_from_is_never_stale() {
        assert!(!is_stale(None, 1, UnixTime::MAX, &settings(0, 1)));
    }

    #[test]
    fn a_zero_margin_still_allows_two_intervals() {
        let s = settings(0, 5);
        assert!(!is_stale(Some(T), 5, T + 10, &s));
        assert!(is_stale(Some(T), 5, T + 11, &s));
    }

    #[test]
    fn huge_values_saturate_instead_of_overflowing() {
        assert_eq!(stale_after(T, i64::MAX, u32::MAX), UnixTime::MAX);
        assert_eq!(stale_after(UnixTime::MAX, 1, 1), UnixTime::MAX);
        assert!(!is_stale(Some(T), i64::MAX, UnixTime::MAX, &settings(0, 1)));
        // A negative interval (never produced by `interim_interval`) counts as 0.
        assert_eq!(stale_after(T, -100, 10), T + 10);
    }

    #[test]
    fn the_defaults_are_five_minutes_each() {
        assert_eq!(StaleSessionSettings::default(), settings(300, 300));
    }
}
