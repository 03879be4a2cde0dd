use netily_core::db::{self, NewPlan, PlanUpdate};
use netily_core::model::Plan;

use super::customer::period;
use super::Ctx;
use crate::cli::{PlanCmd, PlanFields};
use crate::output::{bytes, money, opt, print_fields, print_json, Table};
use crate::parse;
use crate::{Failure, Outcome};

fn text(v: &str) -> Result<String, Failure> {
    Ok(v.trim().to_owned())
}

fn update_from(f: &PlanFields) -> Result<PlanUpdate, Failure> {
    Ok(PlanUpdate {
        rate: f
            .rate
            .as_deref()
            .map(|r| parse::rate("rate", r))
            .transpose()?,
        price_cents: f
            .price
            .as_deref()
            .map(|p| parse::money("price", p))
            .transpose()?,
        data_cap_bytes: parse::clearable(f.data_cap.as_deref(), |v| parse::bytes("data cap", v))?,
        fair_use_rate: parse::clearable(f.fair_use_rate.as_deref(), |v| {
            parse::rate("fair-use rate", v)
        })?,
        session_timeout: parse::clearable(f.session_timeout.as_deref(), |v| {
            parse::seconds("session timeout", v)
        })?,
        idle_timeout: parse::clearable(f.idle_timeout.as_deref(), |v| {
            parse::seconds("idle timeout", v)
        })?,
        interim_interval: parse::clearable(f.interim_interval.as_deref(), |v| {
            parse::seconds("interim interval", v)
        })?,
        ip_pool: parse::clearable(f.ip_pool.as_deref(), text)?,
        mikrotik_group: parse::clearable(f.mikrotik_group.as_deref(), text)?,
        address_list: parse::clearable(f.address_list.as_deref(), text)?,
        simultaneous_use: parse::clearable(f.simultaneous_use.as_deref(), |v| {
            parse::seconds("simultaneous use", v)
        })?,
        cycle_days: match f.cycle_days.as_deref() {
            Some("monthly") => Some(None),
            v => parse::clearable(v, parse::cycle_days)?,
        },
    })
}

pub fn run(ctx: &Ctx, cmd: PlanCmd) -> Outcome {
    match cmd {
        PlanCmd::Add { name, fields } => {
            let Some(rate) = fields.rate.as_deref() else {
                return Err(Failure(
                    "missing rate: plan add needs --rate, e.g. --rate 10M/20M".into(),
                ));
            };
            let rate = parse::rate("rate", rate)?;
            let u = update_from(&fields)?;
            let plan = NewPlan {
                name,
                rate,
                data_cap_bytes: u.data_cap_bytes.flatten(),
                fair_use_rate: u.fair_use_rate.flatten(),
                session_timeout: u.session_timeout.flatten(),
                idle_timeout: u.idle_timeout.flatten(),
                interim_interval: u.interim_interval.flatten(),
                ip_pool: u.ip_pool.flatten(),
                mikrotik_group: u.mikrotik_group.flatten(),
                address_list: u.address_list.flatten(),
                simultaneous_use: u.simultaneous_use.flatten(),
                price_cents: u.price_cents.unwrap_or(0),
                cycle_days: u.cycle_days.flatten(),
            };
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
            let u = update_from(&fields)?;
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
