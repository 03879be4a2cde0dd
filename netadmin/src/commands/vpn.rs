//! `vpn status`: which routers are on the management VPN.

use netily_core::db::{self, VpnStatusRow};

use super::Ctx;
use crate::cli::VpnCmd;
use crate::output::{bytes, duration, opt, opt_time, print_fields, print_json, Table};
use crate::Outcome;

pub fn run(ctx: &Ctx, cmd: VpnCmd) -> Outcome {
    match cmd {
        VpnCmd::Status { router } => {
            let rows = ctx.in_tx(|tx| Ok(db::vpn_status(tx, router.as_deref())?))?;
            match (ctx.json, router.is_some(), rows.first()) {
                (true, true, Some(one)) => print_json(one),
                (true, _, _) => print_json(&rows),
                (false, true, Some(one)) => {
                    show(one);
                    Ok(())
                }
                (false, _, _) => {
                    table(&rows);
                    Ok(())
                }
            }
        }
    }
}

fn table(rows: &[VpnStatusRow]) {
    let mut t = Table::new(&[
        "ROUTER",
        "VPN ADDRESS",
        "STATE",
        "LAST SEEN",
        "IN",
        "OUT",
        "UPTIME",
    ]);
    for r in rows {
        t.row(vec![
            r.router.clone(),
            opt(&r.vpn_address),
            r.state.clone(),
            opt_time(r.last_seen),
            bytes(r.bytes_in.max(0).unsigned_abs()),
            bytes(r.bytes_out.max(0).unsigned_abs()),
            r.uptime_seconds.map(duration).unwrap_or_else(|| "-".into()),
        ]);
    }
    t.print();
}

fn show(r: &VpnStatusRow) {
    print_fields(&[
        ("router", r.router.clone()),
        ("router status", r.router_status.clone()),
        ("vpn address", opt(&r.vpn_address)),
        ("state", r.state.clone()),
        ("last seen", opt_time(r.last_seen)),
        ("connected at", opt_time(r.connected_at)),
        ("disconnected at", opt_time(r.disconnected_at)),
        ("real address", opt(&r.real_address)),
        ("bytes in", bytes(r.bytes_in.max(0).unsigned_abs())),
        ("bytes out", bytes(r.bytes_out.max(0).unsigned_abs())),
        (
            "uptime",
            r.uptime_seconds.map(duration).unwrap_or_else(|| "-".into()),
        ),
    ]);
}
