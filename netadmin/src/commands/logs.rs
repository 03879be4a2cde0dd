use std::net::IpAddr;

use netily_core::db::{self, AuthLogFilter, SessionFilter, Transaction};

use super::Ctx;
use crate::cli::SessionsArgs;
use crate::output::{bytes, opt, opt_time, print_json, time, Table};
use crate::parse;
use crate::{Failure, Outcome};

pub fn sessions(ctx: &Ctx, args: SessionsArgs) -> Outcome {
    let since = args
        .since
        .as_deref()
        .map(|d| parse::date("--since", d))
        .transpose()?;
    let rows = ctx.in_tx(|tx| {
        let nas = match &args.nas {
            Some(x) => Some(nas_addresses(ctx, tx, "--nas", x)?),
            None => None,
        };
        let f = SessionFilter {
            active: args.active,
            username: args.user,
            nas,
            since,
            limit: Some(args.limit),
            ..SessionFilter::default()
        };
        Ok(db::list_sessions(tx, &f)?)
    })?;
    if ctx.json {
        return print_json(&rows);
    }
    let mut t = Table::new(&[
        "USERNAME", "NAS", "IP", "MAC", "STARTED", "STOPPED", "UP", "DOWN",
    ]);
    for s in &rows {
        t.row(vec![
            opt(&s.username),
            s.nas_ip.clone(),
            opt(&s.framed_ip),
            opt(&s.calling_station_id),
            opt_time(s.started_at),
            opt_time(s.stopped_at),
            bytes(s.input_octets.max(0) as u64),
            bytes(s.output_octets.max(0) as u64),
        ]);
    }
    t.print();
    Ok(())
}

/// `--nas`: an address as given, or every address of the router so named.
/// A router's addresses (its NAS and VPN ones) by name, or one address.
pub(super) fn nas_addresses(
    ctx: &Ctx,
    tx: &mut Transaction<'_>,
    flag: &str,
    x: &str,
) -> Result<Vec<IpAddr>, Failure> {
    if let Ok(ip) = x.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    match db::get_router(tx, x, &ctx.config.router_plan()) {
        Ok(r) => Ok(r.addresses()),
        Err(db::Error::NotFound { .. }) => Err(Failure(format!(
            "invalid {flag} \"{x}\": not an IP address, and no router has that name"
        ))),
        Err(e) => Err(e.into()),
    }
}

pub fn auth_log(ctx: &Ctx, user: Option<String>, rejects: bool, limit: i64) -> Outcome {
    let f = AuthLogFilter {
        username: user,
        rejects_only: rejects,
        limit: Some(limit),
        ..AuthLogFilter::default()
    };
    let rows = ctx.in_tx(|tx| Ok(db::list_auth_log(tx, &f)?))?;
    if ctx.json {
        return print_json(&rows);
    }
    let mut t = Table::new(&["TIME", "USERNAME", "REPLY", "NAS", "MAC", "REASON"]);
    for e in &rows {
        t.row(vec![
            time(e.at),
            e.username.clone(),
            opt(&e.reply),
            opt(&e.nas_ip),
            opt(&e.calling_station_id),
            opt(&e.reason),
        ]);
    }
    t.print();
    Ok(())
}
