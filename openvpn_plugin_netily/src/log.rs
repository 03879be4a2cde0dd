//! Two loggers for two kinds of thread.
//!
//! OpenVPN's `plugin_log` is not thread-safe, so [`HostLog`] is used only on
//! OpenVPN's thread (inside open/func/close). Background threads log through
//! the `log` facade to syslog (stderr when there is no syslog socket).

use std::ffi::CString;
use std::os::raw::c_char;

use crate::sys;

/// OpenVPN's logger, captured at open.
pub struct HostLog {
    log: sys::plugin_log_t,
    name: CString,
}

impl HostLog {
    pub fn new(log: sys::plugin_log_t) -> HostLog {
        HostLog {
            log,
            name: c"netily".to_owned(),
        }
    }

    pub fn note(&self, msg: &str) {
        self.emit(sys::PLOG_NOTE, msg)
    }

    pub fn warn(&self, msg: &str) {
        self.emit(sys::PLOG_WARN, msg)
    }

    pub fn error(&self, msg: &str) {
        self.emit(sys::PLOG_ERR, msg)
    }

    fn emit(&self, flags: sys::openvpn_plugin_log_flags_t, msg: &str) {
        let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        match self.log {
            // SAFETY: OpenVPN's plugin_log, called on OpenVPN's thread (this type
            // is only used there); the text is passed as the argument of "%s",
            // never as the format.
            Some(f) => unsafe {
                f(
                    flags,
                    self.name.as_ptr(),
                    c"%s".as_ptr() as *const c_char,
                    text.as_ptr(),
                )
            },
            None => eprintln!("netily: {msg}"),
        }
    }
}

/// Installs the background threads' logger once per process (the library
/// stays loaded across SIGHUP thanks to -z nodelete, so once is enough).
pub fn init_background_logger() {
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_DAEMON,
        hostname: None,
        process: "openvpn-netily".into(),
        pid: std::process::id(),
    };
    let installed = match syslog::unix(formatter) {
        Ok(logger) => log::set_boxed_logger(Box::new(syslog::BasicLogger::new(logger))),
        Err(_) => log::set_boxed_logger(Box::new(Stderr)),
    };
    if installed.is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Fallback when no syslog daemon listens: OpenVPN's stderr (its log file
/// when run in the foreground).
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("netily[bg] {}: {}", r.level(), r.args());
        }
    }

    fn flush(&self) {}
}
