//! `netadmin usage`: the usage reports (netily_core::db::usage) as tables,
//! JSON (`--json`) or CSV (`--csv`). Periods are days of the ISP's zone.

use netily_core::db::usage::{self, Span, TopFilter};
use netily_core::db::Transaction;
use netily_core::usage::{parse_date, Bucket, Period, Totals};

use super::logs::nas_addresses;
use super::{now, Ctx};
use crate::cli::{PeriodArgs, UsageArgs, UsageCmd};
use crate::output::{bytes, csv, duration, print_fields, print_json, Table};
use crate::{Failure, Outcome};

/// Hours folded per `usage fold` at most (a year's worth).
const FOLD_MAX_HOURS: i32 = 24 * 366;

pub fn run(ctx: &Ctx, args: UsageArgs) -> Outcome {
    match args.command {
        Some(UsageCmd::Top {
            period,
            router,
            plan,
            limit,
        }) => top(ctx, &period, router, plan, limit),
        Some(UsageCmd::Routers { period }) => routers(ctx, &period),
        Some(UsageCmd::Plans { period }) => plans(ctx, &period),
        Some(UsageCmd::Fold) => fold(ctx),
        None => match args.username {
            Some(user) => subscriber(ctx, &user, &args.by, &args.period),
            None => Err(Failure(
                "usage: name a subscriber (netadmin usage USER) or a report: top, routers, plans, fold"
                    .into(),
            )),
        },
    }
}

/// The period the arguments name, as instants of the ISP's zone.
fn span_of(tx: &mut Transaction<'_>, p: &PeriodArgs) -> Result<Span, Failure> {
    let day = |flag: &str, v: &str| {
        parse_date(v).ok_or_else(|| Failure(format!("invalid {flag} '{v}': expected YYYY-MM-DD")))
    };
    let (_, today) = usage::today(tx, now())?;
    let period = match (&p.period, &p.from) {
        (Some(text), _) => {
            Period::parse(text).map_err(|e| Failure(format!("invalid --period: {e}")))?
        }
        (None, Some(from)) => {
            let last = match &p.to {
                Some(to) => day("--to", to)?,
                None => today,
            };
            Period::Dates(day("--from", from)?, last)
        }
        (None, None) => Period::ThisMonth,
    };
    let (first, end) = period.dates(today).map_err(|e| Failure(e.to_string()))?;
    Ok(usage::span(tx, first, end)?)
}

/// The cells every report shows of its totals.
fn cells(t: &Totals) -> Vec<String> {
    vec![
        bytes(t.bytes_up),
        bytes(t.bytes_down),
        bytes(t.bytes()),
        duration(i64::try_from(t.seconds_online).unwrap_or(i64::MAX)),
        t.sessions.to_string(),
    ]
}

/// The same, exact, for CSV.
fn raw(t: &Totals) -> Vec<String> {
    vec![
        t.bytes_up.to_string(),
        t.bytes_down.to_string(),
        t.bytes().to_string(),
        t.seconds_online.to_string(),
        t.sessions.to_string(),
    ]
}

const TOTALS: [&str; 5] = ["UP", "DOWN", "TOTAL", "ONLINE", "SESSIONS"];
const RAW_TOTALS: [&str; 5] = [
    "bytes_up",
    "bytes_down",
    "bytes_total",
    "seconds_online",
    "sessions",
];

fn headers(first: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    first.iter().chain(rest).copied().collect()
}

fn subscriber(ctx: &Ctx, user: &str, by: &str, p: &PeriodArgs) -> Outcome {
    let by = Bucket::parse(by).ok_or_else(|| {
        Failure(format!(
            "invalid --by '{by}': expected hour, day, month or cycle"
        ))
    })?;
    let report = ctx.in_tx(|tx| {
        let span = span_of(tx, p)?;
        Ok(usage::subscriber_usage(tx, user, span, by, now())?)
    })?;
    if ctx.json {
        return print_json(&report);
    }
    if p.csv {
        let rows: Vec<Vec<String>> = report
            .rows
            .iter()
            .map(|r| [vec![r.label.clone(), r.start.to_string()], raw(&r.totals)].concat())
            .collect();
        print!(
            "{}",
            csv(&headers(&["period", "start_unix"], &RAW_TOTALS), &rows)
        );
        return Ok(());
    }
    let mut t = Table::new(&headers(&["PERIOD"], &TOTALS));
    for r in &report.rows {
        t.row([vec![r.label.clone()], cells(&r.totals)].concat());
    }
    t.row([vec!["total".into()], cells(&report.total)].concat());
    t.print();
    if let Some(c) = &report.cap {
        let cap = match (c.cap_bytes, c.percent_of_cap) {
            (Some(cap), Some(pct)) => format!(
                "{} of {} ({pct}%), {} left{}",
                bytes(c.used_bytes),
                bytes(cap),
                bytes(c.remaining_bytes.unwrap_or(0)),
                if c.over_cap { ": over the cap" } else { "" }
            ),
            (Some(cap), None) => format!("{} of {}", bytes(c.used_bytes), bytes(cap)),
            _ => format!("{} (the plan has no cap)", bytes(c.used_bytes)),
        };
        println!();
        print_fields(&[
            (
                "this cycle",
                format!(
                    "{} to {}",
                    crate::output::time(c.cycle_start),
                    crate::output::time(c.cycle_end)
                ),
            ),
            ("used", cap),
        ]);
    }
    Ok(())
}

fn top(
    ctx: &Ctx,
    p: &PeriodArgs,
    router: Option<String>,
    plan: Option<String>,
    limit: i64,
) -> Outcome {
    let rows = ctx.in_tx(|tx| {
        let span = span_of(tx, p)?;
        let router = match &router {
            Some(r) => Some(nas_addresses(ctx, tx, "--router", r)?),
            None => None,
        };
        let f = TopFilter {
            router,
            plan: plan.clone(),
            limit,
        };
        Ok(usage::top(tx, &span, &f)?)
    })?;
    if ctx.json {
        return print_json(&rows);
    }
    if p.csv {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| [vec![r.username.clone()], raw(&r.totals)].concat())
            .collect();
        print!("{}", csv(&headers(&["username"], &RAW_TOTALS), &rows));
        return Ok(());
    }
    let mut t = Table::new(&headers(&["#", "USERNAME"], &TOTALS));
    for (i, r) in rows.iter().enumerate() {
        t.row(
            [
                vec![(i + 1).to_string(), r.username.clone()],
                cells(&r.totals),
            ]
            .concat(),
        );
    }
    t.print();
    Ok(())
}

fn routers(ctx: &Ctx, p: &PeriodArgs) -> Outcome {
    let rows = ctx.in_tx(|tx| {
        let span = span_of(tx, p)?;
        Ok(usage::routers(tx, &span)?)
    })?;
    if ctx.json {
        return print_json(&rows);
    }
    let name = |r: &usage::RouterUsage| r.router.clone().unwrap_or_default();
    if p.csv {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row = vec![r.nas_ip.clone(), name(r), r.subscribers.to_string()];
                row.extend(raw(&r.totals));
                row
            })
            .collect();
        print!(
            "{}",
            csv(
                &headers(&["nas_ip", "router", "subscribers"], &RAW_TOTALS),
                &rows
            )
        );
        return Ok(());
    }
    let mut t = Table::new(&headers(&["NAS", "ROUTER", "SUBSCRIBERS"], &TOTALS));
    for r in &rows {
        let mut row = vec![
            r.nas_ip.clone(),
            r.router.clone().unwrap_or_else(|| "-".into()),
            r.subscribers.to_string(),
        ];
        row.extend(cells(&r.totals));
        t.row(row);
    }
    t.print();
    Ok(())
}

fn plans(ctx: &Ctx, p: &PeriodArgs) -> Outcome {
    let rows = ctx.in_tx(|tx| {
        let span = span_of(tx, p)?;
        Ok(usage::plans(tx, &span)?)
    })?;
    if ctx.json {
        return print_json(&rows);
    }
    let cap = |c: Option<u64>, show: fn(u64) -> String| c.map(show).unwrap_or_default();
    if p.csv {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.plan.clone(),
                    cap(r.cap_bytes, |c| c.to_string()),
                    r.subscribers.to_string(),
                    r.with_usage.to_string(),
                    r.bytes_per_subscriber.to_string(),
                ];
                row.extend(raw(&r.totals));
                row
            })
            .collect();
        let first = [
            "plan",
            "cap_bytes",
            "subscribers",
            "with_usage",
            "bytes_per_subscriber",
        ];
        print!("{}", csv(&headers(&first, &RAW_TOTALS), &rows));
        return Ok(());
    }
    let mut t = Table::new(&headers(
        &["PLAN", "CAP", "SUBSCRIBERS", "USING", "PER SUBSCRIBER"],
        &TOTALS,
    ));
    for r in &rows {
        let mut row = vec![
            r.plan.clone(),
            r.cap_bytes.map(bytes).unwrap_or_else(|| "-".into()),
            r.subscribers.to_string(),
            r.with_usage.to_string(),
            bytes(r.bytes_per_subscriber),
        ];
        row.extend(cells(&r.totals));
        t.row(row);
    }
    t.print();
    Ok(())
}

fn fold(ctx: &Ctx) -> Outcome {
    let mut client = ctx.connect()?;
    let hours = usage::fold(&mut client, now(), FOLD_MAX_HOURS)?;
    if ctx.json {
        return print_json(&serde_json::json!({ "hours_folded": hours }));
    }
    println!("folded {hours} hour(s) into the monthly sums");
    Ok(())
}
