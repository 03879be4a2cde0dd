//! Development PKI for `make run`: writes a CA, the server certificate, the
//! tls-crypt key and an empty CRL into a directory, once.
//!
//!     cargo run -p openvpn_plugin_netily --example vpn_pki -- DIR [SERVER_NAME]
//!
//! Production keeps the CA in the database, sealed (netily_core::pki::CaKeySeal);
//! this tool keeps it in DIR for a throwaway local server only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use netily_core::pki;

fn write(dir: &Path, name: &str, text: &str, secret: bool) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(dir.join(name))?;
    f.write_all(text.as_bytes())
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: vpn_pki DIR [SERVER_NAME]")?;
    let server_name = args.next().unwrap_or_else(|| "netily-vpn".to_string());
    let dir = Path::new(&dir);
    if dir.join("ca.crt").exists() {
        println!("{}: PKI already present", dir.display());
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .map_err(|e| e.to_string())?;
    let ca = pki::create_ca("Netily-Dev-CA", now, 3650).map_err(|e| e.to_string())?;
    let server =
        pki::issue_server_certificate(&ca, &server_name, now, 825).map_err(|e| e.to_string())?;
    let crl = pki::render_crl(&ca, &[], 1, now, 3650).map_err(|e| e.to_string())?;
    let tls_crypt = pki::generate_tls_crypt_key().map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| e.to_string();
    write(dir, "ca.crt", &ca.cert_pem, false).map_err(io)?;
    write(dir, "ca.key", &ca.key_pem, true).map_err(io)?;
    write(dir, "server.crt", &server.cert_pem, false).map_err(io)?;
    write(dir, "server.key", &server.key_pem, true).map_err(io)?;
    write(dir, "crl.pem", &crl, false).map_err(io)?;
    write(dir, "tls-crypt.key", &tls_crypt, true).map_err(io)?;
    println!("{}: development PKI written", dir.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("vpn_pki: {e}");
        std::process::exit(1);
    }
}
