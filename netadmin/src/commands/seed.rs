use std::time::Instant;

use netily_core::db;

use super::Ctx;
use crate::cli::SeedCmd;
use crate::output::{print_json, progress_bar, Table};
use crate::Outcome;

pub fn run(ctx: &Ctx, cmd: SeedCmd) -> Outcome {
    match cmd {
        SeedCmd::Demo => {
            let vpn = ctx.config.router_plan();
            let report = ctx.in_tx(|tx| Ok(db::seed_demo(tx, &vpn)?))?;
            if ctx.json {
                return print_json(&report);
            }
            println!(
                "Seeded {} plans, {} subscribers and {} router (demo-router, 127.0.0.1, secret testing123).",
                report.plans,
                report.subscribers.len(),
                report.routers
            );
            let mut t = Table::new(&["USERNAME", "PASSWORD", "SITUATION"]);
            for s in &report.subscribers {
                t.row(vec![
                    s.username.clone(),
                    s.password.clone(),
                    s.situation.clone(),
                ]);
            }
            t.print();
            Ok(())
        }
        SeedCmd::Synthetic {
            subscribers,
            routers,
        } => {
            let vpn = ctx.config.router_plan();
            let bar = progress_bar(subscribers, "subscribers", ctx.json);
            let started = Instant::now();
            let report = ctx.in_tx(|tx| {
                let mut progress = |done: u64, _total: u64| bar.set_position(done);
                let r = db::seed_synthetic(tx, subscribers, routers, &vpn, &mut progress)?;
                bar.set_message("committing");
                Ok(r)
            })?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            if ctx.json {
                let mut v = serde_json::to_value(&report).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("seconds".into(), serde_json::json!(secs));
                }
                return print_json(&v);
            }
            println!(
                "Loaded {} synthetic subscribers ({} .. {}) and {} routers in {:.1} s.",
                report.subscribers,
                report.first_username,
                report.last_username,
                report.routers,
                secs
            );
            Ok(())
        }
    }
}
