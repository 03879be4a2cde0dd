//! Mikrotik-Rate-Limit: parse, validate, render. (STUB — being written by the rules helper.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validated Mikrotik-Rate-Limit. Displays as the canonical RouterOS string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    canonical: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateError(pub String);

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for RateError {}

impl FromStr for RateLimit {
    type Err = RateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(RateLimit {
            canonical: s.trim().to_string(),
        })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
