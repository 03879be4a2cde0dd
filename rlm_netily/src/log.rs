//! `log::Log` -> FreeRADIUS's `radlog`, so core and module messages land in the
//! server's log with its levels. Text always travels as the argument of a
//! constant "%s" format: a `%` in a username can never be read as a directive.

use std::ffi::{c_char, CString};

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
