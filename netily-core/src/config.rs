//! The one config file, read by netadmin, the RADIUS module and the VPN plugin.
//!
//! Format: `key = value` lines; `#` starts a comment; blank lines are ignored.
//! Precedence: built-in defaults < the file < `NETILY_DATABASE_URL` < a
//! command-line `--database-url`. A missing *default* file means defaults; a
//! file the operator named explicitly must exist.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::{Policy, WalledGarden};
use crate::rate::RateLimit;
use crate::vpn_plan::VpnPlan;

pub const DEFAULT_PATH: &str = "/etc/netily/netily.conf";
/// Matches the private cluster `make run` starts.
pub const DEFAULT_DATABASE_URL: &str = "postgresql://netily:netily@127.0.0.1:55432/netily";
pub const DATABASE_URL_ENV: &str = "NETILY_DATABASE_URL";

const KEYS: &[&str] = &[
    "database_url",
    "pool_size",
    "connect_timeout",
    "grace_days",
    "walled_garden",
    "walled_garden_address_list",
    "walled_garden_rate",
    "walled_garden_session_timeout",
    "vpn_network",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Never print this whole: it may carry a password (see `db::redact_url`).
    #[serde(skip)]
    pub database_url: String,
    /// Connections in each server process's pool.
    pub pool_size: u32,
    /// Seconds to wait for a connection.
    pub connect_timeout: u32,
    /// Days after an invoice's due date before service is suspended.
    pub grace_days: u32,
    /// Accept billing-suspended subscribers into a walled garden instead of rejecting.
    pub walled_garden: bool,
    pub walled_garden_address_list: String,
    pub walled_garden_rate: RateLimit,
    pub walled_garden_session_timeout: u32,
    pub vpn_network: VpnPlan,
}

/// A config problem: which file, which line, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            pool_size: 8,
            connect_timeout: 5,
            grace_days: 7,
            walled_garden: false,
            walled_garden_address_list: "netily-walled-garden".to_owned(),
            walled_garden_rate: default_walled_garden_rate(),
            walled_garden_session_timeout: 300,
            vpn_network: VpnPlan::default(),
        }
    }
}

fn default_walled_garden_rate() -> RateLimit {
    // A constant the rate parser accepts (unit-tested below).
    RateLimit::simple(256_000, 256_000).expect("256k/256k is a valid rate")
}

impl Config {
    /// Reads `path`, which must exist.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The config a program should run with: `explicit` (must exist) or the
    /// default path (may be missing), then the environment, then the flag.
    pub fn resolve(
        explicit: Option<&Path>,
        database_url_flag: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let mut config = match explicit {
            Some(path) => Config::load(path)?,
            None => {
                let path = PathBuf::from(DEFAULT_PATH);
                if path.exists() {
                    Config::load(&path)?
                } else {
                    Config::default()
                }
            }
        };
        if let Ok(url) = std::env::var(DATABASE_URL_ENV) {
            if !url.trim().is_empty() {
                config.database_url = url.trim().to_owned();
            }
        }
        if let Some(url) = database_url_flag {
            config.database_url = url.to_owned();
        }
        Ok(config)
    }

    /// Parses config text; `origin` names it in errors (usually the path).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError(format!(
                    "{origin}:{n}: expected `key = value`, got \"{line}\""
                )));
            };
            let (key, value) = (key.trim(), unquote(value.trim()));
            let bad = |allowed: &str| {
                ConfigError(format!("{origin}:{n}: {key}: {allowed}, got \"{value}\""))
            };
            match key {
                "database_url" => {
                    if value.is_empty() {
                        return Err(bad("expected a PostgreSQL URL"));
                    }
                    c.database_url = value.to_owned();
                }
                "pool_size" => {
                    c.pool_size = number(value, 1, 1000)
                        .ok_or_else(|| bad("expected a number of connections from 1 to 1000"))?
                }
                "connect_timeout" => {
                    c.connect_timeout = number(value, 1, 3600)
                        .ok_or_else(|| bad("expected seconds from 1 to 3600"))?
                }
                "grace_days" => {
                    c.grace_days = number(value, 0, 3650)
                        .ok_or_else(|| bad("expected a whole number of days from 0 to 3650"))?
                }
                "walled_garden" => {
                    c.walled_garden = match value {
                        "on" | "yes" | "true" => true,
                        "off" | "no" | "false" => false,
                        _ => return Err(bad("expected on or off")),
                    }
                }
                "walled_garden_address_list" => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(bad("expected a RouterOS address-list name without spaces"));
                    }
                    c.walled_garden_address_list = value.to_owned();
                }
                "walled_garden_rate" => {
                    c.walled_garden_rate = value.parse().map_err(|e| {
                        ConfigError(format!("{origin}:{n}: walled_garden_rate: {e}"))
                    })?
                }
                "walled_garden_session_timeout" => {
                    c.walled_garden_session_timeout = number(value, 1, 31_536_000)
                        .ok_or_else(|| bad("expected seconds from 1 to 31536000"))?
                }
                "vpn_network" => {
                    c.vpn_network = value
                        .parse()
                        .map_err(|e| ConfigError(format!("{origin}:{n}: vpn_network: {e}")))?
                }
                _ => {
                    return Err(ConfigError(format!(
                        "{origin}:{n}: unknown key \"{key}\" (known keys: {})",
                        KEYS.join(", ")
                    )))
                }
            }
        }
        Ok(c)
    }

    /// The operator policy the access decision reads.
    pub fn policy(&self) -> Policy {
        Policy {
            grace_days: self.grace_days,
            walled_garden: self.walled_garden.then(|| WalledGarden {
                address_list: self.walled_garden_address_list.clone(),
                rate: self.walled_garden_rate.clone(),
                session_timeout: self.walled_garden_session_timeout,
            }),
        }
    }
}

fn strip_comment(line: &str) -> &str {
    // `#` starts a comment unless it sits inside double quotes.
    let mut quoted = false;
    for (i, ch) in line.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

fn number(v: &str, min: u32, max: u32) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|n| (min..=max).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.pool_size, 8);
        assert_eq!(c.grace_days, 7);
        assert_eq!(c.vpn_network.to_string(), "10.8.0.0/24");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.walled_garden_rate.to_string(), "256k/256k");
        assert_eq!(c.policy().walled_garden, None);
    }

    #[test]
    fn parses_every_key() {
        let text = "# Netily\n\
            database_url = postgresql://a:b@db/netily  # inline comment\n\
            pool_size = 16\n\
            connect_timeout = 3\n\
            grace_days = 3\n\
            walled_garden = on\n\
            walled_garden_address_list = unpaid\n\
            walled_garden_rate = 128k/128k\n\
            walled_garden_session_timeout = 600\n\
            \n\
            vpn_network = 10.9.0.0/16\n";
        let c = Config::parse(text, "t.conf").unwrap();
        assert_eq!(c.database_url, "postgresql://a:b@db/netily");
        assert_eq!(c.pool_size, 16);
        assert_eq!(c.connect_timeout, 3);
        assert_eq!(c.grace_days, 3);
        assert_eq!(c.vpn_network.to_string(), "10.9.0.0/16");
        let p = c.policy();
        assert_eq!(p.grace_days, 3);
        let wg = p.walled_garden.unwrap();
        assert_eq!(wg.address_list, "unpaid");
        assert_eq!(wg.rate.to_string(), "128k/128k");
        assert_eq!(wg.session_timeout, 600);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::parse("pool_size = 4\nfoo = 1\n", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:2: unknown key \"foo\""), "{e}");
        let e = Config::parse("\n\ngrace_days = soon\n", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:3: grace_days:"), "{e}");
        let e = Config::parse("walled_garden = maybe", "x.conf").unwrap_err();
        assert!(
            e.0.contains("x.conf:1: walled_garden: expected on or off"),
            "{e}"
        );
        let e = Config::parse("vpn_network = 10.8.0.1/24", "x.conf").unwrap_err();
        assert!(e.0.starts_with("x.conf:1: vpn_network:"), "{e}");
        let e = Config::parse("just words", "x.conf").unwrap_err();
        assert!(e.0.contains("expected `key = value`"), "{e}");
        let e = Config::parse("pool_size = 0", "x.conf").unwrap_err();
        assert!(e.0.contains("pool_size"), "{e}");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let e = Config::resolve(Some(Path::new("/nonexistent/netily.conf")), None).unwrap_err();
        assert!(e.0.contains("/nonexistent/netily.conf"), "{e}");
    }

    #[test]
    fn flag_overrides_file() {
        let dir = std::env::temp_dir().join(format!("netily-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.conf");
        std::fs::write(&path, "database_url = postgresql://file/db\n").unwrap();
        let c = Config::resolve(Some(&path), Some("postgresql://flag/db")).unwrap();
        assert_eq!(c.database_url, "postgresql://flag/db");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
