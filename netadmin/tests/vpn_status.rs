//! `netadmin vpn status` and the dashboard's routers online, from
//! vpn_connections rows as the OpenVPN plugin writes them.

mod common;

use common::Env;
use serde_json::Value;

fn router(env: &Env, name: &str, ip: &str) {
    env.ok(&["router", "add", name, "--ip", ip, "--secret", "s"]);
}

/// Inserts a connection for `router`; ages in seconds before now.
fn connection(
    env: &Env,
    router: &str,
    status: &str,
    connected_ago: i64,
    seen_ago: i64,
    bytes: (i64, i64),
) {
    env.sql()
        .execute(
            "INSERT INTO vpn_connections
                    (router_id, vpn_address, real_address, connected_at, last_seen,
                     bytes_in, bytes_out, status, disconnected_at)
             SELECT r.id, r.vpn_address, '198.51.100.9:40000',
                    now() - make_interval(secs => $2::bigint),
                    now() - make_interval(secs => $3::bigint),
                    $4, $5, $6,
                    CASE WHEN $6 = 'disconnected' THEN now() - make_interval(secs => $3::bigint) END
               FROM routers r WHERE r.name = $1",
            &[
                &router,
                &connected_ago,
                &seen_ago,
                &bytes.0,
                &bytes.1,
                &status,
            ],
        )
        .unwrap();
}

fn by_router(rows: &Value) -> std::collections::BTreeMap<String, Value> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r.get("router").unwrap_or(&r["name"]);
            (name.as_str().unwrap().to_owned(), r.clone())
        })
        .collect()
}

#[test]
fn states_from_connection_records() {
    let env = Env::migrated();
    for (i, name) in ["alive", "quiet", "gone", "never", "still"]
        .iter()
        .enumerate()
    {
        router(&env, name, &format!("192.0.2.{}", i + 1));
    }
    // alive: connected, seen 2 s ago, an hour up.
    connection(&env, "alive", "connected", 3_700, 2, (1_500_000, 42_000));
    // quiet: the plugin's last word was "connected", but 5 minutes ago.
    connection(&env, "quiet", "connected", 7_200, 300, (10, 20));
    // gone: an old connection, then a closed one (the newest counts).
    connection(&env, "gone", "disconnected", 90_000, 80_000, (1, 1));
    connection(&env, "gone", "disconnected", 600, 60, (5_000, 6_000));
    // still: the plugin saw its counters stop and marked it stale.
    connection(&env, "still", "stale", 100, 1, (7, 8));

    let rows = env.json(&["vpn", "status"]);
    let m = by_router(&rows);
    let names: Vec<&String> = m.keys().collect();
    assert_eq!(names, ["alive", "gone", "never", "quiet", "still"]);
    let state = |n: &str| m[n]["state"].as_str().unwrap().to_owned();
    assert_eq!(state("alive"), "connected");
    assert_eq!(state("quiet"), "stale");
    assert_eq!(state("still"), "stale");
    assert_eq!(state("gone"), "disconnected");
    assert_eq!(state("never"), "disconnected");

    let alive = &m["alive"];
    assert_eq!(alive["vpn_address"], "10.8.0.2");
    assert_eq!(alive["bytes_in"], 1_500_000);
    assert_eq!(alive["bytes_out"], 42_000);
    let up = alive["uptime_seconds"].as_i64().unwrap();
    assert!((3_700..3_760).contains(&up), "{up}");
    assert_eq!(
        m["gone"]["bytes_in"], 5_000,
        "the newest connection's bytes"
    );
    assert!(m["gone"]["uptime_seconds"].is_null());
    assert!(m["gone"]["disconnected_at"].is_i64());
    assert!(m["never"]["last_seen"].is_null());
    assert_eq!(m["never"]["bytes_in"], 0);

    let table = env.ok(&["vpn", "status"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ROUTER"), "{table}");
    assert!(
        lines[0].contains("STATE") && lines[0].contains("UPTIME"),
        "{table}"
    );
    let alive_line = lines.iter().find(|l| l.starts_with("alive")).unwrap();
    assert!(
        alive_line.contains("connected")
            && alive_line.contains("1.5M")
            && alive_line.contains("1h 1m"),
        "{alive_line}"
    );
    let never_line = lines.iter().find(|l| l.starts_with("never")).unwrap();
    assert!(never_line.contains("disconnected"), "{never_line}");

    // One router, in detail: the old "router status" endpoint.
    let one = env.json(&["vpn", "status", "quiet"]);
    assert_eq!(one["router"], "quiet");
    assert_eq!(one["state"], "stale");
    assert_eq!(one["real_address"], "198.51.100.9:40000");
    let shown = env.ok(&["vpn", "status", "alive"]);
    assert!(
        shown.contains("state") && shown.contains("connected"),
        "{shown}"
    );
    assert!(shown.contains("198.51.100.9:40000"), "{shown}");
    let e = env.fail(&["vpn", "status", "nosuch"]);
    assert_eq!(e, "netadmin: router 'nosuch' not found");

    // Online means connected and recently seen: only "alive".
    let d = env.json(&["dashboard"]);
    assert_eq!(d["routers"], 5);
    assert_eq!(d["routers_online"], 1);
    let dash = env.ok(&["dashboard"]);
    assert!(
        dash.lines()
            .any(|l| l.starts_with("routers online") && l.ends_with(" 1 of 5")),
        "{dash}"
    );
    let list = by_router(&env.json(&["router", "list"]));
    assert_eq!(list["alive"]["online"], true);
    assert_eq!(list["quiet"]["online"], false);
    assert_eq!(list["still"]["online"], false);
    assert!(list["gone"]["last_seen"].is_i64());

    // A heartbeat (what the plugin writes) brings the quiet router back.
    env.sql()
        .execute(
            "UPDATE vpn_connections SET last_seen = now()
              WHERE router_id = (SELECT id FROM routers WHERE name = 'quiet')",
            &[],
        )
        .unwrap();
    assert_eq!(env.json(&["vpn", "status", "quiet"])["state"], "connected");
    assert_eq!(env.json(&["dashboard"])["routers_online"], 2);
}
