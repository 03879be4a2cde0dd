//! Retention end to end: sessions sent with radclient to a real radiusd
//! running rlm_netily land in radacct's months (partitions, migration 0030);
//! `netadmin retention` drops whole old months, leaves the others exactly
//! as they were, keeps a month with a session still open, and never holds
//! accounting up, even while a reader keeps it from dropping anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use netily_core::retention::month_start;
use netily_tests::freeradius::Radiusd;
use netily_tests::isp::Isp;
use serde_json::Value;

fn now() -> i64 {
    netily_core::clock::now()
}

fn packet(status: &str, user: &str, session: &str, at: i64, extra: &str) -> String {
    format!(
        "Acct-Status-Type = {status}, User-Name = \"{user}\", Acct-Session-Id = \"{session}\", \
         NAS-IP-Address = 127.0.0.1, NAS-Port-Id = \"<pppoe-{user}>\", \
         Framed-IP-Address = 100.64.0.9, Event-Timestamp = {at}{extra}\n"
    )
}

fn acct(server: &Radiusd, packet: &str) {
    let reply = server.acct(packet).unwrap();
    assert!(reply.is("Accounting-Response"), "{packet}: {reply:?}");
}

/// A closed session of `user` from `at`: ten minutes, `octets` each way.
fn session(server: &Radiusd, user: &str, id: &str, at: i64, octets: i64) {
    acct(server, &packet("Start", user, id, at, ""));
    acct(
        server,
        &packet(
            "Stop",
            user,
            id,
            at + 600,
            &format!(
                ", Acct-Session-Time = 600, Acct-Input-Octets = {octets}, \
                 Acct-Output-Octets = {octets}"
            ),
        ),
    );
}

/// radacct's rows by partition: (partition, rows, input octets).
fn by_partition(conn: &mut postgres::Client) -> Vec<(String, i64, i64)> {
    conn.query(
        "SELECT tableoid::regclass::text, count(*), sum(acctinputoctets)::bigint
           FROM radacct GROUP BY 1 ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// radacct_YYYY_MM of the month `m` months from now.
fn partition(m: i64) -> String {
    let days = month_start(now(), m).div_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mp = (5 * (doe - (365 * yoe + yoe / 4 - yoe / 100)) + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("radacct_{year}_{month:02}")
}

/// netadmin --json retention with `config`.
fn retention(config: &Path) -> Output {
    Command::new(netily_tests::netadmin::netadmin_bin())
        .arg("--config")
        .arg(config)
        .args(["--json", "retention"])
        .env_remove("NETILY_DATABASE_URL")
        .output()
        .unwrap()
}

fn succeeded(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `isp`'s config with `extra` lines after it, in a file of its own.
fn config_with(isp: &Isp, name: &str, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(isp.config()).unwrap();
    let path = isp.config().with_file_name(name);
    std::fs::write(&path, format!("{base}{extra}")).unwrap();
    path
}

#[test]
fn retention_drops_whole_old_months_keeps_the_rest_and_never_holds_up_accounting() {
    let isp = Isp::with_config("retention_e2e", "keep_radacct_months = 12\n");
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    for user in ["alice", "bob", "carol"] {
        isp.customer(user, "secret", "home");
    }
    let server = isp.radiusd();
    let mut conn = isp.sql();
    let t = now();

    // A session in each of the four months before this one, and this month
    // (a day in, or a minute ago when the month is younger than a day).
    let mut octets = 0;
    for m in [-4, -3, -2, -1] {
        octets += 1000;
        session(
            &server,
            "alice",
            &format!("m{m}"),
            month_start(t, m) + 86_400,
            octets,
        );
    }
    session(
        &server,
        "alice",
        "m0",
        (month_start(t, 0) + 86_400).min(t - 700),
        5000,
    );
    // bob's session four months ago is still open.
    acct(
        &server,
        &packet("Start", "bob", "old-open", month_start(t, -4) + 7200, ""),
    );

    // Migration made last month to two ahead; older months went to the
    // default partition, until retention gave each its own, moving its rows.
    let rows = by_partition(&mut conn);
    assert!(
        rows.contains(&("radacct_default".into(), 4, 6000)),
        "{rows:?}"
    );
    let run = succeeded(&retention(isp.config()));
    let created: Vec<&str> = run["run"]["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(created, [partition(-4), partition(-3), partition(-2)]);
    assert!(
        run["run"]["dropped"].as_array().unwrap().is_empty(),
        "{run}"
    );
    let before = by_partition(&mut conn);
    let expected = vec![
        (partition(-1), 1, 4000),
        (partition(-2), 1, 3000),
        (partition(-3), 1, 2000),
        (partition(-4), 2, 1000),
        (partition(0), 1, 5000),
    ];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(before, sorted);

    // A reader holds radacct (a long report), so no month can be dropped
    // now: retention gives way again and again, then gives up, and
    // accounting goes on throughout, each packet applied within moments.
    let keep_one = config_with(&isp, "keep-one.conf", "keep_radacct_months = 1\n");
    let mut reader = isp.sql();
    let mut report = reader.transaction().unwrap();
    report.query("SELECT count(*) FROM radacct", &[]).unwrap();
    let blocked = std::thread::spawn({
        let keep_one = keep_one.clone();
        move || retention(&keep_one)
    });
    let live = (month_start(t, 0) + 60).max(t - 3600);
    acct(&server, &packet("Start", "carol", "live", live, ""));
    let mut slowest = Duration::ZERO;
    let mut secs = 0;
    while !blocked.is_finished() {
        secs += 60;
        let sent = Instant::now();
        acct(
            &server,
            &packet(
                "Interim-Update",
                "carol",
                "live",
                live + secs,
                &format!(", Acct-Session-Time = {secs}, Acct-Input-Octets = {secs}"),
            ),
        );
        slowest = slowest.max(sent.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = blocked.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("lock"), "{stderr}");
    assert!(secs >= 60 * 5, "only {} packets while it tried", secs / 60);
    assert!(
        slowest < Duration::from_secs(3),
        "an Interim-Update took {slowest:?}"
    );
    let stored: i64 = conn
        .query_one(
            "SELECT acctinputoctets FROM radacct WHERE acctsessionid = 'live'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, secs);
    report.commit().unwrap();

    // The reader gone: the two months past retention with no session open
    // are dropped whole; bob's open session keeps its month; the rest is
    // exactly as it was.
    let run = succeeded(&retention(&keep_one));
    let dropped: Vec<(String, i64)> = run["run"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["partition"].as_str().unwrap().to_owned(),
                d["open_sessions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dropped,
        [(partition(-4), 1), (partition(-3), 0), (partition(-2), 0)]
    );
    let mut after = by_partition(&mut conn);
    after.retain(|(name, _, _)| *name != partition(0));
    let mut kept = vec![(partition(-1), 1, 4000), (partition(-4), 2, 1000)];
    kept.sort();
    assert_eq!(after, kept);
    let names: Vec<String> = conn
        .query("SELECT name FROM netily_radacct_partitions()", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !names.contains(&partition(-3)) && !names.contains(&partition(-2)),
        "{names:?}"
    );

    // Once bob's session closes, its month goes too.
    acct(
        &server,
        &packet(
            "Stop",
            "bob",
            "old-open",
            month_start(t, -4) + 9000,
            ", Acct-Session-Time = 1800",
        ),
    );
    let run = succeeded(&retention(&keep_one));
    assert_eq!(
        run["run"]["dropped"][0]["partition"],
        partition(-4).as_str()
    );
    assert_eq!(run["run"]["dropped"][0]["open_sessions"], 0);
    let text = isp.netadmin(&["retention", "--dry-run", "--partitions"]);
    assert!(text.contains("Nothing is past retention."), "{text}");
    assert!(
        text.contains(&partition(-1)) && text.contains("radacct_default"),
        "{text}"
    );
}

/// Logins and usage hours past their months go; months of usage stay.
#[test]
fn old_logins_and_usage_hours_are_deleted_and_usage_months_kept() {
    let isp = Isp::with_config(
        "retention_rows",
        "keep_radpostauth_months = 1\nkeep_hourly_usage_months = 1\n",
    );
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    isp.customer("alice", "secret", "home");
    let server = isp.radiusd();
    let mut conn = isp.sql();
    let t = now();
    let old = month_start(t, -3) + 86_400;
    session(&server, "alice", "old", old, 7000);
    conn.execute(
        "INSERT INTO radpostauth (username, reply, authdate)
         VALUES ('alice', 'Access-Accept', to_timestamp($1::bigint)),
                ('alice', 'Access-Accept', now())",
        &[&old],
    )
    .unwrap();
    let count = |conn: &mut postgres::Client, sql: &str| -> i64 {
        conn.query_one(sql, &[]).unwrap().get(0)
    };
    assert!(count(&mut conn, "SELECT count(*) FROM usage_hours") > 0);

    let dry = isp.netadmin(&["retention", "--dry-run"]);
    assert!(dry.contains("Would delete 1 row(s) of logins"), "{dry}");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM radpostauth"), 2);

    let run = succeeded(&retention(isp.config()));
    assert_eq!(run["run"]["radpostauth_rows"], 1);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM radpostauth"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM usage_hours"), 0);
    // The month's usage stays, and the session itself (24 months by default).
    assert_eq!(
        count(&mut conn, "SELECT sum(bytes_up)::bigint FROM usage_months"),
        7000
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM radacct"), 1);
    // Reports by month still read it; by day its hours are gone.
    let by_month: Value = serde_json::from_str(&isp.netadmin(&[
        "--json", "usage", "alice", "--period", "12m", "--by", "month",
    ]))
    .unwrap();
    assert_eq!(by_month["total"]["bytes_up"], 7000, "{by_month}");
    assert_eq!(by_month["rows"].as_array().unwrap().len(), 1, "{by_month}");
}

/// Routers reuse session ids after a reboot: a Start more than a day away
/// from the stored session with its id is a new session, a row of its own
/// in its own month, and its Interim-Updates and Stop go to it.
#[test]
fn a_session_id_reused_months_later_is_a_new_session() {
    let isp = Isp::with_plan("retention_reuse", "home", "5M/10M");
    isp.customer("alice", "secret", "home");
    let server = isp.radiusd();
    let mut conn = isp.sql();
    let t = now();
    session(
        &server,
        "alice",
        "reused",
        month_start(t, -2) + 86_400,
        1000,
    );
    let at = t - 600;
    acct(&server, &packet("Start", "alice", "reused", at, ""));
    acct(
        &server,
        &packet(
            "Interim-Update",
            "alice",
            "reused",
            at + 300,
            ", Acct-Session-Time = 300, Acct-Input-Octets = 77",
        ),
    );
    let rows: Vec<(String, i64, bool)> = conn
        .query(
            "SELECT tableoid::regclass::text, acctinputoctets, acctstoptime IS NULL
               FROM radacct WHERE acctsessionid = 'reused' ORDER BY acctstarttime",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            ("radacct_default".to_owned(), 1000, false),
            (partition(0), 77, true)
        ]
    );
}
