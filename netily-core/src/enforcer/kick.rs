//! Ending sessions on an operator's word (`netadmin sessions kick`, the
//! console's and the API's kick): a Disconnect-Request to each session's
//! router now, waiting for the answers (at most `coa_timeout` x `coa_tries`
//! with doubling), every outcome in the CoA log. Takes no lock: an
//! operator's kick does not wait for the enforcer, and the log says who
//! sent what.

use postgres::Client;

use super::{kick, Enforcer, Settings};
use crate::db::enforcement::{self, NewCoaLog};
use crate::db::{Error, Result};
use crate::model::UnixTime;

/// Kicks `who`: a subscriber's open sessions, or the one open session with
/// that Acct-Session-Id or unique id. `why` goes in the log; `origin` names
/// the channel (netadmin, console, api).
pub fn kick_now(
    conn: &mut Client,
    settings: Settings,
    who: &str,
    origin: &'static str,
    why: &str,
    now: UnixTime,
) -> Result<Vec<NewCoaLog>> {
    let mut sessions = enforcement::open_sessions(conn, Some(who), None)?;
    if sessions.is_empty() {
        sessions = enforcement::open_sessions(conn, None, Some(who))?;
        // Acct-Session-Ids are a router's own counter: two routers may use
        // the same one.
        if sessions.len() > 1 {
            let list = sessions
                .iter()
                .map(|(user, id)| format!("{id} ({user})"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::Refused {
                what: format!("kick \"{who}\""),
                why: format!(
                    "{} open sessions have that id: {list}; name one by its unique id (the first of each pair)",
                    sessions.len()
                ),
            });
        }
    }
    if sessions.is_empty() {
        return Err(Error::not_found(format!(
            "an open session for \"{who}\" (a subscriber with one, or an open session's id)"
        )));
    }
    let mut e = Enforcer::new(settings);
    e.load_grants(conn)?;
    let planned = kick(&sessions, why);
    e.execute(conn, &planned, origin, now)
}
