//! The router PKI through the real netadmin binary and a real PostgreSQL:
//! CA, router certificates, revocation, CRL (read back with openssl), the
//! config file permission rule, and secrets kept out of the database in clear.

mod common;

use std::process::Command;

use common::{Env, TempDir, SEAL_KEY};

fn config(extra: &str) -> String {
    format!("ca_key_seal = {SEAL_KEY}\nvpn_remote = vpn.isp.example:1194\n{extra}")
}

/// Migrated, with a private config holding the sealing key.
fn pki_env() -> Env {
    let env = Env::empty().with_config(&config(""), 0o600);
    env.ok(&["migrate"]);
    env
}

fn add_router(env: &Env, name: &str, ip: &str) -> serde_json::Value {
    env.json(&["router", "add", name, "--ip", ip, "--secret", "s3cret-rt"])
}

/// `openssl <args>` with `stdin`; (success, stdout + stderr).
fn openssl(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The serials a PEM CRL lists, lowercase hex, via `openssl crl`.
fn crl_serials(pem: &str) -> Vec<String> {
    let (ok, text) = openssl(&["crl", "-noout", "-text"], pem);
    assert!(ok, "openssl crl: {text}");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_lowercase())
        .collect()
}

fn crl_number(pem: &str) -> String {
    let (ok, text) = openssl(&["crl", "-noout", "-crlnumber"], pem);
    assert!(ok, "{text}");
    text.trim().to_owned()
}

#[test]
fn ca_init_issue_revoke_and_crl() {
    let env = pki_env();
    let e = env.fail(&["ca", "show"]);
    assert!(e.contains("no certificate authority yet"), "{e}");
    // A router added before the CA exists is told how to get a certificate.
    let out = env.ok(&[
        "router",
        "add",
        "early",
        "--ip",
        "192.0.2.50",
        "--secret",
        "x",
    ]);
    assert!(out.contains("no certificate authority yet"), "{out}");
    let e = env.fail(&["cert", "issue", "early"]);
    assert!(e.contains("run `netadmin ca init`"), "{e}");

    let ca = env.json(&["ca", "init", "--name", "Test-ISP-CA", "--days", "365"]);
    assert_eq!(ca["name"], "Test-ISP-CA");
    let e = env.fail(&["ca", "init"]);
    assert!(
        e.contains("cannot create the certificate authority")
            && e.contains("'Test-ISP-CA' already exists"),
        "{e}"
    );
    assert_eq!(env.count("SELECT count(*) FROM certificate_authority"), 1);

    // Stored sealed: no private key or tls-crypt key in clear anywhere.
    let mut sql = env.sql();
    let row = sql
        .query_one(
            "SELECT convert_from(key_encrypted, 'UTF8'), tls_crypt_sealed, cert_pem
               FROM certificate_authority",
            &[],
        )
        .unwrap();
    let (key, tls, cert): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert!(key.starts_with("netily-sealed-v1:") && !key.contains("PRIVATE"));
    assert!(tls.starts_with("netily-sealed-v1:") && !tls.contains("Static key"));
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    let pem = env.ok(&["ca", "show", "--pem"]);
    assert_eq!(pem, cert);

    // `router add` issues the certificate in the same transaction.
    let r = add_router(&env, "tower-1", "192.0.2.1");
    let first = r["certificate"].as_str().expect("a serial").to_owned();
    assert_eq!(first.len(), 32, "{first}");
    let key_sealed: String = sql
        .query_one(
            "SELECT key_sealed FROM certificates WHERE serial = $1",
            &[&first],
        )
        .unwrap()
        .get(0);
    assert!(key_sealed.starts_with("netily-sealed-v1:") && !key_sealed.contains("PRIVATE"));

    // A second certificate only on request, revoking the first.
    let e = env.fail(&["cert", "issue", "tower-1"]);
    assert!(
        e.contains("already has active certificate") && e.contains("--replace"),
        "{e}"
    );
    let issued = env.json(&["cert", "issue", "tower-1", "--replace"]);
    let second = issued["certificate"]["serial"].as_str().unwrap().to_owned();
    assert_eq!(issued["replaced"][0], first.as_str());
    assert_ne!(first, second);
    // The router added earlier gets its certificate now.
    let early = env.json(&["cert", "issue", "early", "--days", "30"]);
    let early_serial = early["certificate"]["serial"].as_str().unwrap().to_owned();

    let crl1 = env.ok(&["crl"]);
    assert!(crl1.starts_with("-----BEGIN X509 CRL-----"), "{crl1}");
    assert_eq!(crl_serials(&crl1), vec![first.clone()]);

    // Revoke by router name.
    let revoked = env.json(&["cert", "revoke", "tower-1"]);
    assert_eq!(revoked[0]["serial"], second.as_str());
    assert_eq!(revoked[0]["status"], "revoked");
    let e = env.fail(&["cert", "revoke", "tower-1"]);
    assert_eq!(
        e,
        "netadmin: cannot revoke router 'tower-1': it has no active certificate"
    );
    // Revoke by serial, in OpenVPN's colon form and upper case.
    let colon: Vec<String> = early_serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    let out = env.ok(&["cert", "revoke", &colon.join(":")]);
    assert!(
        out.contains(&format!("Revoked certificate {early_serial} (early)")),
        "{out}"
    );
    let e = env.fail(&["cert", "revoke", &early_serial]);
    assert!(e.ends_with("it is already revoked"), "{e}");
    let e = env.fail(&["cert", "revoke", "nosuch"]);
    assert_eq!(
        e,
        "netadmin: router or certificate serial 'nosuch' not found"
    );

    let crl2 = env.ok(&["crl"]);
    let mut listed = crl_serials(&crl2);
    listed.sort();
    let mut want = vec![first.clone(), second.clone(), early_serial.clone()];
    want.sort();
    assert_eq!(listed, want);
    // Every CRL gets the next number.
    assert_ne!(crl_number(&crl1), crl_number(&crl2));
    // The CRL verifies against the CA.
    let dir = TempDir::new("crl");
    let ca_path = dir.path().join("ca.crt");
    std::fs::write(&ca_path, &pem).unwrap();
    let (ok, text) = openssl(
        &["crl", "-noout", "-CAfile", ca_path.to_str().unwrap()],
        &crl2,
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    // --out writes the file (atomically), readable by OpenVPN after it drops root.
    let crl_path = dir.path().join("crl.pem");
    env.ok(&["crl", "--out", crl_path.to_str().unwrap()]);
    let written = std::fs::read_to_string(&crl_path).unwrap();
    assert_eq!(crl_serials(&written).len(), 3);

    let list = env.json(&["cert", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|c| c["status"] == "revoked"), "{list:?}");
    assert!(list.iter().all(|c| c["revoked_at"].is_i64()));
    let table = env.ok(&["cert", "list"]);
    assert!(table.starts_with("SERIAL"), "{table}");
    assert!(
        table.contains(&second) && table.contains("revoked") && table.contains("tower-1"),
        "{table}"
    );
    assert!(!table.contains("PRIVATE"));
}

#[test]
fn router_remove_revokes_its_certificate() {
    let env = pki_env();
    env.ok(&["ca", "init"]);
    let r = add_router(&env, "edge-1", "192.0.2.7");
    let serial = r["certificate"].as_str().unwrap().to_owned();
    assert_eq!(
        env.count("SELECT count(*) FROM certificates WHERE status = 'active'"),
        1
    );
    let out = env.json(&["router", "remove", "edge-1"]);
    assert_eq!(out["removed"], "edge-1");
    assert_eq!(out["revoked"][0], serial.as_str());
    assert_eq!(
        env.count("SELECT count(*) FROM nas WHERE shortname = 'edge-1'"),
        0
    );
    // The certificate row stays, revoked and detached, so the CRL keeps it.
    let row = env
        .sql()
        .query_one(
            "SELECT status, router_id, common_name FROM certificates WHERE serial = $1",
            &[&serial],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "revoked");
    assert_eq!(row.get::<_, Option<i64>>(1), None);
    assert_eq!(row.get::<_, String>(2), "edge-1");
    assert_eq!(crl_serials(&env.ok(&["crl"])), vec![serial]);
    let e = env.fail(&["ovpn", "edge-1"]);
    assert_eq!(e, "netadmin: router 'edge-1' not found");
}

#[test]
fn cert_list_shows_certificates_past_not_after_as_expired() {
    let env = pki_env();
    env.ok(&["ca", "init"]);
    let old = add_router(&env, "edge-old", "192.0.2.8")["certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    let current = add_router(&env, "edge-new", "192.0.2.9")["certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = add_router(&env, "edge-gone", "192.0.2.10")["certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok(&["cert", "revoke", "edge-gone"]);
    // Time passes: two certificates reach their not_after.
    env.sql()
        .execute(
            "UPDATE certificates SET not_after = now() - interval '1 day'
              WHERE serial = ANY($1)",
            &[&vec![old.clone(), gone.clone()]],
        )
        .unwrap();
    let list = env.json(&["cert", "list"]);
    let status = |serial: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["serial"] == serial)
            .map(|c| c["status"].clone())
            .unwrap()
    };
    assert_eq!(status(&old), "expired", "{list}");
    assert_eq!(status(&current), "active", "{list}");
    assert_eq!(status(&gone), "revoked", "revocation says more: {list}");
    let table = env.ok(&["cert", "list"]);
    let line = |serial: &str| table.lines().find(|l| l.starts_with(serial)).unwrap();
    assert!(line(&old).contains("expired"), "{table}");
    assert!(line(&current).contains("active"), "{table}");
}

#[test]
fn revoking_says_the_vpn_plugin_enforces_it_without_a_crl_refresh() {
    // The plugin admits only certificates active in the database, at every
    // handshake (tests/tests/vpn_plugin.rs refuses a revoked router with
    // the CRL never rewritten): the operator is told so, not sent to
    // refresh a file.
    let env = pki_env();
    env.ok(&["ca", "init"]);
    add_router(&env, "edge-1", "192.0.2.7");
    add_router(&env, "edge-2", "192.0.2.8");
    let note = "the Netily OpenVPN plugin admits only certificates active in the database, \
                so no CRL refresh is needed";
    let out = env.ok(&["cert", "revoke", "edge-1"]);
    assert!(out.contains(note), "{out}");
    assert!(!out.contains("refresh OpenVPN's CRL"), "{out}");
    let out = env.ok(&["router", "remove", "edge-2"]);
    assert!(
        out.contains("Revoked certificate") && out.contains(note),
        "{out}"
    );
    // Without a certificate to revoke there is nothing to say.
    env.ok(&[
        "router",
        "add",
        "edge-3",
        "--ip",
        "192.0.2.9",
        "--secret",
        "s3cret-rt",
    ]);
    env.ok(&["cert", "revoke", "edge-3"]);
    let out = env.ok(&["router", "remove", "edge-3"]);
    assert!(!out.contains("CRL"), "{out}");
}

#[test]
fn a_config_holding_the_seal_key_must_be_private() {
    let env = Env::empty().with_config(&config(""), 0o640);
    let path = env.config.clone().unwrap();
    for args in [&["plan", "list"][..], &["ca", "init"][..]] {
        let e = env.fail(args);
        assert!(
            e.contains(&path.display().to_string()) && e.contains("chmod 600"),
            "{e}"
        );
        assert!(!e.contains(SEAL_KEY), "{e}");
    }
    // Without the key the same mode is fine.
    env.set_config("vpn_remote = vpn.isp.example\n");
    env.ok(&["migrate"]);
    let e = env.fail(&["ca", "init"]);
    assert!(
        e.starts_with(&format!(
            "netadmin: ca_key_seal is not set in {}",
            path.display()
        )),
        "{e}"
    );
    // A malformed key is refused without echoing it.
    env.set_config("ca_key_seal = 0123456789abcdefXYZ\n");
    let e = env.fail(&["plan", "list"]);
    assert!(
        e.contains("ca_key_seal: expected 64 hexadecimal digits"),
        "{e}"
    );
    assert!(!e.contains("0123456789abcdefXYZ"), "{e}");
}

#[test]
fn a_different_seal_key_cannot_use_the_ca() {
    let env = pki_env();
    env.ok(&["ca", "init"]);
    add_router(&env, "r1", "192.0.2.1");
    let other = "ff".repeat(32);
    env.set_config(&format!(
        "ca_key_seal = {other}\nvpn_remote = vpn.isp.example\n"
    ));
    for args in [
        &["cert", "issue", "r1", "--replace"][..],
        &["crl"][..],
        &["ovpn", "r1"][..],
    ] {
        let e = env.fail(args);
        assert!(
            e.contains("a sealed key cannot be opened with the config's ca_key_seal"),
            "{args:?}: {e}"
        );
    }
    let e = env.fail(&["router", "add", "r2", "--ip", "192.0.2.2", "--secret", "s"]);
    assert!(e.contains("a sealed key cannot be opened"), "{e}");
    // With a CA, `router add` without the sealing key adds nothing.
    env.set_config("vpn_remote = vpn.isp.example\n");
    let e = env.fail(&["router", "add", "r2", "--ip", "192.0.2.2", "--secret", "s"]);
    assert!(e.contains("ca_key_seal is not set"), "{e}");
    assert_eq!(env.count("SELECT count(*) FROM routers"), 1);
    assert_eq!(env.count("SELECT count(*) FROM nas"), 1);
    // Nothing was written by the refused commands.
    assert_eq!(env.count("SELECT count(*) FROM certificates"), 1);
    assert_eq!(env.count("SELECT crl_number FROM certificate_authority"), 0);
}
