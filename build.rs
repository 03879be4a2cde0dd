//! FFI bindings for both plugin crates, in one place.
//!
//! Each plugin crate points here with `build = "../build.rs"`; the package name
//! picks which host's headers to bind.

#[path = "build/freeradius.rs"]
mod freeradius;
#[path = "build/openvpn.rs"]
mod openvpn;

fn main() {
    match std::env::var("CARGO_PKG_NAME").as_deref() {
        Ok("rlm_netily") => freeradius::generate(),
        Ok("openvpn_plugin_netily") => openvpn::generate(),
        other => panic!("build.rs: unexpected package {other:?}"),
    }
}
