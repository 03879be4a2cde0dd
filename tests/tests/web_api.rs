//! netily-web's API over HTTP against a real PostgreSQL: every role (readonly
//! changes nothing, support no plans, routers, certificates or operators),
//! bad input, API tokens (revoked and expired ones refused), the audit log
//! of each change from the API, the console and netadmin, and a kick
//! reaching a real NAS.

use netily_tests::isp::Isp;
use netily_tests::web::WebServer;
use netily_tests::web_fixtures::{bearer, demo_isp, fingerprint, operator, status_of, unpaid};
use serde_json::{json, Value};

type Change = (&'static str, &'static str, Option<Value>);

/// Changes support may make and readonly may not.
fn subscriber_changes() -> Vec<Change> {
    vec![
        ("POST", "/api/v1/subscribers/bob/suspend", None),
        ("POST", "/api/v1/subscribers/bob/resume", None),
        ("POST", "/api/v1/subscribers/bob/terminate", None),
        (
            "POST",
            "/api/v1/subscribers",
            Some(json!({"username": "zed", "password": "zed-pass"})),
        ),
        (
            "PATCH",
            "/api/v1/subscribers/bob",
            Some(json!({"full_name": "Robert"})),
        ),
        ("DELETE", "/api/v1/subscribers/bob", None),
        (
            "POST",
            "/api/v1/subscribers/bob/plan",
            Some(json!({"plan": "home-20M"})),
        ),
        ("POST", "/api/v1/subscribers/bob/kick", None),
        ("POST", "/api/v1/sessions/x/kick", None),
        (
            "POST",
            "/api/v1/invoices",
            Some(json!({"username": "bob", "amount": "5"})),
        ),
        (
            "POST",
            "/api/v1/invoices/INV-1002/payments",
            Some(json!({})),
        ),
        ("POST", "/api/v1/invoices/INV-1002/void", None),
    ]
}

/// Changes only admins may make; `operator_path` is an operator to remove
/// or promote.
fn admin_only_changes(operator_path: &'static str) -> Vec<Change> {
    vec![
        (
            "POST",
            "/api/v1/operators",
            Some(json!({"name": "eve", "role": "admin", "password": "long enough pass"})),
        ),
        ("DELETE", operator_path, None),
        ("PATCH", operator_path, Some(json!({"role": "admin"}))),
        (
            "POST",
            "/api/v1/tokens",
            Some(json!({"operator": "ann", "label": "theirs"})),
        ),
        (
            "POST",
            "/api/v1/routers/demo-router/certificates",
            Some(json!({})),
        ),
        ("POST", "/api/v1/certificates/demo-router/revoke", None),
        ("GET", "/api/v1/routers/demo-router/ovpn", None),
        ("GET", "/api/v1/routers/demo-router/mikrotik-script", None),
        ("DELETE", "/api/v1/subscribers/carol", None),
        (
            "POST",
            "/api/v1/plans",
            Some(json!({"name": "p2", "rate": "1M/1M"})),
        ),
        (
            "PATCH",
            "/api/v1/plans/home-20M",
            Some(json!({"price": "1.00"})),
        ),
        ("DELETE", "/api/v1/plans/home-20M", None),
        (
            "POST",
            "/api/v1/routers",
            Some(json!({"name": "r2", "ip": "192.0.2.77", "secret": "abcdefgh"})),
        ),
        (
            "PATCH",
            "/api/v1/routers/demo-router",
            Some(json!({"secret": "changed-secret"})),
        ),
        ("DELETE", "/api/v1/routers/demo-router", None),
        (
            "POST",
            "/api/v1/nas",
            Some(json!({"address": "192.0.2.88", "shortname": "n2", "secret": "abcdefgh"})),
        ),
    ]
}

/// Each change is a 403 with the JSON code "forbidden" for `auth`.
fn refused_all(web: &WebServer, auth: &str, changes: Vec<Change>) {
    for (method, path, body) in changes {
        let h = [("Authorization", auth)];
        let r = match body {
            Some(b) => web.send_json(method, path, &h, &b),
            None => web.request(method, path, &h, None).unwrap(),
        };
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (403, "forbidden"),
            "{method} {path}: {}",
            r.body
        );
    }
}

#[test]
fn every_role_reads_everything_readonly_changes_nothing_and_support_not_operators_or_certificates()
{
    let isp = demo_isp("web_roles");
    let (_, _, admin) = operator(&isp, "ann", "admin");
    let (_, _, support) = operator(&isp, "sam", "support");
    let (_, _, readonly) = operator(&isp, "rex", "readonly");
    let web = WebServer::start(isp.config());

    for token in [&admin, &support, &readonly] {
        let auth = bearer(token);
        for path in [
            "/api/v1/me",
            "/api/v1/dashboard",
            "/api/v1/dashboard/hours",
            "/api/v1/enforcement-log",
            "/api/v1/subscribers",
            "/api/v1/subscribers?q=700&limit=2",
            "/api/v1/subscribers/alice",
            "/api/v1/subscribers/alice/check",
            "/api/v1/subscribers/alice/history",
            "/api/v1/plans",
            "/api/v1/plans/home-20M",
            "/api/v1/invoices?status=unpaid",
            "/api/v1/sessions",
            "/api/v1/auth-log",
            "/api/v1/routers",
            "/api/v1/certificates",
            "/api/v1/audit",
            "/api/v1/tokens",
        ] {
            let r = web.get(path, &[("Authorization", &auth)]);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.json();
        }
    }

    // readonly: every change refused, nothing changed.
    let ro = bearer(&readonly);
    let before = fingerprint(&isp);
    let mut changes = subscriber_changes();
    changes.extend(admin_only_changes("/api/v1/operators/ann"));
    changes.push(("POST", "/api/v1/tokens", Some(json!({"label": "mine"}))));
    refused_all(&web, &ro, changes);
    assert_eq!(fingerprint(&isp), before, "readonly changed something");
    assert_eq!(status_of(&isp, "bob"), "active");
    assert_eq!(unpaid(&isp, "INV-1002"), 1);

    // support: subscribers yes; operators and certificates no.
    let sup = bearer(&support);
    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/bob/suspend",
            &[("Authorization", &sup)],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["previous_status"], "active");
    assert_eq!(status_of(&isp, "bob"), "suspended");
    let before = fingerprint(&isp);
    let mut changes = admin_only_changes("/api/v1/operators/rex");
    changes.push(("GET", "/api/v1/operators", None));
    changes.push(("POST", "/api/v1/tokens/1/revoke", None));
    refused_all(&web, &sup, changes);
    assert_eq!(fingerprint(&isp), before, "support changed what it may not");
    // Support's own token: made and revoked through the API.
    let r = web.send_json(
        "POST",
        "/api/v1/tokens",
        &[("Authorization", &sup)],
        &json!({"label": "own"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let own = r.json()["token"].as_str().unwrap().to_owned();
    let id = r.json()["id"].to_string();
    assert_eq!(
        web.get("/api/v1/me", &[("Authorization", &bearer(&own))])
            .status,
        200
    );
    let r = web
        .request(
            "POST",
            &format!("/api/v1/tokens/{id}/revoke"),
            &[("Authorization", &sup)],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        web.get("/api/v1/me", &[("Authorization", &bearer(&own))])
            .status,
        401
    );
    // And the rest of the subscriber changes it may make.
    let r = web.send_json(
        "PATCH",
        "/api/v1/subscribers/bob",
        &[("Authorization", &sup)],
        &json!({"full_name": "Robert Otieno", "phone": null}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["full_name"].as_str(), r.json()["phone"].is_null()),
        (Some("Robert Otieno"), true)
    );
    let r = web.send_json(
        "POST",
        "/api/v1/subscribers/bob/plan",
        &[("Authorization", &sup)],
        &json!({"plan": "home-20M"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = web.send_json(
        "POST",
        "/api/v1/invoices",
        &[("Authorization", &sup)],
        &json!({"username": "bob", "amount": "12.50"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let number = r.json()["number"].as_str().unwrap().to_owned();
    let r = web
        .request(
            "POST",
            &format!("/api/v1/invoices/{number}/void"),
            &[("Authorization", &sup)],
            None,
        )
        .unwrap();
    assert_eq!(r.json()["status"], "void", "{}", r.body);

    let operators: i64 = isp
        .sql()
        .query_one("SELECT count(*) FROM operators", &[])
        .unwrap()
        .get(0);
    assert_eq!(operators, 3);

    // admin: operators too.
    let adm = bearer(&admin);
    let r = web.send_json(
        "POST",
        "/api/v1/operators",
        &[("Authorization", &adm)],
        &json!({"name": "eve", "role": "support", "password": "long enough pass"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = web.get("/api/v1/operators", &[("Authorization", &adm)]);
    assert_eq!(r.json().as_array().unwrap().len(), 4);
}

#[test]
fn bad_input_is_a_400_with_a_json_error_and_changes_nothing() {
    let isp = demo_isp("web_bad_input");
    let (_, _, admin) = operator(&isp, "ann", "admin");
    let web = WebServer::start(isp.config());
    let auth = bearer(&admin);
    let h = [("Authorization", auth.as_str())];
    let count = || -> i64 {
        isp.sql()
            .query_one("SELECT count(*) FROM customers", &[])
            .unwrap()
            .get(0)
    };
    let before = count();

    for (body, field) in [
        (
            json!({"username": "zed", "password": "pw-zed", "static_ip": "10.0.0.999"}),
            "static IP",
        ),
        (
            json!({"username": "zed", "password": "pw-zed", "mac": "zz:zz"}),
            "MAC",
        ),
        (
            json!({"username": "zed", "password": "pw-zed", "expires": "31/12/2026", "plan": "basic-5M"}),
            "expiry date",
        ),
        (json!({"username": "zed"}), "password"),
        (
            json!({"username": "zed", "password": "pw", "colour": "red"}),
            "colour",
        ),
    ] {
        let r = web.send_json("POST", "/api/v1/subscribers", &h, &body);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "invalid"),
            "{body}: {}",
            r.body
        );
        let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(field), "{body}: {msg}");
    }
    let r = web.send_json(
        "POST",
        "/api/v1/subscribers",
        &h,
        &json!({"username": "zed", "password": "pw-zed", "plan": "no-such-plan"}),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let r = web
        .request(
            "POST",
            "/api/v1/subscribers",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(b"{not json"),
        )
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid"),
        "{}",
        r.body
    );
    assert_eq!(count(), before, "nothing was added");

    let r = web.send_json(
        "POST",
        "/api/v1/subscribers",
        &h,
        &json!({"username": "alice", "password": "x-pass"}),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "duplicate"),
        "{}",
        r.body
    );
    let r = web.get("/api/v1/subscribers?limit=0", &h);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid"),
        "{}",
        r.body
    );
    let r = web.get("/api/v1/subscribers?status=gone", &h);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = web.get("/api/v1/subscribers/nobody", &h);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let r = web.send_json(
        "POST",
        "/api/v1/subscribers/alice/plan",
        &h,
        &json!({"plan": "gold"}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let r = web.send_json(
        "POST",
        "/api/v1/invoices/INV-1002/payments",
        &h,
        &json!({"paid_at": "yesterday"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        unpaid(&isp, "INV-1002"),
        1,
        "a refused payment leaves the invoice unpaid"
    );

    let r = web.get("/api/v1/no-such-thing", &h);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let r = web.request("PUT", "/api/v1/subscribers", &h, None).unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "method_not_allowed"),
        "{}",
        r.body
    );

    // The happy path, for contrast: created with its plan.
    let r = web.send_json(
        "POST",
        "/api/v1/subscribers",
        &h,
        &json!({"username": "zed", "password": "pw-zed", "plan": "basic-5M", "phone": "+254 711 000 999"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["plan"], "basic-5M");
    let r = web.get("/api/v1/subscribers?q=0711%20000%20999", &h);
    assert_eq!(r.json()["items"][0]["username"], "zed", "{}", r.body);
}

#[test]
fn tokens_work_until_revoked_and_the_audit_log_names_who_changed_what_from_where() {
    let isp = demo_isp("web_audit");
    let (_, _, support) = operator(&isp, "sam", "support");
    let web = WebServer::start(isp.config());
    let auth = bearer(&support);
    let h = [("Authorization", auth.as_str())];

    // API change.
    let r = web
        .request("POST", "/api/v1/subscribers/carol/suspend", &h, None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = web.send_json(
        "POST",
        "/api/v1/invoices/INV-1003/payments",
        &h,
        &json!({"method": "mobile", "reference": "MP123"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "paid");
    // netadmin change.
    isp.netadmin(&["customer", "resume", "carol"]);

    let r = web.get("/api/v1/audit?user=carol", &h);
    let items = r.json()["items"].as_array().unwrap().clone();
    let find = |action: &str| -> Value {
        items
            .iter()
            .find(|e| e["action"] == action && e["entity"] != "payments")
            .cloned()
            .unwrap_or_else(|| panic!("no {action} in {items:#?}"))
    };
    let s = find("customer suspend");
    assert_eq!(
        (s["actor"].as_str(), s["via"].as_str()),
        (Some("sam"), Some("api"))
    );
    assert_eq!(s["before"]["status"], "active");
    assert_eq!(s["after"]["status"], "suspended");
    assert_eq!(s["before"]["password"], "(hidden)", "no secret in the log");
    let p = find("invoice pay");
    assert_eq!(p["after"]["status"], "paid");
    assert!(items
        .iter()
        .any(|e| e["entity"] == "payments" && e["after"]["reference"] == "MP123"));
    let n = find("customer resume");
    assert_eq!(n["via"], "netadmin");

    // Suspending a suspended subscriber changes nothing, and logs nothing.
    isp.netadmin(&["customer", "suspend", "dave"]);
    let count = || -> i64 {
        isp.sql()
            .query_one(
                "SELECT count(*) FROM audit_log WHERE subscriber = 'dave'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let before = count();
    isp.netadmin(&["customer", "suspend", "dave"]);
    assert_eq!(count(), before, "a no-op is not a change");
    // Operators' and tokens' secrets are hidden.
    let hashes: Vec<String> = isp
        .sql()
        .query(
            "SELECT coalesce(after ->> 'password_hash', after ->> 'token_hash') FROM audit_log
              WHERE entity IN ('operators', 'operator_tokens') AND after IS NOT NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !hashes.is_empty() && hashes.iter().all(|h| h == "(hidden)"),
        "{hashes:?}"
    );

    // netadmin lists the API's change too.
    let out = isp.netadmin(&["--json", "audit", "--user", "carol", "--operator", "sam"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "customer suspend" && e["via"] == "api"),
        "{out}"
    );

    // Revoked: refused from the next request on.
    let prefix: String = support.chars().take(12).collect();
    isp.netadmin(&["operator", "token", "revoke", &prefix]);
    let r = web.get("/api/v1/me", &h);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "unauthorized"),
        "{}",
        r.body
    );
    let unknown = format!("ntk_{}", "0".repeat(64));
    let r = web.get("/api/v1/me", &[("Authorization", &bearer(&unknown))]);
    assert_eq!(r.status, 401);

    let r = web.get("/api/v1/me", &[]);
    assert_eq!(r.status, 401);
    // The OpenAPI description is public.
    assert_eq!(
        web.get("/api/v1/openapi.json", &[]).json()["openapi"],
        "3.1.0"
    );
}

#[test]
fn a_token_made_to_expire_stops_working_when_it_does() {
    let isp = demo_isp("web_token_expiry");
    let (_, _, admin) = operator(&isp, "ann", "admin");
    let web = WebServer::start(isp.config());
    let adm = bearer(&admin);
    let r = web.send_json(
        "POST",
        "/api/v1/tokens",
        &[("Authorization", &adm)],
        &json!({"label": "contractor", "expires_days": 2}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let t = r.json();
    let (token, id) = (
        t["token"].as_str().unwrap().to_owned(),
        t["id"].as_i64().unwrap(),
    );
    let lasts = t["expires_at"].as_i64().unwrap() - t["created_at"].as_i64().unwrap();
    assert!((2 * 86_400 - 5..=2 * 86_400 + 5).contains(&lasts), "{t}");
    let me = || {
        web.get("/api/v1/me", &[("Authorization", &bearer(&token))])
            .status
    };
    assert_eq!(me(), 200);
    isp.sql()
        .execute(
            "UPDATE operator_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&id],
        )
        .unwrap();
    assert_eq!(me(), 401);
    for days in [0, 3651] {
        let r = web.send_json(
            "POST",
            "/api/v1/tokens",
            &[("Authorization", &adm)],
            &json!({"label": "x", "expires_days": days}),
        );
        assert_eq!(r.error_code(), "invalid", "{days}: {}", r.body);
    }
    // netadmin makes them too, and lists when they expire.
    isp.netadmin(&[
        "operator",
        "token",
        "add",
        "ann",
        "--label",
        "job",
        "--expires-days",
        "7",
    ]);
    let list = isp.netadmin(&["operator", "token", "list"]);
    assert!(list.contains("EXPIRES") && list.contains("job"), "{list}");
}

#[test]
fn a_kick_from_the_api_reaches_the_router_as_a_disconnect_and_the_enforcement_log_says_who() {
    use netily_tests::coa_nas::{CoaNas, CoaNasOptions, DISCONNECT_REQUEST};
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    const ROUTER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let isp = Isp::with_config(
        "web_kick",
        "coa_source_address = 127.0.0.1\ncoa_timeout = 1\ncoa_tries = 2\n",
    );
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["plan", "add", "home", "--rate", "5M/10M"]);
    isp.customer("alice", "alice-secret", "home");
    let nas = CoaNas::start(CoaNasOptions {
        address: ROUTER,
        secret: "coa-secret".into(),
        known_session_prefix: "known-".into(),
        ..CoaNasOptions::default()
    })
    .unwrap();
    let (router, port) = (ROUTER.to_string(), nas.addr().port().to_string());
    isp.netadmin(&[
        "nas",
        "add",
        &router,
        "--shortname",
        "tower-1",
        "--secret",
        "coa-secret",
        "--coa-port",
        &port,
    ]);
    let radiusd = isp.radiusd();
    let until = Instant::now() + Duration::from_secs(5);
    while !radiusd
        .auth(&format!(
            "User-Name = alice, User-Password = alice-secret, NAS-IP-Address = {router}"
        ))
        .unwrap()
        .is("Access-Accept")
    {
        assert!(Instant::now() < until, "alice is never accepted");
        std::thread::sleep(Duration::from_millis(50));
    }
    radiusd
        .acct(&format!(
            "User-Name = alice, Acct-Status-Type = Start, Acct-Session-Id = known-1, \
             NAS-IP-Address = {router}, Framed-IP-Address = 10.0.0.9"
        ))
        .unwrap();
    let (_, _, support) = operator(&isp, "sam", "support");
    let (_, _, readonly) = operator(&isp, "rex", "readonly");
    let web = WebServer::start(isp.config());

    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/alice/kick",
            &[("Authorization", &bearer(&readonly))],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(nas.received().is_empty(), "readonly sent nothing");
    let h = bearer(&support);
    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/nobody/kick",
            &[("Authorization", &h)],
            None,
        )
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );

    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/alice/kick",
            &[("Authorization", &h)],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()[0]["outcome"], "ack", "{}", r.body);
    let got = nas.wait_for(1, Duration::from_secs(5));
    assert_eq!(got[0].kind, DISCONNECT_REQUEST);
    assert_eq!(got[0].acct_session_id.as_deref(), Some("known-1"));

    let log = web
        .get(
            "/api/v1/enforcement-log?user=alice",
            &[("Authorization", &h)],
        )
        .json();
    let e = &log["items"][0];
    assert_eq!(
        (e["origin"].as_str(), e["outcome"].as_str()),
        (Some("api"), Some("ack")),
        "{log}"
    );
    assert!(e["why"].as_str().unwrap().contains("operator sam"), "{log}");
    // Usage and the enforcement log read for anyone; a certificate needs an admin.
    for path in [
        "/api/v1/subscribers/alice/usage?period=7d&by=day",
        "/api/v1/usage/top",
        "/api/v1/usage/routers",
        "/api/v1/usage/plans",
    ] {
        let r = web.get(path, &[("Authorization", &bearer(&readonly))]);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let r = web.get(
        "/api/v1/subscribers/alice/usage?period=forever",
        &[("Authorization", &h)],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = web.send_json(
        "POST",
        "/api/v1/routers/tower-1/certificates",
        &[("Authorization", &h)],
        &json!({}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
}
