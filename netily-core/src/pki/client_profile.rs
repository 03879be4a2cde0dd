//! The inline client profile (.ovpn) a router imports: everything it needs in
//! one file, with only settings RouterOS v7's OpenVPN client understands.
//!
//! RouterOS's ovpn-client has no tls-crypt, tls-auth, compression or
//! key-direction setting, and `import-ovpn-configuration` refuses a profile
//! holding `<tls-crypt>` ("unsupported option"). So every directive here maps
//! onto one of its properties ([`ROUTEROS_DIRECTIVES`]); a unit test holds the
//! profile to that list.

use super::authority::check_common_name;
use super::PkiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpnTransport {
    /// RouterOS 7.15.3+ as a client; preferred (no TCP-over-TCP stalls).
    Udp,
    /// For sites where UDP is blocked.
    Tcp,
}

/// Inputs of [`render_client_profile`]. The key is secret: the profile is for
/// the router only, never for logs.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientProfile<'a> {
    pub router_name: &'a str,
    /// Host name or address of the VPN server as routers reach it.
    pub remote_host: &'a str,
    pub port: u16,
    pub transport: VpnTransport,
    pub ca_pem: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

/// Each directive the profile may hold, with the RouterOS ovpn-client
/// property it becomes on import. Inline blocks (`<ca>`, `<cert>`, `<key>`)
/// become the imported certificate.
pub const ROUTEROS_DIRECTIVES: &[(&str, &str)] = &[
    ("client", "(an ovpn-client)"),
    ("dev", "mode=ip (tun)"),
    ("proto", "protocol=udp|tcp"),
    ("remote", "connect-to, port"),
    ("remote-cert-tls", "verify-server-certificate=yes"),
    ("cipher", "cipher=aes256-gcm"),
    ("auth", "auth=sha256"),
    ("tls-version-min", "tls-version=only-1.2 or any"),
];

pub fn render_client_profile(p: &ClientProfile<'_>) -> Result<String, PkiError> {
    check_common_name("router name", p.router_name)?;
    check_host(p.remote_host)?;
    if p.port == 0 {
        return Err(PkiError::field("port", "1 to 65535"));
    }
    let proto = match p.transport {
        VpnTransport::Udp => "udp",
        // RouterOS's importer and its `protocol` property say tcp.
        VpnTransport::Tcp => "tcp",
    };
    let mut out = String::with_capacity(4096);
    out.push_str(&format!(
        "# Netily management VPN profile for router {}\n",
        p.router_name
    ));
    out.push_str("client\ndev tun\n");
    out.push_str(&format!("proto {proto}\n"));
    out.push_str(&format!("remote {} {}\n", p.remote_host, p.port));
    // RouterOS v7 speaks AES-256-GCM (aes256-gcm) with SHA256 (sha256); no
    // compression, no tls-crypt (RouterOS has neither).
    out.push_str(concat!(
        "remote-cert-tls server\n",
        "cipher AES-256-GCM\n",
        "auth SHA256\n",
        "tls-version-min 1.2\n",
    ));
    push_block(&mut out, "ca", p.ca_pem)?;
    push_block(&mut out, "cert", p.cert_pem)?;
    push_block(&mut out, "key", p.key_pem)?;
    Ok(out)
}

/// OpenVPN reads a config line into 256 bytes (OPTION_LINE_SIZE) and reads
/// the rest of a longer one as the next line.
const MAX_LINE: usize = 254;

fn push_block(out: &mut String, tag: &'static str, body: &str) -> Result<(), PkiError> {
    let body = body.trim_end();
    // OpenVPN ends an inline block at the first line that starts with its
    // closing tag: a body holding one would end the block early and the
    // lines after it would be read as directives.
    let safe = body
        .split('\n')
        .all(|line| line.len() <= MAX_LINE && !line.trim_start().starts_with('<'));
    if !safe {
        return Err(PkiError::field(
            tag,
            "PEM text (lines of at most 254 characters, none starting with '<')",
        ));
    }
    out.push_str(&format!("<{tag}>\n"));
    out.push_str(body);
    out.push_str(&format!("\n</{tag}>\n"));
    Ok(())
}

fn check_host(host: &str) -> Result<(), PkiError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::field(
            "remote host",
            "a host name or IP address (letters, digits, '-', '.', ':')",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> ClientProfile<'static> {
        ClientProfile {
            router_name: "tower-7",
            remote_host: "vpn.isp.example",
            port: 1194,
            transport: VpnTransport::Udp,
            ca_pem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
            cert_pem: "-----BEGIN CERTIFICATE-----\nROUTER\n-----END CERTIFICATE-----\n",
            key_pem: "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n",
        }
    }

    #[test]
    fn profile_matches_the_golden_file() {
        let got = render_client_profile(&sample()).unwrap();
        if std::env::var_os("NETILY_UPDATE_GOLDEN").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/pki/testdata/tower-7.ovpn");
            std::fs::write(path, &got).unwrap();
        }
        assert_eq!(got, include_str!("testdata/tower-7.ovpn"));
    }

    #[test]
    fn tcp_profile_says_tcp_as_routeros_does() {
        let mut p = sample();
        p.transport = VpnTransport::Tcp;
        p.port = 443;
        let got = render_client_profile(&p).unwrap();
        assert!(got.contains("\nproto tcp\nremote vpn.isp.example 443\n"));
    }

    #[test]
    fn every_directive_is_one_routeros_can_import() {
        for transport in [VpnTransport::Udp, VpnTransport::Tcp] {
            let mut p = sample();
            p.transport = transport;
            let got = render_client_profile(&p).unwrap();
            let mut in_block = false;
            for line in got.lines() {
                let word = line.split_whitespace().next().unwrap_or("");
                if word.starts_with("</") {
                    in_block = false;
                    continue;
                }
                if let Some(tag) = word.strip_prefix('<') {
                    assert!(
                        ["ca>", "cert>", "key>"].contains(&tag),
                        "block {word} RouterOS cannot import"
                    );
                    in_block = true;
                    continue;
                }
                if in_block || word.is_empty() || word.starts_with('#') {
                    continue;
                }
                assert!(
                    ROUTEROS_DIRECTIVES.iter().any(|(d, _)| *d == word),
                    "directive {word:?} has no RouterOS ovpn-client property"
                );
            }
            assert!(!got.contains("tls-crypt") && !got.contains("tls-auth"));
        }
    }

    #[test]
    fn a_pem_body_that_would_close_its_block_is_refused() {
        // Found by fuzzing (fuzz/corpus/router_setup/closing-tag-in-the-ca):
        // the lines after a "</ca>" in the body would be read as directives.
        let mut p = sample();
        p.ca_pem =
            "-----BEGIN CERTIFICATE-----\n</ca>\nup /bin/sh\n<ca>\n-----END CERTIFICATE-----\n";
        let err = render_client_profile(&p).unwrap_err().to_string();
        assert!(err.starts_with("invalid ca"), "{err}");
        let mut p = sample();
        p.key_pem = "  </k";
        assert!(render_client_profile(&p).is_err());
        // A line OpenVPN would cut, and read the rest of as another line.
        let long = format!("{}</cert>\nup /bin/sh", "A".repeat(255));
        let mut p: ClientProfile<'_> = sample();
        p.cert_pem = &long;
        assert!(render_client_profile(&p).is_err());
    }

    #[test]
    fn injected_lines_are_refused() {
        let mut p = sample();
        p.remote_host = "x\nscript-security 3";
        assert!(render_client_profile(&p)
            .unwrap_err()
            .to_string()
            .starts_with("invalid remote host"));
        let mut p = sample();
        p.router_name = "a\nup /bin/sh";
        assert!(render_client_profile(&p)
            .unwrap_err()
            .to_string()
            .starts_with("invalid router name"));
    }
}
