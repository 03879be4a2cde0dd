//! Live enforcement's rule (issue 11): given what a router enforces for an
//! online session (the reply it was granted at login, and when) and the
//! access decision for that subscriber now, what must be sent to the router.
//!
//! - The decision is now a reject → Disconnect-Request (the next login gets
//!   the new answer).
//! - An attribute RouterOS cannot change on a live session differs (the
//!   address, the pool, the firewall address list, so also entering or
//!   leaving the walled garden) → Disconnect-Request.
//! - Only attributes a CoA can change differ (rate, group, idle timeout, or
//!   the session's end moved by more than [`SESSION_END_SLACK`]) →
//!   CoA-Request carrying their new values; Session-Timeout as the seconds
//!   left from now. One of them gone altogether (a CoA sets, it never
//!   unsets: an idle timeout dropped, an expiry lifted) → Disconnect-Request.
//! - Otherwise nothing.
//!
//! When to ask again without any change in the database is
//! [`next_deadline`]: the first instant at which time alone can change the
//! decision (a subscription starting or ending, an invoice's grace ending, a
//! fair-use cycle turning over). The enforcer keeps one such instant per
//! online subscriber, so a tick costs what is due, not a scan.
//!
//! Pure: the enforcer service decides when to ask and sends the packets.

use crate::billing;
use crate::cycle;
use crate::decision::{
    self, AccessRequest, Decision, ReplyAttribute, ADDRESS_LIST, FRAMED_IP, FRAMED_POOL,
    IDLE_TIMEOUT, MIKROTIK_GROUP, RATE_LIMIT, SESSION_TIMEOUT,
};
use crate::model::{OpenSession, Policy, SubscriberRecord, UnixTime};

/// A moved session end smaller than this is not worth a CoA (the decision
/// renders Session-Timeout from "now", so it drifts by the seconds between
/// two decisions).
pub const SESSION_END_SLACK: i64 = 60;

/// Attributes RouterOS changes on a live session from a CoA-Request.
const CHANGEABLE: &[&str] = &[RATE_LIMIT, MIKROTIK_GROUP, IDLE_TIMEOUT];
/// Attributes a live session keeps until it ends: a change needs a new login.
const FIXED: &[&str] = &[FRAMED_IP, FRAMED_POOL, ADDRESS_LIST];

/// What the router was told for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub reply: Vec<ReplyAttribute>,
    /// When the reply was sent (Session-Timeout counts from here).
    pub granted_at: UnixTime,
}

/// What to send for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// A CoA-Request with these attributes (and the session's identity).
    Coa {
        attributes: Vec<ReplyAttribute>,
    },
    /// A Disconnect-Request; `why` is for the outcome log.
    Disconnect {
        why: String,
    },
}

fn values<'a>(reply: &'a [ReplyAttribute], name: &str) -> Vec<&'a str> {
    reply
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_str())
        .collect()
}

/// When the session ends by its Session-Timeout, if it has one.
fn session_end(reply: &[ReplyAttribute], from: UnixTime) -> Option<UnixTime> {
    values(reply, SESSION_TIMEOUT)
        .first()
        .and_then(|v| v.parse::<i64>().ok())
        .map(|secs| from.saturating_add(secs))
}

/// What must change on the router for a session granted `grant`, now that
/// the decision is `now_decision` (made at `now`).
pub fn reconcile(grant: &Grant, now_decision: &Decision, now: UnixTime) -> Action {
    let reply = match now_decision {
        Decision::Reject { reason } => {
            return Action::Disconnect {
                why: reason.to_string(),
            }
        }
        Decision::Accept { reply, .. } => reply,
    };
    for name in FIXED {
        let (was, is) = (values(&grant.reply, name), values(reply, name));
        if was != is {
            return Action::Disconnect {
                why: format!("{name} changed from {was:?} to {is:?}: a CoA cannot change it"),
            };
        }
    }
    let mut attributes = Vec::new();
    for name in CHANGEABLE {
        let (was, is) = (values(&grant.reply, name), values(reply, name));
        if was != is {
            if is.is_empty() {
                // A CoA sets attributes; none unsets one.
                return Action::Disconnect {
                    why: format!("{name} {was:?} no longer applies: a CoA cannot remove it"),
                };
            }
            attributes.extend(is.iter().map(|v| ReplyAttribute::new(*name, *v)));
        }
    }
    let (was_end, is_end) = (
        session_end(&grant.reply, grant.granted_at),
        session_end(reply, now),
    );
    // The same value is the plan's own timeout (counted from the session's
    // start, not an instant): only an expiry makes the value move.
    let same_value = values(&grant.reply, SESSION_TIMEOUT) == values(reply, SESSION_TIMEOUT);
    let moved = !same_value
        && match (was_end, is_end) {
            (Some(a), Some(b)) => a.abs_diff(b) > SESSION_END_SLACK.unsigned_abs(),
            (None, None) => false,
            _ => true,
        };
    if moved {
        match is_end {
            Some(end) => {
                let left = end.saturating_sub(now).max(1);
                attributes.push(ReplyAttribute::new(SESSION_TIMEOUT, left.to_string()));
            }
            // The router would still end the session at the old end.
            None => {
                return Action::Disconnect {
                    why: "the session's end was lifted: a CoA cannot remove Session-Timeout"
                        .to_owned(),
                }
            }
        }
    }
    if attributes.is_empty() {
        Action::Nothing
    } else {
        Action::Coa { attributes }
    }
}

/// What to send to push `decision` whole onto a session (an operator's
/// `session coa`): every attribute a CoA can change, as if the router held
/// none of them; a Disconnect where [`reconcile`] would send one (a reject,
/// an attribute a live session keeps changed since `grant`).
pub fn push_current(grant: Option<&Grant>, decision: &Decision, now: UnixTime) -> Action {
    let fixed_of = |reply: &[ReplyAttribute]| -> Vec<ReplyAttribute> {
        reply
            .iter()
            .filter(|a| FIXED.iter().any(|f| a.name.eq_ignore_ascii_case(f)))
            .cloned()
            .collect()
    };
    let held = match (grant, decision) {
        (Some(g), _) => fixed_of(&g.reply),
        // Never seen: what the session holds is taken to be the decision's.
        (None, Decision::Accept { reply, .. }) => fixed_of(reply),
        (None, Decision::Reject { .. }) => Vec::new(),
    };
    let bare = Grant {
        reply: held,
        granted_at: now,
    };
    reconcile(&bare, decision, now)
}

/// The decision for a session that is already online: the login rules as
/// they stand now, for the station and NAS of the session, except the
/// simultaneous-use limit (the session is one of the open ones it counts; a
/// limit lowered later applies at the next login, not to sessions online).
pub fn session_decision(
    record: &SubscriberRecord,
    session: &OpenSession,
    now: UnixTime,
    policy: &Policy,
) -> Decision {
    let request = AccessRequest {
        username: &record.subscriber.username,
        calling_station_id: session.calling_station_id.as_deref(),
        nas_ip: session.nas_ip.parse().ok(),
    };
    if record.open_sessions.is_empty() {
        return decision::decide(Some(record), &request, now, policy);
    }
    let alone = SubscriberRecord {
        open_sessions: Vec::new(),
        ..record.clone()
    };
    decision::decide(Some(&alone), &request, now, policy)
}

/// The first instant after `now` at which the decision for `record` can
/// change with no change in the database, if any.
pub fn next_deadline(
    record: &SubscriberRecord,
    now: UnixTime,
    policy: &Policy,
) -> Option<UnixTime> {
    let mut candidates: Vec<UnixTime> = Vec::new();
    if let Some(s) = &record.subscription {
        candidates.push(s.starts_at);
        candidates.extend(s.expires_at);
    }
    candidates.extend(record.check_rules.expires_at);
    candidates.extend(
        record
            .unpaid_invoices
            .iter()
            .map(|i| billing::suspends_at(i, policy)),
    );
    // A cycle's end resets the usage a fair-use cap counts (and a session
    // timeout is rendered from it only through the expiry above).
    let capped = record
        .plan
        .as_ref()
        .is_some_and(|p| p.data_cap_bytes.is_some());
    if capped {
        candidates.extend(cycle::record_cycle(record, now).map(|c| c.end));
    }
    candidates.into_iter().filter(|&t| t > now).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::RejectReason;

    const T0: UnixTime = 1_800_000_000;

    fn accept(reply: &[(&'static str, &str)]) -> Decision {
        Decision::Accept {
            password_attribute: "Cleartext-Password",
            password: String::new(),
            reply: reply
                .iter()
                .map(|(n, v)| ReplyAttribute::new(*n, *v))
                .collect(),
            walled_garden: false,
            why: vec![],
        }
    }

    fn grant(reply: &[(&'static str, &str)]) -> Grant {
        let Decision::Accept { reply, .. } = accept(reply) else {
            unreachable!()
        };
        Grant {
            reply,
            granted_at: T0,
        }
    }

    #[test]
    fn the_same_decision_needs_nothing() {
        let g = grant(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "3600")]);
        // Ten minutes later the same expiry renders as 3000 s from now.
        let d = accept(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "3000")]);
        assert_eq!(reconcile(&g, &d, T0 + 600), Action::Nothing);
    }

    #[test]
    fn an_attribute_gone_or_an_end_lifted_disconnects() {
        let g = grant(&[(RATE_LIMIT, "5M/10M"), (IDLE_TIMEOUT, "900")]);
        let d = accept(&[(RATE_LIMIT, "5M/10M")]);
        assert!(matches!(reconcile(&g, &d, T0), Action::Disconnect { .. }));
        let g = grant(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "600")]);
        let d = accept(&[(RATE_LIMIT, "5M/10M")]);
        match reconcile(&g, &d, T0) {
            Action::Disconnect { why } => assert!(why.contains("Session-Timeout"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plans_own_session_timeout_is_not_a_moved_end() {
        // A day per session, granted an hour ago: the decision renders the
        // same day from now, which is not an end that moved.
        let g = grant(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "86400")]);
        let d = accept(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "86400")]);
        assert_eq!(reconcile(&g, &d, T0 + 3600), Action::Nothing);
        // An expiry set in 10 minutes now caps it: that end moved.
        let d = accept(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "600")]);
        assert_eq!(
            reconcile(&g, &d, T0 + 3600),
            Action::Coa {
                attributes: vec![ReplyAttribute::new(SESSION_TIMEOUT, "600")]
            }
        );
    }

    #[test]
    fn a_new_rate_is_a_coa_with_the_exact_rate() {
        let g = grant(&[(RATE_LIMIT, "5M/10M"), (IDLE_TIMEOUT, "900")]);
        let d = accept(&[(RATE_LIMIT, "2M/4M"), (IDLE_TIMEOUT, "900")]);
        assert_eq!(
            reconcile(&g, &d, T0 + 60),
            Action::Coa {
                attributes: vec![ReplyAttribute::new(RATE_LIMIT, "2M/4M")]
            }
        );
    }

    #[test]
    fn a_moved_expiry_sends_the_seconds_left_from_now() {
        let g = grant(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "86400")]);
        let d = accept(&[(RATE_LIMIT, "5M/10M"), (SESSION_TIMEOUT, "600")]);
        assert_eq!(
            reconcile(&g, &d, T0 + 100),
            Action::Coa {
                attributes: vec![ReplyAttribute::new(SESSION_TIMEOUT, "600")]
            }
        );
    }

    #[test]
    fn a_reject_or_a_fixed_attribute_change_disconnects() {
        let g = grant(&[(RATE_LIMIT, "5M/10M")]);
        let d = Decision::Reject {
            reason: RejectReason::Disabled,
        };
        assert!(matches!(reconcile(&g, &d, T0), Action::Disconnect { .. }));
        // Into the walled garden: its address list cannot be added live.
        let d = accept(&[
            (RATE_LIMIT, "256k/256k"),
            (ADDRESS_LIST, "netily-walled-garden"),
        ]);
        match reconcile(&g, &d, T0) {
            Action::Disconnect { why } => assert!(why.contains(ADDRESS_LIST), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    use crate::decision::tests::{record, NOW};
    use crate::model::{SubscriberStatus, UnpaidInvoice, SECONDS_PER_DAY};

    fn online(r: &mut SubscriberRecord, station: Option<&str>) -> OpenSession {
        let s = OpenSession {
            acct_unique_id: "u1".into(),
            nas_ip: "192.0.2.1".into(),
            calling_station_id: station.map(str::to_owned),
            started_at: NOW - 600,
        };
        r.open_sessions.push(s.clone());
        s
    }

    #[test]
    fn an_online_session_is_not_refused_by_its_own_simultaneous_use() {
        let mut r = record();
        if let Some(p) = r.plan.as_mut() {
            p.simultaneous_use = Some(1);
        }
        let s = online(&mut r, None);
        assert!(session_decision(&r, &s, NOW, &Policy::default()).is_accept());
        r.subscriber.status = SubscriberStatus::Suspended;
        assert!(!session_decision(&r, &s, NOW, &Policy::default()).is_accept());
    }

    #[test]
    fn a_mac_rebound_elsewhere_refuses_the_online_session() {
        let mut r = record();
        let s = online(&mut r, Some("AA:BB:CC:DD:EE:01"));
        r.subscriber.mac_binding = Some("AA:BB:CC:DD:EE:02".into());
        assert!(!session_decision(&r, &s, NOW, &Policy::default()).is_accept());
    }

    #[test]
    fn the_next_deadline_is_the_first_of_expiry_grace_and_cycle_end() {
        let policy = Policy {
            grace_days: 7,
            ..Policy::default()
        };
        let mut r = record();
        assert_eq!(next_deadline(&r, NOW, &policy), None);
        if let Some(s) = r.subscription.as_mut() {
            s.expires_at = Some(NOW + 5 * SECONDS_PER_DAY);
        }
        assert_eq!(
            next_deadline(&r, NOW, &policy),
            Some(NOW + 5 * SECONDS_PER_DAY)
        );
        r.unpaid_invoices.push(UnpaidInvoice {
            id: 1,
            number: "INV-1".into(),
            amount_cents: 100,
            due_at: NOW - 3 * SECONDS_PER_DAY,
        });
        // Due 3 days ago, 7 days of grace: suspends in 4 days.
        assert_eq!(
            next_deadline(&r, NOW, &policy),
            Some(NOW + 4 * SECONDS_PER_DAY)
        );
        // A deadline passed is no deadline.
        assert_eq!(
            next_deadline(&r, NOW + 4 * SECONDS_PER_DAY, &policy),
            Some(NOW + 5 * SECONDS_PER_DAY)
        );
    }

    #[test]
    fn a_capped_plan_turns_over_at_its_cycle_end() {
        let mut r = record();
        if let Some(p) = r.plan.as_mut() {
            p.data_cap_bytes = Some(1_000);
            p.cycle_days = Some(30);
        }
        // The record's cycle started 10 days before NOW.
        assert_eq!(
            next_deadline(&r, NOW, &Policy::default()),
            Some(NOW + 20 * SECONDS_PER_DAY)
        );
    }

    #[test]
    fn time_alone_turns_a_session_past_grace_into_a_disconnect() {
        let policy = Policy {
            grace_days: 7,
            ..Policy::default()
        };
        let mut r = record();
        let s = online(&mut r, None);
        r.unpaid_invoices.push(UnpaidInvoice {
            id: 1,
            number: "INV-1".into(),
            amount_cents: 100,
            due_at: NOW - 7 * SECONDS_PER_DAY + 30,
        });
        let Decision::Accept { reply, .. } = session_decision(&r, &s, NOW, &policy) else {
            panic!("accepted before the grace ends")
        };
        let g = Grant {
            reply,
            granted_at: NOW - 600,
        };
        let at = next_deadline(&r, NOW, &policy).unwrap();
        assert_eq!(at, NOW + 30);
        let later = session_decision(&r, &s, at, &policy);
        assert!(matches!(
            reconcile(&g, &later, at),
            Action::Disconnect { .. }
        ));
    }
}
