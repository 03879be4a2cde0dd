//! A RouterOS 7 OpenVPN client, as far as it can be had here: RouterOS cannot
//! run on this machine, so a real `openvpn` client is held to what RouterOS's
//! ovpn-client can express (see ../shared/PLATFORM-FACTS.md).
//!
//! [`import_ovpn`] plays `/interface ovpn-client import-ovpn-configuration`:
//! every directive of the profile must map onto an ovpn-client property
//! (connect-to, port, protocol, cipher, auth, verify-server-certificate,
//! tls-version, certificate), else the import fails as RouterOS's does
//! ("unsupported option '<tls-crypt>'"). [`OvpnClient::openvpn_args`] then
//! runs openvpn from those properties alone: one data cipher, RouterOS's auth,
//! TLS 1.2, and a user name and password sent as RouterOS always does.

use std::fs;
use std::path::Path;

/// RouterOS's cipher names and OpenVPN's for them (v7).
const CIPHERS: &[(&str, &str)] = &[
    ("blowfish128", "BF-CBC"),
    ("aes128-cbc", "AES-128-CBC"),
    ("aes192-cbc", "AES-192-CBC"),
    ("aes256-cbc", "AES-256-CBC"),
    ("aes128-gcm", "AES-128-GCM"),
    ("aes192-gcm", "AES-192-GCM"),
    ("aes256-gcm", "AES-256-GCM"),
];

/// RouterOS's auth names and OpenVPN's.
const AUTHS: &[(&str, &str)] = &[
    ("md5", "MD5"),
    ("sha1", "SHA1"),
    ("sha256", "SHA256"),
    ("sha512", "SHA512"),
    ("null", "none"),
];

/// An ovpn-client as RouterOS holds it after an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvpnClient {
    pub connect_to: String,
    pub port: u16,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// RouterOS's name, e.g. `aes256-gcm`.
    pub cipher: String,
    /// RouterOS's name, e.g. `sha256`.
    pub auth: String,
    pub verify_server_certificate: bool,
    /// `any` or `only-1.2`.
    pub tls_version: String,
    pub user: String,
    pub password: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

fn unsupported(what: &str) -> String {
    format!("unsupported option '{what}'")
}

fn routeros_name(table: &[(&'static str, &'static str)], openvpn: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(_, o)| o.eq_ignore_ascii_case(openvpn))
        .map(|(r, _)| *r)
}

fn openvpn_name(table: &[(&'static str, &'static str)], routeros: &str) -> Option<&'static str> {
    table.iter().find(|(r, _)| *r == routeros).map(|(_, o)| *o)
}

/// `import-ovpn-configuration` of `profile`, with the `ovpn-user` and
/// `ovpn-password` the import command takes.
pub fn import_ovpn(profile: &str, user: &str, password: &str) -> Result<OvpnClient, String> {
    let mut c = OvpnClient {
        connect_to: String::new(),
        port: 1194,
        protocol: "tcp".into(),
        cipher: "blowfish128".into(),
        auth: "sha1".into(),
        verify_server_certificate: false,
        tls_version: "any".into(),
        user: user.into(),
        password: password.into(),
        ca_pem: String::new(),
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    let mut lines = profile.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(tag) = line.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            let close = format!("</{tag}>");
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != close).collect();
            let body = body.join("\n") + "\n";
            match tag {
                "ca" => c.ca_pem = body,
                "cert" => c.cert_pem = body,
                "key" => c.key_pem = body,
                _ => return Err(unsupported(&format!("<{tag}>"))),
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["client"] => {}
            ["dev", "tun"] => {}
            ["proto", p @ ("udp" | "tcp")] => c.protocol = (*p).to_string(),
            ["remote", host] => c.connect_to = (*host).to_string(),
            ["remote", host, port] => {
                c.connect_to = (*host).to_string();
                c.port = port.parse().map_err(|_| unsupported(line))?;
            }
            ["port", port] => c.port = port.parse().map_err(|_| unsupported(line))?,
            ["cipher", name] => {
                c.cipher = routeros_name(CIPHERS, name)
                    .ok_or_else(|| unsupported(line))?
                    .into()
            }
            ["auth", name] => {
                c.auth = routeros_name(AUTHS, name)
                    .ok_or_else(|| unsupported(line))?
                    .into()
            }
            ["remote-cert-tls", "server"] => c.verify_server_certificate = true,
            ["tls-version-min", "1.2"] => c.tls_version = "only-1.2".into(),
            _ => return Err(unsupported(words.first().copied().unwrap_or(line))),
        }
    }
    if c.connect_to.is_empty() {
        return Err("no remote in the profile".into());
    }
    if c.ca_pem.is_empty() || c.cert_pem.is_empty() || c.key_pem.is_empty() {
        return Err("the profile lacks a certificate, key or CA".into());
    }
    Ok(c)
}

impl OvpnClient {
    /// openvpn arguments that do what this ovpn-client does, and nothing
    /// RouterOS cannot: files (certificates, the user/password) go in `dir`.
    pub fn openvpn_args(&self, dir: &Path) -> Vec<String> {
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            p.display().to_string()
        };
        let cipher =
            openvpn_name(CIPHERS, &self.cipher).unwrap_or_else(|| panic!("cipher {}", self.cipher));
        let auth = openvpn_name(AUTHS, &self.auth).unwrap_or_else(|| panic!("auth {}", self.auth));
        let proto = if self.protocol == "udp" {
            "udp"
        } else {
            "tcp-client"
        };
        let mut args: Vec<String> = [
            "--client",
            "--dev",
            "tun",
            "--proto",
            proto,
            "--remote",
            &self.connect_to,
            &self.port.to_string(),
            "--nobind",
            // One cipher, no negotiation beyond it.
            "--cipher",
            cipher,
            "--data-ciphers",
            cipher,
            "--auth",
            auth,
            "--ca",
            &write("ros-ca.crt", &self.ca_pem),
            "--cert",
            &write("ros-client.crt", &self.cert_pem),
            "--key",
            &write("ros-client.key", &self.key_pem),
            "--auth-user-pass",
            &write(
                "ros-user-pass",
                &format!("{}\n{}\n", self.user, self.password),
            ),
            // add-default-route=no, route-nopull=yes, use-peer-dns=no.
            "--route-nopull",
            "--verb",
            "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.verify_server_certificate {
            args.extend(["--remote-cert-tls".into(), "server".into()]);
        }
        if self.tls_version == "only-1.2" {
            args.extend(["--tls-version-min".into(), "1.2".into()]);
            args.extend(["--tls-version-max".into(), "1.2".into()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEMS: &str = "<ca>\nCA\n</ca>\n<cert>\nC\n</cert>\n<key>\nK\n</key>\n";

    #[test]
    fn a_tls_crypt_block_fails_the_import_as_on_routeros() {
        let p = format!("client\nremote vpn 1194\n{PEMS}<tls-crypt>\nX\n</tls-crypt>\n");
        assert_eq!(
            import_ovpn(&p, "u", "p").unwrap_err(),
            "unsupported option '<tls-crypt>'"
        );
    }

    #[test]
    fn directives_become_properties() {
        let p = format!(
            "client\ndev tun\nproto udp\nremote vpn 1195\ncipher AES-256-GCM\nauth SHA256\n\
             remote-cert-tls server\ntls-version-min 1.2\n{PEMS}"
        );
        let c = import_ovpn(&p, "tower", "pw").unwrap();
        assert_eq!(
            (
                c.protocol.as_str(),
                c.port,
                c.cipher.as_str(),
                c.auth.as_str()
            ),
            ("udp", 1195, "aes256-gcm", "sha256")
        );
        assert!(c.verify_server_certificate);
        assert!(import_ovpn(&format!("remote v\ncomp-lzo\n{PEMS}"), "u", "p").is_err());
        assert!(import_ovpn(
            &format!("remote v\ncipher CHACHA20-POLY1305\n{PEMS}"),
            "u",
            "p"
        )
        .is_err());
        assert!(import_ovpn(&format!("remote v\nproto tcp-client\n{PEMS}"), "u", "p").is_err());
    }
}
