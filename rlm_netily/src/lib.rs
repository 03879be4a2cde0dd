//! rlm_netily: translation between FreeRADIUS 3.2 and netily-core, nothing more.
//!
//! Data flows one way: REQUEST pointers -> owned values (`request`, `values`)
//! -> a netily-core call (`glue`) -> a plain outcome -> reply/control pairs and
//! a return code (`module`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod clients;
pub mod dictionary;
pub mod glue;
pub mod log;
pub mod module;
pub mod request;
pub mod settings;
pub mod sys;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod values;
