//! `netadmin import`: an rlm_sql database (and a CSV of what it never held)
//! into Netily. The rules are netily_core::import; this reads the CSV, runs
//! the import in one transaction (rolled back for --dry-run) and prints the
//! report.

use std::path::Path;
use std::time::{Duration, Instant};

use netily_core::db;
use netily_core::import::CsvSubscriber;
use netily_core::rate::RateLimit;

use super::{now, Ctx};
use crate::output::{print_json, progress_bar};
use crate::{Failure, Outcome};

/// A CSV larger than this is refused (10 million subscribers fit).
const CSV_MAX_BYTES: u64 = 2 << 30;

pub fn run(
    ctx: &Ctx,
    from: Option<&str>,
    csv: Option<&Path>,
    default_rate: &str,
    dry_run: bool,
) -> Outcome {
    let default_rate = RateLimit::parse_with_units(default_rate)
        .map_err(|e| Failure(format!("--default-rate: {e}")))?;
    let csv = match csv {
        Some(path) => read_csv(path)?,
        None => Vec::new(),
    };
    let started = Instant::now();
    let vpn = ctx.config.router_plan();
    let report = ctx.in_tx_unless(dry_run, |tx| {
        let mut source = match from {
            Some(url) => {
                let timeout = Duration::from_secs(ctx.config.connect_timeout.into());
                db::import::read_source_at(url, timeout)?
            }
            None => db::import::read_source(tx)?,
        };
        source.csv = csv;
        let users = source.radcheck.len() as u64;
        let bar = progress_bar(users, "subscribers", ctx.json);
        let mut progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let r = db::import::import(
            tx,
            &source,
            &default_rate,
            from.is_some(),
            &vpn,
            now(),
            &mut progress,
        )?;
        bar.finish_and_clear();
        Ok(r)
    })?;
    let secs = started.elapsed().as_secs_f64();
    if ctx.json {
        let mut v = serde_json::to_value(&report)
            .map_err(|e| Failure(format!("cannot render JSON: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("dry_run".into(), dry_run.into());
            o.insert("seconds".into(), serde_json::json!(secs));
        }
        return print_json(&v);
    }
    let verb = if dry_run { "Would create" } else { "Created" };
    println!(
        "{verb} {} subscribers ({} already in Netily), {} plans ({} existing), {} routers ({} existing), {} reply rows copied, {} check rows archived, in {secs:.1} s.",
        report.subscribers_created,
        report.subscribers_existing,
        report.plans_created.len(),
        report.plans_existing.len(),
        report.routers_created.len(),
        report.routers_existing.len(),
        report.reply_rows_copied,
        report.check_rows_archived,
    );
    for (what, names) in [
        ("New plans", &report.plans_created),
        ("Existing plans used", &report.plans_existing),
        ("New routers", &report.routers_created),
    ] {
        if !names.is_empty() {
            println!("{what}: {}.", names.join(", "));
        }
    }
    if !report.routers_created.is_empty() && !dry_run {
        println!(
            "The new routers have no VPN certificate yet: `netadmin cert issue ROUTER`, \
             then `netadmin mikrotik-script ROUTER`."
        );
    }
    if !report.skipped.is_empty() {
        println!("Not imported ({}):", report.skipped.len());
        for (user, why) in &report.skipped {
            // Names and values come from the old database: no control
            // character reaches the terminal.
            println!(
                "  {}: {}",
                crate::escape_controls(user, false),
                crate::escape_controls(why, false)
            );
        }
    }
    if !report.notes.is_empty() {
        println!("To look at ({}):", report.notes.len());
        for (who, notes) in &report.notes {
            for n in notes {
                println!(
                    "  {}: {}",
                    crate::escape_controls(who, false),
                    crate::escape_controls(n, false)
                );
            }
        }
    }
    if dry_run {
        println!("Dry run: nothing was changed. Run again without --dry-run to import.");
    }
    Ok(())
}

/// The subscribers CSV: a header line naming the columns (username and
/// full_name required; phone, email, password optional, any order).
fn read_csv(path: &Path) -> Result<Vec<CsvSubscriber>, Failure> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| Failure(format!("cannot read {name}: {e}")))?;
    if !meta.is_file() || meta.len() > CSV_MAX_BYTES {
        return Err(Failure(format!(
            "{name}: expected a regular file of at most {} MiB",
            CSV_MAX_BYTES >> 20
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Failure(format!("cannot read {name}: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| Failure(format!("{name}: {e}")))?
        .clone();
    let column = |wanted: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(wanted));
    let (Some(user_at), Some(name_at)) = (column("username"), column("full_name")) else {
        return Err(Failure(format!(
            "{name}: the header line must name username and full_name \
             (optional: phone, email, password); it is {:?}",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    };
    let (phone_at, email_at, password_at) = (column("phone"), column("email"), column("password"));
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Failure(format!("{name}: {e}")))?;
        let field = |at: Option<usize>| {
            at.and_then(|a| record.get(a))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let Some(username) = field(Some(user_at)) else {
            return Err(Failure(format!("{name}: line {}: no username", i + 2)));
        };
        out.push(CsvSubscriber {
            username,
            full_name: field(Some(name_at)).unwrap_or_default(),
            phone: field(phone_at),
            email: field(email_at),
            password: field(password_at),
        });
    }
    Ok(out)
}
