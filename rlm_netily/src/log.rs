//! `log::Log` -> FreeRADIUS's `radlog`, so core and module messages land in the
//! server's log with its levels. Text always travels as the argument of a
//! constant "%s" format: a `%` in a username can never be read as a directive.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};

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

/// How often a line of one rate-limited kind is written at most.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// One kind of log line that is written at most once per period (the
/// database down makes every request fail alike: a line each would be
/// megabytes a minute). The lines left out are counted exactly; the next
/// line written says how many, and [`RateLimited::take_suppressed`] gives
/// the rest for a closing line.
pub struct RateLimited {
    every: Duration,
    last: Mutex<Option<Instant>>,
    /// Lines left out since the last one written; changed under `last`.
    suppressed: AtomicU64,
}

impl RateLimited {
    pub const fn new(every: Duration) -> RateLimited {
        RateLimited {
            every,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// One more occurrence: `Some(n)` when its line may be written now (and
    /// a new period starts), `n` lines having been left out since the last
    /// one; `None` when it is left out (and counted).
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        // A panic elsewhere leaves a valid Option<Instant> behind.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }

    /// The line `text` for one more occurrence, ending in how many were
    /// left out before it; `None` when this one is left out.
    pub fn line(&self, text: impl FnOnce() -> String) -> Option<String> {
        self.admit_at(Instant::now())
            .map(|n| with_suppressed(text(), n))
    }

    /// The lines left out and not yet reported (then 0): for a closing
    /// line once the cause is gone. One atomic load when there are none.
    pub fn take_suppressed(&self) -> u64 {
        if self.suppressed.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let _last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

/// `text`, then how many lines like it were left out (if any).
fn with_suppressed(text: String, suppressed: u64) -> String {
    if suppressed == 0 {
        text
    } else {
        format!("{text} ({suppressed} more like this suppressed)")
    }
}

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
    fn a_rate_limited_line_is_written_once_a_period_and_counts_what_it_left_out() {
        let limit = RateLimited::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(limit.admit_at(at(0)), Some(0), "the first is written");
        for s in 1..10 {
            assert_eq!(limit.admit_at(at(s)), None);
        }
        assert_eq!(
            limit.admit_at(at(10)),
            Some(9),
            "the next period says 9 left out"
        );
        assert_eq!(limit.admit_at(at(12)), None);
        assert_eq!(limit.admit_at(at(13)), None);
        // The cause is gone: a closing line reports the rest, exactly once.
        assert_eq!(limit.take_suppressed(), 2);
        assert_eq!(limit.take_suppressed(), 0);
        assert_eq!(limit.admit_at(at(14)), None, "still the same period");
        assert_eq!(limit.admit_at(at(25)), Some(1));
    }

    #[test]
    fn a_flood_of_one_line_from_many_threads_is_counted_exactly() {
        let limit = std::sync::Arc::new(RateLimited::new(Duration::from_secs(3600)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limit = std::sync::Arc::clone(&limit);
                std::thread::spawn(move || {
                    (0..1_000)
                        .filter_map(|i| limit.line(|| format!("failure {i}")))
                        .count()
                })
            })
            .collect();
        let written: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(written, 1);
        assert_eq!(limit.take_suppressed(), 7_999);
        assert_eq!(
            with_suppressed("accounting not recorded: x".into(), 7_999),
            "accounting not recorded: x (7999 more like this suppressed)"
        );
        assert_eq!(with_suppressed("y".into(), 0), "y");
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
