//! The module's own settings, from `mods-available/netily`.

use std::path::PathBuf;
use std::time::Duration;

/// Parsed from the module's config section (see module.rs's CONF_PARSER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Netily config file (database URL, billing policy).
    pub config_file: PathBuf,
    /// Database connections per radiusd process; 0 = the config file's value.
    pub pool_size: u32,
    /// How long a request waits for a database connection before the module
    /// returns `fail`; 0 = the config file's connect_timeout.
    pub db_timeout: Duration,
}
