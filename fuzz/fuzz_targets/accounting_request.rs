//! An Accounting-Request's values (as rlm_netily reads them from any NAS)
//! through `accounting::read`. What it decides is always storable and
//! within the rules of the module docs: an event time in bounds or the
//! arrival time (reported), a session start not after the event and not
//! before 2000 unless the clock itself is, octet totals within 2^50 (larger
//! ones reported and dropped), no counters on a Start, the identifiers
//! carried exactly.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netily_core::accounting::{
    read, AccountingPacket, Anomaly, Change, SessionEvent, EARLIEST_EVENT, MAX_CLOCK_AHEAD,
    MAX_SESSION_OCTETS,
};

/// The packet's values, as the module hands them over (all optional).
#[derive(Debug, Arbitrary)]
struct Values {
    status_type: Option<u32>,
    unique_session_id: Option<String>,
    session_id: Option<String>,
    username: Option<String>,
    nas_ip: Option<IpAddr>,
    nas_port_id: Option<String>,
    nas_port: Option<u32>,
    nas_port_type: Option<u32>,
    called_station_id: Option<String>,
    calling_station_id: Option<String>,
    framed_ip: Option<IpAddr>,
    session_time: Option<u32>,
    input_octets: Option<u32>,
    input_gigawords: Option<u32>,
    output_octets: Option<u32>,
    output_gigawords: Option<u32>,
    terminate_cause: Option<u32>,
    event_timestamp: Option<u32>,
    delay_time: Option<u32>,
    acct_authentic: Option<u32>,
    service_type: Option<u32>,
    framed_protocol: Option<u32>,
    connect_info: Option<String>,
    class: Option<String>,
    /// The arrival time: the node's clock, any time from 1970 to 2^40.
    now: u64,
}

fuzz_target!(|v: Values| {
    let now = i64::try_from(v.now % (1 << 40)).unwrap_or(0);
    let p = AccountingPacket {
        status_type: v.status_type,
        unique_session_id: v.unique_session_id,
        session_id: v.session_id,
        username: v.username,
        nas_ip: v.nas_ip,
        nas_port_id: v.nas_port_id,
        nas_port: v.nas_port,
        nas_port_type: v.nas_port_type,
        called_station_id: v.called_station_id,
        calling_station_id: v.calling_station_id,
        framed_ip: v.framed_ip,
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
        connect_info: v.connect_info,
        class: v.class,
    };
    let Ok(reading) = read(&p, now) else {
        return;
    };
    let replaced_time = reading
        .anomalies
        .iter()
        .any(|a| matches!(a, Anomaly::EventTime(_)));
    let event_time_ok = |t: i64| {
        if replaced_time {
            t == now
        } else {
            (EARLIEST_EVENT..=now + MAX_CLOCK_AHEAD).contains(&t)
        }
    };
    match reading.change {
        Change::Ignore { status_type } => assert_eq!(Some(status_type), p.status_type),
        Change::NasRestart(r) => {
            assert_eq!(Some(r.nas_ip), p.nas_ip);
            assert!(event_time_ok(r.at), "{r:?} now {now}");
            assert!(!r.terminate_cause.is_empty());
        }
        Change::Session(s) => {
            assert_eq!(Some(&s.unique_id), p.unique_session_id.as_ref());
            assert_eq!(Some(&s.session_id), p.session_id.as_ref());
            assert!(!s.unique_id.is_empty() && !s.session_id.is_empty());
            assert!(event_time_ok(s.event_at), "{s:?} now {now}");
            assert!(s.started_at <= s.event_at);
            assert!(s.started_at >= EARLIEST_EVENT.min(s.event_at), "{s:?}");
            if let (Some(t), false) = (s.session_time, s.event == SessionEvent::Start) {
                assert_eq!(s.started_at, s.event_at - t);
            }
            for total in [s.input_octets, s.output_octets].into_iter().flatten() {
                assert!((0..=MAX_SESSION_OCTETS as i64).contains(&total));
            }
            if s.event == SessionEvent::Start {
                assert_eq!((s.input_octets, s.output_octets), (None, None));
                assert_eq!(s.started_at, s.event_at);
            }
            if s.event != SessionEvent::Stop {
                assert_eq!(s.terminate_cause, None);
            }
        }
    }
});
