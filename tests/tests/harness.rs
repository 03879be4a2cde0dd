//! The PostgreSQL harness itself: a guard that cannot stop its server, or
//! leaves one behind, would make every other test lie.

use std::path::Path;
use std::process::Command;

use netily_tests::postgres::{PgCluster, TestDb};

fn alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// PIDs whose parent is `pid` (the postmaster's backends and helpers).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, ...
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == pid {
            out.push(child);
        }
    }
    out
}

fn count(client: &mut postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap()
        .get(0)
}

#[test]
fn cluster_starts_stops_restarts_and_leaves_nothing_behind() {
    let mut cluster = PgCluster::start();
    let port = cluster.port();
    let pid = cluster.pid().unwrap();
    let dir = cluster.socket_dir().to_path_buf();
    assert!(alive(pid));
    assert!(dir.join(format!(".s.PGSQL.{port}")).exists());

    let url = cluster.create_database("harness").unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    assert_eq!(count(&mut client), 2);
    let backends = children_of(pid);
    assert!(!backends.is_empty(), "postmaster has no children?");

    // Down: the open connection breaks, new ones are refused, no process left.
    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(!alive(pid));
    for b in &backends {
        assert!(!alive(*b), "backend {b} outlived the postmaster");
    }
    assert!(client.query_one("SELECT 1", &[]).is_err());
    assert!(postgres::Client::connect(&url, postgres::NoTls).is_err());

    // Back up: same port, same data.
    cluster.start_again().unwrap();
    assert_eq!(cluster.port(), port);
    let pid2 = cluster.pid().unwrap();
    assert_ne!(pid, pid2);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(count(&mut client), 2);

    let backends = children_of(pid2);
    drop(client);
    drop(cluster);
    assert!(!alive(pid2));
    for b in &backends {
        assert!(!alive(*b), "process {b} outlived the dropped cluster");
    }
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn test_db_is_empty_and_usable_by_psql() {
    let db = TestDb::new();
    let mut client = db.connect();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    // Test databases are owned by the non-superuser netily role, as in production.
    let (user, superuser): (String, bool) = {
        let row = client
            .query_one(
                "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(!superuser, "{user} is a superuser");
    client
        .batch_execute("CREATE TABLE owned_here (n int)")
        .unwrap();

    let out = Command::new("psql")
        .args(["-X", "-At", "-d", &db.url(), "-c", "SELECT 40 + 2"])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

#[test]
fn test_db_in_a_shared_cluster_is_dropped_with_its_guard() {
    let cluster = PgCluster::start();
    let base = cluster.url("postgres");
    let (name, url) = {
        let db = TestDb::in_cluster(&base).unwrap();
        assert!(db.cluster().is_none());
        let mut c = db.connect();
        c.batch_execute("CREATE TABLE t (n int)").unwrap();
        // A connection still open at drop time must not keep the database alive.
        std::mem::forget(c);
        (db.name().to_string(), db.url())
    };
    assert!(url.ends_with(&format!("/{name}")));
    let mut admin = cluster.connect_admin("postgres").unwrap();
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "database {name} survived its guard");
}

#[test]
fn two_test_dbs_are_independent() {
    let a = TestDb::new();
    let b = TestDb::new();
    assert_ne!(a.url(), b.url());
    a.connect()
        .batch_execute("CREATE TABLE only_a (n int)")
        .unwrap();
    let n: i64 = b
        .connect()
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_a'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert!(Path::new("/proc/self").exists());
}
