//! `log::Log` -> FreeRADIUS's `radlog`, so core and module messages land in the
//! server's log with its levels. Text always travels as the argument of a
//! constant "%s" format: a `%` in a username can never be read as a directive.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::ffi::{c_char, CString};

use crate::sys;

/// The "%s" format every call uses.
const PERCENT_S: *const c_char = c"%s".as_ptr();

struct RadLog;

static LOGGER: RadLog = RadLog;

/// A C string of `text`, with interior NULs shown as `\0` instead of truncating.
pub fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

/// How many characters of a request value a log line shows.
pub const SHOWN_CHARS: usize = 64;

/// A request value (e.g. a User-Name, possibly hostile) made safe for one log
/// line: printable ASCII and letters/digits of other scripts as they are,
/// `\\` for a backslash, `\xNN` for control bytes and invalid UTF-8, `\u{..}`
/// for other characters (format, bidi, ...), cut after `max` characters with
/// the full length in bytes.
pub fn safe_value(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    let mut cut = false;
    'chunks: for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown == max {
                cut = true;
                break 'chunks;
            }
            shown += 1;
            match c {
                '\\' => out.push_str("\\\\"),
                ' '..='~' => out.push(c),
                c if c.is_ascii() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c if c.is_alphanumeric() => out.push(c),
                c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            }
        }
        for b in chunk.invalid() {
            if shown == max {
                cut = true;
                break 'chunks;
            }
            shown += 1;
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if cut {
        out.push_str(&format!("...({} bytes)", bytes.len()));
    }
    out
}

/// Logs one line at the Auth level: written whenever the server logs (not
/// only when debugging), like the server's own "Login incorrect" lines.
pub fn auth(text: &str) {
    let line = c_text(text);
    // SAFETY: as in `radlog`.
    unsafe {
        sys::radlog(sys::L_AUTH, PERCENT_S, line.as_ptr());
    }
}

pub use netily_core::log_limit::{RateLimited, WARN_EVERY};

fn log_type(level: Level) -> sys::log_type_t {
    match level {
        Level::Error => sys::L_ERR,
        Level::Warn => sys::L_WARN,
        Level::Info => sys::L_INFO,
        Level::Debug | Level::Trace => sys::L_DBG,
    }
}

/// Logs one line through radlog.
pub fn radlog(level: Level, text: &str) {
    let line = c_text(text);
    // SAFETY: radlog is variadic; the format is a constant "%s" and the single
    // argument is a valid NUL-terminated string that outlives the call.
    unsafe {
        sys::radlog(log_type(level), PERCENT_S, line.as_ptr());
    }
}

impl Log for RadLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            radlog(record.level(), &format!("rlm_netily: {}", record.args()));
        }
    }

    fn flush(&self) {}
}

/// Routes the `log` facade to radlog (once per process; a second instance or a
/// HUP re-instantiation keeps the first registration). Debug messages are only
/// formatted when the server runs with debugging on.
pub fn init() {
    let _ = log::set_logger(&LOGGER);
    // SAFETY: rad_debug_lvl is a plain global int owned by the server, written
    // only during startup (before modules are instantiated) and on HUP.
    let debug = unsafe { sys::rad_debug_lvl } > 0;
    log::set_max_level(if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_shown_as_they_are() {
        assert_eq!(safe_value(b"alice@isp.example", 64), "alice@isp.example");
        assert_eq!(safe_value("José".as_bytes(), 64), "José");
        assert_eq!(safe_value(b"%s%n", 64), "%s%n");
    }

    #[test]
    fn control_invalid_and_format_characters_are_escaped() {
        assert_eq!(safe_value(b"\xff\xfealice", 64), r"\xff\xfealice");
        assert_eq!(
            safe_value(b"ali\0ce\n\x1b[31m", 64),
            r"ali\x00ce\x0a\x1b[31m"
        );
        assert_eq!(safe_value(br"a\b", 64), r"a\\b");
        assert_eq!(safe_value("x\u{202e}y".as_bytes(), 64), r"x\u{202e}y");
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = "A".repeat(253);
        assert_eq!(
            safe_value(long.as_bytes(), 64),
            format!("{}...(253 bytes)", "A".repeat(64))
        );
        let exact = "B".repeat(64);
        assert_eq!(safe_value(exact.as_bytes(), 64), exact);
        // Counted in characters: 64 two-byte letters are shown whole.
        let wide = "é".repeat(64);
        assert_eq!(safe_value(wide.as_bytes(), 64), wide);
        let bad = [0xffu8; 70];
        assert_eq!(
            safe_value(&bad, 64),
            format!("{}...(70 bytes)", r"\xff".repeat(64))
        );
    }
}
