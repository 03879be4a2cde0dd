use netily_core::db;
use netily_core::input;
use netily_core::model::Plan;

use super::customer::period;
use super::Ctx;
use crate::cli::{PlanCmd, PlanFields};
use crate::output::{bytes, money, opt, print_fields, print_json, Table};
use crate::{Failure, Outcome};

/// The flags as netily-core reads a plan's fields (the console and the
/// API read theirs the same way).
fn plan_fields(f: PlanFields) -> input::PlanFields {
    input::PlanFields {
        rate: f.rate,
        price: f.price,
        data_cap: f.data_cap,
        fair_use_rate: f.fair_use_rate,
        session_timeout: f.session_timeout,
        idle_timeout: f.idle_timeout,
        interim_interval: f.interim_interval,
        ip_pool: f.ip_pool,
        mikrotik_group: f.mikrotik_group,
        address_list: f.address_list,
        simultaneous_use: f.simultaneous_use,
        cycle_days: f.cycle_days,
    }
}

pub fn run(ctx: &Ctx, cmd: PlanCmd) -> Outcome {
    match cmd {
        PlanCmd::Add {
            name,
            fields: fields_in,
        } => {
            if fields_in.rate.is_none() {
                return Err(Failure(
                    "missing rate: plan add needs --rate, e.g. --rate 10M/20M".into(),
                ));
            }
            let plan = plan_fields(fields_in).new_plan(&name)?;
            let plan = ctx.in_tx(|tx| Ok(db::add_plan(tx, &plan)?))?;
            if ctx.json {
                return print_json(&plan);
            }
            println!("Added plan '{}' ({}).", plan.name, plan.rate);
            Ok(())
        }
        PlanCmd::List => {
            let plans = ctx.in_tx(|tx| Ok(db::list_plans(tx)?))?;
            if ctx.json {
                return print_json(&plans);
            }
            let mut t = Table::new(&[
                "NAME",
                "RATE",
                "DATA CAP",
                "FAIR USE",
                "PRICE",
                "CYCLE",
                "SUBSCRIBERS",
            ]);
            for p in &plans {
                t.row(vec![
                    p.plan.name.clone(),
                    p.plan.rate.to_string(),
                    p.plan
                        .data_cap_bytes
                        .map(bytes)
                        .unwrap_or_else(|| "-".into()),
                    opt(&p.plan.fair_use_rate),
                    money(p.plan.price_cents),
                    period(p.plan.cycle_days),
                    p.subscribers.to_string(),
                ]);
            }
            t.print();
            Ok(())
        }
        PlanCmd::Show { name } => {
            let plan = ctx.in_tx(|tx| Ok(db::get_plan(tx, &name)?))?;
            if ctx.json {
                return print_json(&plan);
            }
            show(&plan);
            Ok(())
        }
        PlanCmd::Update { name, fields } => {
            let u = plan_fields(fields).update()?;
            let plan = ctx.in_tx(|tx| Ok(db::update_plan(tx, &name, &u)?))?;
            if ctx.json {
                return print_json(&plan);
            }
            println!("Updated plan '{}'.", plan.name);
            show(&plan);
            Ok(())
        }
        PlanCmd::Remove { name } => {
            ctx.in_tx(|tx| Ok(db::remove_plan(tx, &name)?))?;
            if ctx.json {
                return print_json(&serde_json::json!({ "removed": name }));
            }
            println!("Removed plan '{name}'.");
            Ok(())
        }
    }
}

fn show(p: &Plan) {
    print_fields(&[
        ("name", p.name.clone()),
        ("rate", p.rate.to_string()),
        (
            "data cap",
            p.data_cap_bytes.map(bytes).unwrap_or_else(|| "-".into()),
        ),
        ("fair-use rate", opt(&p.fair_use_rate)),
        ("session timeout", opt(&p.session_timeout)),
        ("idle timeout", opt(&p.idle_timeout)),
        ("interim interval", opt(&p.interim_interval)),
        ("ip pool", opt(&p.ip_pool)),
        ("mikrotik group", opt(&p.mikrotik_group)),
        ("address list", opt(&p.address_list)),
        ("simultaneous use", opt(&p.simultaneous_use)),
        ("price", money(p.price_cents)),
        ("cycle", period(p.cycle_days)),
    ]);
}
