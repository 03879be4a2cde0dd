//! Owned request values -> a netily-core call -> a plain outcome.
//!
//! No pointers, no SQL and no rules here: netily-core's snapshot holds the
//! subscriber records and `decision::decide` rules on them; the module turns
//! the outcome into pairs and a return code.

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::SystemTime;

use netily_core::accounting::{self, AccountingPacket, Change};
use netily_core::clock::now;
use netily_core::db;
use netily_core::db::accounting::{AccountingStore, Recorded};
use netily_core::db::auth_log_writer::AuthLogWriter;
use netily_core::db::post_auth::PostAuthRecord;
use netily_core::decision::{self, AccessRequest, Decision, ReplyAttribute};
use netily_core::dictionary::Dictionary;
use netily_core::model::Policy;
use netily_core::snapshot::{Lookup, SubscriberSnapshot};

use crate::log::{RateLimited, WARN_EVERY};
use crate::request::Text;
use crate::settings::Settings;
use crate::values::{AccessValues, AccountingValues, PostAuthValues};

/// What a module call should do to the request, and which code to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Known subscriber allowed in: `password` (the control list's
    /// Cleartext-Password) feeds pap/chap/mschap, `reply` (the decision's,
    /// set as it is) the NAS; `why` is logged (as `accept: why`) only when
    /// debugging.
    Accept {
        /// Cleartext-Password, or Password-With-Header for a hash.
        password_attribute: &'static str,
        password: String,
        reply: Vec<ReplyAttribute>,
        why: String,
    },
    /// Done (an accounting packet recorded); `log` says what was done.
    Done { log: String },
    /// Known subscriber refused, with the Reply-Message for the NAS.
    Reject {
        reply_message: &'static str,
        log: String,
    },
    /// Not a Netily subscriber: let other modules decide.
    NotFound,
    /// Nothing to do for this request.
    Noop,
    /// The request is malformed (e.g. a User-Name that is not UTF-8).
    Invalid { log: String },
    /// Netily could not answer (database unavailable, ...); `log` is None
    /// when the line is left out (rate-limited: it fails alike for all).
    Fail { log: Option<String> },
}

/// The per-instance link to netily-core: config, policy and the in-memory
/// subscriber snapshot (kept fresh by LISTEN/NOTIFY), so authorize never waits
/// on PostgreSQL and keeps answering from the last known state while it is down;
/// the accounting store (bounded pool, prepared statements) and the
/// authentication log writer (background thread, joined on drop).
pub struct Core {
    policy: Policy,
    snapshot: SubscriberSnapshot,
    accounting: AccountingStore,
    auth_log: AuthLogWriter,
    warnings: Warnings,
}

/// The lines that every request could write alike (a database outage, a
/// NAS sending the same nonsense): each kind at most once per
/// [`WARN_EVERY`], with exact counts of the lines left out.
struct Warnings {
    not_loaded: RateLimited,
    accounting_failed: RateLimited,
    accounting_malformed: RateLimited,
    accounting_implausible: RateLimited,
}

impl Warnings {
    const fn new() -> Warnings {
        Warnings {
            not_loaded: RateLimited::new(WARN_EVERY),
            accounting_failed: RateLimited::new(WARN_EVERY),
            accounting_malformed: RateLimited::new(WARN_EVERY),
            accounting_implausible: RateLimited::new(WARN_EVERY),
        }
    }
}

impl Core {
    /// Starts the snapshot, waiting up to [`START_WAIT`] for its first load,
    /// and while the database is unreachable up to the settings' timeout.
    /// Neither is fatal: until the load completes, authorize looks up the
    /// subscribers not loaded yet in the database (bounded), and returns
    /// `fail` only when it cannot. Override rows are checked against
    /// `dictionary` (what this server's dictionary confirms).
    pub fn new(settings: &Settings, dictionary: Dictionary) -> Result<Core, String> {
        let timeout = settings.timeout;
        let snapshot = SubscriberSnapshot::start_with_dictionary(
            settings.database_url.clone(),
            timeout,
            dictionary,
        )
        .map_err(|e| format!("cannot start the subscriber snapshot thread: {e}"))?;
        let where_ = db::redact_url(&settings.database_url);
        let started = std::time::Instant::now();
        let mut loaded = snapshot.wait_loaded(START_WAIT.min(timeout));
        let loading = !loaded && snapshot.database_reachable();
        if !loaded && !loading {
            loaded = snapshot.wait_loaded(timeout.saturating_sub(started.elapsed()));
        }
        if loaded {
            log::info!(
                "loaded {} subscriber(s) from {where_}",
                snapshot.health().subscribers
            );
        } else if loading {
            log::info!(
                "loading subscribers from {where_} in the background ({} so far); \
                 the others are looked up in the database until it completes",
                snapshot.health().subscribers
            );
        } else {
            log::error!(
                "database unavailable: no subscriber data from {where_} after {}s; \
                 netily answers fail until it loads",
                timeout.as_secs()
            );
        }
        let accounting = AccountingStore::new(
            &settings.database_url,
            settings.pool_size,
            timeout,
            &settings.accounting_journal,
        )
        .map_err(|e| e.to_string())?;
        let auth_log = AuthLogWriter::start(
            settings.database_url.clone(),
            timeout,
            &settings.auth_log_journal,
        )
        .map_err(|e| format!("cannot start the authentication log: {e}"))?;
        Ok(Core {
            policy: settings.policy.clone(),
            snapshot,
            accounting,
            auth_log,
            warnings: Warnings::new(),
        })
    }

    /// The authentication log writer (for its counters).
    pub fn auth_log(&self) -> &AuthLogWriter {
        &self.auth_log
    }
}

/// What authorize decided, kept for post-auth of the same request.
///
/// Why a thread-local: FreeRADIUS 3 runs a request's authorize, authenticate
/// and post-auth back to back on one thread, so the last decision made on this
/// thread is this request's. post-auth takes it (so it is used once) and only
/// when the User-Name matches; anything else (a proxied request finishing on
/// another thread) falls back to the request's Module-Failure-Message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Accepted by netily (pap/chap/mschap may still refuse the password);
    /// `reply` is what the NAS is told, remembered as the login's grant.
    Accept {
        why: String,
        reply: Vec<ReplyAttribute>,
    },
    /// Refused by netily, with the operator-facing reason.
    Reject { reason: String },
    /// Not a Netily subscriber.
    NotFound,
    /// Netily could not decide.
    Fail { why: String },
}

thread_local! {
    /// The User-Name (its buffer reused from login to login) and its verdict.
    static DECIDED: RefCell<(String, Option<Verdict>)> = const { RefCell::new((String::new(), None)) };
}

fn remember(username: Option<&str>, verdict: Option<Verdict>) {
    // try_with: a thread being torn down has no slot; nothing to remember then.
    let _ = DECIDED.try_with(|d| {
        let (name, decided) = &mut *d.borrow_mut();
        name.clear();
        *decided = None;
        if let (Some(u), Some(v)) = (username, verdict) {
            name.push_str(u);
            *decided = Some(v);
        }
    });
}

fn recall(username: &str) -> Option<Verdict> {
    DECIDED
        .try_with(|d| {
            let (name, decided) = &mut *d.borrow_mut();
            decided.take().filter(|_| name == username)
        })
        .ok()
        .flatten()
}

/// The access decision for one Access-Request (remembered for post-auth).
pub fn authorize(core: &Core, request: &AccessValues) -> Outcome {
    let (outcome, verdict) = decide(core, request);
    remember(usable(&request.username), verdict);
    outcome
}

/// How long a start waits for the snapshot's first load: a big one goes on
/// in the background (radiusd serves meanwhile, see `Core::new`).
const START_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Why authorize fails before the first load.
const NOT_LOADED: &str = "database unavailable: subscriber data not loaded yet";

fn decide(core: &Core, request: &AccessValues) -> (Outcome, Option<Verdict>) {
    let username = match &request.username {
        None => {
            let log = "Access-Request has no User-Name".to_owned();
            return (Outcome::Invalid { log }, None);
        }
        Some(Err(bad)) => {
            let log = format!("User-Name {bad}");
            return (Outcome::Invalid { log }, None);
        }
        Some(Ok(name)) => *name,
    };
    // A malformed Calling-Station-Id is treated as absent (MAC binding then refuses).
    let calling_station_id = usable(&request.calling_station_id);

    let record = match core.snapshot.lookup_or_fetch(username) {
        Lookup::NotLoaded => {
            let log = core.warnings.not_loaded.line(|| NOT_LOADED.to_owned());
            let verdict = Verdict::Fail {
                why: NOT_LOADED.to_owned(),
            };
            return (Outcome::Fail { log }, Some(verdict));
        }
        Lookup::Unknown => None,
        Lookup::Found(record) => Some(record),
    };
    report_suppressed(&core.warnings.not_loaded, NOT_LOADED);
    let access = AccessRequest {
        username,
        calling_station_id,
        nas_ip: request.nas_ip.map(IpAddr::V4),
    };
    match decision::decide(record.as_deref(), &access, now(), &core.policy) {
        Decision::Accept {
            password_attribute,
            password,
            reply,
            walled_garden,
            why,
        } => {
            let why = explain(walled_garden, why);
            let verdict = Verdict::Accept {
                why: why.clone(),
                reply: reply.clone(),
            };
            let outcome = Outcome::Accept {
                password_attribute,
                password,
                reply,
                why,
            };
            (outcome, Some(verdict))
        }
        Decision::Reject { reason } if reason.is_unknown_user() => {
            (Outcome::NotFound, Some(Verdict::NotFound))
        }
        Decision::Reject { reason } => {
            let outcome = Outcome::Reject {
                reply_message: reason.reply_message(),
                log: format!("reject ({}): {reason}", reason.code()),
            };
            let verdict = Verdict::Reject {
                reason: reason.to_string(),
            };
            (outcome, Some(verdict))
        }
    }
}

/// The decision's lines as one text; the usual single line is moved, not copied.
fn explain(walled_garden: bool, mut why: Vec<String>) -> String {
    let garden = if walled_garden { "walled garden: " } else { "" };
    match (garden, why.len()) {
        ("", 1) => why.pop().unwrap_or_default(),
        _ => format!("{garden}{}", why.join("; ")),
    }
}

/// Usable text, or None for an absent or malformed attribute.
pub(crate) fn usable<'r>(t: &Text<'r>) -> Option<&'r str> {
    t.as_ref().and_then(|r| r.as_ref().ok()).copied()
}

/// Usable text as an owned string.
fn text(t: &Text<'_>) -> Option<String> {
    usable(t).map(str::to_owned)
}

/// The plain packet netily-core's accounting rules read.
fn accounting_packet(v: &AccountingValues) -> AccountingPacket {
    AccountingPacket {
        status_type: v.status_type,
        unique_session_id: text(&v.unique_session_id),
        session_id: text(&v.session_id),
        username: text(&v.username),
        nas_ip: v.nas_ip.map(IpAddr::V4),
        nas_port_id: text(&v.nas_port_id),
        nas_port: v.nas_port,
        nas_port_type: v.nas_port_type,
        called_station_id: text(&v.called_station_id),
        calling_station_id: text(&v.calling_station_id),
        framed_ip: v.framed_ip.map(IpAddr::V4),
        session_time: v.session_time,
        input_octets: v.input_octets,
        input_gigawords: v.input_gigawords,
        output_octets: v.output_octets,
        output_gigawords: v.output_gigawords,
        terminate_cause: v.terminate_cause,
        event_timestamp: v.event_timestamp,
        delay_time: v.delay_time,
        acct_authentic: v.acct_authentic,
        service_type: v.service_type,
        framed_protocol: v.framed_protocol,
        connect_info: text(&v.connect_info),
        class: text(&v.class),
    }
}

/// Records one Accounting-Request in radacct. OK (an `Accept` with nothing
/// to set) only once PostgreSQL has committed it; FAIL (database unavailable,
/// answered within the configured bound) withholds the Accounting-Response,
/// so the NAS retries. A packet that can never be recorded is NOOP.
pub fn accounting(core: &Core, request: &AccountingValues) -> Outcome {
    #[cfg(feature = "test-hooks")]
    if text(&request.username).as_deref() == Some(crate::test_hooks::ACCEPT_USER) {
        // The fixed test subscriber has no database behind it.
        return Outcome::Noop;
    }
    let warnings = &core.warnings;
    let reading = match accounting::read(&accounting_packet(request), now()) {
        Ok(r) => r,
        Err(bad) => {
            // NOOP, not INVALID: invalid would withhold the response and the
            // NAS would resend a packet that can never be stored (`detail`
            // has a copy).
            if let Some(line) = warnings
                .accounting_malformed
                .line(|| format!("Accounting-Request not recorded in radacct: {bad}"))
            {
                log::warn!("{line}");
            }
            return Outcome::Noop;
        }
    };
    let change = reading.change;
    if !reading.anomalies.is_empty() {
        // Recorded without them, and answered: one packet never blocks a
        // session (netily_core::accounting says what is implausible).
        if let Some(line) = warnings
            .accounting_implausible
            .line(|| implausible_log(&change, &reading.anomalies))
        {
            log::warn!("{line}");
        }
    }
    match core.accounting.record(&change) {
        Ok(Recorded::Ignored) => Outcome::Noop,
        Ok(recorded) => {
            // The database is back: the last lines left out are counted.
            // The journal has room again; what was left out is counted in a
            // closing line at most once a period (it may fill again).
            let n = warnings.accounting_failed.take_suppressed_when_due();
            if n > 0 {
                log::warn!("{FAILED}: {n} more like this suppressed");
            }
            Outcome::Done {
                log: recorded_log(&change, recorded),
            }
        }
        Err(e) => Outcome::Fail {
            log: warnings.accounting_failed.line(|| format!("{FAILED}: {e}")),
        },
    }
}

/// Once the cause is gone, how many lines of a kind were left out since
/// its last one (nothing when none were).
fn report_suppressed(limit: &RateLimited, what: &str) {
    let n = limit.take_suppressed();
    if n > 0 {
        log::warn!("{what}: {n} more like this suppressed");
    }
}

/// How a failed accounting packet's line begins.
const FAILED: &str = "accounting not recorded";

/// Which packet carried what implausible values, and what was done.
fn implausible_log(change: &Change, anomalies: &[accounting::Anomaly]) -> String {
    let what = anomalies
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    match change {
        Change::Session(s) => format!(
            "{} for session {} from NAS {}: {what}",
            s.event.as_str(),
            s.unique_id,
            s.nas_ip
        ),
        Change::NasRestart(r) => format!("Accounting-On/Off from NAS {}: {what}", r.nas_ip),
        Change::Ignore { status_type } => format!("Acct-Status-Type {status_type}: {what}"),
    }
}

fn recorded_log(change: &Change, recorded: Recorded) -> String {
    match (change, recorded) {
        (Change::Session(s), Recorded::AlreadyClosed) => format!(
            "{} for session {} ignored: the session is already closed",
            s.event.as_str(),
            s.unique_id
        ),
        (Change::Session(s), Recorded::Reopened) => format!(
            "{} reopened session {}: it had been closed as stale",
            s.event.as_str(),
            s.unique_id
        ),
        (Change::Session(s), _) => {
            format!("{} recorded for session {}", s.event.as_str(), s.unique_id)
        }
        (Change::NasRestart(r), Recorded::NasSessionsClosed(n)) => format!(
            "Accounting-{}: closed {n} open session(s) of NAS {}",
            if r.on { "On" } else { "Off" },
            r.nas_ip
        ),
        _ => "recorded".to_owned(),
    }
}

/// The reason column of the authentication log: netily's own decision when
/// it made this one, else the refusing module's message.
fn post_auth_reason(
    accepted: bool,
    decided: Option<Verdict>,
    module_failure: Option<&str>,
) -> Option<String> {
    let failure = || module_failure.map(str::to_owned);
    match (accepted, decided) {
        (true, Some(Verdict::Accept { why, .. })) => Some(why).filter(|w| !w.is_empty()),
        (true, _) => None,
        (false, Some(Verdict::Reject { reason })) => Some(reason),
        (false, Some(Verdict::NotFound)) => Some("Unknown user".to_owned()),
        (false, Some(Verdict::Fail { why })) => Some(why),
        // netily accepted but pap/chap/mschap refused the password (or netily
        // did not run): the module's own message says why.
        (false, Some(Verdict::Accept { .. }) | None) => failure(),
    }
}

/// Records the result of an authentication (post-auth, accept or reject) in
/// the authentication log, without waiting: the record is appended to the
/// writer's batch. Always NOOP: the log must never change the answer.
pub fn post_auth(core: &Core, request: &PostAuthValues<'_>, accepted: bool) -> Outcome {
    let (username, name_problem) = match &request.access.username {
        Some(Ok(name)) => (*name, None),
        Some(Err(bad)) => ("", Some(format!("User-Name {bad}"))),
        None => ("", Some("no User-Name".to_owned())),
    };
    let mut decided = recall(username);
    // What netily told the NAS, for the enforcer (`login_grants`).
    let granted = match &mut decided {
        Some(Verdict::Accept { reply, .. }) if accepted => Some(std::mem::take(reply)),
        _ => None,
    };
    let reason =
        post_auth_reason(accepted, decided, usable(&request.module_failure)).or(name_problem);
    core.auth_log.push(&PostAuthRecord {
        username,
        accepted,
        called_station_id: usable(&request.called_station_id),
        calling_station_id: usable(&request.access.calling_station_id),
        nas_ip: request.access.nas_ip.map(IpAddr::V4),
        authdate: SystemTime::now(),
        reason: reason.as_deref(),
        granted: granted.as_deref(),
    });
    Outcome::Noop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_reason_prefers_netilys_decision() {
        let reject = Verdict::Reject {
            reason: "Account disabled by the operator".into(),
        };
        assert_eq!(
            post_auth_reason(false, Some(reject), Some("pap: whatever")).as_deref(),
            Some("Account disabled by the operator")
        );
        assert_eq!(
            post_auth_reason(false, Some(Verdict::NotFound), None).as_deref(),
            Some("Unknown user")
        );
    }

    #[test]
    fn a_wrong_password_takes_the_modules_message() {
        let accept = Verdict::Accept {
            why: "plan home rate 5M/10M".into(),
            reply: vec![],
        };
        assert_eq!(
            post_auth_reason(false, Some(accept), Some("pap: Password incorrect")).as_deref(),
            Some("pap: Password incorrect")
        );
        assert_eq!(post_auth_reason(false, None, None), None);
    }

    #[test]
    fn an_accept_records_why() {
        let accept = Verdict::Accept {
            why: "walled garden: invoice overdue".into(),
            reply: vec![],
        };
        assert_eq!(
            post_auth_reason(true, Some(accept), None).as_deref(),
            Some("walled garden: invoice overdue")
        );
        assert_eq!(post_auth_reason(true, None, Some("x")), None);
    }

    #[test]
    fn an_implausible_packet_is_logged_with_its_session_nas_and_what_was_done(
    ) -> Result<(), accounting::Malformed> {
        let packet = AccountingPacket {
            status_type: Some(accounting::STATUS_STOP),
            unique_session_id: Some("u-1".into()),
            session_id: Some("s-1".into()),
            nas_ip: Some(IpAddr::from([10, 0, 0, 1])),
            output_octets: Some(u32::MAX),
            output_gigawords: Some(u32::MAX),
            event_timestamp: Some(u32::MAX),
            ..AccountingPacket::default()
        };
        let now = 1_800_000_000;
        let reading = accounting::read(&packet, now)?;
        assert_eq!(
            implausible_log(&reading.change, &reading.anomalies),
            "stop for session u-1 from NAS 10.0.0.1: implausible event time 4294967295 \
             (Event-Timestamp or Acct-Delay-Time; before 2000 or more than 300 s ahead): \
             the arrival time is used; implausible Acct-Output-Octets/-Gigawords total \
             18446744073709551615 (over 2^50 bytes in one session): ignored, the stored \
             total is kept"
        );
        Ok(())
    }

    #[test]
    fn the_remembered_decision_is_used_once_and_only_for_its_user() {
        remember(Some("alice"), Some(Verdict::NotFound));
        assert_eq!(recall("bob"), None, "another user's decision is not used");
        assert_eq!(recall("alice"), None, "recall consumes the slot");
        remember(Some("alice"), Some(Verdict::NotFound));
        assert_eq!(recall("alice"), Some(Verdict::NotFound));
        assert_eq!(recall("alice"), None);
        // A request without a decision clears the last one.
        remember(Some("alice"), Some(Verdict::NotFound));
        remember(Some("alice"), None);
        assert_eq!(recall("alice"), None);
    }
}
