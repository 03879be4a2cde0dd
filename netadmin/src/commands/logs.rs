use netily_core::db::{self, AuthLogFilter, SessionFilter};

use super::Ctx;
use crate::output::{bytes, opt, opt_time, print_json, time, Table};
use crate::Outcome;

pub fn sessions(ctx: &Ctx, active: bool, user: Option<String>, limit: i64) -> Outcome {
    let f = SessionFilter {
        active,
        username: user,
        limit: Some(limit),
    };
    let rows = ctx.in_tx(|tx| Ok(db::list_sessions(tx, &f)?))?;
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

pub fn auth_log(ctx: &Ctx, user: Option<String>, rejects: bool, limit: i64) -> Outcome {
    let f = AuthLogFilter {
        username: user,
        rejects_only: rejects,
        limit: Some(limit),
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
