//! OpenVPN's `envp` as the plugin reads it (raw pointers, a bounded scan for
//! '='): the entries are the input's lines. Under AddressSanitizer no read
//! leaves a string; every kept variable is what a map of the entries would
//! hold (the last of a repeated name wins); the certificate serial read from
//! it round-trips between decimal and hex.
#![no_main]

use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::c_char;

use libfuzzer_sys::fuzz_target;
use netily_core::pki::Serial;
use openvpn_plugin_netily::fuzzing::{Env, NAMES};

fuzz_target!(|data: &[u8]| {
    // A C string cannot hold NUL: it ends an entry, as it would in C.
    let entries: Vec<CString> = data
        .split(|b| *b == b'\n')
        .map(|line| {
            let end = line.iter().position(|b| *b == 0).unwrap_or(line.len());
            CString::new(&line[..end]).unwrap_or_default()
        })
        .collect();
    let mut ptrs: Vec<*const c_char> = entries.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NULL-terminated array of NUL-terminated strings, alive (in
    // `entries`) for as long as `env`.
    let env = unsafe { Env::from_envp(ptrs.as_ptr()) };

    let mut model: HashMap<&[u8], &[u8]> = HashMap::new();
    for e in &entries {
        let bytes = e.as_bytes();
        if let Some(eq) = bytes.iter().position(|b| *b == b'=') {
            model.insert(&bytes[..eq], &bytes[eq + 1..]);
        }
    }
    for name in NAMES {
        let want = model
            .get(name.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned());
        assert_eq!(env.get(name).map(str::to_owned), want, "{name}");
    }
    if let Some(address) = env.real_address() {
        assert!(address.contains(':'));
    }
    let _ = env.counter("bytes_received");

    if let Some(Ok(serial)) = env.get("tls_serial_0").map(Serial::from_decimal) {
        check_serial(&serial);
    }
    if let Some(Ok(serial)) = env.get("tls_serial_hex_0").map(Serial::from_hex) {
        check_serial(&serial);
    }
});

fn check_serial(serial: &Serial) {
    let bytes = serial.as_bytes();
    assert!(!bytes.is_empty() && bytes.len() <= 20 && bytes[0] != 0);
    assert_eq!(
        Serial::from_decimal(&serial.to_decimal()).ok().as_ref(),
        Some(serial)
    );
    assert_eq!(
        Serial::from_hex(&serial.to_hex()).ok().as_ref(),
        Some(serial)
    );
    assert_eq!(
        Serial::from_hex(&serial.to_colon_hex()).ok().as_ref(),
        Some(serial)
    );
}
