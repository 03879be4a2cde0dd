//! netily-web's plans, routers, RADIUS clients and operator roles over HTTP
//! against a real PostgreSQL: added, changed and removed by admins from the
//! API and the console, bad input refused, each change audited.

use netily_tests::isp::Isp;
use netily_tests::web::{Console, WebServer};
use netily_tests::web_fixtures::{bearer, demo_isp, fingerprint, operator};
use serde_json::{json, Value};

/// The plans list's subscriber count for `plan`, waiting up to 20 s for it
/// to become `want` (counted in the background, soon after a change).
fn wait_for_plan_count(web: &WebServer, auth: &str, plan: &str, want: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = web.get("/api/v1/plans", &[("Authorization", auth)]);
        let list = r.json();
        let got = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plan)
            .map(|p| p["subscribers"].as_i64().unwrap());
        if got == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{plan} has {got:?} subscribers, not {want}: {}",
            r.body
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn plans_are_added_changed_and_removed_from_the_api_and_the_console_with_checks_and_counts() {
    let isp = demo_isp("web_plans");
    let (_, ann_pw, admin) = operator(&isp, "ann", "admin");
    let web = WebServer::start(isp.config());
    let adm = bearer(&admin);
    let h = [("Authorization", adm.as_str())];

    // Bad input: refused with a JSON error naming the field, nothing added.
    let before = fingerprint(&isp);
    for (body, code, says) in [
        (json!({"name": "biz"}), "invalid", "rate"),
        (json!({"rate": "5M/5M"}), "invalid", "name"),
        (json!({"name": "biz", "rate": "fast"}), "invalid", "rate"),
        (
            json!({"name": "biz", "rate": "5M/5M", "data_cap": "500G"}),
            "invalid",
            "fair-use rate",
        ),
        (
            json!({"name": "biz", "rate": "5M/5M", "speed": "1"}),
            "invalid",
            "speed",
        ),
        (
            json!({"name": "biz", "rate": "5M/5M", "price": 9}),
            "invalid",
            "string",
        ),
        (
            json!({"name": "a b", "rate": "5M/5M"}),
            "invalid",
            "plan name",
        ),
        (
            json!({"name": "home-20M", "rate": "5M/5M"}),
            "duplicate",
            "home-20M",
        ),
    ] {
        let r = web.send_json("POST", "/api/v1/plans", &h, &body);
        assert_eq!(r.error_code(), code, "{body}: {}", r.body);
        assert!(r.body.contains(says), "{body}: {}", r.body);
    }
    assert_eq!(fingerprint(&isp), before);

    let r = web.send_json(
        "POST",
        "/api/v1/plans",
        &h,
        &json!({"name": "biz-50M", "rate": "50M/50M", "price": "99.00",
                "data_cap": "500G", "fair_use_rate": "5M/5M", "cycle_days": "30"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let p = web.get("/api/v1/plans/biz-50M", &h).json();
    assert_eq!(
        (
            &p["rate"],
            &p["price_cents"],
            &p["data_cap_bytes"],
            &p["cycle_days"]
        ),
        (
            &json!("50M/50M"),
            &json!(9900),
            &json!(500_000_000_000u64),
            &json!(30)
        )
    );
    // Clearing the cap clears its fair-use rate; "monthly" the cycle.
    let r = web.send_json(
        "PATCH",
        "/api/v1/plans/biz-50M",
        &h,
        &json!({"price": "109.00", "data_cap": "none", "cycle_days": "monthly"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(
        (
            &p["price_cents"],
            &p["data_cap_bytes"],
            &p["fair_use_rate"],
            &p["cycle_days"]
        ),
        (&json!(10900), &Value::Null, &Value::Null, &Value::Null)
    );
    let r = web.send_json("PATCH", "/api/v1/plans/biz-50M", &h, &json!({"rate": ""}));
    assert_eq!(r.error_code(), "invalid", "{}", r.body);
    let r = web.send_json("PATCH", "/api/v1/plans/nope", &h, &json!({"price": "1"}));
    assert_eq!(r.error_code(), "not_found", "{}", r.body);

    // The count follows a subscriber moved onto it, and a plan in use
    // cannot be removed.
    wait_for_plan_count(&web, &adm, "biz-50M", 0);
    let r = web.send_json(
        "POST",
        "/api/v1/subscribers/bob/plan",
        &h,
        &json!({"plan": "biz-50M"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for_plan_count(&web, &adm, "biz-50M", 1);
    let r = web
        .request("DELETE", "/api/v1/plans/biz-50M", &h, None)
        .unwrap();
    assert_eq!(r.error_code(), "refused", "{}", r.body);
    assert!(r.body.contains("in use by 1 active"), "{}", r.body);

    // The console: add, see, save, remove; a bad field is an error page.
    let ann = Console::login(&web, "ann", &ann_pw);
    let cookie = ann.header();
    let c = [("Cookie", cookie.as_str())];
    let page = web.get("/plans", &c);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("biz-50M") && page.body.contains("id=\"add-plan\""));
    let r = web.post_form(
        "/plans",
        &c,
        &[
            ("csrf", &ann.csrf),
            ("name", "day-pass"),
            ("rate", "2M/4M"),
            ("price", "1.50"),
            ("cycle_days", "1"),
            ("data_cap", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/plans/day-pass?done=added"));
    let page = web.get("/plans/day-pass", &c);
    assert!(
        page.body.contains("value=\"2M/4M\"") && page.body.contains("value=\"1.50\""),
        "{}",
        page.body
    );
    let r = web.post_form(
        "/plans/day-pass",
        &c,
        &[
            ("csrf", &ann.csrf),
            ("rate", "3M/6M"),
            ("price", "2.00"),
            ("cycle_days", "1"),
            ("data_cap", ""),
            ("fair_use_rate", ""),
            ("session_timeout", "86400"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let p = web.get("/api/v1/plans/day-pass", &h).json();
    assert_eq!(
        (&p["rate"], &p["price_cents"], &p["session_timeout"]),
        (&json!("3M/6M"), &json!(200), &json!(86400))
    );
    let r = web.post_form(
        "/plans/day-pass",
        &c,
        &[("csrf", &ann.csrf), ("price", "free")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("invalid price"), "{}", r.body);
    let r = web.post_form("/plans/day-pass/remove", &c, &[("csrf", &ann.csrf)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(web.get("/api/v1/plans/day-pass", &h).status, 404);

    // Each change is in the audit log, with where it came from.
    let out = isp.netadmin(&["--json", "audit", "--entity", "plans", "--operator", "ann"]);
    let entries: Value = serde_json::from_str(&out).unwrap();
    let mut seen: Vec<(String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["via"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            ("plan add", "api"),
            ("plan add", "console"),
            ("plan remove", "console"),
            ("plan update", "api"),
            ("plan update", "console"),
        ]
        .map(|(a, v)| (a.to_owned(), v.to_owned()))
    );
}

#[test]
fn routers_and_nas_entries_are_added_changed_and_removed_by_admins_and_roles_changed() {
    let isp = Isp::with_ca_seal("web_routers");
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["seed", "demo"]);
    let (_, _, admin) = operator(&isp, "ann", "admin");
    let (_, _, support) = operator(&isp, "sam", "support");
    let web = WebServer::start(isp.config());
    let adm = bearer(&admin);
    let h = [("Authorization", adm.as_str())];

    // Before a CA: the router without a certificate.
    let r = web.send_json(
        "POST",
        "/api/v1/routers",
        &h,
        &json!({"name": "tower-3", "ip": "192.0.2.33", "secret": "tower-3-secret"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["certificate"], Value::Null);
    assert!(r.json()["vpn_address"].is_string(), "{}", r.body);
    assert!(
        !r.body.contains("tower-3-secret"),
        "a secret is never shown"
    );
    isp.netadmin(&["ca", "init"]);
    let r = web.send_json(
        "POST",
        "/api/v1/routers",
        &h,
        &json!({"name": "tower-4", "ip": "192.0.2.34", "secret": "tower-4-secret",
                "description": "hill"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let serial = r.json()["certificate"].as_str().unwrap().to_owned();
    let certs = web.get("/api/v1/certificates", &h).body;
    assert!(certs.contains(&serial), "{certs}");

    // Bad input: a JSON error naming what is wrong, nothing added.
    let before = fingerprint(&isp);
    for (body, code, says) in [
        (
            json!({"name": "t5", "ip": "300.1.1.1", "secret": "abcdefgh"}),
            "invalid",
            "router IP",
        ),
        (
            json!({"name": "t5", "ip": "192.0.2.35", "secret": "has space"}),
            "invalid",
            "secret",
        ),
        (
            json!({"name": "t 5", "ip": "192.0.2.35", "secret": "abcdefgh"}),
            "invalid",
            "router name",
        ),
        (
            json!({"name": "tower-3", "ip": "192.0.2.36", "secret": "abcdefgh"}),
            "duplicate",
            "tower-3",
        ),
        (
            json!({"name": "t5", "ip": "192.0.2.33", "secret": "abcdefgh"}),
            "duplicate",
            "192.0.2.33",
        ),
        (
            json!({"name": "t5", "ip": "192.0.2.35"}),
            "invalid",
            "secret",
        ),
    ] {
        let r = web.send_json("POST", "/api/v1/routers", &h, &body);
        assert_eq!(r.error_code(), code, "{body}: {}", r.body);
        assert!(r.body.contains(says), "{body}: {}", r.body);
    }
    let r = web.send_json(
        "PATCH",
        "/api/v1/routers/tower-3",
        &h,
        &json!({"coa_port": 0}),
    );
    assert_eq!(r.error_code(), "invalid", "{}", r.body);
    assert_eq!(fingerprint(&isp), before);

    // Change and remove; the NAS table follows (FreeRADIUS reads it).
    let r = web.send_json(
        "PATCH",
        "/api/v1/routers/tower-3",
        &h,
        &json!({"ip": "192.0.2.43", "secret": "new-secret-3", "coa_port": 1700}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["nas_ip"], "192.0.2.43");
    let nas_row = |addr: &str| -> Option<(String, Option<i32>)> {
        isp.sql()
            .query_opt("SELECT secret, ports FROM nas WHERE nasname = $1", &[&addr])
            .unwrap()
            .map(|r| (r.get(0), r.get(1)))
    };
    assert_eq!(
        nas_row("192.0.2.43"),
        Some(("new-secret-3".into(), Some(1700)))
    );
    assert_eq!(nas_row("192.0.2.33"), None);
    let r = web
        .request("DELETE", "/api/v1/routers/tower-4", &h, None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["revoked"], json!([serial]));
    assert_eq!(web.get("/api/v1/routers/tower-4", &h).status, 404);
    assert_eq!(nas_row("192.0.2.34"), None);

    // A NAS that is not a router.
    let r = web.send_json(
        "POST",
        "/api/v1/nas",
        &h,
        &json!({"address": "198.51.100.0/24", "shortname": "olt-1", "secret": "olt-secret-1",
                "type": "other", "coa_port": 3799}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = web.send_json(
        "PATCH",
        "/api/v1/nas/olt-1",
        &h,
        &json!({"description": "basement"}),
    );
    assert_eq!(r.json()["description"], "basement", "{}", r.body);
    let list = web.get("/api/v1/nas", &h);
    assert!(
        list.body.contains("olt-1") && !list.body.contains("olt-secret-1"),
        "{}",
        list.body
    );
    let r = web.send_json(
        "PATCH",
        "/api/v1/nas/tower-3",
        &h,
        &json!({"description": "x"}),
    );
    assert_ne!(
        r.status, 200,
        "a router's NAS entry is changed through its router: {}",
        r.body
    );
    let r = web
        .request("DELETE", "/api/v1/nas/olt-1", &h, None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(nas_row("198.51.100.0/24"), None);

    // Roles: sam becomes readonly and his token can no longer change
    // anything; the last admin cannot be demoted.
    let sup = bearer(&support);
    let r = web.send_json(
        "PATCH",
        "/api/v1/operators/sam",
        &h,
        &json!({"role": "readonly"}),
    );
    assert_eq!(r.json()["role"], "readonly", "{}", r.body);
    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/bob/suspend",
            &[("Authorization", &sup)],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let r = web.send_json(
        "PATCH",
        "/api/v1/operators/ann",
        &h,
        &json!({"role": "support"}),
    );
    assert_eq!(r.error_code(), "refused", "{}", r.body);
    let r = web.send_json(
        "PATCH",
        "/api/v1/operators/ann",
        &h,
        &json!({"role": "boss"}),
    );
    assert_eq!(r.error_code(), "invalid", "{}", r.body);
    // An admin removes an operator; their token stops working with them.
    let r = web
        .request("DELETE", "/api/v1/operators/sam", &h, None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        web.get("/api/v1/me", &[("Authorization", &sup)]).status,
        401
    );
    let r = web.send_json(
        "PATCH",
        "/api/v1/operators/sam",
        &h,
        &json!({"role": "admin"}),
    );
    assert_eq!(r.error_code(), "not_found", "{}", r.body);

    // The console adds and removes routers too.
    let ann_pw = {
        let out = isp.netadmin(&["--json", "operator", "passwd", "ann", "--generate-password"]);
        serde_json::from_str::<Value>(&out).unwrap()["password"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ann = Console::login(&web, "ann", &ann_pw);
    let cookie = ann.header();
    let c = [("Cookie", cookie.as_str())];
    assert!(web.get("/routers", &c).body.contains("id=\"add-router\""));
    let r = web.post_form(
        "/routers",
        &c,
        &[
            ("csrf", &ann.csrf),
            ("name", "tower-9"),
            ("ip", "192.0.2.99"),
            ("secret", "tower-9-secret"),
            ("description", ""),
        ],
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/routers?done=added")),
        "{}",
        r.body
    );
    assert!(nas_row("192.0.2.99").is_some());
    let r = web.post_form("/routers/tower-9/remove", &c, &[("csrf", &ann.csrf)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(nas_row("192.0.2.99").is_none());

    let out = isp.netadmin(&["--json", "audit", "--operator", "ann", "--limit", "100"]);
    let actions: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["via"].as_str().unwrap(),
                e["action"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "api router add",
        "api router update",
        "api router remove",
        "api nas add",
        "api nas update",
        "api nas remove",
        "api operator role",
        "console router add",
        "console router remove",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} not in {actions:?}"
        );
    }
}
