//! Checking values an operator types, in netadmin's arguments, the
//! console's forms and the API's fields: one set of rules. Each error names
//! the field and what is allowed, on one line.

use std::net::Ipv4Addr;

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::db::Error;
use crate::model::UnixTime;
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

/// `none` (or empty) clears an optional field.
pub fn clearable<T, E>(
    v: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<Option<T>>, E> {
    match v {
        None => Ok(None),
        Some("none") | Some("") => Ok(Some(None)),
        Some(s) => parse(s).map(|t| Some(Some(t))),
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
}
