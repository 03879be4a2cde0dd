//! The exported entry points. Each is one trampoline behind one panic guard:
//! a panic becomes OPENVPN_PLUGIN_FUNC_ERROR, never an unwind into OpenVPN.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use netily_core::clock::now;

use crate::args::Args;
use crate::env::Env;
use crate::log::HostLog;
use crate::state::Plugin;
use crate::sys;

const SUCCESS: c_int = sys::OPENVPN_PLUGIN_FUNC_SUCCESS as c_int;
const ERROR: c_int = sys::OPENVPN_PLUGIN_FUNC_ERROR as c_int;

fn mask(event: u32) -> c_int {
    1 << event
}

/// Runs `f`; a panic is reported on stderr (OpenVPN's log) and becomes ERROR.
fn guard(what: &str, f: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(rc) => rc,
        Err(_) => {
            log::error!("internal error in {what}; answered OPENVPN_PLUGIN_FUNC_ERROR");
            ERROR
        }
    }
}

/// The plugin API version we need (v3 open/func).
#[no_mangle]
pub extern "C" fn openvpn_plugin_min_version_required_v1() -> c_int {
    3
}

/// # Safety
/// Called by OpenVPN with valid argument structures (plugin API v3).
#[no_mangle]
pub unsafe extern "C" fn openvpn_plugin_open_v3(
    v3structver: c_int,
    arguments: *const sys::openvpn_plugin_args_open_in,
    retptr: *mut sys::openvpn_plugin_args_open_return,
) -> c_int {
    guard("open", || {
        if arguments.is_null() || retptr.is_null() {
            return ERROR;
        }
        // SAFETY: OpenVPN passes a valid, live openvpn_plugin_args_open_in.
        let args = unsafe { &*arguments };
        let host_log = host_log_of(args);
        if v3structver < sys::OPENVPN_PLUGINv3_STRUCTVER as c_int {
            host_log.error(&format!(
                "this OpenVPN's plugin API is too old (structver {v3structver}, need {})",
                sys::OPENVPN_PLUGINv3_STRUCTVER
            ));
            return ERROR;
        }
        // SAFETY: argv is a NULL-terminated array of C strings (argv[0] is the
        // library path), valid during this call.
        let words = unsafe { argv_words(args.argv) };
        let parsed = match Args::parse(words.iter().skip(1).map(String::as_str)) {
            Ok(a) => a,
            Err(e) => {
                host_log.error(&e);
                return ERROR;
            }
        };
        // SAFETY: envp is a NULL-terminated "name=value" array valid during open.
        let verb = unsafe { Env::from_envp(args.envp) }.counter("verb");
        let plugin = match Plugin::start(parsed, host_log, verb) {
            Ok(p) => p,
            Err(e) => {
                host_log_of(args).error(&format!("cannot start: {e}"));
                return ERROR;
            }
        };
        // SAFETY: retptr is OpenVPN's writable return structure.
        let ret = unsafe { &mut *retptr };
        ret.type_mask = mask(sys::OPENVPN_PLUGIN_TLS_VERIFY)
            | mask(sys::OPENVPN_PLUGIN_CLIENT_CONNECT_V2)
            | mask(sys::OPENVPN_PLUGIN_CLIENT_DISCONNECT);
        ret.handle = Box::into_raw(Box::new(plugin)) as *mut c_void;
        SUCCESS
    })
}

/// # Safety
/// Called by OpenVPN with the handle open returned and valid argument structures.
#[no_mangle]
pub unsafe extern "C" fn openvpn_plugin_func_v3(
    _version: c_int,
    arguments: *const sys::openvpn_plugin_args_func_in,
    retptr: *mut sys::openvpn_plugin_args_func_return,
) -> c_int {
    guard("func", || {
        let started = Instant::now();
        let cpu_started = crate::timing::thread_cpu_time();
        let switches_before = crate::timing::thread_voluntary_switches();
        if arguments.is_null() {
            return ERROR;
        }
        // SAFETY: OpenVPN passes a valid, live openvpn_plugin_args_func_in.
        let args = unsafe { &*arguments };
        if args.handle.is_null() {
            return ERROR;
        }
        // SAFETY: the handle is the Box<Plugin> from open, alive until close;
        // OpenVPN calls us from one thread only.
        let plugin = unsafe { &*(args.handle as *const Plugin) };
        // SAFETY: envp is a NULL-terminated "name=value" array valid during the call.
        let env = unsafe { Env::from_envp(args.envp) };
        let event = args.type_ as u32;
        let (kind, rc) = match event {
            sys::OPENVPN_PLUGIN_TLS_VERIFY => (
                "TLS_VERIFY",
                tls_verify(plugin, args.current_cert_depth, &env),
            ),
            sys::OPENVPN_PLUGIN_CLIENT_CONNECT_V2 => {
                ("CLIENT_CONNECT_V2", client_connect(plugin, &env, retptr))
            }
            sys::OPENVPN_PLUGIN_CLIENT_DISCONNECT => {
                ("CLIENT_DISCONNECT", client_disconnect(plugin, &env))
            }
            _ => ("OTHER", SUCCESS),
        };
        let wall = started.elapsed();
        let cpu = crate::timing::thread_cpu_time().saturating_sub(cpu_started);
        let blocked = crate::timing::thread_voluntary_switches() > switches_before;
        let mut timings = plugin.timings.lock();
        timings.record_both(kind, wall, cpu);
        if blocked {
            timings.record_blocked();
        }
        rc
    })
}

fn tls_verify(plugin: &Plugin, depth: c_int, env: &Env) -> c_int {
    match plugin.core.tls_verify(depth, env) {
        Ok(_) => SUCCESS,
        Err(why) => {
            plugin.log.warn(&why);
            ERROR
        }
    }
}

fn client_connect(
    plugin: &Plugin,
    env: &Env,
    retptr: *mut sys::openvpn_plugin_args_func_return,
) -> c_int {
    match plugin.core.client_connect(env, now()) {
        Ok((line, note)) => {
            if retptr.is_null() {
                plugin.log.error("CLIENT_CONNECT_V2 without a return list");
                return ERROR;
            }
            // SAFETY: retptr is OpenVPN's return structure; return_list points
            // to the list head OpenVPN will read and free.
            let list_head = unsafe { (*retptr).return_list };
            // SAFETY: list_head is OpenVPN's writable list pointer (or NULL).
            match unsafe { config_list(list_head, &line) } {
                true => {
                    // Only at verb 4+: the recorder logs it to syslog anyway.
                    if let Some(note) = note {
                        plugin.log.note(&note);
                    }
                    SUCCESS
                }
                false => {
                    plugin
                        .log
                        .error("out of memory building the ifconfig-push reply");
                    ERROR
                }
            }
        }
        Err(why) => {
            plugin.log.warn(&why);
            ERROR
        }
    }
}

fn client_disconnect(plugin: &Plugin, env: &Env) -> c_int {
    if let Some(note) = plugin.core.client_disconnect(env, now()) {
        plugin.log.note(&note);
    }
    SUCCESS
}

/// # Safety
/// Called once by OpenVPN with the handle open returned.
#[no_mangle]
pub unsafe extern "C" fn openvpn_plugin_close_v1(handle: sys::openvpn_plugin_handle_t) {
    guard("close", || {
        if !handle.is_null() {
            // SAFETY: the handle is the Box<Plugin> from open; OpenVPN calls
            // close once and never uses the handle again.
            let plugin = unsafe { Box::from_raw(handle as *mut Plugin) };
            plugin.shutdown();
        }
        SUCCESS
    });
}

fn host_log_of(args: &sys::openvpn_plugin_args_open_in) -> HostLog {
    if args.callbacks.is_null() {
        return HostLog::new(None);
    }
    // SAFETY: callbacks points to OpenVPN's callback table, valid for the
    // plugin's lifetime.
    HostLog::new(unsafe { (*args.callbacks).plugin_log })
}

/// # Safety
/// `argv` is NULL or a NULL-terminated array of valid C strings.
unsafe fn argv_words(argv: *const *const c_char) -> Vec<String> {
    let mut out = Vec::new();
    if argv.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        // SAFETY: NULL-terminated array (caller contract); we stop at NULL.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            return out;
        }
        // SAFETY: each entry is a NUL-terminated string.
        out.push(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
        i += 1;
    }
}

/// Puts one `config` entry holding `line` into OpenVPN's return list. The
/// memory comes from malloc because OpenVPN frees it with free().
///
/// # Safety
/// `head` is NULL or OpenVPN's writable `openvpn_plugin_string_list **`.
unsafe fn config_list(head: *mut *mut sys::openvpn_plugin_string_list, line: &str) -> bool {
    if head.is_null() {
        return false;
    }
    if line.as_bytes().contains(&0) {
        return false;
    }
    // SAFETY: plain C allocations, checked for NULL below and handed to OpenVPN;
    // value gets line's bytes (no NUL inside, checked above) and a final NUL.
    unsafe {
        let node = libc::malloc(std::mem::size_of::<sys::openvpn_plugin_string_list>())
            as *mut sys::openvpn_plugin_string_list;
        let name = libc::strdup(c"config".as_ptr());
        let value = libc::malloc(line.len() + 1) as *mut c_char;
        if !value.is_null() {
            std::ptr::copy_nonoverlapping(line.as_ptr(), value as *mut u8, line.len());
            value.add(line.len()).write(0);
        }
        if node.is_null() || name.is_null() || value.is_null() {
            libc::free(node as *mut c_void);
            libc::free(name as *mut c_void);
            libc::free(value as *mut c_void);
            return false;
        }
        node.write(sys::openvpn_plugin_string_list {
            next: std::ptr::null_mut(),
            name,
            value,
        });
        *head = node;
    }
    true
}
