//! Live enforcement from the command line: `enforce` (once, `--dry-run`,
//! `--follow` as the service), `session kick`, `session coa` and
//! `coa-log` (netily-core's `enforcer`).
//!
//! Acting once takes the enforcer's lock like the service does, so it never
//! races a running enforcer (it says so and stops instead). `session kick`
//! and `session coa` act on an operator's word and take no lock: the
//! outcome log says who sent what.

use std::sync::atomic::AtomicBool;

use netily_core::db::enforcement::{self, CoaLogEntry, CoaLogFilter, NewCoaLog};
use netily_core::db::{self, Client};
use netily_core::enforcer::service::{self, ServiceOptions};
use netily_core::enforcer::{self, Enforcer, Planned, Settings, ORIGIN_ENFORCER, ORIGIN_NETADMIN};
use serde::Serialize;

use super::{now, Ctx};
use crate::output::{opt, print_json, time, Table};
use crate::parse;
use crate::{Failure, Outcome};

/// One line of `enforce --dry-run`: what would be sent, why, and where.
#[derive(Debug, Serialize)]
struct WouldSend {
    username: String,
    acct_unique_id: String,
    kind: &'static str,
    attributes: String,
    why: String,
    /// address:port, or why there is nowhere to send.
    target: String,
}

fn enforcer(ctx: &Ctx) -> Enforcer {
    Enforcer::new(Settings::from_config(&ctx.config))
}

/// Every online session reviewed against its stored grant.
fn review_all(conn: &mut Client, e: &mut Enforcer) -> Result<Vec<Planned>, Failure> {
    e.load_grants(conn)?;
    let names = enforcement::online_usernames(conn)?;
    let at = now();
    let mut planned = Vec::new();
    for chunk in names.chunks(1_000) {
        let records: Vec<_> = db::load_subscribers(conn, chunk)?
            .into_iter()
            .filter_map(|(_, r)| r)
            .collect();
        e.adopt_login_grants(conn, &records, at)?;
        for r in &records {
            planned.extend(e.review(r, at));
        }
    }
    Ok(planned)
}

pub fn enforce(ctx: &Ctx, dry_run: bool, follow: bool) -> Outcome {
    if follow {
        return follow_forever(ctx);
    }
    let mut conn = ctx.connect()?;
    if !dry_run && !enforcement::try_lead(&mut conn)? {
        return Err(Failure(
            "another enforcer is acting now (it holds the enforcer lock): it already does this; \
             use --dry-run to see what it would send"
                .to_owned(),
        ));
    }
    let mut e = enforcer(ctx);
    let planned = review_all(&mut conn, &mut e)?;
    if dry_run {
        return print_would_send(ctx, &mut conn, &e, &planned);
    }
    let log = e.execute(&mut conn, &planned, ORIGIN_ENFORCER, now())?;
    print_outcomes(
        ctx,
        &log,
        "Every online session matches its decision: nothing sent.",
    )
}

/// The service: runs until the process is stopped (SIGTERM ends it at
/// once; the lock goes with its connection, and a round cut short is
/// reviewed again by whoever acts next).
fn follow_forever(ctx: &Ctx) -> Outcome {
    netily_core::stderr_log::init();
    let stop = AtomicBool::new(false);
    service::run(&ServiceOptions::from_config(&ctx.config), &stop)
        .map_err(|e| Failure(format!("cannot start the enforcer: {e}")))
}

fn print_would_send(ctx: &Ctx, conn: &mut Client, e: &Enforcer, planned: &[Planned]) -> Outcome {
    let ids: Vec<String> = planned.iter().map(|p| p.acct_unique_id.clone()).collect();
    let targets = enforcement::session_targets(conn, &ids, &e.settings().plan)?;
    let by_id: std::collections::HashMap<&str, &enforcement::SessionTarget> = targets
        .iter()
        .map(|t| (t.acct_unique_id.as_str(), t))
        .collect();
    let rows: Vec<WouldSend> = planned
        .iter()
        .map(|p| {
            let target = match by_id.get(p.acct_unique_id.as_str()) {
                None => "(session closed)".to_owned(),
                Some(t) => match &t.destination {
                    Some(d) => format!(
                        "{}{}",
                        std::net::SocketAddr::new(d.address, d.port),
                        if d.via_vpn { " (VPN)" } else { "" }
                    ),
                    None => t.no_route.clone().unwrap_or_default(),
                },
            };
            WouldSend {
                username: p.username.clone(),
                acct_unique_id: p.acct_unique_id.clone(),
                kind: p.kind.as_str(),
                attributes: enforcer::attributes_text(&p.attributes),
                why: p.why.clone(),
                target,
            }
        })
        .collect();
    if ctx.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("Every online session matches its decision: nothing would be sent.");
        return Ok(());
    }
    let mut t = Table::new(&["USERNAME", "SESSION", "SEND", "TO", "WHY"]);
    for r in &rows {
        t.row(vec![
            r.username.clone(),
            r.acct_unique_id.clone(),
            r.kind.to_owned(),
            r.target.clone(),
            r.why.clone(),
        ]);
    }
    t.print();
    println!("Would send {} request(s); nothing was sent.", rows.len());
    Ok(())
}

fn print_outcomes(ctx: &Ctx, log: &[NewCoaLog], none: &str) -> Outcome {
    if ctx.json {
        return print_json(log);
    }
    if log.is_empty() {
        println!("{none}");
        return Ok(());
    }
    let mut t = Table::new(&["USERNAME", "SESSION", "SENT", "TO", "OUTCOME", "WHY"]);
    for e in log {
        t.row(vec![
            e.username.clone(),
            e.acct_session_id.clone().unwrap_or_default(),
            e.kind.as_str().to_owned(),
            e.target.clone(),
            outcome_text(&e.outcome, e.error_cause, e.attempts),
            e.why.clone(),
        ]);
    }
    t.print();
    Ok(())
}

fn outcome_text(outcome: &str, cause: Option<u32>, attempts: u32) -> String {
    let cause = cause
        .map(|c| format!(" ({c} {})", netily_core::coa::error_cause_name(c)))
        .unwrap_or_default();
    let tries = if attempts > 1 {
        format!(" after {attempts} tries")
    } else {
        String::new()
    };
    format!("{outcome}{cause}{tries}")
}

/// `session kick USER|SESSION`: a Disconnect-Request for each of the
/// subscriber's open sessions, or for the one session so named
/// (Acct-Session-Id or acctuniqueid).
pub fn kick(ctx: &Ctx, who: &str) -> Outcome {
    let mut conn = ctx.connect()?;
    let log = enforcer::kick::kick_now(
        &mut conn,
        Settings::from_config(&ctx.config),
        who,
        ORIGIN_NETADMIN,
        "operator: netadmin session kick",
        now(),
    )
    .map_err(|e| match e {
        // netadmin's own words, as before.
        db::Error::NotFound { .. } => Failure(format!(
            "no open session for \"{who}\" (neither a subscriber with one nor an open session's id)"
        )),
        other => Failure::from(other),
    })?;
    print_outcomes(ctx, &log, "The session closed before it was kicked.")
}

/// `session coa USER`: the current decision pushed onto the subscriber's
/// open sessions now.
pub fn coa(ctx: &Ctx, username: &str) -> Outcome {
    let mut conn = ctx.connect()?;
    let Some(record) = db::load_subscriber(&mut conn, username)? else {
        return Err(Failure(format!("no subscriber \"{username}\"")));
    };
    if record.open_sessions.is_empty() {
        return Err(Failure(format!("{username} has no open session")));
    }
    let mut e = enforcer(ctx);
    e.load_grants(&mut conn)?;
    e.adopt_login_grants(&mut conn, [&record], now())?;
    let planned = enforcer::push_current(&e, &record, now());
    let log = e.execute(&mut conn, &planned, ORIGIN_NETADMIN, now())?;
    print_outcomes(ctx, &log, "Nothing to send.")
}

/// `coa-log`: what was sent to routers and what they answered.
pub fn coa_log(ctx: &Ctx, user: Option<String>, since: Option<String>, limit: i64) -> Outcome {
    let since = since
        .as_deref()
        .map(|d| parse::date("--since", d))
        .transpose()?;
    let f = CoaLogFilter {
        username: user,
        since,
        limit: Some(limit),
        ..CoaLogFilter::default()
    };
    let rows: Vec<CoaLogEntry> = ctx.in_tx(|tx| Ok(enforcement::list_coa_log(tx, &f)?))?;
    if ctx.json {
        return print_json(&rows);
    }
    let mut t = Table::new(&[
        "TIME", "USERNAME", "SENT", "TO", "ROUTER", "OUTCOME", "BY", "WHY",
    ]);
    for e in &rows {
        let cause = e.error_cause.and_then(|c| u32::try_from(c).ok());
        let attempts = u32::try_from(e.attempts).unwrap_or(0);
        t.row(vec![
            time(e.sent_at),
            e.username.clone(),
            if e.attributes.is_empty() {
                e.kind.clone()
            } else {
                format!("{} {}", e.kind, e.attributes)
            },
            e.target.clone(),
            opt(&e.router),
            outcome_text(&e.outcome, cause, attempts),
            e.origin.clone(),
            e.why.clone(),
        ]);
    }
    t.print();
    Ok(())
}
