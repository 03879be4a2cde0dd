//! The RouterOS v7 script that joins a router to Netily: it installs the VPN
//! profile (certificates and key, via RouterOS's .ovpn import, 7.17 or later),
//! sets the client's properties explicitly, and points the router's RADIUS
//! client at Netily over the VPN.
//!
//! Everything it sets is a documented RouterOS property
//! ([`ROUTEROS_OVPN_CLIENT_PROPERTIES`] for the VPN client). RADIUS keeps
//! RouterOS's secure default `require-message-auth=yes-for-request-resp`
//! (7.15+): Netily's replies carry a Message-Authenticator.

use std::net::Ipv4Addr;

use super::authority::check_common_name;
use super::PkiError;

/// Inputs of [`render_routeros_script`]. The RADIUS secret and the profile's
/// key make the script secret: hand it to the router, never to a log.
#[derive(Clone, PartialEq, Eq)]
pub struct RouterOsSetup<'a> {
    pub router_name: &'a str,
    /// The rendered .ovpn profile ([`super::render_client_profile`]).
    pub profile: &'a str,
    /// `remote` of the profile: how the imported client is found again.
    pub remote_host: &'a str,
    /// The VPN server's tunnel address: FreeRADIUS listens there.
    pub radius_server: Ipv4Addr,
    /// The router's own tunnel address, used as the RADIUS source so Netily
    /// knows which router is asking.
    pub router_vpn_address: Ipv4Addr,
    pub radius_secret: &'a str,
    pub interim_minutes: u32,
}

/// The ovpn-client properties RouterOS documents (up to 7.21). There is no
/// tls-crypt, tls-auth, compression or key-direction among them.
pub const ROUTEROS_OVPN_CLIENT_PROPERTIES: &[&str] = &[
    "add-default-route",
    "auth",
    "certificate",
    "cipher",
    "comment",
    "connect-to",
    "disabled",
    "mac-address",
    "max-mtu",
    "mode",
    "name",
    "password",
    "port",
    "profile",
    "protocol",
    "route-nopull",
    "tls-version",
    "use-peer-dns",
    "user",
    "verify-server-certificate",
];

/// RouterOS's name for the client interface Netily manages.
const INTERFACE: &str = "netily-vpn";
/// Marks the entries this script owns, so running it again replaces them.
const COMMENT: &str = "netily";

pub fn render_routeros_script(s: &RouterOsSetup<'_>) -> Result<String, PkiError> {
    check_common_name("router name", s.router_name)?;
    if s.radius_secret.is_empty() {
        return Err(PkiError::field("radius secret", "a non-empty string"));
    }
    if !(1..=1440).contains(&s.interim_minutes) {
        return Err(PkiError::field("interim minutes", "1 to 1440"));
    }
    let file = format!("{INTERFACE}.ovpn");
    let name = quote(s.router_name);
    let remote = quote(s.remote_host);
    let secret = quote(s.radius_secret);
    let interim = format!("{}m", s.interim_minutes);
    let lines = [
        format!("# Netily setup for router {name} (RouterOS 7.17 or later)"),
        "# 1. VPN: import the certificates and key from the profile".to_string(),
        format!("/interface ovpn-client remove [find where name=\"{INTERFACE}\"]"),
        format!(":do {{ /file remove \"{file}\" }} on-error={{}}"),
        format!("/file add name=\"{file}\" contents={}", quote_string(s.profile)),
        ":delay 1s".to_string(),
        // RouterOS requires a user name; the server authenticates by certificate only.
        format!(
            "/interface ovpn-client import-ovpn-configuration file-name=\"{file}\" ovpn-user={name} ovpn-password=\"certificate-only\" skip-cert-import=no"
        ),
        format!("/file remove \"{file}\""),
        // Stated again explicitly, whatever the importer made of the profile.
        format!(
            "/interface ovpn-client set [find where connect-to={remote}] name=\"{INTERFACE}\" cipher=aes256-gcm auth=sha256 verify-server-certificate=yes add-default-route=no route-nopull=yes use-peer-dns=no comment=\"{COMMENT}\""
        ),
        "# 2. RADIUS through the VPN, with CoA/Disconnect accepted on port 3799".to_string(),
        format!("/radius remove [find where comment=\"{COMMENT}\"]"),
        format!(
            "/radius add address={} secret={secret} service=ppp,hotspot src-address={} timeout=3s require-message-auth=yes-for-request-resp comment=\"{COMMENT}\"",
            s.radius_server, s.router_vpn_address
        ),
        "/radius incoming set accept=yes port=3799".to_string(),
        "# 3. PPP and Hotspot authenticate and account through RADIUS".to_string(),
        format!("/ppp aaa set use-radius=yes accounting=yes interim-update={interim}"),
        format!(
            "/ip hotspot profile set [find] use-radius=yes radius-accounting=yes radius-interim-update={interim}"
        ),
    ];
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// A RouterOS string literal: "..." with \ " $ ? escaped, newlines as \n
/// and every other control character as \XX bytes (RouterOS's hex escape,
/// capital letters): a script pasted into a terminal must carry none raw.
fn quote_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '?' => out.push_str("\\?"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // RouterOS strings are bytes: a C1 control goes as its UTF-8 bytes.
            c if c.is_control() => {
                for b in c.encode_utf8(&mut [0; 4]).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote(text: &str) -> String {
    quote_string(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(profile: &'a str) -> RouterOsSetup<'a> {
        RouterOsSetup {
            router_name: "tower-7",
            profile,
            remote_host: "vpn.isp.example",
            radius_server: Ipv4Addr::new(10, 8, 0, 1),
            router_vpn_address: Ipv4Addr::new(10, 8, 0, 8),
            radius_secret: "s3cr\"et$x",
            interim_minutes: 5,
        }
    }

    #[test]
    fn script_matches_the_golden_file() {
        let got = render_routeros_script(&sample(include_str!("testdata/tower-7.ovpn"))).unwrap();
        if std::env::var_os("NETILY_UPDATE_GOLDEN").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/pki/testdata/tower-7.rsc");
            std::fs::write(path, &got).unwrap();
        }
        assert_eq!(got, include_str!("testdata/tower-7.rsc"));
    }

    #[test]
    fn the_vpn_client_is_set_only_through_documented_properties() {
        let got = render_routeros_script(&sample(include_str!("testdata/tower-7.ovpn"))).unwrap();
        let mut seen = 0;
        for line in got.lines() {
            let Some(rest) = line.strip_prefix("/interface ovpn-client set ") else {
                continue;
            };
            seen += 1;
            // After the [find ...] selector: property=value words.
            let props = rest.split_once("] ").map(|(_, p)| p).unwrap_or(rest);
            for word in props.split_whitespace() {
                let name = word.split('=').next().unwrap_or(word);
                assert!(
                    ROUTEROS_OVPN_CLIENT_PROPERTIES.contains(&name),
                    "{name} is not an ovpn-client property"
                );
            }
        }
        assert_eq!(seen, 1);
        assert!(!got.contains("tls-crypt"));
        assert!(!got.contains("require-message-auth=no"));
    }

    #[test]
    fn quoting_keeps_the_profile_on_one_line() {
        let got = render_routeros_script(&sample("a\"b\n$c?")).unwrap();
        assert!(got.contains("contents=\"a\\\"b\\n\\$c\\?\"\n"));
    }

    #[test]
    fn control_characters_in_a_value_are_escaped_not_written_raw() {
        // Found by fuzzing (fuzz/corpus/router_setup/nul-in-the-secret).
        let mut s = sample("x\0y\u{1b}[2J\u{7f}\u{85}");
        s.radius_secret = "a\u{3}b";
        let got = render_routeros_script(&s).unwrap();
        assert!(!got.chars().any(|c| c != '\n' && c.is_control()), "{got:?}");
        assert!(
            got.contains("contents=\"x\\00y\\1B[2J\\7F\\C2\\85\"\n"),
            "{got}"
        );
        assert!(got.contains(" secret=\"a\\03b\" "), "{got}");
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let mut s = sample("x");
        s.radius_secret = "";
        assert_eq!(
            render_routeros_script(&s).unwrap_err().to_string(),
            "invalid radius secret: a non-empty string"
        );
        let mut s = sample("x");
        s.interim_minutes = 0;
        assert!(render_routeros_script(&s).is_err());
    }
}
