//! How values read on a page: times in UTC to the minute, bytes and money
//! as netadmin prints them.

use netily_core::model::UnixTime;

pub fn time(t: UnixTime) -> String {
    let Ok(d) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return t.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute()
    )
}

pub fn opt_time(t: Option<UnixTime>) -> String {
    t.map(time).unwrap_or_else(|| "-".into())
}

pub fn bytes(b: i64) -> String {
    netily_core::billing::format_bytes(u64::try_from(b).unwrap_or(0))
}

pub use netily_core::db::invoices::cents_text as money;

/// A query string from pairs, empty values left out.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .copied()
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// `segment` as one URL path segment: all but unreserved characters
/// percent-encoded.
pub fn path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
