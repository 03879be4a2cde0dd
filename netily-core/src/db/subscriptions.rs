//! Subscriptions: which plan a subscriber is on, and until when.

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::customers::customer_id;
use super::epoch;
use super::error::{q, Error, Result};
use super::plans::get_plan;
use crate::model::UnixTime;

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionRow {
    pub id: i64,
    pub plan: String,
    pub starts_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub active: bool,
    pub cycle_start: UnixTime,
}

const SUBSCRIPTION_SELECT: &str = concat!(
    "SELECT s.id, p.name, ",
    epoch!("s.starts_at"),
    ", ",
    epoch!("s.expires_at"),
    ", s.active, ",
    epoch!("s.cycle_start"),
    " FROM subscriptions s JOIN plans p ON p.id = s.plan_id"
);

fn from_row(r: &Row) -> SubscriptionRow {
    SubscriptionRow {
        id: r.get(0),
        plan: r.get(1),
        starts_at: r.get(2),
        expires_at: r.get(3),
        active: r.get(4),
        cycle_start: r.get(5),
    }
}

/// Moves a subscriber to `plan`: ends the active subscription (if any) and
/// starts a new one, whose billing cycle starts with it.
pub fn set_plan(
    conn: &mut impl GenericClient,
    username: &str,
    plan: &str,
    starts_at: Option<UnixTime>,
    expires_at: Option<UnixTime>,
) -> Result<SubscriptionRow> {
    let customer = customer_id(conn, username)?;
    let plan = get_plan(conn, plan)?;
    let starts: UnixTime = match starts_at {
        Some(t) => t,
        None => conn
            .query_one("SELECT floor(extract(epoch from now()))::bigint", &[])
            .map_err(q("reading the clock"))?
            .get(0),
    };
    if let Some(exp) = expires_at {
        if exp <= starts {
            return Err(Error::invalid(
                "expiry date",
                "must be after the subscription's start",
            ));
        }
    }
    conn.execute(
        "UPDATE subscriptions SET active = false WHERE customer_id = $1 AND active",
        &[&customer],
    )
    .map_err(q("ending the current subscription"))?;
    let row = conn
        .query_one(
            "INSERT INTO subscriptions (customer_id, plan_id, starts_at, expires_at, active, cycle_start)
             VALUES ($1, $2, to_timestamp($3), to_timestamp($4), true, to_timestamp($3))
             RETURNING id",
            &[&customer, &plan.id, &(starts as f64), &expires_at.map(|e| e as f64)],
        )
        .map_err(q("starting a subscription"))?;
    let id: i64 = row.get(0);
    let row = conn
        .query_one(&format!("{SUBSCRIPTION_SELECT} WHERE s.id = $1"), &[&id])
        .map_err(q("reading a subscription"))?;
    Ok(from_row(&row))
}

/// A subscriber's subscriptions, newest first.
pub fn list_subscriptions(
    conn: &mut impl GenericClient,
    username: &str,
) -> Result<Vec<SubscriptionRow>> {
    let customer = customer_id(conn, username)?;
    let rows = conn
        .query(
            &format!("{SUBSCRIPTION_SELECT} WHERE s.customer_id = $1 ORDER BY s.starts_at DESC, s.id DESC"),
            &[&customer],
        )
        .map_err(q("listing subscriptions"))?;
    Ok(rows.iter().map(from_row).collect())
}
