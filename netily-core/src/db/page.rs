//! Keyset pages of newest-first lists (sessions, invoices, one subscriber's
//! logins): a page ends at a row's position, its time to the microsecond
//! and its id, and the next page starts strictly after it. Unlike an
//! offset, a position stays right while rows are added at the top, and
//! reading page 1,000 costs what page 1 does.

use std::fmt;

use super::error::{Error, Result};

/// Where a row stands in a list ordered by (time DESC, id DESC). As text
/// (an API's `after`): `MICROS.ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The row's time in microseconds since 1970 (read with
    /// [`position_micros`], exact where seconds would tie).
    pub micros: i64,
    pub id: i64,
}

/// SQL for a timestamptz column's [`Position::micros`].
macro_rules! position_micros {
    ($col:literal) => {
        concat!("(extract(epoch from ", $col, ") * 1000000)::bigint")
    };
}
pub(crate) use position_micros;

/// SQL: true for rows after the position in $micros/$id (both NULL: every
/// row), for `time` and `id` columns ordered DESC. The time bound alone is
/// indexable, so an index on the time column finds the page's start.
macro_rules! after_position {
    ($time:literal, $id:literal, $micros:literal, $pid:literal) => {
        concat!(
            "(",
            $micros,
            "::bigint IS NULL OR (",
            $time,
            " <= to_timestamp(0) + ",
            $micros,
            " * interval '1 microsecond' AND (",
            $time,
            " < to_timestamp(0) + ",
            $micros,
            " * interval '1 microsecond' OR ",
            $id,
            " < ",
            $pid,
            ")))"
        )
    };
}
pub(crate) use after_position;

/// 9999-12-31T23:59:59.999999Z in microseconds.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl Position {
    pub fn parse(field: &str, s: &str) -> Result<Position> {
        let bad = || {
            Error::invalid(
                field,
                format!("\"{s}\": expected the `next` of the previous page"),
            )
        };
        let (m, i) = s.split_once('.').ok_or_else(bad)?;
        let micros: i64 = m.parse().map_err(|_| bad())?;
        // 1970 to 9999: a time PostgreSQL holds (beyond, a query fails).
        if !(0..=MAX_MICROS).contains(&micros) {
            return Err(bad());
        }
        Ok(Position {
            micros,
            id: i.parse().map_err(|_| bad())?,
        })
    }

    /// The two SQL parameters [`after_position`] reads.
    pub fn params(p: Option<Position>) -> (Option<i64>, Option<i64>) {
        (p.map(|p| p.micros), p.map(|p| p.id))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.micros, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back_from_its_text_and_refuses_anything_else() {
        let p = Position {
            micros: 1_764_770_000_123_456,
            id: 42,
        };
        assert_eq!(Position::parse("after", &p.to_string()).unwrap(), p);
        for bad in [
            "",
            "42",
            "1.2.3",
            "a.1",
            "1.b",
            ".5",
            "-1.5",
            "9223372036854775807.1",
        ] {
            let e = Position::parse("after", bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid after"), "{bad}: {e}");
        }
    }
}
