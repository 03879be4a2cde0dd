//! The ISP's nouns as plain data: what the database holds and the rules read.
//!
//! These types are the contract between `db` (which loads them) and the rules
//! (which decide on them). They carry no behaviour of their own.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::rate::RateLimit;

/// Seconds since the Unix epoch, UTC. All rules take "now" as an argument.
pub type UnixTime = i64;

pub const SECONDS_PER_DAY: i64 = 86_400;

/// The operator's view of a subscriber account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberStatus {
    /// In service (billing may still suspend it).
    Active,
    /// Disabled by the operator: always rejected, never walled-gardened.
    Suspended,
    /// Contract ended: always rejected.
    Terminated,
}

/// A subscriber (customer) with the PPPoE/Hotspot credentials the router sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: i64,
    pub username: String,
    /// The known-good password, handed to FreeRADIUS as control:Cleartext-Password
    /// so PAP, CHAP and MS-CHAPv2 all work.
    #[serde(skip_serializing)]
    pub password: String,
    /// A password known only as a hash (imported from rlm_sql), in
    /// FreeRADIUS's Password-With-Header form (`{md5}...`, `{ssha}...`,
    /// `{crypt}...`, `{nt}...`): used when `password` is empty. PAP checks
    /// it; CHAP needs the cleartext, MS-CHAP an NT hash.
    #[serde(skip_serializing, default)]
    pub password_hash: Option<String>,
    pub full_name: String,
    pub status: SubscriberStatus,
    /// When set, the request's Calling-Station-Id must match (MAC binding).
    pub mac_binding: Option<String>,
    /// When set, Framed-IP-Address is sent instead of the plan's pool.
    pub static_ip: Option<Ipv4Addr>,
}

/// A service plan: what a subscriber pays for, rendered into reply attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: i64,
    pub name: String,
    pub rate: RateLimit,
    /// Bytes per billing cycle (up + down) before the fair-use rate applies.
    pub data_cap_bytes: Option<u64>,
    /// The rate after the cap is reached.
    pub fair_use_rate: Option<RateLimit>,
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub interim_interval: Option<u32>,
    pub ip_pool: Option<String>,
    pub mikrotik_group: Option<String>,
    pub address_list: Option<String>,
    /// Simultaneous-Use limit; None means unlimited.
    pub simultaneous_use: Option<u32>,
    pub price_cents: i64,
    /// The billing cycle's length in days (1..=3660, e.g. 1 for a day pass);
    /// None is monthly on the subscription's anchor day (`crate::cycle`).
    #[serde(default)]
    pub cycle_days: Option<u32>,
}

/// The subscriber's current subscription to a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: i64,
    pub plan_id: i64,
    pub starts_at: UnixTime,
    /// The first second the subscription no longer covers; None is open-ended.
    pub expires_at: Option<UnixTime>,
    /// False once the operator ends it (set-plan creates a new one).
    pub active: bool,
    /// Start of the first billing cycle, the anchor of all of them: each
    /// starts a month after the one before, on this day of the month at this
    /// time of day (`crate::cycle`).
    pub cycle_start: UnixTime,
}

/// An invoice that has not been paid or voided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpaidInvoice {
    pub id: i64,
    pub number: String,
    pub amount_cents: i64,
    pub due_at: UnixTime,
}

/// An accounting session that has started and not stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSession {
    pub acct_unique_id: String,
    pub nas_ip: String,
    pub calling_station_id: Option<String>,
    pub started_at: UnixTime,
}

/// One radreply / radgroupreply row, with FreeRADIUS operator semantics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplyOverride {
    pub attribute: String,
    /// `:=` replace, `=` set if absent, `+=` append.
    pub op: String,
    pub value: String,
}

/// Everything the access decision needs about one username, loaded in one go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberRecord {
    pub subscriber: Subscriber,
    /// The plan of the active subscription, if any.
    pub plan: Option<Plan>,
    pub subscription: Option<Subscription>,
    pub unpaid_invoices: Vec<UnpaidInvoice>,
    /// Octets in + out in the billing cycle that starts at
    /// `usage_cycle_start` (the cycle of the moment the record was loaded).
    /// A decision reads it through `cycle::usage_now`, which is 0 once that
    /// cycle is over.
    pub cycle_usage_bytes: u64,
    /// None without an active subscription.
    pub usage_cycle_start: Option<UnixTime>,
    pub open_sessions: Vec<OpenSession>,
    /// radgroupreply rows of the user's groups (radusergroup order, by priority).
    pub group_replies: Vec<ReplyOverride>,
    /// radreply rows of the user.
    pub user_replies: Vec<ReplyOverride>,
    /// Rows left out of the two lists above because FreeRADIUS could not
    /// send them as written (see `dictionary`), with the reason; and check
    /// rows the rules do not use (see `checks`).
    #[serde(default)]
    pub skipped_replies: Vec<SkippedReply>,
    /// radcheck rows of the user, as stored (emptied by `checks::screen`).
    #[serde(default)]
    pub user_checks: Vec<ReplyOverride>,
    /// radgroupcheck rows of the user's groups, by priority (emptied too).
    #[serde(default)]
    pub group_checks: Vec<ReplyOverride>,
    /// What those rows say, once screened.
    #[serde(default)]
    pub check_rules: CheckRules,
}

/// What a subscriber's radcheck/radgroupcheck rows add to the decision
/// (radcheck first, then the groups by priority).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRules {
    /// `Auth-Type := Reject`: the table that says so.
    pub reject: Option<String>,
    /// `Simultaneous-Use`: replaces the plan's limit.
    pub simultaneous_use: Option<u32>,
    /// `Expiration`: not served from this instant on.
    pub expires_at: Option<UnixTime>,
    /// `Calling-Station-Id`: the one device allowed, as a MAC binding.
    pub mac: Option<String>,
}

/// Where an override row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplySource {
    /// radgroupreply, through one of the user's groups.
    Group,
    /// radreply.
    User,
    /// radgroupcheck, through one of the user's groups.
    GroupCheck,
    /// radcheck.
    UserCheck,
}

impl ReplySource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplySource::Group => "group",
            ReplySource::User => "user",
            ReplySource::GroupCheck => "group check",
            ReplySource::UserCheck => "user check",
        }
    }

    /// The table the row is in.
    pub fn table(self) -> &'static str {
        match self {
            ReplySource::Group => "radgroupreply",
            ReplySource::User => "radreply",
            ReplySource::GroupCheck => "radgroupcheck",
            ReplySource::UserCheck => "radcheck",
        }
    }
}

/// An override row that is not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedReply {
    pub source: ReplySource,
    /// The row as stored.
    #[serde(flatten)]
    pub row: ReplyOverride,
    pub reason: String,
}

/// Operator policy from the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Days after an invoice's due date before it suspends service.
    pub grace_days: u32,
    /// When set, billing suspensions are accepted into the walled garden.
    pub walled_garden: Option<WalledGarden>,
}

/// Where billing-suspended subscribers go instead of being rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalledGarden {
    pub address_list: String,
    pub rate: RateLimit,
    pub session_timeout: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            grace_days: 7,
            walled_garden: None,
        }
    }
}
