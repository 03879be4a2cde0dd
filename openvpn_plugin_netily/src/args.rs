//! The plugin line's arguments: `key=value` words after the library path.
//!
//! Secrets never go here (OpenVPN logs the plugin line); the database URL comes
//! from Netily's config file, named by `config=`.

use std::path::PathBuf;
use std::time::Duration;

use netily_core::config::{Config, VpnProto};
use netily_core::vpn_plan::VpnPlan;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Netily's config file (database URL, VPN network).
    pub config: Option<PathBuf>,
    /// OpenVPN's `status` file (version 3); heartbeats are off without it.
    pub status_file: Option<PathBuf>,
    /// How often the status file is read.
    pub status_interval: Duration,
    /// Counters that have not moved for this long mark a connection stale.
    pub stale_after: Duration,
    /// How often the set of admitted certificates is reloaded.
    pub refresh: Duration,
    /// OpenVPN's management interface (the unix socket of the config's
    /// `management PATH unix` line), through which a connected router that
    /// is no longer admitted is cut off; without it, it keeps its tunnel
    /// until its next renegotiation.
    pub management: Option<PathBuf>,
    /// Which server this is: its tunnel network is the config file's
    /// `vpn_network` (udp) or `vpn_tcp_network` (tcp), so what the plugin
    /// pushes and what netadmin tells routers come from one place.
    pub proto: VpnProto,
    /// The old `vpn_network=` argument (installed server-tcp.conf files
    /// still carry it): accepted when it names one of netily.conf's two
    /// networks, see [`Args::plan`].
    pub legacy_network: Option<VpnPlan>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            config: None,
            status_file: None,
            status_interval: Duration::from_secs(5),
            stale_after: Duration::from_secs(60),
            refresh: Duration::from_millis(1000),
            management: None,
            proto: VpnProto::Udp,
            legacy_network: None,
        }
    }
}

const KNOWN: &str = "config=PATH, status=PATH, status_interval=SECONDS, stale_after=SECONDS, refresh_ms=MILLISECONDS, management=PATH, proto=udp|tcp";

impl Args {
    /// The tunnel network this server hands out: netily.conf's network for
    /// `proto=`. A legacy `vpn_network=` must name one of netily.conf's two
    /// networks (it then also says which server this is), so the plugin and
    /// netadmin can never disagree about a router's address.
    pub fn plan(&self, config: &Config) -> Result<VpnPlan, String> {
        let Some(legacy) = self.legacy_network else {
            return Ok(config.vpn_plan(self.proto));
        };
        if legacy == config.vpn_tcp_network || legacy == config.vpn_network {
            Ok(legacy)
        } else {
            Err(format!(
                "plugin argument vpn_network={legacy} is neither vpn_network ({}) nor \
                 vpn_tcp_network ({}) in netily.conf: set vpn_tcp_network = {legacy} there and \
                 replace the argument with proto=tcp",
                config.vpn_network, config.vpn_tcp_network
            ))
        }
    }

    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Args, String> {
        let mut a = Args::default();
        for word in words {
            let (key, value) = word.split_once('=').ok_or_else(|| {
                format!("plugin argument \"{word}\": expected key=value ({KNOWN})")
            })?;
            let number = |min: u64, max: u64| -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        format!("plugin argument {key}: expected {min} to {max}, got \"{value}\"")
                    })
            };
            match key {
                "config" => a.config = Some(PathBuf::from(value)),
                "status" => a.status_file = Some(PathBuf::from(value)),
                "management" => {
                    if value.is_empty() || value.len() > 107 {
                        return Err(format!(
                            "plugin argument management: expected the path of OpenVPN's \
                             management unix socket (1 to 107 bytes), got \"{value}\""
                        ));
                    }
                    a.management = Some(PathBuf::from(value))
                }
                "status_interval" => a.status_interval = Duration::from_secs(number(1, 3600)?),
                "stale_after" => a.stale_after = Duration::from_secs(number(1, 86_400)?),
                "refresh_ms" => a.refresh = Duration::from_millis(number(100, 60_000)?),
                "proto" => {
                    a.proto = match value {
                        "udp" => VpnProto::Udp,
                        "tcp" => VpnProto::Tcp,
                        _ => {
                            return Err(format!(
                                "plugin argument proto: expected udp or tcp, got \"{value}\""
                            ))
                        }
                    }
                }
                "vpn_network" => {
                    a.legacy_network = Some(
                        value
                            .parse()
                            .map_err(|e| format!("plugin argument vpn_network: {e}"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "unknown plugin argument \"{key}\" (known: {KNOWN})"
                    ))
                }
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_names_bad_ones() {
        let a = Args::parse([
            "config=/etc/netily/netily.conf",
            "status=/run/s.log",
            "stale_after=30",
        ])
        .unwrap();
        assert_eq!(a.config, Some(PathBuf::from("/etc/netily/netily.conf")));
        assert_eq!(a.status_file, Some(PathBuf::from("/run/s.log")));
        assert_eq!(a.stale_after, Duration::from_secs(30));
        assert!(Args::parse(["nope=1"])
            .unwrap_err()
            .starts_with("unknown plugin argument \"nope\""));
        assert!(Args::parse(["stale_after=0"])
            .unwrap_err()
            .contains("expected 1 to 86400"));
        assert!(Args::parse(["config"]).is_err());
        assert_eq!(Args::parse(["proto=tcp"]).unwrap().proto, VpnProto::Tcp);
        assert!(Args::parse(["proto=sctp"]).is_err());
        assert_eq!(
            Args::parse(["management=/run/netily/openvpn-mgmt.sock"])
                .unwrap()
                .management,
            Some(PathBuf::from("/run/netily/openvpn-mgmt.sock"))
        );
        assert_eq!(Args::default().management, None);
        assert!(Args::parse(["management="]).is_err());
        // Installed server-tcp.conf files still say vpn_network=: accepted
        // when it is one of netily.conf's networks, refused otherwise.
        let config = Config::default();
        let legacy = Args::parse(["vpn_network=10.9.0.0/24"]).unwrap();
        assert_eq!(legacy.plan(&config).unwrap(), config.vpn_tcp_network);
        let other = Args::parse(["vpn_network=10.77.0.0/24"]).unwrap();
        assert!(other
            .plan(&config)
            .unwrap_err()
            .contains("vpn_tcp_network = 10.77.0.0/24"));
    }
}
