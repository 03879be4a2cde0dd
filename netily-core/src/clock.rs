//! The one reading of the system clock.
//!
//! Rules never read it: they take `now` as an argument, so tests pass
//! explicit times. The hosts (the FreeRADIUS module, the OpenVPN plugin,
//! netadmin) read it here and pass it in, so every part of Netily agrees
//! on what "now" is, down to how a broken clock is read.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::UnixTime;

/// Seconds since the Unix epoch, from the system clock: 0 for a clock set
/// before 1970, `UnixTime::MAX` past its range (never an error or a panic).
pub fn now() -> UnixTime {
    since_epoch(SystemTime::now())
}

/// Milliseconds since the Unix epoch (0 for a clock before 1970), for
/// waiting until a second begins.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn since_epoch(t: SystemTime) -> UnixTime {
    t.duration_since(UNIX_EPOCH)
        .map(|d| UnixTime::try_from(d.as_secs()).unwrap_or(UnixTime::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn seconds_since_the_epoch_whatever_the_clock_says() {
        assert_eq!(since_epoch(UNIX_EPOCH + Duration::from_millis(1_999)), 1);
        assert_eq!(since_epoch(UNIX_EPOCH - Duration::from_secs(5)), 0);
        // 2023-11-14: a clock in its usual range reads as itself.
        assert!(now() > 1_700_000_000);
    }
}
