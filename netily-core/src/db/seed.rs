//! Seed data: a small demo ISP, and a synthetic bulk load for benchmarks.

use std::net::Ipv4Addr;

use postgres::GenericClient;
use serde::Serialize;

use super::customers::{add_customer, set_customer_status, NewCustomer};
use super::error::{q, sql, Error, Result};
use super::invoices::{add_invoice, pay_invoice, NewInvoice, Payment};
use super::plans::{add_plan, NewPlan};
use super::routers::{add_router, NewRouter};
use super::subscriptions::set_plan;
use crate::model::{SubscriberStatus, UnixTime, SECONDS_PER_DAY};
use crate::rate::RateLimit;
use crate::vpn_plan::VpnPlan;

#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    pub plans: usize,
    pub subscribers: Vec<DemoSubscriber>,
    pub routers: usize,
}

/// One demo subscriber and the situation it shows.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSubscriber {
    pub username: String,
    pub password: String,
    pub situation: String,
}

fn rate(s: &str) -> Result<RateLimit> {
    s.parse()
        .map_err(|e: crate::rate::RateError| Error::invalid("rate", e.to_string()))
}

fn db_now(conn: &mut impl GenericClient) -> Result<UnixTime> {
    Ok(conn
        .query_one("SELECT floor(extract(epoch from now()))::bigint", &[])
        .map_err(q("reading the clock"))?
        .get(0))
}

/// A small, realistic ISP: four plans, a subscriber in every state, and one
/// router (127.0.0.1, secret `testing123`) so radclient can talk to it.
/// Refuses to run on a database that already has subscribers.
pub fn seed_demo(conn: &mut impl GenericClient, vpn: &VpnPlan) -> Result<SeedReport> {
    let existing: i64 = conn
        .query_one("SELECT count(*) FROM customers", &[])
        .map_err(q("counting subscribers"))?
        .get(0);
    if existing > 0 {
        return Err(Error::Refused {
            what: "seed demo data".into(),
            why: format!("the database already has {existing} subscriber(s)"),
        });
    }
    let now = db_now(conn)?;
    let day = SECONDS_PER_DAY;

    let mut basic = NewPlan::new("basic-5M", rate("2M/5M")?);
    basic.price_cents = 1500;
    basic.interim_interval = Some(300);
    basic.simultaneous_use = Some(1);
    let mut home = NewPlan::new("home-20M", rate("10M/20M 20M/40M 8M/16M 16/16 8")?);
    home.price_cents = 2900;
    home.interim_interval = Some(300);
    home.simultaneous_use = Some(1);
    home.mikrotik_group = Some("home".into());
    home.ip_pool = Some("pool-home".into());
    let mut fair = NewPlan::new("fair-50M", rate("25M/50M")?);
    fair.price_cents = 4900;
    fair.data_cap_bytes = Some(100_000_000_000);
    fair.fair_use_rate = Some(rate("2M/4M")?);
    fair.interim_interval = Some(300);
    fair.address_list = Some("fair-use".into());
    let mut hotspot = NewPlan::new("hotspot-day", rate("1M/3M")?);
    hotspot.price_cents = 100;
    hotspot.session_timeout = Some(86_400);
    hotspot.idle_timeout = Some(900);
    hotspot.cycle_days = Some(1);
    for p in [&basic, &home, &fair, &hotspot] {
        add_plan(conn, p)?;
    }

    let mut subscribers = Vec::new();
    let mut n = 0;
    let mut invoice_seq = 0;
    // (username, name, plan, situation)
    let people: [(&str, &str, &str, &str); 10] = [
        ("alice", "Alice Mwangi", "home-20M", "paid up"),
        (
            "bob",
            "Bob Otieno",
            "basic-5M",
            "invoice 6 days overdue (inside grace)",
        ),
        (
            "carol",
            "Carol Wanjiku",
            "home-20M",
            "invoice 8 days overdue (past grace)",
        ),
        (
            "dave",
            "Dave Kamau",
            "basic-5M",
            "suspended by the operator",
        ),
        ("erin", "Erin Achieng", "basic-5M", "terminated"),
        (
            "frank",
            "Frank Njoroge",
            "home-20M",
            "subscription expired 2 days ago",
        ),
        (
            "grace",
            "Grace Mutua",
            "home-20M",
            "MAC-bound to AA:BB:CC:DD:EE:01",
        ),
        ("heidi", "Heidi Wambui", "basic-5M", "static IP 100.64.10.5"),
        (
            "ivan",
            "Ivan Kiprop",
            "fair-50M",
            "over the 100 GB fair-use cap",
        ),
        ("judy", "Judy Chebet", "hotspot-day", "hotspot day pass"),
    ];
    for (username, full_name, plan, situation) in people {
        n += 1;
        let password = format!("{username}-pass");
        let mut c = NewCustomer {
            username: username.into(),
            password: password.clone(),
            full_name: full_name.into(),
            phone: Some(format!("+254 700 000 {n:03}")),
            email: Some(format!("{username}@example.net")),
            ..NewCustomer::default()
        };
        if username == "grace" {
            c.mac_binding = Some("AA:BB:CC:DD:EE:01".into());
        }
        if username == "heidi" {
            c.static_ip = Some(Ipv4Addr::new(100, 64, 10, 5));
        }
        add_customer(conn, &c)?;
        let (starts, expires) = match username {
            "frank" => (now - 32 * day, Some(now - 2 * day)),
            "judy" => (now - 3600, Some(now + day - 3600)),
            _ => (now - 20 * day, None),
        };
        set_plan(conn, username, plan, Some(starts), expires)?;

        // Last month's invoice: paid for most, open for the billing cases.
        let due_days_ago = match username {
            "bob" => 6,
            "carol" => 8,
            _ => 10,
        };
        invoice_seq += 1;
        let number = format!("INV-{:04}", 1000 + invoice_seq);
        add_invoice(
            conn,
            &NewInvoice {
                username: username.into(),
                number: Some(number.clone()),
                amount_cents: match plan {
                    "basic-5M" => 1500,
                    "home-20M" => 2900,
                    "fair-50M" => 4900,
                    _ => 100,
                },
                issued_at: Some(now - (due_days_ago + 14) * day),
                due_at: Some(now - due_days_ago * day),
            },
        )?;
        if !matches!(username, "bob" | "carol") {
            pay_invoice(
                conn,
                &number,
                &Payment {
                    method: "mobile".into(),
                    reference: Some(format!("MPESA{n:06}")),
                    paid_at: Some(now - (due_days_ago + 2) * day),
                },
            )?;
        }
        match username {
            "dave" => {
                set_customer_status(conn, username, SubscriberStatus::Suspended)?;
            }
            "erin" => {
                set_customer_status(conn, username, SubscriberStatus::Terminated)?;
            }
            "ivan" => {
                // Usage this cycle: 120 GB, past the 100 GB cap.
                conn.execute(
                    "INSERT INTO usage (customer_id, cycle_start, bytes)
                     SELECT s.customer_id, s.cycle_start, 120000000000
                       FROM subscriptions s JOIN customers c ON c.id = s.customer_id
                      WHERE c.username = $1 AND s.active",
                    &[&username],
                )
                .map_err(q("recording demo usage"))?;
            }
            _ => {}
        }
        subscribers.push(DemoSubscriber {
            username: username.into(),
            password,
            situation: situation.into(),
        });
    }

    add_router(
        conn,
        &NewRouter {
            name: "demo-router".into(),
            nas_ip: Ipv4Addr::LOCALHOST,
            secret: "testing123".into(),
            description: Some("Demo NAS for radclient on this machine".into()),
        },
        vpn,
    )?;
    Ok(SeedReport {
        plans: 4,
        subscribers,
        routers: 1,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SyntheticReport {
    pub subscribers: u64,
    pub routers: u64,
    pub first_username: String,
    pub last_username: String,
}

/// Rows per INSERT ... SELECT generate_series batch.
pub const SYNTHETIC_BATCH: u64 = 50_000;

/// Holds back the per-row change notifications for the rest of the
/// transaction (a bulk load would send one per row).
pub(crate) fn hold_notifications(conn: &mut impl GenericClient) -> Result<()> {
    conn.batch_execute("SET LOCAL netily.bulk = 'on'")
        .map_err(q("preparing the bulk load"))
}

/// Ends [`hold_notifications`] and tells every listener that `tables`
/// changed as a whole (`<table> *`), delivered at commit.
pub(crate) fn announce_bulk(conn: &mut impl GenericClient, tables: &[&str]) -> Result<()> {
    conn.batch_execute("SET LOCAL netily.bulk = 'off'")
        .map_err(q("announcing the bulk load"))?;
    conn.execute(
        "SELECT pg_notify('netily_changed', t || ' *') FROM unnest($1::text[]) t",
        &[&tables],
    )
    .map_err(q("announcing the bulk load"))?;
    Ok(())
}

/// Bulk-loads `subscribers` synthetic subscribers (`synth0000001`, ...),
/// each with an active subscription, an unpaid invoice for every tenth
/// (no billing history: it would double the load time), every hundredth
/// suspended, plus `routers` routers at 127.16.x.y. Set-based and
/// server-side (INSERT ... SELECT generate_series, 50,000 rows a batch), in
/// the caller's transaction; `progress(done, total)` is called after every
/// batch. Change notifications are held back (netily.bulk) and one
/// `<table> *` per table is sent at the end.
pub fn seed_synthetic(
    conn: &mut impl GenericClient,
    subscribers: u64,
    routers: u64,
    vpn: &VpnPlan,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SyntheticReport> {
    if subscribers == 0 || subscribers > 9_999_999 {
        return Err(Error::invalid("subscribers", "a count from 1 to 9999999"));
    }
    if routers > u64::try_from(vpn.max_router_id()).unwrap_or(0) {
        return Err(Error::invalid(
            "routers",
            format!(
                "at most {} in the VPN network {vpn}; set a larger vpn_network",
                vpn.max_router_id()
            ),
        ));
    }
    let taken: i64 = conn
        .query_one(
            "SELECT count(*) FROM customers WHERE username LIKE 'synth%'",
            &[],
        )
        .map_err(q("checking for synthetic subscribers"))?
        .get(0);
    if taken > 0 {
        return Err(Error::Refused {
            what: "seed synthetic subscribers".into(),
            why: format!("{taken} synthetic subscriber(s) already exist"),
        });
    }
    hold_notifications(conn)?;
    // Test data, not an operator's change: a million audit rows would only
    // slow the load and bury the log.
    super::audit::suppress(conn)?;

    let mut plan_ids = Vec::new();
    for (name, rate_text, cap, fair, price) in [
        ("synthetic-10M", "5M/10M", None, None, 1500_i64),
        (
            "synthetic-50M-fair",
            "25M/50M 50M/100M 20M/40M 16/16 8",
            Some(200_000_000_000_i64),
            Some("2M/4M"),
            4900,
        ),
    ] {
        let canonical = rate(rate_text)?.to_string();
        let fair = fair.map(rate).transpose()?.map(|r| r.to_string());
        let row = conn
            .query_one(
                "INSERT INTO plans (name, rate, data_cap_bytes, fair_use_rate, price_cents, interim_interval)
                 VALUES ($1, $2, $3, $4, $5, 300)
                 ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
                 RETURNING id",
                &[&name, &canonical, &cap, &fair, &price],
            )
            .map_err(q("adding synthetic plans"))?;
        plan_ids.push(row.get::<_, i64>(0));
    }

    let total = subscribers;
    let mut done = 0u64;
    progress(0, total);
    while done < total {
        let from = (done + 1) as i64;
        let to = (done + SYNTHETIC_BATCH).min(total) as i64;
        conn.execute(
            "WITH c AS (
                INSERT INTO customers (username, password, full_name, status)
                SELECT 'synth' || lpad(g::text, 7, '0'), md5(g::text), 'Synthetic Subscriber ' || g,
                       CASE WHEN g % 100 = 0 THEN 'suspended' ELSE 'active' END
                  FROM generate_series($1::bigint, $2::bigint) g
                RETURNING id, username),
             s AS (
                INSERT INTO subscriptions (customer_id, plan_id, starts_at, cycle_start)
                SELECT c.id, CASE WHEN c.id % 4 = 0 THEN $4::bigint ELSE $3::bigint END,
                       date_trunc('month', now()), date_trunc('month', now())
                  FROM c)
             INSERT INTO invoices (number, customer_id, amount_cents, issued_at, due_at, status)
             SELECT 'SYN-' || substr(c.username, 6), c.id, 1500,
                    date_trunc('month', now()) - interval '14 days',
                    date_trunc('month', now()), 'unpaid'
               FROM c WHERE c.id % 10 = 0",
            &[&from, &to, &plan_ids[0], &plan_ids[1]],
        )
        .map_err(sql(
            "bulk-loading subscribers",
            "a synthetic subscriber or invoice",
        ))?;
        done = to as u64;
        progress(done, total);
    }

    for i in 1..=routers {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 16, 0, 0)) + i as u32);
        add_router(
            conn,
            &NewRouter {
                name: format!("synth-router-{i:03}"),
                nas_ip: ip,
                secret: format!("synth-secret-{i}"),
                description: Some("synthetic".into()),
            },
            vpn,
        )?;
    }

    announce_bulk(
        conn,
        &["plans", "customers", "subscriptions", "invoices", "nas"],
    )?;
    Ok(SyntheticReport {
        subscribers,
        routers,
        first_username: "synth0000001".into(),
        last_username: format!("synth{subscribers:07}"),
    })
}
