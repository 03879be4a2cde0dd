//! Usage rollups and reports end to end: accounting sent with radclient to
//! a real radiusd running rlm_netily, applied by its writer to a real
//! PostgreSQL, read back by `netadmin usage`.

use netily_tests::freeradius::Radiusd;
use netily_tests::isp::Isp;
use serde_json::Value;

/// 2026-11-10 09:50:00 in Nairobi (UTC+3, no summer time): 06:50 UTC.
const B: i64 = 1_794_293_400;
/// The start of 2026-11-10 09:00 in Nairobi, as a Unix time.
const HOUR_09: i64 = B - 50 * 60;
const HOUR: i64 = 3600;
const GW: i64 = 1 << 32;
/// alice's 2026-11-10 by hour.
const DAY_BY_HOUR: [&str; 8] = [
    "usage",
    "alice",
    "--from",
    "2026-11-10",
    "--to",
    "2026-11-10",
    "--by",
    "hour",
];

fn packet(status: &str, session: &str, at: i64, extra: &str) -> String {
    format!(
        "Acct-Status-Type = {status}, User-Name = \"alice\", Acct-Session-Id = \"{session}\", \
         NAS-IP-Address = 127.0.0.1, NAS-Port-Id = \"<pppoe-alice>\", NAS-Port-Type = Ethernet, \
         Framed-IP-Address = 100.64.0.9, Calling-Station-Id = \"AA:BB:CC:DD:EE:01\", \
         Event-Timestamp = {at}{extra}\n"
    )
}

/// Every packet twice: a retransmit must move nothing.
fn send(server: &Radiusd, packet: &str) {
    server.acct_twice(packet);
}

/// (hour start, up, down, seconds, sessions) of alice's hours.
fn hours(conn: &mut postgres::Client) -> Vec<(i64, i64, i64, i64, i32)> {
    conn.query(
        "SELECT floor(extract(epoch FROM hour))::bigint, bytes_up, bytes_down, seconds, sessions
           FROM usage_hours WHERE username = 'alice' AND nasipaddress = '127.0.0.1'
          ORDER BY hour",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

/// A fresh directory for a test's files.
fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netily-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(isp: &Isp, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = isp.netadmin(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn totals(v: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        n("bytes_up"),
        n("bytes_down"),
        n("seconds_online"),
        n("sessions"),
    )
}

/// Two sessions of one subscriber, with everything a router sends that
/// could count twice or not at all: retransmits, a late Interim-Update,
/// Gigawords, a 32-bit counter that wraps, a lost Start, a Stop without
/// counters, an Interim-Update after the Stop; growth across hours is
/// spread over them by time. The hours are exactly as worked out below,
/// and every report over them sums to the sessions' radacct totals.
#[test]
fn sessions_make_exactly_the_expected_hourly_rollups_and_reports_sum_them() {
    let isp = Isp::with_config("usage_e2e", "timezone = Africa/Nairobi\n");
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    isp.customer("alice", "alice-secret", "home");
    let server = isp.radiusd();
    let mut conn = isp.sql();

    // Session 1, with Gigawords (as RouterOS sends them).
    send(&server, &packet("Start", "s1", B, ""));
    let interim = |secs: i64, i: i64, ig: i64, o: i64, og: i64| {
        format!(
            ", Acct-Session-Time = {secs}, Acct-Input-Octets = {i}, Acct-Input-Gigawords = {ig}, \
             Acct-Output-Octets = {o}, Acct-Output-Gigawords = {og}"
        )
    };
    // 09:50 -> 10:10: half in each hour.
    send(
        &server,
        &packet(
            "Interim-Update",
            "s1",
            B + 1200,
            &interim(1200, 1200, 0, 12_000, 0),
        ),
    );
    // 10:10 -> 10:20, through 4 GiB.
    send(
        &server,
        &packet(
            "Interim-Update",
            "s1",
            B + 1800,
            &interim(1800, 100, 1, 24_000, 0),
        ),
    );
    // Late (10:15, lower counters): nothing moves.
    send(
        &server,
        &packet(
            "Interim-Update",
            "s1",
            B + 1500,
            &interim(1500, 1500, 0, 18_000, 0),
        ),
    );
    // 10:20 -> 11:05: 40 minutes in 10h, 5 in 11h.
    send(
        &server,
        &packet(
            "Stop",
            "s1",
            B + 4500,
            &format!(
                "{}, Acct-Terminate-Cause = User-Request",
                interim(4500, 200, 1, 30_000, 0)
            ),
        ),
    );
    // After the Stop: nothing.
    send(
        &server,
        &packet(
            "Interim-Update",
            "s1",
            B + 4800,
            &interim(4800, 999, 2, 99_999, 0),
        ),
    );

    // Session 2: its Start lost, 32-bit counters (no Gigawords) that wrap.
    let plain = |secs: i64, i: i64, o: i64| {
        format!(", Acct-Session-Time = {secs}, Acct-Input-Octets = {i}, Acct-Output-Octets = {o}")
    };
    // 11:55, begun 11:50.
    send(
        &server,
        &packet(
            "Interim-Update",
            "s2",
            B + 7500,
            &plain(300, 4_000_000_000, 1000),
        ),
    );
    // 12:00:00 sharp: the input counter wrapped.
    send(
        &server,
        &packet("Interim-Update", "s2", B + 7800, &plain(600, 100, 2000)),
    );
    // A late copy of an earlier report (the router's session clock says 590
    // s, before the 600 stored), sent without Event-Timestamp: the arrival
    // time is newer and its counter lower, but it is no wrap.
    send(
        &server,
        &format!(
            "Acct-Status-Type = Interim-Update, User-Name = \"alice\", Acct-Session-Id = \"s2\", \
             NAS-IP-Address = 127.0.0.1, NAS-Port-Id = \"<pppoe-alice>\", NAS-Port-Type = Ethernet, \
             Framed-IP-Address = 100.64.0.9, Calling-Station-Id = \"AA:BB:CC:DD:EE:01\"{}\n",
            plain(590, 50, 1990)
        ),
    );
    // 12:10, a Stop without counters.
    send(
        &server,
        &packet("Stop", "s2", B + 8400, ", Acct-Session-Time = 1200"),
    );

    // Session 3 begins at 12:20; the router restarts at 12:30 (its
    // Accounting-On closes it, crediting the 10 minutes).
    send(&server, &packet("Start", "s3", B + 9000, ""));
    send(
        &server,
        &format!(
            "Acct-Status-Type = Accounting-On, NAS-IP-Address = 127.0.0.1, Event-Timestamp = {}\n",
            B + 9600
        ),
    );

    let radacct: (i64, i64, i64) = {
        let r = conn
            .query_one(
                "SELECT sum(acctinputoctets)::bigint, sum(acctoutputoctets)::bigint,
                        sum(acctsessiontime)::bigint
                   FROM radacct WHERE username = 'alice'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    let wrapped: i64 = conn
        .query_one(
            "SELECT acctinputoctets FROM radacct WHERE acctsessionid = 's2'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrapped, GW + 100, "the wrapped counter adds 2^32");
    assert_eq!(radacct, (2 * GW + 200 + 100, 32_000, 5700 + 600));

    // 10h: 600 + (GW + 100 - 1200) + 88 (= floor(100 * 40/45)) up.
    let expected = vec![
        (HOUR_09, 600, 6000, 600, 1),
        (
            HOUR_09 + HOUR,
            600 + GW + 100 - 1200 + 88,
            6000 + 12_000 + 5333,
            600 + 600 + 2400,
            0,
        ),
        (
            HOUR_09 + 2 * HOUR,
            12 + 4_000_000_000 + (GW - 4_000_000_000 + 100),
            667 + 1000 + 1000,
            300 + 300 + 300,
            1,
        ),
        (HOUR_09 + 3 * HOUR, 0, 0, 600 + 600, 1),
    ];
    assert_eq!(hours(&mut conn), expected);
    let sum = expected.iter().fold((0, 0, 0, 0), |a, h| {
        (a.0 + h.1, a.1 + h.2, a.2 + h.3, a.3 + i64::from(h.4))
    });
    assert_eq!((sum.0, sum.1, sum.2), radacct);
    let whole = (sum.0, sum.1, sum.2, 3);

    // The router's hours are the same (alice is its only subscriber): these
    // hours arrived after their month was folded, so they wait as late
    // growth (appended, never a shared row to update) until the next fold.
    let router_hours =
        |conn: &mut postgres::Client, table: &str| -> Vec<(i64, i64, i64, i64, i32)> {
            conn.query(
                &format!(
                    "SELECT floor(extract(epoch FROM hour))::bigint, sum(bytes_up)::bigint,
                        sum(bytes_down)::bigint, sum(seconds)::bigint, sum(sessions)::integer
                   FROM {table} WHERE nasipaddress = '127.0.0.1' GROUP BY hour ORDER BY hour"
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect()
        };
    assert_eq!(router_hours(&mut conn, "router_usage_late"), expected);
    assert_eq!(router_hours(&mut conn, "router_usage_hours"), vec![]);

    // The subscriber's report, by hour, on the ISP's clock.
    let by_hour = json(&isp, &DAY_BY_HOUR);
    let rows = by_hour["rows"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "2026-11-10 09:00 +03",
            "2026-11-10 10:00 +03",
            "2026-11-10 11:00 +03",
            "2026-11-10 12:00 +03"
        ]
    );
    for (row, h) in rows.iter().zip(&expected) {
        assert_eq!(row["start"].as_i64(), Some(h.0));
        assert_eq!(totals(row), (h.1, h.2, h.3, i64::from(h.4)));
    }
    assert_eq!(totals(&by_hour["total"]), whole);
    assert_eq!(by_hour["zone"], "Africa/Nairobi");

    // By day and by billing cycle over the month: one group, the same sums.
    for by in ["day", "month", "cycle"] {
        let r = json(&isp, &["usage", "alice", "--period", "2026-11", "--by", by]);
        let rows = r["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{by}: {r}");
        assert_eq!(totals(&rows[0]), whole, "{by}");
        assert_eq!(totals(&r["total"]), whole, "{by}");
    }

    // --user names a subscriber too (one called "top" could not be named otherwise).
    let by_flag = json(&isp, &["usage", "--user", "alice", "--period", "2026-11"]);
    assert_eq!(totals(&by_flag["total"]), whole);

    // CSV holds what JSON does.
    let csv = isp.netadmin(&[&DAY_BY_HOUR[..], &["--csv"]].concat());
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "period,start_unix,bytes_up,bytes_down,bytes_total,seconds_online,sessions"
    );
    assert_eq!(lines.len(), 1 + expected.len());
    for (line, h) in lines[1..].iter().zip(&expected) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[1], h.0.to_string());
        assert_eq!(
            cells[2..],
            [
                h.1.to_string(),
                h.2.to_string(),
                (h.1 + h.2).to_string(),
                h.3.to_string(),
                h.4.to_string()
            ]
        );
    }

    // Top users, routers and plans: over the whole month (read from the
    // monthly sums: these hours arrived after their month was folded) and
    // over the day (read from the hours), before and after a fold.
    for _ in 0..2 {
        for period in [
            &["--period", "2026-11"][..],
            &["--from", "2026-11-10", "--to", "2026-11-10"],
        ] {
            let mut args = vec!["usage", "top"];
            args.extend_from_slice(period);
            let top = json(&isp, &args);
            assert_eq!(top[0]["username"], "alice", "{top}");
            assert_eq!(totals(&top[0]), whole, "{period:?}");
            assert_eq!(top.as_array().unwrap().len(), 1);

            let mut args = vec!["usage", "routers"];
            args.extend_from_slice(period);
            let routers = json(&isp, &args);
            assert_eq!(routers[0]["nas_ip"], "127.0.0.1", "{routers}");
            assert_eq!(routers[0]["subscribers"], 1);
            assert_eq!(totals(&routers[0]), whole);

            let mut args = vec!["usage", "plans"];
            args.extend_from_slice(period);
            let plans = json(&isp, &args);
            assert_eq!(plans[0]["plan"], "home", "{plans}");
            assert_eq!(
                (
                    plans[0]["subscribers"].as_i64(),
                    plans[0]["with_usage"].as_i64()
                ),
                (Some(1), Some(1))
            );
            assert_eq!(totals(&plans[0]), whole);
        }
        isp.netadmin(&["usage", "fold"]);
    }
    assert_eq!(router_hours(&mut conn, "router_usage_hours"), expected);
    assert_eq!(router_hours(&mut conn, "router_usage_late"), vec![]);
    let months: i64 = conn
        .query_one(
            "SELECT count(*) FROM usage_months WHERE username = 'alice'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(months, 1, "one month row for alice on one router");

    // Charts: the day's bars in GB, labelled by day; the same as PNG; a
    // router's week by hour (168 hours, zeros where nothing moved), as a
    // rate; the top users.
    let dir = tempdir("usage_charts");
    let alice_chart = |file: &str| {
        let path = dir.join(file);
        isp.netadmin(&[
            "usage",
            "alice",
            "--period",
            "2026-11",
            "--chart",
            path.to_str().unwrap(),
        ]);
        path
    };
    let svg = alice_chart("alice.svg");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{text:.80}");
    assert!(
        text.contains(">\nGB\n<") && text.contains(">\n2026-11-10\n<"),
        "{text}"
    );
    let bytes = std::fs::read(alice_chart("alice.png")).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(
        (size(16), size(20)),
        (netily_charts::WIDTH, netily_charts::HEIGHT)
    );
    let week = dir.join("router.svg");
    let hours_json = json(
        &isp,
        &[
            "usage",
            "routers",
            "--router",
            "127.0.0.1",
            "--from",
            "2026-11-10",
            "--to",
            "2026-11-16",
            "--chart",
            week.to_str().unwrap(),
        ],
    );
    let hours_rows = hours_json.as_array().unwrap();
    assert_eq!(hours_rows.len(), 7 * 24);
    let in_week = hours_rows.iter().fold((0, 0, 0, 0), |a, r| {
        let t = totals(r);
        (a.0 + t.0, a.1 + t.1, a.2 + t.2, a.3 + t.3)
    });
    assert_eq!(in_week, whole);
    let text = std::fs::read_to_string(&week).unwrap();
    assert!(
        text.contains("bit/s") && text.contains("average rate"),
        "{text:.300}"
    );
    let top = dir.join("top.svg");
    isp.netadmin(&[
        "usage",
        "top",
        "--period",
        "2026-11",
        "--chart",
        top.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&top)
        .unwrap()
        .contains(">\nalice\n<"));

    // Another day has nothing; an unknown subscriber is an error.
    let empty = json(&isp, &["usage", "top", "--period", "2026-10"]);
    assert_eq!(empty, serde_json::json!([]));
    let stderr = netadmin_fails(isp.config(), &["usage", "nobody"]);
    assert!(stderr.contains("subscriber 'nobody' not found"), "{stderr}");

    // The zone cannot change under counted usage.
    let utc = dir.join("utc.conf");
    std::fs::write(
        &utc,
        format!("database_url = {}\ntimezone = UTC\n", isp.url()),
    )
    .unwrap();
    let stderr = netadmin_fails(&utc, &["migrate"]);
    assert!(
        stderr.contains("changing the time zone from Africa/Nairobi to UTC"),
        "{stderr}"
    );

    // A report outside one snapshot is refused rather than risk counting a
    // fold twice.
    let mut tx = conn.transaction().unwrap();
    let span = netily_core::db::usage::Span {
        from: HOUR_09,
        to: HOUR_09 + HOUR,
        zone: "Africa/Nairobi".into(),
    };
    let e = netily_core::db::usage::routers(&mut tx, &span).unwrap_err();
    assert!(e.to_string().contains("one snapshot"), "{e}");
}

/// Runs netadmin, which must fail; its standard error.
fn netadmin_fails(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(netily_tests::netadmin::netadmin_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("NETILY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "netadmin {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Rows written by others (stock rlm_sql's queries, a hand-written UPDATE)
/// are counted too, through radacct's trigger, with the same rules.
#[test]
fn other_writers_sessions_are_counted_by_the_trigger() {
    let isp = Isp::new("usage_trigger");
    isp.netadmin(&["migrate"]);
    let mut conn = isp.sql();
    conn.batch_execute(&format!(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                              acctupdatetime, acctinputoctets, acctoutputoctets, acctsessiontime)
         VALUES ('x', 'x1', 'alice', '127.0.0.1', to_timestamp({B}), to_timestamp({B}), 0, 0, 0);
         UPDATE radacct SET acctinputoctets = 1200, acctoutputoctets = 12000, acctsessiontime = 1200,
                            acctupdatetime = to_timestamp({}) WHERE acctuniqueid = 'x1';
         UPDATE radacct SET acctinputoctets = 1200, acctupdatetime = to_timestamp({})
          WHERE acctuniqueid = 'x1';",
        B + 1200,
        B + 1300
    ))
    .unwrap();
    // UTC hours this time (no timezone configured): 06:00 and 07:00.
    let utc_06 = B - 50 * 60;
    assert_eq!(
        hours(&mut conn),
        vec![
            (utc_06, 600, 6000, 600, 1),
            (utc_06 + HOUR, 600, 6000, 600, 0)
        ]
    );
    // A row that learns its username late counts from its start.
    conn.batch_execute(&format!(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, nasipaddress, acctstarttime,
                              acctupdatetime, acctinputoctets, acctoutputoctets, acctsessiontime)
         VALUES ('y', 'y1', '127.0.0.1', to_timestamp({B}), to_timestamp({B}), 70, 700, 60);
         UPDATE radacct SET username = 'alice' WHERE acctuniqueid = 'y1';"
    ))
    .unwrap();
    assert_eq!(hours(&mut conn)[0], (utc_06, 670, 6700, 660, 2));
}
