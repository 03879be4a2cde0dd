//! `retention`: radacct's months created ahead and dropped when past
//! keep_radacct_months; logins and usage past theirs deleted
//! (`db::retention`, what the enforcer runs every hour).

use netily_core::db::retention::{self, Partition, RetentionRun};

use super::{now, Ctx};
use crate::output::{bytes, opt_time, print_json, Table};
use crate::{Failure, Outcome};

/// Runs retention once (or with `dry_run` reports what would go), then
/// with `partitions` lists radacct's partitions.
pub fn run(ctx: &Ctx, dry_run: bool, partitions: bool) -> Outcome {
    let mut client = ctx.connect()?;
    let done = retention::run(&mut client, now(), &ctx.config.retention, dry_run, None)?;
    let listed = if partitions {
        Some(retention::partitions(&mut client)?)
    } else {
        None
    };
    if ctx.json {
        print_json(&serde_json::json!({
            "keep": ctx.config.retention,
            "run": done,
            "partitions": listed,
        }))?;
        return failed(&done);
    }
    print_run(ctx, &done);
    if let Some(listed) = listed {
        print_partitions(&listed);
    }
    failed(&done)
}

/// A run with a failed step fails, after saying what was done.
fn failed(done: &RetentionRun) -> Outcome {
    match done.errors.as_slice() {
        [] => Ok(()),
        errors => Err(Failure(format!("retention: {}", errors.join("; ")))),
    }
}

fn print_run(ctx: &Ctx, done: &RetentionRun) {
    let keep = &ctx.config.retention;
    let months = |n: u32| match n {
        0 => "ever".to_owned(),
        n => format!("this month and the {n} before it"),
    };
    println!(
        "Keeping sessions for {}; logins for {}; hourly usage for {}; monthly usage for {}.",
        months(keep.radacct_months),
        months(keep.radpostauth_months),
        months(keep.hourly_usage_months),
        months(keep.monthly_usage_months)
    );
    for name in &done.created {
        println!("Created radacct partition {name}.");
    }
    let (verb, rows_verb) = if done.dry_run {
        ("Would drop", "Would delete")
    } else {
        ("Dropped", "Deleted")
    };
    for month in &done.dropped {
        if month.open_sessions > 0 {
            println!(
                "{} radacct partition {}, past retention: {} session(s) in it still open \
                 (close them with `netadmin sessions close-stale` or wait for their Stop).",
                if done.dry_run { "Would keep" } else { "Kept" },
                month.partition,
                month.open_sessions
            );
        } else {
            println!(
                "{verb} radacct partition {} ({}).",
                month.partition,
                bytes(u64::try_from(month.bytes).unwrap_or(0))
            );
        }
    }
    let rows = [
        (
            "old sessions outside any month (radacct_default)",
            done.radacct_default_rows,
        ),
        ("logins (radpostauth)", done.radpostauth_rows),
        ("subscriber usage hours", done.usage_hours_rows),
        ("router usage hours", done.router_usage_hours_rows),
        ("usage months", done.usage_months_rows),
    ];
    for (what, n) in rows.iter().filter(|(_, n)| *n > 0) {
        println!("{rows_verb} {n} row(s) of {what}.");
    }
    if done.dropped.is_empty() && rows.iter().all(|(_, n)| *n == 0) {
        println!("Nothing is past retention.");
    }
}

fn print_partitions(listed: &[Partition]) {
    let mut t = Table::new(&["PARTITION", "FROM", "TO"]);
    for p in listed {
        let (from, to) = if p.is_default {
            ("(any start no other takes)".to_owned(), String::new())
        } else {
            (
                p.from
                    .map_or_else(|| "(the beginning)".to_owned(), |_| opt_time(p.from)),
                opt_time(p.to),
            )
        };
        t.row(vec![p.name.clone(), from, to]);
    }
    t.print();
}
