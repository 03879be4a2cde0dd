//! netadmin: the operator's command line for Netily. Parsing and printing
//! only; every rule and every SQL statement lives in netily-core.
//!
//! Exit status: 0 on success, 1 when the command failed (one line on stderr:
//! `netadmin: why`, or `{"error":"why"}` under `--json`), 2 for a command line
//! clap refuses, and 141 (128 + SIGPIPE, what a shell shows for a tool killed
//! by a closed pipe) when standard output was closed early, as by `| head`:
//! the command then finishes quietly, printing nothing more.

/// `print!` and `println!` in netadmin write through [`output::stdout`],
/// which never panics: a closed or failing standard output is remembered and
/// decides the exit status in `main` (std's macros would panic with "failed
/// printing to stdout: Broken pipe"). Defined before the modules so these
/// shadow std's in all of them, including code added later.
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*))
    };
}

macro_rules! println {
    () => {
        $crate::output::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;
mod commands;
mod files;
mod output;
mod parse;

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// A one-line, operator-facing failure.
#[derive(Debug)]
pub struct Failure(pub String);

impl From<netily_core::db::Error> for Failure {
    fn from(e: netily_core::db::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<netily_core::config::ConfigError> for Failure {
    fn from(e: netily_core::config::ConfigError) -> Self {
        Failure(e.to_string())
    }
}

pub type Outcome = Result<(), Failure>;

/// The exit status when standard output is a closed pipe (see the top).
const CLOSED_PIPE: u8 = 141;

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, action_name(&m))));
    let (cli, action) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return usage_error(e),
    };
    let json = cli.json;
    let outcome = commands::run(cli, action);
    let written = output::finish();
    match (outcome, written) {
        (Err(failure), _) => {
            report(&failure.0, json);
            ExitCode::FAILURE
        }
        (Ok(()), Err(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::from(CLOSED_PIPE),
        (Ok(()), Err(e)) => {
            report(&format!("cannot write to standard output: {e}"), json);
            ExitCode::FAILURE
        }
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
    }
}

/// The command's words ("customer suspend"): the action the audit log
/// records for changes this run makes.
fn action_name(m: &ArgMatches) -> String {
    let mut words = vec![];
    let mut at = m;
    while let Some((name, sub)) = at.subcommand() {
        words.push(name);
        at = sub;
    }
    words.join(" ")
}

/// Prints a failure: the only place netadmin writes an error. Control
/// characters (from a username, a file name, a database message) are escaped
/// so they cannot drive the terminal or forge a second line; JSON escapes
/// them itself. A failure to write to stderr is ignored (there is nowhere
/// left to say it).
fn report(msg: &str, json: bool) {
    let line = if json {
        // serde_json escapes C0 controls only; DEL and C1 inside a JSON
        // string become \u escapes here.
        escape_controls(&serde_json::json!({ "error": msg }).to_string(), true)
    } else {
        format!("netadmin: {}", escape_controls(msg, false))
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `text` with each control character (C0, DEL, C1) escaped: as in Rust
/// (ESC as `\u{1b}`, a newline as `\n`), or as in JSON (`\u001b`).
fn escape_controls(text: &str, json: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_control() {
            out.push(c);
        } else if json {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// A command line clap refused (or `--help`/`--version`, which clap prints).
/// Under `--json` the refusal is `{"error": ...}` like any other failure;
/// otherwise clap's message, its lines escaped as in [`report`].
fn usage_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        e.exit()
    }
    let text = e.to_string();
    if std::env::args_os().any(|a| a == "--json") {
        let first = text.lines().next().unwrap_or_default();
        report(first.strip_prefix("error: ").unwrap_or(first), true);
    } else {
        let lines: Vec<String> = text.lines().map(|l| escape_controls(l, false)).collect();
        let _ = writeln!(std::io::stderr(), "{}", lines.join("\n"));
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
