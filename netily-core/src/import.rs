//! Moving an ISP from FreeRADIUS + rlm_sql (daloRADIUS, hand-made setups) to
//! Netily: what the stock tables say, read as Netily's subscribers, plans and
//! routers. Pure: `db::import` reads the rows and writes the result.
//!
//! What is understood, per user (radcheck) or per group (radgroupcheck):
//! - `Cleartext-Password` (or the old `User-Password`): the password.
//! - a password hash (`MD5-Password`, `SHA-Password`, `Crypt-Password`,
//!   `NT-Password`, ...): kept as the hash (Password-With-Header form), so
//!   PAP still works; the report says, per user, that CHAP (and MS-CHAP,
//!   unless it is an NT hash) needs the cleartext. A hash pap cannot check
//!   (LM-Password) is not imported.
//! - `Auth-Type := Reject` (daloRADIUS disables users this way, through the
//!   group `daloRADIUS-Disabled-Users`): the subscriber is suspended.
//! - `Simultaneous-Use`: the plan's limit (users with different limits get
//!   different plans).
//! - `Expiration`: the subscription's end.
//! - `Calling-Station-Id` with one MAC address: the MAC binding.
//!
//! Anything else is listed in the report for that user, never dropped
//! silently. Reply rows (radreply, radgroupreply) keep working as they are:
//! Netily applies them as overrides. A group's `Mikrotik-Rate-Limit` becomes
//! its plan's rate, read as RouterOS reads it (a bare number is bits/s);
//! one Netily cannot send (not whole kbps) leaves the plan at the default
//! rate, and the row is skipped at login like any row FreeRADIUS cannot send.
//!
//! One plan per distinct profile: (first group by priority, rate,
//! Simultaneous-Use). Plan names come from the group name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::checks;
use crate::model::UnixTime;
use crate::rate::RateLimit;

/// One radcheck / radreply (owner = user) or radgroupcheck / radgroupreply
/// (owner = group) row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRow {
    /// The row's id in its table (0 where it has none, e.g. in tests).
    pub id: i64,
    pub owner: String,
    pub attribute: String,
    pub op: String,
    pub value: String,
}

/// One radusergroup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub username: String,
    pub groupname: String,
    pub priority: i32,
}

/// One stock `nas` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NasEntry {
    pub nasname: String,
    pub shortname: String,
    pub secret: String,
    pub description: Option<String>,
}

/// One line of the subscribers CSV: what rlm_sql never held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvSubscriber {
    pub username: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The cleartext password, for users whose radcheck holds only a hash.
    pub password: Option<String>,
}

/// Everything read from the old system.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub radcheck: Vec<AttributeRow>,
    pub radreply: Vec<AttributeRow>,
    pub radgroupcheck: Vec<AttributeRow>,
    pub radgroupreply: Vec<AttributeRow>,
    pub memberships: Vec<Membership>,
    pub nas: Vec<NasEntry>,
    pub csv: Vec<CsvSubscriber>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanImport {
    pub name: String,
    pub rate: RateLimit,
    pub simultaneous_use: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberImport {
    pub username: String,
    /// Empty when only `password_hash` is known.
    pub password: String,
    /// Password-With-Header form of an imported hash.
    pub password_hash: Option<String>,
    pub full_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub suspended: bool,
    pub mac_binding: Option<String>,
    pub expires_at: Option<UnixTime>,
    pub plan: String,
    /// radcheck row ids whose meaning now lives in Netily's columns: when
    /// importing from Netily's own database they are archived, so they do
    /// not act again at login beside what Netily holds.
    pub absorbed_checks: Vec<i64>,
    /// Groups whose only meaning for this user was `Auth-Type := Reject`
    /// (daloRADIUS's disabled group), now the subscriber's status.
    pub absorbed_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterImport {
    pub name: String,
    pub ip: Ipv4Addr,
    pub secret: String,
    pub description: Option<String>,
}

/// The migration: what to create, and what the operator must look at.
#[derive(Debug, Clone, Default)]
pub struct Migration {
    pub plans: Vec<PlanImport>,
    pub subscribers: Vec<SubscriberImport>,
    pub routers: Vec<RouterImport>,
    /// Users that cannot be imported, with why.
    pub skipped: BTreeMap<String, String>,
    /// Per user (or `nas NAME`): what was not understood or needs attention.
    pub notes: BTreeMap<String, Vec<String>>,
    /// `(group, attribute)` of Mikrotik-Rate-Limit rows that became plan
    /// rates: the copy of radgroupreply leaves them out.
    pub rates_in_plans: BTreeSet<(String, String)>,
}

const RATE: &str = "Mikrotik-Rate-Limit";
/// Plan names follow netadmin's rule (letters, digits, - _ . @; 64 at most).
const NAME_MAX: usize = 64;

/// A plan name from a group name: netadmin's characters, at most 64.
fn plan_name(group: &str) -> String {
    let mut name: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(NAME_MAX - 4)
        .collect();
    if name.is_empty() {
        name.push_str("imported");
    }
    name
}

/// The (attribute, op, value) rows `owner` has in `m`.
fn triples<'a>(
    m: &BTreeMap<&str, Vec<&'a AttributeRow>>,
    owner: &str,
) -> Vec<(&'a str, &'a str, &'a str)> {
    m.get(owner)
        .map(|v| {
            v.iter()
                .map(|r| (r.attribute.as_str(), r.op.as_str(), r.value.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

fn by_owner(rows: &[AttributeRow]) -> BTreeMap<&str, Vec<&AttributeRow>> {
    let mut map: BTreeMap<&str, Vec<&AttributeRow>> = BTreeMap::new();
    for r in rows {
        map.entry(r.owner.as_str()).or_default().push(r);
    }
    map
}

/// Reads the old system as Netily's. `default_rate` is the rate of a plan
/// whose group has no usable Mikrotik-Rate-Limit.
pub fn plan_migration(src: &Source, default_rate: &RateLimit) -> Migration {
    let mut m = Migration::default();
    let user_checks = by_owner(&src.radcheck);
    let group_checks = by_owner(&src.radgroupcheck);
    let group_replies = by_owner(&src.radgroupreply);
    let user_replies = by_owner(&src.radreply);
    let mut groups_of: BTreeMap<&str, Vec<&Membership>> = BTreeMap::new();
    for g in &src.memberships {
        groups_of.entry(g.username.as_str()).or_default().push(g);
    }
    for gs in groups_of.values_mut() {
        gs.sort_by_key(|g| g.priority);
    }
    let csv: BTreeMap<&str, &CsvSubscriber> =
        src.csv.iter().map(|c| (c.username.as_str(), c)).collect();
    let mut users: BTreeSet<&str> = BTreeSet::new();
    users.extend(user_checks.keys());
    users.extend(groups_of.keys());
    users.extend(user_replies.keys());
    users.extend(csv.keys());

    // A group's rate: its Mikrotik-Rate-Limit, as the router reads it.
    let group_rate = |group: &str| -> Option<(RateLimit, String)> {
        let row = group_replies
            .get(group)?
            .iter()
            .find(|r| checks::is(&r.attribute, RATE))?;
        let rate = RateLimit::parse_routeros(row.value.trim()).ok()?;
        Some((rate, row.attribute.clone()))
    };

    // profile (group, rate, simultaneous-use) -> plan name
    let mut profiles: BTreeMap<(String, String, Option<u32>), String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for user in users {
        let empty = Vec::new();
        let groups = groups_of.get(user).unwrap_or(&empty);
        let mut notes = Vec::new();
        let mut checks = checks::read(triples(&user_checks, user), "radcheck");
        let own_rows = user_checks.get(user).map_or(&[][..], |v| v);
        let absorbed_checks: Vec<i64> = own_rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !checks.not_understood.iter().any(|(n, _)| n == i))
            .map(|(_, r)| r.id)
            .collect();
        let mut absorbed_groups = Vec::new();
        for g in groups {
            let gc = checks::read(
                triples(&group_checks, g.groupname.as_str()),
                "radgroupcheck",
            );
            let only_disables = gc.reject
                && gc.not_understood.is_empty()
                && gc.simultaneous_use.is_none()
                && gc.expires_at.is_none()
                && !group_replies.contains_key(g.groupname.as_str());
            if only_disables {
                absorbed_groups.push(g.groupname.clone());
            }
            checks.reject |= gc.reject;
            checks.simultaneous_use = checks.simultaneous_use.or(gc.simultaneous_use);
            checks.expires_at = checks.expires_at.or(gc.expires_at);
            notes.extend(
                gc.not_understood
                    .into_iter()
                    .map(|(_, n)| format!("{n} (group {})", g.groupname)),
            );
        }
        notes.extend(checks.not_understood.drain(..).map(|(_, n)| n));
        let from_csv = csv.get(user).and_then(|c| c.password.clone());
        let (password, password_hash) = match (&checks.password, &checks.hash) {
            (Some(p), _) => (p.clone(), None),
            (None, _) if from_csv.is_some() => (from_csv.unwrap_or_default(), None),
            (None, Some((attribute, value))) => {
                match checks::password_with_header(attribute, value) {
                    Some(header) => {
                        let works = if checks::is(attribute, "NT-Password") {
                            "PAP and MS-CHAP work; CHAP needs the cleartext"
                        } else {
                            "PAP works; CHAP and MS-CHAP need the cleartext"
                        };
                        notes.push(format!(
                            "password kept as its {attribute} hash: {works} (the CSV's \
                             password column or `netadmin customer update --password` sets it)"
                        ));
                        (String::new(), Some(header))
                    }
                    None => {
                        m.skipped.insert(
                            user.to_string(),
                            format!(
                                "the password is only a {attribute} hash, which FreeRADIUS \
                                 cannot check here: add the cleartext to the CSV's password \
                                 column"
                            ),
                        );
                        continue;
                    }
                }
            }
            (None, None) => {
                m.skipped
                    .insert(user.to_string(), "no password in radcheck".to_string());
                continue;
            }
        };
        // The plan's group: the first group (by priority) with a rate, else
        // the first group.
        let group = groups
            .iter()
            .find(|g| group_rate(&g.groupname).is_some())
            .or(groups.first())
            .map(|g| g.groupname.clone());
        let (rate, rate_note) = match group.as_deref().and_then(group_rate) {
            Some((rate, attribute)) => {
                if let Some(g) = &group {
                    m.rates_in_plans.insert((g.clone(), attribute));
                }
                (rate, None)
            }
            None => {
                let raw = group
                    .as_deref()
                    .and_then(|g| group_replies.get(g))
                    .and_then(|rows| rows.iter().find(|r| checks::is(&r.attribute, RATE)));
                (
                    default_rate.clone(),
                    raw.map(|r| {
                        format!(
                            "group {} rate {:?} is not whole kbps, which Netily cannot \
                             send: the plan has the default rate, and the row is skipped \
                             at login (`netadmin check USER` names it)",
                            r.owner, r.value
                        )
                    }),
                )
            }
        };
        if let Some(n) = rate_note {
            notes.push(n);
        }
        let key = (
            group.clone().unwrap_or_default(),
            rate.to_string(),
            checks.simultaneous_use,
        );
        let plan = match profiles.get(&key) {
            Some(name) => name.clone(),
            None => {
                // The group's name; a second profile of the same group is
                // told apart by its Simultaneous-Use.
                let mut base = plan_name(group.as_deref().unwrap_or("imported"));
                if taken.contains(&base) {
                    if let Some(n) = checks.simultaneous_use {
                        // Stays within the 64 characters a plan name may have.
                        let suffix = format!("-su{n}");
                        base.truncate(NAME_MAX - 4 - suffix.len());
                        base.push_str(&suffix);
                    }
                }
                let mut name = base.clone();
                let mut n = 2;
                while taken.contains(&name) {
                    name = format!("{base}-{n}");
                    n += 1;
                }
                taken.insert(name.clone());
                profiles.insert(key, name.clone());
                m.plans.push(PlanImport {
                    name: name.clone(),
                    rate,
                    simultaneous_use: checks.simultaneous_use,
                });
                name
            }
        };
        if checks.hash.is_some() {
            notes.push("a password hash is also stored; the cleartext password is used".into());
        }
        let extra = csv.get(user);
        if groups.is_empty() && !user_checks.contains_key(user) && !user_replies.contains_key(user)
        {
            notes.push(
                "only in the CSV (no rlm_sql row): check the name; the plan is the default".into(),
            );
        }
        m.subscribers.push(SubscriberImport {
            username: user.to_string(),
            password,
            password_hash,
            full_name: extra.map(|c| c.full_name.clone()).unwrap_or_default(),
            phone: extra.and_then(|c| c.phone.clone()),
            email: extra.and_then(|c| c.email.clone()),
            suspended: checks.reject,
            mac_binding: checks.mac,
            expires_at: checks.expires_at,
            plan,
            absorbed_checks,
            absorbed_groups,
        });
        if !notes.is_empty() {
            m.notes.insert(user.to_string(), notes);
        }
    }
    for n in &src.nas {
        match n.nasname.trim().parse::<Ipv4Addr>() {
            Ok(ip) => m.routers.push(RouterImport {
                name: plan_name(&n.shortname),
                ip,
                secret: n.secret.clone(),
                description: n.description.clone().filter(|d| !d.is_empty()),
            }),
            Err(_) => {
                m.notes.entry(format!("nas {}", n.shortname)).or_default().push(format!(
                    "nasname {:?} is not one IPv4 address: not a router; add it with `netadmin nas add`",
                    n.nasname
                ));
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(owner: &str, attribute: &str, op: &str, value: &str) -> AttributeRow {
        AttributeRow {
            id: 0,
            owner: owner.into(),
            attribute: attribute.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    fn member(user: &str, group: &str, priority: i32) -> Membership {
        Membership {
            username: user.into(),
            groupname: group.into(),
            priority,
        }
    }

    fn default_rate() -> RateLimit {
        "1M/1M".parse().unwrap()
    }

    #[test]
    fn expiration_in_the_formats_rlm_sql_users_write() {
        let jan1 = 1_798_761_600; // 2027-01-01T00:00:00Z
        for text in [
            "01 Jan 2027",
            "Jan 01 2027",
            "January 1 2027",
            "1 January, 2027",
            "2027-01-01",
        ] {
            assert_eq!(checks::parse_expiration(text), Some(jan1), "{text}");
        }
        assert_eq!(
            checks::parse_expiration("Jan 01 2027 12:30"),
            Some(jan1 + 45_000)
        );
        assert_eq!(checks::parse_expiration("Feb 30 2027"), None);
        assert_eq!(checks::parse_expiration("soon"), None);
    }

    #[test]
    fn daloradius_users_become_subscribers_on_one_plan_per_profile() {
        let src = Source {
            radcheck: vec![
                row("alice", "Cleartext-Password", ":=", "alice-pw"),
                row("bob", "Cleartext-Password", ":=", "bob-pw"),
                row("bob", "Simultaneous-Use", ":=", "2"),
                row("carol", "Cleartext-Password", ":=", "carol-pw"),
                row("carol", "Expiration", ":=", "01 Jan 2027"),
                row("carol", "Calling-Station-Id", "==", "aa-bb-cc-dd-ee-ff"),
                row("dave", "MD5-Password", ":=", "0123"),
                row("erin", "Cleartext-Password", ":=", "erin-pw"),
                row("erin", "Login-Time", ":=", "Wk0800-1800"),
                row("gina", "Cleartext-Password", ":=", "gina-pw"),
            ],
            radgroupreply: vec![
                row("gold", RATE, ":=", "10M/20M"),
                row("bare", RATE, ":=", "10000/20000"),
                row("odd", RATE, ":=", "1500/2000"),
            ],
            radgroupcheck: vec![row(
                "daloRADIUS-Disabled-Users",
                "Auth-Type",
                ":=",
                "Reject",
            )],
            memberships: vec![
                member("alice", "gold", 1),
                member("bob", "gold", 1),
                member("carol", "gold", 0),
                member("carol", "daloRADIUS-Disabled-Users", 0),
                member("erin", "bare", 1),
                member("gina", "odd", 1),
            ],
            ..Default::default()
        };
        let m = plan_migration(&src, &default_rate());
        let names: Vec<_> = m.plans.iter().map(|p| p.name.as_str()).collect();
        // dave has no group: the default plan "imported".
        assert_eq!(names, ["gold", "gold-su2", "imported", "bare", "odd"]);
        assert_eq!(m.plans[0].rate.to_string(), "10M/20M");
        assert_eq!(m.plans[1].simultaneous_use, Some(2));
        assert_eq!(m.plans[2].rate, default_rate());
        // A bare number is bits/s, as RouterOS reads the row.
        assert_eq!(m.plans[3].rate.to_string(), "10k/20k");
        assert_eq!(m.plans[4].rate, default_rate());
        let sub = |u: &str| m.subscribers.iter().find(|s| s.username == u).unwrap();
        assert_eq!(sub("alice").plan, "gold");
        assert_eq!(sub("bob").plan, "gold-su2");
        assert!(sub("carol").suspended && !sub("alice").suspended);
        assert_eq!(sub("carol").expires_at, Some(1_798_761_600));
        assert_eq!(
            sub("carol").mac_binding.as_deref(),
            Some("AA:BB:CC:DD:EE:FF")
        );
        assert_eq!(sub("dave").password, "");
        assert_eq!(sub("dave").password_hash.as_deref(), Some("{md5}0123"));
        assert!(m.notes["dave"][0].contains("CHAP and MS-CHAP need the cleartext"));
        let erin = &m.notes["erin"];
        assert!(erin.iter().any(|n| n.contains("Login-Time")), "{erin:?}");
        assert!(
            m.notes["gina"][0].contains("not whole kbps"),
            "{:?}",
            m.notes
        );
        assert!(m
            .rates_in_plans
            .contains(&("gold".to_string(), RATE.to_string())));
        assert!(!m.rates_in_plans.iter().any(|(g, _)| g == "odd"));
    }

    #[test]
    fn nas_rows_with_one_ipv4_address_become_routers() {
        let src = Source {
            nas: vec![
                NasEntry {
                    nasname: "192.0.2.1".into(),
                    shortname: "tower 1".into(),
                    secret: "s".into(),
                    description: Some(String::new()),
                },
                NasEntry {
                    nasname: "10.0.0.0/24".into(),
                    shortname: "lan".into(),
                    secret: "s".into(),
                    description: None,
                },
            ],
            ..Default::default()
        };
        let m = plan_migration(&src, &default_rate());
        assert_eq!(m.routers.len(), 1);
        assert_eq!(m.routers[0].name, "tower-1");
        assert_eq!(m.routers[0].description, None);
        assert!(m.notes["nas lan"][0].contains("not one IPv4 address"));
    }

    #[test]
    fn plan_names_from_long_groups_stay_within_64_characters() {
        let group = "g".repeat(80);
        let src = Source {
            radcheck: vec![
                row("a", "Cleartext-Password", ":=", "pw-a"),
                row("b", "Cleartext-Password", ":=", "pw-b"),
                row("b", "Simultaneous-Use", ":=", "12"),
                row("c", "Cleartext-Password", ":=", "pw-c"),
                row("c", "Simultaneous-Use", ":=", "12"),
                row("d", "Cleartext-Password", ":=", "pw-d"),
                row("d", "Simultaneous-Use", ":=", "13"),
            ],
            memberships: ["a", "b", "c", "d"]
                .iter()
                .map(|u| member(u, &group, 1))
                .collect(),
            ..Default::default()
        };
        let m = plan_migration(&src, &default_rate());
        assert_eq!(m.plans.len(), 3);
        for p in &m.plans {
            assert!(p.name.len() <= 64, "{}", p.name);
            crate::db::plans::check_name("plan name", &p.name).unwrap();
        }
    }

    #[test]
    fn a_user_without_a_password_is_skipped_with_the_reason() {
        let src = Source {
            memberships: vec![member("ghost", "gold", 1)],
            ..Default::default()
        };
        let m = plan_migration(&src, &default_rate());
        assert!(m.subscribers.is_empty());
        assert_eq!(m.skipped["ghost"], "no password in radcheck");
    }
}
