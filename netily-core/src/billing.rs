//! Billing rules: invoice grace, subscription state, fair use.
//!
//! Pure functions of (state, now, policy). Every time boundary is half-open,
//! like `Subscription::expires_at`: a period covers `[start, end)`, so at the
//! second `end` it is over.
//!
//! - An invoice suspends service from `due_at + grace_days * 86400` on
//!   (inclusive). With grace 7: 7 days minus 1 second after the due date is
//!   still fine, exactly 7 days is suspended.
//! - A subscription covers `[starts_at, expires_at)`.
//! - The fair-use cap is reached when usage `>=` the cap.

use serde::Serialize;

use crate::model::{Plan, Policy, Subscription, UnixTime, UnpaidInvoice, SECONDS_PER_DAY};

/// The first second at which `invoice` suspends service under `policy`.
pub fn suspends_at(invoice: &UnpaidInvoice, policy: &Policy) -> UnixTime {
    invoice
        .due_at
        .saturating_add(i64::from(policy.grace_days).saturating_mul(SECONDS_PER_DAY))
}

/// True when the invoice is unpaid past its due date plus the grace period.
pub fn is_past_grace(invoice: &UnpaidInvoice, now: UnixTime, policy: &Policy) -> bool {
    now >= suspends_at(invoice, policy)
}

/// The grace rule turned around for a query over many invoices: at `now`,
/// an unpaid invoice due at or before this instant is past grace (the same
/// whole-86,400-second days as [`suspends_at`], whatever the time zone's
/// daylight saving does to a calendar day).
pub fn past_grace_if_due_by(now: UnixTime, policy: &Policy) -> UnixTime {
    now.saturating_sub(i64::from(policy.grace_days).saturating_mul(SECONDS_PER_DAY))
}

/// Whole days since the due date (0 before or on the due date itself).
pub fn days_overdue(invoice: &UnpaidInvoice, now: UnixTime) -> i64 {
    if now <= invoice.due_at {
        0
    } else {
        now.saturating_sub(invoice.due_at) / SECONDS_PER_DAY
    }
}

/// The oldest invoice (earliest due date, then lowest id) that is past grace.
pub fn oldest_overdue<'a>(
    invoices: &'a [UnpaidInvoice],
    now: UnixTime,
    policy: &Policy,
) -> Option<&'a UnpaidInvoice> {
    invoices
        .iter()
        .filter(|i| is_past_grace(i, now, policy))
        .min_by_key(|i| (i.due_at, i.id))
}

/// Where a subscriber's subscription stands at a given second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SubscriptionState {
    /// No subscription at all.
    None,
    /// The operator ended it (`active = false`).
    Inactive,
    /// `now < starts_at`.
    NotStarted { starts_at: UnixTime },
    /// `now >= expires_at`.
    Expired { expires_at: UnixTime },
    /// Covered; `expires_at` None is open-ended.
    Active { expires_at: Option<UnixTime> },
}

impl SubscriptionState {
    pub fn is_active(&self) -> bool {
        matches!(self, SubscriptionState::Active { .. })
    }
}

/// The subscription's state at `now`.
pub fn subscription_state(sub: Option<&Subscription>, now: UnixTime) -> SubscriptionState {
    match sub {
        None => SubscriptionState::None,
        Some(s) if !s.active => SubscriptionState::Inactive,
        Some(s) if now < s.starts_at => SubscriptionState::NotStarted {
            starts_at: s.starts_at,
        },
        Some(s) => match s.expires_at {
            Some(e) if now >= e => SubscriptionState::Expired { expires_at: e },
            e => SubscriptionState::Active { expires_at: e },
        },
    }
}

/// Seconds the subscription still covers from `now` (1 at the last covered
/// second, 0 once expired); None when open-ended.
pub fn seconds_until_expiry(sub: &Subscription, now: UnixTime) -> Option<u64> {
    sub.expires_at
        .map(|e| u64::try_from(e.saturating_sub(now)).unwrap_or(0))
}

/// True when the plan has a data cap and this cycle's usage has reached it.
pub fn fair_use_cap_reached(plan: &Plan, cycle_usage_bytes: u64) -> bool {
    plan.data_cap_bytes
        .is_some_and(|cap| cycle_usage_bytes >= cap)
}

/// Bytes for humans in decimal units, truncated to one decimal
/// (`101.2 GB`, `100 GB`, `512 MB`), so a value under a cap never shows as
/// the cap.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "kB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size {
            let tenths = bytes / (size / 10);
            let (whole, tenth) = (tenths / 10, tenths % 10);
            return if tenth == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{tenth} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`, for operator messages.
pub fn format_utc(t: UnixTime) -> String {
    let days = t.div_euclid(SECONDS_PER_DAY);
    let secs = t.rem_euclid(SECONDS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's civil_from_days algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d is 1..=31 and m is 1..=12 by construction.
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::RateLimit;

    const DAY: i64 = SECONDS_PER_DAY;
    const DUE: UnixTime = 1_700_000_000;

    fn invoice(id: i64, number: &str, due_at: UnixTime) -> UnpaidInvoice {
        UnpaidInvoice {
            id,
            number: number.into(),
            amount_cents: 2_500,
            due_at,
        }
    }

    fn sub(starts_at: UnixTime, expires_at: Option<UnixTime>, active: bool) -> Subscription {
        Subscription {
            id: 1,
            plan_id: 1,
            starts_at,
            expires_at,
            active,
            cycle_start: starts_at,
        }
    }

    fn plan(cap: Option<u64>) -> Plan {
        Plan {
            id: 1,
            name: "Home-10".into(),
            rate: "5M/10M"
                .parse::<RateLimit>()
                .unwrap_or_else(|e| panic!("{e}")),
            data_cap_bytes: cap,
            fair_use_rate: None,
            session_timeout: None,
            idle_timeout: None,
            interim_interval: None,
            ip_pool: None,
            mikrotik_group: None,
            address_list: None,
            simultaneous_use: None,
            price_cents: 2_500,
            cycle_days: None,
        }
    }

    #[test]
    fn default_grace_is_seven_days() {
        assert_eq!(Policy::default().grace_days, 7);
        assert_eq!(
            suspends_at(&invoice(1, "A", DUE), &Policy::default()),
            DUE + 7 * DAY
        );
    }

    #[test]
    fn grace_boundary_at_exactly_n_days() {
        let policy = Policy::default();
        let inv = invoice(1, "INV-1", DUE);
        assert!(!is_past_grace(&inv, DUE + 7 * DAY - 1, &policy));
        assert!(is_past_grace(&inv, DUE + 7 * DAY, &policy));
        assert!(is_past_grace(&inv, DUE + 7 * DAY + 1, &policy));
    }

    #[test]
    fn acceptance_six_days_ok_eight_days_suspended() {
        let policy = Policy::default();
        let inv = invoice(1, "INV-1", DUE);
        assert!(!is_past_grace(&inv, DUE + 6 * DAY, &policy));
        assert!(is_past_grace(&inv, DUE + 8 * DAY, &policy));
        assert!(!is_past_grace(&inv, DUE - DAY, &policy));
        assert!(!is_past_grace(&inv, DUE, &policy));
    }

    #[test]
    fn zero_grace_suspends_at_due_second() {
        let policy = Policy {
            grace_days: 0,
            walled_garden: None,
        };
        let inv = invoice(1, "INV-1", DUE);
        assert!(!is_past_grace(&inv, DUE - 1, &policy));
        assert!(is_past_grace(&inv, DUE, &policy));
    }

    #[test]
    fn huge_grace_does_not_overflow() {
        let policy = Policy {
            grace_days: u32::MAX,
            walled_garden: None,
        };
        let inv = invoice(1, "INV-1", i64::MAX - 5);
        assert_eq!(suspends_at(&inv, &policy), i64::MAX);
        assert!(!is_past_grace(&inv, DUE, &policy));
    }

    #[test]
    fn days_overdue_counts_whole_days() {
        let inv = invoice(1, "INV-1", DUE);
        assert_eq!(days_overdue(&inv, DUE - 10), 0);
        assert_eq!(days_overdue(&inv, DUE), 0);
        assert_eq!(days_overdue(&inv, DUE + DAY - 1), 0);
        assert_eq!(days_overdue(&inv, DUE + DAY), 1);
        assert_eq!(days_overdue(&inv, DUE + 8 * DAY + 5), 8);
    }

    #[test]
    fn oldest_overdue_names_earliest_past_grace() {
        let policy = Policy::default();
        let now = DUE + 30 * DAY;
        let invoices = vec![
            invoice(3, "INV-3", now - 10 * DAY),
            invoice(1, "INV-1", now - 20 * DAY),
            invoice(2, "INV-2", now - 2 * DAY),
        ];
        assert_eq!(
            oldest_overdue(&invoices, now, &policy).map(|i| i.number.as_str()),
            Some("INV-1")
        );
        // Only invoices past grace count.
        let recent = vec![invoice(2, "INV-2", now - 2 * DAY)];
        assert_eq!(oldest_overdue(&recent, now, &policy), None);
        assert_eq!(oldest_overdue(&[], now, &policy), None);
        // Same due date: lowest id.
        let tie = vec![invoice(9, "B", DUE), invoice(4, "A", DUE)];
        assert_eq!(oldest_overdue(&tie, now, &policy).map(|i| i.id), Some(4));
    }

    #[test]
    fn subscription_states() {
        let now = DUE;
        assert_eq!(subscription_state(None, now), SubscriptionState::None);
        assert_eq!(
            subscription_state(Some(&sub(now - DAY, None, false)), now),
            SubscriptionState::Inactive
        );
        assert_eq!(
            subscription_state(Some(&sub(now + 1, None, true)), now),
            SubscriptionState::NotStarted { starts_at: now + 1 }
        );
        assert_eq!(
            subscription_state(Some(&sub(now, None, true)), now),
            SubscriptionState::Active { expires_at: None }
        );
        let s = sub(now - DAY, Some(now + 10), true);
        assert_eq!(
            subscription_state(Some(&s), now),
            SubscriptionState::Active {
                expires_at: Some(now + 10)
            }
        );
        assert!(subscription_state(Some(&s), now).is_active());
    }

    #[test]
    fn expires_at_is_first_second_not_covered() {
        let exp = DUE;
        let s = sub(exp - 30 * DAY, Some(exp), true);
        assert!(subscription_state(Some(&s), exp - 1).is_active());
        assert_eq!(
            subscription_state(Some(&s), exp),
            SubscriptionState::Expired { expires_at: exp }
        );
        assert_eq!(
            subscription_state(Some(&s), exp + 1),
            SubscriptionState::Expired { expires_at: exp }
        );
        assert_eq!(seconds_until_expiry(&s, exp - 1), Some(1));
        assert_eq!(seconds_until_expiry(&s, exp - 3600), Some(3600));
        assert_eq!(seconds_until_expiry(&s, exp), Some(0));
        assert_eq!(seconds_until_expiry(&s, exp + 100), Some(0));
        assert_eq!(seconds_until_expiry(&sub(0, None, true), exp), None);
    }

    #[test]
    fn inactive_wins_over_dates() {
        let s = sub(DUE + DAY, Some(DUE - DAY), false);
        assert_eq!(
            subscription_state(Some(&s), DUE),
            SubscriptionState::Inactive
        );
    }

    #[test]
    fn fair_use_boundary() {
        let p = plan(Some(100_000_000_000));
        assert!(!fair_use_cap_reached(&p, 99_999_999_999));
        assert!(fair_use_cap_reached(&p, 100_000_000_000));
        assert!(fair_use_cap_reached(&p, 100_000_000_001));
        assert!(!fair_use_cap_reached(&plan(None), u64::MAX));
    }

    #[test]
    fn bytes_format() {
        assert_eq!(format_bytes(101_200_000_000), "101.2 GB");
        assert_eq!(format_bytes(100_000_000_000), "100 GB");
        assert_eq!(format_bytes(99_999_999_999), "99.9 GB");
        assert_eq!(format_bytes(512_000_000), "512 MB");
        assert_eq!(format_bytes(1_500), "1.5 kB");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(2_000_000_000_000), "2 TB");
        assert_eq!(format_bytes(u64::MAX), "18446744 TB");
    }

    #[test]
    fn utc_format() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_709_251_199), "2024-02-29 23:59:59 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn subscription_state_serializes_tagged() {
        let json = serde_json::to_string(&SubscriptionState::Expired { expires_at: 5 })
            .unwrap_or_default();
        assert_eq!(json, r#"{"state":"expired","expires_at":5}"#);
    }

    #[test]
    fn the_query_cutoff_agrees_with_the_rule_at_the_boundary() {
        let policy = Policy::default();
        let now = 1_800_000_000;
        let cutoff = past_grace_if_due_by(now, &policy);
        for due_at in [cutoff - 1, cutoff, cutoff + 1] {
            let inv = UnpaidInvoice {
                id: 1,
                number: "I-1".into(),
                amount_cents: 100,
                due_at,
            };
            assert_eq!(
                is_past_grace(&inv, now, &policy),
                due_at <= cutoff,
                "{due_at}"
            );
        }
    }
}
