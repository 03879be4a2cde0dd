//! The files a router is handed: the .ovpn profile and the RouterOS script
//! that imports it, from hostile names, hosts, secrets and PEM bodies.
//! Properties, read as OpenVPN and RouterOS read them:
//! - the profile holds exactly Netily's directives (no injected line, no
//!   line OpenVPN would cut at its 256-byte line buffer and read the rest of
//!   as a directive), the three inline blocks hold exactly the PEM bodies,
//!   and `remote` names exactly the host and port;
//! - the script is the template line for line: every value sits inside a
//!   string literal that decodes back to exactly that value, nothing of it
//!   outside, and no control character anywhere (a pasted script reaches a
//!   terminal).
#![no_main]

use std::net::Ipv4Addr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netily_core::pki::{
    render_client_profile, render_routeros_script, ClientProfile, RouterOsSetup, VpnTransport,
};

#[derive(Debug, Arbitrary)]
struct Input {
    router_name: String,
    remote_host: String,
    port: u16,
    tcp: bool,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    radius_secret: String,
    radius_server: [u8; 4],
    router_vpn_address: [u8; 4],
    interim_minutes: u32,
    /// Script the profile as rendered, or any text as the profile.
    own_profile: Option<String>,
}

/// OpenVPN reads a config line into a 256-byte buffer (OPTION_LINE_SIZE):
/// 255 characters with the newline.
const OPENVPN_LINE: usize = 254;

fuzz_target!(|i: Input| {
    let profile = ClientProfile {
        router_name: &i.router_name,
        remote_host: &i.remote_host,
        port: i.port,
        transport: if i.tcp {
            VpnTransport::Tcp
        } else {
            VpnTransport::Udp
        },
        ca_pem: &i.ca_pem,
        cert_pem: &i.cert_pem,
        key_pem: &i.key_pem,
    };
    let rendered = render_client_profile(&profile).ok();
    if let Some(ovpn) = &rendered {
        check_profile(ovpn, &profile);
    }
    let Some(text) = i.own_profile.as_deref().or(rendered.as_deref()) else {
        return;
    };
    let setup = RouterOsSetup {
        router_name: &i.router_name,
        profile: text,
        remote_host: &i.remote_host,
        radius_server: Ipv4Addr::from(i.radius_server),
        router_vpn_address: Ipv4Addr::from(i.router_vpn_address),
        radius_secret: &i.radius_secret,
        interim_minutes: i.interim_minutes,
    };
    if let Ok(script) = render_routeros_script(&setup) {
        check_script(&script, &setup);
    }
});

fn check_profile(ovpn: &str, p: &ClientProfile<'_>) {
    let mut directives = Vec::new();
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in ovpn.split_terminator('\n') {
        assert!(
            line.len() <= OPENVPN_LINE,
            "a {} byte line: {line:?}",
            line.len()
        );
        let word = line.trim_start();
        if let Some((tag, body)) = open.as_mut() {
            // OpenVPN ends an inline block at its closing tag.
            if word.starts_with("</") {
                assert_eq!(word.trim_end(), format!("</{tag}>"), "block {tag}");
                blocks.push(open.take().unwrap_or_default());
            } else {
                body.push(line);
            }
            continue;
        }
        if word.is_empty() || word.starts_with('#') || word.starts_with(';') {
            continue;
        }
        if let Some(tag) = word.strip_prefix('<').and_then(|w| w.strip_suffix('>')) {
            open = Some((tag.to_owned(), Vec::new()));
            continue;
        }
        directives.push(line.split_whitespace().collect::<Vec<_>>());
    }
    assert!(open.is_none(), "an unclosed block");
    let proto = match p.transport {
        VpnTransport::Udp => "udp",
        VpnTransport::Tcp => "tcp",
    };
    let port = p.port.to_string();
    let expected: Vec<Vec<&str>> = vec![
        vec!["client"],
        vec!["dev", "tun"],
        vec!["proto", proto],
        vec!["remote", p.remote_host, &port],
        vec!["remote-cert-tls", "server"],
        vec!["cipher", "AES-256-GCM"],
        vec!["auth", "SHA256"],
        vec!["tls-version-min", "1.2"],
    ];
    assert_eq!(directives, expected, "{ovpn}");
    let tags: Vec<&str> = blocks.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tags, ["ca", "cert", "key"]);
    for ((_, body), pem) in blocks.iter().zip([p.ca_pem, p.cert_pem, p.key_pem]) {
        assert_eq!(body.join("\n"), pem.trim_end(), "an inline block's body");
    }
}

fn check_script(script: &str, s: &RouterOsSetup<'_>) {
    assert!(script.ends_with('\n'));
    for c in script.chars() {
        assert!(c == '\n' || !c.is_control(), "{c:?} in the script");
    }
    // The same script from harmless values: the template.
    let plain = RouterOsSetup {
        router_name: "r",
        profile: "p",
        remote_host: "h",
        radius_secret: "s",
        ..s.clone()
    };
    let Ok(template) = render_routeros_script(&plain) else {
        panic!("the template does not render");
    };
    let lines: Vec<&str> = script.split_terminator('\n').collect();
    let template: Vec<&str> = template.split_terminator('\n').collect();
    assert_eq!(lines.len(), template.len(), "line count");
    for (line, plain) in lines.iter().zip(&template) {
        let (skeleton, values) = literals(line);
        let (plain_skeleton, plain_values) = literals(plain);
        assert_eq!(skeleton, plain_skeleton, "{line}");
        // Each value is in the literals where the template has its stand-in.
        for (value, stand_in) in values.iter().zip(&plain_values) {
            let want = match stand_in.as_str() {
                "r" => s.router_name,
                "p" => s.profile,
                "h" => s.remote_host,
                "s" => s.radius_secret,
                other => other,
            };
            assert_eq!(value, want, "{line}");
        }
    }
}

/// A RouterOS line's string literals, decoded, and the line with each
/// literal replaced by `""`. Panics on an escape RouterOS does not define or
/// a literal left open.
fn literals(line: &str) -> (String, Vec<String>) {
    let mut skeleton = String::new();
    let mut values = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            skeleton.push(c);
            continue;
        }
        skeleton.push_str("\"\"");
        // RouterOS strings are bytes; \XX is one byte.
        let mut value = Vec::new();
        loop {
            match chars.next() {
                None => panic!("an open string in {line:?}"),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('\\') => put(&mut value, '\\'),
                    Some('"') => put(&mut value, '"'),
                    Some('$') => put(&mut value, '$'),
                    Some('?') => put(&mut value, '?'),
                    Some('_') => put(&mut value, ' '),
                    Some('n') => put(&mut value, '\n'),
                    Some('r') => put(&mut value, '\r'),
                    Some('t') => put(&mut value, '\t'),
                    Some('a') => put(&mut value, '\u{7}'),
                    Some('b') => put(&mut value, '\u{8}'),
                    Some('f') => put(&mut value, '\u{c}'),
                    Some('v') => put(&mut value, '\u{b}'),
                    Some(h) if h.is_ascii_hexdigit() => {
                        let l = chars.next().unwrap_or(' ');
                        let hex = format!("{h}{l}");
                        // RouterOS documents capital letters for \XX.
                        assert!(
                            hex.bytes()
                                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
                            "\\{hex} in {line:?}"
                        );
                        let Ok(b) = u8::from_str_radix(&hex, 16) else {
                            panic!("\\{hex} in {line:?}");
                        };
                        value.push(b);
                    }
                    other => panic!("escape \\{other:?} in {line:?}"),
                },
                Some(c) => put(&mut value, c),
            }
        }
        match String::from_utf8(value) {
            Ok(v) => values.push(v),
            Err(e) => panic!("a literal that is not UTF-8 ({e}) in {line:?}"),
        }
    }
    (skeleton, values)
}

fn put(value: &mut Vec<u8>, c: char) {
    value.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}
