//! The router PKI: CA, certificates, CRL, and the files routers and the VPN
//! server are handed. Secrets reach stdout only where the output is, by
//! design, the router's or server's own file (`ovpn`, `mikrotik-script`).

use std::path::Path;

use netily_core::db::pki::{self as store, CertificateRow};

use super::{now, Ctx};
use crate::cli::{CaCmd, CertCmd};
use crate::files::{self, PUBLIC, SECRET};
use crate::output::{opt, opt_time, print_fields, print_json, time, Table};
use crate::{Failure, Outcome};

pub fn ca(ctx: &Ctx, cmd: CaCmd) -> Outcome {
    match cmd {
        CaCmd::Init { name, days } => {
            let seal = ctx.seal()?;
            let info = ctx.in_tx(|tx| Ok(store::init_ca(tx, &seal, &name, days, now())?))?;
            if ctx.json {
                return print_json(&info);
            }
            println!(
                "Created certificate authority '{}' (serial {}, valid until {}), its private key \
                 and the tls-crypt key stored sealed with ca_key_seal.",
                info.name,
                opt(&info.serial),
                opt_time(info.not_after)
            );
            println!("Next: `netadmin server-cert` for the VPN server, `netadmin cert issue ROUTER` for routers added before now.");
            Ok(())
        }
        CaCmd::Show { pem } => {
            if pem {
                let pem = ctx.in_tx(|tx| Ok(store::ca_certificate(tx)?))?;
                print!("{pem}");
                return Ok(());
            }
            let info = ctx.in_tx(|tx| Ok(store::ca_info(tx)?))?;
            let Some(info) = info else {
                return Err(Failure(
                    "there is no certificate authority yet; run `netadmin ca init`".into(),
                ));
            };
            if ctx.json {
                return print_json(&info);
            }
            print_fields(&[
                ("name", info.name.clone()),
                ("serial", opt(&info.serial)),
                ("valid until", opt_time(info.not_after)),
                ("created", time(info.created_at)),
            ]);
            Ok(())
        }
    }
}

/// What a revocation means for the VPN, printed after `cert revoke` and
/// `router remove`. The plugin's in-memory set of active certificates is
/// reloaded at once on the change (and every second) and checked at every
/// TLS handshake (renegotiation included); a connected router it no longer
/// admits is ended through OpenVPN's management socket. OpenVPN's CRL file
/// is a second line that needs no refresh.
pub const REVOKED_NOTE: &str =
    "The VPN refuses it from its next handshake, and a tunnel it has open now is ended \
     within a second (through OpenVPN's management socket, `management=` on the plugin line; \
     without it, at its next renegotiation): the Netily OpenVPN plugin admits only \
     certificates active in the database, so no CRL refresh is needed (`netadmin crl --out \
     FILE` serves a server without the plugin).";

pub fn cert(ctx: &Ctx, cmd: CertCmd) -> Outcome {
    match cmd {
        CertCmd::Issue {
            router,
            days,
            replace,
        } => {
            let seal = ctx.seal()?;
            let issued = ctx.in_tx(|tx| {
                Ok(store::issue_router_certificate(
                    tx,
                    &seal,
                    &router,
                    days,
                    replace,
                    now(),
                )?)
            })?;
            if ctx.json {
                return print_json(&issued);
            }
            for old in &issued.replaced {
                println!("Revoked certificate {old}.");
            }
            let c = &issued.certificate;
            println!(
                "Issued certificate {} for router '{router}', valid until {}.",
                c.serial,
                time(c.not_after)
            );
            Ok(())
        }
        CertCmd::Revoke { target } => {
            let revoked = ctx.in_tx(|tx| Ok(store::revoke(tx, &target)?))?;
            if ctx.json {
                return print_json(&revoked);
            }
            for c in &revoked {
                println!(
                    "Revoked certificate {} ({}).",
                    c.serial,
                    c.router.as_deref().unwrap_or(&c.common_name)
                );
            }
            println!("{REVOKED_NOTE}");
            Ok(())
        }
        CertCmd::List => {
            let rows = ctx.in_tx(|tx| Ok(store::list_certificates(tx)?))?;
            if ctx.json {
                return print_json(&rows);
            }
            print_certificates(&rows);
            Ok(())
        }
    }
}

fn print_certificates(rows: &[CertificateRow]) {
    let mut t = Table::new(&[
        "SERIAL",
        "KIND",
        "ROUTER",
        "COMMON NAME",
        "STATUS",
        "NOT AFTER",
        "REVOKED",
    ]);
    for c in rows {
        t.row(vec![
            c.serial.clone(),
            c.kind.clone(),
            opt(&c.router),
            c.common_name.clone(),
            c.status.clone(),
            time(c.not_after),
            opt_time(c.revoked_at),
        ]);
    }
    t.print();
}

pub fn server_cert(ctx: &Ctx, out_dir: &Path, name: &str, days: u32, renew: bool) -> Outcome {
    let seal = ctx.seal()?;
    // Check the directory before touching the database: nothing half-done.
    files::ensure_dir(out_dir)?;
    const FILES: [&str; 5] = [
        "ca.crt",
        "server.crt",
        "server.key",
        "tls-crypt.key",
        "crl.pem",
    ];
    // Files are written before the commit: if one cannot be, no certificate
    // is recorded and no CRL number is used.
    let f = ctx.in_tx(|tx| {
        let f = store::server_files(tx, &seal, name, days, renew, now())?;
        let texts = [
            &f.ca_pem,
            &f.cert_pem,
            &f.key_pem,
            &f.tls_crypt_key,
            &f.crl_pem,
        ];
        let modes = [PUBLIC, PUBLIC, SECRET, SECRET, PUBLIC];
        for ((file, text), mode) in FILES.iter().zip(texts).zip(modes) {
            files::write_atomic(&out_dir.join(file), text, mode)?;
        }
        Ok(f)
    })?;
    if ctx.json {
        return print_json(&serde_json::json!({
            "serial": f.serial,
            "common_name": f.common_name,
            "issued": f.issued,
            "dir": out_dir.display().to_string(),
            "files": FILES,
        }));
    }
    println!(
        "{} server certificate {} ('{}'); wrote ca.crt, server.crt, server.key (0600), \
         tls-crypt.key (0600) and crl.pem to {}.",
        if f.issued { "Issued" } else { "Reused" },
        f.serial,
        f.common_name,
        out_dir.display()
    );
    Ok(())
}

pub fn crl(ctx: &Ctx, out: Option<&Path>) -> Outcome {
    let seal = ctx.seal()?;
    let pem = ctx.in_tx(|tx| {
        let pem = store::issue_crl(tx, &seal, now())?;
        if let Some(path) = out {
            files::write_atomic(path, &pem, PUBLIC)?;
        }
        Ok(pem)
    })?;
    match out {
        Some(path) if ctx.json => {
            print_json(&serde_json::json!({ "written": path.display().to_string() }))
        }
        Some(path) => {
            println!("Wrote the CRL to {}.", path.display());
            Ok(())
        }
        None => {
            print!("{pem}");
            Ok(())
        }
    }
}

pub fn ovpn(ctx: &Ctx, router: &str) -> Outcome {
    let seal = ctx.seal()?;
    let remote = ctx.vpn_remote()?;
    let proto = ctx.config.vpn_proto;
    let profile = ctx.in_tx(|tx| Ok(store::router_profile(tx, &seal, router, remote, proto)?))?;
    print!("{profile}");
    Ok(())
}

pub fn mikrotik_script(ctx: &Ctx, router: &str, interim: u32) -> Outcome {
    let seal = ctx.seal()?;
    let remote = ctx.vpn_remote()?;
    let script = ctx.in_tx(|tx| {
        Ok(store::router_script(
            tx,
            &seal,
            router,
            remote,
            &ctx.config,
            interim,
        )?)
    })?;
    print!("{script}");
    Ok(())
}
