//! The generated OpenVPN plugin API bindings, quarantined: the lint
//! allowances for generated code live here and nowhere else.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

include!(concat!(env!("OUT_DIR"), "/openvpn_plugin.rs"));
