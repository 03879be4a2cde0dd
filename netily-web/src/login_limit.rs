//! Failed logins, counted per operator name and per client address: after
//! `PER_NAME` failures for one name (or `PER_ADDRESS` from one address)
//! within `WINDOW`, further attempts are refused until the oldest ages out.
//! A correct password does not get past the limit either, so guessing stays
//! capped. Memory is bounded: at most `MAX_KEYS` keys, the stalest dropped
//! first.
//!
//! Per node: behind a reverse proxy every client has the proxy's address,
//! so the per-name limit is the one that holds there.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const PER_NAME: usize = 5;
pub const PER_ADDRESS: usize = 20;
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct LoginLimit {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimit {
    /// Checks and counts an attempt at once (concurrent attempts cannot all
    /// pass the check before any is counted): `Err(seconds to wait)` when
    /// `name` or `address` is over its limit. A login that then succeeds
    /// takes its attempt back ([`LoginLimit::succeeded`]).
    pub fn attempt(&self, name: &str, address: IpAddr, now: Instant) -> Result<(), u64> {
        self.check(name, address, now)?;
        self.failed(name, address, now);
        Ok(())
    }

    /// `Err(seconds to wait)` when `name` or `address` is over its limit.
    pub fn check(&self, name: &str, address: IpAddr, now: Instant) -> Result<(), u64> {
        let mut map = self.failures.lock();
        let mut wait = 0;
        for (key, limit) in keys(name, address) {
            if let Some(times) = map.get_mut(&key) {
                prune(times, now);
                if times.len() >= limit {
                    if let Some(oldest) = times.front() {
                        let left = WINDOW.saturating_sub(now.duration_since(*oldest));
                        wait = wait.max(left.as_secs().max(1));
                    }
                }
            }
        }
        if wait > 0 {
            Err(wait)
        } else {
            Ok(())
        }
    }

    pub fn failed(&self, name: &str, address: IpAddr, now: Instant) {
        let mut map = self.failures.lock();
        for (key, limit) in keys(name, address) {
            if !map.contains_key(&key) && map.len() >= MAX_KEYS {
                evict(&mut map, now);
            }
            let times = map.entry(key).or_default();
            prune(times, now);
            times.push_back(now);
            // Only the newest `limit` matter for the decision.
            while times.len() > limit {
                times.pop_front();
            }
        }
    }

    /// A successful login clears the name's failures and takes back the
    /// address's count of this attempt (behind a proxy every operator
    /// shares one address: logins must not use up its budget).
    pub fn succeeded(&self, name: &str, address: IpAddr) {
        let mut map = self.failures.lock();
        map.remove(&name_key(name));
        if let Some(times) = map.get_mut(&format!("addr:{address}")) {
            times.pop_back();
        }
    }
}

fn name_key(name: &str) -> String {
    // Names are case-sensitive in the database; the limit is not, so
    // "Admin" and "admin" share one budget. A name longer than any operator
    // name (64) shares one key: a key is never bigger than that.
    let name: String = name.chars().take(65).collect();
    format!("name:{}", name.to_lowercase())
}

fn keys(name: &str, address: IpAddr) -> [(String, usize); 2] {
    [
        (name_key(name), PER_NAME),
        (format!("addr:{address}"), PER_ADDRESS),
    ]
}

fn prune(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

/// Makes room: drops every key whose failures have aged out, or else the
/// one whose newest failure is oldest.
fn evict(map: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
    map.retain(|_, times| {
        prune(times, now);
        !times.is_empty()
    });
    if map.len() >= MAX_KEYS {
        let stalest = map
            .iter()
            .min_by_key(|(_, times)| times.back().copied())
            .map(|(k, _)| k.clone());
        if let Some(k) = stalest {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_name_is_locked_after_five_failures_until_the_window_passes() {
        let l = LoginLimit::default();
        let t0 = Instant::now();
        for i in 0..PER_NAME {
            assert!(l.attempt("Alice", A, t0).is_ok(), "attempt {i}");
        }
        let wait = l.check("alice", B, t0).unwrap_err();
        assert_eq!(wait, WINDOW.as_secs());
        assert!(l.check("bob", A, t0).is_ok());
        assert!(l.check("alice", A, t0 + WINDOW).is_ok());
    }

    #[test]
    fn an_address_is_locked_after_twenty_failures_over_any_names() {
        let l = LoginLimit::default();
        let t0 = Instant::now();
        for i in 0..PER_ADDRESS {
            l.failed(&format!("user{i}"), A, t0);
        }
        assert!(l.check("someone", A, t0).is_err());
        assert!(l.check("someone", B, t0).is_ok());
    }

    #[test]
    fn success_clears_the_name_and_memory_stays_bounded() {
        let l = LoginLimit::default();
        let t0 = Instant::now();
        l.attempt("alice", A, t0).unwrap();
        l.succeeded("alice", A);
        assert!(!l.failures.lock().contains_key("name:alice"));
        assert!(
            l.failures.lock()["addr:192.0.2.1"].is_empty(),
            "the attempt is taken back"
        );
        for i in 0..(MAX_KEYS + 50) {
            l.failed(&format!("n{i}"), A, t0 + Duration::from_millis(i as u64));
        }
        assert!(l.failures.lock().len() <= MAX_KEYS);
    }
}
