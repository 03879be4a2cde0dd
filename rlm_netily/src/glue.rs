//! Owned request values -> a netily-core call -> a plain outcome.
//!
//! No pointers, no SQL and no rules here: netily-core's snapshot holds the
//! subscriber records and `decision::decide` rules on them; the module turns
//! the outcome into pairs and a return code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netily_core::config::Config;
use netily_core::db;
use netily_core::decision::{self, AccessRequest, Decision};
use netily_core::model::{Policy, UnixTime};
use netily_core::snapshot::{Lookup, SubscriberSnapshot};

use crate::settings::Settings;
use crate::values::{AccessValues, AccountingValues};

/// One attribute to set. The first of a name replaces what the list holds;
/// a later one of the same name in the same outcome is added after it.
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
        log: String,
    },
    /// Known subscriber refused; `reply` carries the Reply-Message.
    Reject { reply: Vec<Pair>, log: String },
    /// Not a Netily subscriber: let other modules decide.
    NotFound,
    /// Nothing to do for this request.
    Noop,
    /// The request is malformed (e.g. a User-Name that is not UTF-8).
    Invalid { log: String },
    /// Netily could not answer (database unavailable, ...).
    Fail { log: String },
}

/// The per-instance link to netily-core: config, policy and the in-memory
/// subscriber snapshot (kept fresh by LISTEN/NOTIFY), so authorize never waits
/// on PostgreSQL and keeps answering from the last known state while it is down.
pub struct Core {
    policy: Policy,
    snapshot: SubscriberSnapshot,
}

impl Core {
    /// Reads the config file (errors are fatal: radiusd refuses to start with a
    /// broken config) and starts the snapshot, waiting up to db_timeout for its
    /// first load. An unreachable database is not fatal: authorize returns
    /// `fail` until the first load completes.
    pub fn new(settings: Settings) -> Result<Core, String> {
        let mut config =
            Config::resolve(Some(&settings.config_file), None).map_err(|e| e.to_string())?;
        if settings.pool_size > 0 {
            config.pool_size = settings.pool_size;
        }
        if !settings.db_timeout.is_zero() {
            config.connect_timeout =
                u32::try_from(settings.db_timeout.as_secs()).unwrap_or(u32::MAX);
        }
        let timeout = Duration::from_secs(u64::from(config.connect_timeout.max(1)));
        let snapshot = SubscriberSnapshot::start(config.database_url.clone(), timeout)
            .map_err(|e| format!("cannot start the subscriber snapshot thread: {e}"))?;
        let where_ = db::redact_url(&config.database_url);
        if snapshot.wait_loaded(timeout) {
            log::info!(
                "loaded {} subscriber(s) from {where_}",
                snapshot.health().subscribers
            );
        } else {
            log::error!(
                "database unavailable: no subscriber data from {where_} after {}s; \
                 netily answers fail until it loads",
                timeout.as_secs()
            );
        }
        Ok(Core {
            policy: config.policy(),
            snapshot,
        })
    }
}

fn now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The access decision for one Access-Request.
pub fn authorize(core: &Core, request: &AccessValues) -> Outcome {
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
        Some(Ok(name)) => name.as_str(),
    };
    // A malformed Calling-Station-Id is treated as absent (MAC binding then refuses).
    let calling_station_id = request
        .calling_station_id
        .as_ref()
        .and_then(|t| t.as_deref().ok());

    let record = match core.snapshot.lookup(username) {
        Lookup::NotLoaded => {
            return Outcome::Fail {
                log: "database unavailable: subscriber data not loaded yet".into(),
            }
        }
        Lookup::Unknown => None,
        Lookup::Found(record) => Some(record),
    };
    let access = AccessRequest {
        username,
        calling_station_id,
    };
    match decision::decide(record.as_deref(), &access, now(), &core.policy) {
        Decision::Accept {
            password,
            reply,
            walled_garden,
            why,
        } => Outcome::Accept {
            control: vec![Pair::new("Cleartext-Password", password)],
            reply: reply
                .into_iter()
                .map(|a| Pair::new(a.name, a.value))
                .collect(),
            log: format!(
                "accept{}: {}",
                if walled_garden {
                    " (walled garden)"
                } else {
                    ""
                },
                why.join("; ")
            ),
        },
        Decision::Reject { reason } if reason.is_unknown_user() => Outcome::NotFound,
        Decision::Reject { reason } => Outcome::Reject {
            reply: vec![Pair::new("Reply-Message", reason.reply_message())],
            log: format!("reject ({}): {reason}", reason.code()),
        },
    }
}

/// Records one Accounting-Request. Not yet stored: NOOP means radiusd does
/// not acknowledge it, so the NAS keeps it and retries.
pub fn accounting(core: &Core, request: &AccountingValues) -> Outcome {
    let _ = (core, request);
    Outcome::Noop
}

/// Records the result of an authentication (post-auth, accept or reject).
pub fn post_auth(core: &Core, request: &AccessValues, accepted: bool) -> Outcome {
    let _ = (core, request, accepted);
    Outcome::Noop
}
