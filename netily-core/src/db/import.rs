//! `netadmin import`: read a stock FreeRADIUS rlm_sql schema (this database
//! or another) and write what `crate::import` makes of it, in the caller's
//! transaction, set-based (5,000 subscribers a statement).
//!
//! Idempotent: subscribers, plans and routers that already exist (by name)
//! are left as they are and counted, so a second run changes nothing. Reply
//! rows (radreply, radgroupreply, radusergroup) are copied only from another
//! database, and only for subscribers this run creates (and groups Netily
//! does not have yet). Change notifications are held back and sent once at
//! the end, as for the synthetic bulk load.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use postgres::GenericClient;
use serde::Serialize;

use super::error::{q, Error, Result};
use super::routers::{add_router, NewRouter};
use super::seed::{announce_bulk, hold_notifications};
use crate::import::{plan_migration, AttributeRow, Membership, Migration, NasEntry, Source};
use crate::model::UnixTime;
use crate::rate::RateLimit;
use crate::vpn_plan::VpnPlan;

const BATCH: usize = 5_000;

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub plans_created: Vec<String>,
    pub plans_existing: Vec<String>,
    pub subscribers_created: u64,
    pub subscribers_existing: u64,
    pub routers_created: Vec<String>,
    pub routers_existing: Vec<String>,
    pub reply_rows_copied: u64,
    /// Importing from Netily's own database: radcheck rows and disabling
    /// group memberships now held in Netily's columns, moved to
    /// `rlm_sql_imported` (kept, no longer acting at login).
    pub check_rows_archived: u64,
    /// Users not imported, with why.
    pub skipped: BTreeMap<String, String>,
    /// Per user (or `nas NAME`): what was not understood or needs attention.
    pub notes: BTreeMap<String, Vec<String>>,
}

fn attribute_rows(
    conn: &mut impl GenericClient,
    table: &str,
    owner: &str,
) -> Result<Vec<AttributeRow>> {
    // `table` and `owner` are one of four fixed pairs below, never input.
    let rows = conn
        .query(
            &format!("SELECT id::bigint, {owner}, attribute, op, value FROM {table} ORDER BY id"),
            &[],
        )
        .map_err(q("reading the rlm_sql tables"))?;
    Ok(rows
        .iter()
        .map(|r| AttributeRow {
            id: r.get(0),
            owner: r.get(1),
            attribute: r.get(2),
            op: r.get(3),
            value: r.get(4),
        })
        .collect())
}

/// Reads the stock rlm_sql schema of the database at `url` in one
/// read-only, repeatable-read transaction: one consistent view of the six
/// tables, nothing changed there.
pub fn read_source_at(url: &str, timeout: std::time::Duration) -> Result<Source> {
    let mut other = super::connect(url, timeout)?;
    let mut snapshot = other
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(q("reading the rlm_sql database"))?;
    read_source(&mut snapshot)
}

/// Reads a stock rlm_sql schema (radcheck, radreply, radgroupcheck,
/// radgroupreply, radusergroup, nas).
pub fn read_source(conn: &mut impl GenericClient) -> Result<Source> {
    let memberships = conn
        .query(
            "SELECT username, groupname, priority FROM radusergroup ORDER BY username, priority",
            &[],
        )
        .map_err(q("reading radusergroup"))?
        .iter()
        .map(|r| Membership {
            username: r.get(0),
            groupname: r.get(1),
            priority: r.get(2),
        })
        .collect();
    let nas = conn
        .query(
            "SELECT nasname, shortname, secret, description FROM nas ORDER BY id",
            &[],
        )
        .map_err(q("reading nas"))?
        .iter()
        .map(|r| NasEntry {
            nasname: r.get(0),
            shortname: r.get(1),
            secret: r.get(2),
            description: r.get(3),
        })
        .collect();
    Ok(Source {
        radcheck: attribute_rows(conn, "radcheck", "username")?,
        radreply: attribute_rows(conn, "radreply", "username")?,
        radgroupcheck: attribute_rows(conn, "radgroupcheck", "groupname")?,
        radgroupreply: attribute_rows(conn, "radgroupreply", "groupname")?,
        memberships,
        nas,
        csv: Vec::new(),
    })
}

/// Writes the migration of `src` into Netily (`conn`, in a transaction the
/// caller commits, or rolls back for a dry run). `copy_replies`: the source
/// is another database, so its reply rows are copied. `progress(done, total)`
/// follows the subscribers.
pub fn import(
    conn: &mut impl GenericClient,
    src: &Source,
    default_rate: &RateLimit,
    copy_replies: bool,
    vpn: &VpnPlan,
    now: UnixTime,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let m = plan_migration(src, default_rate);
    let mut report = ImportReport {
        skipped: m.skipped.clone(),
        notes: m.notes.clone(),
        ..Default::default()
    };
    // A user already in Netily is not "skipped" for lacking a radcheck
    // password: a first run from this database archived it (second runs
    // change nothing and say so).
    let names: Vec<&str> = report.skipped.keys().map(String::as_str).collect();
    let known: Vec<String> = conn
        .query(
            "SELECT username FROM customers WHERE username = ANY($1)",
            &[&names],
        )
        .map_err(q("reading subscribers"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in known {
        report.skipped.remove(&name);
        report.subscribers_existing += 1;
    }
    hold_notifications(conn)?;
    let plan_ids = write_plans(conn, &m, &mut report)?;
    write_routers(conn, &m, vpn, &mut report)?;
    let created = write_subscribers(conn, &m, &plan_ids, now, &mut report, progress)?;
    if copy_replies {
        report.reply_rows_copied = copy_reply_rows(conn, src, &m, &created)?;
    } else {
        report.check_rows_archived = archive_absorbed(conn, &m, &created)?;
    }
    announce_bulk(
        conn,
        &[
            "plans",
            "customers",
            "subscriptions",
            "radreply",
            "radgroupreply",
            "radusergroup",
            "nas",
        ],
    )?;
    Ok(report)
}

fn write_plans(
    conn: &mut impl GenericClient,
    m: &Migration,
    report: &mut ImportReport,
) -> Result<BTreeMap<String, i64>> {
    let mut ids = BTreeMap::new();
    for p in &m.plans {
        super::plans::check_name("plan name", &p.name)?;
        let rate = p.rate.to_string();
        let su = p.simultaneous_use.map(|n| n.min(i32::MAX as u32) as i32);
        // A plan of the same name is used only if it is the same profile;
        // otherwise the import's plan gets a name of its own (and a note).
        let mut name = p.name.clone();
        let mut n = 1;
        let id = loop {
            let existing = conn
                .query_opt(
                    "SELECT id, rate = $2 AND simultaneous_use IS NOT DISTINCT FROM $3
                       FROM plans WHERE name = $1",
                    &[&name, &rate, &su],
                )
                .map_err(q("reading plans"))?;
            match existing {
                Some(r) if r.get::<_, bool>(1) => {
                    report.plans_existing.push(name.clone());
                    break r.get::<_, i64>(0);
                }
                Some(_) => {
                    n += 1;
                    let suffix = if n == 2 {
                        "-imported".to_string()
                    } else {
                        format!("-imported-{}", n - 1)
                    };
                    let keep = p.name.len().min(64 - suffix.len());
                    name = format!("{}{suffix}", &p.name[..keep]);
                }
                None => {
                    let r = conn
                        .query_one(
                            "INSERT INTO plans (name, rate, simultaneous_use) VALUES ($1, $2, $3)
                             RETURNING id",
                            &[&name, &rate, &su],
                        )
                        .map_err(q("adding a plan"))?;
                    if name != p.name {
                        report
                            .notes
                            .entry(format!("plan {}", p.name))
                            .or_default()
                            .push(format!(
                                "Netily already has a plan '{}' with another rate or \
                             Simultaneous-Use: imported as '{name}'",
                                p.name
                            ));
                    }
                    report.plans_created.push(name.clone());
                    break r.get::<_, i64>(0);
                }
            }
        };
        ids.insert(p.name.clone(), id);
    }
    Ok(ids)
}

fn write_routers(
    conn: &mut impl GenericClient,
    m: &Migration,
    vpn: &VpnPlan,
    report: &mut ImportReport,
) -> Result<()> {
    for r in &m.routers {
        let ip = IpAddr::V4(r.ip);
        let taken = conn
            .query_opt(
                "SELECT 1 FROM routers WHERE name = $1
                 UNION ALL SELECT 1 FROM nas WHERE nasname = host($2::inet)
                 LIMIT 1",
                &[&r.name, &ip],
            )
            .map_err(q("reading routers"))?;
        if taken.is_some() {
            report.routers_existing.push(r.name.clone());
            continue;
        }
        add_router(
            conn,
            &NewRouter {
                name: r.name.clone(),
                nas_ip: r.ip,
                secret: r.secret.clone(),
                description: r.description.clone(),
            },
            vpn,
        )?;
        report.routers_created.push(r.name.clone());
    }
    Ok(())
}

/// Inserts the subscribers that do not exist yet; returns their usernames.
fn write_subscribers(
    conn: &mut impl GenericClient,
    m: &Migration,
    plan_ids: &BTreeMap<String, i64>,
    now: UnixTime,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BTreeSet<String>> {
    let total = m.subscribers.len() as u64;
    let mut done = 0u64;
    let mut created = BTreeSet::new();
    progress(0, total);
    for batch in m.subscribers.chunks(BATCH) {
        let names: Vec<&str> = batch.iter().map(|s| s.username.as_str()).collect();
        let existing: BTreeSet<String> = conn
            .query(
                "SELECT username FROM customers WHERE username = ANY($1)",
                &[&names],
            )
            .map_err(q("reading subscribers"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut cols = Columns::default();
        for s in batch {
            if existing.contains(&s.username) {
                report.subscribers_existing += 1;
                continue;
            }
            let valid = super::customers::check_username(&s.username).and_then(|()| {
                match &s.password_hash {
                    // Only a hash: the cleartext is empty on purpose.
                    Some(_) if s.password.is_empty() => Ok(()),
                    _ => super::customers::check_password(&s.password),
                }
            });
            if let Err(e) = valid {
                report.skipped.insert(s.username.clone(), e.to_string());
                continue;
            }
            let Some(&plan) = plan_ids.get(&s.plan) else {
                return Err(Error::corrupt(
                    format!("plan of {}", s.username),
                    "not created",
                ));
            };
            // A subscription must start before it ends.
            let starts = match s.expires_at {
                Some(end) if end <= now => end - 1,
                _ => now,
            };
            cols.username.push(&s.username);
            cols.password.push(&s.password);
            cols.password_hash.push(s.password_hash.as_deref());
            cols.full_name.push(&s.full_name);
            cols.phone.push(s.phone.as_deref());
            cols.email.push(s.email.as_deref());
            cols.status
                .push(if s.suspended { "suspended" } else { "active" });
            cols.mac.push(s.mac_binding.as_deref());
            cols.plan.push(plan);
            cols.starts.push(starts as f64);
            cols.expires.push(s.expires_at.map(|t| t as f64));
            created.insert(s.username.clone());
        }
        if !cols.username.is_empty() {
            let n = conn
                .execute(
                    "WITH c AS (
                        INSERT INTO customers (username, password, full_name, phone, email, status,
                                               mac_binding, password_hash)
                        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                             $5::text[], $6::text[], $7::text[], $11::text[])
                        RETURNING id, username)
                     INSERT INTO subscriptions (customer_id, plan_id, starts_at, expires_at, cycle_start)
                     SELECT c.id, i.plan, to_timestamp(i.starts), to_timestamp(i.expires),
                            to_timestamp(i.starts)
                       FROM c JOIN unnest($1::text[], $8::bigint[], $9::float8[], $10::float8[])
                                   AS i(username, plan, starts, expires) USING (username)",
                    &[
                        &cols.username,
                        &cols.password,
                        &cols.full_name,
                        &cols.phone,
                        &cols.email,
                        &cols.status,
                        &cols.mac,
                        &cols.plan,
                        &cols.starts,
                        &cols.expires,
                        &cols.password_hash,
                    ],
                )
                .map_err(q("adding subscribers"))?;
            report.subscribers_created += n;
        }
        done += batch.len() as u64;
        progress(done, total);
    }
    Ok(created)
}

/// One batch of new subscribers, column by column (for unnest).
#[derive(Default)]
struct Columns<'a> {
    username: Vec<&'a str>,
    password: Vec<&'a str>,
    password_hash: Vec<Option<&'a str>>,
    full_name: Vec<&'a str>,
    phone: Vec<Option<&'a str>>,
    email: Vec<Option<&'a str>>,
    status: Vec<&'a str>,
    mac: Vec<Option<&'a str>>,
    plan: Vec<i64>,
    starts: Vec<f64>,
    expires: Vec<Option<f64>>,
}

/// Moves what the created subscribers' radcheck rows and disabling group
/// memberships said, now held in Netily's columns, into `rlm_sql_imported`
/// (migration 0019): kept, and no longer acting at login beside Netily's
/// own status, expiry, MAC binding and plan.
fn archive_absorbed(
    conn: &mut impl GenericClient,
    m: &Migration,
    created: &BTreeSet<String>,
) -> Result<u64> {
    let mut ids = Vec::new();
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    for s in m
        .subscribers
        .iter()
        .filter(|s| created.contains(&s.username))
    {
        ids.extend(s.absorbed_checks.iter().copied());
        for g in &s.absorbed_groups {
            users.push(s.username.as_str());
            groups.push(g.as_str());
        }
    }
    let checks = conn
        .execute(
            "WITH moved AS (DELETE FROM radcheck WHERE id::bigint = ANY($1)
                            RETURNING username, attribute, op, value)
             INSERT INTO rlm_sql_imported (source_table, username, attribute, op, value)
             SELECT 'radcheck', username, attribute, op, value FROM moved",
            &[&ids],
        )
        .map_err(q("archiving imported radcheck rows"))?;
    let memberships = conn
        .execute(
            "WITH moved AS (DELETE FROM radusergroup g
                             USING unnest($1::text[], $2::text[]) AS x(username, groupname)
                             WHERE g.username = x.username AND g.groupname = x.groupname
                            RETURNING g.username, g.groupname, g.priority)
             INSERT INTO rlm_sql_imported (source_table, username, groupname, priority)
             SELECT 'radusergroup', username, groupname, priority FROM moved",
            &[&users, &groups],
        )
        .map_err(q("archiving imported group memberships"))?;
    Ok(checks + memberships)
}

/// Copies the reply rows of the subscribers just created (radreply,
/// radusergroup) and of their groups that Netily does not have yet
/// (radgroupreply, less rates that became plan rates).
fn copy_reply_rows(
    conn: &mut impl GenericClient,
    src: &Source,
    m: &Migration,
    created: &BTreeSet<String>,
) -> Result<u64> {
    let replies: Vec<&AttributeRow> = src
        .radreply
        .iter()
        .filter(|r| created.contains(&r.owner))
        .collect();
    let mut copied = insert_rows(
        conn,
        "INSERT INTO radreply (username, attribute, op, value)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
        &replies,
    )?;

    let memberships: Vec<&Membership> = src
        .memberships
        .iter()
        .filter(|g| created.contains(&g.username))
        .collect();
    let users: Vec<&str> = memberships.iter().map(|g| g.username.as_str()).collect();
    let groups: Vec<&str> = memberships.iter().map(|g| g.groupname.as_str()).collect();
    let prios: Vec<i32> = memberships.iter().map(|g| g.priority).collect();
    copied += conn
        .execute(
            "INSERT INTO radusergroup (username, groupname, priority)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int[])",
            &[&users, &groups, &prios],
        )
        .map_err(q("copying radusergroup"))?;

    let wanted: BTreeSet<&str> = groups.iter().copied().collect();
    let present: BTreeSet<String> = conn
        .query("SELECT DISTINCT groupname FROM radgroupreply", &[])
        .map_err(q("reading radgroupreply"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let group_rows: Vec<&AttributeRow> = src
        .radgroupreply
        .iter()
        .filter(|r| wanted.contains(r.owner.as_str()) && !present.contains(&r.owner))
        .filter(|r| {
            !m.rates_in_plans
                .contains(&(r.owner.clone(), r.attribute.clone()))
        })
        .collect();
    copied += insert_rows(
        conn,
        "INSERT INTO radgroupreply (groupname, attribute, op, value)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
        &group_rows,
    )?;
    Ok(copied)
}

/// Inserts (owner, attribute, op, value) rows with `statement`.
fn insert_rows(
    conn: &mut impl GenericClient,
    statement: &str,
    rows: &[&AttributeRow],
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let o: Vec<&str> = rows.iter().map(|r| r.owner.as_str()).collect();
    let a: Vec<&str> = rows.iter().map(|r| r.attribute.as_str()).collect();
    let op: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
    let v: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
    conn.execute(statement, &[&o, &a, &op, &v])
        .map_err(q("copying reply rows"))
}
