//! Checking values an operator types, in netadmin's arguments, the
//! console's forms and the API's fields: one set of rules. Each error names
//! the field and what is allowed, on one line.

use std::net::Ipv4Addr;

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::db::{Error, NewPlan, PlanUpdate};
use crate::model::{Plan, UnixTime};
use crate::rate::RateLimit;

type Failure = Error;

fn bad(field: &str, value: &str, allowed: &str) -> Failure {
    Error::invalid(field, format!("\"{value}\": {allowed}"))
}

/// A rate limit as an operator types it: every rate with a unit (k, M, G).
pub fn rate(field: &str, v: &str) -> Result<RateLimit, Failure> {
    RateLimit::parse_with_units(v).map_err(|e| bad(field, v, &e.to_string()))
}

/// A date as `YYYY-MM-DD` (midnight UTC) or RFC 3339 (`2025-03-01T12:00:00Z`).
pub fn date(field: &str, v: &str) -> Result<UnixTime, Failure> {
    if let Some(d) = calendar_date(v) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    OffsetDateTime::parse(v, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            bad(
                field,
                v,
                "expected YYYY-MM-DD or RFC 3339 (e.g. 2025-03-01 or 2025-03-01T12:00:00Z)",
            )
        })
}

/// `YYYY-MM-DD` as a valid calendar date.
fn calendar_date(v: &str) -> Option<Date> {
    let mut parts = v.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
        || ![y, m, d]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// Money as `29`, `29.5` or `29.00`, into cents.
pub fn money(field: &str, v: &str) -> Result<i64, Failure> {
    let err = || bad(field, v, "expected an amount like 29 or 29.00");
    let (whole, frac) = match v.split_once('.') {
        Some((w, f)) => (w, f),
        None => (v, ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    // Only all-digit text gets here: a failure is a number beyond i64.
    let too_large = || {
        let max = crate::db::invoices::MAX_AMOUNT_CENTS;
        bad(
            field,
            v,
            &format!("at most {}", crate::db::invoices::cents_text(max)),
        )
    };
    let whole: i64 = whole.parse().map_err(|_| too_large())?;
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| err())? * 10,
        _ => frac.parse().map_err(|_| err())?,
    };
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(too_large)
}

/// Bytes as a number with an optional decimal unit: 500M, 100G, 1.5T.
pub fn bytes(field: &str, v: &str) -> Result<u64, Failure> {
    let err = || {
        bad(
            field,
            v,
            "expected bytes like 100G, 500M or 1T (k/M/G/T = powers of 1000)",
        )
    };
    let (num, mult) = match v.chars().last() {
        Some('k' | 'K') => (&v[..v.len() - 1], 1e3),
        Some('M') => (&v[..v.len() - 1], 1e6),
        Some('G') => (&v[..v.len() - 1], 1e9),
        Some('T') => (&v[..v.len() - 1], 1e12),
        _ => (v, 1.0),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(err());
    }
    let n: f64 = num.parse().map_err(|_| err())?;
    let b = (n * mult).round();
    if !(1.0..=9.0e18).contains(&b) {
        return Err(err());
    }
    Ok(b as u64)
}

pub fn seconds(field: &str, v: &str) -> Result<u32, Failure> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=i32::MAX as u32).contains(n))
        .ok_or_else(|| bad(field, v, "expected a whole number from 1 to 2147483647"))
}

/// A plan's period: whole days from 1 to `cycle::MAX_CYCLE_DAYS`.
pub fn cycle_days(v: &str) -> Result<u32, Failure> {
    let max = crate::cycle::MAX_CYCLE_DAYS;
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            bad(
                "cycle days",
                v,
                &format!("expected a whole number of days from 1 to {max}, or \"monthly\""),
            )
        })
}

pub fn ipv4(field: &str, v: &str) -> Result<Ipv4Addr, Failure> {
    v.parse()
        .map_err(|_| bad(field, v, "expected an IPv4 address like 192.0.2.10"))
}

/// `none` (or empty, or spaces) clears an optional field; other text is
/// read trimmed.
pub fn clearable<T, E>(
    v: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<Option<T>>, E> {
    match v.map(str::trim) {
        None => Ok(None),
        Some("none") | Some("") => Ok(Some(None)),
        Some(s) => parse(s).map(|t| Some(Some(t))),
    }
}

/// A plan's fields as an operator types them (netadmin's flags, the
/// console's form, the API's body): every one optional, "none" (or empty)
/// clears an optional one. One reading for all three.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFields {
    pub rate: Option<String>,
    pub price: Option<String>,
    pub data_cap: Option<String>,
    pub fair_use_rate: Option<String>,
    pub session_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub interim_interval: Option<String>,
    pub ip_pool: Option<String>,
    pub mikrotik_group: Option<String>,
    pub address_list: Option<String>,
    pub simultaneous_use: Option<String>,
    /// Days per cycle, or "monthly" (or "none") for monthly on the
    /// subscription's day.
    pub cycle_days: Option<String>,
}

/// Text as given (`clearable` has trimmed it).
fn text(v: &str) -> Result<String, Failure> {
    Ok(v.to_owned())
}

/// Bytes with the largest decimal unit that divides them exactly, as
/// [`bytes`] reads them back: 100000000000 is "100G".
pub fn bytes_text(b: u64) -> String {
    for (size, unit) in [
        (1_000_000_000_000, 'T'),
        (1_000_000_000, 'G'),
        (1_000_000, 'M'),
        (1_000, 'k'),
    ] {
        if b >= size && b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

impl PlanFields {
    /// A plan's fields as an operator would type them (a form's values):
    /// reading them back changes nothing.
    pub fn of(p: &Plan) -> PlanFields {
        let num = |v: Option<u32>| Some(v.map(|n| n.to_string()).unwrap_or_default());
        let text = |v: &Option<String>| Some(v.clone().unwrap_or_default());
        PlanFields {
            rate: Some(p.rate.to_string()),
            price: Some(crate::db::invoices::cents_text(p.price_cents)),
            data_cap: Some(p.data_cap_bytes.map(bytes_text).unwrap_or_default()),
            fair_use_rate: Some(
                p.fair_use_rate
                    .as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            ),
            session_timeout: num(p.session_timeout),
            idle_timeout: num(p.idle_timeout),
            interim_interval: num(p.interim_interval),
            ip_pool: text(&p.ip_pool),
            mikrotik_group: text(&p.mikrotik_group),
            address_list: text(&p.address_list),
            simultaneous_use: num(p.simultaneous_use),
            cycle_days: Some(
                p.cycle_days
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "monthly".into()),
            ),
        }
    }

    /// The changes these fields make to a plan.
    pub fn update(&self) -> Result<PlanUpdate, Failure> {
        let f = self;
        Ok(PlanUpdate {
            rate: f.rate.as_deref().map(|r| rate("rate", r)).transpose()?,
            price_cents: f.price.as_deref().map(|p| money("price", p)).transpose()?,
            data_cap_bytes: clearable(f.data_cap.as_deref(), |v| bytes("data cap", v))?,
            fair_use_rate: clearable(f.fair_use_rate.as_deref(), |v| rate("fair-use rate", v))?,
            session_timeout: clearable(f.session_timeout.as_deref(), |v| {
                seconds("session timeout", v)
            })?,
            idle_timeout: clearable(f.idle_timeout.as_deref(), |v| seconds("idle timeout", v))?,
            interim_interval: clearable(f.interim_interval.as_deref(), |v| {
                seconds("interim interval", v)
            })?,
            ip_pool: clearable(f.ip_pool.as_deref(), text)?,
            mikrotik_group: clearable(f.mikrotik_group.as_deref(), text)?,
            address_list: clearable(f.address_list.as_deref(), text)?,
            simultaneous_use: clearable(f.simultaneous_use.as_deref(), |v| {
                seconds("simultaneous use", v)
            })?,
            cycle_days: match f.cycle_days.as_deref() {
                Some("monthly") => Some(None),
                v => clearable(v, cycle_days)?,
            },
        })
    }

    /// A new plan called `name` with these fields; the rate is required.
    pub fn new_plan(&self, name: &str) -> Result<NewPlan, Failure> {
        let Some(r) = self.rate.as_deref().filter(|r| !r.trim().is_empty()) else {
            return Err(Error::invalid(
                "rate",
                "a new plan needs its rate, e.g. 10M/20M",
            ));
        };
        let rate = rate("rate", r)?;
        let u = self.update()?;
        Ok(NewPlan {
            name: name.to_owned(),
            rate,
            data_cap_bytes: u.data_cap_bytes.flatten(),
            fair_use_rate: u.fair_use_rate.flatten(),
            session_timeout: u.session_timeout.flatten(),
            idle_timeout: u.idle_timeout.flatten(),
            interim_interval: u.interim_interval.flatten(),
            ip_pool: u.ip_pool.flatten(),
            mikrotik_group: u.mikrotik_group.flatten(),
            address_list: u.address_list.flatten(),
            simultaneous_use: u.simultaneous_use.flatten(),
            price_cents: u.price_cents.unwrap_or(0),
            cycle_days: u.cycle_days.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("d", "1970-01-02").unwrap(), 86_400);
        assert_eq!(date("d", "2025-03-01T12:00:00Z").unwrap(), 1_740_830_400);
        assert_eq!(
            date("d", "2025-03-01T14:00:00+02:00").unwrap(),
            1_740_830_400
        );
        let e = date("due date", "31/12/2025").unwrap_err();
        assert!(
            e.to_string().starts_with("invalid due date \"31/12/2025\""),
            "{e}"
        );
        assert!(date("d", "2025-02-30").is_err());
    }

    #[test]
    fn amounts() {
        assert_eq!(money("a", "29").unwrap(), 2900);
        assert_eq!(money("a", "29.5").unwrap(), 2950);
        assert_eq!(money("a", "0.07").unwrap(), 7);
        for bad in ["", "-1", "1.234", "1,00", "abc", ".5"] {
            assert!(money("a", bad).is_err(), "{bad}");
        }
        let e = money("amount", "99999999999999999999").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid amount \"99999999999999999999\": at most 1000000000.00"
        );
    }

    #[test]
    fn byte_counts() {
        assert_eq!(bytes("b", "100G").unwrap(), 100_000_000_000);
        assert_eq!(bytes("b", "1.5T").unwrap(), 1_500_000_000_000);
        assert_eq!(bytes("b", "4096").unwrap(), 4096);
        assert!(bytes("b", "0").is_err());
        assert!(bytes("b", "10X").is_err());
        assert!(bytes("b", "-5G").is_err());
    }

    #[test]
    fn plan_fields_keep_clear_and_set() {
        let f = PlanFields {
            price: Some("29.00".into()),
            data_cap: Some("none".into()),
            cycle_days: Some("monthly".into()),
            ip_pool: Some(" pool1 ".into()),
            ..PlanFields::default()
        };
        let u = f.update().unwrap();
        assert_eq!(u.price_cents, Some(2900));
        assert_eq!(u.data_cap_bytes, Some(None));
        assert_eq!(u.cycle_days, Some(None));
        assert_eq!(u.ip_pool, Some(Some("pool1".into())));
        assert!(u.rate.is_none() && u.session_timeout.is_none());
        let e = f.new_plan("basic").unwrap_err();
        assert!(e.to_string().contains("needs its rate"), "{e}");
        let p = PlanFields {
            rate: Some("10M/20M".into()),
            ..f
        }
        .new_plan("basic")
        .unwrap();
        assert_eq!((p.price_cents, p.data_cap_bytes), (2900, None));
        let bad = PlanFields {
            session_timeout: Some("-3".into()),
            ..PlanFields::default()
        };
        assert!(bad
            .update()
            .unwrap_err()
            .to_string()
            .contains("session timeout"));
    }

    #[test]
    fn a_plans_fields_read_back_to_the_same_plan() {
        let p = PlanFields {
            rate: Some("10M/20M 20M/40M 8M/16M 16/16 8".into()),
            price: Some("29.5".into()),
            data_cap: Some("1.5T".into()),
            fair_use_rate: Some("1M/2M".into()),
            session_timeout: Some("3600".into()),
            ip_pool: Some("pool1".into()),
            cycle_days: Some("7".into()),
            ..PlanFields::default()
        }
        .new_plan("x")
        .unwrap();
        let plan = Plan {
            id: 1,
            name: p.name.clone(),
            rate: p.rate.clone(),
            data_cap_bytes: p.data_cap_bytes,
            fair_use_rate: p.fair_use_rate.clone(),
            session_timeout: p.session_timeout,
            idle_timeout: p.idle_timeout,
            interim_interval: p.interim_interval,
            ip_pool: p.ip_pool.clone(),
            mikrotik_group: p.mikrotik_group.clone(),
            address_list: p.address_list.clone(),
            simultaneous_use: p.simultaneous_use,
            price_cents: p.price_cents,
            cycle_days: p.cycle_days,
        };
        let again = PlanFields::of(&plan).new_plan("x").unwrap();
        assert_eq!(format!("{again:?}"), format!("{p:?}"));
        assert_eq!(bytes_text(1_500_000_000_000), "1500G");
        assert_eq!(bytes_text(4096), "4096");
        assert_eq!(
            PlanFields::of(&Plan {
                cycle_days: None,
                ..plan
            })
            .cycle_days
            .as_deref(),
            Some("monthly")
        );
    }
}
