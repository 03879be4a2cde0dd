//! `netadmin import` from a stock FreeRADIUS rlm_sql database: the schema is
//! the one FreeRADIUS ships (mods-config/sql/main/postgresql/schema.sql),
//! filled the way daloRADIUS fills it. Then the imported subscribers log in
//! through rlm_netily with the same passwords and their groups' rates.

use std::fs;

use netily_tests::isp::Isp;

const STOCK_SCHEMA: &str = "/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql";

/// What daloRADIUS does: users with a Cleartext-Password in radcheck and a
/// group in radusergroup; groups' rates in radgroupreply; a disabled user
/// in daloRADIUS-Disabled-Users (radgroupcheck Auth-Type := Reject).
fn fill_like_daloradius(src: &mut postgres::Client) {
    let check = "INSERT INTO radcheck (UserName, Attribute, op, Value) VALUES ($1, $2, $3, $4)";
    for (user, attr, op, value) in [
        ("alice", "Cleartext-Password", ":=", "alice-pw"),
        ("bob", "Cleartext-Password", ":=", "bob-pw"),
        ("bob", "Simultaneous-Use", ":=", "2"),
        ("carol", "Cleartext-Password", ":=", "carol-pw"),
        ("carol", "Calling-Station-Id", "==", "aa:bb:cc:dd:ee:01"),
        ("carol", "Expiration", ":=", "01 Jan 2099"),
        (
            "dave",
            "MD5-Password",
            ":=",
            "5f4dcc3b5aa765d61d8327deb882cf99",
        ),
        ("erin", "Cleartext-Password", ":=", "erin-pw"),
        ("erin", "Login-Time", ":=", "Wk0800-1800"),
        ("frank", "Cleartext-Password", ":=", "frank-pw"),
    ] {
        src.execute(check, &[&user, &attr, &op, &value]).unwrap();
    }
    let member = "INSERT INTO radusergroup (UserName, GroupName, priority) VALUES ($1, $2, $3)";
    for (user, group, prio) in [
        ("alice", "gold", 1),
        ("bob", "gold", 1),
        ("carol", "silver", 1),
        ("erin", "silver", 1),
        ("frank", "gold", 1),
        ("frank", "daloRADIUS-Disabled-Users", 0),
    ] {
        src.execute(member, &[&user, &group, &prio]).unwrap();
    }
    let reply =
        "INSERT INTO radgroupreply (GroupName, Attribute, op, Value) VALUES ($1, $2, $3, $4)";
    for (group, attr, op, value) in [
        ("gold", "Mikrotik-Rate-Limit", ":=", "10M/20M"),
        ("silver", "Mikrotik-Rate-Limit", ":=", "2M/4M"),
        ("silver", "Session-Timeout", ":=", "3600"),
    ] {
        src.execute(reply, &[&group, &attr, &op, &value]).unwrap();
    }
    src.execute(
        "INSERT INTO radgroupcheck (GroupName, Attribute, op, Value)
         VALUES ('daloRADIUS-Disabled-Users', 'Auth-Type', ':=', 'Reject')",
        &[],
    )
    .unwrap();
    src.execute(
        "INSERT INTO radreply (UserName, Attribute, op, Value)
         VALUES ('alice', 'Framed-IP-Address', ':=', '100.64.0.7')",
        &[],
    )
    .unwrap();
    src.execute(
        "INSERT INTO nas (nasname, shortname, type, secret, description)
         VALUES ('192.0.2.50', 'tower-50', 'other', 'nas-secret-50', 'north')",
        &[],
    )
    .unwrap();
}

#[test]
fn an_rlm_sql_database_is_imported_and_its_users_log_in_unchanged() {
    let mut isp = Isp::new("netily_import");
    isp.netadmin(&["migrate"]);
    let src_url = isp.cluster().create_database("rlm_sql_src").unwrap();
    let mut src = postgres::Client::connect(&src_url, postgres::NoTls).unwrap();
    let schema = fs::read_to_string(STOCK_SCHEMA).unwrap();
    src.batch_execute(&schema).unwrap();
    fill_like_daloradius(&mut src);
    // Netily already has a "silver" that is not the old system's silver.
    isp.netadmin(&["plan", "add", "silver", "--rate", "1M/1M"]);
    let csv = isp.config().with_file_name("subscribers.csv");
    fs::write(
        &csv,
        "username,full_name,phone,email\nalice,\"Smith, Alice\",+2547000001,alice@example.net\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();

    // A dry run reports and changes nothing.
    let dry: serde_json::Value = serde_json::from_str(&isp.netadmin(&[
        "--json",
        "import",
        "--from",
        &src_url,
        "--subscribers",
        csv,
        "--dry-run",
    ]))
    .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["subscribers_created"], 6, "{dry}");
    let count = |isp: &Isp, q: &str| -> i64 { isp.sql().query_one(q, &[]).unwrap().get(0) };
    assert_eq!(count(&isp, "SELECT count(*) FROM customers"), 0);
    assert_eq!(count(&isp, "SELECT count(*) FROM plans"), 1);

    let text = isp.netadmin(&["import", "--from", &src_url, "--subscribers", csv]);
    assert!(
        text.contains("Created 6 subscribers (0 already in Netily)"),
        "{text}"
    );
    assert!(
        text.contains(
            "Netily already has a plan 'silver' with another rate or Simultaneous-Use: \
             imported as 'silver-imported'"
        ),
        "{text}"
    );
    // Every user the import cannot carry over is named with why.
    assert!(
        text.contains(
            "dave: password kept as its MD5-Password hash: PAP works; CHAP and MS-CHAP need the cleartext"
        ),
        "{text}"
    );
    assert!(
        text.contains("erin: radcheck Login-Time := \"Wk0800-1800\": not understood"),
        "{text}"
    );

    let row = isp
        .sql()
        .query_one(
            "SELECT c.full_name, c.email, p.name, p.rate FROM customers c
               JOIN subscriptions s ON s.customer_id = c.id AND s.active
               JOIN plans p ON p.id = s.plan_id WHERE c.username = 'alice'",
            &[],
        )
        .unwrap();
    let got: (String, Option<String>, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        got,
        (
            "Smith, Alice".into(),
            Some("alice@example.net".into()),
            "gold".into(),
            "10M/20M".into()
        )
    );
    let row = isp
        .sql()
        .query_one(
            "SELECT p.name, p.simultaneous_use FROM customers c
               JOIN subscriptions s ON s.customer_id = c.id AND s.active
               JOIN plans p ON p.id = s.plan_id WHERE c.username = 'bob'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, Option<i32>>(1)),
        ("gold-su2".into(), Some(2))
    );
    let row = isp
        .sql()
        .query_one(
            "SELECT c.mac_binding, extract(year FROM s.expires_at)::int FROM customers c
               JOIN subscriptions s ON s.customer_id = c.id WHERE c.username = 'carol'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (
            row.get::<_, Option<String>>(0),
            row.get::<_, Option<i32>>(1)
        ),
        (Some("AA:BB:CC:DD:EE:01".into()), Some(2099))
    );
    let status: String = isp
        .sql()
        .query_one("SELECT status FROM customers WHERE username = 'frank'", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "suspended");
    assert_eq!(
        count(&isp, "SELECT count(*) FROM routers WHERE name = 'tower-50'"),
        1
    );
    // Reply rows came along, less the rates that became plan rates.
    assert_eq!(
        count(
            &isp,
            "SELECT count(*) FROM radgroupreply WHERE attribute = 'Mikrotik-Rate-Limit'"
        ),
        0
    );
    assert_eq!(
        count(&isp, "SELECT count(*) FROM radgroupreply WHERE groupname = 'silver' AND attribute = 'Session-Timeout'"),
        1
    );
    assert_eq!(
        count(
            &isp,
            "SELECT count(*) FROM radreply WHERE username = 'alice'"
        ),
        1
    );

    // A second run changes nothing.
    let again: serde_json::Value = serde_json::from_str(&isp.netadmin(&[
        "--json",
        "import",
        "--from",
        &src_url,
        "--subscribers",
        csv,
    ]))
    .unwrap();
    assert_eq!(again["subscribers_created"], 0, "{again}");
    assert_eq!(again["subscribers_existing"], 6, "{again}");
    assert_eq!(again["reply_rows_copied"], 0, "{again}");
    assert_eq!(again["plans_created"].as_array().map(Vec::len), Some(0));
    assert_eq!(count(&isp, "SELECT count(*) FROM radusergroup"), 6);

    // The imported subscribers log in through rlm_netily as before.
    let radiusd = isp.radiusd();
    let login = |user: &str, password: &str, mac: &str| {
        radiusd
            .auth(&format!(
                "User-Name = \"{user}\", User-Password = \"{password}\", Calling-Station-Id = \"{mac}\"\n"
            ))
            .unwrap()
    };
    let r = login("alice", "alice-pw", "aa:bb:cc:dd:ee:99");
    assert!(r.is("Access-Accept"), "{r:?}\n{}", radiusd.log());
    assert_eq!(r.values("Mikrotik-Rate-Limit"), ["10M/20M"]);
    assert_eq!(r.values("Framed-IP-Address"), ["100.64.0.7"]);
    let r = login("carol", "carol-pw", "aa:bb:cc:dd:ee:01");
    assert!(r.is("Access-Accept"), "{r:?}");
    assert_eq!(r.values("Mikrotik-Rate-Limit"), ["2M/4M"]);
    assert_eq!(r.values("Session-Timeout"), ["3600"]);
    assert!(login("carol", "carol-pw", "aa:bb:cc:dd:ee:02").is("Access-Reject"));
    assert!(login("alice", "wrong", "aa:bb:cc:dd:ee:99").is("Access-Reject"));
    assert!(login("frank", "frank-pw", "aa:bb:cc:dd:ee:03").is("Access-Reject"));
    // dave's password was only an MD5-Password hash (of "password"): PAP
    // still works from it, a wrong password still fails.
    let r = login("dave", "password", "aa:bb:cc:dd:ee:04");
    assert!(r.is("Access-Accept"), "{r:?}\n{}", radiusd.log());
    assert!(login("dave", "not-it", "aa:bb:cc:dd:ee:04").is("Access-Reject"));
    // A cleartext password set with netadmin replaces the hash.
    isp.netadmin(&["customer", "update", "dave", "--password", "dave-new"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !login("dave", "dave-new", "aa:bb:cc:dd:ee:04").is("Access-Accept") {
        assert!(std::time::Instant::now() < deadline, "{}", radiusd.log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(login("dave", "password", "aa:bb:cc:dd:ee:04").is("Access-Reject"));
}

/// Without --from the rlm_sql tables are Netily's own: what the import
/// moved into Netily's columns leaves radcheck (archived, not deleted), so
/// it does not act again at login; the operator's later changes win.
#[test]
fn importing_from_netilys_own_tables_archives_what_it_absorbed() {
    let isp = Isp::new("netily_import_same");
    isp.netadmin(&["migrate"]);
    let mut db = isp.sql();
    fill_like_daloradius(&mut db);
    let text = isp.netadmin(&["import"]);
    assert!(text.contains("Created 6 subscribers"), "{text}");
    let count = |q: &str| -> i64 { isp.sql().query_one(q, &[]).unwrap().get(0) };
    // carol's password, MAC and Expiration, frank's password and disabled
    // group, alice's, bob's (two), dave's (a hash) and erin's: archived.
    assert_eq!(count("SELECT count(*) FROM rlm_sql_imported"), 10);
    // What nobody understood stays where the operator put it.
    assert_eq!(
        count("SELECT count(*) FROM radcheck WHERE username = 'erin'"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM radcheck WHERE username = 'dave'"),
        0
    );
    let radiusd = isp.radiusd();
    let login = |user: &str, pass: &str, mac: &str| {
        radiusd
            .auth(&format!(
                "User-Name = \"{user}\", User-Password = \"{pass}\", Calling-Station-Id = \"{mac}\"\n"
            ))
            .unwrap()
    };
    assert!(login("frank", "frank-pw", "aa:bb:cc:dd:ee:03").is("Access-Reject"));
    // Resumed with netadmin: nothing in radcheck or radusergroup keeps the
    // old disable alive.
    isp.netadmin(&["customer", "resume", "frank"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !login("frank", "frank-pw", "aa:bb:cc:dd:ee:03").is("Access-Accept") {
        assert!(std::time::Instant::now() < deadline, "{}", radiusd.log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = login("carol", "carol-pw", "aa:bb:cc:dd:ee:01");
    assert!(r.is("Access-Accept"), "{r:?}");
    assert_eq!(r.values("Session-Timeout"), ["3600"]);
    // The hash moved into Netily: dave still logs in with PAP.
    assert!(login("dave", "password", "aa:bb:cc:dd:ee:04").is("Access-Accept"));
    // A second run changes nothing and archives nothing more (dave, whose
    // only row was archived, is no longer in the rlm_sql tables at all).
    let again = isp.netadmin(&["import"]);
    assert!(
        again.contains("Created 0 subscribers (5 already in Netily)"),
        "{again}"
    );
    assert!(again.contains(", 0 check rows archived"), "{again}");
}
