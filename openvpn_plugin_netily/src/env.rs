//! OpenVPN's `envp` (NULL-terminated array of "name=value" C strings) as an
//! owned map, so nothing after this point touches a C pointer.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::raw::c_char;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// # Safety
    /// `envp` is NULL or a NULL-terminated array of NUL-terminated strings
    /// that stay valid for the duration of this call.
    pub unsafe fn from_envp(envp: *const *const c_char) -> Env {
        let mut map = HashMap::with_capacity(64);
        if envp.is_null() {
            return Env(map);
        }
        let mut i = 0;
        loop {
            // SAFETY: the caller guarantees the array is NULL-terminated, and
            // we stop at the terminator.
            let entry = unsafe { *envp.add(i) };
            if entry.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string (caller contract).
            let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
            if let Some(eq) = bytes.iter().position(|b| *b == b'=') {
                map.insert(
                    String::from_utf8_lossy(&bytes[..eq]).into_owned(),
                    String::from_utf8_lossy(&bytes[eq + 1..]).into_owned(),
                );
            }
            i += 1;
        }
        Env(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
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
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn envp_becomes_a_map() {
        let owned: Vec<CString> = ["a=1", "tls_serial_0=256", "novalue", "x=y=z"]
            .iter()
            .map(|s| CString::new(*s).unwrap())
            .collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: ptrs is NULL-terminated and the CStrings outlive the call.
        let env = unsafe { Env::from_envp(ptrs.as_ptr()) };
        assert_eq!(env.get("a"), Some("1"));
        assert_eq!(env.get("tls_serial_0"), Some("256"));
        assert_eq!(env.get("x"), Some("y=z"));
        assert_eq!(env.get("novalue"), None);
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { Env::from_envp(std::ptr::null()) }, Env::default());
    }

    #[test]
    fn real_address_joins_ip_and_port() {
        let env = Env::from_pairs(&[("trusted_ip", "10.1.1.1"), ("trusted_port", "5000")]);
        assert_eq!(env.real_address().as_deref(), Some("10.1.1.1:5000"));
        assert_eq!(Env::default().real_address(), None);
    }
}
