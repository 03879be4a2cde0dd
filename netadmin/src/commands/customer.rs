use netily_core::billing::format_bytes;
use netily_core::cycle::CycleUsage;
use netily_core::db::customers::{parse_status, status_str};
use netily_core::db::{self, CustomerFilter, CustomerRow, CustomerUpdate, NewCustomer};
use netily_core::model::SubscriberStatus;

use super::{now, Ctx};
use crate::cli::CustomerCmd;
use crate::output::{money, opt, opt_time, print_fields, print_json, time, Table};
use crate::parse;
use crate::{Failure, Outcome};

pub fn run(ctx: &Ctx, cmd: CustomerCmd) -> Outcome {
    match cmd {
        CustomerCmd::Add {
            username,
            password,
            name,
            phone,
            email,
            mac,
            static_ip,
            plan,
            expires,
        } => {
            let static_ip = static_ip
                .as_deref()
                .map(|v| parse::ipv4("static IP", v))
                .transpose()?;
            let expires = expires
                .as_deref()
                .map(|v| parse::date("expiry date", v))
                .transpose()?;
            if expires.is_some() && plan.is_none() {
                return Err(Failure("--expires needs --plan".into()));
            }
            let new = NewCustomer {
                username,
                password,
                full_name: name,
                phone,
                email,
                mac_binding: mac,
                static_ip,
            };
            let row = ctx.in_tx(|tx| {
                Ok(db::customers::add_with_plan(
                    tx,
                    &new,
                    plan.as_deref(),
                    expires,
                )?)
            })?;
            if ctx.json {
                return print_json(&row);
            }
            match &row.plan {
                Some(p) => println!("Added subscriber '{}' on plan '{p}'.", row.username),
                None => println!("Added subscriber '{}' (no plan yet).", row.username),
            }
            Ok(())
        }
        CustomerCmd::List {
            status,
            plan,
            search,
            after,
            limit,
        } => {
            let filter = CustomerFilter {
                after,
                status: status.as_deref().map(parse_status).transpose()?,
                plan,
                search,
                limit,
            };
            let rows = ctx.in_tx(|tx| Ok(db::list_customers(tx, &filter)?))?;
            if ctx.json {
                return print_json(&rows);
            }
            let mut t = Table::new(&[
                "USERNAME",
                "NAME",
                "STATUS",
                "PLAN",
                "EXPIRES",
                "UNPAID",
                "OLDEST DUE",
            ]);
            for c in &rows {
                t.row(vec![
                    c.username.clone(),
                    c.full_name.clone(),
                    status_str(c.status).into(),
                    opt(&c.plan),
                    opt_time(c.expires_at),
                    money(c.unpaid_cents),
                    opt_time(c.oldest_due_at),
                ]);
            }
            t.print();
            Ok(())
        }
        CustomerCmd::Show { username } => {
            let detail = ctx.in_tx(|tx| {
                Ok(db::subscriber_detail::subscriber_detail(
                    tx,
                    &username,
                    now(),
                )?)
            })?;
            if ctx.json {
                return print_json(&detail);
            }
            let db::subscriber_detail::SubscriberDetail {
                subscriber: row,
                cycle,
                subscriptions: subs,
                invoices,
            } = detail;
            show(&row);
            if let Some(c) = &cycle {
                show_cycle(c);
            }
            if !subs.is_empty() {
                println!("\nSubscriptions:");
                let mut t = Table::new(&["PLAN", "STARTS", "EXPIRES", "ACTIVE", "CYCLES FROM"]);
                for s in &subs {
                    t.row(vec![
                        s.plan.clone(),
                        time(s.starts_at),
                        opt_time(s.expires_at),
                        if s.active { "yes" } else { "no" }.into(),
                        time(s.cycle_start),
                    ]);
                }
                t.print();
            }
            if !invoices.is_empty() {
                println!("\nInvoices:");
                super::invoice::table(&invoices).print();
            }
            Ok(())
        }
        CustomerCmd::Update {
            username,
            password,
            name,
            phone,
            email,
            mac,
            static_ip,
        } => {
            let text = |v: &str| Ok::<_, Failure>(v.to_owned());
            let u = CustomerUpdate {
                password,
                full_name: name,
                phone: parse::clearable(phone.as_deref(), text)?,
                email: parse::clearable(email.as_deref(), text)?,
                mac_binding: parse::clearable(mac.as_deref(), text)?,
                static_ip: parse::clearable(static_ip.as_deref(), |v| parse::ipv4("static IP", v))?,
            };
            let row = ctx.in_tx(|tx| Ok(db::update_customer(tx, &username, &u)?))?;
            if ctx.json {
                return print_json(&row);
            }
            println!("Updated subscriber '{}'.", row.username);
            Ok(())
        }
        CustomerCmd::SetPlan {
            username,
            plan,
            starts,
            expires,
        } => {
            let starts = starts
                .as_deref()
                .map(|v| parse::date("start date", v))
                .transpose()?;
            let expires = expires
                .as_deref()
                .map(|v| parse::date("expiry date", v))
                .transpose()?;
            let sub = ctx.in_tx(|tx| Ok(db::set_plan(tx, &username, &plan, starts, expires)?))?;
            if ctx.json {
                return print_json(&sub);
            }
            println!(
                "Subscriber '{username}' is now on plan '{}' from {}{}.",
                sub.plan,
                time(sub.starts_at),
                sub.expires_at
                    .map(|e| format!(" until {}", time(e)))
                    .unwrap_or_default()
            );
            Ok(())
        }
        CustomerCmd::Suspend { username } => status(ctx, &username, SubscriberStatus::Suspended),
        CustomerCmd::Resume { username } => status(ctx, &username, SubscriberStatus::Active),
        CustomerCmd::Terminate { username } => status(ctx, &username, SubscriberStatus::Terminated),
        CustomerCmd::Remove { username } => {
            ctx.in_tx(|tx| Ok(db::remove_customer(tx, &username)?))?;
            if ctx.json {
                return print_json(&serde_json::json!({ "removed": username }));
            }
            println!("Removed subscriber '{username}'.");
            Ok(())
        }
    }
}

fn status(ctx: &Ctx, username: &str, new: SubscriberStatus) -> Outcome {
    let old = ctx.in_tx(|tx| Ok(db::set_customer_status(tx, username, new)?))?;
    if ctx.json {
        return print_json(&serde_json::json!({
            "username": username,
            "previous_status": old,
            "status": new,
        }));
    }
    if old == new {
        println!("Subscriber '{username}' was already {}.", status_str(new));
    } else {
        println!(
            "Subscriber '{username}': {} -> {}.",
            status_str(old),
            status_str(new)
        );
    }
    Ok(())
}

/// The billing cycle of now: when it began and ends, its usage and the cap.
fn show_cycle(c: &CycleUsage) {
    let cap = match c.cap_bytes {
        Some(cap) => format!(" of {} cap", format_bytes(cap)),
        None => " (no cap)".into(),
    };
    print_fields(&[
        (
            "cycle",
            format!(
                "{} to {} ({})",
                time(c.cycle.start),
                time(c.cycle.end),
                period(c.cycle_days)
            ),
        ),
        (
            "cycle usage",
            format!("{}{cap}", format_bytes(c.usage_bytes)),
        ),
    ]);
}

/// A plan's period for humans: "monthly", "1 day", "7 days".
pub(crate) fn period(days: Option<u32>) -> String {
    match days {
        None => "monthly".into(),
        Some(1) => "1 day".into(),
        Some(n) => format!("{n} days"),
    }
}

fn show(c: &CustomerRow) {
    print_fields(&[
        ("username", c.username.clone()),
        ("name", c.full_name.clone()),
        ("status", status_str(c.status).into()),
        ("phone", opt(&c.phone)),
        ("email", opt(&c.email)),
        ("mac binding", opt(&c.mac_binding)),
        ("static ip", opt(&c.static_ip)),
        ("plan", opt(&c.plan)),
        ("expires", opt_time(c.expires_at)),
        ("unpaid", money(c.unpaid_cents)),
        ("oldest due", opt_time(c.oldest_due_at)),
        ("created", time(c.created_at)),
    ]);
}
