//! The generated FreeRADIUS 3.2 bindings, quarantined: the only place with
//! `allow` attributes for C naming and bindgen's output.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

include!(concat!(env!("OUT_DIR"), "/freeradius_bindings.rs"));
include!(concat!(env!("OUT_DIR"), "/freeradius_consts.rs"));

/// `TAG_ANY` (a macro: INT8_MIN): match a pair whatever its tag.
pub const TAG_ANY: i8 = i8::MIN;
