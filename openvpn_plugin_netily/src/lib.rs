//! openvpn_plugin_netily: OpenVPN's view of Netily's routers.
//!
//! OpenVPN calls us on its single main thread, so nothing on that path waits
//! for the database: the routers allowed to connect live in memory
//! ([`routers`]), refreshed by a background thread; connection records go to a
//! queue ([`recorder`]) that another thread writes; a third reads OpenVPN's
//! status file for heartbeats ([`status`]). Data flows one way: C pointers ->
//! owned values ([`env`]) -> a decision ([`events`]) -> a return code or list.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests may unwrap: a failing test should stop loudly.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod args;
mod background;
mod env;
mod events;
mod log;
mod plugin;
mod recorder;
mod routers;
mod state;
pub mod status;
mod sys;
mod timing;
