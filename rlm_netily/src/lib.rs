//! rlm_netily: translation between FreeRADIUS and netily-core, nothing more.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod sys;
