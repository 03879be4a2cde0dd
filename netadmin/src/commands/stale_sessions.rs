//! `sessions close-stale`: close the sessions routers stopped reporting
//! (netily-core's `stale_session` rule, `db::stale_sessions`).

use netily_core::db::{self, StaleSession};

use super::{now, Ctx};
use crate::output::{opt, opt_time, print_json, time, Table};
use crate::Outcome;

/// Closes (or with `dry_run` only lists) every session stale now. Each
/// batch commits on its own, so a failure part-way leaves the batches
/// before it closed; running it again finishes the job.
pub fn close_stale(ctx: &Ctx, dry_run: bool) -> Outcome {
    let settings = ctx.config.stale_sessions();
    let at = now();
    let sessions = if dry_run {
        ctx.in_tx(|tx| Ok(db::find_stale_sessions(tx, at, &settings)?))?
    } else {
        db::close_stale_sessions(&mut ctx.connect()?, at, &settings)?
    };
    if ctx.json {
        return print_json(&sessions);
    }
    print_table(&sessions);
    let n = sessions.len();
    match (dry_run, n) {
        (_, 0) => println!("No stale sessions."),
        (true, _) => println!("Would close {n} stale session(s)."),
        (false, _) => println!("Closed {n} stale session(s) (terminate cause Stale-Session)."),
    }
    Ok(())
}

fn print_table(sessions: &[StaleSession]) {
    if sessions.is_empty() {
        return;
    }
    let mut t = Table::new(&[
        "USERNAME",
        "NAS",
        "SESSION",
        "MAC",
        "STARTED",
        "LAST HEARD",
        "INTERIM",
        "STALE AFTER",
    ]);
    for s in sessions {
        t.row(vec![
            opt(&s.username),
            s.nas_ip.clone(),
            s.acct_session_id.clone(),
            opt(&s.calling_station_id),
            opt_time(s.started_at),
            time(s.last_heard_at),
            format!("{}s ({})", s.interim_interval, s.interval_from.as_str()),
            time(s.stale_after),
        ]);
    }
    t.print();
}
