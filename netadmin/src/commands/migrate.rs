use netily_core::db;

use super::Ctx;
use crate::output::print_json;
use crate::Outcome;

pub fn run(ctx: &Ctx) -> Outcome {
    let mut client = ctx.connect()?;
    let report = db::migrate(&mut client)?;
    if let Some(zone) = &ctx.config.timezone {
        if db::usage::set_zone(&mut client, zone)? && !ctx.json {
            println!("time zone for usage reports: {zone}");
        }
    }
    if ctx.json {
        return print_json(&report);
    }
    if report.is_noop() {
        println!(
            "Schema is up to date (version {}); nothing to do.",
            report.version
        );
    } else {
        for m in &report.applied {
            println!("applied {m}");
        }
        println!(
            "Applied {} migration(s); schema is at version {}.",
            report.applied.len(),
            report.version
        );
    }
    Ok(())
}
