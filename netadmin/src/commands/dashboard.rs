use netily_core::db;

use super::{now, Ctx};
use crate::output::{print_fields, print_json};
use crate::Outcome;

pub fn run(ctx: &Ctx) -> Outcome {
    let grace = ctx.config.grace_days;
    let policy = ctx.config.policy();
    let d = ctx.in_tx(|tx| Ok(db::dashboard(tx, &policy, now())?))?;
    if ctx.json {
        return print_json(&d);
    }
    print_fields(&[
        ("subscribers", d.subscribers.to_string()),
        ("  active", d.active.to_string()),
        (
            "  overdue",
            format!("{} (past {grace} days' grace)", d.overdue),
        ),
        ("  expired", d.expired.to_string()),
        ("  suspended", d.suspended.to_string()),
        ("  terminated", d.terminated.to_string()),
        ("active sessions", d.active_sessions.to_string()),
        ("accepts (24h)", d.accepts_24h.to_string()),
        ("rejects (24h)", d.rejects_24h.to_string()),
        (
            "routers online",
            format!("{} of {}", d.routers_online, d.routers),
        ),
    ]);
    Ok(())
}
