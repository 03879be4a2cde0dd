//! `netadmin usage`: the usage reports (netily_core::db::usage) as tables,
//! JSON (`--json`) or CSV (`--csv`). Periods are days of the ISP's zone.

use netily_charts::{up_down, Chart, Format, Quantity, Style};
use netily_core::db::usage::{self, Span, TopFilter};
use netily_core::db::Transaction;
use netily_core::usage::{parse_date, Bucket, Period, Totals};

use super::logs::nas_addresses;
use super::{now, Ctx};
use crate::cli::{PeriodArgs, UsageArgs, UsageCmd};
use crate::output::{bytes, csv, duration, print_fields, print_json, Table};
use crate::{Failure, Outcome};

/// Hours folded per `usage fold` at most (a year's worth), an hour per
/// transaction.
const FOLD_MAX_HOURS: u32 = 24 * 366;

pub fn run(ctx: &Ctx, args: UsageArgs) -> Outcome {
    match args.command {
        Some(UsageCmd::Top {
            period,
            router,
            plan,
            limit,
        }) => top(ctx, &period, router, plan, limit),
        Some(UsageCmd::Routers {
            period,
            router: Some(router),
        }) => router_hours(ctx, &period, &router),
        Some(UsageCmd::Routers {
            period,
            router: None,
        }) => routers(ctx, &period),
        Some(UsageCmd::Plans { period }) => plans(ctx, &period),
        Some(UsageCmd::Fold) => fold(ctx),
        None => match args.username.or(args.user) {
            Some(user) => subscriber(ctx, &user, &args.by, &args.period),
            None => Err(Failure(
                "usage: name a subscriber (netadmin usage USER) or a report: top, routers, plans, fold"
                    .into(),
            )),
        },
    }
}

/// The period the arguments name, as instants of the ISP's zone. The first
/// statement of every report's transaction: it makes it one snapshot.
fn span_of(tx: &mut Transaction<'_>, p: &PeriodArgs) -> Result<Span, Failure> {
    usage::begin_report(tx)?;
    let day = |flag: &str, v: &str| {
        parse_date(v).ok_or_else(|| Failure(format!("invalid {flag} '{v}': expected YYYY-MM-DD")))
    };
    let period = match (&p.period, &p.from) {
        (Some(text), _) => {
            Period::parse(text).map_err(|e| Failure(format!("invalid --period: {e}")))?
        }
        (None, Some(from)) => {
            let first = day("--from", from)?;
            let last = match &p.to {
                Some(to) => day("--to", to)?,
                None => {
                    let (_, today) = usage::today(tx, now())?;
                    if first > today {
                        return Err(Failure(format!(
                            "invalid --from '{from}': after today ({today}) in the ISP's time zone"
                        )));
                    }
                    today
                }
            };
            Period::Dates(first, last)
        }
        (None, None) => Period::ThisMonth,
    };
    usage::report_span(tx, period, now()).map_err(|e| match e {
        // The period's own words ("a report covers at most ..."), as before.
        netily_core::db::Error::Invalid { allowed, .. } => Failure(allowed),
        other => Failure::from(other),
    })
}

/// The chart file's format, checked before any query runs.
fn chart_format(p: &PeriodArgs) -> Result<Option<Format>, Failure> {
    let Some(path) = &p.chart else {
        return Ok(None);
    };
    Format::of_path(&path.to_string_lossy())
        .map(Some)
        .ok_or_else(|| {
            Failure(format!(
                "invalid --chart '{}': name a .svg or .png file",
                path.display()
            ))
        })
}

/// A report's rows in every form it is printed in: each row has a label
/// (drawn under its bars), leading cells (for the table and for CSV) and
/// its totals.
struct Printed {
    title: String,
    quantity: Quantity,
    style: Style,
    table_headers: &'static [&'static str],
    csv_headers: &'static [&'static str],
    rows: Vec<PrintedRow>,
    /// Table rows after the report's own (a total line).
    extra: Vec<PrintedRow>,
}

struct PrintedRow {
    label: String,
    table: Vec<String>,
    csv: Vec<String>,
    totals: Totals,
}

impl Printed {
    fn new(
        title: String,
        table_headers: &'static [&'static str],
        csv_headers: &'static [&'static str],
    ) -> Printed {
        Printed {
            title,
            quantity: Quantity::Bytes,
            style: Style::Bars,
            table_headers,
            csv_headers,
            rows: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// A row whose only leading cell is its label.
    fn labelled(&mut self, label: String, csv: Vec<String>, totals: Totals) {
        self.rows.push(PrintedRow {
            table: vec![label.clone()],
            label,
            csv,
            totals,
        });
    }

    /// Draws the chart (if asked), then prints `json`, CSV or the table.
    fn emit<T: serde::Serialize>(self, ctx: &Ctx, p: &PeriodArgs, json: &T) -> Outcome {
        if let (Some(path), Some(format)) = (&p.chart, chart_format(p)?) {
            let chart = Chart {
                title: self.title.clone(),
                quantity: self.quantity,
                style: self.style,
                labels: self.rows.iter().map(|r| r.label.clone()).collect(),
                series: up_down(
                    self.rows.iter().map(|r| r.totals.bytes_up).collect(),
                    self.rows.iter().map(|r| r.totals.bytes_down).collect(),
                ),
            };
            let bytes = chart.render(format).map_err(|e| Failure(e.to_string()))?;
            std::fs::write(path, bytes)
                .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
        }
        if ctx.json {
            return print_json(json);
        }
        if p.csv {
            let headers: Vec<&str> = self
                .csv_headers
                .iter()
                .chain(&RAW_TOTALS)
                .copied()
                .collect();
            let rows: Vec<Vec<String>> = self
                .rows
                .iter()
                .map(|r| [r.csv.clone(), raw(&r.totals)].concat())
                .collect();
            print!("{}", csv(&headers, &rows)?);
            return Ok(());
        }
        let headers: Vec<&'static str> =
            self.table_headers.iter().chain(&TOTALS).copied().collect();
        let mut t = Table::new(&headers);
        for r in self.rows.iter().chain(&self.extra) {
            t.row([r.table.clone(), cells(&r.totals)].concat());
        }
        t.print();
        Ok(())
    }
}

/// "2026-11-01 to 2026-11-30 (Africa/Nairobi)" for a chart's title.
fn dates(span: &Span) -> String {
    let day = |t: i64| crate::output::time(t).chars().take(10).collect::<String>();
    format!("{} to {} ({})", day(span.from), day(span.to - 1), span.zone)
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

fn by_name(by: Bucket) -> &'static str {
    match by {
        Bucket::Hour => "hour",
        Bucket::Day => "day",
        Bucket::Month => "month",
        Bucket::Cycle => "billing cycle",
    }
}

fn subscriber(ctx: &Ctx, user: &str, by: &str, p: &PeriodArgs) -> Outcome {
    let by = Bucket::parse(by).ok_or_else(|| {
        Failure(format!(
            "invalid --by '{by}': expected hour, day, month or cycle"
        ))
    })?;
    chart_format(p)?;
    let report = ctx.in_read_tx(|tx| {
        let span = span_of(tx, p)?;
        Ok(usage::subscriber_usage(tx, user, span, by, now())?)
    })?;
    let title = format!(
        "{user}: traffic by {}, {}",
        by_name(by),
        dates(&report.span)
    );
    let mut out = Printed::new(title, &["PERIOD"], &["period", "start_unix"]);
    for r in &report.rows {
        out.labelled(
            r.label.clone(),
            vec![r.label.clone(), r.start.to_string()],
            r.totals,
        );
    }
    out.extra.push(PrintedRow {
        label: String::new(),
        table: vec!["total".into()],
        csv: Vec::new(),
        totals: report.total,
    });
    let table = !ctx.json && !p.csv;
    out.emit(ctx, p, &report)?;
    if let (true, Some(c)) = (table, &report.cap) {
        let used = match (c.cap_bytes, c.percent_of_cap) {
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
            ("used", used),
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
    chart_format(p)?;
    let (span, rows) = ctx.in_read_tx(|tx| {
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
        let rows = usage::top(tx, &span, &f)?;
        Ok((span, rows))
    })?;
    let title = format!("Top users, {}", dates(&span));
    let mut out = Printed::new(title, &["#", "USERNAME"], &["username"]);
    for (i, r) in rows.iter().enumerate() {
        out.rows.push(PrintedRow {
            label: r.username.clone(),
            table: vec![(i + 1).to_string(), r.username.clone()],
            csv: vec![r.username.clone()],
            totals: r.totals,
        });
    }
    out.emit(ctx, p, &rows)
}

fn routers(ctx: &Ctx, p: &PeriodArgs) -> Outcome {
    chart_format(p)?;
    let (span, rows) = ctx.in_read_tx(|tx| {
        let span = span_of(tx, p)?;
        let rows = usage::routers(tx, &span)?;
        Ok((span, rows))
    })?;
    let title = format!("Traffic per router, {}", dates(&span));
    let mut out = Printed::new(
        title,
        &["NAS", "ROUTER", "SUBSCRIBERS"],
        &["nas_ip", "router", "subscribers"],
    );
    for r in &rows {
        let name = r.router.clone();
        out.rows.push(PrintedRow {
            label: name.clone().unwrap_or_else(|| r.nas_ip.clone()),
            table: vec![
                r.nas_ip.clone(),
                name.clone().unwrap_or_else(|| "-".into()),
                r.subscribers.to_string(),
            ],
            csv: vec![
                r.nas_ip.clone(),
                name.unwrap_or_default(),
                r.subscribers.to_string(),
            ],
            totals: r.totals,
        });
    }
    out.emit(ctx, p, &rows)
}

fn plans(ctx: &Ctx, p: &PeriodArgs) -> Outcome {
    chart_format(p)?;
    let (span, rows) = ctx.in_read_tx(|tx| {
        let span = span_of(tx, p)?;
        let rows = usage::plans(tx, &span)?;
        Ok((span, rows))
    })?;
    let title = format!("Traffic per plan, {}", dates(&span));
    let mut out = Printed::new(
        title,
        &["PLAN", "CAP", "SUBSCRIBERS", "USING", "PER SUBSCRIBER"],
        &[
            "plan",
            "cap_bytes",
            "subscribers",
            "with_usage",
            "bytes_per_subscriber",
        ],
    );
    for r in &rows {
        out.rows.push(PrintedRow {
            label: r.plan.clone(),
            table: vec![
                r.plan.clone(),
                r.cap_bytes.map(bytes).unwrap_or_else(|| "-".into()),
                r.subscribers.to_string(),
                r.with_usage.to_string(),
                bytes(r.bytes_per_subscriber),
            ],
            csv: vec![
                r.plan.clone(),
                r.cap_bytes.map(|c| c.to_string()).unwrap_or_default(),
                r.subscribers.to_string(),
                r.with_usage.to_string(),
                r.bytes_per_subscriber.to_string(),
            ],
            totals: r.totals,
        });
    }
    out.emit(ctx, p, &rows)
}

/// One router's traffic by hour; its chart is the average rate.
fn router_hours(ctx: &Ctx, p: &PeriodArgs, router: &str) -> Outcome {
    chart_format(p)?;
    let (span, rows) = ctx.in_read_tx(|tx| {
        let span = span_of(tx, p)?;
        let nas = nas_addresses(ctx, tx, "--router", router)?;
        let rows = usage::router_hours(tx, &nas, &span)?;
        Ok((span, rows))
    })?;
    let title = format!("{router}: average rate by hour, {}", dates(&span));
    let mut out = Printed::new(title, &["HOUR"], &["hour", "start_unix"]);
    out.quantity = Quantity::HourlyRate;
    out.style = Style::Lines;
    for r in &rows {
        out.labelled(
            r.label.clone(),
            vec![r.label.clone(), r.start.to_string()],
            r.totals,
        );
    }
    out.emit(ctx, p, &rows)
}

fn fold(ctx: &Ctx) -> Outcome {
    let mut client = ctx.connect()?;
    let hours = usage::fold_hours(&mut client, now(), FOLD_MAX_HOURS)?;
    if ctx.json {
        return print_json(&serde_json::json!({ "hours_folded": hours }));
    }
    println!("folded {hours} hour(s) into the monthly sums");
    Ok(())
}
