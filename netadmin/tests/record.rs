//! The db API the servers use: load_subscriber / load_all_subscribers, the
//! usage trigger and change notifications.

mod common;

use std::time::Duration;

use common::Env;
use netily_core::{cycle, db};
use postgres::fallible_iterator::FallibleIterator;

#[test]
fn one_record_equals_the_bulk_snapshot() {
    let env = Env::demo();
    let mut c = env.sql();
    c.batch_execute(
        "INSERT INTO radusergroup (username, groupname, priority) VALUES ('alice', 'gold', 2), ('alice', 'base', 1);
         INSERT INTO radgroupreply (groupname, attribute, op, value)
              VALUES ('base', 'Mikrotik-Address-List', ':=', 'customers'),
                     ('gold', 'Mikrotik-Group', ':=', 'gold');
         INSERT INTO radreply (username, attribute, op, value) VALUES ('alice', 'Reply-Message', ':=', 'hi');
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, callingstationid, acctstarttime)
              VALUES ('1', 'open-1', 'alice', '127.0.0.1', 'AA:00:00:00:00:01', now());",
    )
    .unwrap();

    let alice = db::load_subscriber(&mut c, "alice").unwrap().unwrap();
    assert_eq!(alice.subscriber.password, "alice-pass");
    assert_eq!(alice.plan.as_ref().unwrap().name, "home-20M");
    assert_eq!(
        alice.plan.as_ref().unwrap().rate.to_string(),
        "10M/20M 20M/40M 8M/16M 16/16 8"
    );
    assert!(alice.subscription.as_ref().unwrap().active);
    assert_eq!(alice.open_sessions.len(), 1);
    assert_eq!(alice.open_sessions[0].nas_ip, "127.0.0.1");
    let groups: Vec<&str> = alice
        .group_replies
        .iter()
        .map(|r| r.value.as_str())
        .collect();
    assert_eq!(groups, ["customers", "gold"], "radusergroup priority order");
    assert_eq!(alice.user_replies[0].value, "hi");

    let carol = db::load_subscriber(&mut c, "carol").unwrap().unwrap();
    assert_eq!(carol.unpaid_invoices.len(), 1);
    assert_eq!(carol.unpaid_invoices[0].number, "INV-1003");
    let ivan = db::load_subscriber(&mut c, "ivan").unwrap().unwrap();
    assert_eq!(ivan.cycle_usage_bytes, 120_000_000_000);
    assert!(db::load_subscriber(&mut c, "nobody").unwrap().is_none());

    let all = db::load_all_subscribers(&mut c).unwrap();
    assert_eq!(all.len(), 10);
    for r in &all {
        let one = db::load_subscriber(&mut c, &r.subscriber.username)
            .unwrap()
            .unwrap();
        assert_eq!(&one, r, "{}", r.subscriber.username);
    }
}

#[test]
fn accounting_updates_cycle_usage() {
    let env = Env::demo();
    let mut c = env.sql();
    let before = db::load_subscriber(&mut c, "alice")
        .unwrap()
        .unwrap()
        .cycle_usage_bytes;
    assert_eq!(before, 0);
    c.batch_execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                              acctinputoctets, acctoutputoctets)
              VALUES ('1', 'use-1', 'alice', '127.0.0.1', now(), 100, 200);
         UPDATE radacct SET acctinputoctets = 1000, acctoutputoctets = 5000 WHERE acctuniqueid = 'use-1';
         UPDATE radacct SET acctinputoctets = 1000, acctoutputoctets = 5000, acctstoptime = now()
          WHERE acctuniqueid = 'use-1';
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                              acctinputoctets, acctoutputoctets)
              VALUES ('2', 'use-2', 'alice', '127.0.0.1', now(), 4000000000, 1);",
    )
    .unwrap();
    let after = db::load_subscriber(&mut c, "alice")
        .unwrap()
        .unwrap()
        .cycle_usage_bytes;
    assert_eq!(after, 6000 + 4_000_000_001);
}

#[test]
fn changes_are_notified() {
    let env = Env::demo();
    let mut listener = env.sql();
    listener.batch_execute("LISTEN netily_changed").unwrap();
    env.ok(&["customer", "suspend", "alice"]);
    env.ok(&["invoice", "pay", "INV-1003"]);
    env.ok(&["plan", "update", "basic-5M", "--price", "16"]);
    let mut got = Vec::new();
    let mut n = listener.notifications();
    let mut it = n.timeout_iter(Duration::from_secs(5));
    while got.len() < 3 {
        match it.next().unwrap() {
            Some(note) => got.push(note.payload().to_owned()),
            None => break,
        }
    }
    assert!(got.contains(&"customers alice".to_owned()), "{got:?}");
    assert!(got.contains(&"invoices carol".to_owned()), "{got:?}");
    assert!(got.iter().any(|p| p.starts_with("plans ")), "{got:?}");
}

#[test]
fn connect_uses_the_url_and_never_shows_its_password() {
    let env = Env::demo();
    let mut c = db::connect(&env.db.url(), std::time::Duration::from_secs(2)).unwrap();
    assert!(db::load_subscriber(&mut c, "alice").unwrap().is_some());

    let Err(e) = db::connect(
        "postgresql://netily:PoolSecret@127.0.0.1:1/netily",
        std::time::Duration::from_secs(1),
    ) else {
        panic!("connected to a closed port");
    };
    assert!(e.is_connection_error());
    let e = e.to_string();
    assert!(
        e.starts_with("cannot connect to database postgresql://netily@127.0.0.1:1/netily"),
        "{e}"
    );
    assert!(!e.contains("PoolSecret"), "{e}");
}

#[test]
fn a_bounded_connection_cuts_a_stuck_statement_at_its_timeout() {
    let env = Env::demo();
    let mut c = db::connect_bounded(&env.db.url(), std::time::Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let e = c.batch_execute("SELECT pg_sleep(5)").unwrap_err();
    let why = e.as_db_error().map(|d| d.message().to_string());
    assert!(
        why.as_deref()
            .is_some_and(|m| m.contains("statement timeout")),
        "{e:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert!(db::load_subscriber(&mut c, "alice").unwrap().is_some());
}

/// The authentication log as the RADIUS module writes it (binary COPY):
/// every column reads back as written, NULLs stay NULL, both address
/// families, microseconds kept.
#[test]
fn the_auth_log_batch_reads_back_exactly() {
    use netily_core::db::journal_positions;
    use netily_core::db::post_auth::{insert_batch, PostAuthBatch, PostAuthRecord};
    use netily_core::journal::Position;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::time::{Duration, UNIX_EPOCH};

    let env = Env::migrated();
    let mut c = env.sql();
    let at = |micros| UNIX_EPOCH + Duration::from_micros(micros);
    let granted = [
        netily_core::decision::ReplyAttribute::new("Mikrotik-Rate-Limit", "5M/10M"),
        netily_core::decision::ReplyAttribute::new("Session-Timeout", "3600"),
    ];
    let records = [
        PostAuthRecord {
            username: "alice",
            accepted: true,
            called_station_id: Some("hotspot-1"),
            calling_station_id: Some("AA:BB:CC:DD:EE:01"),
            nas_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            authdate: at(1_700_000_000_123_456),
            reason: Some("plan home rate 5M/10M — ünïcode"),
            granted: Some(&granted),
        },
        PostAuthRecord {
            username: "bob",
            accepted: false,
            called_station_id: None,
            calling_station_id: None,
            nas_ip: Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
            authdate: at(1_700_000_001_000_000),
            reason: None,
            granted: Some(&granted),
        },
        PostAuthRecord {
            username: "",
            accepted: false,
            called_station_id: None,
            calling_station_id: None,
            nas_ip: None,
            authdate: at(1_700_000_002_000_000),
            reason: Some("no User-Name"),
            granted: None,
        },
    ];
    let mut batch = PostAuthBatch::new();
    for r in &records {
        batch.push(r);
    }
    let applied = Position {
        segment: 3,
        offset: 4_096,
    };
    let written = insert_batch(&mut c, &batch, "journal-a", applied).unwrap();
    assert_eq!(written.rows, 3);
    written.grants.unwrap();
    // The journal's position is stored with the rows.
    assert_eq!(
        journal_positions::load(&mut c, "journal-a").unwrap(),
        Some(applied)
    );
    let rows = c
        .query(
            "SELECT username, reply, calledstationid, callingstationid, host(nasipaddress),
                    (extract(epoch FROM authdate) * 1000000)::bigint, reason, pass
               FROM radpostauth ORDER BY id",
            &[],
        )
        .unwrap();
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        Option<String>,
        Option<String>,
    );
    let got: Vec<Row> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect();
    let want: Vec<Row> = vec![
        (
            "alice".into(),
            "Access-Accept".into(),
            Some("hotspot-1".into()),
            Some("AA:BB:CC:DD:EE:01".into()),
            Some("192.0.2.7".into()),
            1_700_000_000_123_456,
            Some("plan home rate 5M/10M — ünïcode".into()),
            None,
        ),
        (
            "bob".into(),
            "Access-Reject".into(),
            None,
            None,
            Some("2001:db8::1".into()),
            1_700_000_001_000_000,
            None,
            None,
        ),
        (
            String::new(),
            "Access-Reject".into(),
            None,
            None,
            None,
            1_700_000_002_000_000,
            Some("no User-Name".into()),
            None,
        ),
    ];
    assert_eq!(got, want);
    // An accepted login's reply is remembered as its grant (a reject's is not).
    let grants = c
        .query(
            "SELECT username, host(nasipaddress), callingstationid, reply,
                    (extract(epoch FROM granted_at) * 1000000)::bigint
               FROM login_grants",
            &[],
        )
        .unwrap();
    let grants: Vec<(String, String, String, String, i64)> = grants
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        grants,
        [(
            "alice".to_owned(),
            "192.0.2.7".to_owned(),
            "AA:BB:CC:DD:EE:01".to_owned(),
            r#"[["Mikrotik-Rate-Limit","5M/10M"],["Session-Timeout","3600"]]"#.to_owned(),
            1_700_000_000_123_456
        )]
    );
    // An empty batch writes nothing and needs no round trip.
    assert_eq!(
        insert_batch(&mut c, &PostAuthBatch::new(), "journal-a", applied)
            .unwrap()
            .rows,
        0
    );
    // Grants that cannot be stored never hold up the log.
    c.batch_execute("DROP TABLE login_grants").unwrap();
    let mut batch = PostAuthBatch::new();
    batch.push(&records[0]);
    let written = insert_batch(&mut c, &batch, "journal-a", applied).unwrap();
    assert_eq!(written.rows, 1);
    assert!(written.grants.is_err());
}

/// Pruning forgets grants older than its age, keeps younger ones, and
/// reads the whole table, however many of its pages one statement covers.
#[test]
fn pruning_forgets_only_login_grants_older_than_the_age() {
    let env = Env::migrated();
    let mut c = env.sql();
    // 45,000 grants over more than a thousand pages: 15,000 40 days old,
    // the rest a day old or 29 days old, interleaved.
    c.batch_execute(
        "INSERT INTO login_grants (username, nasipaddress, callingstationid, reply, granted_at)
         SELECT 'user' || i, '192.0.2.1', 'AA:BB:CC:00:00:01',
                '[[\"Mikrotik-Rate-Limit\", \"5M/10M\"]]',
                now() - make_interval(days => CASE i % 3 WHEN 0 THEN 40 WHEN 1 THEN 1 ELSE 29 END)
           FROM generate_series(1, 45000) i",
    )
    .unwrap();
    let pages: i64 = c
        .query_one(
            "SELECT pg_relation_size('login_grants') / current_setting('block_size')::bigint",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(pages > 1_000, "only {pages} pages");
    assert_eq!(
        db::enforcement::prune_login_grants(&mut c, 30).unwrap(),
        15_000
    );
    let left: Vec<(i64, i64)> = c
        .query(
            "SELECT floor(extract(epoch FROM now() - granted_at) / 86400)::bigint AS d, count(*)
               FROM login_grants GROUP BY d ORDER BY d",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(left, [(1, 15_000), (29, 15_000)]);
    assert_eq!(db::enforcement::prune_login_grants(&mut c, 30).unwrap(), 0);
}

/// netily_cycle_start (SQL: where accounting puts usage) and
/// cycle::cycle_of (Rust: what a decision reads) are one rule, to the
/// second, around every cycle start of anchors on short-month days: monthly
/// (the 2-argument function, and the 3-argument one with NULL days) and
/// every N days, in a session time zone with daylight saving time (which
/// must not move a boundary).
#[test]
fn sql_and_rust_agree_on_every_cycle_start() {
    let env = Env::migrated();
    let mut c = env.sql();
    c.batch_execute("SET TimeZone = 'America/New_York'")
        .unwrap();
    let (mut anchors, mut ats, mut periods) = (Vec::new(), Vec::new(), Vec::new());
    // 2023-01-31 00:00, 2024-02-29 12:34:56, 2024-01-30 23:59:59, 2025-05-31 00:00:01
    for anchor in [
        1_675_123_200i64,
        1_709_210_096,
        1_706_659_199,
        1_748_649_601,
    ] {
        for days in [
            None,
            Some(1u32),
            Some(2),
            Some(7),
            Some(30),
            Some(365),
            Some(3660),
        ] {
            let step = i64::from(days.unwrap_or(30)) * 86_400;
            for n in -3..40 {
                let start = cycle::cycle_of(anchor, days, anchor + n * step).start;
                for at in [start - 1, start, start + 1, start + step / 2] {
                    anchors.push(anchor);
                    ats.push(at);
                    periods.push(days.map(|d| d as i32));
                }
            }
        }
    }
    let rows = c
        .query(
            "SELECT floor(extract(epoch FROM netily_cycle_start(to_timestamp(a), to_timestamp(t), d)))::bigint,
                    CASE WHEN d IS NULL
                         THEN floor(extract(epoch FROM netily_cycle_start(to_timestamp(a), to_timestamp(t))))::bigint
                    END
               FROM unnest($1::bigint[], $2::bigint[], $3::int[]) WITH ORDINALITY AS x(a, t, d, i)
              ORDER BY i",
            &[&anchors, &ats, &periods],
        )
        .unwrap();
    assert_eq!(rows.len(), anchors.len());
    for (((anchor, at), days), row) in anchors.iter().zip(&ats).zip(&periods).zip(&rows) {
        let sql: i64 = row.get(0);
        let rust = cycle::cycle_of(*anchor, days.map(|d| d as u32), *at).start;
        assert_eq!(sql, rust, "anchor {anchor}, at {at}, days {days:?}");
        if days.is_none() {
            let monthly: Option<i64> = row.get(1);
            assert_eq!(monthly, Some(rust), "anchor {anchor}, at {at}");
        }
    }
    // NULL in, NULL out, as the 2-argument function.
    let row = c
        .query_one(
            "SELECT netily_cycle_start(NULL, now(), 7) IS NULL,
                    netily_cycle_start(now(), NULL, NULL) IS NULL",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    // The column's range is the one Rust accepts.
    for (days, ok) in [(0, false), (1, true), (3660, true), (3661, false)] {
        let r = c.execute(
            "INSERT INTO plans (name, rate, cycle_days) VALUES ($1, '1M/1M', $2)",
            &[&format!("p{days}"), &days],
        );
        assert_eq!(r.is_ok(), ok, "{days}: {r:?}");
    }
}

/// A plan's own period: usage of a 1-day plan is counted per day, the
/// record (both loaders) holds today's, and `customer show` shows the day.
#[test]
fn a_one_day_plan_counts_usage_per_day() {
    let env = Env::demo();
    env.ok(&["plan", "update", "home-20M", "--cycle-days", "1"]);
    let mut c = env.sql();
    c.batch_execute(
        "UPDATE subscriptions s SET cycle_start = now() - interval '10 days 3 hours'
           FROM customers c WHERE c.id = s.customer_id AND c.username = 'alice' AND s.active;
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                              acctupdatetime, acctinputoctets, acctoutputoctets)
              VALUES ('1', 'yesterday', 'alice', '127.0.0.1', now() - interval '30 hours',
                      now() - interval '28 hours', 4000, 1000),
                     ('2', 'today', 'alice', '127.0.0.1', now() - interval '1 hour',
                      now(), 500, 200);",
    )
    .unwrap();
    let alice = db::load_subscriber(&mut c, "alice").unwrap().unwrap();
    assert_eq!(alice.plan.as_ref().unwrap().cycle_days, Some(1));
    let anchor = alice.subscription.as_ref().unwrap().cycle_start;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let this = cycle::cycle_of(anchor, Some(1), now);
    assert_eq!(this.end - this.start, 86_400);
    assert_eq!((this.start - anchor) % 86_400, 0);
    assert_eq!(alice.usage_cycle_start, Some(this.start));
    assert_eq!(alice.cycle_usage_bytes, 700);
    assert_eq!(cycle::usage_now(&alice, now), 700);
    assert_eq!(cycle::usage_now(&alice, this.end), 0);
    let all = db::load_all_subscribers(&mut c).unwrap();
    let bulk = all
        .iter()
        .find(|r| r.subscriber.username == "alice")
        .unwrap();
    assert_eq!(bulk.usage_cycle_start, alice.usage_cycle_start);
    assert_eq!(bulk.cycle_usage_bytes, 700);
    assert_eq!(env.count("SELECT count(*) FROM usage u JOIN customers c ON c.id = u.customer_id WHERE c.username = 'alice'"), 2);

    let shown = env.json(&["customer", "show", "alice"]);
    assert_eq!(shown["cycle"]["start"], this.start);
    assert_eq!(shown["cycle"]["end"], this.end);
    assert_eq!(shown["cycle"]["cycle_days"], 1);
    assert_eq!(shown["cycle"]["usage_bytes"], 700);
    let text = env.ok(&["customer", "show", "alice"]);
    assert!(text.contains("(1 day)"), "{text}");
    // Back to monthly: the cycle is the anchor day's again.
    env.ok(&["plan", "update", "home-20M", "--cycle-days", "monthly"]);
    let shown = env.json(&["customer", "show", "alice"]);
    assert_eq!(shown["cycle"]["start"], anchor);
    assert!(shown["cycle"]["cycle_days"].is_null());
}

/// Usage belongs to the cycle of its accounting time: last cycle's traffic
/// is not this cycle's, and `customer show` shows this cycle's.
#[test]
fn usage_lands_in_the_cycle_of_its_time() {
    let env = Env::demo();
    let mut c = env.sql();
    c.batch_execute(
        "UPDATE subscriptions s SET cycle_start = now() - interval '40 days'
           FROM customers c WHERE c.id = s.customer_id AND c.username = 'alice' AND s.active;
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                              acctupdatetime, acctinputoctets, acctoutputoctets)
              VALUES ('1', 'last-cycle', 'alice', '127.0.0.1', now() - interval '39 days',
                      now() - interval '38 days', 4000, 1000),
                     ('2', 'this-cycle', 'alice', '127.0.0.1', now() - interval '1 hour',
                      now(), 500, 200);",
    )
    .unwrap();
    let alice = db::load_subscriber(&mut c, "alice").unwrap().unwrap();
    let anchor = alice.subscription.as_ref().unwrap().cycle_start;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let this = cycle::cycle_at(anchor, now);
    assert!(this.start > anchor && this.start < now - 86_400, "{this:?}");
    assert_eq!(alice.usage_cycle_start, Some(this.start));
    assert_eq!(alice.cycle_usage_bytes, 700);
    assert_eq!(env.count("SELECT sum(bytes)::bigint FROM usage u JOIN customers c ON c.id = u.customer_id WHERE c.username = 'alice'"), 5_700);

    let shown = env.json(&["customer", "show", "alice"]);
    assert_eq!(shown["cycle"]["start"], this.start);
    assert_eq!(shown["cycle"]["end"], this.end);
    assert_eq!(shown["cycle"]["usage_bytes"], 700);
    let text = env.ok(&["customer", "show", "ivan"]);
    assert!(text.contains("120 GB of 100 GB cap"), "{text}");
}

/// Other writers' usage on a 1-day plan (the radacct triggers): a cap
/// crossed in today's cycle is notified, as the accounting writer does.
#[test]
fn a_cap_crossed_in_a_one_day_cycle_is_notified() {
    let env = Env::demo();
    env.ok(&[
        "plan",
        "update",
        "home-20M",
        "--cycle-days",
        "1",
        "--data-cap",
        "10k",
        "--fair-use-rate",
        "1M/1M",
    ]);
    let mut listener = env.sql();
    listener.batch_execute("LISTEN netily_changed").unwrap();
    env.sql()
        .batch_execute(
            "UPDATE subscriptions s SET cycle_start = now() - interval '10 days 3 hours'
               FROM customers c WHERE c.id = s.customer_id AND c.username = 'alice' AND s.active;
             INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                                  acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets)
                  VALUES ('1', 'today', 'alice', '127.0.0.1', now() - interval '1 hour',
                          now(), 6000, 6000);",
        )
        .unwrap();
    let mut n = listener.notifications();
    let mut it = n.timeout_iter(Duration::from_secs(5));
    let mut got = Vec::new();
    while !got.contains(&"usage alice".to_owned()) {
        match it.next().unwrap() {
            Some(note) => got.push(note.payload().to_owned()),
            None => panic!("no cap notification: {got:?}"),
        }
    }
    // Counted in today's cycle (10 days after the anchor), not the month's.
    assert_eq!(
        env.count(
            "SELECT count(*) FROM usage u JOIN subscriptions s ON s.customer_id = u.customer_id AND s.active
              WHERE u.cycle_start = s.cycle_start + interval '240 hours' AND u.bytes = 12000"
        ),
        1
    );
}
