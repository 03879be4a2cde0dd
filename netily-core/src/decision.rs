//! The access decision: may this subscriber connect, and with what settings.
//!
//! Checks run in this order, and the first that fails names the reason:
//!
//! 1. unknown user (no record) — the RADIUS module answers NOTFOUND;
//! 2. terminated;
//! 3. disabled by the operator (status Suspended, or a radcheck /
//!    radgroupcheck `Auth-Type := Reject` row) — always rejected, never
//!    walled-gardened: the operator switched the account off on purpose;
//! 4. no active subscription / not started yet / expired (at `expires_at`,
//!    or at a check row's `Expiration`, whichever comes first);
//! 5. no plan;
//! 6. MAC binding mismatch (the subscriber's binding, and a check row's
//!    `Calling-Station-Id`);
//! 7. simultaneous-use limit reached (the plan's, or a check row's
//!    `Simultaneous-Use`; see [`counted_sessions`]: a device may replace one
//!    stale session of its own on the same NAS, nothing more);
//! 8. an invoice unpaid past due + grace: rejected, or, when the policy has a
//!    walled garden, accepted into it.
//!
//! The walled garden comes after MAC binding and simultaneous use on purpose:
//! a subscriber suspended for billing is still only let in from their own
//! device and with their own session count, so the garden cannot be used to
//! get around either.
//!
//! An accepted subscriber gets the plan's reply attributes, then the
//! FreeRADIUS-style overrides (group replies, then user replies). The decision
//! itself does not check the password: it hands the known-good password back
//! and FreeRADIUS authenticates (PAP, CHAP, MS-CHAPv2).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::billing::{self, format_bytes, format_utc, SubscriptionState};
use crate::cycle;
use crate::model::{
    OpenSession, Plan, Policy, ReplyOverride, Subscriber, SubscriberRecord, SubscriberStatus,
    UnixTime, WalledGarden,
};

pub const RATE_LIMIT: &str = "Mikrotik-Rate-Limit";
pub const SESSION_TIMEOUT: &str = "Session-Timeout";
pub const IDLE_TIMEOUT: &str = "Idle-Timeout";
pub const INTERIM_INTERVAL: &str = "Acct-Interim-Interval";
pub const FRAMED_IP: &str = "Framed-IP-Address";
pub const FRAMED_POOL: &str = "Framed-Pool";
pub const MIKROTIK_GROUP: &str = "Mikrotik-Group";
pub const ADDRESS_LIST: &str = "Mikrotik-Address-List";

/// What the NAS sent that the decision depends on.
#[derive(Debug, Clone, Default)]
pub struct AccessRequest<'a> {
    pub username: &'a str,
    pub calling_station_id: Option<&'a str>,
    /// NAS-IP-Address: which NAS the device is connecting through.
    pub nas_ip: Option<IpAddr>,
}

/// One reply attribute, to be set with replace semantics (a name appears more
/// than once only when an override used `+=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyAttribute {
    /// Borrowed for Netily's own attributes (no allocation per login),
    /// owned for names from radreply/radgroupreply.
    pub name: Cow<'static, str>,
    pub value: String,
}

impl ReplyAttribute {
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        ReplyAttribute {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Why access was refused.
///
/// - [`RejectReason::code`]: a stable machine code (`unknown_user` means
///   "not ours": the RADIUS module returns NOTFOUND);
/// - [`RejectReason::reply_message`]: a short text for the NAS's
///   Reply-Message (what the subscriber's device may show);
/// - `Display`: the detailed operator text (invoice number, days, times).
///
/// Serializes as `{"code": ..., "reply_message": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    UnknownUser,
    Terminated,
    /// Status Suspended: switched off by the operator.
    Disabled,
    /// `Auth-Type := Reject` in `table` (radcheck or radgroupcheck), as a
    /// stock rlm_sql tool (daloRADIUS) disables users.
    DisabledByCheck {
        table: String,
    },
    NoSubscription,
    /// The subscription exists but the operator ended it.
    SubscriptionInactive,
    SubscriptionNotStarted {
        starts_at: UnixTime,
    },
    SubscriptionExpired {
        expires_at: UnixTime,
    },
    NoPlan,
    MacMismatch {
        bound: String,
        calling_station_id: Option<String>,
    },
    SimultaneousUse {
        limit: u32,
        open_sessions: u32,
    },
    InvoiceOverdue {
        invoice_number: String,
        due_at: UnixTime,
        days_overdue: i64,
        grace_days: u32,
    },
}

impl RejectReason {
    /// A stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::UnknownUser => "unknown_user",
            RejectReason::Terminated => "terminated",
            RejectReason::Disabled | RejectReason::DisabledByCheck { .. } => "disabled",
            RejectReason::NoSubscription | RejectReason::SubscriptionInactive => "no_subscription",
            RejectReason::SubscriptionNotStarted { .. } => "subscription_not_started",
            RejectReason::SubscriptionExpired { .. } => "subscription_expired",
            RejectReason::NoPlan => "no_plan",
            RejectReason::MacMismatch { .. } => "mac_mismatch",
            RejectReason::SimultaneousUse { .. } => "simultaneous_use",
            RejectReason::InvoiceOverdue { .. } => "invoice_overdue",
        }
    }

    /// The short Reply-Message text for the NAS.
    pub fn reply_message(&self) -> &'static str {
        match self {
            RejectReason::UnknownUser => "Unknown user",
            RejectReason::Terminated => "Account terminated",
            RejectReason::Disabled | RejectReason::DisabledByCheck { .. } => "Account disabled",
            RejectReason::NoSubscription | RejectReason::SubscriptionInactive => {
                "No active subscription"
            }
            RejectReason::SubscriptionNotStarted { .. } => "Subscription not started",
            RejectReason::SubscriptionExpired { .. } => "Subscription expired",
            RejectReason::NoPlan => "No service plan",
            RejectReason::MacMismatch { .. } => "MAC address not allowed",
            RejectReason::SimultaneousUse { .. } => "Simultaneous-use limit reached",
            RejectReason::InvoiceOverdue { .. } => "Account suspended: invoice overdue",
        }
    }

    /// True when the user is not Netily's (RADIUS NOTFOUND rather than REJECT).
    pub fn is_unknown_user(&self) -> bool {
        matches!(self, RejectReason::UnknownUser)
    }
}

impl fmt::Display for RejectReason {
    /// The detailed operator text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::UnknownUser => f.write_str("Unknown user"),
            RejectReason::Terminated => f.write_str("Account terminated"),
            RejectReason::Disabled => f.write_str("Account disabled by the operator"),
            RejectReason::DisabledByCheck { table } => {
                write!(f, "Account disabled: {table} has Auth-Type := Reject")
            }
            RejectReason::NoSubscription => f.write_str("No subscription"),
            RejectReason::SubscriptionInactive => {
                f.write_str("No active subscription: the subscription was ended")
            }
            RejectReason::SubscriptionNotStarted { starts_at } => write!(
                f,
                "Subscription not started: it starts at {}",
                format_utc(*starts_at)
            ),
            RejectReason::SubscriptionExpired { expires_at } => {
                write!(f, "Subscription expired at {}", format_utc(*expires_at))
            }
            RejectReason::NoPlan => f.write_str("The active subscription has no plan"),
            RejectReason::MacMismatch {
                bound,
                calling_station_id,
            } => match calling_station_id {
                Some(c) => write!(
                    f,
                    "MAC address not allowed: bound to {bound}, request came from {c}"
                ),
                None => write!(
                    f,
                    "MAC address not allowed: bound to {bound}, request had no Calling-Station-Id"
                ),
            },
            RejectReason::SimultaneousUse {
                limit,
                open_sessions,
            } => write!(
                f,
                "Simultaneous-use limit reached: {} open, limit {limit}",
                plural(u64::from(*open_sessions), "session")
            ),
            RejectReason::InvoiceOverdue {
                invoice_number,
                due_at,
                days_overdue,
                grace_days,
            } => write!(
                f,
                "Account suspended: invoice {invoice_number} overdue {} (due {}, grace {})",
                plural(u64::try_from(*days_overdue).unwrap_or(0), "day"),
                format_utc(*due_at),
                plural(u64::from(*grace_days), "day")
            ),
        }
    }
}

/// `1 day`, `8 days`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl Serialize for RejectReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RejectReason", 3)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("reply_message", self.reply_message())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Accept {
        /// The control attribute `password` goes in: Cleartext-Password, or
        /// Password-With-Header for a password known only as a hash.
        #[serde(skip)]
        password_attribute: &'static str,
        #[serde(skip)]
        password: String,
        reply: Vec<ReplyAttribute>,
        /// Accepted into the walled garden for an overdue invoice.
        walled_garden: bool,
        /// Short operator-readable lines explaining the decision.
        why: Vec<String>,
    },
    Reject {
        reason: RejectReason,
    },
}

impl Decision {
    pub fn is_accept(&self) -> bool {
        matches!(self, Decision::Accept { .. })
    }

    pub fn reject_reason(&self) -> Option<&RejectReason> {
        match self {
            Decision::Reject { reason } => Some(reason),
            Decision::Accept { .. } => None,
        }
    }

    /// The reply attributes of an accept (empty for a reject).
    pub fn reply(&self) -> &[ReplyAttribute] {
        match self {
            Decision::Accept { reply, .. } => reply,
            Decision::Reject { .. } => &[],
        }
    }

    /// The value of the first reply attribute named `name` (case-insensitive).
    pub fn reply_value(&self, name: &str) -> Option<&str> {
        self.reply()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value.as_str())
    }
}

/// The password FreeRADIUS checks the login against, and the control
/// attribute that carries it: the cleartext when Netily has it (PAP, CHAP
/// and MS-CHAPv2 all work from it), else the imported hash as
/// Password-With-Header (pap normalizes it; PAP works, and MS-CHAP with an
/// NT hash).
fn known_good_password(s: &Subscriber) -> (&'static str, String) {
    match (&s.password_hash, s.password.is_empty()) {
        (Some(hash), true) => ("Password-With-Header", hash.clone()),
        _ => ("Cleartext-Password", s.password.clone()),
    }
}

fn reject(reason: RejectReason) -> Decision {
    Decision::Reject { reason }
}

/// Normalizes a MAC address to `aa:bb:cc:dd:ee:ff`: case-insensitive, with
/// `:`, `-`, `.` or no separators (`AA-BB-..`, `aabb.ccdd.eeff`, `aabbccddeeff`).
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let octets: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(octets.join(":"))
}

/// True when two Calling-Station-Ids name the same device: equal as MACs when
/// both are MACs, else equal as trimmed case-insensitive text.
pub fn same_station(a: &str, b: &str) -> bool {
    match (normalize_mac(a), normalize_mac(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// Open sessions that count against the simultaneous-use limit.
///
/// Every open session counts, with one exception: a device reconnecting
/// over its own stale session. When a link drops, the NAS may report the
/// Stop only after the device has already dialled again (PPPoE notices a
/// dead peer after its LCP timeout), so for a while the old session is
/// still open. One open session of the requesting device (same
/// Calling-Station-Id, as MACs) on the same NAS (same NAS-IP-Address) is
/// therefore not counted: the new session replaces it.
///
/// Nothing else is excused, because nothing else looks like a reconnect:
/// - the same device on another NAS is another session (a MAC can be
///   cloned, and one device cannot hold one link through two NASes);
/// - only one predecessor per request: a second session of the same device
///   on the same NAS counts (a router dialling several PPPoE sessions from
///   one MAC to add their bandwidth), so a subscriber holds at most one
///   session over the limit, and only while the NAS has not yet closed
///   the one being replaced;
/// - without a Calling-Station-Id or a NAS-IP-Address in the request, or in
///   the session, no session can be recognized as the device's own: all count.
pub fn counted_sessions(sessions: &[OpenSession], request: &AccessRequest<'_>) -> usize {
    let replaces_one = sessions.iter().any(|s| is_own_predecessor(s, request));
    sessions.len() - usize::from(replaces_one)
}

/// True when `session` is the requesting device's own, on the same NAS.
fn is_own_predecessor(session: &OpenSession, request: &AccessRequest<'_>) -> bool {
    let same_device = match (request.calling_station_id, &session.calling_station_id) {
        (Some(req), Some(open)) => same_station(req, open),
        _ => false,
    };
    same_device
        && request
            .nas_ip
            .is_some_and(|nas| session.nas_ip.trim().parse::<IpAddr>() == Ok(nas))
}

/// The reply being built, with FreeRADIUS operator semantics for overrides.
struct Reply {
    attrs: Vec<ReplyAttribute>,
}

impl Reply {
    fn has(&self, name: &str) -> bool {
        self.attrs.iter().any(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// `:=`: replace every value of `name` with this one.
    fn replace(&mut self, name: impl Into<Cow<'static, str>>, value: String) {
        let name = name.into();
        match self
            .attrs
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(&name))
        {
            Some(i) => {
                self.attrs[i] = ReplyAttribute::new(name.clone(), value);
                let mut seen = 0usize;
                self.attrs.retain(|a| {
                    if a.name.eq_ignore_ascii_case(&name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.attrs.push(ReplyAttribute::new(name, value)),
        }
    }

    /// Applies radgroupreply/radreply rows, as loaded: checked and in the
    /// form they are sent (`Dictionary::screen`; a row that failed is not
    /// here). `locked` attributes are not overridable here (the walled
    /// garden's own settings).
    fn apply_overrides(
        &mut self,
        overrides: &[ReplyOverride],
        source: &str,
        locked: &[&str],
        why: &mut Vec<String>,
    ) {
        for o in overrides {
            let (name, op) = (o.attribute.as_str(), o.op.as_str());
            if locked.iter().any(|l| l.eq_ignore_ascii_case(name)) {
                why.push(format!(
                    "ignored {source} reply {name} {op} (the walled garden sets it)"
                ));
                continue;
            }
            let value = o.value.clone();
            match op {
                ":=" => self.replace(name.to_owned(), value),
                "=" if self.has(name) => {
                    why.push(format!("{source} reply {name} = not applied: already set"));
                    continue;
                }
                "=" | "+=" => self.attrs.push(ReplyAttribute::new(name.to_owned(), value)),
                // Screened out when loaded: no other operator gets here.
                _ => continue,
            }
            why.push(format!("{source} reply {name} {op} applied"));
        }
    }

    /// Keeps every Session-Timeout within the subscription (after overrides).
    fn cap_session_timeout(&mut self, secs_left: Option<u64>, why: &mut Vec<String>) {
        let Some(left) = secs_left else { return };
        let cap = left.min(u64::from(u32::MAX));
        let mut capped = false;
        for a in &mut self.attrs {
            if a.name.eq_ignore_ascii_case(SESSION_TIMEOUT) {
                let ok = a
                    .value
                    .trim()
                    .parse::<u64>()
                    .is_ok_and(|v| v > 0 && v <= cap);
                if !ok {
                    a.value = cap.to_string();
                    capped = true;
                }
            }
        }
        if capped {
            why.push("session timeout override capped at subscription expiry".into());
        }
    }
}

/// A timeout of 0 means "not set" (RADIUS would read it as "no limit" or
/// "disconnect now", neither of which an operator meant).
fn nonzero(v: Option<u32>) -> Option<u32> {
    v.filter(|&t| t > 0)
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Session-Timeout: the smaller of the configured timeout and the seconds
/// until the subscription expires.
fn session_timeout(
    configured: Option<u32>,
    secs_left: Option<u64>,
    expires_at: Option<UnixTime>,
    why: &mut Vec<String>,
) -> Option<u64> {
    let left = secs_left.map(|l| l.min(u64::from(u32::MAX)));
    match (nonzero(configured).map(u64::from), left) {
        (Some(c), Some(l)) if l < c => {
            why.push(format!(
                "session timeout capped at subscription expiry ({}): {l}s instead of {c}s",
                expires_at.map(format_utc).unwrap_or_default()
            ));
            Some(l)
        }
        (Some(c), _) => Some(c),
        (None, Some(l)) => {
            why.push(format!(
                "session timeout = seconds until subscription expiry ({}): {l}s",
                expires_at.map(format_utc).unwrap_or_default()
            ));
            Some(l)
        }
        (None, None) => None,
    }
}

/// Idle-Timeout, Acct-Interim-Interval, address and profile from the plan.
fn plan_common(record: &SubscriberRecord, plan: &Plan, reply: &mut Reply, why: &mut Vec<String>) {
    if let Some(t) = nonzero(plan.idle_timeout) {
        reply.replace(IDLE_TIMEOUT, t.to_string());
    }
    if let Some(t) = nonzero(plan.interim_interval) {
        reply.replace(INTERIM_INTERVAL, t.to_string());
    }
    if let Some(ip) = record.subscriber.static_ip {
        reply.replace(FRAMED_IP, ip.to_string());
        why.push(format!("static IP {ip}"));
    } else if let Some(pool) = nonempty(&plan.ip_pool) {
        reply.replace(FRAMED_POOL, pool.to_string());
    }
    if let Some(g) = nonempty(&plan.mikrotik_group) {
        reply.replace(MIKROTIK_GROUP, g.to_string());
    }
}

/// Decides whether `record` may connect at `now` under `policy`.
/// `record` is None when the username is not in the database.
pub fn decide(
    record: Option<&SubscriberRecord>,
    request: &AccessRequest<'_>,
    now: UnixTime,
    policy: &Policy,
) -> Decision {
    let Some(r) = record else {
        return reject(RejectReason::UnknownUser);
    };
    match r.subscriber.status {
        SubscriberStatus::Terminated => return reject(RejectReason::Terminated),
        SubscriberStatus::Suspended => return reject(RejectReason::Disabled),
        SubscriberStatus::Active => {}
    }
    let checks = &r.check_rules;
    if let Some(table) = &checks.reject {
        return reject(RejectReason::DisabledByCheck {
            table: table.clone(),
        });
    }
    let expires_at = match billing::subscription_state(r.subscription.as_ref(), now) {
        SubscriptionState::None => return reject(RejectReason::NoSubscription),
        SubscriptionState::Inactive => return reject(RejectReason::SubscriptionInactive),
        SubscriptionState::NotStarted { starts_at } => {
            return reject(RejectReason::SubscriptionNotStarted { starts_at })
        }
        SubscriptionState::Expired { expires_at } => {
            return reject(RejectReason::SubscriptionExpired { expires_at })
        }
        SubscriptionState::Active { expires_at } => expires_at,
    };
    if let Some(expiration) = checks.expires_at {
        if now >= expiration {
            return reject(RejectReason::SubscriptionExpired {
                expires_at: expiration,
            });
        }
    }
    let Some(plan) = &r.plan else {
        return reject(RejectReason::NoPlan);
    };
    // An empty binding (e.g. a blank column) is no binding.
    for bound in [nonempty(&r.subscriber.mac_binding), checks.mac.as_deref()]
        .into_iter()
        .flatten()
    {
        let matches = request
            .calling_station_id
            .is_some_and(|c| same_station(bound, c));
        if !matches {
            return reject(RejectReason::MacMismatch {
                bound: bound.to_string(),
                calling_station_id: request.calling_station_id.map(str::to_string),
            });
        }
    }
    if let Some(limit) = checks.simultaneous_use.or(plan.simultaneous_use) {
        let open = counted_sessions(&r.open_sessions, request);
        if open >= limit as usize {
            return reject(RejectReason::SimultaneousUse {
                limit,
                open_sessions: u32::try_from(open).unwrap_or(u32::MAX),
            });
        }
    }
    let mut secs_left = r
        .subscription
        .as_ref()
        .and_then(|s| billing::seconds_until_expiry(s, now));
    // A check row's Expiration ends the service too: whichever is first.
    let mut expires_at = expires_at;
    if let Some(expiration) = checks.expires_at {
        let left = u64::try_from(expiration.saturating_sub(now)).unwrap_or(0);
        if secs_left.is_none_or(|l| left < l) {
            secs_left = Some(left);
            expires_at = Some(expiration);
        }
    }

    if let Some(invoice) = billing::oldest_overdue(&r.unpaid_invoices, now, policy) {
        let reason = RejectReason::InvoiceOverdue {
            invoice_number: invoice.number.clone(),
            due_at: invoice.due_at,
            days_overdue: billing::days_overdue(invoice, now),
            grace_days: policy.grace_days,
        };
        return match &policy.walled_garden {
            None => reject(reason),
            Some(wg) => walled_garden_accept(r, plan, wg, &reason, secs_left, expires_at),
        };
    }

    let mut why = Vec::new();
    let mut reply = Reply { attrs: Vec::new() };
    let usage = cycle::usage_now(r, now);
    let cap_reached = billing::fair_use_cap_reached(plan, usage);
    let rate = match (cap_reached, &plan.fair_use_rate) {
        (true, Some(fair)) => {
            why.push(format!(
                "fair-use cap reached: {} of {}; rate {fair}",
                format_bytes(usage),
                format_bytes(plan.data_cap_bytes.unwrap_or(0))
            ));
            fair
        }
        (true, None) => {
            why.push(format!(
                "fair-use cap reached: {} of {}; plan has no fair-use rate, keeping rate {}",
                format_bytes(usage),
                format_bytes(plan.data_cap_bytes.unwrap_or(0)),
                plan.rate
            ));
            &plan.rate
        }
        (false, _) => &plan.rate,
    };
    // Rendered when the plan was loaded: this runs for every login.
    let rate_text = rate.as_str().to_owned();
    if !cap_reached {
        why.push(format!("plan {} rate {rate_text}", plan.name));
    }
    reply.replace(RATE_LIMIT, rate_text);
    if let Some(t) = session_timeout(plan.session_timeout, secs_left, expires_at, &mut why) {
        reply.replace(SESSION_TIMEOUT, t.to_string());
    }
    plan_common(r, plan, &mut reply, &mut why);
    if let Some(list) = nonempty(&plan.address_list) {
        reply.replace(ADDRESS_LIST, list.to_string());
    }
    reply.apply_overrides(&r.group_replies, "group", &[], &mut why);
    reply.apply_overrides(&r.user_replies, "user", &[], &mut why);
    reply.cap_session_timeout(secs_left, &mut why);
    let (password_attribute, password) = known_good_password(&r.subscriber);
    Decision::Accept {
        password_attribute,
        password,
        reply: reply.attrs,
        walled_garden: false,
        why,
    }
}

/// Accepts a billing-suspended subscriber into the walled garden: the
/// garden's address list, rate and short session timeout instead of the
/// plan's; overrides may not change those three.
fn walled_garden_accept(
    r: &SubscriberRecord,
    plan: &Plan,
    wg: &WalledGarden,
    reason: &RejectReason,
    secs_left: Option<u64>,
    expires_at: Option<UnixTime>,
) -> Decision {
    let mut why = vec![
        format!("{reason}: walled garden"),
        format!(
            "walled garden: address list {}, rate {}",
            wg.address_list, wg.rate
        ),
    ];
    let mut reply = Reply { attrs: Vec::new() };
    reply.replace(RATE_LIMIT, wg.rate.to_string());
    if let Some(t) = session_timeout(Some(wg.session_timeout), secs_left, expires_at, &mut why) {
        reply.replace(SESSION_TIMEOUT, t.to_string());
    }
    plan_common(r, plan, &mut reply, &mut why);
    reply.replace(ADDRESS_LIST, wg.address_list.clone());
    let locked = [RATE_LIMIT, ADDRESS_LIST, SESSION_TIMEOUT];
    reply.apply_overrides(&r.group_replies, "group", &locked, &mut why);
    reply.apply_overrides(&r.user_replies, "user", &locked, &mut why);
    let (password_attribute, password) = known_good_password(&r.subscriber);
    Decision::Accept {
        password_attribute,
        password,
        reply: reply.attrs,
        walled_garden: true,
        why,
    }
}

#[cfg(test)]
pub(crate) mod tests;
