//! /etc/netily/netily.conf. Whatever the text, the parser answers (a config
//! or one error line naming the line), never echoes a `ca_key_seal` value
//! (the CA key's seal: errors are logged and printed), and what it keeps
//! reads back the same: `vpn_remote` and the walled-garden rate round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netily_core::config::{Config, VpnRemote};
use netily_core::rate::RateLimit;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.conf") {
        Ok(c) => {
            assert!(!c.database_url.is_empty());
            assert!((1..=1000).contains(&c.pool_size));
            if let Some(remote) = &c.vpn_remote {
                assert_eq!(VpnRemote::parse(&remote.to_string()).as_ref(), Some(remote));
            }
            let rate = c.walled_garden_rate.to_string();
            assert_eq!(
                rate.parse::<RateLimit>().ok(),
                Some(c.walled_garden_rate.clone())
            );
            assert!(!c.walled_garden_address_list.is_empty());
            assert!(!c.walled_garden_address_list.contains(char::is_whitespace));
            // The plan the plugin pushes addresses from is the one configured.
            let _ = c.router_plan().server_address();
        }
        Err(e) => {
            assert!(e.0.starts_with("fuzz.conf:"), "{e}");
            assert!(!e.0.contains('\n'), "one line: {e:?}");
            for (n, secret) in seal_values(text) {
                if e.0.starts_with(&format!("fuzz.conf:{n}:")) {
                    assert!(
                        !e.0.contains(secret),
                        "the error shows a ca_key_seal value: {e}"
                    );
                }
            }
        }
    }
    // Any text as a vpn_remote: what parses prints as something that parses
    // back the same (netadmin prints it; the profile's `remote` line uses it).
    for line in text.lines() {
        if let Some(remote) = VpnRemote::parse(line.trim()) {
            assert_eq!(
                VpnRemote::parse(&remote.to_string()),
                Some(remote.clone()),
                "{line:?}"
            );
            assert!(!remote.host.is_empty() && !remote.host.contains(char::is_whitespace));
        }
    }
});

/// Each line that starts with `ca_key_seal` (however it goes on: `=`, `:`,
/// blanks), numbered from 1, with the key an operator meant to give there.
fn seal_values(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let rest = line.trim_start().strip_prefix("ca_key_seal")?;
        if rest.starts_with('_') {
            // Another key (ca_key_seal_file).
            return None;
        }
        let value = rest
            .trim_start_matches(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .trim_end();
        let value = value
            .split('#')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        // Short values are not keys (and would match unrelated text).
        (value.len() >= 16).then_some((i + 1, value))
    })
}
