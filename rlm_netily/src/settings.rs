//! What the module runs with: its config section (`mods-available/netily`)
//! and the Netily config file that section names, read once at instantiate
//! and handed, in parts, to what needs them.

use std::path::PathBuf;
use std::time::Duration;

use netily_core::config::Config;
use netily_core::db::accounting::JournalSettings;
use netily_core::model::Policy;
use netily_core::vpn_plan::VpnPlan;

/// Disk each journal may use unless the section says otherwise.
const JOURNAL_MAX_MB: u32 = 2048;

/// The module's config section, as the CONF_PARSER filled it (module.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The Netily config file (database URL, billing policy).
    pub config_file: PathBuf,
    /// Database connections per radiusd process; 0 = the config file's value.
    pub pool_size: u32,
    /// How long a request waits for a database connection before the module
    /// returns `fail`; 0 = the config file's connect_timeout.
    pub db_timeout: Duration,
    /// Where this radiusd keeps its journals (one directory each for
    /// accounting and the authentication log).
    pub journal_dir: PathBuf,
    /// Disk each journal may use, in MiB (0: the default, 2048).
    pub journal_max_mb: u32,
}

/// The section and the config file, resolved: each value once, with the
/// section's overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The config file's, or `NETILY_DATABASE_URL`'s.
    pub database_url: String,
    /// Accounting connections per radiusd process.
    pub pool_size: u32,
    /// The bound on every database wait: connecting, the first loads at
    /// start, an accounting commit (at least a second).
    pub timeout: Duration,
    /// What the access decision reads (grace, walled garden).
    pub policy: Policy,
    /// The network routers dial: a router is also a RADIUS client by its
    /// address there.
    pub router_plan: VpnPlan,
    /// The accounting journal: packets are acknowledged once in it.
    pub accounting_journal: JournalSettings,
    /// The authentication log's journal.
    pub auth_log_journal: JournalSettings,
}

impl Settings {
    /// Reads the config file the section names (it must exist; an error
    /// names the file and line, and radiusd refuses to start).
    pub fn read(section: &Section) -> Result<Settings, String> {
        let config =
            Config::resolve(Some(&section.config_file), None).map_err(|e| e.to_string())?;
        Ok(Settings::resolve(config, section))
    }

    /// `config` with the section's overrides (a 0 in the section keeps the
    /// file's value).
    fn resolve(config: Config, section: &Section) -> Settings {
        let pool_size = match section.pool_size {
            0 => config.pool_size,
            n => n,
        };
        let timeout = if section.db_timeout.is_zero() {
            Duration::from_secs(u64::from(config.connect_timeout))
        } else {
            section.db_timeout
        };
        let max_bytes = u64::from(match section.journal_max_mb {
            0 => JOURNAL_MAX_MB,
            n => n,
        }) << 20;
        let journal = |name: &str| JournalSettings {
            dir: section.journal_dir.join(name),
            max_bytes,
        };
        Settings {
            accounting_journal: journal("accounting"),
            auth_log_journal: journal("auth-log"),
            policy: config.policy(),
            router_plan: config.router_plan(),
            database_url: config.database_url,
            pool_size,
            timeout: timeout.max(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(pool_size: u32, db_timeout: u64) -> Section {
        Section {
            config_file: PathBuf::from("/etc/netily/netily.conf"),
            pool_size,
            db_timeout: Duration::from_secs(db_timeout),
            journal_dir: PathBuf::from("/var/lib/netily/journal"),
            journal_max_mb: 0,
        }
    }

    #[test]
    fn a_zero_in_the_section_keeps_the_files_value() {
        let config = Config {
            pool_size: 16,
            connect_timeout: 7,
            ..Config::default()
        };
        let s = Settings::resolve(config.clone(), &section(0, 0));
        assert_eq!((s.pool_size, s.timeout), (16, Duration::from_secs(7)));
        assert_eq!(s.database_url, config.database_url);
        assert_eq!(s.policy, config.policy());
        assert_eq!(s.router_plan, config.router_plan());
        assert_eq!(
            s.accounting_journal,
            JournalSettings {
                dir: PathBuf::from("/var/lib/netily/journal/accounting"),
                max_bytes: 2048 << 20,
            }
        );
        assert_eq!(
            s.auth_log_journal.dir,
            PathBuf::from("/var/lib/netily/journal/auth-log")
        );
        let s = Settings::resolve(config, &section(4, 2));
        assert_eq!((s.pool_size, s.timeout), (4, Duration::from_secs(2)));
    }
}
