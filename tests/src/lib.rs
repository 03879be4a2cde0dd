//! Test harness: guards that start and always stop the real servers.
//!
//! Each guard owns one real server process and stops it when dropped, so a
//! failing test never leaves a server behind.

pub mod postgres;
