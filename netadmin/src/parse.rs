//! Command-line values, checked by netily-core's `input` rules (the same
//! the console and the API apply); errors become netadmin's one-line
//! failures.

use std::net::Ipv4Addr;

use netily_core::input;
use netily_core::model::UnixTime;
use netily_core::rate::RateLimit;

use crate::Failure;

pub fn rate(field: &str, v: &str) -> Result<RateLimit, Failure> {
    Ok(input::rate(field, v)?)
}

pub fn date(field: &str, v: &str) -> Result<UnixTime, Failure> {
    Ok(input::date(field, v)?)
}

pub fn money(field: &str, v: &str) -> Result<i64, Failure> {
    Ok(input::money(field, v)?)
}

pub fn bytes(field: &str, v: &str) -> Result<u64, Failure> {
    Ok(input::bytes(field, v)?)
}

pub fn seconds(field: &str, v: &str) -> Result<u32, Failure> {
    Ok(input::seconds(field, v)?)
}

pub fn cycle_days(v: &str) -> Result<u32, Failure> {
    Ok(input::cycle_days(v)?)
}

pub fn ipv4(field: &str, v: &str) -> Result<Ipv4Addr, Failure> {
    Ok(input::ipv4(field, v)?)
}

pub use netily_core::input::clearable;
