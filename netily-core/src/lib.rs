//! Netily's core: everything that is true about an ISP, with no FFI.
//!
//! The rules (`rate`, `billing`, `decision`, `vpn_plan`) are pure functions of
//! their inputs. `db` is the only module that speaks SQL. The FreeRADIUS
//! module, the OpenVPN plugin and netadmin all call into this crate, so a rule
//! is written once and behaves identically everywhere.

// As in the plugins: a panic in core code would reach a radiusd or OpenVPN
// thread (caught at the FFI guard, but the request or event fails).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accounting;
pub mod acct_unique;
pub mod audit;
pub mod billing;
pub mod checks;
pub mod clock;
pub mod coa;
pub mod config;
pub mod cycle;
pub mod db;
pub mod decision;
pub mod dictionary;
pub mod enforcement;
pub mod enforcer;
pub mod import;
pub mod input;
pub mod journal;
pub mod live;
pub mod log_limit;
pub mod model;
pub mod operators;
pub mod pki;
pub mod radius;
pub mod rate;
pub mod retention;
pub mod snapshot;
pub mod stale_session;
pub mod stderr_log;
pub mod usage;
pub mod vpn_plan;
