//! A NAS sending Accounting-Requests over UDP as a router does: each packet
//! retransmitted until it is answered, and the caller told which were
//! acknowledged and how long that took. For the fault tests: what was
//! acknowledged is what must be in radacct afterwards.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use netily_core::radius::{self, Builder};

use crate::freeradius::SECRET;

/// One session's accounting, as a router reports it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub id: String,
    pub nas_ip: [u8; 4],
}

/// `Acct-Status-Type` values.
pub const START: u32 = 1;
pub const STOP: u32 = 2;
pub const INTERIM: u32 = 3;

/// A NAS's socket and packet buffer.
pub struct AcctNas {
    socket: UdpSocket,
    server: SocketAddr,
    builder: Builder,
    id: u8,
}

impl AcctNas {
    pub fn new(server: SocketAddr) -> std::io::Result<AcctNas> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        Ok(AcctNas {
            socket,
            server,
            builder: Builder::new(),
            id: 0,
        })
    }

    /// Sends `status` for `session` with totals `octets` in and out and
    /// `seconds` online, retransmitting every `retry` (same identifier and
    /// authenticator, as RFC 5080 asks) until an Accounting-Response that
    /// verifies arrives, or `give_up` passes. The time to the answer, or
    /// None.
    pub fn send(
        &mut self,
        session: &Session,
        status: u32,
        octets: u32,
        seconds: u32,
        retry: Duration,
        give_up: Duration,
    ) -> Option<Duration> {
        self.id = self.id.wrapping_add(1);
        let b = &mut self.builder;
        b.start(radius::ACCOUNTING_REQUEST, self.id, &[0; 16]);
        b.attr(radius::USER_NAME, session.user.as_bytes());
        b.attr(radius::ACCT_SESSION_ID, session.id.as_bytes());
        b.attr(radius::NAS_IP_ADDRESS, &session.nas_ip);
        b.attr_u32(radius::ACCT_STATUS_TYPE, status);
        if status != START {
            b.attr_u32(radius::ACCT_SESSION_TIME, seconds);
            b.attr_u32(radius::ACCT_INPUT_OCTETS, octets);
            b.attr_u32(radius::ACCT_OUTPUT_OCTETS, octets);
        }
        let (packet, auth) = b.finish_accounting(SECRET.as_bytes());
        let packet = packet.to_vec();
        let started = Instant::now();
        let mut buf = [0u8; radius::MAX_PACKET];
        while started.elapsed() < give_up {
            if self.socket.send_to(&packet, self.server).is_err() {
                std::thread::sleep(retry);
                continue;
            }
            let until = Instant::now() + retry;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let _ = self.socket.set_read_timeout(Some(left));
                let Ok(n) = self.socket.recv(&mut buf) else {
                    break;
                };
                let reply = &buf[..n];
                if radius::peek_id(reply) != Some(self.id) {
                    continue; // a late answer to an earlier packet
                }
                if let Ok(r) = radius::check_reply(reply, &auth, SECRET.as_bytes()) {
                    if r.code == radius::ACCOUNTING_RESPONSE {
                        return Some(started.elapsed());
                    }
                }
            }
        }
        None
    }
}
