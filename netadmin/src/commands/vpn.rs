//! `vpn status`: which routers are on the management VPN.

use netily_core::db::{self, VpnStatusRow};

use super::Ctx;
use crate::cli::VpnCmd;
use crate::output::{bytes, opt, opt_time, print_fields, print_json, Table};
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

/// 93784 -> "1d 2h 3m"; under an hour with seconds: "5m 10s".
fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations() {
        assert_eq!(duration(93_784), "1d 2h 3m");
        assert_eq!(duration(3_660), "1h 1m");
        assert_eq!(duration(310), "5m 10s");
        assert_eq!(duration(7), "7s");
        assert_eq!(duration(-3), "0s");
    }
}
