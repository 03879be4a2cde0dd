//! Which statements a batch needs, in order. Pure: no database, no locks.
//!
//! An upsert touches a row once per statement, so a session's packets go in
//! successive rounds: the n-th packet of each session in round n. A NAS
//! restart closes sessions up to its time, so it is a statement of its own
//! between the session packets before it and those after it. Usually a
//! batch is one round: one statement. Nothing here can fail.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

use crate::accounting::{Change, NasRestart, SessionChange};

/// One statement of a batch, with the positions in the batch of the
/// packets it answers.
#[derive(Debug)]
pub(super) enum Step<'a> {
    /// Session packets, each session at most once.
    Sessions(Vec<(usize, &'a SessionChange)>),
    /// Accounting-On/Off: close the NAS's open sessions.
    CloseNas(usize, &'a NasRestart),
}

/// The statements for `batch`, in the order they must run. Packets that
/// radacct does not record get none.
pub(super) fn steps<C: Borrow<Change>>(batch: &[C]) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut from = 0;
    while from < batch.len() {
        let run = batch[from..]
            .iter()
            .take_while(|c| matches!((*c).borrow(), Change::Session(_)))
            .count();
        if run > 0 {
            steps.extend(rounds(&batch[from..from + run], from));
            from += run;
            continue;
        }
        if let Change::NasRestart(r) = batch[from].borrow() {
            steps.push(Step::CloseNas(from, r));
        }
        from += 1;
    }
    steps
}

/// Session packets in rounds, the n-th packet of each session in round n;
/// `offset` is the position of `run[0]` in the batch.
fn rounds<C: Borrow<Change>>(run: &[C], offset: usize) -> Vec<Step<'_>> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(run.len());
    let mut rounds: Vec<Vec<(usize, &SessionChange)>> = Vec::new();
    for (i, c) in run.iter().enumerate() {
        if let Change::Session(s) = c.borrow() {
            let n = seen.entry(s.unique_id.as_str()).or_insert(0);
            if rounds.len() <= *n {
                rounds.push(Vec::new());
            }
            rounds[*n].push((offset + i, s));
            *n += 1;
        }
    }
    rounds.into_iter().map(Step::Sessions).collect()
}

/// True when the batch is session packets only, each session once: one
/// statement, which is its own transaction.
pub(super) fn is_one_statement<C: Borrow<Change>>(batch: &[C]) -> bool {
    let mut seen = HashSet::with_capacity(batch.len());
    batch.iter().all(|c| match c.borrow() {
        Change::Session(s) => seen.insert(s.unique_id.as_str()),
        Change::NasRestart(_) | Change::Ignore { .. } => false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{interim, nas_restart, session};
    use super::*;
    use crate::accounting::SessionEvent;

    /// The steps as positions: `S[..]` a round of sessions, `N(i)` a NAS
    /// restart.
    fn shape(batch: &[Change]) -> Vec<String> {
        steps(batch)
            .iter()
            .map(|s| match s {
                Step::Sessions(p) => {
                    format!("S{:?}", p.iter().map(|(i, _)| *i).collect::<Vec<_>>())
                }
                Step::CloseNas(i, _) => format!("N({i})"),
            })
            .collect()
    }

    #[test]
    fn sessions_that_each_appear_once_are_one_statement() {
        let batch = [
            interim("a", "alice"),
            session(SessionEvent::Start, "b", Some("bob")),
            session(SessionEvent::Stop, "c", None),
        ];
        assert_eq!(shape(&batch), ["S[0, 1, 2]"]);
        assert!(is_one_statement(&batch));
    }

    #[test]
    fn a_sessions_second_packet_waits_for_the_next_round() {
        let batch = [
            session(SessionEvent::Start, "a", Some("alice")),
            interim("b", "bob"),
            interim("a", "alice"),
            session(SessionEvent::Stop, "a", Some("alice")),
        ];
        assert_eq!(shape(&batch), ["S[0, 1]", "S[2]", "S[3]"]);
        assert!(!is_one_statement(&batch));
    }

    #[test]
    fn a_nas_restart_runs_between_the_packets_before_and_after_it() {
        let batch = [
            interim("a", "alice"),
            nas_restart(),
            interim("b", "bob"),
            interim("a", "alice"),
        ];
        // After the restart the rounds start afresh: "a" is in its first
        // round again, since the statement before it has run.
        assert_eq!(shape(&batch), ["S[0]", "N(1)", "S[2, 3]"]);
        assert!(!is_one_statement(&batch));
    }

    #[test]
    fn a_lone_nas_restart_is_one_statement_but_not_a_sessions_statement() {
        let batch = [nas_restart()];
        assert_eq!(shape(&batch), ["N(0)"]);
        assert!(!is_one_statement(&batch));
    }

    #[test]
    fn packets_radacct_does_not_record_need_no_statement() {
        let batch = [
            Change::Ignore { status_type: 9 },
            interim("a", "alice"),
            Change::Ignore { status_type: 15 },
        ];
        assert_eq!(shape(&batch), ["S[1]"]);
        assert!(!is_one_statement(&batch));
        assert!(shape(&[]).is_empty());
    }
}
