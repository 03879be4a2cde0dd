//! Owned request values -> a netily-core call -> a plain outcome.
//!
//! No pointers, no SQL and no rules here: the module turns the outcome into
//! pairs and a return code, netily-core decides and talks to PostgreSQL.

use crate::settings::Settings;
use crate::values::{AccessValues, AccountingValues};

/// One attribute to set, with replace semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub name: String,
    pub value: String,
}

impl Pair {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Pair {
        Pair {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// What a module call should do to the request, and which code to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Known subscriber allowed in: `control` feeds pap/chap/mschap, `reply` the NAS.
    Accept {
        control: Vec<Pair>,
        reply: Vec<Pair>,
    },
    /// Known subscriber refused; `reply` usually carries a Reply-Message.
    Reject { reply: Vec<Pair>, log: String },
    /// Not a Netily subscriber: let other modules decide.
    NotFound,
    /// Nothing to do for this request.
    Noop,
    /// Recorded (accounting, post-auth).
    Ok,
    /// The request is malformed (e.g. a User-Name that is not UTF-8).
    Invalid { log: String },
    /// Netily could not answer (database unavailable, ...).
    Fail { log: String },
}

/// The per-instance link to netily-core.
pub struct Core {
    pub settings: Settings,
}

impl Core {
    pub fn new(settings: Settings) -> Result<Core, String> {
        Ok(Core { settings })
    }
}

/// The access decision for one Access-Request.
pub fn authorize(core: &Core, request: &AccessValues) -> Outcome {
    let _ = core;
    let username = match &request.username {
        None => {
            return Outcome::Invalid {
                log: "Access-Request has no User-Name".into(),
            }
        }
        Some(Err(bad)) => {
            return Outcome::Invalid {
                log: format!("User-Name {bad}"),
            }
        }
        Some(Ok(name)) => name,
    };
    // Until netily-core's subscriber store lands, nobody is a Netily subscriber.
    log::debug!(
        "no subscriber store yet; {} left to other modules",
        username.escape_debug()
    );
    Outcome::NotFound
}

/// Records one Accounting-Request.
pub fn accounting(core: &Core, request: &AccountingValues) -> Outcome {
    let _ = (core, request);
    Outcome::Noop
}

/// Records the result of an authentication (post-auth, accept or reject).
pub fn post_auth(core: &Core, request: &AccessValues, accepted: bool) -> Outcome {
    let _ = (core, request, accepted);
    Outcome::Noop
}
