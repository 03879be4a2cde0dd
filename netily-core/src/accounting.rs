//! Accounting rules: what one Accounting-Request means for `radacct`.
//!
//! Pure functions, no SQL: [`change`] turns the values a NAS sent into a
//! [`Change`], and `db::accounting` applies it in one statement. The rules
//! that keep accounting idempotent live in the shape of the change:
//!
//! - A session is keyed on Acct-Unique-Session-Id (the `acct_unique` policy
//!   builds it before the module runs), so a retransmit or a duplicate lands
//!   on the same row.
//! - Octet counters are absolute totals: `(Gigawords << 32) + Octets`. The
//!   store keeps the larger of what it has and what arrived, so a duplicate
//!   or a late (reordered) Interim-Update never moves usage twice or back.
//! - A counter the packet does not carry is `None`, meaning "keep what is
//!   stored": a Stop without octets never zeroes the totals.
//! - A closed session stays closed: Start, Interim-Update or Stop arriving
//!   after its Stop change nothing. The exception is a session Netily
//!   closed as stale (`crate::stale_session`): its router's next
//!   Interim-Update reopens it, and its Stop records the real end.
//! - Start, Interim-Update or Stop for an unknown session creates it (the
//!   Start was lost); its start time is the event time minus the session time.
//! - Accounting-On/Off close every open session of that NAS.
//!
//! What no NAS can mean is not stored, so one packet can never break the
//! sums or keep a session open for good ([`Anomaly`]; each is reported, and
//! the packet is still recorded and answered):
//!
//! - An octet total over [`MAX_SESSION_OCTETS`] (2^50 bytes, 1 PiB: ten days
//!   at 10 Gbit/s in one session) is ignored, like a counter the packet
//!   does not carry: the stored total is kept. Gigawords of 2^31 or every
//!   counter at 0xFFFFFFFF would otherwise be billed as exabytes.
//! - An event time (Event-Timestamp, or the arrival minus Acct-Delay-Time)
//!   before [`EARLIEST_EVENT`] (2000; a router without a clock boots in
//!   1970) or more than [`MAX_CLOCK_AHEAD`] (5 minutes) after the arrival is
//!   replaced by the arrival time. A session dated in the future would stay
//!   open through the NAS's Accounting-On/Off (which closes what began
//!   before it); a NAS whose clock is ahead by more than a few minutes is
//!   wrong, and the arrival time is then the better clock.
//! - An Acct-Session-Time longer than the time since [`EARLIEST_EVENT`] is
//!   ignored.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::UnixTime;

/// Acct-Status-Type values (RFC 2866).
pub const STATUS_START: u32 = 1;
pub const STATUS_STOP: u32 = 2;
pub const STATUS_INTERIM_UPDATE: u32 = 3;
pub const STATUS_ACCOUNTING_ON: u32 = 7;
pub const STATUS_ACCOUNTING_OFF: u32 = 8;

/// The terminate cause written when Accounting-On/Off closes sessions and the
/// packet names none (what the stock queries write).
pub const NAS_REBOOT: &str = "NAS-Reboot";

/// What an Accounting-Request carries, as plain values (absent = `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountingPacket {
    pub status_type: Option<u32>,
    pub unique_session_id: Option<String>,
    pub session_id: Option<String>,
    pub username: Option<String>,
    pub nas_ip: Option<IpAddr>,
    pub nas_port_id: Option<String>,
    pub nas_port: Option<u32>,
    pub nas_port_type: Option<u32>,
    pub called_station_id: Option<String>,
    pub calling_station_id: Option<String>,
    pub framed_ip: Option<IpAddr>,
    pub session_time: Option<u32>,
    pub input_octets: Option<u32>,
    pub input_gigawords: Option<u32>,
    pub output_octets: Option<u32>,
    pub output_gigawords: Option<u32>,
    pub terminate_cause: Option<u32>,
    pub event_timestamp: Option<u32>,
    pub delay_time: Option<u32>,
    pub acct_authentic: Option<u32>,
    pub service_type: Option<u32>,
    pub framed_protocol: Option<u32>,
    pub connect_info: Option<String>,
    pub class: Option<String>,
}

/// Which point of a session's life a packet reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionEvent {
    Start,
    Interim,
    Stop,
}

impl SessionEvent {
    /// The name the SQL statement switches on.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEvent::Start => "start",
            SessionEvent::Interim => "interim",
            SessionEvent::Stop => "stop",
        }
    }
}

/// One session row to create or update (see the module rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionChange {
    pub event: SessionEvent,
    pub unique_id: String,
    pub session_id: String,
    pub username: Option<String>,
    pub nas_ip: IpAddr,
    pub nas_port_id: Option<String>,
    pub nas_port_type: Option<String>,
    /// When the NAS says this happened.
    pub event_at: UnixTime,
    /// When the session began, as far as this packet tells.
    pub started_at: UnixTime,
    pub session_time: Option<i64>,
    /// Total octets from the subscriber; `None` = keep the stored total.
    pub input_octets: Option<i64>,
    /// Total octets to the subscriber; `None` = keep the stored total.
    pub output_octets: Option<i64>,
    /// The packet carries Acct-Input-Octets without Acct-Input-Gigawords:
    /// a 32-bit counter, which wraps (a newer packet's count below the
    /// stored total's low 32 bits means 2^32 more, not less).
    #[serde(default)]
    pub input_wraps: bool,
    /// The same for Acct-Output-Octets.
    #[serde(default)]
    pub output_wraps: bool,
    pub terminate_cause: Option<String>,
    pub called_station_id: Option<String>,
    pub calling_station_id: Option<String>,
    pub framed_ip: Option<IpAddr>,
    pub acct_authentic: Option<String>,
    pub service_type: Option<String>,
    pub framed_protocol: Option<String>,
    pub connect_info: Option<String>,
    pub class: Option<String>,
}

/// Close every open session of one NAS (Accounting-On/Off: it restarted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NasRestart {
    pub nas_ip: IpAddr,
    pub at: UnixTime,
    pub terminate_cause: String,
    /// True for Accounting-On, false for Accounting-Off.
    pub on: bool,
}

/// What one Accounting-Request does to `radacct`. Serialized (JSON) into
/// the accounting journal: fields may be added with `#[serde(default)]`,
/// never renamed, so a journal written before an upgrade reads after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Session(Box<SessionChange>),
    NasRestart(NasRestart),
    /// A status type radacct does not record (Tunnel-Start, Failed, ...).
    Ignore {
        status_type: u32,
    },
}

/// A packet that cannot be recorded: which attribute, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub attribute: &'static str,
    pub problem: &'static str,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.attribute, self.problem)
    }
}

impl std::error::Error for Malformed {}

fn missing(attribute: &'static str) -> Malformed {
    Malformed {
        attribute,
        problem: "is missing",
    }
}

/// The most octets one session may report in one direction: 2^50 bytes
/// (1 PiB). More is not a counter but garbage, and is ignored.
pub const MAX_SESSION_OCTETS: u64 = 1 << 50;
/// The earliest event time believed: 2000-01-01T00:00:00Z.
pub const EARLIEST_EVENT: UnixTime = 946_684_800;
/// How far ahead of the arrival an event time is believed (seconds).
pub const MAX_CLOCK_AHEAD: UnixTime = 300;

/// A value in a packet that no NAS can mean, and so was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomaly {
    /// Acct-Input-Octets/-Gigawords over [`MAX_SESSION_OCTETS`]: ignored.
    InputOctets(u64),
    /// Acct-Output-Octets/-Gigawords over [`MAX_SESSION_OCTETS`]: ignored.
    OutputOctets(u64),
    /// An event time out of bounds: the arrival time is used instead.
    EventTime(UnixTime),
    /// Acct-Session-Time longer than since [`EARLIEST_EVENT`]: ignored.
    SessionTime(u32),
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::InputOctets(n) => implausible_octets(f, "Input", *n),
            Anomaly::OutputOctets(n) => implausible_octets(f, "Output", *n),
            Anomaly::EventTime(t) => write!(
                f,
                "implausible event time {t} (Event-Timestamp or Acct-Delay-Time; before 2000 \
                 or more than {MAX_CLOCK_AHEAD} s ahead): the arrival time is used"
            ),
            Anomaly::SessionTime(t) => write!(
                f,
                "implausible Acct-Session-Time {t} (longer than since 2000): ignored"
            ),
        }
    }
}

fn implausible_octets(f: &mut fmt::Formatter<'_>, which: &str, total: u64) -> fmt::Result {
    write!(
        f,
        "implausible Acct-{which}-Octets/-Gigawords total {total} \
         (over 2^50 bytes in one session): ignored, the stored total is kept"
    )
}

/// What one Accounting-Request does, and what in it was not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub change: Change,
    /// Values ignored or replaced (see [`Anomaly`]); usually none.
    pub anomalies: Vec<Anomaly>,
}

/// `(gigawords << 32) + octets`; `None` when the packet carries neither.
/// Exact: the largest, 2^64 - 1, fits a u64.
pub fn total_octets(octets: Option<u32>, gigawords: Option<u32>) -> Option<u64> {
    if octets.is_none() && gigawords.is_none() {
        return None;
    }
    Some((u64::from(gigawords.unwrap_or(0)) << 32) | u64::from(octets.unwrap_or(0)))
}

/// A session's octet total as stored: `Ok(None)` when the packet carries no
/// counter, `Err(total)` when the total is over [`MAX_SESSION_OCTETS`].
pub fn session_octets(octets: Option<u32>, gigawords: Option<u32>) -> Result<Option<i64>, u64> {
    match total_octets(octets, gigawords) {
        None => Ok(None),
        Some(n) if n <= MAX_SESSION_OCTETS => Ok(i64::try_from(n).ok()),
        Some(n) => Err(n),
    }
}

/// When the event happened: Event-Timestamp when the NAS sent one, else the
/// arrival time `now` minus Acct-Delay-Time (how long the NAS had been
/// retrying). `Err(claimed)` when that is before [`EARLIEST_EVENT`] or more
/// than [`MAX_CLOCK_AHEAD`] after `now`.
pub fn event_time(
    event_timestamp: Option<u32>,
    delay_time: Option<u32>,
    now: UnixTime,
) -> Result<UnixTime, UnixTime> {
    let claimed = match event_timestamp {
        Some(t) => UnixTime::from(t),
        None => now - UnixTime::from(delay_time.unwrap_or(0)),
    };
    if (EARLIEST_EVENT..=now.saturating_add(MAX_CLOCK_AHEAD)).contains(&claimed) {
        Ok(claimed)
    } else {
        Err(claimed)
    }
}

/// Reads one Accounting-Request. `now` is the arrival time.
pub fn change(p: &AccountingPacket, now: UnixTime) -> Result<Change, Malformed> {
    read(p, now).map(|r| r.change)
}

/// Reads one Accounting-Request, with what in it was not believed. `now`
/// is the arrival time.
pub fn read(p: &AccountingPacket, now: UnixTime) -> Result<Reading, Malformed> {
    let mut anomalies = Vec::new();
    let mut event_at = || {
        event_time(p.event_timestamp, p.delay_time, now).unwrap_or_else(|claimed| {
            anomalies.push(Anomaly::EventTime(claimed));
            now
        })
    };
    let status = p.status_type.ok_or(missing("Acct-Status-Type"))?;
    let event = match status {
        STATUS_START => SessionEvent::Start,
        STATUS_INTERIM_UPDATE => SessionEvent::Interim,
        STATUS_STOP => SessionEvent::Stop,
        STATUS_ACCOUNTING_ON | STATUS_ACCOUNTING_OFF => {
            let nas_ip = p.nas_ip.ok_or(missing("NAS-IP-Address"))?;
            let change = Change::NasRestart(NasRestart {
                nas_ip,
                at: event_at(),
                terminate_cause: p
                    .terminate_cause
                    .map_or_else(|| NAS_REBOOT.to_owned(), terminate_cause_name),
                on: status == STATUS_ACCOUNTING_ON,
            });
            return Ok(Reading { change, anomalies });
        }
        other => {
            let change = Change::Ignore { status_type: other };
            return Ok(Reading { change, anomalies });
        }
    };
    let unique_id = non_empty(&p.unique_session_id).ok_or(missing("Acct-Unique-Session-Id"))?;
    let session_id = non_empty(&p.session_id).ok_or(missing("Acct-Session-Id"))?;
    let nas_ip = p.nas_ip.ok_or(missing("NAS-IP-Address"))?;
    let event_at = event_at();
    let session_time = match p.session_time {
        Some(t) if UnixTime::from(t) > event_at - EARLIEST_EVENT => {
            anomalies.push(Anomaly::SessionTime(t));
            None
        }
        t => t.map(i64::from),
    };
    let started_at = match event {
        SessionEvent::Start => event_at,
        SessionEvent::Interim | SessionEvent::Stop => event_at - session_time.unwrap_or(0),
    };
    // A Start opens the session: its counters are zero by definition, and
    // a Start retransmitted late must not touch them.
    let mut octets = |octets, gigawords, anomaly: fn(u64) -> Anomaly| match event {
        SessionEvent::Start => None,
        SessionEvent::Interim | SessionEvent::Stop => session_octets(octets, gigawords)
            .unwrap_or_else(|total| {
                anomalies.push(anomaly(total));
                None
            }),
    };
    let input_octets = octets(p.input_octets, p.input_gigawords, Anomaly::InputOctets);
    let output_octets = octets(p.output_octets, p.output_gigawords, Anomaly::OutputOctets);
    let change = Change::Session(Box::new(SessionChange {
        event,
        unique_id,
        session_id,
        username: non_empty(&p.username),
        nas_ip,
        // Like the stock queries: NAS-Port-Id, else the NAS-Port number.
        nas_port_id: non_empty(&p.nas_port_id).or_else(|| p.nas_port.map(|n| n.to_string())),
        nas_port_type: p.nas_port_type.map(nas_port_type_name),
        event_at,
        started_at,
        session_time,
        input_octets,
        output_octets,
        input_wraps: input_octets.is_some() && p.input_gigawords.is_none(),
        output_wraps: output_octets.is_some() && p.output_gigawords.is_none(),
        terminate_cause: match event {
            SessionEvent::Stop => p.terminate_cause.map(terminate_cause_name),
            _ => None,
        },
        called_station_id: non_empty(&p.called_station_id),
        calling_station_id: non_empty(&p.calling_station_id),
        framed_ip: p.framed_ip,
        acct_authentic: p.acct_authentic.map(acct_authentic_name),
        service_type: p.service_type.map(service_type_name),
        framed_protocol: p.framed_protocol.map(framed_protocol_name),
        connect_info: non_empty(&p.connect_info),
        class: non_empty(&p.class),
    }));
    Ok(Reading { change, anomalies })
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// A value name from the dictionary, or the number as text when it has none
/// (what FreeRADIUS prints for an unknown value).
fn named(table: &[(u32, &str)], n: u32) -> String {
    table
        .iter()
        .find(|(k, _)| *k == n)
        .map_or_else(|| n.to_string(), |(_, v)| (*v).to_owned())
}

/// Acct-Terminate-Cause value names (RFC 2866, 3580), as radacct stores them.
pub fn terminate_cause_name(n: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (1, "User-Request"),
        (2, "Lost-Carrier"),
        (3, "Lost-Service"),
        (4, "Idle-Timeout"),
        (5, "Session-Timeout"),
        (6, "Admin-Reset"),
        (7, "Admin-Reboot"),
        (8, "Port-Error"),
        (9, "NAS-Error"),
        (10, "NAS-Request"),
        (11, "NAS-Reboot"),
        (12, "Port-Unneeded"),
        (13, "Port-Preempted"),
        (14, "Port-Suspended"),
        (15, "Service-Unavailable"),
        (16, "Callback"),
        (17, "User-Error"),
        (18, "Host-Request"),
        (19, "Supplicant-Restart"),
        (20, "Reauthentication-Failure"),
        (21, "Port-Reinit"),
        (22, "Port-Disabled"),
    ];
    named(NAMES, n)
}

/// NAS-Port-Type value names (RFC 2865 and later).
pub fn nas_port_type_name(n: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (0, "Async"),
        (1, "Sync"),
        (2, "ISDN"),
        (3, "ISDN-V120"),
        (4, "ISDN-V110"),
        (5, "Virtual"),
        (6, "PIAFS"),
        (7, "HDLC-Clear-Channel"),
        (8, "X.25"),
        (9, "X.75"),
        (10, "G.3-Fax"),
        (11, "SDSL"),
        (12, "ADSL-CAP"),
        (13, "ADSL-DMT"),
        (14, "IDSL"),
        (15, "Ethernet"),
        (16, "xDSL"),
        (17, "Cable"),
        (18, "Wireless-Other"),
        (19, "Wireless-802.11"),
    ];
    named(NAMES, n)
}

fn acct_authentic_name(n: u32) -> String {
    named(
        &[(1, "RADIUS"), (2, "Local"), (3, "Remote"), (4, "Diameter")],
        n,
    )
}

fn service_type_name(n: u32) -> String {
    named(
        &[
            (1, "Login-User"),
            (2, "Framed-User"),
            (3, "Callback-Login-User"),
            (4, "Callback-Framed-User"),
            (5, "Outbound-User"),
            (6, "Administrative-User"),
            (7, "NAS-Prompt-User"),
            (8, "Authenticate-Only"),
            (9, "Callback-NAS-Prompt"),
            (10, "Call-Check"),
            (11, "Callback-Administrative"),
        ],
        n,
    )
}

fn framed_protocol_name(n: u32) -> String {
    named(
        &[
            (1, "PPP"),
            (2, "SLIP"),
            (3, "ARAP"),
            (4, "Gandalf-SLML"),
            (5, "Xylogics-IPX-SLIP"),
            (6, "X.75-Synchronous"),
        ],
        n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const NOW: UnixTime = 1_800_000_000;

    fn packet(status: u32) -> AccountingPacket {
        AccountingPacket {
            status_type: Some(status),
            unique_session_id: Some("u-1".into()),
            session_id: Some("8100001a".into()),
            username: Some("alice".into()),
            nas_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            ..AccountingPacket::default()
        }
    }

    fn session(c: Change) -> SessionChange {
        match c {
            Change::Session(s) => *s,
            other => panic!("not a session change: {other:?}"),
        }
    }

    #[test]
    fn gigawords_are_the_high_32_bits() {
        assert_eq!(total_octets(Some(5), Some(2)), Some((2u64 << 32) + 5));
        assert_eq!(total_octets(Some(5), None), Some(5));
        assert_eq!(total_octets(None, Some(1)), Some(1u64 << 32));
        assert_eq!(total_octets(Some(0), None), Some(0));
        assert_eq!(total_octets(None, None), None);
        assert_eq!(total_octets(Some(u32::MAX), Some(u32::MAX)), Some(u64::MAX));
    }

    #[test]
    fn session_octets_over_a_pebibyte_are_refused() {
        assert_eq!(session_octets(Some(5), Some(2)), Ok(Some((2i64 << 32) + 5)));
        assert_eq!(session_octets(None, None), Ok(None));
        // 2^50 exactly is the most one session may carry.
        assert_eq!(session_octets(Some(0), Some(1 << 18)), Ok(Some(1i64 << 50)));
        assert_eq!(
            session_octets(Some(1), Some(1 << 18)),
            Err((1u64 << 50) + 1)
        );
        assert_eq!(session_octets(None, Some(1 << 31)), Err(1u64 << 63));
        assert_eq!(
            session_octets(Some(u32::MAX), Some(u32::MAX)),
            Err(u64::MAX)
        );
    }

    #[test]
    fn event_time_prefers_the_nas_timestamp_then_subtracts_the_delay() {
        assert_eq!(
            event_time(Some(1_700_000_000), Some(30), NOW),
            Ok(1_700_000_000)
        );
        assert_eq!(event_time(None, Some(30), NOW), Ok(NOW - 30));
        assert_eq!(event_time(None, None, NOW), Ok(NOW));
    }

    #[test]
    fn event_times_before_2000_or_minutes_ahead_are_refused() {
        assert_eq!(event_time(Some(u32::MAX), None, NOW), Err(4_294_967_295));
        assert_eq!(event_time(Some(0), None, NOW), Err(0));
        assert_eq!(event_time(Some(946_684_799), None, NOW), Err(946_684_799));
        assert_eq!(event_time(Some(946_684_800), None, NOW), Ok(946_684_800));
        let ahead = u32::try_from(NOW + MAX_CLOCK_AHEAD).unwrap();
        assert_eq!(event_time(Some(ahead), None, NOW), Ok(NOW + 300));
        assert_eq!(event_time(Some(ahead + 1), None, NOW), Err(NOW + 301));
        // A delay back beyond 2000 (0xFFFFFFFF s is 136 years).
        assert_eq!(
            event_time(None, Some(u32::MAX), NOW),
            Err(NOW - 4_294_967_295)
        );
    }

    #[test]
    fn implausible_counters_are_ignored_and_reported_the_rest_is_recorded() {
        let mut p = packet(STATUS_INTERIM_UPDATE);
        p.session_time = Some(120);
        p.input_octets = Some(1_000);
        p.input_gigawords = Some(0x8000_0000);
        p.output_octets = Some(2_000);
        let r = read(&p, NOW).unwrap();
        assert_eq!(
            r.anomalies,
            vec![Anomaly::InputOctets((1u64 << 63) + 1_000)]
        );
        let s = session(r.change);
        assert_eq!(s.input_octets, None, "None = keep the stored total");
        assert_eq!(s.output_octets, Some(2_000));
        assert_eq!(s.session_time, Some(120));

        let mut p = packet(STATUS_STOP);
        p.input_octets = Some(u32::MAX);
        p.input_gigawords = Some(u32::MAX);
        p.output_octets = Some(u32::MAX);
        p.output_gigawords = Some(u32::MAX);
        p.terminate_cause = Some(1);
        let r = read(&p, NOW).unwrap();
        assert_eq!(
            r.anomalies,
            vec![
                Anomaly::InputOctets(u64::MAX),
                Anomaly::OutputOctets(u64::MAX)
            ]
        );
        assert_eq!(
            r.anomalies[0].to_string(),
            "implausible Acct-Input-Octets/-Gigawords total 18446744073709551615 \
             (over 2^50 bytes in one session): ignored, the stored total is kept"
        );
        let s = session(r.change);
        assert_eq!((s.input_octets, s.output_octets), (None, None));
        assert_eq!(
            s.event,
            SessionEvent::Stop,
            "the Stop still closes the session"
        );
        // A Start's counters are never read, so never reported.
        p.status_type = Some(STATUS_START);
        assert_eq!(read(&p, NOW).unwrap().anomalies, vec![]);
    }

    #[test]
    fn a_start_dated_2106_is_dated_on_arrival() {
        let mut p = packet(STATUS_START);
        p.event_timestamp = Some(u32::MAX);
        let r = read(&p, NOW).unwrap();
        assert_eq!(r.anomalies, vec![Anomaly::EventTime(4_294_967_295)]);
        let s = session(r.change);
        assert_eq!((s.event_at, s.started_at), (NOW, NOW));
        // So the NAS's Accounting-Off, dated now, closes it.
        let mut off = packet(STATUS_ACCOUNTING_OFF);
        off.event_timestamp = Some(0);
        let r = read(&off, NOW).unwrap();
        assert_eq!(r.anomalies, vec![Anomaly::EventTime(0)]);
        match r.change {
            Change::NasRestart(n) => assert_eq!(n.at, NOW),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_session_time_longer_than_since_2000_is_ignored() {
        let mut p = packet(STATUS_INTERIM_UPDATE);
        p.session_time = Some(u32::MAX);
        let r = read(&p, NOW).unwrap();
        assert_eq!(r.anomalies, vec![Anomaly::SessionTime(u32::MAX)]);
        let s = session(r.change);
        assert_eq!((s.session_time, s.started_at), (None, NOW));
        // Plausible values report nothing.
        p.session_time = Some(86_400);
        let r = read(&p, NOW).unwrap();
        assert_eq!(r.anomalies, vec![]);
        assert_eq!(session(r.change).started_at, NOW - 86_400);
    }

    #[test]
    fn interim_carries_totals_with_gigawords_and_dates_the_start_back() {
        let mut p = packet(STATUS_INTERIM_UPDATE);
        p.session_time = Some(600);
        p.input_octets = Some(100);
        p.input_gigawords = Some(1);
        p.output_octets = Some(7);
        p.event_timestamp = Some(1_700_000_600);
        let s = session(change(&p, NOW).unwrap());
        assert_eq!(s.event, SessionEvent::Interim);
        assert_eq!(s.input_octets, Some((1i64 << 32) + 100));
        assert_eq!(s.output_octets, Some(7));
        assert_eq!(s.event_at, 1_700_000_600);
        assert_eq!(s.started_at, 1_700_000_000);
        assert_eq!(s.session_time, Some(600));
        assert_eq!(s.terminate_cause, None);
    }

    #[test]
    fn a_stop_without_counters_keeps_the_stored_totals() {
        let mut p = packet(STATUS_STOP);
        p.terminate_cause = Some(1);
        let s = session(change(&p, NOW).unwrap());
        assert_eq!(s.event, SessionEvent::Stop);
        assert_eq!(s.input_octets, None, "None = keep what is stored");
        assert_eq!(s.output_octets, None);
        assert_eq!(s.terminate_cause.as_deref(), Some("User-Request"));
        assert_eq!(s.started_at, NOW);
    }

    #[test]
    fn a_start_never_carries_counters() {
        let mut p = packet(STATUS_START);
        p.input_octets = Some(99);
        p.session_time = Some(50);
        let s = session(change(&p, NOW).unwrap());
        assert_eq!(s.event, SessionEvent::Start);
        assert_eq!(s.input_octets, None);
        assert_eq!(s.started_at, NOW, "a Start happens at its event time");
    }

    #[test]
    fn accounting_on_and_off_close_the_nas_sessions() {
        let on = change(&packet(STATUS_ACCOUNTING_ON), NOW).unwrap();
        assert_eq!(
            on,
            Change::NasRestart(NasRestart {
                nas_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                at: NOW,
                terminate_cause: "NAS-Reboot".into(),
                on: true,
            })
        );
        let mut off = packet(STATUS_ACCOUNTING_OFF);
        off.terminate_cause = Some(7);
        off.unique_session_id = None;
        match change(&off, NOW).unwrap() {
            Change::NasRestart(r) => {
                assert!(!r.on);
                assert_eq!(r.terminate_cause, "Admin-Reboot");
            }
            other => panic!("{other:?}"),
        }
        let mut no_nas = packet(STATUS_ACCOUNTING_ON);
        no_nas.nas_ip = None;
        assert_eq!(
            change(&no_nas, NOW).unwrap_err().to_string(),
            "NAS-IP-Address is missing"
        );
    }

    #[test]
    fn session_packets_need_their_keys() {
        let mut p = packet(STATUS_START);
        p.unique_session_id = Some(String::new());
        assert_eq!(
            change(&p, NOW).unwrap_err().to_string(),
            "Acct-Unique-Session-Id is missing"
        );
        let mut p = packet(STATUS_STOP);
        p.session_id = None;
        assert_eq!(change(&p, NOW).unwrap_err().attribute, "Acct-Session-Id");
        let mut p = packet(STATUS_INTERIM_UPDATE);
        p.nas_ip = None;
        assert_eq!(change(&p, NOW).unwrap_err().attribute, "NAS-IP-Address");
        let p = AccountingPacket::default();
        assert_eq!(change(&p, NOW).unwrap_err().attribute, "Acct-Status-Type");
    }

    #[test]
    fn other_status_types_are_not_recorded() {
        assert_eq!(
            change(&packet(15), NOW).unwrap(),
            Change::Ignore { status_type: 15 }
        );
    }

    #[test]
    fn names_follow_the_dictionary() {
        let mut p = packet(STATUS_START);
        p.nas_port = Some(15728641);
        p.nas_port_type = Some(15);
        p.service_type = Some(2);
        p.framed_protocol = Some(1);
        p.acct_authentic = Some(1);
        let s = session(change(&p, NOW).unwrap());
        assert_eq!(s.nas_port_id.as_deref(), Some("15728641"));
        assert_eq!(s.nas_port_type.as_deref(), Some("Ethernet"));
        assert_eq!(s.service_type.as_deref(), Some("Framed-User"));
        assert_eq!(s.framed_protocol.as_deref(), Some("PPP"));
        assert_eq!(s.acct_authentic.as_deref(), Some("RADIUS"));
        assert_eq!(terminate_cause_name(99), "99");
        // NAS-Port-Id wins over NAS-Port.
        p.nas_port_id = Some("<pppoe-alice>".into());
        let s = session(change(&p, NOW).unwrap());
        assert_eq!(s.nas_port_id.as_deref(), Some("<pppoe-alice>"));
    }
}
