//! Acct-Unique-Session-Id as FreeRADIUS's stock `acct_unique` policy
//! (policy.d/accounting) makes it, so radacct rows stay keyed the same
//! whether stock rlm_sql, an import from it, or Netily wrote them.
//!
//! Netily computes it instead of the policy because FreeRADIUS 3.2.1 (the
//! version Debian 12 ships) leaks about 160 bytes in every `%{md5:...}`
//! expansion with OpenSSL 3 (its MD5 context is never freed; fixed in
//! 3.2.3, FreeRADIUS pull request 4894): radiusd grew 14 MB a minute at
//! 1,200 Accounting-Requests/s in the soak. Pure: nothing here can fail.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};

/// The policy's `class_value_prefix`: a Class Netily's own server set.
const CLASS_PREFIX: &[u8] = b"ai:";

/// What the policy hashes, each absent value printed as nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionAttributes<'a> {
    pub class: Option<&'a [u8]>,
    pub username: Option<&'a [u8]>,
    pub session_id: Option<&'a [u8]>,
    pub nas_ipv6: Option<Ipv6Addr>,
    pub nas_ip: Option<Ipv4Addr>,
    pub nas_identifier: Option<&'a [u8]>,
    pub nas_port_id: Option<&'a [u8]>,
    pub nas_port: Option<u32>,
}

/// The policy's value: md5 of "<class id>,<Acct-Session-Id>" when the Class
/// is `ai:` and 32 hex digits, else of "User-Name,Acct-Session-Id,NAS
/// address (IPv6 first),NAS-Identifier,NAS-Port-Id,NAS-Port"; lowercase hex.
pub fn acct_unique_session_id<'a>(a: &SessionAttributes<'a>) -> String {
    let text = |v: Option<&'a [u8]>| v.unwrap_or_default();
    let session_id = text(a.session_id);
    let input = if let Some(id) = a.class.and_then(class_id) {
        [id, session_id].join(&b","[..])
    } else {
        let address = match (a.nas_ipv6, a.nas_ip) {
            (Some(v6), _) => v6.to_string(),
            (None, Some(v4)) => v4.to_string(),
            (None, None) => String::new(),
        };
        let port = a.nas_port.map(|p| p.to_string()).unwrap_or_default();
        [
            text(a.username),
            session_id,
            address.as_bytes(),
            text(a.nas_identifier),
            text(a.nas_port_id),
            port.as_bytes(),
        ]
        .join(&b","[..])
    };
    let digest = Md5::digest(&input);
    let mut hex = String::with_capacity(32);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The 32 hex digits after the prefix, as the policy's regex captures them
/// (`/^ai:([0-9a-f]{32})/i`: case kept, anything may follow).
fn class_id(class: &[u8]) -> Option<&[u8]> {
    let id = class.strip_prefix(CLASS_PREFIX)?.get(..32)?;
    id.iter().all(u8::is_ascii_hexdigit).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values: md5 of the policy's string, by Python's hashlib.
    #[test]
    fn a_session_is_keyed_by_its_user_session_nas_and_port_as_the_stock_policy_does() {
        let a = SessionAttributes {
            username: Some(b"alice"),
            session_id: Some(b"sid-1"),
            nas_ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            nas_identifier: Some(b"mikrotik-1"),
            nas_port_id: Some(b"<pppoe-alice>"),
            nas_port: Some(15_728_640),
            ..SessionAttributes::default()
        };
        assert_eq!(
            acct_unique_session_id(&a),
            "1e6b914693fa2e79b87c9fae85f297e5"
        );
    }

    #[test]
    fn absent_attributes_are_empty_fields_and_ipv6_comes_first() {
        let a = SessionAttributes {
            username: Some(b"alice"),
            session_id: Some(b"sid-1"),
            nas_ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..SessionAttributes::default()
        };
        assert_eq!(
            acct_unique_session_id(&a),
            "12f51190063b7a908dbc6dbeea8aaaab"
        );
        let b = SessionAttributes {
            session_id: Some(b"sid-1"),
            nas_ipv6: Some("2001:db8::1".parse().unwrap_or(Ipv6Addr::LOCALHOST)),
            nas_ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            nas_port: Some(7),
            ..SessionAttributes::default()
        };
        assert_eq!(
            acct_unique_session_id(&b),
            "a37715b157f31b7ba0e8c0dbad40192e"
        );
    }

    #[test]
    fn a_class_from_our_server_keys_the_session_by_its_id() {
        let mut class = b"ai:0123456789abcdef0123456789ABCDEF".to_vec();
        class.extend_from_slice(b"-anything after");
        let a = SessionAttributes {
            class: Some(&class),
            username: Some(b"ignored"),
            session_id: Some(b"sid-1"),
            ..SessionAttributes::default()
        };
        assert_eq!(
            acct_unique_session_id(&a),
            "f1673a095cd5dd7ac33e290e5fa9196a"
        );
        // Not ours (too short, not hex): the attributes key it.
        for other in [
            &b"ai:0123"[..],
            b"ai:0123456789abcdef0123456789abcdeg",
            b"xx:",
        ] {
            let b = SessionAttributes {
                class: Some(other),
                ..a
            };
            let plain = SessionAttributes { class: None, ..a };
            assert_eq!(acct_unique_session_id(&b), acct_unique_session_id(&plain));
        }
    }
}
