//! netadmin: the operator's command line for Netily. Parsing and printing
//! only; every rule and every SQL statement lives in netily-core.

mod cli;
mod commands;
mod files;
mod output;
mod parse;

use std::process::ExitCode;

use clap::Parser;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("netadmin: {msg}");
            ExitCode::FAILURE
        }
    }
}
