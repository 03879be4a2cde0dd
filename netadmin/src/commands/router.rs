use netily_core::db::nas::{self, NasChange, NasRow, NewNas};
use netily_core::db::onboard;
use netily_core::db::{self, NewRouter, RouterRow};

use super::{now, Ctx};
use crate::cli::{NasCmd, RouterCmd};
use crate::output::{opt, opt_time, print_fields, print_json, time, Table};
use crate::parse;
use crate::{Failure, Outcome};

pub fn run(ctx: &Ctx, cmd: RouterCmd) -> Outcome {
    match cmd {
        RouterCmd::Add {
            name,
            ip,
            secret,
            description,
        } => {
            let r = NewRouter {
                name,
                nas_ip: parse::ipv4("router IP", &ip)?,
                secret,
                description,
            };
            let vpn = ctx.config.router_plan();
            let (row, cert) = ctx.in_tx(|tx| {
                onboard::add_router_with_certificate(tx, &r, &vpn, || ctx.seal(), now())
            })?;
            if ctx.json {
                let mut v = serde_json::to_value(&row)
                    .map_err(|e| Failure(format!("cannot render JSON: {e}")))?;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert(
                        "certificate".into(),
                        cert.as_ref().map(|c| c.serial.clone()).into(),
                    );
                }
                return print_json(&v);
            }
            println!(
                "Added router '{}' (NAS {}), VPN id {} address {}.",
                row.name,
                opt(&row.nas_ip),
                row.vpn_id,
                opt(&row.vpn_address)
            );
            match cert {
                Some(c) => println!(
                    "Issued certificate {}; `netadmin mikrotik-script {}` prints its setup.",
                    c.serial, row.name
                ),
                None => println!(
                    "No certificate: there is no certificate authority yet \
                     (`netadmin ca init`, then `netadmin cert issue {}`).",
                    row.name
                ),
            }
            Ok(())
        }
        RouterCmd::List => {
            let rows = ctx.in_tx(|tx| Ok(db::list_routers(tx, &ctx.config.router_plan())?))?;
            if ctx.json {
                return print_json(&rows);
            }
            let mut t = Table::new(&[
                "NAME",
                "NAS IP",
                "VPN ID",
                "VPN ADDRESS",
                "STATUS",
                "ONLINE",
                "LAST SEEN",
            ]);
            for r in &rows {
                t.row(vec![
                    r.name.clone(),
                    opt(&r.nas_ip),
                    r.vpn_id.to_string(),
                    opt(&r.vpn_address),
                    r.status.clone(),
                    if r.online { "yes" } else { "no" }.into(),
                    opt_time(r.last_seen),
                ]);
            }
            t.print();
            Ok(())
        }
        RouterCmd::Show { name } => {
            let r = ctx.in_tx(|tx| Ok(db::get_router(tx, &name, &ctx.config.router_plan())?))?;
            if ctx.json {
                return print_json(&r);
            }
            show(&r);
            Ok(())
        }
        RouterCmd::Update {
            name,
            ip,
            secret,
            description,
            coa_port,
        } => {
            let change = db::RouterChange {
                nas_ip: ip
                    .as_deref()
                    .map(|i| parse::ipv4("router IP", i))
                    .transpose()?,
                secret,
                description,
                coa_port,
            };
            let r = ctx.in_tx(|tx| {
                Ok(db::update_router(
                    tx,
                    &name,
                    &change,
                    &ctx.config.router_plan(),
                )?)
            })?;
            if ctx.json {
                return print_json(&r);
            }
            println!("Updated router '{}'.", r.name);
            show(&r);
            Ok(())
        }
        RouterCmd::Remove { name } => {
            let revoked = ctx.in_tx(|tx| Ok(db::remove_router(tx, &name)?))?;
            if ctx.json {
                return print_json(&serde_json::json!({ "removed": name, "revoked": revoked }));
            }
            println!("Removed router '{name}' and its NAS entry.");
            for serial in &revoked {
                println!("Revoked certificate {serial}.");
            }
            if !revoked.is_empty() {
                println!("{}", super::pki::REVOKED_NOTE);
            }
            Ok(())
        }
    }
}

fn show(r: &RouterRow) {
    print_fields(&[
        ("name", r.name.clone()),
        ("nas ip", opt(&r.nas_ip)),
        ("vpn id", r.vpn_id.to_string()),
        ("vpn address", opt(&r.vpn_address)),
        ("status", r.status.clone()),
        ("online", if r.online { "yes" } else { "no" }.into()),
        ("last seen", opt_time(r.last_seen)),
        ("created", time(r.created_at)),
    ]);
}

pub fn run_nas(ctx: &Ctx, cmd: NasCmd) -> Outcome {
    match cmd {
        NasCmd::List { show_secrets } => {
            let rows = ctx.in_tx(|tx| Ok(db::list_nas(tx, show_secrets)?))?;
            if ctx.json {
                return print_json(&rows);
            }
            let mut headers = vec!["NASNAME", "SHORTNAME", "TYPE", "ROUTER", "DESCRIPTION"];
            if show_secrets {
                headers.push("SECRET");
            }
            let mut t = Table::new(&headers);
            for n in &rows {
                let mut cells = vec![
                    n.nasname.clone(),
                    n.shortname.clone(),
                    n.kind.clone(),
                    opt(&n.router),
                    opt(&n.description),
                ];
                if show_secrets {
                    cells.push(opt(&n.secret));
                }
                t.row(cells);
            }
            t.print();
            Ok(())
        }
        NasCmd::Add {
            address,
            shortname,
            secret,
            kind,
            description,
            coa_port,
        } => {
            let n = NewNas {
                nasname: address,
                shortname,
                secret,
                kind,
                description,
                coa_port,
            };
            let plan = ctx.config.router_plan();
            let row = ctx.in_tx(|tx| Ok(nas::add_nas(tx, &n, &plan)?))?;
            nas_done(ctx, "Added", &row)
        }
        NasCmd::Update {
            nas: target,
            address,
            shortname,
            secret,
            kind,
            description,
            coa_port,
        } => {
            let change = NasChange {
                nasname: address,
                shortname,
                secret,
                kind,
                description,
                coa_port,
            };
            let plan = ctx.config.router_plan();
            let row = ctx.in_tx(|tx| Ok(nas::update_nas(tx, &target, &change, &plan)?))?;
            nas_done(ctx, "Updated", &row)
        }
        NasCmd::Remove { nas: target } => {
            let plan = ctx.config.router_plan();
            let row = ctx.in_tx(|tx| Ok(nas::remove_nas(tx, &target, &plan)?))?;
            nas_done(ctx, "Removed", &row)
        }
    }
}

/// What `nas add/update/remove` did, never with the secret.
fn nas_done(ctx: &Ctx, verb: &str, n: &NasRow) -> Outcome {
    if ctx.json {
        return print_json(n);
    }
    println!(
        "{verb} RADIUS client '{}' ({}, type {}{}).",
        n.shortname,
        n.nasname,
        n.kind,
        n.description
            .as_deref()
            .map(|d| format!(", \"{d}\""))
            .unwrap_or_default()
    );
    println!(
        "{}",
        if verb == "Added" {
            "Running FreeRADIUS servers answer it from its first packet \
             (sites-available/netily-dynamic-clients)."
        } else {
            "Running FreeRADIUS servers apply this once the client's lifetime has passed \
             (60 s in sites-available/netily-dynamic-clients)."
        }
    );
    Ok(())
}
