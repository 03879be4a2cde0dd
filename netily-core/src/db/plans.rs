//! Plans: what a subscriber pays for.

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::error::{q, sql, Error, Result};
use crate::model::Plan;
use crate::rate::RateLimit;

/// Columns read by `plan_from_row`, in order, for a table aliased `p`.
pub(crate) const PLAN_COLUMNS: &str = "p.id, p.name, p.rate, p.data_cap_bytes, p.fair_use_rate, \
     p.session_timeout, p.idle_timeout, p.interim_interval, p.ip_pool, p.mikrotik_group, \
     p.address_list, p.simultaneous_use, p.price_cents, p.cycle_days";

/// Reads a plan from `PLAN_COLUMNS` starting at column `at`.
pub(crate) fn plan_from_row(row: &Row, at: usize) -> Result<Plan> {
    let name: String = row.try_get(at + 1).map_err(q("reading a plan"))?;
    let rate: String = row.try_get(at + 2).map_err(q("reading a plan"))?;
    let fair: Option<String> = row.try_get(at + 4).map_err(q("reading a plan"))?;
    let what = || format!("rate of plan '{name}'");
    let positive = |i: usize| -> Result<Option<u32>> {
        let v: Option<i32> = row.try_get(at + i).map_err(q("reading a plan"))?;
        v.map(|n| u32::try_from(n).map_err(|e| Error::corrupt(format!("plan '{name}'"), e)))
            .transpose()
    };
    let cap: Option<i64> = row.try_get(at + 3).map_err(q("reading a plan"))?;
    Ok(Plan {
        id: row.try_get(at).map_err(q("reading a plan"))?,
        rate: rate.parse().map_err(|e| Error::corrupt(what(), e))?,
        data_cap_bytes: cap
            .map(|c| {
                u64::try_from(c)
                    .map_err(|e| Error::corrupt(format!("data cap of plan '{name}'"), e))
            })
            .transpose()?,
        fair_use_rate: fair
            .map(|f| f.parse::<RateLimit>())
            .transpose()
            .map_err(|e| Error::corrupt(format!("fair-use rate of plan '{name}'"), e))?,
        session_timeout: positive(5)?,
        idle_timeout: positive(6)?,
        interim_interval: positive(7)?,
        ip_pool: row.try_get(at + 8).map_err(q("reading a plan"))?,
        mikrotik_group: row.try_get(at + 9).map_err(q("reading a plan"))?,
        address_list: row.try_get(at + 10).map_err(q("reading a plan"))?,
        simultaneous_use: positive(11)?,
        price_cents: row.try_get(at + 12).map_err(q("reading a plan"))?,
        cycle_days: positive(13)?,
        name,
    })
}

/// A plan to create. Rates are already validated by their type.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub name: String,
    pub rate: RateLimit,
    pub data_cap_bytes: Option<u64>,
    pub fair_use_rate: Option<RateLimit>,
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub interim_interval: Option<u32>,
    pub ip_pool: Option<String>,
    pub mikrotik_group: Option<String>,
    pub address_list: Option<String>,
    pub simultaneous_use: Option<u32>,
    pub price_cents: i64,
    /// Cycles of this many days; None is monthly on the anchor day.
    pub cycle_days: Option<u32>,
}

impl NewPlan {
    /// A plan with only a name and a rate.
    pub fn new(name: &str, rate: RateLimit) -> NewPlan {
        NewPlan {
            name: name.to_owned(),
            rate,
            data_cap_bytes: None,
            fair_use_rate: None,
            session_timeout: None,
            idle_timeout: None,
            interim_interval: None,
            ip_pool: None,
            mikrotik_group: None,
            address_list: None,
            simultaneous_use: None,
            price_cents: 0,
            cycle_days: None,
        }
    }
}

/// Changes to a plan: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct PlanUpdate {
    pub rate: Option<RateLimit>,
    pub data_cap_bytes: Option<Option<u64>>,
    pub fair_use_rate: Option<Option<RateLimit>>,
    pub session_timeout: Option<Option<u32>>,
    pub idle_timeout: Option<Option<u32>>,
    pub interim_interval: Option<Option<u32>>,
    pub ip_pool: Option<Option<String>>,
    pub mikrotik_group: Option<Option<String>>,
    pub address_list: Option<Option<String>>,
    pub simultaneous_use: Option<Option<u32>>,
    pub price_cents: Option<i64>,
    pub cycle_days: Option<Option<u32>>,
}

/// A plan with how many subscribers are on it now.
#[derive(Debug, Clone, Serialize)]
pub struct PlanListing {
    #[serde(flatten)]
    pub plan: Plan,
    pub subscribers: i64,
}

pub(crate) fn check_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(Error::invalid(
            field,
            format!("\"{name}\": use 1-64 letters, digits, '-', '_', '.' or '@'"),
        ));
    }
    Ok(())
}

fn check(p: &NewPlan) -> Result<()> {
    check_name("plan name", &p.name)?;
    if p.data_cap_bytes.is_some() && p.fair_use_rate.is_none() {
        return Err(Error::invalid(
            "fair-use rate",
            "a plan with a data cap needs the rate that applies after the cap",
        ));
    }
    if p.data_cap_bytes == Some(0) {
        return Err(Error::invalid("data cap", "must be more than 0 bytes"));
    }
    if p.data_cap_bytes.is_some_and(|c| c > i64::MAX as u64) {
        return Err(Error::invalid("data cap", "too large"));
    }
    if p.price_cents < 0 {
        return Err(Error::invalid("price", "must not be negative"));
    }
    super::invoices::check_max_amount("price", p.price_cents)?;
    if p.cycle_days
        .is_some_and(|d| d == 0 || d > crate::cycle::MAX_CYCLE_DAYS)
    {
        return Err(Error::invalid(
            "cycle days",
            format!(
                "must be from 1 to {} (or none: monthly on the subscription's day)",
                crate::cycle::MAX_CYCLE_DAYS
            ),
        ));
    }
    for (field, v) in [
        ("session timeout", p.session_timeout),
        ("idle timeout", p.idle_timeout),
        ("interim interval", p.interim_interval),
        ("simultaneous use", p.simultaneous_use),
    ] {
        if let Some(v) = v {
            if v == 0 || v > i32::MAX as u32 {
                return Err(Error::invalid(field, "must be from 1 to 2147483647"));
            }
        }
    }
    Ok(())
}

fn opt_i32(v: Option<u32>) -> Option<i32> {
    v.and_then(|v| i32::try_from(v).ok())
}

pub fn add_plan(conn: &mut impl GenericClient, p: &NewPlan) -> Result<Plan> {
    check(p)?;
    let cap = p.data_cap_bytes.map(|c| c as i64);
    let row = conn
        .query_one(
            &format!(
                "INSERT INTO plans AS p (name, rate, data_cap_bytes, fair_use_rate, session_timeout,
                    idle_timeout, interim_interval, ip_pool, mikrotik_group, address_list,
                    simultaneous_use, price_cents, cycle_days)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING {PLAN_COLUMNS}"
            ),
            &[
                &p.name,
                &p.rate.to_string(),
                &cap,
                &p.fair_use_rate.as_ref().map(|r| r.to_string()),
                &opt_i32(p.session_timeout),
                &opt_i32(p.idle_timeout),
                &opt_i32(p.interim_interval),
                &p.ip_pool,
                &p.mikrotik_group,
                &p.address_list,
                &opt_i32(p.simultaneous_use),
                &p.price_cents,
                &opt_i32(p.cycle_days),
            ],
        )
        .map_err(sql("adding a plan", &format!("plan '{}'", p.name)))?;
    plan_from_row(&row, 0)
}

pub fn get_plan(conn: &mut impl GenericClient, name: &str) -> Result<Plan> {
    let row = conn
        .query_opt(
            &format!("SELECT {PLAN_COLUMNS} FROM plans p WHERE p.name = $1"),
            &[&name],
        )
        .map_err(q("reading a plan"))?
        .ok_or_else(|| Error::not_found(format!("plan '{name}'")))?;
    plan_from_row(&row, 0)
}

/// Every plan with how many active subscriptions it has, cheapest first.
/// The count reads every active subscription (150 ms at 500,000): a page
/// shown often counts with [`subscriber_counts`] in the background and
/// lists with [`all_plans`].
pub fn list_plans(conn: &mut impl GenericClient) -> Result<Vec<PlanListing>> {
    let counts = subscriber_counts(conn)?;
    Ok(with_counts(all_plans(conn)?, &counts))
}

/// `plans` with their subscribers from `counts` ([`subscriber_counts`]).
pub fn with_counts(
    plans: Vec<Plan>,
    counts: &std::collections::BTreeMap<String, i64>,
) -> Vec<PlanListing> {
    plans
        .into_iter()
        .map(|plan| PlanListing {
            subscribers: counts.get(&plan.name).copied().unwrap_or(0),
            plan,
        })
        .collect()
}

/// Every plan, cheapest first.
pub fn all_plans(conn: &mut impl GenericClient) -> Result<Vec<Plan>> {
    conn.query(
        &format!("SELECT {PLAN_COLUMNS} FROM plans p ORDER BY p.price_cents, p.name"),
        &[],
    )
    .map_err(q("listing plans"))?
    .iter()
    .map(|r| plan_from_row(r, 0))
    .collect()
}

/// Active subscriptions per plan name (plans without any are absent).
pub fn subscriber_counts(
    conn: &mut impl GenericClient,
) -> Result<std::collections::BTreeMap<String, i64>> {
    Ok(conn
        .query(
            "SELECT p.name, count(*) FROM subscriptions s JOIN plans p ON p.id = s.plan_id
              WHERE s.active GROUP BY p.name",
            &[],
        )
        .map_err(q("counting subscribers per plan"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Every plan's name, cheapest first (a form's choices: no counting).
pub fn plan_names(conn: &mut impl GenericClient) -> Result<Vec<String>> {
    Ok(conn
        .query("SELECT name FROM plans ORDER BY price_cents, name", &[])
        .map_err(q("listing plans"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

pub fn update_plan(conn: &mut impl GenericClient, name: &str, u: &PlanUpdate) -> Result<Plan> {
    let cur = get_plan(conn, name)?;
    let mut p = NewPlan {
        name: cur.name,
        rate: u.rate.clone().unwrap_or(cur.rate),
        data_cap_bytes: u.data_cap_bytes.unwrap_or(cur.data_cap_bytes),
        fair_use_rate: u.fair_use_rate.clone().unwrap_or(cur.fair_use_rate),
        session_timeout: u.session_timeout.unwrap_or(cur.session_timeout),
        idle_timeout: u.idle_timeout.unwrap_or(cur.idle_timeout),
        interim_interval: u.interim_interval.unwrap_or(cur.interim_interval),
        ip_pool: u.ip_pool.clone().unwrap_or(cur.ip_pool),
        mikrotik_group: u.mikrotik_group.clone().unwrap_or(cur.mikrotik_group),
        address_list: u.address_list.clone().unwrap_or(cur.address_list),
        simultaneous_use: u.simultaneous_use.unwrap_or(cur.simultaneous_use),
        price_cents: u.price_cents.unwrap_or(cur.price_cents),
        cycle_days: u.cycle_days.unwrap_or(cur.cycle_days),
    };
    // Clearing the cap also frees the fair-use rate requirement, not the reverse.
    if p.data_cap_bytes.is_none() && u.fair_use_rate.is_none() && u.data_cap_bytes.is_some() {
        p.fair_use_rate = None;
    }
    check(&p)?;
    let row = conn
        .query_one(
            &format!(
                "UPDATE plans AS p SET rate = $2, data_cap_bytes = $3, fair_use_rate = $4,
                        session_timeout = $5, idle_timeout = $6, interim_interval = $7, ip_pool = $8,
                        mikrotik_group = $9, address_list = $10, simultaneous_use = $11,
                        price_cents = $12, cycle_days = $13, updated_at = now()
                  WHERE p.id = $1
                 RETURNING {PLAN_COLUMNS}"
            ),
            &[
                &cur.id,
                &p.rate.to_string(),
                &p.data_cap_bytes.map(|c| c as i64),
                &p.fair_use_rate.as_ref().map(|r| r.to_string()),
                &opt_i32(p.session_timeout),
                &opt_i32(p.idle_timeout),
                &opt_i32(p.interim_interval),
                &p.ip_pool,
                &p.mikrotik_group,
                &p.address_list,
                &opt_i32(p.simultaneous_use),
                &p.price_cents,
                &opt_i32(p.cycle_days),
            ],
        )
        .map_err(q("updating a plan"))?;
    plan_from_row(&row, 0)
}

/// Removes a plan no subscription (active or past) refers to.
pub fn remove_plan(conn: &mut impl GenericClient, name: &str) -> Result<()> {
    let plan = get_plan(conn, name)?;
    let row = conn
        .query_one(
            "SELECT count(*) FILTER (WHERE active), count(*) FROM subscriptions WHERE plan_id = $1",
            &[&plan.id],
        )
        .map_err(q("checking plan use"))?;
    let (active, total): (i64, i64) = (row.get(0), row.get(1));
    if total > 0 {
        return Err(Error::Refused {
            what: format!("remove plan '{name}'"),
            why: format!(
                "it is in use by {active} active and {} past subscription(s); move them with `customer set-plan` first",
                total - active
            ),
        });
    }
    conn.execute("DELETE FROM plans WHERE id = $1", &[&plan.id])
        .map_err(q("removing a plan"))?;
    Ok(())
}
