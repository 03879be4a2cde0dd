//! The subscriber record: everything the access decision needs about a
//! username. `load_subscriber` is the login hot path (one round trip to a
//! server-side function);
//! `for_each_subscriber` streams every record, one at a time, into an
//! in-memory snapshot with a handful of set-based queries. Every record's reply overrides are checked as
//! they are read (`Dictionary::screen`): a row FreeRADIUS could not send is
//! in `skipped_replies`, never in the replies.

use std::collections::HashMap;
use std::net::IpAddr;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{GenericClient, Row};

use super::customers::parse_status;
use super::error::{q, Error, Result};
use super::plans::{plan_from_row, PLAN_COLUMNS};
use crate::dictionary::Dictionary;
use crate::model::{
    OpenSession, ReplyOverride, ReplySource, Subscriber, SubscriberRecord, Subscription,
    UnpaidInvoice,
};
use postgres::types::Type;

/// Subscriber + active subscription + usage of the cycle of now (as
/// `netily_subscriber_record`, migrations 0017 and 0021: the cycle is the
/// plan's period when it has one).
const BASE_COLUMNS: &str = "c.id, c.username, c.password, c.full_name, c.status, c.mac_binding, \
     c.static_ip, s.id, s.plan_id, floor(extract(epoch from s.starts_at))::bigint, \
     floor(extract(epoch from s.expires_at))::bigint, s.active, floor(extract(epoch from s.cycle_start))::bigint, \
     coalesce(u.bytes, 0), floor(extract(epoch from cy.start))::bigint, c.password_hash";
const BASE_FROM: &str = "FROM customers c
       LEFT JOIN subscriptions s ON s.customer_id = c.id AND s.active
       LEFT JOIN plans sp ON sp.id = s.plan_id
       LEFT JOIN LATERAL (SELECT netily_cycle_start(s.cycle_start, now(), sp.cycle_days) AS start) cy ON true
       LEFT JOIN usage u ON u.customer_id = c.id AND u.cycle_start = cy.start";

fn base_from_row(r: &Row) -> Result<(SubscriberRecord, Option<i64>)> {
    let read = q("reading a subscriber record");
    let username: String = r.try_get(1).map_err(read)?;
    let bad = |e: &dyn std::fmt::Display| Error::corrupt(format!("subscriber '{username}'"), e);
    let status: String = r.try_get(4).map_err(q("reading a subscriber record"))?;
    let static_ip: Option<IpAddr> = r.try_get(6).map_err(q("reading a subscriber record"))?;
    let static_ip = match static_ip {
        None => None,
        Some(IpAddr::V4(v4)) => Some(v4),
        Some(IpAddr::V6(v6)) => return Err(bad(&format!("static IP {v6} is not IPv4"))),
    };
    let sub_id: Option<i64> = r.try_get(7).map_err(q("reading a subscriber record"))?;
    let plan_id: Option<i64> = r.try_get(8).map_err(q("reading a subscriber record"))?;
    let subscription = match (sub_id, plan_id) {
        (Some(id), Some(plan_id)) => Some(Subscription {
            id,
            plan_id,
            starts_at: r.try_get(9).map_err(q("reading a subscription"))?,
            expires_at: r.try_get(10).map_err(q("reading a subscription"))?,
            active: r.try_get(11).map_err(q("reading a subscription"))?,
            cycle_start: r.try_get(12).map_err(q("reading a subscription"))?,
        }),
        _ => None,
    };
    let usage: i64 = r.try_get(13).map_err(q("reading usage"))?;
    let usage_cycle_start: Option<i64> = r.try_get(14).map_err(q("reading usage"))?;
    let record = SubscriberRecord {
        subscriber: Subscriber {
            id: r.try_get(0).map_err(q("reading a subscriber record"))?,
            password: r.try_get(2).map_err(q("reading a subscriber record"))?,
            password_hash: r.try_get(15).map_err(q("reading a subscriber record"))?,
            full_name: r.try_get(3).map_err(q("reading a subscriber record"))?,
            status: parse_status(&status).map_err(|e| bad(&e))?,
            mac_binding: r.try_get(5).map_err(q("reading a subscriber record"))?,
            static_ip,
            username,
        },
        plan: None,
        subscription,
        unpaid_invoices: Vec::new(),
        cycle_usage_bytes: u64::try_from(usage).unwrap_or(0),
        usage_cycle_start,
        open_sessions: Vec::new(),
        group_replies: Vec::new(),
        user_replies: Vec::new(),
        skipped_replies: Vec::new(),
        user_checks: Vec::new(),
        group_checks: Vec::new(),
        check_rules: Default::default(),
    };
    Ok((record, plan_id))
}

/// One subscriber's record, or None for an unknown username. One round trip
/// (parse, bind and execute in a single exchange) to the server-side
/// function `netily_subscriber_record` (migration 0007), whose plan
/// PostgreSQL caches per connection: no query planning on the hot path.
pub fn load_subscriber(
    conn: &mut impl GenericClient,
    username: &str,
) -> Result<Option<SubscriberRecord>> {
    let row = conn
        .query_typed_one(
            "SELECT netily_subscriber_record($1)::text",
            &[(&username, Type::TEXT)],
        )
        .map_err(q("loading a subscriber record"))?;
    let json: Option<String> = row.try_get(0).map_err(q("loading a subscriber record"))?;
    json.map(|text| record_from_json(&text, username))
        .transpose()
}

/// A record as `netily_subscriber_record` renders it, overrides checked.
fn record_from_json(text: &str, username: &str) -> Result<SubscriberRecord> {
    let mut record: SubscriberRecord = serde_json::from_str(text)
        .map_err(|e| Error::corrupt(format!("record of subscriber '{username}'"), e))?;
    screen(Dictionary::standard(), &mut record);
    Ok(record)
}

/// Several subscribers' records in one round trip (a change batch): each
/// username with its record, or None where it is unknown.
pub fn load_subscribers(
    conn: &mut impl GenericClient,
    usernames: &[String],
) -> Result<Vec<(String, Option<SubscriberRecord>)>> {
    let rows = conn
        .query_typed(
            "SELECT u, netily_subscriber_record(u)::text FROM unnest($1::text[]) AS u",
            &[(&usernames, Type::TEXT_ARRAY)],
        )
        .map_err(q("loading subscriber records"))?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0).map_err(q("loading subscriber records"))?;
            let json: Option<String> = row.try_get(1).map_err(q("loading subscriber records"))?;
            let record = json
                .map(|text| record_from_json(&text, &name))
                .transpose()?;
            Ok((name, record))
        })
        .collect()
}

const NO_PARAMS: [&(dyn postgres::types::ToSql + Sync); 0] = [];

/// Every subscriber's record, for `netadmin` and tests; the snapshot
/// streams them with [`for_each_subscriber`] instead.
pub fn load_all_subscribers(conn: &mut impl GenericClient) -> Result<Vec<SubscriberRecord>> {
    let mut records = Vec::new();
    for_each_subscriber(conn, &mut |r| {
        records.push(r);
        Ok(())
    })?;
    Ok(records)
}

/// What few subscribers have, read before the subscribers themselves.
#[derive(Default)]
struct Attached {
    invoices: HashMap<i64, Vec<UnpaidInvoice>>,
    /// By username: open sessions, then override rows by source.
    by_name: HashMap<String, (Vec<OpenSession>, [Vec<ReplyOverride>; 4])>,
}

/// Every subscriber's complete record, one at a time, in id order, handed
/// to `each` as it is read, so the caller never holds them all in another
/// form (the snapshot puts each in place at once). Eight streamed,
/// set-based queries whatever the count: first what few subscribers have
/// (unpaid invoices, open sessions, override rows), kept by subscriber
/// until its row comes, then the subscribers.
pub fn for_each_subscriber(
    conn: &mut impl GenericClient,
    each: &mut dyn FnMut(SubscriberRecord) -> Result<()>,
) -> Result<()> {
    // Plans first: few, shared by many subscribers.
    let mut plans = HashMap::new();
    {
        let mut rows = conn
            .query_raw(&format!("SELECT {PLAN_COLUMNS} FROM plans p"), NO_PARAMS)
            .map_err(q("loading plans"))?;
        while let Some(r) = rows.next().map_err(q("loading plans"))? {
            let plan = plan_from_row(&r, 0)?;
            plans.insert(plan.id, plan);
        }
    }
    let mut attached = attachments(conn)?;

    let mut rows = conn
        .query_raw(
            &format!("SELECT {BASE_COLUMNS} {BASE_FROM} ORDER BY c.id"),
            NO_PARAMS,
        )
        .map_err(q("loading subscribers"))?;
    let dictionary = Dictionary::standard();
    while let Some(r) = rows.next().map_err(q("loading subscribers"))? {
        let (mut record, plan_id) = base_from_row(&r)?;
        if let Some(pid) = plan_id {
            record.plan = plans.get(&pid).cloned();
        }
        if let Some(invoices) = attached.invoices.remove(&record.subscriber.id) {
            record.unpaid_invoices = invoices;
        }
        if let Some((sessions, [group, user, group_checks, user_checks])) =
            attached.by_name.remove(&record.subscriber.username)
        {
            record.open_sessions = sessions;
            record.group_replies = group;
            record.user_replies = user;
            record.group_checks = group_checks;
            record.user_checks = user_checks;
        }
        screen(dictionary, &mut record);
        each(record)?;
    }
    Ok(())
}

/// Unpaid invoices, open sessions and override rows, by subscriber.
fn attachments(conn: &mut impl GenericClient) -> Result<Attached> {
    let mut attached = Attached::default();
    {
        let mut rows = conn
            .query_raw(
                "SELECT customer_id, id, number, amount_cents, floor(extract(epoch from due_at))::bigint
                   FROM invoices WHERE status = 'unpaid' ORDER BY customer_id, due_at, id",
                NO_PARAMS,
            )
            .map_err(q("loading unpaid invoices"))?;
        while let Some(r) = rows.next().map_err(q("loading unpaid invoices"))? {
            attached
                .invoices
                .entry(r.get(0))
                .or_default()
                .push(UnpaidInvoice {
                    id: r.get(1),
                    number: r.get(2),
                    amount_cents: r.get(3),
                    due_at: r.get(4),
                });
        }
    }

    {
        let mut rows = conn
            .query_raw(
                "SELECT username, acctuniqueid, host(nasipaddress), callingstationid,
                        coalesce(floor(extract(epoch from acctstarttime))::bigint, 0)
                   FROM radacct WHERE acctstoptime IS NULL AND username IS NOT NULL
                  ORDER BY acctstarttime, radacctid",
                NO_PARAMS,
            )
            .map_err(q("loading open sessions"))?;
        while let Some(r) = rows.next().map_err(q("loading open sessions"))? {
            let (sessions, _) = attached.by_name.entry(r.get(0)).or_default();
            sessions.push(OpenSession {
                acct_unique_id: r.get(1),
                nas_ip: r.get(2),
                calling_station_id: r.get(3),
                started_at: r.get(4),
            });
        }
    }

    for (what, sql, source) in [
        (
            "loading group replies",
            "SELECT ug.username, g.attribute, g.op, g.value
               FROM radusergroup ug JOIN radgroupreply g ON g.groupname = ug.groupname
              ORDER BY ug.username, ug.priority, ug.id, g.id",
            ReplySource::Group,
        ),
        (
            "loading user replies",
            "SELECT username, attribute, op, value FROM radreply ORDER BY username, id",
            ReplySource::User,
        ),
        (
            "loading group checks",
            "SELECT ug.username, g.attribute, g.op, g.value
               FROM radusergroup ug JOIN radgroupcheck g ON g.groupname = ug.groupname
              ORDER BY ug.username, ug.priority, ug.id, g.id",
            ReplySource::GroupCheck,
        ),
        (
            "loading user checks",
            "SELECT username, attribute, op, value FROM radcheck ORDER BY username, id",
            ReplySource::UserCheck,
        ),
    ] {
        let slot = match source {
            ReplySource::Group => 0,
            ReplySource::User => 1,
            ReplySource::GroupCheck => 2,
            ReplySource::UserCheck => 3,
        };
        let mut rows = conn.query_raw(sql, NO_PARAMS).map_err(q(what))?;
        while let Some(r) = rows.next().map_err(q(what))? {
            let (_, lists) = attached.by_name.entry(r.get(0)).or_default();
            lists[slot].push(ReplyOverride {
                attribute: r.get(1),
                op: r.get(2),
                value: r.get(3),
            });
        }
    }
    Ok(attached)
}

/// Every loaded record goes through the same checks, so radiusd and
/// `netadmin check` see the same rows: reply rows FreeRADIUS can send, and
/// what the check rows say.
fn screen(dictionary: &Dictionary, record: &mut SubscriberRecord) {
    dictionary.screen(record);
    crate::checks::screen(record);
}
