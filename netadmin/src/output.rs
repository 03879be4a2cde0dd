//! Printing: aligned tables for people, JSON for scripts.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

use chrono::DateTime;
use netily_core::model::UnixTime;
use serde::Serialize;

use crate::{Failure, Outcome};

/// The first error writing to standard output; nothing more is written
/// after it (a reader that went away, as `| head` does, is not an error).
static STDOUT_ERROR: OnceLock<std::io::Error> = OnceLock::new();

/// Where `print!` and `println!` go (see `main.rs`): standard output,
/// without panicking when it fails.
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_ERROR.get().is_some() {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        let _ = STDOUT_ERROR.set(e);
    }
}

/// Flushes standard output; `Err` is the first error writing to it.
pub fn finish() -> Result<(), &'static std::io::Error> {
    if STDOUT_ERROR.get().is_none() {
        if let Err(e) = std::io::stdout().lock().flush() {
            let _ = STDOUT_ERROR.set(e);
        }
    }
    match STDOUT_ERROR.get() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Columns padded to the widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
            let mut out = String::new();
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(cell.chars().count());
                out.push_str(&" ".repeat(pad));
            }
            out.trim_end().to_owned()
        };
        let mut out = line(&mut self.headers.iter().copied());
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(&mut row.iter().map(String::as_str)));
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Two-column "field  value" listing for one object.
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in fields {
        println!("{k:width$}  {v}");
    }
}

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Outcome {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure(format!("cannot render JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

pub fn time(t: UnixTime) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_string())
}

pub fn opt_time(t: Option<UnixTime>) -> String {
    t.map(time).unwrap_or_else(|| "-".into())
}

pub use netily_core::db::invoices::cents_text as money;

pub fn bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("T", 1_000_000_000_000),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1_000),
    ];
    for (unit, size) in UNITS {
        if b >= size {
            let whole = b / size;
            let tenth = (b % size) * 10 / size;
            return if tenth == 0 {
                format!("{whole}{unit}")
            } else {
                format!("{whole}.{tenth}{unit}")
            };
        }
    }
    format!("{b}")
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_else(|| "-".into())
}

/// A progress bar for a bulk job of `len` `what`s on stderr; hidden under
/// --json (stdout is then one JSON document, stderr stays quiet).
pub fn progress_bar(len: u64, what: &str, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// CSV (RFC 4180, the csv crate) with a header line. A cell a spreadsheet
/// would run as a formula (starting with = + - @, a tab or a carriage
/// return) is prefixed with an apostrophe.
pub fn csv(headers: &[&str], rows: &[Vec<String>]) -> Result<String, Failure> {
    let defuse = |c: &str| -> String {
        if c.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{c}")
        } else {
            c.to_owned()
        }
    };
    let failed = |e: csv::Error| Failure(format!("cannot write CSV: {e}"));
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(headers.iter().map(|h| defuse(h)))
        .map_err(failed)?;
    for r in rows {
        w.write_record(r.iter().map(|c| defuse(c)))
            .map_err(failed)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Failure(format!("cannot write CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Failure(format!("cannot write CSV: {e}")))
}

/// 93784 -> "1d 2h 3m"; under an hour with seconds: "5m 10s".
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["NAME", "RATE"]);
        t.row(vec!["basic".into(), "2M/5M".into()]);
        t.row(vec!["home-20M".into(), "10M/20M".into()]);
        assert_eq!(
            t.render(),
            "NAME      RATE\nbasic     2M/5M\nhome-20M  10M/20M\n"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(money(2900), "29.00");
        assert_eq!(money(7), "0.07");
        assert_eq!(bytes(100_000_000_000), "100G");
        assert_eq!(bytes(1_500_000), "1.5M");
        assert_eq!(bytes(999), "999");
        assert_eq!(time(86_400), "1970-01-02 00:00");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(93_784), "1d 2h 3m");
        assert_eq!(duration(3_660), "1h 1m");
        assert_eq!(duration(310), "5m 10s");
        assert_eq!(duration(7), "7s");
        assert_eq!(duration(-3), "0s");
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let rows = vec![
            vec!["alice".into(), "1,5".into(), "say \"hi\"".into()],
            vec!["=cmd|' /C calc'!A0".into(), "-3".into(), "a\nb".into()],
        ];
        assert_eq!(
            csv(&["user", "x", "y"], &rows).unwrap(),
            "user,x,y\r\nalice,\"1,5\",\"say \"\"hi\"\"\"\r\n'=cmd|' /C calc'!A0,'-3,\"a\nb\"\r\n"
        );
    }
}
