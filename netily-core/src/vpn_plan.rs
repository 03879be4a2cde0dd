//! The VPN address plan: which tunnel address the server and each router get.
//!
//! In a network `n/len` (len 16..=30): `n` is the network address, `n + 1`
//! the OpenVPN server, router id N (N >= 1) gets `n + N + 1`, and the last
//! address is the broadcast address, never handed out. So a /24 holds 253
//! routers, a /16 65,533, a /30 one. An id that does not fit is an error,
//! never a wrapped or borrowed address.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The smallest prefix length (largest network) allowed.
pub const MIN_PREFIX_LEN: u8 = 16;
/// The largest prefix length (smallest network) allowed: room for one router.
pub const MAX_PREFIX_LEN: u8 = 30;

/// A validated VPN network. Displays and serializes as `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VpnPlan {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// Why a VPN network or router address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnPlanError(pub String);

impl fmt::Display for VpnPlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VpnPlanError {}

impl Default for VpnPlan {
    /// 10.8.0.0/24, OpenVPN's customary network.
    fn default() -> Self {
        VpnPlan {
            network: Ipv4Addr::new(10, 8, 0, 0),
            prefix_len: 24,
        }
    }
}

impl VpnPlan {
    /// A plan for `network/prefix_len`; the host bits must be zero.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, VpnPlanError> {
        if !(MIN_PREFIX_LEN..=MAX_PREFIX_LEN).contains(&prefix_len) {
            return Err(VpnPlanError(format!(
                "VPN network {network}/{prefix_len}: prefix length must be /{MIN_PREFIX_LEN} to /{MAX_PREFIX_LEN}"
            )));
        }
        let plan = VpnPlan {
            network,
            prefix_len,
        };
        let addr = u32::from(network);
        if addr & !plan.mask() != 0 {
            return Err(VpnPlanError(format!(
                "VPN network {network}/{prefix_len}: host bits are set; did you mean {}/{prefix_len}?",
                Ipv4Addr::from(addr & plan.mask())
            )));
        }
        Ok(plan)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn mask(&self) -> u32 {
        // prefix_len is 16..=30, so the shift is in range.
        u32::MAX << (32 - u32::from(self.prefix_len))
    }

    fn size(&self) -> u32 {
        1u32 << (32 - u32::from(self.prefix_len))
    }

    /// The netmask, e.g. 255.255.255.0 (for `ifconfig-push addr netmask`).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    /// The broadcast address (never handed out).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The OpenVPN server's tunnel address: network + 1.
    pub fn server_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The highest router id that fits (253 in a /24).
    pub fn max_router_id(&self) -> i64 {
        i64::from(self.size()) - 3
    }

    /// Router id N's tunnel address: network + N + 1.
    pub fn router_address(&self, router_id: i64) -> Result<Ipv4Addr, VpnPlanError> {
        if router_id < 1 || router_id > self.max_router_id() {
            return Err(VpnPlanError(format!(
                "router id {router_id} does not fit in {self}: router ids are 1 to {max}, at most {max} routers",
                max = self.max_router_id()
            )));
        }
        // 1 <= router_id <= size - 3, so the offset stays inside the network.
        let offset = u32::try_from(router_id + 1)
            .map_err(|_| VpnPlanError(format!("router id {router_id} does not fit in {self}")))?;
        Ok(Ipv4Addr::from(u32::from(self.network) + offset))
    }

    /// The router id that owns `addr`, if it is a router address of this plan.
    pub fn router_id_of(&self, addr: Ipv4Addr) -> Option<i64> {
        let a = u32::from(addr);
        if a & self.mask() != u32::from(self.network) {
            return None;
        }
        let id = i64::from(a - u32::from(self.network)) - 1;
        (1..=self.max_router_id()).contains(&id).then_some(id)
    }

    /// True when `addr` is inside the network (including network/broadcast).
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }
}

impl FromStr for VpnPlan {
    type Err = VpnPlanError;

    /// Parses `a.b.c.d/len`, e.g. `10.8.0.0/24`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            VpnPlanError(format!(
                "VPN network \"{s}\": expected a.b.c.d/len with len {MIN_PREFIX_LEN} to {MAX_PREFIX_LEN}, e.g. 10.8.0.0/24"
            ))
        };
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let network: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix_len: u8 = len.parse().map_err(|_| bad())?;
        VpnPlan::new(network, prefix_len)
    }
}

impl fmt::Display for VpnPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl Serialize for VpnPlan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VpnPlan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(s: &str) -> VpnPlan {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn default_is_10_8_0_0_24() {
        let p = VpnPlan::default();
        assert_eq!(p.to_string(), "10.8.0.0/24");
        assert_eq!(p, plan("10.8.0.0/24"));
        assert_eq!(p.netmask(), ip("255.255.255.0"));
        assert_eq!(p.server_address(), ip("10.8.0.1"));
        assert_eq!(p.broadcast(), ip("10.8.0.255"));
    }

    #[test]
    fn router_addresses_in_a_24() {
        let p = VpnPlan::default();
        assert_eq!(p.router_address(1), Ok(ip("10.8.0.2")));
        assert_eq!(p.router_address(100), Ok(ip("10.8.0.101")));
        assert_eq!(p.max_router_id(), 253);
        assert_eq!(p.router_address(253), Ok(ip("10.8.0.254")));
    }

    #[test]
    fn overflow_at_24_is_an_error_not_broadcast_or_wrap() {
        let p = VpnPlan::default();
        let e = p.router_address(254).unwrap_err().to_string();
        assert_eq!(
            e,
            "router id 254 does not fit in 10.8.0.0/24: router ids are 1 to 253, at most 253 routers"
        );
        assert!(p.router_address(255).is_err());
        assert!(p.router_address(1_000).is_err());
        assert!(p.router_address(i64::MAX).is_err());
    }

    #[test]
    fn router_id_zero_and_negative_are_errors() {
        let p = VpnPlan::default();
        assert!(p.router_address(0).is_err());
        assert!(p.router_address(-1).is_err());
        assert!(p.router_address(i64::MIN).is_err());
    }

    #[test]
    fn overflow_at_16() {
        let p = plan("172.16.0.0/16");
        assert_eq!(p.netmask(), ip("255.255.0.0"));
        assert_eq!(p.max_router_id(), 65_533);
        assert_eq!(p.router_address(254), Ok(ip("172.16.0.255")));
        assert_eq!(p.router_address(255), Ok(ip("172.16.1.0")));
        assert_eq!(p.router_address(65_533), Ok(ip("172.16.255.254")));
        let e = p.router_address(65_534).unwrap_err().to_string();
        assert!(
            e.contains("router id 65534 does not fit in 172.16.0.0/16"),
            "{e}"
        );
        assert!(e.contains("at most 65533 routers"), "{e}");
    }

    #[test]
    fn smallest_network_30_holds_one_router() {
        let p = plan("192.168.9.4/30");
        assert_eq!(p.netmask(), ip("255.255.255.252"));
        assert_eq!(p.server_address(), ip("192.168.9.5"));
        assert_eq!(p.max_router_id(), 1);
        assert_eq!(p.router_address(1), Ok(ip("192.168.9.6")));
        assert!(p.router_address(2).is_err());
        assert_eq!(p.broadcast(), ip("192.168.9.7"));
    }

    #[test]
    fn top_of_address_space_does_not_wrap() {
        let p = plan("255.255.255.0/24");
        assert_eq!(p.router_address(253), Ok(ip("255.255.255.254")));
        assert!(p.router_address(254).is_err());
        assert_eq!(p.broadcast(), ip("255.255.255.255"));
    }

    #[test]
    fn prefix_lengths_allowed_16_to_30() {
        for len in 16..=30 {
            assert!(VpnPlan::new(ip("10.0.0.0"), len).is_ok(), "/{len}");
        }
        for len in [0, 8, 15, 31, 32, 33] {
            let e = VpnPlan::new(ip("10.0.0.0"), len).unwrap_err().to_string();
            assert!(
                e.contains("prefix length must be /16 to /30"),
                "/{len}: {e}"
            );
        }
        let e = "10.0.0.0/15".parse::<VpnPlan>().unwrap_err().to_string();
        assert!(e.contains("/16 to /30"), "{e}");
    }

    #[test]
    fn host_bits_set_is_an_error() {
        let e = "10.8.0.1/24".parse::<VpnPlan>().unwrap_err().to_string();
        assert_eq!(
            e,
            "VPN network 10.8.0.1/24: host bits are set; did you mean 10.8.0.0/24?"
        );
        assert!("10.8.1.0/16".parse::<VpnPlan>().is_err());
        assert!("10.8.0.4/29".parse::<VpnPlan>().is_err());
        assert!("10.8.0.8/29".parse::<VpnPlan>().is_ok());
    }

    #[test]
    fn malformed_strings() {
        for bad in [
            "",
            "10.8.0.0",
            "10.8.0.0/",
            "/24",
            "10.8.0/24",
            "10.8.0.0/24/1",
            "10.8.0.0/x",
            "10.8.0.0/+24",
            "10.8.0.0/-24",
            "10.8.0.256/24",
            "10.8.0.0/99999",
        ] {
            let e = bad.parse::<VpnPlan>().unwrap_err().to_string();
            assert!(e.contains("VPN network"), "{bad}: {e}");
        }
        assert_eq!(plan(" 10.8.0.0/24 "), VpnPlan::default());
    }

    #[test]
    fn router_id_of_is_the_inverse() {
        let p = VpnPlan::default();
        for id in 1..=p.max_router_id() {
            let a = p.router_address(id).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.router_id_of(a), Some(id));
            assert!(p.contains(a));
        }
        assert_eq!(p.router_id_of(ip("10.8.0.0")), None);
        assert_eq!(p.router_id_of(ip("10.8.0.1")), None);
        assert_eq!(p.router_id_of(ip("10.8.0.255")), None);
        assert_eq!(p.router_id_of(ip("10.8.1.2")), None);
        assert!(!p.contains(ip("10.8.1.0")));
    }

    #[test]
    fn serde_as_string() {
        let p = plan("10.9.0.0/20");
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(json, "\"10.9.0.0/20\"");
        let back: VpnPlan = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, p);
        assert!(serde_json::from_str::<VpnPlan>("\"10.9.0.1/20\"").is_err());
    }
}
