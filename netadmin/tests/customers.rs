//! `netadmin customer ...` against a real database.

mod common;

use common::Env;
use serde_json::Value;

fn setup() -> Env {
    let env = Env::migrated();
    env.ok(&["plan", "add", "basic", "--rate", "2M/5M", "--price", "15"]);
    env.ok(&["plan", "add", "home", "--rate", "10M/20M", "--price", "29"]);
    env
}

#[test]
fn customer_lifecycle() {
    let env = setup();
    let out = env.ok(&[
        "customer",
        "add",
        "alice",
        "--password",
        "s3cret",
        "--name",
        "Alice Mwangi",
        "--phone",
        "+254700000001",
        "--email",
        "alice@example.net",
        "--plan",
        "basic",
        "--mac",
        "aa-bb-cc-dd-ee-01",
        "--static-ip",
        "100.64.0.10",
        "--expires",
        "2099-01-01",
    ]);
    assert!(
        out.contains("Added subscriber 'alice' on plan 'basic'"),
        "{out}"
    );
    env.ok(&["customer", "add", "bob", "--password", "pw"]);

    let a = env.json(&["customer", "show", "alice"]);
    let s = &a["subscriber"];
    assert_eq!(s["full_name"], "Alice Mwangi");
    assert_eq!(s["status"], "active");
    assert_eq!(s["mac_binding"], "AA:BB:CC:DD:EE:01", "MAC normalized");
    assert_eq!(s["static_ip"], "100.64.0.10");
    assert_eq!(s["plan"], "basic");
    assert_eq!(s["expires_at"], 4_070_908_800i64);
    assert!(s.get("password").is_none(), "password never printed");
    assert_eq!(a["subscriptions"].as_array().unwrap().len(), 1);
    let shown = env.ok(&["customer", "show", "alice"]);
    assert!(
        shown.contains("status       active") || shown.contains("status "),
        "{shown}"
    );
    assert!(!shown.contains("s3cret"));

    let list = env.json(&["customer", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    let table = env.ok(&["customer", "list", "--plan", "basic"]);
    assert!(table.lines().next().unwrap().starts_with("USERNAME"));
    assert_eq!(table.lines().count(), 2, "{table}");

    // update: set and clear
    let u = env.json(&[
        "customer", "update", "alice", "--mac", "none", "--name", "Alice M.", "--phone", "none",
    ]);
    assert_eq!(u["mac_binding"], Value::Null);
    assert_eq!(u["phone"], Value::Null);
    assert_eq!(u["full_name"], "Alice M.");
    assert_eq!(u["static_ip"], "100.64.0.10", "untouched");
    env.ok(&["customer", "update", "alice", "--password", "n3w"]);
    let pw: String = env
        .sql()
        .query_one(
            "SELECT password FROM customers WHERE username = 'alice'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(pw, "n3w");

    // set-plan: ends the old subscription, starts a new one
    let sp = env.json(&[
        "customer",
        "set-plan",
        "alice",
        "home",
        "--starts",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(sp["plan"], "home");
    assert_eq!(sp["starts_at"], 1_893_456_000i64);
    assert_eq!(env.count("SELECT count(*) FROM subscriptions s JOIN customers c ON c.id = s.customer_id WHERE c.username = 'alice'"), 2);
    assert_eq!(env.count("SELECT count(*) FROM subscriptions s JOIN customers c ON c.id = s.customer_id WHERE c.username = 'alice' AND s.active"), 1);

    // status changes
    let out = env.ok(&["customer", "suspend", "alice"]);
    assert!(out.contains("active -> suspended"), "{out}");
    let j = env.json(&["customer", "resume", "alice"]);
    assert_eq!(j["previous_status"], "suspended");
    assert_eq!(j["status"], "active");
    env.ok(&["customer", "terminate", "bob"]);
    let t = env.json(&["customer", "list", "--status", "terminated"]);
    assert_eq!(t.as_array().unwrap().len(), 1);
    assert_eq!(t[0]["username"], "bob");

    env.ok(&["customer", "remove", "bob"]);
    assert_eq!(
        env.count("SELECT count(*) FROM customers WHERE username = 'bob'"),
        0
    );
    let e = env.fail(&["customer", "show", "bob"]);
    assert_eq!(e, "netadmin: subscriber 'bob' not found");
}

#[test]
fn customer_bad_input_writes_nothing() {
    let env = setup();
    env.ok(&[
        "customer",
        "add",
        "alice",
        "--password",
        "pw",
        "--static-ip",
        "100.64.0.10",
    ]);

    let e = env.fail(&["customer", "add", "alice", "--password", "pw"]);
    assert_eq!(e, "netadmin: username 'alice' already exists");

    // Unknown plan: the subscriber is not half-created.
    let e = env.fail(&[
        "customer",
        "add",
        "carol",
        "--password",
        "pw",
        "--plan",
        "gold",
    ]);
    assert_eq!(e, "netadmin: plan 'gold' not found");
    assert_eq!(
        env.count("SELECT count(*) FROM customers WHERE username = 'carol'"),
        0
    );

    let e = env.fail(&[
        "customer",
        "add",
        "carol",
        "--password",
        "pw",
        "--plan",
        "basic",
        "--expires",
        "next week",
    ]);
    assert!(
        e.starts_with(
            "netadmin: invalid expiry date \"next week\": expected YYYY-MM-DD or RFC 3339"
        ),
        "{e}"
    );

    let e = env.fail(&[
        "customer",
        "add",
        "carol",
        "--password",
        "pw",
        "--mac",
        "zz:zz",
    ]);
    assert!(
        e.starts_with("netadmin: invalid MAC address \"zz:zz\""),
        "{e}"
    );

    let e = env.fail(&[
        "customer",
        "add",
        "carol",
        "--password",
        "pw",
        "--static-ip",
        "300.1.1.1",
    ]);
    assert!(
        e.starts_with("netadmin: invalid static IP \"300.1.1.1\""),
        "{e}"
    );

    let e = env.fail(&[
        "customer",
        "add",
        "carol",
        "--password",
        "pw",
        "--static-ip",
        "100.64.0.10",
    ]);
    assert!(e.contains("static IP 100.64.0.10 already exists"), "{e}");

    let e = env.fail(&["customer", "add", "has space", "--password", "pw"]);
    assert!(e.starts_with("netadmin: invalid username"), "{e}");

    let e = env.fail(&["customer", "set-plan", "alice", "gold"]);
    assert_eq!(e, "netadmin: plan 'gold' not found");
    let e = env.fail(&["customer", "set-plan", "nobody", "basic"]);
    assert_eq!(e, "netadmin: subscriber 'nobody' not found");
    let e = env.fail(&[
        "customer",
        "set-plan",
        "alice",
        "basic",
        "--starts",
        "2030-02-30",
    ]);
    assert!(e.starts_with("netadmin: invalid start date"), "{e}");
    let e = env.fail(&["customer", "list", "--status", "happy"]);
    assert!(
        e.contains("expected active, suspended or terminated"),
        "{e}"
    );
    let e = env.fail(&["customer", "suspend", "nobody"]);
    assert_eq!(e, "netadmin: subscriber 'nobody' not found");

    assert_eq!(env.count("SELECT count(*) FROM customers"), 1);
    assert_eq!(env.count("SELECT count(*) FROM subscriptions"), 0);
}

#[test]
fn customer_search_matches_percent_underscore_and_backslash_literally() {
    let env = setup();
    for (user, name) in [
        ("alice", "Alice Mwangi"),
        ("bob", "Bob Otieno"),
        ("pct", "Promo 100% off"),
        ("under_score", "Under Score"),
        ("back", "Back\\slash Ltd"),
    ] {
        env.ok(&["customer", "add", user, "--password", "pw", "--name", name]);
    }
    let found = |search: &str| -> Vec<String> {
        env.json(&["customer", "list", "--search", search])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(found("%"), ["pct"]);
    assert_eq!(found("_"), ["under_score"]);
    assert_eq!(found("0%"), ["pct"]);
    assert_eq!(found("\\"), ["back"]);
    assert_eq!(found("\\s"), ["back"]);
    assert!(found("a%e").is_empty());
    assert_eq!(found("r_s"), ["under_score"]);
    // Still a case-insensitive substring search.
    assert_eq!(found("MWANGI"), ["alice"]);
}
