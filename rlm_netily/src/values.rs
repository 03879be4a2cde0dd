//! The request values the glue consumes: plain Rust, no pointers; text is
//! borrowed from the request for the length of one module call.

use std::net::Ipv4Addr;

use netily_core::acct_unique::{self, SessionAttributes};

use crate::request::{Request, Text};
use crate::sys;

/// Attribute numbers bindgen does not export (fixed by RFC 2865 and the
/// FreeRADIUS internal dictionary).
const SERVICE_TYPE: u32 = 6;
const FRAMED_PROTOCOL: u32 = 7;
const CLASS: u32 = 25;
const NAS_PORT_TYPE: u32 = 61;
const CONNECT_INFO: u32 = 77;
const NAS_IDENTIFIER: u32 = 32;
const NAS_IPV6_ADDRESS: u32 = 95;
/// `Module-Failure-Message` (dictionary.freeradius.internal): why a module
/// (pap, chap, mschap, ...) refused; FreeRADIUS adds it to the request list.
const MODULE_FAILURE_MESSAGE: u32 = 1076;

/// What authorize looks at in an Access-Request (only these: it runs for
/// every login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessValues<'r> {
    pub username: Text<'r>,
    pub calling_station_id: Text<'r>,
    /// NAS-IP-Address: simultaneous use tells a reconnect on the same NAS
    /// from a session on another.
    pub nas_ip: Option<Ipv4Addr>,
}

impl<'r> AccessValues<'r> {
    pub fn read(request: &'r Request<'_>) -> AccessValues<'r> {
        AccessValues {
            username: request.text(sys::PW_USER_NAME),
            calling_station_id: request.text(sys::PW_CALLING_STATION_ID),
            nas_ip: request.ipv4(sys::PW_NAS_IP_ADDRESS),
        }
    }
}

/// What the authentication log records about an Access-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAuthValues<'r> {
    pub access: AccessValues<'r>,
    pub called_station_id: Text<'r>,
    /// The first module failure of the request (why pap/chap/mschap refused).
    pub module_failure: Text<'r>,
}

impl<'r> PostAuthValues<'r> {
    pub fn read(request: &'r Request<'_>) -> PostAuthValues<'r> {
        PostAuthValues {
            access: AccessValues::read(request),
            called_station_id: request.text(sys::PW_CALLED_STATION_ID),
            module_failure: request.text(MODULE_FAILURE_MESSAGE),
        }
    }
}

/// What an Accounting-Request carries that Netily records (raw: the
/// gigawords arithmetic and every rule are netily-core's `accounting`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountingValues<'r> {
    /// Acct-Status-Type: 1 Start, 2 Stop, 3 Interim-Update, 7 On, 8 Off.
    pub status_type: Option<u32>,
    pub username: Text<'r>,
    pub session_id: Text<'r>,
    /// Set in preacct: by this module (see `acct_unique_session_id`), or by
    /// the stock `acct_unique` policy where a site still calls it.
    pub unique_session_id: Text<'r>,
    pub nas_ip: Option<Ipv4Addr>,
    pub nas_port_id: Text<'r>,
    pub nas_port: Option<u32>,
    pub nas_port_type: Option<u32>,
    pub called_station_id: Text<'r>,
    pub calling_station_id: Text<'r>,
    pub framed_ip: Option<Ipv4Addr>,
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
    pub connect_info: Text<'r>,
    pub class: Text<'r>,
}

impl<'r> AccountingValues<'r> {
    pub fn read(request: &'r Request<'_>) -> AccountingValues<'r> {
        AccountingValues {
            status_type: request.integer(sys::PW_ACCT_STATUS_TYPE),
            username: request.text(sys::PW_USER_NAME),
            session_id: request.text(sys::PW_ACCT_SESSION_ID),
            unique_session_id: request.text(sys::PW_ACCT_UNIQUE_SESSION_ID),
            nas_ip: request.ipv4(sys::PW_NAS_IP_ADDRESS),
            nas_port_id: request.text(sys::PW_NAS_PORT_ID),
            nas_port: request.integer(sys::PW_NAS_PORT),
            nas_port_type: request.integer(NAS_PORT_TYPE),
            called_station_id: request.text(sys::PW_CALLED_STATION_ID),
            calling_station_id: request.text(sys::PW_CALLING_STATION_ID),
            framed_ip: request.ipv4(sys::PW_FRAMED_IP_ADDRESS),
            session_time: request.integer(sys::PW_ACCT_SESSION_TIME),
            input_octets: request.integer(sys::PW_ACCT_INPUT_OCTETS),
            input_gigawords: request.integer(sys::PW_ACCT_INPUT_GIGAWORDS),
            output_octets: request.integer(sys::PW_ACCT_OUTPUT_OCTETS),
            output_gigawords: request.integer(sys::PW_ACCT_OUTPUT_GIGAWORDS),
            terminate_cause: request.integer(sys::PW_ACCT_TERMINATE_CAUSE),
            event_timestamp: request.integer(sys::PW_EVENT_TIMESTAMP),
            delay_time: request.integer(sys::PW_ACCT_DELAY_TIME),
            acct_authentic: request.integer(sys::PW_ACCT_AUTHENTIC),
            service_type: request.integer(SERVICE_TYPE),
            framed_protocol: request.integer(FRAMED_PROTOCOL),
            connect_info: request.text(CONNECT_INFO),
            class: request.text(CLASS),
        }
    }
}

/// The Acct-Unique-Session-Id the stock `acct_unique` policy would give
/// this packet; None when it has one already.
pub fn acct_unique_session_id(request: &Request<'_>) -> Option<String> {
    if request.bytes(sys::PW_ACCT_UNIQUE_SESSION_ID).is_some() {
        return None;
    }
    Some(acct_unique::acct_unique_session_id(&SessionAttributes {
        class: request.bytes(CLASS),
        username: request.bytes(sys::PW_USER_NAME),
        session_id: request.bytes(sys::PW_ACCT_SESSION_ID),
        nas_ipv6: request.ipv6(NAS_IPV6_ADDRESS),
        nas_ip: request.ipv4(sys::PW_NAS_IP_ADDRESS),
        nas_identifier: request.bytes(NAS_IDENTIFIER),
        nas_port_id: request.bytes(sys::PW_NAS_PORT_ID),
        nas_port: request.integer(sys::PW_NAS_PORT),
    }))
}
