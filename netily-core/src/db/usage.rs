//! Usage reports, read from the rollups of migration 0029 (never radacct):
//! a subscriber's usage by hour, day, month or billing cycle; the top users;
//! traffic per router and per plan; the monthly fold; the ISP's zone.
//!
//! A period's totals come from whole months (usage_months, up to the fold
//! watermark) plus hours (usage_hours) for its partial months and for the
//! hours not folded yet: [`Sources`]. The watermark and the rows must be
//! read in one snapshot, or a fold committed in between would count its
//! hours twice: a report runs in a transaction begun with
//! [`begin_report`] (REPEATABLE READ), and refuses to run in any other.
//! Every sum saturates at the top of bigint. Failure behaviour: a
//! statement's error is returned, nothing is retried; reads change nothing.

use std::net::IpAddr;

use postgres::GenericClient;
use serde::Serialize;
use time::Date;

use super::error::{q, Error, Result};
use crate::cycle::cycle_usage;
use crate::model::UnixTime;
use crate::usage::{Bucket, CapStanding, Totals};

/// A report's stretch of time: UTC instants `[from, to)` of local dates in
/// the ISP's zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub from: UnixTime,
    pub to: UnixTime,
    pub zone: String,
}

/// Makes the transaction `conn` has just begun a report's: one snapshot for
/// every statement (REPEATABLE READ), read only. Must come first in it.
pub fn begin_report(conn: &mut impl GenericClient) -> Result<()> {
    // Ranking a month's 100,000 subscribers (make bench-scale): with the
    // default work_mem its groups spilled to disk, and a parallel plan
    // (made for the 200 groups PostgreSQL guesses) sorted them all twice.
    conn.batch_execute(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;
         SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0",
    )
    .map_err(q("starting a usage report"))
}

/// The ISP's zone and today's date in it, at `now`.
pub fn today(conn: &mut impl GenericClient, now: UnixTime) -> Result<(String, Date)> {
    let what = "reading the ISP's time zone";
    let row = conn
        .query_one(
            "SELECT netily_zone(), to_char(to_timestamp($1::bigint) AT TIME ZONE netily_zone(), 'YYYY-MM-DD')",
            &[&now],
        )
        .map_err(q(what))?;
    let zone: String = row.get(0);
    let date: String = row.get(1);
    let today = crate::usage::parse_date(&date)
        .ok_or_else(|| Error::corrupt("today's date", format!("'{date}'")))?;
    Ok((zone, today))
}

/// The instants local dates `[first, end)` begin at in the ISP's zone.
/// `period`'s span on the ISP's clock at `now`: what netadmin's `usage`,
/// the console and the API share. Call `begin_report` first.
pub fn report_span(
    conn: &mut impl GenericClient,
    period: crate::usage::Period,
    now: UnixTime,
) -> Result<Span> {
    let (_, today) = today(conn, now)?;
    let (first, end) = period
        .dates(today)
        .map_err(|e| Error::invalid("period", e.to_string()))?;
    span(conn, first, end)
}

pub fn span(conn: &mut impl GenericClient, first: Date, end: Date) -> Result<Span> {
    let row = conn
        .query_one(
            "SELECT netily_zone(),
                    floor(extract(epoch FROM $1::text::timestamp AT TIME ZONE netily_zone()))::bigint,
                    floor(extract(epoch FROM $2::text::timestamp AT TIME ZONE netily_zone()))::bigint",
            &[&first.to_string(), &end.to_string()],
        )
        .map_err(q("placing the period in the ISP's time zone"))?;
    Ok(Span {
        zone: row.get(0),
        from: row.get(1),
        to: row.get(2),
    })
}

/// Sets the ISP's zone (netily.conf's `timezone`); PostgreSQL must know
/// it. Once usage has been counted in one zone it is refused: the hours and
/// months already stored begin on that zone's clock, and reports in another
/// would cut months in the wrong place. Returns whether it changed.
pub fn set_zone(conn: &mut impl GenericClient, zone: &str) -> Result<bool> {
    let known = conn
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)",
            &[&zone],
        )
        .map_err(q("checking the time zone"))?;
    if !known.get::<_, bool>(0) {
        return Err(Error::invalid(
            "timezone",
            format!("a zone name PostgreSQL knows, like Africa/Nairobi or UTC (not '{zone}')"),
        ));
    }
    let row = conn
        .query_one(
            "SELECT timezone, EXISTS (SELECT 1 FROM usage_hours) FROM netily_settings",
            &[],
        )
        .map_err(q("reading the time zone"))?;
    let (current, counted): (String, bool) = (row.get(0), row.get(1));
    if current == zone {
        return Ok(false);
    }
    if counted {
        return Err(Error::Refused {
            what: format!("changing the time zone from {current} to {zone}"),
            why: format!(
                "usage is already counted in hours and months of {current}; \
                 set timezone = {current} in netily.conf"
            ),
        });
    }
    conn.execute("UPDATE netily_settings SET timezone = $1", &[&zone])
        .map_err(q("setting the time zone"))?;
    Ok(true)
}

/// Folds finished hours into the months and routers' hours, one hour per
/// statement (each its own transaction: the accounting writers wait while
/// one runs), at most `max_hours`; returns how many it folded. An error
/// after some hours keeps those.
pub fn fold_hours(conn: &mut impl GenericClient, now: UnixTime, max_hours: u32) -> Result<u32> {
    let mut folded = 0;
    while folded < max_hours {
        let row = conn
            .query_one(
                "SELECT netily_fold_usage(to_timestamp($1::bigint), 1)",
                &[&now],
            )
            .map_err(q("folding usage hours into months"))?;
        if row.get::<_, i32>(0) == 0 {
            break;
        }
        folded += 1;
    }
    Ok(folded)
}

/// One group of a subscriber's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// When the hour, day, month or cycle begins.
    pub start: UnixTime,
    /// The same on the ISP's clock, as wide as the group ("2026-11-03",
    /// "2026-11-03 14:00", "2026-11").
    pub label: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// to_char's format for a group's start.
fn label_format(by: Bucket) -> &'static str {
    match by {
        Bucket::Hour | Bucket::Cycle => "YYYY-MM-DD HH24:MI",
        Bucket::Day => "YYYY-MM-DD",
        Bucket::Month => "YYYY-MM",
    }
}

/// "2026-11-10 09:00" and 10800 s: "2026-11-10 09:00 +03" (or "+05:30").
fn with_offset(label: String, offset: i64) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
    if m == 0 {
        format!("{label} {sign}{h:02}")
    } else {
        format!("{label} {sign}{h:02}:{m:02}")
    }
}

/// A subscriber's usage over a span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriberUsage {
    pub username: String,
    #[serde(flatten)]
    pub span: Span,
    pub by: Bucket,
    pub rows: Vec<UsageRow>,
    pub total: Totals,
    /// The current cycle against the plan's cap; None without a subscription.
    pub cap: Option<CapStanding>,
}

/// The sums of a row's columns 1..=4 (bytes up, down, seconds, sessions).
const SUMS: &str = "least(coalesce(sum(bytes_up), 0), 9223372036854775807)::bigint AS up,
                    least(coalesce(sum(bytes_down), 0), 9223372036854775807)::bigint AS down,
                    least(coalesce(sum(seconds), 0), 9223372036854775807)::bigint AS secs,
                    least(coalesce(sum(sessions), 0), 9223372036854775807)::bigint AS n";

fn totals(r: &postgres::Row, first: usize) -> Totals {
    let n = |i: usize| u64::try_from(r.get::<_, Option<i64>>(first + i).unwrap_or(0)).unwrap_or(0);
    Totals {
        bytes_up: n(0),
        bytes_down: n(1),
        seconds_online: n(2),
        sessions: n(3),
    }
}

/// `username`'s usage in `span`, grouped `by`, with the cap standing at `now`.
pub fn subscriber_usage(
    conn: &mut impl GenericClient,
    username: &str,
    span: Span,
    by: Bucket,
    now: UnixTime,
) -> Result<SubscriberUsage> {
    let what = "reading a subscriber's usage";
    let record = super::load_subscriber(conn, username)?;
    let rows = match by.calendar_unit() {
        // Whole months from usage_months (kept longer than hours: see
        // `crate::retention`), the rest from hours.
        Some(_) if by == Bucket::Month => {
            let s = source_params(&sources(conn, &span)?);
            conn.query(
                &format!(
                    "SELECT floor(extract(epoch FROM g.at))::bigint,
                            to_char(g.at AT TIME ZONE netily_zone(), $10), g.up, g.down, g.secs, g.n,
                            0::bigint
                       FROM (SELECT at, {SUMS}
                               FROM (SELECT month AS at, bytes_up, bytes_down, seconds, sessions
                                       FROM usage_months
                                      WHERE username = $1 AND month >= to_timestamp($2::bigint)
                                        AND month < to_timestamp($3::bigint)
                                     UNION ALL
                                     SELECT date_trunc('month', hour, netily_zone()),
                                            bytes_up, bytes_down, seconds, sessions
                                       FROM usage_hours
                                      WHERE username = $1
                                        AND ((hour >= to_timestamp($4::bigint) AND hour < to_timestamp($5::bigint) AND $4::bigint < $5::bigint)
                                          OR (hour >= to_timestamp($6::bigint) AND hour < to_timestamp($7::bigint) AND $6::bigint < $7::bigint)
                                          OR (hour >= to_timestamp($8::bigint) AND hour < to_timestamp($9::bigint) AND $8::bigint < $9::bigint))) x
                              GROUP BY 1) g
                      ORDER BY 1"
                ),
                &[
                    &username,
                    &s[0],
                    &s[1],
                    &s[2],
                    &s[3],
                    &s[4],
                    &s[5],
                    &s[6],
                    &s[7],
                    &label_format(by),
                ],
            )
        }
        Some(unit) => conn.query(
            &format!(
                "SELECT floor(extract(epoch FROM g.at))::bigint,
                        to_char(g.at AT TIME ZONE netily_zone(), $5), g.up, g.down, g.secs, g.n,
                        floor(extract(epoch FROM (g.at AT TIME ZONE netily_zone()) - (g.at AT TIME ZONE 'UTC')))::bigint
                   FROM (SELECT date_trunc($4, hour, netily_zone()) AS at, {SUMS}
                           FROM usage_hours
                          WHERE username = $1 AND hour >= to_timestamp($2::bigint)
                            AND hour < to_timestamp($3::bigint)
                          GROUP BY 1) g
                  ORDER BY 1"
            ),
            &[&username, &span.from, &span.to, &unit, &label_format(by)],
        ),
        None => {
            if record.as_ref().and_then(|r| r.subscription.as_ref()).is_none() {
                return Err(Error::invalid(
                    "--by",
                    format!("hour, day or month: '{username}' has no subscription, so no billing cycles"),
                ));
            }
            conn.query(
                &format!(
                    "SELECT floor(extract(epoch FROM g.at))::bigint,
                            to_char(g.at AT TIME ZONE netily_zone(), $4), g.up, g.down, g.secs, g.n,
                            floor(extract(epoch FROM (g.at AT TIME ZONE netily_zone()) - (g.at AT TIME ZONE 'UTC')))::bigint
                       FROM (SELECT netily_cycle_start(s.cycle_start, u.hour, p.cycle_days) AS at, {SUMS}
                               FROM usage_hours u
                               JOIN customers c ON c.username = u.username
                               JOIN subscriptions s ON s.customer_id = c.id AND s.active
                               LEFT JOIN plans p ON p.id = s.plan_id
                              WHERE u.username = $1 AND u.hour >= to_timestamp($2::bigint)
                                AND u.hour < to_timestamp($3::bigint)
                              GROUP BY 1) g
                      ORDER BY 1"
                ),
                &[&username, &span.from, &span.to, &label_format(by)],
            )
        }
    }
    .map_err(q(what))?;
    if record.is_none() && rows.is_empty() {
        return Err(Error::not_found(format!("subscriber '{username}'")));
    }
    let rows: Vec<UsageRow> = rows
        .iter()
        .map(|r| UsageRow {
            start: r.get(0),
            label: match by {
                // (With the zone's offset: an hour repeats when summer time ends.)
                Bucket::Hour | Bucket::Cycle => with_offset(r.get(1), r.get(6)),
                Bucket::Day | Bucket::Month => r.get(1),
            },
            totals: totals(r, 2),
        })
        .collect();
    let mut total = Totals::default();
    for r in &rows {
        total.add(&r.totals);
    }
    let cap = record
        .as_ref()
        .and_then(|r| cycle_usage(r, now))
        .map(|c| CapStanding::of(&c));
    Ok(SubscriberUsage {
        username: username.to_owned(),
        span,
        by,
        rows,
        total,
        cap,
    })
}

/// Where a span's totals are read: whole months from usage_months (hours
/// before the fold watermark), and hours from usage_hours for the rest.
/// Ranges are `[a, b)` in Unix seconds; an empty one has `a >= b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    pub months: (UnixTime, UnixTime),
    pub hours: [(UnixTime, UnixTime); 3],
}

/// The [`Sources`] of `span`.
pub fn sources(conn: &mut impl GenericClient, span: &Span) -> Result<Sources> {
    let row = conn
        .query_one(
            "WITH b AS (
                 SELECT to_timestamp($1::bigint) AS f, to_timestamp($2::bigint) AS t, z.zone,
                        s.usage_folded_upto AS w
                   FROM netily_settings s, (SELECT netily_zone() AS zone) z
             ), m AS (
                 SELECT b.*,
                        CASE WHEN date_trunc('month', f, zone) = f THEN f
                             ELSE ((date_trunc('month', f, zone) AT TIME ZONE zone) + interval '1 month')
                                  AT TIME ZONE zone END AS m0,
                        date_trunc('month', t, zone) AS m1
                   FROM b
             )
             SELECT ARRAY[m0, m1, f, least(m0, t), greatest(m0, w), m1, greatest(m1, f), t],
                    m0 < m1, current_setting('transaction_isolation')
               FROM m",
            &[&span.from, &span.to],
        )
        .map_err(q("dividing the period into months and hours"))?;
    let at: Vec<std::time::SystemTime> = row.get(0);
    let at = |i: usize| at.get(i).map_or(0, |t| crate::clock::since_epoch(*t));
    let whole: bool = row.get(1);
    let isolation: String = row.get(2);
    if isolation != "repeatable read" && isolation != "serializable" {
        return Err(Error::Refused {
            what: "a usage report".into(),
            why: format!("it must run in one snapshot (begin_report), not {isolation}"),
        });
    }
    Ok(if whole {
        Sources {
            months: (at(0), at(1)),
            hours: [(at(2), at(3)), (at(4), at(5)), (at(6), at(7))],
        }
    } else {
        Sources {
            months: (0, 0),
            hours: [(span.from, span.to), (0, 0), (0, 0)],
        }
    })
}

/// Per subscriber and router over a span: months and hours as [`Sources`]
/// names them ($1..$8), one row per username and router. (Each range also
/// tests that it is not empty: planned with the values, an empty one is
/// then dropped, where its bounds alone would still have the BRIN index
/// read the pages around them.)
const PER_SUBSCRIBER_ROUTER: &str = "
    SELECT username, nasipaddress, bytes_up, bytes_down, seconds, sessions
      FROM usage_months
     WHERE month >= to_timestamp($1::bigint) AND month < to_timestamp($2::bigint) AND $1::bigint < $2::bigint
    UNION ALL
    SELECT username, nasipaddress, bytes_up, bytes_down, seconds, sessions
      FROM usage_hours
     WHERE (hour >= to_timestamp($3::bigint) AND hour < to_timestamp($4::bigint) AND $3::bigint < $4::bigint)
        OR (hour >= to_timestamp($5::bigint) AND hour < to_timestamp($6::bigint) AND $5::bigint < $6::bigint)
        OR (hour >= to_timestamp($7::bigint) AND hour < to_timestamp($8::bigint) AND $7::bigint < $8::bigint)";

fn source_params(s: &Sources) -> [i64; 8] {
    [
        s.months.0,
        s.months.1,
        s.hours[0].0,
        s.hours[0].1,
        s.hours[1].0,
        s.hours[1].1,
        s.hours[2].0,
        s.hours[2].1,
    ]
}

/// Which subscribers `usage top` ranks.
#[derive(Debug, Clone, Default)]
pub struct TopFilter {
    /// Only traffic through these router addresses (its NAS and VPN ones).
    pub router: Option<Vec<IpAddr>>,
    /// Only subscribers now on this plan.
    pub plan: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopRow {
    pub username: String,
    pub bytes: u64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// The subscribers who moved the most bytes in `span`, most first.
pub fn top(conn: &mut impl GenericClient, span: &Span, f: &TopFilter) -> Result<Vec<TopRow>> {
    if let Some(plan) = &f.plan {
        super::get_plan(conn, plan)?;
    }
    let src = source_params(&sources(conn, span)?);
    let rows = conn
        .query(
            &format!(
                "SELECT username, {SUMS}
                   FROM ({PER_SUBSCRIBER_ROUTER}) x
                  WHERE ($9::inet[] IS NULL OR nasipaddress = ANY ($9))
                    AND ($10::text IS NULL OR username IN (
                         SELECT c.username FROM customers c
                           JOIN subscriptions s ON s.customer_id = c.id AND s.active
                           JOIN plans p ON p.id = s.plan_id
                          WHERE p.name = $10))
                  GROUP BY username
                  ORDER BY sum(bytes_up) + sum(bytes_down) DESC, username
                  LIMIT $11"
            ),
            &[
                &src[0], &src[1], &src[2], &src[3], &src[4], &src[5], &src[6], &src[7], &f.router,
                &f.plan, &f.limit,
            ],
        )
        .map_err(q("ranking subscribers by usage"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let totals = totals(r, 1);
            TopRow {
                username: r.get(0),
                bytes: totals.bytes(),
                totals,
            }
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterUsage {
    /// The NAS-IP-Address its accounting came from.
    pub nas_ip: String,
    /// The router of that address (its NAS or VPN address), if one is.
    pub router: Option<String>,
    pub bytes: u64,
    #[serde(flatten)]
    pub totals: Totals,
    /// Subscribers with any usage through it.
    pub subscribers: u64,
}

/// Traffic, sessions and subscribers per router address in `span`.
pub fn routers(conn: &mut impl GenericClient, span: &Span) -> Result<Vec<RouterUsage>> {
    let src = source_params(&sources(conn, span)?);
    let rows = conn
        .query(
            &format!(
                "WITH t AS (
                     SELECT nasipaddress, {SUMS}, count(DISTINCT username)::bigint AS subscribers
                       FROM ({PER_SUBSCRIBER_ROUTER}) x
                      GROUP BY nasipaddress
                 )
                 SELECT host(t.nasipaddress),
                        (SELECT r.name FROM routers r
                          WHERE r.nas_ip = t.nasipaddress OR r.vpn_address = t.nasipaddress
                          ORDER BY r.id LIMIT 1),
                        t.up, t.down, t.secs, t.n, t.subscribers
                   FROM t
                  ORDER BY t.up::numeric + t.down DESC, t.nasipaddress"
            ),
            &[
                &src[0], &src[1], &src[2], &src[3], &src[4], &src[5], &src[6], &src[7],
            ],
        )
        .map_err(q("summing usage per router"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let totals = totals(r, 2);
            RouterUsage {
                nas_ip: r.get(0),
                router: r.get(1),
                bytes: totals.bytes(),
                totals,
                subscribers: u64::try_from(r.get::<_, i64>(6)).unwrap_or(0),
            }
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanUsage {
    pub plan: String,
    /// The plan's cap, if it has one.
    pub cap_bytes: Option<u64>,
    /// Subscribers on it now (an active subscription).
    pub subscribers: u64,
    /// Of them, those with any usage in the span.
    pub with_usage: u64,
    pub bytes: u64,
    /// Bytes per subscriber on the plan (0 without subscribers).
    pub bytes_per_subscriber: u64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Per plan: subscribers on it now and what they used in `span` (usage
/// counts under the plan a subscriber is on now).
pub fn plans(conn: &mut impl GenericClient, span: &Span) -> Result<Vec<PlanUsage>> {
    let src = source_params(&sources(conn, span)?);
    let rows = conn
        .query(
            &format!(
                "WITH per AS (
                     SELECT username, {SUMS} FROM ({PER_SUBSCRIBER_ROUTER}) x GROUP BY username
                 ), on_plan AS (
                     SELECT p.id AS plan_id, c.username
                       FROM plans p
                       JOIN subscriptions s ON s.plan_id = p.id AND s.active
                       JOIN customers c ON c.id = s.customer_id
                 )
                 SELECT p.name, p.data_cap_bytes, count(o.username)::bigint,
                        count(per.username)::bigint,
                        least(coalesce(sum(per.up), 0), 9223372036854775807)::bigint,
                        least(coalesce(sum(per.down), 0), 9223372036854775807)::bigint,
                        least(coalesce(sum(per.secs), 0), 9223372036854775807)::bigint,
                        least(coalesce(sum(per.n), 0), 9223372036854775807)::bigint
                   FROM plans p
                   LEFT JOIN on_plan o ON o.plan_id = p.id
                   LEFT JOIN per ON per.username = o.username
                  GROUP BY p.id, p.name, p.data_cap_bytes
                  ORDER BY coalesce(sum(per.up::numeric + per.down), 0) DESC, p.name"
            ),
            &[
                &src[0], &src[1], &src[2], &src[3], &src[4], &src[5], &src[6], &src[7],
            ],
        )
        .map_err(q("summing usage per plan"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let totals = totals(r, 4);
            let subscribers = u64::try_from(r.get::<_, i64>(2)).unwrap_or(0);
            let bytes = totals.bytes();
            PlanUsage {
                plan: r.get(0),
                cap_bytes: r
                    .get::<_, Option<i64>>(1)
                    .and_then(|c| u64::try_from(c).ok()),
                subscribers,
                with_usage: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                bytes,
                bytes_per_subscriber: bytes.checked_div(subscribers).unwrap_or(0),
                totals,
            }
        })
        .collect())
}

/// A router address's traffic by hour in `span`, every hour (none = 0),
/// for its chart: folded hours from router_usage_hours (and what arrived
/// late for them, router_usage_late), the others summed from the
/// subscribers' (in the report's one snapshot).
pub fn router_hours(
    conn: &mut impl GenericClient,
    nas: &[IpAddr],
    span: &Span,
) -> Result<Vec<UsageRow>> {
    let rows = conn
        .query(
            &format!(
                "WITH w AS (
                     SELECT usage_folded_upto AS w FROM netily_settings
                 ), g AS (
                     SELECT hour, {SUMS}
                       FROM (SELECT hour, bytes_up, bytes_down, seconds, sessions
                               FROM router_usage_hours
                              WHERE nasipaddress = ANY ($1) AND hour >= to_timestamp($2::bigint)
                                AND hour < least(to_timestamp($3::bigint), (SELECT w FROM w))
                             UNION ALL
                             -- Growth that arrived after its hour was folded.
                             SELECT hour, bytes_up, bytes_down, seconds, sessions
                               FROM router_usage_late
                              WHERE nasipaddress = ANY ($1) AND hour >= to_timestamp($2::bigint)
                                AND hour < least(to_timestamp($3::bigint), (SELECT w FROM w))
                             UNION ALL
                             -- Hours not folded yet: from the subscribers' hours.
                             SELECT hour, bytes_up, bytes_down, seconds, sessions
                               FROM usage_hours
                              WHERE nasipaddress = ANY ($1)
                                AND hour >= greatest(to_timestamp($2::bigint), (SELECT w FROM w))
                                AND hour < to_timestamp($3::bigint)) x
                      GROUP BY hour
                 )
                 SELECT floor(extract(epoch FROM h))::bigint,
                        to_char(h AT TIME ZONE netily_zone(), 'YYYY-MM-DD HH24:MI'),
                        coalesce(g.up, 0), coalesce(g.down, 0), coalesce(g.secs, 0), coalesce(g.n, 0)
                   FROM generate_series(date_trunc('hour', to_timestamp($2::bigint), netily_zone()),
                                        to_timestamp($3::bigint) - interval '1 second',
                                        interval '1 hour') AS h
                   LEFT JOIN g ON g.hour = h
                  ORDER BY h"
            ),
            &[&nas, &span.from, &span.to],
        )
        .map_err(q("reading a router's hourly usage"))?;
    Ok(rows
        .iter()
        .map(|r| UsageRow {
            start: r.get(0),
            label: r.get(1),
            totals: totals(r, 2),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::with_offset;

    #[test]
    fn hour_labels_carry_the_zones_offset() {
        assert_eq!(
            with_offset("2026-11-10 09:00".into(), 10_800),
            "2026-11-10 09:00 +03"
        );
        assert_eq!(with_offset("x".into(), 19_800), "x +05:30");
        assert_eq!(with_offset("x".into(), -12_600), "x -03:30");
        assert_eq!(with_offset("x".into(), 0), "x +00");
    }
}
