//! `seed demo` and `seed synthetic`.

mod common;

use common::Env;

#[test]
fn seed_demo_has_every_state_and_refuses_twice() {
    let env = Env::migrated();
    let j = env.json(&["seed", "demo"]);
    assert_eq!(j["plans"], 4);
    assert_eq!(j["subscribers"].as_array().unwrap().len(), 10);
    assert_eq!(
        env.count("SELECT count(*) FROM nas WHERE nasname = '127.0.0.1' AND secret = 'testing123'"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM customers WHERE status = 'suspended'"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM customers WHERE status = 'terminated'"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM customers WHERE mac_binding IS NOT NULL"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM customers WHERE static_ip IS NOT NULL"),
        1
    );
    assert_eq!(env.count("SELECT count(*) FROM plans WHERE data_cap_bytes IS NOT NULL AND fair_use_rate IS NOT NULL"), 1);
    assert_eq!(
        env.count("SELECT count(*) FROM plans WHERE rate LIKE '% %'"),
        1,
        "one burst plan"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM invoices WHERE status = 'unpaid'"),
        2
    );
    let e = env.fail(&["seed", "demo"]);
    assert!(e.contains("already has 10 subscriber(s)"), "{e}");
    assert_eq!(env.count("SELECT count(*) FROM customers"), 10);
}

#[test]
fn seed_synthetic_small() {
    let env = Env::migrated();
    let out = env.ok(&[
        "seed",
        "synthetic",
        "--subscribers",
        "120001",
        "--routers",
        "3",
    ]);
    assert!(
        out.contains(
            "Loaded 120001 synthetic subscribers (synth0000001 .. synth0120001) and 3 routers"
        ),
        "{out}"
    );
    assert_eq!(env.count("SELECT count(*) FROM customers"), 120_001);
    assert_eq!(
        env.count("SELECT count(*) FROM subscriptions WHERE active"),
        120_001
    );
    assert_eq!(env.count("SELECT count(*) FROM invoices"), 12_000);
    assert_eq!(
        env.count("SELECT count(*) FROM invoices WHERE status = 'unpaid'"),
        12_000
    );
    assert_eq!(env.count("SELECT count(*) FROM routers"), 3);
    assert_eq!(env.count("SELECT count(*) FROM nas"), 3);
    // A synthetic subscriber is a real one.
    let j = env.json(&["check", "synth0000001"]);
    assert_eq!(j["decision"], "accept", "{j}");
    let e = env.fail(&["seed", "synthetic", "--subscribers", "5"]);
    assert!(e.contains("already exist"), "{e}");
    let e = env.fail(&[
        "seed",
        "synthetic",
        "--subscribers",
        "5",
        "--routers",
        "300",
    ]);
    assert!(e.starts_with("netadmin: invalid routers"), "{e}");
}
