//! One file per noun; each command runs in one transaction.

mod check;
mod customer;
mod dashboard;
mod enforce;
mod import;
mod invoice;
mod journal;
mod logs;
mod migrate;
mod operator;
mod pki;
mod plan;
mod retention;
mod router;
mod seed;
mod stale_sessions;
mod usage;
mod vpn;

use std::path::PathBuf;
use std::time::Duration;

use netily_core::config::{self, Config, VpnRemote};
use netily_core::db::{self, Client, Transaction};
use netily_core::pki::CaKeySeal;

use crate::cli::{Cli, Command, SessionsArgs, SessionsCmd};
use crate::{Failure, Outcome};

pub struct Ctx {
    pub config: Config,
    /// The file `config` came from, if any (named in errors).
    pub config_path: Option<PathBuf>,
    pub json: bool,
    /// Who runs netadmin (the login user) and what ("customer suspend"):
    /// every transaction names them for the audit log.
    pub actor: String,
    pub action: String,
}

impl Ctx {
    fn config_name(&self) -> String {
        match &self.config_path {
            Some(p) => p.display().to_string(),
            None => format!("the config file ({} does not exist)", config::DEFAULT_PATH),
        }
    }

    /// The key that seals the CA's private key, from `ca_key_seal`.
    pub fn seal(&self) -> Result<CaKeySeal, Failure> {
        let Some(key) = &self.config.ca_key_seal else {
            return Err(Failure(format!(
                "ca_key_seal is not set in {}: add `ca_key_seal = <64 hex digits>` \
                 (e.g. from `openssl rand -hex 32`) to a file only root can read",
                self.config_name()
            )));
        };
        // The config parser already checked the form; this cannot echo the key.
        CaKeySeal::from_hex("ca_key_seal", key.hex()).map_err(|e| Failure(e.to_string()))
    }

    /// `vpn_remote`: where routers dial the VPN server.
    pub fn vpn_remote(&self) -> Result<&VpnRemote, Failure> {
        self.config.vpn_remote.as_ref().ok_or_else(|| {
            Failure(format!(
                "vpn_remote is not set in {}: set it to the host[:port] routers dial, \
                 e.g. vpn_remote = vpn.isp.example:1194",
                self.config_name()
            ))
        })
    }

    pub fn connect(&self) -> Result<Client, Failure> {
        let timeout = Duration::from_secs(self.config.connect_timeout.into());
        Ok(db::connect(&self.config.database_url, timeout)?)
    }

    /// Runs `f` in one transaction: all of it is written, or none.
    pub fn in_tx<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.in_tx_unless(false, f)
    }

    /// As [`Ctx::in_tx`], but rolled back when `dry_run`: the same work,
    /// checks and counts, nothing kept.
    pub fn in_tx_unless<T>(
        &self,
        dry_run: bool,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.run_tx(dry_run, true, f)
    }

    /// A transaction for reading only (usage reports): not attributed, so
    /// that the report can still set its isolation level first.
    pub fn in_read_tx<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.run_tx(false, false, f)
    }

    fn run_tx<T>(
        &self,
        dry_run: bool,
        attributed: bool,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut client = self.connect()?;
        let mut tx = client
            .transaction()
            .map_err(|e| Failure(format!("cannot start a transaction: {e}")))?;
        if attributed {
            db::audit::attribute(&mut tx, &self.actor, db::audit::Via::Netadmin, &self.action)?;
        }
        let out = f(&mut tx)?;
        if dry_run {
            tx.rollback()
                .map_err(|e| Failure(format!("cannot roll back: {e}")))?;
        } else {
            tx.commit()
                .map_err(|e| Failure(format!("cannot commit: {e}")))?;
        }
        Ok(out)
    }
}

/// The clock every command reads (the one the RADIUS module reads too, so
/// `check` decides at the same "now" as radiusd would).
pub use netily_core::clock::now;

/// The login user running netadmin, as the audit log names them (behind
/// sudo, the user who ran sudo).
fn login_user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .or_else(user_of_this_process)
        .unwrap_or_else(|| "unknown".into())
}

/// The name /etc/passwd gives this process's user (no USER in cron or a
/// bare `env -i`).
fn user_of_this_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_owned())
    })
}

pub fn run(cli: Cli, action: String) -> Outcome {
    let config_path = Config::resolve_path(cli.config.as_deref());
    let mut config = Config::resolve(cli.config.as_deref(), cli.database_url.as_deref())?;
    config.read_seal_file()?;
    // A file holding the CA's sealing key must be private, whatever the command.
    // (A key read from ca_key_seal_file was checked there instead.)
    if let (Some(path), Some(_), None) =
        (&config_path, &config.ca_key_seal, &config.ca_key_seal_file)
    {
        config::check_private_file(path)?;
    }
    let ctx = Ctx {
        config,
        config_path,
        json: cli.json,
        actor: login_user(),
        action,
    };
    match cli.command {
        Command::Migrate => migrate::run(&ctx),
        Command::Operator(cmd) => operator::run(&ctx, cmd),
        Command::Audit {
            user,
            operator,
            entity,
            before,
            limit,
        } => operator::audit(&ctx, user, operator, entity, before, limit),
        Command::Seed(cmd) => seed::run(&ctx, cmd),
        Command::Plan(cmd) => plan::run(&ctx, cmd),
        Command::Customer(cmd) => customer::run(&ctx, cmd),
        Command::Invoice(cmd) => invoice::run(&ctx, cmd),
        Command::Router(cmd) => router::run(&ctx, cmd),
        Command::Nas(cmd) => router::run_nas(&ctx, cmd),
        Command::Sessions(SessionsArgs {
            command: Some(SessionsCmd::CloseStale { dry_run }),
            ..
        }) => stale_sessions::close_stale(&ctx, dry_run),
        Command::Sessions(SessionsArgs {
            command: Some(SessionsCmd::Kick { target }),
            ..
        }) => enforce::kick(&ctx, &target),
        Command::Sessions(SessionsArgs {
            command: Some(SessionsCmd::Coa { user }),
            ..
        }) => enforce::coa(&ctx, &user),
        Command::Sessions(args) => logs::sessions(&ctx, args),
        Command::Enforce { dry_run, follow } => enforce::enforce(&ctx, dry_run, follow),
        Command::CoaLog { user, since, limit } => enforce::coa_log(&ctx, user, since, limit),
        Command::AuthLog {
            user,
            rejects,
            limit,
        } => logs::auth_log(&ctx, user, rejects, limit),
        Command::Ca(cmd) => pki::ca(&ctx, cmd),
        Command::Cert(cmd) => pki::cert(&ctx, cmd),
        Command::ServerCert {
            out_dir,
            name,
            days,
            renew,
        } => pki::server_cert(&ctx, &out_dir, &name, days, renew),
        Command::Crl { out } => pki::crl(&ctx, out.as_deref()),
        Command::Ovpn { router } => pki::ovpn(&ctx, &router),
        Command::MikrotikScript { router, interim } => pki::mikrotik_script(&ctx, &router, interim),
        Command::Vpn(cmd) => vpn::run(&ctx, cmd),
        Command::Dashboard => dashboard::run(&ctx),
        Command::Usage(args) => usage::run(&ctx, args),
        Command::Journal { dir } => journal::run(&ctx, &dir),
        Command::Retention {
            dry_run,
            partitions,
        } => retention::run(&ctx, dry_run, partitions),
        Command::Import {
            from,
            subscribers,
            default_rate,
            dry_run,
        } => import::run(
            &ctx,
            from.as_deref(),
            subscribers.as_deref(),
            &default_rate,
            dry_run,
        ),
        Command::Check { username, mac, nas } => {
            check::run(&ctx, &username, mac.as_deref(), nas.as_deref())
        }
    }
}
