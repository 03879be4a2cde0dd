//! Test harness: guards that start and always stop the real servers.
//!
//! Each guard owns one real server process and stops it when dropped, so a
//! failing test never leaves a server behind.
//!
//! - [`postgres`]: a private PostgreSQL 15 cluster ([`postgres::PgCluster`])
//!   and fresh databases in it ([`postgres::TestDb`]).
//! - [`freeradius`]: a private FreeRADIUS running rlm_netily, and radclient.
//! - [`coa_nas`]: a FreeRADIUS standing in for a router that receives CoA
//!   and Disconnect requests ([`coa_nas::CoaNas`]) and records each one.
//! - [`netadmin`]: the real operator CLI, built once per test process.
//! - [`enforcer`]: `netadmin enforce --follow`, the enforcer service.
//! - [`isp`]: one ISP's database and config file, driven with netadmin and
//!   served by radiusd ([`isp::Isp`]).
//! - [`openvpn`]: network namespaces, openvpn processes and a VPN lab
//!   ([`openvpn::Lab`]) whose clients are RouterOS-like ([`routeros`]).
//! - [`cdylib`]: builds a plugin crate for tests.

pub mod browser;
pub mod cdylib;
pub mod coa_nas;
pub mod enforcer;
pub mod freeradius;
pub mod isp;
pub mod nas_load;
pub mod netadmin;
pub mod openvpn;
pub mod postgres;
pub mod routeros;
pub mod web;
pub mod web_fixtures;
