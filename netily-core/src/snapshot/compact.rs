//! One subscriber as the snapshot keeps it: 120 bytes inline plus one
//! allocation for its texts, instead of a `SubscriberRecord`'s ~750 bytes
//! and a dozen allocations.
//!
//! Why: every node holds every subscriber (1,000,000 and more). The plan is
//! shared (one `Arc` per plan, not a copy per subscriber), the texts are one
//! boxed byte string with length prefixes, absent values are flags instead
//! of `Option`s, and what few subscribers have (unpaid invoices, open
//! sessions, override rows) is behind one pointer that is null for the rest.
//! A lookup decodes the record back into a `SubscriberRecord`, so the
//! decision code and its callers see the same type as before.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::model::{
    CheckRules, OpenSession, Plan, ReplyOverride, SkippedReply, Subscriber, SubscriberRecord,
    SubscriberStatus, Subscription, UnpaidInvoice,
};

const HAS_SUBSCRIPTION: u8 = 1;
const ACTIVE: u8 = 1 << 1;
const HAS_EXPIRY: u8 = 1 << 2;
const HAS_USAGE_CYCLE: u8 = 1 << 3;
const HAS_HASH: u8 = 1 << 4;
const HAS_MAC: u8 = 1 << 5;
const HAS_STATIC_IP: u8 = 1 << 6;

/// A text longer than this is cut (no username, password or name is near
/// it: the columns are short and the RADIUS attribute holds 253 bytes).
const MAX_TEXT: usize = u16::MAX as usize;

/// What most subscribers have none of.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rare {
    pub unpaid_invoices: Vec<UnpaidInvoice>,
    pub group_replies: Vec<ReplyOverride>,
    pub user_replies: Vec<ReplyOverride>,
    pub skipped_replies: Vec<SkippedReply>,
    pub user_checks: Vec<ReplyOverride>,
    pub group_checks: Vec<ReplyOverride>,
    pub check_rules: CheckRules,
}

impl Rare {
    fn is_empty(&self) -> bool {
        *self == Rare::default()
    }

    /// Drops spare capacity: a list built by pushes has room for 4.
    fn shrink(&mut self) {
        self.unpaid_invoices.shrink_to_fit();
        for rows in [
            &mut self.group_replies,
            &mut self.user_replies,
            &mut self.user_checks,
            &mut self.group_checks,
        ] {
            rows.shrink_to_fit();
        }
        self.skipped_replies.shrink_to_fit();
    }
}

/// The open sessions of one subscriber, in one allocation. Each: its start
/// (i64, little-endian), a byte of [`Sessions`] flags, the unique id (16
/// bytes when it is 32 lowercase hex digits, as the stock `acct_unique`
/// md5 is, else a text), the NAS address (4 bytes when it is a plain IPv4
/// address, else a text), then the station when known. On a network where
/// most subscribers are online this is most records' second allocation:
/// 16 + 4 bytes and one allocation less per session than texts in a list.
#[derive(Debug, Clone, PartialEq)]
struct Sessions(Box<[u8]>);

impl Sessions {
    const HEX_ID: u8 = 1;
    const IPV4_NAS: u8 = 1 << 1;
    const HAS_STATION: u8 = 1 << 2;

    fn encode(open: Vec<OpenSession>) -> Option<Sessions> {
        if open.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(open.len() * 48);
        for s in open {
            out.extend_from_slice(&s.started_at.to_le_bytes());
            let id = hex_id(&s.acct_unique_id);
            let nas = s
                .nas_ip
                .parse::<Ipv4Addr>()
                .ok()
                .filter(|ip| ip.to_string() == s.nas_ip);
            let mut flags = 0;
            if id.is_some() {
                flags |= Self::HEX_ID;
            }
            if nas.is_some() {
                flags |= Self::IPV4_NAS;
            }
            if s.calling_station_id.is_some() {
                flags |= Self::HAS_STATION;
            }
            out.push(flags);
            match id {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => push_text(&mut out, &s.acct_unique_id),
            }
            match nas {
                Some(ip) => out.extend_from_slice(&ip.octets()),
                None => push_text(&mut out, &s.nas_ip),
            }
            if let Some(station) = &s.calling_station_id {
                push_text(&mut out, station);
            }
        }
        Some(Sessions(out.into_boxed_slice()))
    }

    fn decode(&self) -> Vec<OpenSession> {
        let mut open = Vec::new();
        let mut rest = Texts(&self.0);
        // Written by `encode`: a short read is not possible; stop if it were.
        while let Some(session) = Self::next(&mut rest) {
            open.push(session);
        }
        open
    }

    fn next(rest: &mut Texts<'_>) -> Option<OpenSession> {
        let started_at = i64::from_le_bytes(rest.array()?);
        let [flags] = rest.array()?;
        let acct_unique_id = if flags & Self::HEX_ID != 0 {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            let bytes: [u8; 16] = rest.array()?;
            let mut id = String::with_capacity(32);
            for b in bytes {
                id.push(char::from(DIGITS[usize::from(b >> 4)]));
                id.push(char::from(DIGITS[usize::from(b & 15)]));
            }
            id
        } else {
            rest.next()?.to_owned()
        };
        let nas_ip = if flags & Self::IPV4_NAS != 0 {
            Ipv4Addr::from(rest.array::<4>()?).to_string()
        } else {
            rest.next()?.to_owned()
        };
        let calling_station_id = if flags & Self::HAS_STATION != 0 {
            Some(rest.next()?.to_owned())
        } else {
            None
        };
        Some(OpenSession {
            acct_unique_id,
            nas_ip,
            calling_station_id,
            started_at,
        })
    }
}

/// `id` as 16 bytes when it is 32 lowercase hex digits.
fn hex_id(id: &str) -> Option<[u8; 16]> {
    let digits = id.as_bytes();
    if digits.len() != 32 {
        return None;
    }
    let value = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; 16];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (value(pair[0])? << 4) | value(pair[1])?;
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Compact {
    id: i64,
    subscription_id: i64,
    plan_id: i64,
    starts_at: i64,
    expires_at: i64,
    cycle_start: i64,
    usage_cycle_start: i64,
    cycle_usage_bytes: u64,
    plan: Option<Arc<Plan>>,
    /// username, password, full_name, then password_hash and mac_binding
    /// when their flags say so: each a little-endian u16 length and bytes.
    texts: Box<[u8]>,
    rare: Option<Box<Rare>>,
    /// Open sessions: on a network where most subscribers are online, most
    /// records have one, so they are compact too (not in `rare`).
    sessions: Option<Sessions>,
    static_ip: u32,
    flags: u8,
    status: SubscriberStatus,
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..end]);
}

/// The texts of `bytes` in order.
struct Texts<'a>(&'a [u8]);

impl Texts<'_> {
    /// The next `N` bytes as they are.
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (bytes, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*bytes)
    }
}

impl<'a> Iterator for Texts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (len, rest) = self.0.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (text, rest) = rest.split_at(len);
        self.0 = rest;
        // Written from a &str on a char boundary: always valid.
        std::str::from_utf8(text).ok()
    }
}

impl Compact {
    /// `record` made compact; its plan is `plan` (the shared copy of it).
    pub fn new(record: SubscriberRecord, plan: Option<Arc<Plan>>) -> Compact {
        let mut rare = Rare {
            unpaid_invoices: record.unpaid_invoices,
            group_replies: record.group_replies,
            user_replies: record.user_replies,
            skipped_replies: record.skipped_replies,
            user_checks: record.user_checks,
            group_checks: record.group_checks,
            check_rules: record.check_rules,
        };
        rare.shrink();
        let (s, subscription) = (record.subscriber, record.subscription);
        let (usage_cycle_start, cycle_usage_bytes) =
            (record.usage_cycle_start, record.cycle_usage_bytes);
        let mut flags = 0;
        let mut texts =
            Vec::with_capacity(6 + s.username.len() + s.password.len() + s.full_name.len());
        for t in [&s.username, &s.password, &s.full_name] {
            push_text(&mut texts, t);
        }
        if let Some(h) = &s.password_hash {
            flags |= HAS_HASH;
            push_text(&mut texts, h);
        }
        if let Some(m) = &s.mac_binding {
            flags |= HAS_MAC;
            push_text(&mut texts, m);
        }
        if s.static_ip.is_some() {
            flags |= HAS_STATIC_IP;
        }
        if usage_cycle_start.is_some() {
            flags |= HAS_USAGE_CYCLE;
        }
        if subscription.is_some() {
            flags |= HAS_SUBSCRIPTION;
        }
        let sub = subscription.unwrap_or(Subscription {
            id: 0,
            plan_id: 0,
            starts_at: 0,
            expires_at: None,
            active: false,
            cycle_start: 0,
        });
        if sub.active {
            flags |= ACTIVE;
        }
        if sub.expires_at.is_some() {
            flags |= HAS_EXPIRY;
        }
        Compact {
            id: s.id,
            subscription_id: sub.id,
            plan_id: sub.plan_id,
            starts_at: sub.starts_at,
            expires_at: sub.expires_at.unwrap_or(0),
            cycle_start: sub.cycle_start,
            usage_cycle_start: usage_cycle_start.unwrap_or(0),
            cycle_usage_bytes,
            plan,
            texts: texts.into_boxed_slice(),
            rare: (!rare.is_empty()).then(|| Box::new(rare)),
            sessions: Sessions::encode(record.open_sessions),
            static_ip: s.static_ip.map_or(0, u32::from),
            flags,
            status: s.status,
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    pub fn username(&self) -> &str {
        Texts(&self.texts).next().unwrap_or("")
    }

    pub fn plan(&self) -> Option<&Arc<Plan>> {
        self.plan.as_ref()
    }

    pub fn set_plan(&mut self, plan: Arc<Plan>) {
        self.plan = Some(plan);
    }

    pub fn rare(&self) -> Option<&Rare> {
        self.rare.as_deref()
    }

    pub fn is_online(&self) -> bool {
        self.sessions.is_some()
    }

    pub fn open_sessions(&self) -> Vec<OpenSession> {
        self.sessions
            .as_ref()
            .map(Sessions::decode)
            .unwrap_or_default()
    }

    /// Changes the open sessions.
    pub fn with_sessions(&mut self, change: impl FnOnce(&mut Vec<OpenSession>)) {
        let mut open = self.open_sessions();
        change(&mut open);
        self.sessions = Sessions::encode(open);
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The record as the rules read it.
    pub fn record(&self) -> SubscriberRecord {
        let mut texts = Texts(&self.texts);
        let mut text = || texts.next().unwrap_or("").to_owned();
        let (username, password, full_name) = (text(), text(), text());
        let password_hash = self.has(HAS_HASH).then(&mut text);
        let mac_binding = self.has(HAS_MAC).then(&mut text);
        let rare = self.rare.as_deref().cloned().unwrap_or_default();
        SubscriberRecord {
            subscriber: Subscriber {
                id: self.id,
                username,
                password,
                password_hash,
                full_name,
                status: self.status,
                mac_binding,
                static_ip: self
                    .has(HAS_STATIC_IP)
                    .then(|| Ipv4Addr::from(self.static_ip)),
            },
            plan: self.plan.as_deref().cloned(),
            subscription: self.has(HAS_SUBSCRIPTION).then(|| Subscription {
                id: self.subscription_id,
                plan_id: self.plan_id,
                starts_at: self.starts_at,
                expires_at: self.has(HAS_EXPIRY).then_some(self.expires_at),
                active: self.has(ACTIVE),
                cycle_start: self.cycle_start,
            }),
            unpaid_invoices: rare.unpaid_invoices,
            cycle_usage_bytes: self.cycle_usage_bytes,
            usage_cycle_start: self.has(HAS_USAGE_CYCLE).then_some(self.usage_cycle_start),
            open_sessions: self.open_sessions(),
            group_replies: rare.group_replies,
            user_replies: rare.user_replies,
            skipped_replies: rare.skipped_replies,
            user_checks: rare.user_checks,
            group_checks: rare.group_checks,
            check_rules: rare.check_rules,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> SubscriberRecord {
        serde_json::from_str(
            r#"{"subscriber": {"id": 7, "username": "ålice", "password": "pw", "full_name": "Ålice A",
                               "status": "suspended", "mac_binding": "AA-BB", "static_ip": "10.1.2.3"},
                "plan": {"id": 3, "name": "gold", "rate": "10M/20M", "data_cap_bytes": null,
                         "fair_use_rate": null, "session_timeout": null, "idle_timeout": 60,
                         "interim_interval": null, "ip_pool": "pool", "mikrotik_group": null,
                         "address_list": null, "simultaneous_use": 2, "price_cents": 100},
                "subscription": {"id": 9, "plan_id": 3, "starts_at": 0, "expires_at": 99,
                                 "active": true, "cycle_start": 5},
                "unpaid_invoices": [{"id": 1, "number": "N1", "amount_cents": 5, "due_at": 6}],
                "cycle_usage_bytes": 12345, "usage_cycle_start": 0,
                "open_sessions": [{"acct_unique_id": "s", "nas_ip": "10.0.0.1",
                                   "calling_station_id": null, "started_at": 4}],
                "group_replies": [], "user_replies": [{"attribute": "Idle-Timeout", "op": ":=", "value": "5"}]}"#,
        )
        .expect("a valid record")
    }

    #[test]
    fn a_record_reads_back_as_it_went_in() {
        for mut rec in [full(), {
            let mut bare = full();
            bare.subscriber.mac_binding = None;
            bare.subscriber.static_ip = None;
            bare.subscriber.password_hash = Some("{md5}x".into());
            bare.subscription = None;
            bare.plan = None;
            bare.usage_cycle_start = None;
            bare.unpaid_invoices.clear();
            bare.open_sessions.clear();
            bare.user_replies.clear();
            bare
        }] {
            let plan = rec.plan.clone().map(Arc::new);
            let compact = Compact::new(rec.clone(), plan);
            assert_eq!(compact.username(), "ålice");
            assert_eq!(compact.record(), rec);
            rec.subscriber.full_name.clear();
            assert_eq!(
                Compact::new(rec.clone(), None).record().subscriber,
                rec.subscriber
            );
        }
    }

    #[test]
    fn open_sessions_read_back_exactly_whatever_their_ids_and_addresses() {
        let session = |id: &str, nas: &str, station: Option<&str>, at| OpenSession {
            acct_unique_id: id.into(),
            nas_ip: nas.into(),
            calling_station_id: station.map(Into::into),
            started_at: at,
        };
        let open = vec![
            // The stock md5 and a dotted IPv4 address: stored as 16 + 4 bytes.
            session(
                "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "192.0.2.1",
                Some("AA:BB:CC:DD:EE:FF"),
                1_700_000_000,
            ),
            // Kept as written: upper-case hex, 31 digits, an address in
            // another spelling, IPv6, empty texts, no station.
            session("0F1E2D3C4B5A69788796A5B4C3D2E1F0", "10.0.0.01", None, -1),
            session(
                "0f1e2d3c4b5a69788796a5b4c3d2e1f",
                "2001:db8::1",
                Some(""),
                0,
            ),
            session("", "", None, i64::MAX),
            session(
                "0f1e2d3c4b5a69788796a5b4c3d2e1fg",
                "::ffff:10.0.0.1",
                None,
                5,
            ),
        ];
        let mut rec = full();
        rec.open_sessions = open.clone();
        let compact = Compact::new(rec, None);
        assert_eq!(compact.open_sessions(), open);
        let hex_and_v4 = Sessions::encode(open[..1].to_vec()).unwrap();
        assert_eq!(hex_and_v4.0.len(), 8 + 1 + 16 + 4 + 2 + 17);
    }

    #[test]
    fn a_subscriber_without_rare_parts_has_none_and_stays_small() {
        let mut rec = full();
        rec.unpaid_invoices.clear();
        rec.open_sessions.clear();
        rec.user_replies.clear();
        let compact = Compact::new(rec, None);
        assert!(compact.rare().is_none() && !compact.is_online());
        assert!(std::mem::size_of::<Compact>() <= 120);
    }
}
