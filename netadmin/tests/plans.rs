//! `netadmin plan ...` against a real database.

mod common;

use common::Env;

#[test]
fn plan_lifecycle() {
    let env = Env::migrated();
    let out = env.ok(&[
        "plan",
        "add",
        "home",
        "--rate",
        "10M/20M 20M/40M 8M/16M 16/16 8",
        "--price",
        "29.00",
        "--interim-interval",
        "300",
        "--simultaneous-use",
        "1",
    ]);
    assert!(out.contains("Added plan 'home'"), "{out}");
    env.ok(&[
        "plan",
        "add",
        "fair",
        "--rate",
        "25M/50M",
        "--data-cap",
        "100G",
        "--fair-use-rate",
        "2M/4M",
        "--price",
        "49",
    ]);

    let table = env.ok(&["plan", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("home ") && l.contains("10M/20M 20M/40M 8M/16M 16/16 8")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("fair ") && l.contains("100G") && l.contains("2M/4M")));
    // Aligned: every row's RATE column starts where the header's does.
    let col = lines[0].find("RATE").unwrap();
    for l in &lines[1..] {
        assert_ne!(l.as_bytes()[col], b' ', "misaligned: {l}");
        assert_eq!(l.as_bytes()[col - 1], b' ', "misaligned: {l}");
    }

    let list = env.json(&["plan", "list"]);
    let fair = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fair")
        .unwrap();
    assert_eq!(fair["data_cap_bytes"], 100_000_000_000u64);
    assert_eq!(fair["fair_use_rate"], "2M/4M");
    assert_eq!(fair["price_cents"], 4900);
    assert_eq!(fair["subscribers"], 0);

    let show = env.json(&["plan", "show", "home"]);
    assert_eq!(show["rate"], "10M/20M 20M/40M 8M/16M 16/16 8");
    assert_eq!(show["simultaneous_use"], 1);
    assert!(env
        .ok(&["plan", "show", "home"])
        .contains("interim interval  300"));

    let upd = env.json(&[
        "plan",
        "update",
        "home",
        "--rate",
        "12M/24M",
        "--simultaneous-use",
        "none",
    ]);
    assert_eq!(upd["rate"], "12M/24M");
    assert_eq!(upd["simultaneous_use"], serde_json::Value::Null);
    assert_eq!(
        upd["price_cents"], 2900,
        "untouched fields keep their values"
    );

    // In use: refused, and nothing changes.
    env.ok(&[
        "customer",
        "add",
        "ann",
        "--password",
        "pw",
        "--plan",
        "home",
    ]);
    let e = env.fail(&["plan", "remove", "home"]);
    assert!(
        e.contains("cannot remove plan 'home'") && e.contains("in use"),
        "{e}"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM plans WHERE name = 'home'"),
        1
    );

    env.ok(&["plan", "remove", "fair"]);
    assert_eq!(
        env.count("SELECT count(*) FROM plans WHERE name = 'fair'"),
        0
    );
}

#[test]
fn plan_bad_input() {
    let env = Env::migrated();
    env.ok(&["plan", "add", "basic", "--rate", "2M/5M"]);

    let e = env.fail(&["plan", "add", "basic", "--rate", "2M/5M"]);
    assert_eq!(e, "netadmin: plan 'basic' already exists");

    let e = env.fail(&["plan", "add", "bad", "--rate", "fast"]);
    assert!(e.starts_with("netadmin: invalid rate \"fast\""), "{e}");

    let e = env.fail(&[
        "plan",
        "add",
        "bad",
        "--rate",
        "1M/1M",
        "--data-cap",
        "lots",
    ]);
    assert!(e.starts_with("netadmin: invalid data cap \"lots\""), "{e}");

    let e = env.fail(&["plan", "add", "bad", "--rate", "1M/1M", "--data-cap", "10G"]);
    assert!(e.contains("fair-use rate"), "{e}");

    let e = env.fail(&["plan", "add", "bad", "--rate", "1M/1M", "--price", "ten"]);
    assert!(e.starts_with("netadmin: invalid price \"ten\""), "{e}");

    let e = env.fail(&["plan", "add", "bad"]);
    assert!(e.contains("--rate"), "{e}");

    let e = env.fail(&["plan", "add", "has space", "--rate", "1M/1M"]);
    assert!(e.starts_with("netadmin: invalid plan name"), "{e}");

    let e = env.fail(&["plan", "show", "gold"]);
    assert_eq!(e, "netadmin: plan 'gold' not found");
    let e = env.fail(&["plan", "update", "gold", "--price", "1"]);
    assert_eq!(e, "netadmin: plan 'gold' not found");
    let e = env.fail(&["plan", "remove", "gold"]);
    assert_eq!(e, "netadmin: plan 'gold' not found");

    assert_eq!(
        env.count("SELECT count(*) FROM plans"),
        1,
        "nothing half-written"
    );
}

#[test]
fn bare_rate_numbers_are_refused_with_a_hint_to_add_a_unit() {
    let env = Env::migrated();
    // A MikroTik operator means bits/s by 10000/20000 (RouterOS's reading);
    // netadmin used to store it as 10M/20M.
    let e = env.fail(&["plan", "add", "home", "--rate", "10000/20000"]);
    assert_eq!(
        e,
        "netadmin: invalid rate \"10000/20000\": Mikrotik-Rate-Limit: rate rx (upload) \"10000\" \
         has no unit; add k, M or G (e.g. 10000k or 10M): RouterOS reads a bare number as bit/s"
    );
    for (rate, why) in [
        ("10M/20000", "rate tx (download) \"20000\" has no unit"),
        (
            "10M/20M 40000/40M",
            "burst rate rx (upload) \"40000\" has no unit",
        ),
        (
            "1M 2M 8000/1M 16/16 8",
            "burst threshold rx (upload) \"8000\"",
        ),
        (
            "10M/20M 0/0 0/0 0/0 8 1M/1000",
            "min rate tx (download) \"1000\"",
        ),
    ] {
        let e = env.fail(&["plan", "add", "home", "--rate", rate]);
        assert!(e.contains(why), "{rate}: {e}");
    }
    let e = env.fail(&[
        "plan",
        "add",
        "home",
        "--rate",
        "2M",
        "--fair-use-rate",
        "512",
    ]);
    assert!(
        e.starts_with("netadmin: invalid fair-use rate \"512\": Mikrotik-Rate-Limit: rate rx (upload) \"512\" has no unit"),
        "{e}"
    );
    assert_eq!(env.count("SELECT count(*) FROM plans"), 0);

    // Units, zeros (no burst, placeholders) and burst times in seconds are fine.
    env.ok(&[
        "plan",
        "add",
        "home",
        "--rate",
        "10000k/20M 0/40M 0/16M 0/16 8 1.5M/1M",
    ]);
    let home = env.json(&["plan", "show", "home"]);
    assert_eq!(home["rate"], "10M/20M 0/40M 0/16M 0/16 8 1500k/1M");
}

/// A plan's own period: `--cycle-days N` sets it, "monthly" (or "none")
/// restores monthly cycles, out-of-range values are refused, and list,
/// show and --json show it.
#[test]
fn a_plan_may_have_cycles_of_n_days() {
    let env = Env::migrated();
    let out = env.ok(&[
        "plan",
        "add",
        "day-pass",
        "--rate",
        "1M/3M",
        "--cycle-days",
        "1",
    ]);
    assert!(out.contains("Added plan 'day-pass'"), "{out}");
    env.ok(&["plan", "add", "monthly", "--rate", "10M/20M"]);
    assert_eq!(env.json(&["plan", "show", "day-pass"])["cycle_days"], 1);
    assert!(env.json(&["plan", "show", "monthly"])["cycle_days"].is_null());
    let show = env.ok(&["plan", "show", "day-pass"]);
    assert!(
        show.lines()
            .any(|l| l.starts_with("cycle") && l.trim_end().ends_with("1 day")),
        "{show}"
    );

    let table = env.ok(&["plan", "list"]);
    assert!(table.lines().next().unwrap().contains("CYCLE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("day-pass ") && l.contains("1 day")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("monthly ") && l.contains("monthly")),
        "{table}"
    );

    let updated = env.json(&["plan", "update", "day-pass", "--cycle-days", "7"]);
    assert_eq!(updated["cycle_days"], 7);
    // Other updates keep it.
    env.ok(&["plan", "update", "day-pass", "--price", "3"]);
    assert_eq!(env.json(&["plan", "show", "day-pass"])["cycle_days"], 7);
    for bad in ["0", "3661", "-1", "1.5", "week"] {
        let arg = format!("--cycle-days={bad}");
        let err = env.fail(&["plan", "update", "day-pass", &arg]);
        assert!(err.contains("cycle days"), "{bad}: {err}");
    }
    assert_eq!(env.json(&["plan", "show", "day-pass"])["cycle_days"], 7);
    env.ok(&["plan", "update", "day-pass", "--cycle-days", "3660"]);
    env.ok(&["plan", "update", "day-pass", "--cycle-days", "monthly"]);
    assert!(env.json(&["plan", "show", "day-pass"])["cycle_days"].is_null());
    env.ok(&["plan", "update", "day-pass", "--cycle-days", "2"]);
    env.ok(&["plan", "update", "day-pass", "--cycle-days", "none"]);
    assert!(env.json(&["plan", "show", "day-pass"])["cycle_days"].is_null());
}
