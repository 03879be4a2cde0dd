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
//!   left from now.
//! - Otherwise nothing.
//!
//! Pure: the enforcer service decides when to ask and sends the packets.

use crate::decision::{
    Decision, ReplyAttribute, ADDRESS_LIST, FRAMED_IP, FRAMED_POOL, IDLE_TIMEOUT, MIKROTIK_GROUP,
    RATE_LIMIT, SESSION_TIMEOUT,
};
use crate::model::UnixTime;

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
        let is = values(reply, name);
        if values(&grant.reply, name) != is {
            attributes.extend(is.iter().map(|v| ReplyAttribute::new(*name, *v)));
        }
    }
    let (was_end, is_end) = (
        session_end(&grant.reply, grant.granted_at),
        session_end(reply, now),
    );
    let moved = match (was_end, is_end) {
        (Some(a), Some(b)) => a.abs_diff(b) > SESSION_END_SLACK.unsigned_abs(),
        (None, None) => false,
        _ => true,
    };
    if moved {
        if let Some(end) = is_end {
            let left = end.saturating_sub(now).max(1);
            attributes.push(ReplyAttribute::new(SESSION_TIMEOUT, left.to_string()));
        }
    }
    if attributes.is_empty() {
        Action::Nothing
    } else {
        Action::Coa { attributes }
    }
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
}
