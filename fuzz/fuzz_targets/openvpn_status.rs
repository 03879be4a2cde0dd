//! OpenVPN's status file (status-version 3), read every few seconds while
//! OpenVPN rewrites it. A read without the final END is never used; each
//! client row's fields are single tab-free values; the heartbeat tracker
//! takes any counters and clock; and the `kill` line the cutoff would send
//! for a listed client is one command naming one instance, never more.
#![no_main]

use std::net::SocketAddrV4;

use libfuzzer_sys::fuzz_target;
use openvpn_plugin_netily::fuzzing::kill_command;
use openvpn_plugin_netily::status::{parse_status, HeartbeatTracker};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(clients) = parse_status(text) else {
        return;
    };
    let last = text
        .lines()
        .rev()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.is_empty());
    assert_eq!(last, Some("END"));
    let rows = text
        .lines()
        .filter(|l| l.starts_with("CLIENT_LIST\t"))
        .count();
    assert_eq!(clients.len(), rows);
    for c in &clients {
        for field in [&c.common_name, &c.real_address, &c.virtual_address] {
            assert!(!field.contains(['\t', '\n']), "{field:?}");
        }
    }
    // The counters and times come from the file here: any values at all.
    let mut tracker = HeartbeatTracker::default();
    for c in &clients {
        let beats = tracker.update(clients.clone(), c.bytes_sent, c.bytes_received);
        assert!(beats.len() <= clients.len());
    }
    for c in &clients {
        let Some(line) = kill_command(&c.real_address, &c.common_name) else {
            continue;
        };
        let words: Vec<&str> = line
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{line:?} is not one line"))
            .split(' ')
            .collect();
        assert!(
            !line[..line.len() - 1].contains(['\n', '\r', '\0']),
            "{line:?}"
        );
        assert_eq!(words.len(), 2, "{line:?}");
        assert_eq!(words[0], "kill");
        let target = words[1];
        // OpenVPN reads IP:PORT as one instance, anything else as a common name.
        if target.parse::<SocketAddrV4>().is_err() {
            assert_eq!(target, c.common_name);
            assert!(!target.contains(':') && target.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
});
