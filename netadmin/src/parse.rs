//! Command-line values, checked by netily-core's `input` rules (the same
//! the console and the API apply); errors become netadmin's one-line
//! failures.

use std::net::Ipv4Addr;

use netily_core::input;
use netily_core::model::UnixTime;

use crate::Failure;

pub fn date(field: &str, v: &str) -> Result<UnixTime, Failure> {
    Ok(input::date(field, v)?)
}

pub fn money(field: &str, v: &str) -> Result<i64, Failure> {
    Ok(input::money(field, v)?)
}

pub fn ipv4(field: &str, v: &str) -> Result<Ipv4Addr, Failure> {
    Ok(input::ipv4(field, v)?)
}

pub use netily_core::input::clearable;
