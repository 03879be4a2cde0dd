//! OpenVPN's status file (status-version 3) and the heartbeat rule.
//!
//! OpenVPN rewrites the file in place every few seconds; a read is complete
//! only when it ends with `END`. Keepalive pings raise Bytes Received, so a
//! router whose received counter keeps moving is alive; one whose counter
//! stands still for `stale_after` is stale.

use std::collections::HashMap;

/// One CLIENT_LIST row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusClient {
    pub common_name: String,
    pub real_address: String,
    pub virtual_address: String,
    pub bytes_received: i64,
    pub bytes_sent: i64,
}

/// The clients in a complete status file; None if the read caught OpenVPN
/// mid-rewrite (no END) or the file is not version 3.
pub fn parse_status(text: &str) -> Option<Vec<StatusClient>> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    if lines.clone().rev().find(|l| !l.is_empty()) != Some("END") {
        return None;
    }
    let mut clients = Vec::new();
    for line in lines.by_ref() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.first() != Some(&"CLIENT_LIST") {
            continue;
        }
        // CLIENT_LIST, CN, Real Address, Virtual Address, Virtual IPv6,
        // Bytes Received, Bytes Sent, ...
        if f.len() < 7 {
            return None;
        }
        clients.push(StatusClient {
            common_name: f[1].to_string(),
            real_address: f[2].to_string(),
            virtual_address: f[3].to_string(),
            bytes_received: f[5].parse().ok()?,
            bytes_sent: f[6].parse().ok()?,
        });
    }
    Some(clients)
}

/// What to tell the database about one client after a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beat {
    /// Counters moved: alive now.
    Moving(StatusClient),
    /// Counters have not moved for `stale_after` (reported once).
    Stale(StatusClient),
}

#[derive(Debug, Default)]
pub struct HeartbeatTracker {
    /// real address -> (bytes received, when it last moved, stale reported)
    seen: HashMap<String, (i64, i64, bool)>,
}

impl HeartbeatTracker {
    pub fn update(&mut self, clients: Vec<StatusClient>, now: i64, stale_after: i64) -> Vec<Beat> {
        let mut beats = Vec::new();
        let mut present = HashMap::with_capacity(clients.len());
        for c in clients {
            let entry = match self.seen.get(&c.real_address) {
                Some(&(bytes, _, _)) if bytes != c.bytes_received => {
                    beats.push(Beat::Moving(c.clone()));
                    (c.bytes_received, now, false)
                }
                Some(&(bytes, moved_at, reported)) => {
                    // Saturating: a clock that jumps by centuries must not overflow.
                    if !reported && now.saturating_sub(moved_at) >= stale_after {
                        beats.push(Beat::Stale(c.clone()));
                        (bytes, moved_at, true)
                    } else {
                        (bytes, moved_at, reported)
                    }
                }
                None => {
                    beats.push(Beat::Moving(c.clone()));
                    (c.bytes_received, now, false)
                }
            };
            present.insert(c.real_address, entry);
        }
        self.seen = present;
        beats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "TITLE\tOpenVPN 2.6.14\nTIME\t2026-11-28 03:00:00\t1795834800\n\
HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher\n\
CLIENT_LIST\ttower-7\t172.31.1.2:40000\t10.8.0.8\t\t5000\t6000\t2026-11-28 02:59:00\t1795834740\tUNDEF\t0\t0\tAES-256-GCM\n\
HEADER\tROUTING_TABLE\tVirtual Address\tCommon Name\tReal Address\tLast Ref\tLast Ref (time_t)\n\
ROUTING_TABLE\t10.8.0.8\ttower-7\t172.31.1.2:40000\t2026-11-28 03:00:00\t1795834800\n\
GLOBAL_STATS\tMax bcast/mcast queue length\t0\nEND\n";

    #[test]
    fn complete_file_parses() {
        let c = parse_status(SAMPLE).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].common_name, "tower-7");
        assert_eq!(c[0].real_address, "172.31.1.2:40000");
        assert_eq!(c[0].virtual_address, "10.8.0.8");
        assert_eq!((c[0].bytes_received, c[0].bytes_sent), (5000, 6000));
    }

    #[test]
    fn a_read_without_end_is_ignored() {
        let cut = &SAMPLE[..SAMPLE.len() - 4];
        assert_eq!(parse_status(cut), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn a_clock_jumping_to_either_end_of_time_neither_overflows_nor_goes_stale_wrongly() {
        let client = StatusClient {
            common_name: "tower-7".into(),
            real_address: "172.31.1.2:40000".into(),
            virtual_address: "10.8.0.8".into(),
            bytes_received: 5,
            bytes_sent: 6,
        };
        let mut t = HeartbeatTracker::default();
        t.update(vec![client.clone()], i64::MAX, 60);
        assert!(t.update(vec![client.clone()], i64::MIN, 60).is_empty());
        let beats = t.update(vec![client.clone()], i64::MAX, i64::MAX);
        assert!(beats.is_empty(), "{beats:?}");
    }

    #[test]
    fn moving_counters_beat_still_ones_go_stale_once() {
        let c = |bytes| StatusClient {
            common_name: "r".into(),
            real_address: "1.1.1.1:1".into(),
            virtual_address: "10.8.0.2".into(),
            bytes_received: bytes,
            bytes_sent: 0,
        };
        let mut t = HeartbeatTracker::default();
        assert_eq!(t.update(vec![c(10)], 100, 30), vec![Beat::Moving(c(10))]);
        assert_eq!(t.update(vec![c(20)], 105, 30), vec![Beat::Moving(c(20))]);
        assert_eq!(t.update(vec![c(20)], 120, 30), vec![]);
        assert_eq!(t.update(vec![c(20)], 135, 30), vec![Beat::Stale(c(20))]);
        assert_eq!(
            t.update(vec![c(20)], 140, 30),
            vec![],
            "stale reported once"
        );
        assert_eq!(t.update(vec![c(25)], 145, 30), vec![Beat::Moving(c(25))]);
        assert_eq!(t.update(vec![], 150, 30), vec![]);
        assert_eq!(
            t.update(vec![c(25)], 155, 30),
            vec![Beat::Moving(c(25))],
            "a new session starts fresh"
        );
    }
}
