//! The few variables the plugin reads from OpenVPN's `envp` (a
//! NULL-terminated array of "name=value" C strings), borrowed for the length
//! of one call, so nothing after this point touches a C pointer.
//!
//! OpenVPN passes 60-100 variables per event (every X.509 field, digests,
//! settings); copying them all into a map cost more than the rest of the
//! event. Only the names in [`NAMES`] are kept, without copying, and the
//! others are skipped after reading at most their name.

use std::borrow::Cow;
use std::ffi::CStr;
use std::os::raw::c_char;

/// Every variable the plugin reads. [`Env::get`] of another name is None.
pub const NAMES: [&str; 14] = [
    "tls_serial_0",
    "tls_serial_hex_0",
    "common_name",
    "X509_0_CN",
    "trusted_ip",
    "trusted_port",
    "untrusted_ip",
    "untrusted_port",
    "time_unix",
    "bytes_received",
    "bytes_sent",
    "time_duration",
    "verb",
    // The server's own tunnel address (from its `server` line).
    "ifconfig_local",
];

/// Longest name in [`NAMES`]: a '=' further in cannot end a wanted name.
const LONGEST: usize = 16;

fn slot(name: &[u8]) -> Option<usize> {
    NAMES.iter().position(|n| n.as_bytes() == name)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Env<'a> {
    values: [Option<Cow<'a, str>>; NAMES.len()],
}

impl<'a> Env<'a> {
    /// # Safety
    /// `envp` is NULL or a NULL-terminated array of NUL-terminated strings
    /// that stay valid and unchanged for `'a`.
    pub unsafe fn from_envp(envp: *const *const c_char) -> Env<'a> {
        let mut env = Env::default();
        if envp.is_null() {
            return env;
        }
        let mut i = 0;
        loop {
            // SAFETY: the caller guarantees the array is NULL-terminated, and
            // we stop at the terminator.
            let entry = unsafe { *envp.add(i) };
            if entry.is_null() {
                break;
            }
            i += 1;
            // Find '=' within the first LONGEST + 1 bytes, stopping at the NUL:
            // long values of unwanted variables are never read.
            let mut eq = None;
            for at in 0..=LONGEST {
                // SAFETY: the string is NUL-terminated (caller contract) and we
                // stop at the NUL, so every byte read is inside it.
                let byte = unsafe { *entry.add(at) } as u8;
                match byte {
                    0 => break,
                    b'=' => {
                        eq = Some(at);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(eq) = eq else { continue };
            // SAFETY: bytes 0..eq were just read inside the string.
            let name = unsafe { std::slice::from_raw_parts(entry as *const u8, eq) };
            let Some(k) = slot(name) else { continue };
            // SAFETY: entry + eq + 1 is the NUL-terminated rest of the string,
            // valid for 'a (caller contract).
            let value = unsafe { CStr::from_ptr(entry.add(eq + 1)) };
            // As a map would: the last of a repeated name wins.
            env.values[k] = Some(String::from_utf8_lossy(value.to_bytes()));
        }
        env
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(NAMES.contains(&name), "{name} is not in env::NAMES");
        self.values[slot(name.as_bytes())?].as_deref()
    }

    /// A counter such as bytes_received; missing or garbled reads as 0.
    pub fn counter(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// `trusted_ip:trusted_port`, the key OpenVPN's status file also shows.
    pub fn real_address(&self) -> Option<String> {
        let ip = self
            .get("trusted_ip")
            .or_else(|| self.get("untrusted_ip"))?;
        let port = self
            .get("trusted_port")
            .or_else(|| self.get("untrusted_port"))?;
        Some(format!("{ip}:{port}"))
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&'a str, &'a str)]) -> Env<'a> {
        let mut env = Env::default();
        for &(k, v) in pairs {
            let i = slot(k.as_bytes()).unwrap_or_else(|| panic!("{k} is not in env::NAMES"));
            env.values[i] = Some(Cow::Borrowed(v));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn parse(entries: &[&str]) -> Env<'static> {
        let owned: Vec<CString> = entries.iter().map(|s| CString::new(*s).unwrap()).collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: ptrs is NULL-terminated; the strings are leaked, so they
        // outlive the returned Env.
        let env = unsafe { Env::from_envp(ptrs.as_ptr()) };
        std::mem::forget(owned);
        env
    }

    #[test]
    fn wanted_variables_are_read_the_rest_skipped() {
        let env = parse(&[
            "time_unix=1",
            "tls_serial_0=256",
            "novalue",
            "common_name=y=z",
            "X509_0_emailAddress=someone@example.com",
            "a_rather_long_variable_name_nobody_reads=x",
            "trusted_port=1",
            "trusted_port=2",
            "bytes_sent=",
        ]);
        assert_eq!(env.get("time_unix"), Some("1"));
        assert_eq!(env.get("tls_serial_0"), Some("256"));
        assert_eq!(env.get("common_name"), Some("y=z"));
        assert_eq!(env.get("trusted_port"), Some("2"), "last one wins");
        assert_eq!(env.get("bytes_sent"), Some(""));
        assert_eq!(env.counter("bytes_sent"), 0);
        assert_eq!(env.get("bytes_received"), None);
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { Env::from_envp(std::ptr::null()) }, Env::default());
    }

    #[test]
    fn longest_is_the_longest_name() {
        assert_eq!(NAMES.iter().map(|n| n.len()).max(), Some(LONGEST));
        let env = parse(&["tls_serial_hex_0=01:00", "tls_serial_hex_00=ff"]);
        assert_eq!(env.get("tls_serial_hex_0"), Some("01:00"));
    }

    #[test]
    fn real_address_joins_ip_and_port() {
        let env = Env::from_pairs(&[("trusted_ip", "10.1.1.1"), ("trusted_port", "5000")]);
        assert_eq!(env.real_address().as_deref(), Some("10.1.1.1:5000"));
        assert_eq!(Env::default().real_address(), None);
        let env = Env::from_pairs(&[("untrusted_ip", "10.1.1.2"), ("untrusted_port", "5001")]);
        assert_eq!(env.real_address().as_deref(), Some("10.1.1.2:5001"));
    }
}
