//! The enforcer: keeps what routers enforce on online sessions equal to
//! what netily-core decides for those subscribers now (issue 11).
//!
//! For each online session it remembers the grant (what the router was
//! told: the login's reply, then every acknowledged CoA folded in) and,
//! when a subscriber's record changes or one of its deadlines passes,
//! compares the grant with the decision now (`enforcement::reconcile`):
//! a CoA-Request for a new rate or session end, a Disconnect-Request for a
//! reject or an attribute a live session cannot change.
//!
//! - Grants live in memory and in `session_grants`, saved with the outcome
//!   of every request, so the enforcer that takes over after another one
//!   died starts from what was acknowledged, and sends nothing twice for
//!   one change (unless the old one died between the ACK and its save).
//! - A session first seen by the enforcer takes its login's grant: the
//!   reply rlm_netily's Access-Accept gave that subscriber on that NAS and
//!   station (`login_grants`, written with the authentication log), so a
//!   change between the Accept and the Start, or while no enforcer ran, is
//!   still a change. Without one it is granted the decision of that moment;
//!   for a session younger than [`LOGIN_GRANT_WAIT`] (the log is written a
//!   moment after the Accept) that grant is provisional, replaced by the
//!   login's if it comes in time and no request was acknowledged since. A
//!   session first seen with a reject is disconnected.
//! - Deadlines: one per online subscriber (`enforcement::next_deadline`),
//!   in a heap; a tick pops what is due. Nothing scans every subscriber.
//! - After a Disconnect-ACK nothing more is sent for the session (its Stop
//!   is on the way; the stale-session closer ends it if it never comes),
//!   unless its router goes on reporting it: then the ACK was not true
//!   ("Disconnect ACKed but the user stays online") and the session is
//!   reviewed again, so disconnected again while the decision refuses it,
//!   [`MAX_DISCONNECTS`] times at most; then the log names it.
//!   A NAK with Error-Cause 503 closes the session record. After no
//!   answer, another NAK or a failure to send, that same request waits
//!   `retry_after` (so one per `retry_after` at most, whatever the router
//!   does); a different one (a suspension after a failed rate change) goes
//!   at once.
//! - A session with a request in flight is not reviewed; its subscriber is
//!   reviewed again when the answer comes if a change arrived meanwhile.
//! - A database error in `execute` is returned after the packets were sent:
//!   the caller (the service) drops its leadership and starts over from the
//!   database, like the enforcer that would take over.

pub mod kick;
pub mod sender;
pub mod service;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;

use postgres::GenericClient;

use crate::coa::{Answer, Kind};
use crate::db;
use crate::db::enforcement::{NewCoaLog, StoredGrant};
use crate::decision::{Decision, ReplyAttribute, SESSION_TIMEOUT};
use crate::enforcement::{self, Action, Grant};
use crate::model::{Policy, SubscriberRecord, UnixTime};
use crate::vpn_plan::VpnPlan;
use sender::{Delivery, Done, Job, Request};
pub use sender::{Dispatcher, SendOptions};

/// Seconds a session may wait for its login's grant (written with the
/// authentication log, a moment after the Accept) before it is granted
/// the decision of the moment.
pub const LOGIN_GRANT_WAIT: UnixTime = 3;

/// Disconnect-Requests a router may acknowledge and ignore (it goes on
/// reporting the session) before the enforcer stops sending them.
pub const MAX_DISCONNECTS: u32 = 3;

/// Sessions per login-grant query (each within the statement timeout).
const LOGIN_GRANTS_PER_QUERY: usize = 5_000;

/// Who sent a request, for the outcome log.
pub const ORIGIN_ENFORCER: &str = "enforcer";
pub const ORIGIN_NETADMIN: &str = "netadmin";

/// One request the enforcer means to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub username: String,
    pub acct_unique_id: String,
    pub kind: Kind,
    /// CoA-Request: the attributes and their new values.
    pub attributes: Vec<ReplyAttribute>,
    pub why: String,
}

/// What the enforcer needs besides the database.
#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: Policy,
    pub plan: VpnPlan,
    /// `send.source` is the configured `coa_source_address` (every request
    /// leaves from it when set).
    pub send: SendOptions,
    /// Without one: the address requests through the management VPN leave
    /// from (the tunnel address routers name, when this host has it);
    /// others leave from the system's choice.
    pub vpn_source: Option<std::net::IpAddr>,
    /// Seconds before a request that failed is tried again.
    pub retry_after: i64,
}

/// The enforcer's memory: grants and deadlines.
pub struct Enforcer {
    settings: Settings,
    grants: HashMap<String, StoredGrant>,
    /// Grants to save with the next batch.
    unsaved: HashSet<String>,
    deadlines: BinaryHeap<Reverse<(UnixTime, String)>>,
    /// The earliest deadline queued per username (later heap entries for
    /// the same name are dropped when popped).
    scheduled: HashMap<String, UnixTime>,
    /// Requests sent and not yet answered, by job key.
    in_flight: HashMap<u64, (Planned, NewCoaLog)>,
    /// Sessions with a request in flight: reviews leave them alone.
    busy: HashSet<String>,
    /// Subscribers a review passed over because a session was busy: they
    /// are reviewed again when it completes.
    deferred: HashSet<String>,
    /// Sessions whose last request failed: that same request not before
    /// this time again (a different one goes at once).
    held: HashMap<String, Held>,
    /// Sessions whose router went on reporting them after acknowledging a
    /// Disconnect-Request, and how often.
    ignored_disconnects: HashMap<String, u32>,
    /// Young sessions granted the decision of the moment, with when they
    /// started: their login's grant replaces it if it comes within
    /// [`LOGIN_GRANT_WAIT`] and before any request for them is acknowledged.
    provisional: HashMap<String, UnixTime>,
    next_key: u64,
}

/// A failed request, remembered to be sent again only after `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    until: UnixTime,
    request: RequestKey,
}

/// What makes two requests the same one: the kind and the attributes with
/// their values, but Session-Timeout by name only (it counts down).
type RequestKey = (Kind, Vec<(String, Option<String>)>);

fn request_key(p: &Planned) -> RequestKey {
    let attributes = p
        .attributes
        .iter()
        .map(|a| {
            let counts_down = a.name.eq_ignore_ascii_case(SESSION_TIMEOUT);
            (
                a.name.to_ascii_lowercase(),
                (!counts_down).then(|| a.value.clone()),
            )
        })
        .collect();
    (p.kind, attributes)
}

/// "Name=value, ..." for the outcome log.
pub fn attributes_text(attributes: &[ReplyAttribute]) -> String {
    attributes
        .iter()
        .map(|a| format!("{}={}", a.name, a.value))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Enforcer {
    pub fn new(settings: Settings) -> Enforcer {
        Enforcer {
            settings,
            grants: HashMap::new(),
            unsaved: HashSet::new(),
            deadlines: BinaryHeap::new(),
            scheduled: HashMap::new(),
            in_flight: HashMap::new(),
            busy: HashSet::new(),
            deferred: HashSet::new(),
            held: HashMap::new(),
            provisional: HashMap::new(),
            ignored_disconnects: HashMap::new(),
            next_key: 0,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces what it remembers with the grants stored for open sessions.
    pub fn load_grants(&mut self, conn: &mut impl GenericClient) -> db::Result<()> {
        let stored = db::enforcement::load_grants(conn)?;
        self.grants = stored
            .into_iter()
            .map(|g| (g.acct_unique_id.clone(), g))
            .collect();
        self.unsaved.clear();
        self.deadlines.clear();
        self.scheduled.clear();
        Ok(())
    }

    /// Takes the login grants (the Access-Accept's reply, migration 0023)
    /// of the open sessions of `records` it holds no grant for, so what it
    /// compares with is what the router was told, not the decision of the
    /// moment it first sees the session. One query, only when there are
    /// such sessions.
    pub fn adopt_login_grants<'r>(
        &mut self,
        conn: &mut impl GenericClient,
        records: impl IntoIterator<Item = &'r SubscriberRecord>,
        now: UnixTime,
    ) -> db::Result<()> {
        let mut young = Vec::new();
        let mut ids = Vec::new();
        for r in records {
            for s in &r.open_sessions {
                let id = &s.acct_unique_id;
                let is_young = now.saturating_sub(s.started_at) < LOGIN_GRANT_WAIT;
                if !is_young {
                    self.provisional.remove(id);
                }
                if !self.grants.contains_key(id) || self.provisional.contains_key(id) {
                    ids.push(id.clone());
                    if is_young {
                        young.push((id.clone(), s.started_at, r.subscriber.username.clone()));
                    }
                }
            }
        }
        for chunk in ids.chunks(LOGIN_GRANTS_PER_QUERY) {
            for g in db::enforcement::login_grants(conn, chunk)? {
                if self.busy.contains(&g.acct_unique_id) {
                    continue;
                }
                self.provisional.remove(&g.acct_unique_id);
                self.unsaved.insert(g.acct_unique_id.clone());
                self.grants.insert(g.acct_unique_id.clone(), g);
            }
        }
        // The authentication log is written a moment after the Accept; the
        // Start may be seen first. Such a session is granted the decision
        // of the moment for now (so a change meanwhile is still one), and
        // looked at again when its wait is over.
        for (id, started, username) in young {
            if !self.grants.contains_key(&id) || self.provisional.contains_key(&id) {
                self.provisional.insert(id, started);
                self.schedule(&username, started.saturating_add(LOGIN_GRANT_WAIT));
            }
        }
        Ok(())
    }

    /// How many sessions it holds a grant for.
    pub fn grants(&self) -> usize {
        self.grants.len()
    }

    /// Queues `username` to be reviewed at `at`.
    pub fn schedule(&mut self, username: &str, at: UnixTime) {
        match self.scheduled.get(username) {
            Some(&queued) if queued <= at => {}
            _ => {
                self.scheduled.insert(username.to_owned(), at);
                self.deadlines.push(Reverse((at, username.to_owned())));
            }
        }
    }

    /// The earliest queued deadline.
    pub fn next_deadline(&self) -> Option<UnixTime> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// The usernames whose deadline is at or before `now`, each once.
    pub fn due(&mut self, now: UnixTime) -> Vec<String> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, name))) = self.deadlines.pop() else {
                break;
            };
            if self.scheduled.get(&name) == Some(&at) {
                self.scheduled.remove(&name);
                due.push(name);
            }
        }
        due
    }

    /// What must be sent for the online sessions of `record` now; grants
    /// of sessions seen for the first time are taken from this decision,
    /// and the subscriber's next deadline is queued.
    pub fn review(&mut self, record: &SubscriberRecord, now: UnixTime) -> Vec<Planned> {
        let policy = &self.settings.policy;
        let username = &record.subscriber.username;
        let mut planned = Vec::new();
        for session in &record.open_sessions {
            let id = &session.acct_unique_id;
            if self.busy.contains(id) {
                self.deferred.insert(username.clone());
                continue;
            }
            let decision = enforcement::session_decision(record, session, now, policy);
            let action = match self.grants.get(id) {
                Some(stored) if stored.ended_at.is_some() => Action::Nothing,
                Some(stored) => enforcement::reconcile(&stored.grant, &decision, now),
                None => match &decision {
                    Decision::Accept { reply, .. } => {
                        self.grants.insert(
                            id.clone(),
                            StoredGrant {
                                acct_unique_id: id.clone(),
                                username: username.clone(),
                                grant: Grant {
                                    reply: reply.clone(),
                                    granted_at: now,
                                },
                                ended_at: None,
                            },
                        );
                        self.unsaved.insert(id.clone());
                        Action::Nothing
                    }
                    Decision::Reject { reason } => Action::Disconnect {
                        why: reason.to_string(),
                    },
                },
            };
            planned.extend(planned_from(username, id, action));
        }
        // A request that failed a moment ago waits; its retry stays due
        // whatever else is queued.
        let mut retries = Vec::new();
        planned.retain(|p| match self.held_until(p, now) {
            Some(until) => {
                retries.push(until);
                false
            }
            None => true,
        });
        if !record.open_sessions.is_empty() {
            retries.extend(enforcement::next_deadline(record, now, policy));
        }
        for at in retries {
            self.schedule(username, at);
        }
        planned
    }

    /// Disconnect-Requests for the sessions of a subscriber who is no
    /// longer in the database (removed), as far as grants know them; one in
    /// flight defers the subscriber to its answer, one held waits its turn.
    pub fn review_removed(&mut self, username: &str, now: UnixTime) -> Vec<Planned> {
        let ids: Vec<String> = self
            .grants
            .values()
            .filter(|g| g.username == username && g.ended_at.is_none())
            .map(|g| g.acct_unique_id.clone())
            .collect();
        let mut planned = Vec::new();
        for id in ids {
            if self.busy.contains(&id) {
                self.deferred.insert(username.to_owned());
                continue;
            }
            let p = Planned {
                username: username.to_owned(),
                acct_unique_id: id,
                kind: Kind::Disconnect,
                attributes: Vec::new(),
                why: "the subscriber was removed".to_owned(),
            };
            match self.held_until(&p, now) {
                Some(until) => self.schedule(username, until),
                None => planned.push(p),
            }
        }
        planned
    }

    /// The usernames of grants `known` does not know (subscribers removed
    /// while their sessions were online), each once.
    pub fn unknown_usernames(&self, known: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names: Vec<String> = self
            .grants
            .values()
            .filter(|g| g.ended_at.is_none() && !known(&g.username))
            .map(|g| g.username.clone())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Makes sessions acknowledged as disconnected reviewable again (their
    /// router still reports them); returns their usernames, to review now.
    /// After [`MAX_DISCONNECTS`] acknowledged Disconnect-Requests a session
    /// is given up on (it is in the second list, once): the router says yes
    /// and does nothing, and only its operator can end it.
    pub fn not_ended(&mut self, sessions: &[(String, String)]) -> (Vec<String>, Vec<String>) {
        let (mut again, mut given_up) = (Vec::new(), Vec::new());
        for (username, id) in sessions {
            let Some(g) = self.grants.get_mut(id) else {
                continue;
            };
            let n = self.ignored_disconnects.entry(id.clone()).or_insert(0);
            *n = n.saturating_add(1);
            if *n < MAX_DISCONNECTS {
                g.ended_at = None;
                self.unsaved.insert(id.clone());
                again.push(username.clone());
            } else if *n == MAX_DISCONNECTS {
                given_up.push(format!("{id} ({username})"));
            }
        }
        (again, given_up)
    }

    /// Forgets what it holds about these sessions (closed).
    pub fn forget(&mut self, ids: &[String]) {
        for id in ids {
            self.grants.remove(id);
            self.unsaved.remove(id);
            self.held.remove(id);
            self.provisional.remove(id);
            self.ignored_disconnects.remove(id);
        }
    }

    /// Sends `planned` and waits for every outcome, then records them and
    /// saves the grants they change (and those first seen), in one
    /// transaction. Returns what was recorded (`netadmin`, acting once).
    pub fn execute(
        &mut self,
        conn: &mut impl GenericClient,
        planned: &[Planned],
        origin: &'static str,
        now: UnixTime,
    ) -> db::Result<Vec<NewCoaLog>> {
        let (requests, mut log) = self.dispatch(conn, planned, origin, now)?;
        let jobs: Vec<Request> = requests.iter().map(|j| j.request.clone()).collect();
        let outcomes = sender::send_all(&jobs, &self.settings.send);
        let done: Vec<Done> = requests
            .iter()
            .zip(outcomes)
            .map(|(j, outcome)| Done {
                key: j.key,
                outcome,
            })
            .collect();
        log.extend(self.complete(conn, done, now, &mut Vec::new())?);
        Ok(log)
    }

    /// The requests for `planned` (their sessions marked in flight, so a
    /// review leaves them alone until [`Enforcer::complete`]); what cannot
    /// be sent is recorded at once and returned.
    pub fn dispatch(
        &mut self,
        conn: &mut impl GenericClient,
        planned: &[Planned],
        origin: &'static str,
        now: UnixTime,
    ) -> db::Result<(Vec<Job>, Vec<NewCoaLog>)> {
        let ids: Vec<String> = planned.iter().map(|p| p.acct_unique_id.clone()).collect();
        let targets = db::enforcement::session_targets(conn, &ids, &self.settings.plan)?;
        let by_id: HashMap<&str, &db::enforcement::SessionTarget> = targets
            .iter()
            .map(|t| (t.acct_unique_id.as_str(), t))
            .collect();
        let mut unsent = Vec::new();
        let mut jobs = Vec::new();
        for p in planned {
            // A session that closed since it was reviewed needs nothing;
            // one already in flight (planned twice in a round) waits.
            let Some(t) = by_id.get(p.acct_unique_id.as_str()) else {
                continue;
            };
            if self.busy.contains(&p.acct_unique_id) {
                continue;
            }
            let entry = NewCoaLog {
                username: p.username.clone(),
                acct_unique_id: p.acct_unique_id.clone(),
                acct_session_id: Some(t.identity.acct_session_id.clone()),
                nas_ip: t.identity.nas_ip,
                router: t.destination.as_ref().and_then(|d| d.router.clone()),
                target: String::new(),
                kind: p.kind,
                attributes: attributes_text(&p.attributes),
                why: p.why.clone(),
                outcome: String::new(),
                error_cause: None,
                attempts: 0,
                rtt_ms: None,
                origin,
            };
            let Some(d) = &t.destination else {
                unsent.push(NewCoaLog {
                    outcome: "no-route".to_owned(),
                    why: format!(
                        "{}; not sent: {}",
                        p.why,
                        t.no_route.as_deref().unwrap_or("no route")
                    ),
                    ..entry
                });
                self.hold(p, now);
                continue;
            };
            let target = SocketAddr::new(d.address, d.port);
            let source = self.settings.send.source.or(if d.via_vpn {
                self.settings.vpn_source
            } else {
                None
            });
            self.next_key += 1;
            let key = self.next_key;
            jobs.push(Job {
                key,
                request: Request {
                    target,
                    source,
                    secret: d.secret.clone(),
                    kind: p.kind,
                    session: t.identity.clone(),
                    attributes: p.attributes.clone(),
                },
            });
            self.busy.insert(p.acct_unique_id.clone());
            self.in_flight.insert(
                key,
                (
                    p.clone(),
                    NewCoaLog {
                        target: target.to_string(),
                        ..entry
                    },
                ),
            );
        }
        if !unsent.is_empty() {
            db::enforcement::record_outcomes(conn, &unsent)?;
        }
        Ok((jobs, unsent))
    }

    /// Folds outcomes into the grants, then records them and saves the
    /// grants they change (and those first seen) in one transaction; the
    /// subscribers whose sessions were in flight go to `review_again` (a
    /// change that came meanwhile was not acted on). Returns what was
    /// recorded.
    pub fn complete(
        &mut self,
        conn: &mut impl GenericClient,
        done: Vec<Done>,
        now: UnixTime,
        review_again: &mut Vec<String>,
    ) -> db::Result<Vec<NewCoaLog>> {
        let mut log = Vec::with_capacity(done.len());
        let mut closed = Vec::new();
        for d in done {
            let Some((p, entry)) = self.in_flight.remove(&d.key) else {
                continue;
            };
            self.busy.remove(&p.acct_unique_id);
            if self.deferred.remove(&p.username) {
                review_again.push(p.username.clone());
            }
            let mut entry = NewCoaLog {
                attempts: d.outcome.attempts,
                ..entry
            };
            match d.outcome.delivery {
                Delivery::Answered { answer, rtt } => {
                    entry.rtt_ms = Some(u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX));
                    match answer {
                        Answer::Ack => {
                            entry.outcome = "ack".to_owned();
                            self.acknowledged(&p, now);
                        }
                        Answer::Nak { error_cause } => {
                            entry.outcome = "nak".to_owned();
                            entry.error_cause = error_cause;
                            if answer.session_not_found() {
                                closed.push(p.acct_unique_id.clone());
                            } else {
                                self.hold(&p, now);
                            }
                        }
                    }
                }
                Delivery::NoAnswer { bad_reply } => {
                    entry.outcome = if bad_reply.is_some() {
                        "bad-answer"
                    } else {
                        "no-answer"
                    }
                    .to_owned();
                    if let Some(bad) = bad_reply {
                        entry.why = format!("{}; {bad}", entry.why);
                    }
                    self.hold(&p, now);
                }
                Delivery::Failed(why) => {
                    entry.outcome = "error".to_owned();
                    entry.why = format!("{}; not sent: {why}", entry.why);
                    self.hold(&p, now);
                }
            }
            log.push(entry);
        }
        self.forget(&closed);
        let changed = self.take_unsaved();
        db::enforcement::save_round(conn, &closed, &changed, &log)?;
        Ok(log)
    }

    /// Saves the grants first seen since the last save.
    pub fn save(&mut self, conn: &mut impl GenericClient) -> db::Result<()> {
        let changed = self.take_unsaved();
        db::enforcement::save_grants(conn, &changed)
    }

    /// True when grants wait to be saved.
    pub fn has_unsaved(&self) -> bool {
        !self.unsaved.is_empty()
    }

    fn take_unsaved(&mut self) -> Vec<StoredGrant> {
        let changed = self
            .unsaved
            .iter()
            .filter_map(|id| self.grants.get(id).cloned())
            .collect();
        self.unsaved.clear();
        changed
    }

    /// A request for `p` failed: the same request waits `retry_after`, then
    /// its subscriber is reviewed again.
    fn hold(&mut self, p: &Planned, now: UnixTime) {
        let until = now.saturating_add(self.settings.retry_after);
        let held = Held {
            until,
            request: request_key(p),
        };
        self.held.insert(p.acct_unique_id.clone(), held);
        self.schedule(&p.username, until);
    }

    /// When `p` may be sent again, if it is the request that failed for its
    /// session less than `retry_after` ago.
    fn held_until(&self, p: &Planned, now: UnixTime) -> Option<UnixTime> {
        self.held
            .get(&p.acct_unique_id)
            .filter(|h| h.until > now && h.request == request_key(p))
            .map(|h| h.until)
    }

    /// Forgets holds long past (of sessions that closed without a grant).
    pub fn forget_old_holds(&mut self, now: UnixTime) {
        let horizon = now.saturating_sub(self.settings.retry_after.saturating_mul(10));
        self.held.retain(|_, h| h.until > horizon);
    }

    /// Folds an acknowledged request into the session's grant.
    fn acknowledged(&mut self, p: &Planned, now: UnixTime) {
        self.held.remove(&p.acct_unique_id);
        // What the router holds is now known: no login grant replaces it.
        self.provisional.remove(&p.acct_unique_id);
        let Some(stored) = self.grants.get_mut(&p.acct_unique_id) else {
            // netadmin acting on a session the enforcer never saw: nothing
            // to fold into; a kick still has to be remembered.
            if p.kind == Kind::Disconnect {
                self.grants.insert(
                    p.acct_unique_id.clone(),
                    StoredGrant {
                        acct_unique_id: p.acct_unique_id.clone(),
                        username: p.username.clone(),
                        grant: Grant {
                            reply: Vec::new(),
                            granted_at: now,
                        },
                        ended_at: Some(now),
                    },
                );
                self.unsaved.insert(p.acct_unique_id.clone());
            }
            return;
        };
        match p.kind {
            Kind::Disconnect => stored.ended_at = Some(now),
            Kind::Coa => {
                for a in &p.attributes {
                    stored
                        .grant
                        .reply
                        .retain(|r| !r.name.eq_ignore_ascii_case(&a.name));
                }
                stored.grant.reply.extend(p.attributes.iter().cloned());
                if p.attributes
                    .iter()
                    .any(|a| a.name.eq_ignore_ascii_case(SESSION_TIMEOUT))
                {
                    stored.grant.granted_at = now;
                }
            }
        }
        self.unsaved.insert(p.acct_unique_id.clone());
    }
}

fn planned_from(username: &str, id: &str, action: Action) -> Option<Planned> {
    let (kind, attributes, why) = match action {
        Action::Nothing => return None,
        Action::Coa { attributes } => {
            let why = format!("now {}", attributes_text(&attributes));
            (Kind::Coa, attributes, why)
        }
        Action::Disconnect { why } => (Kind::Disconnect, Vec::new(), why),
    };
    Some(Planned {
        username: username.to_owned(),
        acct_unique_id: id.to_owned(),
        kind,
        attributes,
        why,
    })
}

/// A Disconnect-Request for each (username, acctuniqueid) of `sessions`,
/// `why` in the log (`session kick`).
pub fn kick(sessions: &[(String, String)], why: &str) -> Vec<Planned> {
    sessions
        .iter()
        .map(|(username, id)| Planned {
            username: username.clone(),
            acct_unique_id: id.clone(),
            kind: Kind::Disconnect,
            attributes: Vec::new(),
            why: why.to_owned(),
        })
        .collect()
}

/// The current decision pushed whole onto `record`'s sessions (`session
/// coa`): every changeable attribute, or a Disconnect where a CoA cannot do.
pub fn push_current(enforcer: &Enforcer, record: &SubscriberRecord, now: UnixTime) -> Vec<Planned> {
    let policy = &enforcer.settings.policy;
    record
        .open_sessions
        .iter()
        .filter_map(|s| {
            let decision = enforcement::session_decision(record, s, now, policy);
            let grant = enforcer.grants.get(&s.acct_unique_id).map(|g| &g.grant);
            let action = enforcement::push_current(grant, &decision, now);
            planned_from(&record.subscriber.username, &s.acct_unique_id, action)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::tests::{record, NOW};
    use crate::model::{OpenSession, SubscriberStatus};

    fn enforcer() -> Enforcer {
        Enforcer::new(Settings {
            policy: Policy::default(),
            plan: VpnPlan::default(),
            vpn_source: None,
            send: SendOptions::default(),
            retry_after: 60,
        })
    }

    fn online() -> SubscriberRecord {
        let mut r = record();
        r.open_sessions.push(OpenSession {
            acct_unique_id: "u1".into(),
            nas_ip: "192.0.2.1".into(),
            calling_station_id: None,
            started_at: NOW - 60,
        });
        r
    }

    fn rate(r: &mut SubscriberRecord, text: &str) {
        if let Some(p) = r.plan.as_mut() {
            p.rate = text.parse().unwrap();
        }
    }

    #[test]
    fn a_failed_request_waits_but_a_different_one_goes_at_once() {
        let mut e = enforcer();
        let mut r = online();
        assert!(e.review(&r, NOW).is_empty(), "first seen: granted");
        rate(&mut r, "1M/2M");
        let coa = e.review(&r, NOW);
        assert_eq!(coa.len(), 1);
        assert_eq!(coa[0].kind, Kind::Coa);
        e.hold(&coa[0], NOW);
        assert!(e.review(&r, NOW + 10).is_empty(), "the same CoA waits");
        r.subscriber.status = SubscriberStatus::Suspended;
        let kick = e.review(&r, NOW + 10);
        assert_eq!(kick.len(), 1);
        assert_eq!(kick[0].kind, Kind::Disconnect);
        r.subscriber.status = SubscriberStatus::Active;
        assert_eq!(e.review(&r, NOW + 61).len(), 1, "after retry_after");
    }

    #[test]
    fn a_router_ignoring_its_disconnect_acks_is_given_up_on_after_three() {
        let mut e = enforcer();
        assert!(e.review(&online(), NOW).is_empty());
        let kept = [("alice".to_owned(), "u1".to_owned())];
        for _ in 1..MAX_DISCONNECTS {
            if let Some(g) = e.grants.get_mut("u1") {
                g.ended_at = Some(NOW);
            }
            assert_eq!(e.not_ended(&kept), (vec!["alice".to_owned()], vec![]));
        }
        if let Some(g) = e.grants.get_mut("u1") {
            g.ended_at = Some(NOW);
        }
        assert_eq!(e.not_ended(&kept), (vec![], vec!["u1 (alice)".to_owned()]));
        assert_eq!(e.not_ended(&kept), (vec![], vec![]), "said once");
    }

    #[test]
    fn deadlines_pop_once_in_order_and_only_when_due() {
        let mut e = enforcer();
        e.schedule("b", NOW + 20);
        e.schedule("a", NOW + 10);
        e.schedule("a", NOW + 30);
        assert_eq!(e.next_deadline(), Some(NOW + 10));
        assert!(e.due(NOW + 9).is_empty());
        assert_eq!(e.due(NOW + 25), ["a", "b"]);
        assert!(e.due(NOW + 40).is_empty(), "a's later entry was superseded");
    }

    #[test]
    fn a_removed_subscribers_granted_sessions_are_disconnected() {
        let mut e = enforcer();
        let r = online();
        assert!(e.review(&r, NOW).is_empty());
        let kicks: Vec<String> = e
            .review_removed("alice", NOW)
            .into_iter()
            .map(|p| p.acct_unique_id)
            .collect();
        assert_eq!(kicks, ["u1"]);
        assert_eq!(e.unknown_usernames(|_| false), ["alice"]);
    }
}
