//! What the generator sends: subscribers from a file, and the packets a
//! MikroTik NAS would send for them (PPPoE login, session accounting).

use std::fs;
use std::path::Path;

use netily_core::radius::{self as packet, Builder};

/// One subscriber's credentials.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub username: String,
    pub password: String,
}

/// Reads `username<TAB>password` lines (blank lines and `#` comments skipped).
pub fn read_subscribers(path: &Path) -> Result<Vec<Subscriber>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("users file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((u, p)) = line.split_once('\t') else {
            return Err(format!(
                "users file {} line {}: expected `username<TAB>password`",
                path.display(),
                n + 1
            ));
        };
        if u.is_empty() || u.len() > 253 || p.len() > 128 {
            return Err(format!(
                "users file {} line {}: username must be 1-253 octets and password at most 128",
                path.display(),
                n + 1
            ));
        }
        out.push(Subscriber {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    if out.is_empty() {
        return Err(format!("users file {}: no subscribers", path.display()));
    }
    Ok(out)
}

/// SplitMix64: fast, seedable, good enough for authenticators in a load test
/// (they need to differ per request, not to resist an attacker).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Seeded from the kernel, so two runs never share session ids.
    pub fn from_os() -> Rng {
        let mut b = [0u8; 8];
        if let Ok(bytes) = fs::read("/proc/sys/kernel/random/uuid") {
            for (i, c) in bytes.iter().enumerate() {
                b[i % 8] ^= c.rotate_left(i as u32 % 8);
            }
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(u64::from_le_bytes(b) ^ t ^ u64::from(std::process::id()).rotate_left(32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn authenticator(&mut self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        a[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        a
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Fixed per-run request attributes.
#[derive(Debug, Clone)]
pub struct Nas {
    pub secret: Vec<u8>,
    pub ip: [u8; 4],
    pub message_authenticator: bool,
}

/// A subscriber's device MAC, stable per subscriber index.
fn mac(index: usize) -> String {
    let i = index as u32;
    format!(
        "02-00-{:02X}-{:02X}-{:02X}-{:02X}",
        (i >> 24) & 0xff,
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

/// The PPPoE address handed out to a subscriber (100.64.0.0/10).
fn framed_ip(index: usize) -> u32 {
    0x6440_0000 | (index as u32 & 0x003f_ffff)
}

/// An Access-Request for subscriber `index` (PAP).
pub fn access_request(
    b: &mut Builder,
    nas: &Nas,
    id: u8,
    authenticator: &[u8; 16],
    index: usize,
    s: &Subscriber,
) {
    b.start(packet::ACCESS_REQUEST, id, authenticator);
    b.attr(packet::USER_NAME, s.username.as_bytes());
    b.attr(
        packet::USER_PASSWORD,
        &packet::hide_password(s.password.as_bytes(), &nas.secret, authenticator),
    );
    b.attr(packet::NAS_IP_ADDRESS, &nas.ip);
    b.attr_u32(packet::NAS_PORT, (index % 65_536) as u32);
    b.attr_u32(packet::NAS_PORT_TYPE, 15); // Ethernet (PPPoE)
    b.attr_u32(packet::SERVICE_TYPE, 2); // Framed-User
    b.attr_u32(packet::FRAMED_PROTOCOL, 1); // PPP
    b.attr(packet::CALLING_STATION_ID, mac(index).as_bytes());
    b.attr(packet::CALLED_STATION_ID, b"pppoe-bench");
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Start,
    Interim(u32),
    Stop,
}

/// One subscriber's PPPoE session, from Start through interims to Stop.
#[derive(Debug, Clone)]
pub struct Session {
    pub index: usize,
    pub session_id: String,
    pub stage: Stage,
    /// Seconds since Start, advanced 300 s per interim as a NAS would.
    pub seconds: u32,
}

impl Session {
    pub fn new(index: usize, session_id: String) -> Session {
        Session {
            index,
            session_id,
            stage: Stage::Start,
            seconds: 0,
        }
    }

    /// Moves to the next packet; false when the session has ended.
    pub fn advance(&mut self, interims: u32) -> bool {
        self.seconds += 300;
        self.stage = match self.stage {
            Stage::Start if interims > 0 => Stage::Interim(1),
            Stage::Start => Stage::Stop,
            Stage::Interim(n) if n < interims => Stage::Interim(n + 1),
            Stage::Interim(_) => Stage::Stop,
            Stage::Stop => return false,
        };
        true
    }

    /// Octets so far, growing past 4 GiB so gigawords are exercised.
    fn octets(&self) -> (u64, u64) {
        let t = u64::from(self.seconds);
        (t * 3_100_000, t * 15_700_000) // ~83 Mbit/s down after 300 s: > 2^32 octets
    }
}

/// An Accounting-Request for the session's current stage, ready for
/// `Builder::finish_accounting` (which computes its Request Authenticator).
pub fn accounting_request(
    b: &mut Builder,
    nas: &Nas,
    id: u8,
    s: &Subscriber,
    session: &Session,
    now_unix: u32,
) {
    b.start(packet::ACCOUNTING_REQUEST, id, &[0; 16]);
    b.attr(packet::USER_NAME, s.username.as_bytes());
    b.attr(packet::NAS_IP_ADDRESS, &nas.ip);
    b.attr_u32(packet::NAS_PORT, (session.index % 65_536) as u32);
    b.attr_u32(packet::NAS_PORT_TYPE, 15);
    b.attr_u32(packet::SERVICE_TYPE, 2);
    b.attr_u32(packet::FRAMED_PROTOCOL, 1);
    b.attr_u32(packet::FRAMED_IP_ADDRESS, framed_ip(session.index));
    b.attr(packet::CALLING_STATION_ID, mac(session.index).as_bytes());
    b.attr(packet::CALLED_STATION_ID, b"pppoe-bench");
    b.attr(packet::ACCT_SESSION_ID, session.session_id.as_bytes());
    b.attr_u32(packet::ACCT_AUTHENTIC, 1); // RADIUS
    let status = match session.stage {
        Stage::Start => 1,
        Stage::Stop => 2,
        Stage::Interim(_) => 3,
    };
    b.attr_u32(packet::ACCT_STATUS_TYPE, status);
    b.attr_u32(packet::EVENT_TIMESTAMP, now_unix);
    if session.stage != Stage::Start {
        let (input, output) = session.octets();
        b.attr_u32(packet::ACCT_SESSION_TIME, session.seconds);
        b.attr_u32(packet::ACCT_INPUT_OCTETS, input as u32);
        b.attr_u32(packet::ACCT_OUTPUT_OCTETS, output as u32);
        b.attr_u32(packet::ACCT_INPUT_GIGAWORDS, (input >> 32) as u32);
        b.attr_u32(packet::ACCT_OUTPUT_GIGAWORDS, (output >> 32) as u32);
    }
    if session.stage == Stage::Stop {
        b.attr_u32(packet::ACCT_TERMINATE_CAUSE, 1); // User-Request
    }
}

/// Accounting-On: the NAS (re)started, so every session it had is over.
/// Carries what a MikroTik sends with it: no user, an Acct-Session-Id
/// (RFC 2866 wants one in every Accounting-Request), the event time.
pub fn accounting_on(b: &mut Builder, nas: &Nas, id: u8, now_unix: u32) {
    b.start(packet::ACCOUNTING_REQUEST, id, &[0; 16]);
    b.attr(packet::NAS_IP_ADDRESS, &nas.ip);
    b.attr(packet::ACCT_SESSION_ID, b"00000000");
    b.attr_u32(packet::ACCT_STATUS_TYPE, 7); // Accounting-On
    b.attr_u32(packet::EVENT_TIMESTAMP, now_unix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_goes_start_interims_stop() {
        let mut s = Session::new(0, "x".into());
        let mut seen = vec![s.stage];
        while s.advance(2) {
            seen.push(s.stage);
        }
        assert_eq!(
            seen,
            vec![
                Stage::Start,
                Stage::Interim(1),
                Stage::Interim(2),
                Stage::Stop
            ]
        );
        let mut s = Session::new(0, "y".into());
        assert!(s.advance(0));
        assert_eq!(s.stage, Stage::Stop);
        assert!(!s.advance(0));
    }

    #[test]
    fn octets_pass_4_gib_by_the_first_interim() {
        let mut s = Session::new(0, "x".into());
        s.advance(1);
        assert!(s.octets().1 > u64::from(u32::MAX));
    }

    #[test]
    fn accounting_stop_carries_gigawords_and_cause() {
        let nas = Nas {
            secret: b"testing123".to_vec(),
            ip: [127, 0, 0, 1],
            message_authenticator: false,
        };
        let sub = Subscriber {
            username: "synth0000001".into(),
            password: "p".into(),
        };
        let mut s = Session::new(5, "ABC".into());
        s.advance(0);
        let mut b = Builder::new();
        accounting_request(&mut b, &nas, 3, &sub, &s, 1_700_000_000);
        // Parse our own attributes back.
        let (pkt, _) = b.finish_accounting(&nas.secret);
        let mut found = std::collections::HashMap::new();
        let mut a = &pkt[20..];
        while a.len() >= 2 {
            found.insert(a[0], a[2..a[1] as usize].to_vec());
            a = &a[a[1] as usize..];
        }
        assert_eq!(found[&packet::ACCT_STATUS_TYPE], vec![0, 0, 0, 2]);
        assert_eq!(found[&packet::ACCT_TERMINATE_CAUSE], vec![0, 0, 0, 1]);
        assert_eq!(found[&packet::ACCT_OUTPUT_GIGAWORDS], vec![0, 0, 0, 1]);
        assert_eq!(found[&packet::ACCT_SESSION_ID], b"ABC".to_vec());
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<u32> = (0..1000).collect();
        Rng::new(1).shuffle(&mut v);
        assert_ne!(v, (0..1000).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..1000).collect::<Vec<_>>());
    }
}
