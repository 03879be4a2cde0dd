//! Test-only usernames (cargo feature `test-hooks`, never in a release build):
//! they let the end-to-end tests prove the FFI plumbing and the panic guard
//! against a real radiusd without a database.

use netily_core::decision::ReplyAttribute;

use crate::glue::{usable, Outcome};
use crate::values::AccessValues;

/// Panics inside authorize: the guard must turn it into `fail`.
pub const PANIC_USER: &str = "netily-test-panic";
/// Accepted with a fixed password and reply.
pub const ACCEPT_USER: &str = "netily-test-accept";
pub const ACCEPT_PASSWORD: &str = "netily-test-password";

#[allow(
    clippy::panic,
    reason = "test hook: proves the panic guard at the FFI boundary"
)]
pub fn authorize(request: &AccessValues<'_>) -> Option<Outcome> {
    match usable(&request.username)? {
        PANIC_USER => panic!("test hook: panic requested by User-Name {PANIC_USER}"),
        ACCEPT_USER => Some(Outcome::Accept {
            password_attribute: "Cleartext-Password",
            password: ACCEPT_PASSWORD.into(),
            reply: vec![
                ReplyAttribute::new("Mikrotik-Rate-Limit", "1M/2M"),
                ReplyAttribute::new("Session-Timeout", "3600"),
                // Two of a name: the second is added, not a replacement.
                ReplyAttribute::new("Mikrotik-Address-List", "netily-a"),
                ReplyAttribute::new("Mikrotik-Address-List", "netily-b"),
            ],
            why: "test hook: fixed accept".into(),
        }),
        _ => None,
    }
}
