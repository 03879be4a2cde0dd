//! Schema migrations on a real PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Env;

/// Stock FreeRADIUS PostgreSQL tables and their columns (schema.sql of 3.2.x).
fn stock_columns() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        (
            "radacct",
            vec![
                "radacctid",
                "acctsessionid",
                "acctuniqueid",
                "username",
                "realm",
                "nasipaddress",
                "nasportid",
                "nasporttype",
                "acctstarttime",
                "acctupdatetime",
                "acctstoptime",
                "acctinterval",
                "acctsessiontime",
                "acctauthentic",
                "connectinfo_start",
                "connectinfo_stop",
                "acctinputoctets",
                "acctoutputoctets",
                "calledstationid",
                "callingstationid",
                "acctterminatecause",
                "servicetype",
                "framedprotocol",
                "framedipaddress",
                "framedipv6address",
                "framedipv6prefix",
                "framedinterfaceid",
                "delegatedipv6prefix",
                "class",
            ],
        ),
        (
            "radcheck",
            vec!["id", "username", "attribute", "op", "value"],
        ),
        (
            "radgroupcheck",
            vec!["id", "groupname", "attribute", "op", "value"],
        ),
        (
            "radgroupreply",
            vec!["id", "groupname", "attribute", "op", "value"],
        ),
        (
            "radreply",
            vec!["id", "username", "attribute", "op", "value"],
        ),
        (
            "radusergroup",
            vec!["id", "username", "groupname", "priority"],
        ),
        (
            "radpostauth",
            vec![
                "id",
                "username",
                "pass",
                "reply",
                "calledstationid",
                "callingstationid",
                "authdate",
                "class",
            ],
        ),
        (
            "nas",
            vec![
                "id",
                "nasname",
                "shortname",
                "type",
                "ports",
                "secret",
                "server",
                "community",
                "description",
            ],
        ),
    ])
}

/// Column names of `CREATE TABLE` blocks in the installed stock schema, when
/// FreeRADIUS is installed: guards the list above against drift.
fn installed_stock_columns() -> Option<BTreeMap<String, BTreeSet<String>>> {
    let text =
        std::fs::read_to_string("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
            .ok()?;
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let name = rest.split_whitespace().next()?.to_lowercase();
            out.insert(name.clone(), BTreeSet::new());
            current = Some(name);
        } else if l.starts_with(");") {
            current = None;
        } else if let Some(t) = &current {
            if let Some(col) = l.split_whitespace().next() {
                if !col.starts_with("--") && !col.starts_with("/*") && !col.starts_with('*') {
                    out.get_mut(t)?
                        .insert(col.trim_end_matches(',').to_lowercase());
                }
            }
        }
    }
    Some(out)
}

#[test]
fn fresh_then_second_run_is_a_noop() {
    let env = Env::empty();
    let first = env.ok(&["migrate"]);
    assert!(first.contains("applied 0001_freeradius"), "{first}");
    let total = netily_core::db::MIGRATIONS.len();
    assert!(
        first.contains(&format!("Applied {total} migration(s)")),
        "{first}"
    );
    let second = env.ok(&["migrate"]);
    assert!(
        second.contains("up to date") && second.contains("nothing to do"),
        "{second}"
    );
    let json = env.json(&["migrate"]);
    assert_eq!(json["applied"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        json["version"],
        netily_core::db::MIGRATIONS.last().unwrap().version
    );
    assert_eq!(
        env.count("SELECT count(*) FROM schema_migrations"),
        total as i64
    );
    let names: Vec<String> = env
        .sql()
        .query("SELECT name FROM schema_migrations ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want: Vec<&str> = netily_core::db::MIGRATIONS.iter().map(|m| m.name).collect();
    assert_eq!(
        &want[..5],
        [
            "freeradius",
            "subscribers",
            "routers_vpn",
            "notify",
            "usage"
        ]
    );
    assert_eq!(names, want);
}

#[test]
fn two_nodes_migrating_at_once_both_succeed_once() {
    let env = Env::empty();
    let a = std::thread::scope(|s| {
        let h1 = s.spawn(|| env.run(&["--json", "migrate"]));
        let h2 = s.spawn(|| env.run(&["--json", "migrate"]));
        [h1.join().unwrap(), h2.join().unwrap()]
    });
    let mut applied = 0;
    for out in &a {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        applied += v["applied"].as_array().unwrap().len();
    }
    assert_eq!(
        applied,
        netily_core::db::MIGRATIONS.len(),
        "each migration applied exactly once across both runs"
    );
}

#[test]
fn freeradius_tables_have_the_stock_columns() {
    let env = Env::migrated();
    let mut sql = env.sql();
    let stock = stock_columns();
    if let Some(installed) = installed_stock_columns() {
        for (table, cols) in &stock {
            let want: BTreeSet<String> = cols.iter().map(|c| c.to_string()).collect();
            assert_eq!(
                installed.get(*table),
                Some(&want),
                "stock schema drift in {table}"
            );
        }
    }
    for (table, cols) in stock {
        let rows = sql
            .query(
                "SELECT column_name::text FROM information_schema.columns
                  WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .unwrap();
        let have: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert!(!have.is_empty(), "table {table} missing");
        // Stock columns first, in stock order; Netily only appends.
        assert_eq!(&have[..cols.len()], &cols[..], "{table} columns");
    }
    // Netily's additions are nullable, so stock INSERTs still work.
    sql.batch_execute(
        "INSERT INTO radpostauth (username, pass, reply, authdate) VALUES ('x', 'y', 'Access-Accept', now());
         INSERT INTO nas (nasname, shortname, secret) VALUES ('192.0.2.1', 'x', 's');
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
              VALUES ('s1', 'u1', 'nobody', '192.0.2.1', now());",
    )
    .unwrap();
}

#[test]
fn netily_tables_and_hot_path_indexes_exist() {
    let env = Env::migrated();
    let mut sql = env.sql();
    for t in [
        "plans",
        "customers",
        "subscriptions",
        "invoices",
        "payments",
        "usage",
        "routers",
        "certificate_authority",
        "certificates",
        "vpn_servers",
        "vpn_connections",
        "schema_migrations",
    ] {
        let n: i64 = sql
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
                &[&t],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "table {t}");
    }
    for idx in [
        "customers_username_key",
        "radacct_open_user_idx",
        "radacct_bulk_close",
        "radacct_acctuniqueid_key",
        "radpostauth_authdate_brin",
        "radpostauth_rejects_idx",
        "subscriptions_one_active",
        "radcheck_username",
        "radreply_username",
    ] {
        let n: i64 = sql
            .query_one(
                "SELECT count(*) FROM pg_indexes WHERE indexname = $1",
                &[&idx],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "index {idx}");
    }
    // Room on radacct's pages for HOT Interim-Updates (migration 0014), in
    // each of its months (migration 0030).
    let options: Vec<(String, Vec<String>)> = sql
        .query(
            "SELECT p.name, coalesce(c.reloptions, '{}')
               FROM netily_radacct_partitions() p JOIN pg_class c ON c.relname = p.name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(options.len(), 5, "{options:?}");
    for (name, options) in options {
        assert_eq!(options, ["fillfactor=50"], "{name}");
    }
    // A small statistics sample for the authentication log (migration 0015).
    let targets: Vec<(String, i32)> = sql
        .query(
            "SELECT attname::text, attstattarget::int FROM pg_attribute
              WHERE attrelid = 'radpostauth'::regclass AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(targets.len(), 10, "{targets:?}");
    assert!(targets.iter().all(|(_, t)| *t == 10), "{targets:?}");
    // At most one active subscription per subscriber, enforced by the database.
    sql.batch_execute(
        "INSERT INTO plans (name, rate) VALUES ('p', '1M/1M');
         INSERT INTO customers (username, password) VALUES ('u', 'pw');
         INSERT INTO subscriptions (customer_id, plan_id) SELECT c.id, p.id FROM customers c, plans p;",
    )
    .unwrap();
    let dup = sql.batch_execute(
        "INSERT INTO subscriptions (customer_id, plan_id) SELECT c.id, p.id FROM customers c, plans p",
    );
    assert!(dup.is_err(), "second active subscription must be refused");
    let bad_status = sql.batch_execute("UPDATE customers SET status = 'sleeping'");
    assert!(bad_status.is_err(), "status CHECK");
}

/// An existing radacct becomes the partitioned one (migration 0030): its
/// rows stay, in radacct_history, those without a start or starting past
/// the next month in the default partition; the triggers and the ids go on.
#[test]
fn an_existing_radacct_keeps_every_row_when_partitioned() {
    let env = Env::empty();
    let mut sql = env.sql();
    let (before, partitioning) = netily_core::db::MIGRATIONS.split_at(29);
    assert_eq!(partitioning[0].name, "radacct_partitions");
    for m in before {
        sql.batch_execute(&format!("BEGIN; {} COMMIT;", m.sql))
            .unwrap();
    }
    sql.batch_execute(
        "SET netily.accounting_writer = on;
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                              acctstoptime, acctinputoctets)
         SELECT 's' || g, 'u' || g, 'alice', '10.0.0.1', now() - g * interval '1 day',
                CASE WHEN g > 1 THEN now() END, g
           FROM generate_series(1, 400) g;
         INSERT INTO radacct (acctsessionid, acctuniqueid, nasipaddress, acctstarttime)
         VALUES ('n', 'no-start', '10.0.0.2', NULL), ('f', 'future', '10.0.0.2', '2099-01-01');
         RESET netily.accounting_writer;",
    )
    .unwrap();
    sql.batch_execute("GRANT SELECT ON radacct TO PUBLIC")
        .unwrap();
    let last_id: i64 = sql
        .query_one("SELECT max(radacctid) FROM radacct", &[])
        .unwrap()
        .get(0);
    sql.batch_execute(&format!("BEGIN; {} COMMIT;", partitioning[0].sql))
        .unwrap();

    let rows: Vec<(String, i64, i64)> = sql
        .query(
            "SELECT tableoid::regclass::text, count(*), coalesce(sum(acctinputoctets), 0)::bigint
               FROM radacct GROUP BY 1 ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            ("radacct_default".to_owned(), 1, 0),
            ("radacct_history".to_owned(), 401, 400 * 401 / 2),
        ]
    );
    // A row without a start took 1970 (no update or stop time either).
    let epoch: i64 = sql
        .query_one(
            "SELECT extract(epoch FROM acctstarttime)::bigint FROM radacct
              WHERE acctuniqueid = 'no-start'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(epoch, 0);
    // Whoever could read radacct still can.
    let can: bool = sql
        .query_one(
            "SELECT has_table_privilege('public', 'radacct', 'SELECT')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(can);
    // The history ends with the next month; months after it come ahead.
    let parts: Vec<String> = sql
        .query("SELECT name FROM netily_radacct_partitions()", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(parts.first().map(String::as_str), Some("radacct_history"));
    assert_eq!(parts.last().map(String::as_str), Some("radacct_default"));
    assert!(parts.len() >= 3, "{parts:?}");
    // Each partition has the five triggers, once.
    let triggers: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_trigger
              WHERE tgrelid = 'radacct_history'::regclass AND NOT tgisinternal",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(triggers, 5);
    // New rows take the next ids, and the open session is still found.
    sql.batch_execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
         VALUES ('new', 'new', 'bob', '10.0.0.3', now())",
    )
    .unwrap();
    let row = sql
        .query_one(
            "SELECT (SELECT radacctid FROM radacct WHERE acctuniqueid = 'new'),
                    (SELECT count(*) FROM radacct WHERE acctstoptime IS NULL AND username = 'alice')",
            &[],
        )
        .unwrap();
    let (id, open): (i64, i64) = (row.get(0), row.get(1));
    assert!(id > last_id, "{id} after {last_id}");
    assert_eq!(open, 1);
}
