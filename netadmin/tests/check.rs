//! `netadmin check USER`: the RADIUS decision on the seeded demo ISP.

mod common;

use common::Env;

#[test]
fn check_explains_the_demo_subscribers() {
    let env = Env::demo();

    let alice = env.ok(&["check", "alice"]);
    assert!(alice.starts_with("ACCEPT alice"), "{alice}");
    assert!(
        alice.contains("Mikrotik-Rate-Limit := 10M/20M 20M/40M 8M/16M 16/16 8\n"),
        "{alice}"
    );
    let j = env.json(&["check", "alice"]);
    assert_eq!(j["decision"], "accept");
    assert_eq!(j["username"], "alice");
    let rate = j["reply"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Mikrotik-Rate-Limit")
        .unwrap();
    assert_eq!(rate["value"], "10M/20M 20M/40M 8M/16M 16/16 8");
    assert!(j.get("password").is_none());

    // 8 days overdue, past the 7-day grace: rejected, naming the invoice.
    let carol = env.ok(&["check", "carol"]);
    assert!(carol.starts_with("REJECT carol"), "{carol}");
    assert!(carol.contains("INV-1003"), "{carol}");
    assert!(carol.contains("8 days"), "{carol}");
    let j = env.json(&["check", "carol"]);
    assert_eq!(j["decision"], "reject");
    assert_eq!(j["reason"]["code"], "invoice_overdue");

    // 6 days overdue, inside grace: accepted.
    assert!(env.ok(&["check", "bob"]).starts_with("ACCEPT bob"));

    assert!(env.ok(&["check", "dave"]).starts_with("REJECT dave"));
    assert!(env.ok(&["check", "erin"]).starts_with("REJECT erin"));
    assert_eq!(
        env.json(&["check", "frank"])["reason"]["code"],
        "subscription_expired"
    );

    // MAC binding: wrong or missing MAC rejected, the bound one accepted.
    assert_eq!(
        env.json(&["check", "grace"])["reason"]["code"],
        "mac_mismatch"
    );
    assert_eq!(
        env.json(&["check", "grace", "--mac", "AA:BB:CC:DD:EE:02"])["decision"],
        "reject"
    );
    assert_eq!(
        env.json(&["check", "grace", "--mac", "AA:BB:CC:DD:EE:01"])["decision"],
        "accept"
    );

    assert!(env
        .ok(&["check", "heidi"])
        .contains("Framed-IP-Address := 100.64.10.5"));
    // Over the fair-use cap: the fair-use rate applies.
    assert!(env
        .ok(&["check", "ivan"])
        .contains("Mikrotik-Rate-Limit := 2M/4M\n"));

    let nobody = env.json(&["check", "nobody"]);
    assert_eq!(nobody["reason"]["code"], "unknown_user");

    // Paying carol's invoice lets her in on the next check.
    env.ok(&["invoice", "pay", "INV-1003"]);
    assert!(env.ok(&["check", "carol"]).starts_with("ACCEPT carol"));
}

#[test]
fn check_uses_the_config_policy() {
    let env = Env::demo();
    let dir = std::env::temp_dir().join(format!("netadmin-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("netily.conf");
    std::fs::write(
        &conf,
        "grace_days = 7\nwalled_garden = on\nwalled_garden_address_list = unpaid\nwalled_garden_rate = 128k/128k\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let out = env.ok(&["--config", conf, "check", "carol"]);
    assert!(out.starts_with("ACCEPT carol (walled garden)"), "{out}");
    assert!(out.contains("Mikrotik-Address-List := unpaid"), "{out}");
    assert!(out.contains("Mikrotik-Rate-Limit := 128k/128k"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
