//! The request values the glue consumes: owned, plain Rust, no pointers.

use std::net::Ipv4Addr;

use crate::request::{Request, Text};
use crate::sys;

/// What an Access-Request carries that Netily looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessValues {
    pub username: Text,
    pub calling_station_id: Text,
    pub nas_ip: Option<Ipv4Addr>,
    pub nas_identifier: Text,
}

impl AccessValues {
    pub fn read(request: &Request<'_>) -> AccessValues {
        AccessValues {
            username: request.text(sys::PW_USER_NAME),
            calling_station_id: request.text(sys::PW_CALLING_STATION_ID),
            nas_ip: request.ipv4(sys::PW_NAS_IP_ADDRESS),
            nas_identifier: request.text(sys::PW_NAS_IDENTIFIER),
        }
    }
}

/// What an Accounting-Request carries that Netily records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingValues {
    /// Acct-Status-Type: 1 Start, 2 Stop, 3 Interim-Update, 7 On, 8 Off.
    pub status_type: Option<u32>,
    pub username: Text,
    pub session_id: Text,
    /// Set by the stock `acct_unique` policy when it runs before us.
    pub unique_session_id: Text,
    pub nas_ip: Option<Ipv4Addr>,
    pub calling_station_id: Text,
    pub framed_ip: Option<Ipv4Addr>,
    pub session_time: Option<u32>,
    /// (Acct-Input-Gigawords << 32) + Acct-Input-Octets.
    pub input_octets: Option<u64>,
    pub output_octets: Option<u64>,
    pub terminate_cause: Option<u32>,
    pub event_timestamp: Option<u32>,
}

fn octets(low: Option<u32>, gigawords: Option<u32>) -> Option<u64> {
    match (low, gigawords) {
        (None, None) => None,
        (l, g) => Some((u64::from(g.unwrap_or(0)) << 32) + u64::from(l.unwrap_or(0))),
    }
}

impl AccountingValues {
    pub fn read(request: &Request<'_>) -> AccountingValues {
        AccountingValues {
            status_type: request.integer(sys::PW_ACCT_STATUS_TYPE),
            username: request.text(sys::PW_USER_NAME),
            session_id: request.text(sys::PW_ACCT_SESSION_ID),
            unique_session_id: request.text(sys::PW_ACCT_UNIQUE_SESSION_ID),
            nas_ip: request.ipv4(sys::PW_NAS_IP_ADDRESS),
            calling_station_id: request.text(sys::PW_CALLING_STATION_ID),
            framed_ip: request.ipv4(sys::PW_FRAMED_IP_ADDRESS),
            session_time: request.integer(sys::PW_ACCT_SESSION_TIME),
            input_octets: octets(
                request.integer(sys::PW_ACCT_INPUT_OCTETS),
                request.integer(sys::PW_ACCT_INPUT_GIGAWORDS),
            ),
            output_octets: octets(
                request.integer(sys::PW_ACCT_OUTPUT_OCTETS),
                request.integer(sys::PW_ACCT_OUTPUT_GIGAWORDS),
            ),
            terminate_cause: request.integer(sys::PW_ACCT_TERMINATE_CAUSE),
            event_timestamp: request.integer(sys::PW_EVENT_TIMESTAMP),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::octets;

    #[test]
    fn gigawords_are_the_high_32_bits() {
        assert_eq!(octets(Some(5), Some(2)), Some((2u64 << 32) + 5));
        assert_eq!(octets(Some(5), None), Some(5));
        assert_eq!(octets(None, None), None);
    }
}
