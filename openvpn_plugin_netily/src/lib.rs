//! openvpn_plugin_netily: OpenVPN's view of Netily's routers.
//!
//! OpenVPN calls us on its single main thread, so nothing on that path waits
//! for the database: the routers allowed to connect live in memory
//! ([`routers`]), refreshed by a background thread; connection records go to a
//! queue ([`recorder`]) that another thread writes; a third reads OpenVPN's
//! status file for heartbeats ([`status`]). Data flows one way: C pointers ->
//! owned values ([`env`]) -> a decision ([`events`]) -> a return code or list.
//!
//! A router that is connected when its certificate is revoked, or when it is
//! removed or disabled, is cut off at once ([`cutoff`]): OpenVPN 2.6's plugin
//! API can only refuse a client at a handshake (TLS_VERIFY, which runs again
//! at each `reneg-sec` renegotiation), and has no call that ends a client
//! instance, so a background thread sends `kill IP:PORT` to OpenVPN's own
//! management interface ([`management`]) on the unix socket named by the
//! `management=` plugin argument (the server config's `management PATH unix`
//! line). Without that argument the plugin says so at open and per router,
//! and the tunnel ends at its next renegotiation or reconnect, both refused.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests may unwrap: a failing test should stop loudly.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod args;
mod background;
mod cutoff;
mod env;
mod events;
mod log;
mod management;
mod plugin;
mod recorder;
mod routers;
mod state;
pub mod status;
mod sys;
mod timing;

/// The parsers of what OpenVPN hands the plugin, for the fuzz targets
/// (`fuzz/`): reachable without the plugin API around them.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::env::{Env, NAMES};

    /// The management `kill` line the cutoff would send for a session from
    /// `real_address` with certificate name `common_name`, if any.
    pub fn kill_command(real_address: &str, common_name: &str) -> Option<String> {
        crate::management::Target::of(real_address, common_name).map(|t| t.command())
    }
}
