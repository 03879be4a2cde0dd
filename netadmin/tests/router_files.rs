//! What netadmin hands a router and the VPN server: `ovpn`, `mikrotik-script`
//! and `server-cert`, checked with openssl and a real OpenVPN 2.6 server and
//! client (in a private network namespace made with `unshare --net`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{Env, TempDir, SEAL_KEY};

fn env_with(remote: &str) -> Env {
    let env = Env::empty().with_config(
        &format!("ca_key_seal = {SEAL_KEY}\nvpn_remote = {remote}\n"),
        0o600,
    );
    env.ok(&["migrate"]);
    env.ok(&["ca", "init"]);
    env
}

/// The body of `<tag>...</tag>` in an inline profile (ends with a newline).
fn block<'a>(profile: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>\n");
    let close = format!("</{tag}>");
    let start = profile
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {profile}"))
        + open.len();
    let end = profile[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("no </{tag}>"))
        + start;
    &profile[start..end]
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn ovpn_profile_is_complete_and_matches_the_pki() {
    let env = env_with("vpn.isp.example:1195");
    env.ok(&[
        "router",
        "add",
        "tower-7",
        "--ip",
        "192.0.2.7",
        "--secret",
        "s3cret-7",
    ]);
    let profile = env.ok(&["ovpn", "tower-7"]);
    for line in [
        "client\n",
        "dev tun\n",
        "proto udp\n",
        "remote vpn.isp.example 1195\n",
        "remote-cert-tls server\n",
    ] {
        assert!(profile.contains(line), "{line:?} missing:\n{profile}");
    }
    let ca = block(&profile, "ca");
    let cert = block(&profile, "cert");
    let key = block(&profile, "key");
    assert_eq!(ca, env.ok(&["ca", "show", "--pem"]));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    // RouterOS cannot import a profile with tls-crypt (or tls-auth).
    assert!(!profile.contains("tls-crypt") && !profile.contains("tls-auth"));

    let dir = TempDir::new("ovpn");
    let ca_path = write(dir.path(), "ca.crt", ca);
    let cert_path = write(dir.path(), "tower-7.crt", cert);
    let key_path = write(dir.path(), "tower-7.key", key);
    let (ok, text) = run(Command::new("openssl").args([
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        &ca_path,
        &cert_path,
    ]));
    assert!(ok, "openssl verify: {text}");
    let (_, subject) =
        run(Command::new("openssl").args(["x509", "-noout", "-subject", "-in", &cert_path]));
    assert!(subject.contains("CN = tower-7"), "{subject}");
    // The key in the profile is the certificate's key.
    let (_, from_cert) =
        run(Command::new("openssl").args(["x509", "-noout", "-pubkey", "-in", &cert_path]));
    let (_, from_key) = run(Command::new("openssl").args(["pkey", "-pubout", "-in", &key_path]));
    assert_eq!(from_cert, from_key);
    // RSA, as RouterOS's guides use.
    let (_, text) =
        run(Command::new("openssl").args(["x509", "-noout", "-text", "-in", &cert_path]));
    assert!(
        text.contains("rsaEncryption") && text.contains("2048 bit"),
        "{text}"
    );

    // Asking again gives the same profile: nothing is re-issued.
    assert_eq!(env.ok(&["ovpn", "tower-7"]), profile);
    env.set_config(&format!(
        "ca_key_seal = {SEAL_KEY}\nvpn_remote = vpn.isp.example\nvpn_proto = tcp\n"
    ));
    let tcp = env.ok(&["ovpn", "tower-7"]);
    assert!(
        tcp.contains("proto tcp\nremote vpn.isp.example 1194\n"),
        "{tcp}"
    );

    env.set_config(&format!("ca_key_seal = {SEAL_KEY}\n"));
    let e = env.fail(&["ovpn", "tower-7"]);
    assert!(e.contains("vpn_remote is not set in"), "{e}");
    env.set_config(&format!("ca_key_seal = {SEAL_KEY}\nvpn_remote = x\n"));
    env.ok(&["cert", "revoke", "tower-7"]);
    let e = env.fail(&["ovpn", "tower-7"]);
    assert!(
        e.contains("has no active certificate; run `netadmin cert issue tower-7`"),
        "{e}"
    );
}

#[test]
fn server_cert_writes_the_files_openvpn_reads() {
    let env = env_with("vpn.isp.example");
    let dir = TempDir::new("server-cert");
    // A file that cannot be written (crl.pem is a directory) records nothing.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir_all(blocked.join("crl.pem")).unwrap();
    let e = env.fail(&["server-cert", "--out-dir", blocked.to_str().unwrap()]);
    assert!(e.contains("cannot write") && e.contains("crl.pem"), "{e}");
    assert_eq!(env.count("SELECT count(*) FROM certificates"), 0);
    assert_eq!(env.count("SELECT crl_number FROM certificate_authority"), 0);

    let out = dir.path().join("pki");
    let first = env.json(&["server-cert", "--out-dir", out.to_str().unwrap()]);
    assert_eq!(first["issued"], true);
    assert_eq!(first["common_name"], "netily-vpn");
    for (name, want) in [
        ("ca.crt", 0o644),
        ("server.crt", 0o644),
        ("server.key", 0o600),
        ("tls-crypt.key", 0o600),
        ("crl.pem", 0o644),
    ] {
        assert_eq!(mode(&out.join(name)), want, "{name}");
    }
    let p = |n: &str| out.join(n).to_str().unwrap().to_owned();
    let (ok, text) = run(Command::new("openssl").args([
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        &p("ca.crt"),
        &p("server.crt"),
    ]));
    assert!(ok, "{text}");
    // Running it again hands out the same certificate; --renew issues a new one.
    let again = env.json(&["server-cert", "--out-dir", out.to_str().unwrap()]);
    assert_eq!(again["issued"], false);
    assert_eq!(again["serial"], first["serial"]);
    let renewed = env.json(&["server-cert", "--out-dir", out.to_str().unwrap(), "--renew"]);
    assert_eq!(renewed["issued"], true);
    assert_ne!(renewed["serial"], first["serial"]);
    // A server certificate never counts as a router's.
    assert_eq!(
        env.count("SELECT count(*) FROM certificates WHERE kind = 'server' AND router_id IS NULL"),
        2
    );
    let listed = env.ok(&["cert", "list"]);
    assert!(
        listed.contains("server") && listed.contains("netily-vpn"),
        "{listed}"
    );
}

/// Runs an OpenVPN server (files from `server-cert`) and a client (the
/// `ovpn` output as-is, plus the usual test overrides for a client without a
/// tun device) inside a new network namespace. Returns (client log, server log).
fn handshake(dir: &Path) -> (String, String) {
    let script = r#"
set -u
ip link set lo up
openvpn --config server.conf --log server.log --writepid server.pid &
for i in $(seq 1 100); do
  grep -q "Initialization Sequence Completed" server.log 2>/dev/null && break
  sleep 0.1
done
openvpn --config client.ovpn --dev null --ifconfig-noexec --route-noexec \
        --hand-window 5 --connect-retry-max 1 --log client.log &
C=$!
for i in $(seq 1 100); do
  grep -q "Initialization Sequence Completed" client.log 2>/dev/null && break
  grep -q "certificate revoked" server.log 2>/dev/null && break
  sleep 0.1
done
kill $C 2>/dev/null
kill $(cat server.pid) 2>/dev/null
wait
"#;
    let (ok, text) = run(Command::new("unshare")
        .args(["--net", "--", "sh", "-c", script])
        .current_dir(dir));
    assert!(ok, "unshare/openvpn: {text}");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_default();
    (read("client.log"), read("server.log"))
}

const SERVER_CONF: &str = "\
port 1194
proto udp4
local 127.0.0.1
dev tun
topology subnet
server 10.8.0.0 255.255.255.0
ca pki/ca.crt
cert pki/server.crt
key pki/server.key
dh none
crl-verify pki/crl.pem
remote-cert-tls client
tls-version-min 1.2
data-ciphers AES-256-GCM
auth SHA256
keepalive 10 60
verb 3
";

#[test]
fn openvpn_accepts_the_profile_and_refuses_it_once_revoked() {
    let env = env_with("127.0.0.1:1194");
    env.ok(&[
        "router",
        "add",
        "tower-1",
        "--ip",
        "192.0.2.1",
        "--secret",
        "s3cret-1",
    ]);
    let dir = TempDir::new("openvpn");
    let pki = dir.path().join("pki");
    env.ok(&["server-cert", "--out-dir", pki.to_str().unwrap()]);
    write(dir.path(), "server.conf", SERVER_CONF);
    write(dir.path(), "client.ovpn", &env.ok(&["ovpn", "tower-1"]));

    let (client, server) = handshake(dir.path());
    assert!(
        client.contains("Initialization Sequence Completed"),
        "client did not connect.\nclient:\n{client}\nserver:\n{server}"
    );
    assert!(server.contains("tower-1"), "{server}");

    env.ok(&["cert", "revoke", "tower-1"]);
    env.ok(&["crl", "--out", pki.join("crl.pem").to_str().unwrap()]);
    for log in ["client.log", "server.log"] {
        std::fs::remove_file(dir.path().join(log)).unwrap();
    }
    let (client, server) = handshake(dir.path());
    assert!(
        server.contains("certificate revoked"),
        "server did not refuse the revoked certificate:\n{server}"
    );
    assert!(
        !client.contains("Initialization Sequence Completed"),
        "{client}"
    );
}

/// RouterOS string literal back to text (the inverse of the script's quoting).
fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap();
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().unwrap() {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            other => out.push(other),
        }
    }
    out
}

#[test]
fn mikrotik_script_matches_the_golden_file() {
    let env = env_with("vpn.isp.example");
    env.ok(&[
        "router",
        "add",
        "tower-7",
        "--ip",
        "192.0.2.7",
        "--secret",
        "s3cret-7",
    ]);
    let script = env.ok(&["mikrotik-script", "tower-7", "--interim", "10"]);
    let profile = env.ok(&["ovpn", "tower-7"]);
    // The profile's keys are random: compare it separately, the rest with the file.
    const CONTENTS: &str = "/file add name=\"netily-vpn.ovpn\" contents=";
    let mut stable = String::new();
    let mut embedded = None;
    for line in script.lines() {
        match line.strip_prefix(CONTENTS) {
            Some(quoted) => {
                embedded = Some(unquote(quoted));
                stable.push_str(&format!("{CONTENTS}<the ovpn profile>\n"));
            }
            None => {
                stable.push_str(line);
                stable.push('\n');
            }
        }
    }
    assert_eq!(embedded.as_deref(), Some(profile.as_str()));
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tower-7.rsc");
    if std::env::var_os("NETILY_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &stable).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(stable, want);

    // radius_server overrides the default (the VPN server's tunnel address).
    env.set_config(&format!(
        "ca_key_seal = {SEAL_KEY}\nvpn_remote = vpn.isp.example\nradius_server = 10.8.0.254\n"
    ));
    let script = env.ok(&["mikrotik-script", "tower-7"]);
    assert!(
        script.contains("/radius add address=10.8.0.254 secret=\"s3cret-7\""),
        "{script}"
    );
    let e = env.fail(&["mikrotik-script", "tower-7", "--interim", "0"]);
    assert!(e.contains("invalid interim minutes: 1 to 1440"), "{e}");
}
