//! The exported `rlm_netily` module_t. Every entry point is a trampoline into
//! safe Rust behind one panic guard: a panic becomes `fail` (or a failed
//! instantiate) and a log line, never an unwind into radiusd.
//!
//! Before anything else, authorize, accounting and post-auth drop a request
//! from a RADIUS client that has left the nas table (a removed router or
//! NAS; see [`crate::clients`]): no reply is sent (`handled`, or `noop` in
//! post-auth, with `Response-Packet-Type := Do-Not-Respond`), nothing is
//! recorded.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::offset_of;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::ptr;
use std::sync::Once;
use std::time::Duration;

use log::Level;
use netily_core::decision::ReplyAttribute;

use crate::clients::{self, NasDirectory};
use crate::glue::{self, Core, Outcome};
use crate::request::{List, Mode, PairError, Request};
use crate::settings::{Section, Settings};
use crate::sys;
use crate::values::{self, AccessValues, AccountingValues, PostAuthValues};

/// Per-instance data. FreeRADIUS allocates `inst_size` zeroed bytes, fills the
/// config fields from the CONF_PARSER table below, and frees it after detach.
#[repr(C)]
pub struct Instance {
    /// char * owned by the instance (talloc), set by the config parser.
    config_file: *const c_char,
    pool_size: u32,
    db_timeout: u32,
    /// char * owned by the instance (talloc), set by the config parser.
    journal_dir: *const c_char,
    journal_max_mb: u32,
    /// Ours: created in instantiate, dropped in detach.
    core: *mut Core,
    /// Ours: the nas table for dynamic clients (null if it could not start).
    clients: *mut NasDirectory,
}

/// Lets C tables with raw pointers live in statics; they are never mutated.
#[repr(transparent)]
pub struct Exported<T>(T);

// SAFETY: the wrapped tables are immutable after compilation and only hold
// pointers to other statics (string literals, the config table).
unsafe impl<T> Sync for Exported<T> {}

const fn entry(
    name: &'static CStr,
    kind: sys::PW_TYPE,
    offset: usize,
    default: &'static CStr,
) -> sys::CONF_PARSER {
    sys::CONF_PARSER {
        name: name.as_ptr(),
        type_: kind as c_int,
        offset,
        data: ptr::null_mut(),
        dflt: default.as_ptr().cast(),
    }
}

/// The public config of `mods-available/netily`.
static CONFIG: Exported<[sys::CONF_PARSER; 6]> = Exported([
    entry(
        c"config_file",
        sys::PW_TYPE_STRING,
        offset_of!(Instance, config_file),
        c"/etc/netily/netily.conf",
    ),
    entry(
        c"pool_size",
        sys::PW_TYPE_INTEGER,
        offset_of!(Instance, pool_size),
        c"0",
    ),
    entry(
        c"db_timeout",
        sys::PW_TYPE_INTEGER,
        offset_of!(Instance, db_timeout),
        c"2",
    ),
    entry(
        c"journal_dir",
        sys::PW_TYPE_STRING,
        offset_of!(Instance, journal_dir),
        c"/var/log/freeradius/radacct/netily-journal",
    ),
    entry(
        c"journal_max_mb",
        sys::PW_TYPE_INTEGER,
        offset_of!(Instance, journal_max_mb),
        c"2048",
    ),
    // CONF_PARSER_TERMINATOR
    sys::CONF_PARSER {
        name: ptr::null(),
        type_: -1,
        offset: 0,
        data: ptr::null_mut(),
        dflt: ptr::null(),
    },
]);

/// The symbol FreeRADIUS looks up after dlopen("rlm_netily.so").
#[export_name = "rlm_netily"]
pub static MODULE: Exported<sys::module_t> = Exported(sys::module_t {
    magic: sys::RLM_MODULE_INIT,
    name: c"netily".as_ptr(),
    type_: sys::RLM_TYPE_THREAD_SAFE as c_int,
    inst_size: std::mem::size_of::<Instance>(),
    config: ptr::addr_of!(CONFIG.0).cast(),
    bootstrap: None,
    instantiate: Some(mod_instantiate),
    detach: Some(mod_detach),
    methods: [
        None,                 // authenticate: pap/chap/mschap do it
        Some(mod_authorize),  // authorize
        Some(mod_preacct),    // preacct
        Some(mod_accounting), // accounting
        None,                 // session
        None,                 // pre-proxy
        None,                 // post-proxy
        Some(mod_post_auth),  // post-auth
        None,                 // recv-coa
        None,                 // send-coa
    ],
});

fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)")
}

/// The one panic guard: runs `f`, or logs the panic and returns `failed`.
fn guard<R>(entry_point: &str, failed: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            crate::log::radlog(
                Level::Error,
                &format!(
                    "rlm_netily: {entry_point} panicked ({}); returning failure",
                    panic_text(&*payload)
                ),
            );
            failed
        }
    }
}

/// Panic messages go to the server log instead of stderr (once per process).
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            crate::log::radlog(
                Level::Error,
                &format!("rlm_netily: panic{at}: {}", panic_text(info.payload())),
            );
        }));
    });
}

/// # Safety
/// `instance` is the Instance FreeRADIUS allocated for this module, already
/// filled by the config parser.
unsafe fn section(instance: &Instance) -> Section {
    // SAFETY: both are null or set by the config parser (see `path`).
    let (config_file, journal_dir) = unsafe {
        (
            path(instance.config_file, "/etc/netily/netily.conf"),
            path(
                instance.journal_dir,
                "/var/log/freeradius/radacct/netily-journal",
            ),
        )
    };
    Section {
        config_file,
        pool_size: instance.pool_size,
        db_timeout: Duration::from_secs(u64::from(instance.db_timeout)),
        journal_dir,
        journal_max_mb: instance.journal_max_mb,
    }
}

/// A path item of the section, or `default` when it is unset.
///
/// # Safety
/// `raw` is null or a NUL-terminated string that outlives the call (the
/// config parser stores talloc strings that live as long as the instance).
unsafe fn path(raw: *const c_char, default: &str) -> PathBuf {
    if raw.is_null() {
        return PathBuf::from(default);
    }
    // SAFETY: as the caller promises.
    let raw = unsafe { CStr::from_ptr(raw) };
    PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(raw.to_bytes()))
}

unsafe extern "C" fn mod_instantiate(_cs: *mut sys::CONF_SECTION, instance: *mut c_void) -> c_int {
    guard("instantiate", -1, || {
        crate::log::init();
        install_panic_hook();
        // SAFETY: FreeRADIUS passes our inst_size-sized, config-filled Instance.
        let Some(inst) = (unsafe { instance.cast::<Instance>().as_mut() }) else {
            log::error!("instantiate called without instance data");
            return -1;
        };
        // SAFETY: as above.
        let section = unsafe { section(inst) };
        log::info!(
            "instantiating (FreeRADIUS {}, config_file {}, pool_size {}, db_timeout {}s, \
             journal_dir {}, journal_max_mb {})",
            sys::FREERADIUS_VERSION,
            section.config_file.display(),
            section.pool_size,
            section.db_timeout.as_secs(),
            section.journal_dir.display(),
            section.journal_max_mb
        );
        // The one read of the config file; a broken one stops radiusd.
        let settings = match Settings::read(&section) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot start: {e}");
                return -1;
            }
        };
        // Started first so its first load overlaps the subscriber load.
        let directory = match NasDirectory::start(
            settings.database_url.clone(),
            settings.router_plan,
            settings.timeout,
        ) {
            Ok(d) => d,
            Err(e) => {
                log::error!("cannot start: cannot start the RADIUS client thread: {e}");
                return -1;
            }
        };
        // Before the snapshot starts: it checks override rows against it.
        let dictionary = crate::dictionary::confirmed();
        match Core::new(&settings, dictionary) {
            Ok(core) => {
                inst.core = Box::into_raw(Box::new(core));
                directory.register_at_start(settings.timeout);
                inst.clients = Box::into_raw(Box::new(directory));
                0
            }
            Err(e) => {
                log::error!("cannot start: {e}");
                -1
            }
        }
    })
}

unsafe extern "C" fn mod_detach(instance: *mut c_void) -> c_int {
    guard("detach", -1, || {
        // SAFETY: our Instance; core is null or the Box from instantiate, and
        // no request is in flight once FreeRADIUS detaches.
        unsafe {
            if let Some(inst) = instance.cast::<Instance>().as_mut() {
                let core = std::mem::replace(&mut inst.core, ptr::null_mut());
                if !core.is_null() {
                    drop(Box::from_raw(core));
                }
                let directory = std::mem::replace(&mut inst.clients, ptr::null_mut());
                if !directory.is_null() {
                    drop(Box::from_raw(directory));
                }
            }
        }
        0
    })
}

/// The shared part of every method trampoline: checks the pointers, then runs
/// `f` with the instance's core and a safe view of the request.
///
/// # Safety
/// `instance` and `request` are what FreeRADIUS passed to a module method.
unsafe fn method(
    name: &str,
    instance: *mut c_void,
    request: *mut sys::REQUEST,
    f: impl FnOnce(&Core, &mut Request<'_>) -> sys::rlm_rcode_t,
) -> sys::rlm_rcode_t {
    guard(name, sys::RLM_MODULE_FAIL, || {
        // SAFETY: instantiate succeeded before any method runs, so core is
        // the live Box (or null if something went badly wrong). Core is Sync.
        let core = unsafe {
            instance
                .cast::<Instance>()
                .as_ref()
                .and_then(|i| i.core.as_ref())
        };
        // SAFETY: request is this call's REQUEST, used only through the view.
        let request = unsafe { Request::from_raw(request) };
        match (core, request) {
            (Some(core), Some(mut request)) => f(core, &mut request),
            _ => {
                log::error!("{name} called without instance or request");
                sys::RLM_MODULE_FAIL
            }
        }
    })
}

unsafe extern "C" fn mod_authorize(
    instance: *mut c_void,
    request: *mut sys::REQUEST,
) -> sys::rlm_rcode_t {
    // SAFETY: arguments straight from FreeRADIUS.
    if let Some(address) = unsafe { clients::being_defined(request) } {
        // SAFETY: as above.
        return unsafe { define_client(instance, request, address) };
    }
    // SAFETY: arguments straight from FreeRADIUS.
    if unsafe { from_removed_client("authorize", instance, request) } {
        return sys::RLM_MODULE_HANDLED;
    }
    // SAFETY: arguments straight from FreeRADIUS.
    unsafe {
        method("authorize", instance, request, |core, request| {
            let values = AccessValues::read(request);
            #[cfg(feature = "test-hooks")]
            if let Some(outcome) = crate::test_hooks::authorize(&values) {
                return apply(request, outcome);
            }
            let outcome = glue::authorize(core, &values);
            apply(request, outcome)
        })
    }
}

/// authorize in the dynamic-clients virtual server: is this source address
/// one of our NAS, and with which secret?
///
/// # Safety
/// `instance` and `request` are what FreeRADIUS passed to authorize.
unsafe fn define_client(
    instance: *mut c_void,
    request: *mut sys::REQUEST,
    address: Option<std::net::IpAddr>,
) -> sys::rlm_rcode_t {
    guard("authorize (dynamic client)", sys::RLM_MODULE_FAIL, || {
        // SAFETY: instantiate set `clients` (or left it null) before any
        // method runs; NasDirectory is Sync.
        let directory = unsafe {
            instance
                .cast::<Instance>()
                .as_ref()
                .and_then(|i| i.clients.as_ref())
        };
        match directory {
            // SAFETY: request is this call's REQUEST.
            Some(d) => unsafe { clients::define(d, request, address) },
            None => {
                log::error!("dynamic client request but the nas table is not running");
                sys::RLM_MODULE_FAIL
            }
        }
    })
}

/// True when the request came from a RADIUS client that is no longer in the
/// nas table: it is then marked to get no reply ([`clients::not_answered`]).
///
/// # Safety
/// `instance` and `request` are what FreeRADIUS passed to a module method.
unsafe fn from_removed_client(
    name: &str,
    instance: *mut c_void,
    request: *mut sys::REQUEST,
) -> bool {
    guard(name, false, || {
        // SAFETY: instantiate set `clients` (or left it null) before any
        // method runs; NasDirectory is Sync.
        let directory = unsafe {
            instance
                .cast::<Instance>()
                .as_ref()
                .and_then(|i| i.clients.as_ref())
        };
        // SAFETY: request is this call's REQUEST.
        directory.is_some_and(|d| unsafe { clients::not_answered(d, request) })
    })
}

/// Gives a packet without an Acct-Unique-Session-Id the one the stock
/// `acct_unique` policy would (netily_core::acct_unique says why Netily
/// does it): `updated` then, `noop` when the packet has one already.
unsafe extern "C" fn mod_preacct(
    instance: *mut c_void,
    request: *mut sys::REQUEST,
) -> sys::rlm_rcode_t {
    // SAFETY: arguments straight from FreeRADIUS.
    unsafe {
        method("preacct", instance, request, |_core, request| {
            let Some(id) = values::acct_unique_session_id(request) else {
                return sys::RLM_MODULE_NOOP;
            };
            match request.replace(List::Request, ACCT_UNIQUE_SESSION_ID, &id) {
                Ok(()) => sys::RLM_MODULE_UPDATED,
                Err(e) => set_failed(e),
            }
        })
    }
}

/// The attribute [`mod_preacct`] sets.
const ACCT_UNIQUE_SESSION_ID: &str = "Acct-Unique-Session-Id";

unsafe extern "C" fn mod_accounting(
    instance: *mut c_void,
    request: *mut sys::REQUEST,
) -> sys::rlm_rcode_t {
    // SAFETY: arguments straight from FreeRADIUS.
    if unsafe { from_removed_client("accounting", instance, request) } {
        return sys::RLM_MODULE_HANDLED;
    }
    // SAFETY: arguments straight from FreeRADIUS.
    unsafe {
        method("accounting", instance, request, |core, request| {
            let values = AccountingValues::read(request);
            apply(request, glue::accounting(core, &values))
        })
    }
}

unsafe extern "C" fn mod_post_auth(
    instance: *mut c_void,
    request: *mut sys::REQUEST,
) -> sys::rlm_rcode_t {
    // SAFETY: arguments straight from FreeRADIUS.
    if unsafe { from_removed_client("post-auth", instance, request) } {
        return sys::RLM_MODULE_NOOP;
    }
    // SAFETY: arguments straight from FreeRADIUS.
    unsafe {
        method("post-auth", instance, request, |core, request| {
            let accepted = match request.reply_code() {
                Some(sys::PW_CODE_ACCESS_ACCEPT) => true,
                // A challenge (an EAP round trip) is a step, not a decision:
                // the log records the Accept or Reject that ends it.
                Some(sys::PW_CODE_ACCESS_CHALLENGE) => return sys::RLM_MODULE_NOOP,
                _ => false,
            };
            let values = PostAuthValues::read(request);
            apply(request, glue::post_auth(core, &values, accepted))
        })
    }
}

/// Sets the decision's reply attributes in the reply list: the first of
/// each name replaces the list's instances, later ones of the same name are
/// added (`+=` overrides).
fn set_reply(request: &mut Request<'_>, reply: &[ReplyAttribute]) -> Result<(), sys::rlm_rcode_t> {
    for (i, a) in reply.iter().enumerate() {
        let repeated = reply[..i]
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(&a.name));
        let mode = if repeated {
            Mode::Append
        } else {
            Mode::Replace
        };
        request
            .set(List::Reply, mode, &a.name, &a.value)
            .map_err(set_failed)?;
    }
    Ok(())
}

/// Logs why an attribute could not be set: the request then fails.
fn set_failed(e: PairError) -> sys::rlm_rcode_t {
    log::error!("{e}");
    sys::RLM_MODULE_FAIL
}

/// The reply attribute a refused subscriber's device may show.
const REPLY_MESSAGE: &str = "Reply-Message";

/// Turns a plain outcome into pairs on the request and a return code.
fn apply(request: &mut Request<'_>, outcome: Outcome) -> sys::rlm_rcode_t {
    match outcome {
        Outcome::Accept {
            password_attribute,
            password,
            reply,
            why,
        } => {
            if request.debugging(Level::Info) {
                request.log(Level::Info, &format!("accept: {why}"));
            }
            if let Err(e) = request.replace(List::Control, password_attribute, &password) {
                return set_failed(e);
            }
            if let Err(code) = set_reply(request, &reply) {
                return code;
            }
            sys::RLM_MODULE_OK
        }
        Outcome::Reject { reply_message, log } => {
            auth_line(request, &log);
            if let Err(e) = request.replace(List::Reply, REPLY_MESSAGE, reply_message) {
                return set_failed(e);
            }
            sys::RLM_MODULE_REJECT
        }
        Outcome::NotFound => {
            // Usually rejected by the next module, which says nothing why.
            auth_line(request, "not a subscriber (left to the next module)");
            sys::RLM_MODULE_NOTFOUND
        }
        Outcome::Done { log } => {
            request.log(Level::Info, &log);
            sys::RLM_MODULE_OK
        }
        Outcome::Noop => sys::RLM_MODULE_NOOP,
        Outcome::Invalid { log } => {
            auth_line(request, &format!("invalid request: {log}"));
            sys::RLM_MODULE_INVALID
        }
        Outcome::Fail { log } => {
            if let Some(log) = log {
                log::error!("{log}");
            }
            sys::RLM_MODULE_FAIL
        }
    }
}

/// One line in the normal server log (Auth level, not only with -X) saying
/// what happened to whom, in the shape of the server's own auth lines:
/// `(7) rlm_netily: reject (...): ...: [bob] (from client nas1 cli 00:11:..)`.
/// Request values are escaped and cut short; passwords are never read here.
fn auth_line(request: &Request<'_>, what: &str) {
    let shown = |b: &[u8]| crate::log::safe_value(b, crate::log::SHOWN_CHARS);
    let user = request
        .bytes(sys::PW_USER_NAME)
        .map_or_else(|| "(no User-Name)".to_owned(), shown);
    let client = request
        .client_name()
        .map_or_else(|| "unknown".to_owned(), shown);
    let cli = request
        .bytes(sys::PW_CALLING_STATION_ID)
        .map(|b| format!(" cli {}", shown(b)))
        .unwrap_or_default();
    crate::log::auth(&format!(
        "({}) rlm_netily: {what}: [{user}] (from client {client}{cli})",
        request.number()
    ));
}
