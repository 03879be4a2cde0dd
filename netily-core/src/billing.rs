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
            return if tenths % 10 == 0 {
                format!("{} {unit}", tenths / 10)
            } else {
                format!("{}.{} {unit}", tenths / 10, tenths % 10)
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
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
