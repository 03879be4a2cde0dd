//! One file per noun; each command runs in one transaction.

mod check;
mod customer;
mod dashboard;
mod invoice;
mod logs;
mod migrate;
mod plan;
mod router;
mod seed;

use std::time::Duration;

use netily_core::config::Config;
use netily_core::db::{self, Client, Transaction};

use crate::cli::{Cli, Command};
use crate::{Failure, Outcome};

pub struct Ctx {
    pub config: Config,
    pub json: bool,
}

impl Ctx {
    pub fn connect(&self) -> Result<Client, Failure> {
        let timeout = Duration::from_secs(self.config.connect_timeout.into());
        Ok(db::connect(&self.config.database_url, timeout)?)
    }

    /// Runs `f` in one transaction: all of it is written, or none.
    pub fn in_tx<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut client = self.connect()?;
        let mut tx = client
            .transaction()
            .map_err(|e| Failure(format!("cannot start a transaction: {e}")))?;
        let out = f(&mut tx)?;
        tx.commit()
            .map_err(|e| Failure(format!("cannot commit: {e}")))?;
        Ok(out)
    }
}

pub fn run(cli: Cli) -> Outcome {
    let config = Config::resolve(cli.config.as_deref(), cli.database_url.as_deref())?;
    let ctx = Ctx {
        config,
        json: cli.json,
    };
    match cli.command {
        Command::Migrate => migrate::run(&ctx),
        Command::Seed(cmd) => seed::run(&ctx, cmd),
        Command::Plan(cmd) => plan::run(&ctx, cmd),
        Command::Customer(cmd) => customer::run(&ctx, cmd),
        Command::Invoice(cmd) => invoice::run(&ctx, cmd),
        Command::Router(cmd) => router::run(&ctx, cmd),
        Command::Nas(cmd) => router::run_nas(&ctx, cmd),
        Command::Sessions {
            active,
            user,
            limit,
        } => logs::sessions(&ctx, active, user, limit),
        Command::AuthLog {
            user,
            rejects,
            limit,
        } => logs::auth_log(&ctx, user, rejects, limit),
        Command::Dashboard => dashboard::run(&ctx),
        Command::Check { username, mac } => check::run(&ctx, &username, mac.as_deref()),
    }
}
