//! Packets for the accounting store's unit tests.

use std::net::{IpAddr, Ipv4Addr};

use crate::accounting::{Change, NasRestart, SessionChange, SessionEvent};

pub(super) const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// A packet of session `unique_id` of subscriber `username` (None: a
/// session nobody logged in to).
pub(super) fn session(event: SessionEvent, unique_id: &str, username: Option<&str>) -> Change {
    Change::Session(Box::new(SessionChange {
        event,
        unique_id: unique_id.to_owned(),
        session_id: format!("sid-{unique_id}"),
        username: username.map(str::to_owned),
        nas_ip: NAS,
        nas_port_id: None,
        nas_port_type: None,
        event_at: 1_700_000_000,
        started_at: 1_700_000_000,
        session_time: None,
        input_octets: None,
        output_octets: None,
        input_wraps: false,
        output_wraps: false,
        terminate_cause: None,
        called_station_id: None,
        calling_station_id: None,
        framed_ip: None,
        acct_authentic: None,
        service_type: None,
        framed_protocol: None,
        connect_info: None,
        class: None,
    }))
}

pub(super) fn interim(unique_id: &str, username: &str) -> Change {
    session(SessionEvent::Interim, unique_id, Some(username))
}

pub(super) fn nas_restart() -> Change {
    Change::NasRestart(NasRestart {
        nas_ip: NAS,
        at: 1_700_000_000,
        terminate_cause: "NAS-Reboot".into(),
        on: true,
    })
}
