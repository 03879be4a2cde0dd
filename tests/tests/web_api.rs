//! netily-web over HTTP against a real PostgreSQL: every role, bad input,
//! API tokens (revoked ones refused), console sessions (CSRF, fixation,
//! logout, password change), and the audit log of each change, from the
//! API, the console and netadmin, listed in both.

use netily_tests::isp::Isp;
use netily_tests::web::{login, login_with, Console, WebServer};
use serde_json::{json, Value};

/// An operator made by netadmin: (name, password, API token).
fn operator(isp: &Isp, name: &str, role: &str) -> (String, String, String) {
    let out = isp.netadmin(&[
        "--json",
        "operator",
        "add",
        name,
        "--role",
        role,
        "--generate-password",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let password = v["password"].as_str().unwrap().to_owned();
    let out = isp.netadmin(&[
        "--json", "operator", "token", "add", name, "--label", "tests",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    (
        name.to_owned(),
        password,
        v["token"].as_str().unwrap().to_owned(),
    )
}

fn demo_isp(name: &str) -> Isp {
    let isp = Isp::new(name);
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["seed", "demo"]);
    isp
}

fn status_of(isp: &Isp, user: &str) -> String {
    isp.sql()
        .query_one("SELECT status FROM customers WHERE username = $1", &[&user])
        .unwrap()
        .get(0)
}

/// 1 while invoice `number` is unpaid.
fn unpaid(isp: &Isp, number: &str) -> i64 {
    isp.sql()
        .query_one(
            "SELECT count(*) FROM invoices WHERE number = $1 AND status = 'unpaid'",
            &[&number],
        )
        .unwrap()
        .get(0)
}

/// Everything an operator could change, as one value: equal before and
/// after means nothing changed.
fn fingerprint(isp: &Isp) -> String {
    isp.sql()
        .query_one(
            "SELECT md5(concat_ws('|',
                (SELECT string_agg(c::text, ',' ORDER BY id) FROM customers c),
                (SELECT string_agg(s::text, ',' ORDER BY id) FROM subscriptions s),
                (SELECT string_agg(i::text, ',' ORDER BY id) FROM invoices i),
                (SELECT string_agg(p::text, ',' ORDER BY id) FROM payments p),
                (SELECT string_agg(o::text, ',' ORDER BY id) FROM operators o),
                (SELECT string_agg(t.id || t.label || coalesce(t.revoked_at::text, ''), ',' ORDER BY id)
                   FROM operator_tokens t),
                (SELECT string_agg(x.serial || x.status, ',' ORDER BY id) FROM certificates x),
                (SELECT string_agg(r::text, ',' ORDER BY id) FROM routers r),
                (SELECT string_agg(p::text, ',' ORDER BY id) FROM plans p),
                (SELECT string_agg(n::text, ',' ORDER BY id) FROM nas n)))",
            &[],
        )
        .unwrap()
        .get(0)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

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
fn console_sessions_refuse_csrf_and_fixation_and_end_on_logout_or_password_change() {
    let isp = demo_isp("web_console");
    let (_, sam_pw, _) = operator(&isp, "sam", "support");
    let (_, rex_pw, _) = operator(&isp, "rex", "readonly");
    let web = WebServer::start(isp.config());

    // Not logged in: pages go to the login form.
    let r = web.get("/subscribers/bob", &[]);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/login?next=%2Fsubscribers%2Fbob")
    );

    // Cookie attributes.
    let r = login(&web, "sam", &sam_pw, None);
    assert_eq!(r.status, 303, "{}", r.body);
    let line = r.set_cookie_line("netily_session").unwrap();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );

    // Fixation: a session id planted before login (here the attacker's own,
    // live one) is ended, and the login gets a new one.
    let attacker = Console::login(&web, "rex", &rex_pw);
    let r = login(&web, "sam", &sam_pw, Some(&attacker.cookie));
    let fresh = r.cookie("netily_session").unwrap();
    assert_ne!(fresh, attacker.cookie);
    assert_eq!(
        web.get("/", &[("Cookie", &attacker.header())]).status,
        303,
        "the planted session is ended"
    );

    let sam = Console::login(&web, "sam", &sam_pw);
    let cookie = sam.header();
    // CSRF: a form without the token, or with another session's, is refused.
    for fields in [
        vec![],
        vec![("csrf", "0".repeat(64))],
        vec![("csrf", attacker.csrf.clone())],
    ] {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = web.post_form("/subscribers/bob/suspend", &[("Cookie", &cookie)], &f);
        assert_eq!(r.status, 403, "{fields:?}: {}", r.body);
        assert!(r.body.contains("reload the page"), "{}", r.body);
    }
    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/bob/suspend",
            &[("Cookie", &cookie)],
            None,
        )
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "csrf"),
        "API with a cookie needs X-CSRF-Token"
    );
    assert_eq!(status_of(&isp, "bob"), "active");

    let r = web.post_form(
        "/subscribers/bob/suspend",
        &[("Cookie", &cookie)],
        &[("csrf", &sam.csrf)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/subscribers/bob?done=suspended")
    );
    assert_eq!(status_of(&isp, "bob"), "suspended");
    let page = web.get("/subscribers/bob?done=suspended", &[("Cookie", &cookie)]);
    assert!(
        page.body.contains("Suspended. Their next login is refused"),
        "{}",
        page.body
    );
    let out = isp.netadmin(&["--json", "audit", "--user", "bob", "--limit", "1"]);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (e[0]["actor"].as_str(), e[0]["via"].as_str()),
        (Some("sam"), Some("console")),
        "{out}"
    );
    // The API with the session's header token works too.
    let r = web
        .request(
            "POST",
            "/api/v1/subscribers/bob/resume",
            &[("Cookie", &cookie), ("X-CSRF-Token", &sam.csrf)],
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // Every page renders for a logged-in operator.
    for (path, text) in [
        ("/", "sessions online"),
        ("/subscribers?q=Otieno", "bob"),
        ("/subscribers/carol", "Login check"),
        ("/sessions", "Sessions online"),
        ("/routers", "demo-router"),
        ("/plans", "basic-5M"),
        ("/invoices", "INV-1002"),
        ("/auth-log", "Authentication log"),
        ("/audit", "customer suspend"),
        ("/enforcement", "Enforcement log"),
    ] {
        let r = web.get(path, &[("Cookie", &cookie)]);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.body.contains(text), "{path} lacks {text:?}");
    }

    // Logout ends the session.
    let r = web.post_form("/logout", &[("Cookie", &cookie)], &[("csrf", &sam.csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(web.get("/", &[("Cookie", &cookie)]).status, 303);

    // A new password ends every session of the operator.
    let again = Console::login(&web, "sam", &sam_pw);
    isp.netadmin(&["operator", "passwd", "sam", "--generate-password"]);
    assert_eq!(web.get("/", &[("Cookie", &again.header())]).status, 303);
}

#[test]
fn failed_logins_are_limited_and_a_wrong_name_reads_like_a_wrong_password() {
    let isp = demo_isp("web_login_limit");
    let (_, pw, _) = operator(&isp, "sam", "support");
    let mut web = WebServer::start(isp.config());
    let wrong_name = login(&web, "nobody", "whatever-pass", None);
    let wrong_pw = login(&web, "sam", "whatever-pass", None);
    assert_eq!((wrong_name.status, wrong_pw.status), (401, 401));
    assert!(wrong_name.body.contains("Wrong operator name or password."));
    assert!(wrong_pw.body.contains("Wrong operator name or password."));
    for _ in 0..4 {
        assert_eq!(login(&web, "sam", "whatever-pass", None).status, 401);
    }
    let r = login(&web, "sam", &pw, None);
    assert_eq!(r.status, 429, "even the right password waits: {}", r.body);
    assert!(r.header("retry-after").is_some());
    // A form posted without the login page's token pair is refused.
    let r = web.post_form(
        "/login",
        &[],
        &[("name", "sam"), ("password", &pw), ("csrf", "x")],
    );
    assert_eq!(r.status, 403);

    // SIGTERM stops it cleanly (the pool's connections closed outside the
    // async runtime: no abort).
    let status = web.stop();
    assert!(status.success(), "{status:?}: {}", web.log());
    assert!(!web.log().contains("panicked"), "{}", web.log());
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

/// Follows `next` from `first` to the end: every item's `key`, in order.
fn every_page(web: &WebServer, auth: &str, first: &str, key: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..100 {
        let r = web.get(&path, &[("Authorization", auth)]);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let page = r.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 7, "{path}: a page larger than its limit");
        keys.extend(items.iter().map(|i| i[key].to_string()));
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), 7, "{path}: a short page before the end");
                path = format!("{first}&after={}", netily_tests::web::encode(next));
            }
            None => return keys,
        }
    }
    panic!("{first}: no end after 100 pages");
}

#[test]
fn every_list_pages_to_its_end_in_order_with_no_row_twice_or_missed_even_where_times_tie() {
    let isp = demo_isp("web_pages");
    let (_, ann_pw, admin) = operator(&isp, "ann", "admin");
    let mut sql = isp.sql();
    // 30 open sessions, 30 logins of alice, 30 invoices of bob and 30
    // enforcement outcomes; times come in threes, so pages end inside ties.
    sql.batch_execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
         SELECT 's' || g, 'u' || g, 'alice', '192.0.2.1',
                date_trunc('second', now()) - (g / 3) * interval '1 minute'
           FROM generate_series(1, 30) g;
         INSERT INTO radpostauth (username, pass, reply, authdate)
         SELECT 'alice', '', 'Access-Accept',
                date_trunc('second', now()) - (g / 3) * interval '1 minute' + interval '0.5 s'
           FROM generate_series(1, 30) g;
         INSERT INTO radpostauth (username, pass, reply, authdate)
         SELECT 'alice', '', 'Access-Reject',
                date_trunc('second', now()) - interval '10 minutes'
                + ((g / 2) * 123457) * interval '1 microsecond'
           FROM generate_series(1, 20) g;
         INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
         SELECT 'm' || g, 'm' || g, 'alice', '192.0.2.1',
                date_trunc('second', now()) - interval '20 minutes'
                + ((g / 2) * 654321) * interval '1 microsecond'
           FROM generate_series(1, 20) g;
         INSERT INTO invoices (number, customer_id, amount_cents, issued_at, due_at)
         SELECT 'P-' || g, c.id, 100, now(), date_trunc('day', now()) + (g / 3) * interval '1 day'
           FROM generate_series(1, 30) g, customers c WHERE c.username = 'bob';
         INSERT INTO coa_log (username, target, kind, why, outcome, origin)
         SELECT 'alice', '192.0.2.1:3799', 'disconnect', 'test ' || g, 'ack', 'netadmin'
           FROM generate_series(1, 30) g;",
    )
    .unwrap();
    let web = WebServer::start(isp.config());
    let auth = bearer(&admin);

    let mut ordered = |q: &str| -> Vec<String> {
        sql.query(q, &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    };
    let sessions = every_page(
        &web,
        &auth,
        "/api/v1/sessions?limit=7&user=alice",
        "acct_unique_id",
    );
    assert_eq!(
        sessions,
        ordered(
            "SELECT to_json(acctuniqueid)::text AS k FROM radacct WHERE username = 'alice'
              AND acctstoptime IS NULL ORDER BY acctstarttime DESC, radacctid DESC"
        )
    );
    assert!(sessions.len() >= 30);
    let logins = every_page(&web, &auth, "/api/v1/auth-log?limit=7&user=alice", "id");
    assert_eq!(
        logins,
        ordered(
            "SELECT id::text AS k FROM radpostauth WHERE username = 'alice'
              ORDER BY authdate DESC, id DESC"
        )
    );
    assert!(logins.len() >= 50);
    // One subscriber's accepts go back `days` from now, over all pages:
    // a login 10 days old shows with days=31, not by default.
    isp.sql()
        .execute(
            "INSERT INTO radpostauth (username, pass, reply, authdate)
             VALUES ('alice', '', 'Access-Accept', now() - interval '10 days')",
            &[],
        )
        .unwrap();
    let week = every_page(&web, &auth, "/api/v1/auth-log?limit=7&user=alice", "id");
    assert_eq!(week, logins);
    let month = every_page(
        &web,
        &auth,
        "/api/v1/auth-log?limit=7&user=alice&days=31",
        "id",
    );
    assert_eq!(month.len(), logins.len() + 1);
    let r = web.get(
        "/api/v1/auth-log?user=alice&days=32",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.error_code(), "invalid", "{}", r.body);
    let everyone = every_page(&web, &auth, "/api/v1/auth-log?limit=7&rejects=false", "id");
    assert_eq!(
        everyone,
        ordered("SELECT id::text AS k FROM radpostauth ORDER BY id DESC")
    );
    let invoices = every_page(&web, &auth, "/api/v1/invoices?limit=7&user=bob", "number");
    assert_eq!(
        invoices,
        ordered(
            "SELECT to_json(i.number)::text AS k FROM invoices i JOIN customers c ON c.id = i.customer_id
              WHERE c.username = 'bob' ORDER BY i.due_at DESC, i.id DESC"
        )
    );
    assert!(invoices.len() >= 30);
    let outcomes = every_page(
        &web,
        &auth,
        "/api/v1/enforcement-log?limit=7&user=alice",
        "id",
    );
    assert_eq!(
        outcomes,
        ordered("SELECT id::text AS k FROM coa_log ORDER BY id DESC")
    );
    assert_eq!(outcomes.len(), 30);

    // A cursor that is not one is a 400, not a silent first page.
    for path in [
        "/api/v1/sessions?after=yesterday",
        "/api/v1/invoices?after=1",
        "/api/v1/auth-log?after=1.x",
        "/api/v1/enforcement-log?after=1.2",
    ] {
        let r = web.get(path, &[("Authorization", &auth)]);
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "invalid"),
            "{path}: {}",
            r.body
        );
        assert!(r.body.contains("after"), "{path}: {}", r.body);
    }

    // The console pages the same way: a next link on a full page.
    let ann = Console::login(&web, "ann", &ann_pw);
    let c = [("Cookie", ann.header())];
    let c: Vec<(&str, &str)> = c.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for page in ["/sessions", "/auth-log", "/invoices", "/enforcement"] {
        let r = web.get(page, &c);
        assert_eq!(r.status, 200, "{page}");
        assert!(
            !r.body.contains("id=\"next\""),
            "{page}: fewer than 100 rows, no next page"
        );
    }
    sql.batch_execute(
        "INSERT INTO coa_log (username, target, kind, why, outcome, origin)
         SELECT 'alice', '192.0.2.1:3799', 'coa', 'more ' || g, 'ack', 'netadmin'
           FROM generate_series(1, 100) g",
    )
    .unwrap();
    let r = web.get("/enforcement", &c);
    let href = r
        .body
        .split("id=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a next link")
        .replace("&amp;", "&");
    let r = web.get(&href, &c);
    assert_eq!(r.status, 200, "{href}");
    assert!(
        r.body.contains("test 1<") && !r.body.contains("more 100<"),
        "{href}"
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

#[test]
fn the_console_issues_an_invoice_and_terminates_a_subscriber() {
    let isp = demo_isp("web_console_actions");
    let (_, sam_pw, _) = operator(&isp, "sam", "support");
    let web = WebServer::start(isp.config());
    let sam = Console::login(&web, "sam", &sam_pw);
    let cookie = sam.header();
    let c = [("Cookie", cookie.as_str())];
    let page = web.get("/subscribers/bob", &c);
    assert!(
        page.body.contains("id=\"add-invoice\"") && page.body.contains("id=\"terminate\""),
        "{}",
        page.body
    );

    let r = web.post_form(
        "/subscribers/bob/invoices",
        &c,
        &[
            ("csrf", &sam.csrf),
            ("amount", "12.34"),
            ("due", "2031-01-15"),
        ],
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/subscribers/bob?done=invoiced")),
        "{}",
        r.body
    );
    let due: String = isp
        .sql()
        .query_one(
            "SELECT to_char(i.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM invoices i
               JOIN customers c ON c.id = i.customer_id
              WHERE c.username = 'bob' AND i.amount_cents = 1234",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(due, "2031-01-15");
    let r = web.post_form(
        "/subscribers/bob/invoices",
        &c,
        &[("csrf", &sam.csrf), ("amount", "12,34"), ("due", "")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("invalid amount"), "{}", r.body);

    // Support may not change plans, routers or operators from the console
    // either; nothing changes.
    let before = fingerprint(&isp);
    for (path, fields) in [
        ("/plans", vec![("name", "p9"), ("rate", "1M/1M")]),
        ("/plans/home-20M", vec![("price", "1.00")]),
        ("/plans/home-20M/remove", vec![]),
        (
            "/routers",
            vec![("name", "r9"), ("ip", "192.0.2.99"), ("secret", "abcdefgh")],
        ),
        ("/routers/demo-router/remove", vec![]),
        ("/operators", vec![("name", "eve"), ("role", "admin")]),
        ("/operators/sam/role", vec![("role", "admin")]),
        ("/operators/ann/remove", vec![]),
    ] {
        let mut f = vec![("csrf", sam.csrf.as_str())];
        f.extend(fields);
        let r = web.post_form(path, &c, &f);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    assert_eq!(fingerprint(&isp), before);

    // Terminating needs the confirmation ticked, even without a browser.
    let r = web.post_form("/subscribers/bob/terminate", &c, &[("csrf", &sam.csrf)]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(status_of(&isp, "bob"), "active");
    let r = web.post_form(
        "/subscribers/bob/terminate",
        &c,
        &[("csrf", &sam.csrf), ("confirm", "on")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status_of(&isp, "bob"), "terminated");
    let page = web.get("/subscribers/bob?done=terminated", &c);
    assert!(
        page.body.contains("Terminated.") && !page.body.contains("id=\"terminate\""),
        "{}",
        page.body
    );
}

#[test]
fn behind_a_trusted_proxy_failed_logins_are_counted_per_operator_address() {
    let isp = Isp::with_config("web_proxy", "web_trusted_proxies = 127.0.0.1\n");
    isp.netadmin(&["migrate"]);
    let (_, pw, _) = operator(&isp, "sam", "support");
    let web = WebServer::start(isp.config());
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    // 20 failures from one address (different names: the per-name limit
    // stays out of it) shut that address out...
    for i in 0..20 {
        let r = login_with(
            &web,
            &format!("x{i}"),
            "whatever-pass",
            None,
            &from("203.0.113.7"),
        );
        assert_eq!(r.status, 401, "{i}: {}", r.body);
    }
    let r = login_with(&web, "sam", &pw, None, &from("203.0.113.7"));
    assert_eq!(r.status, 429, "{}", r.body);
    // ...not another operator behind the same proxy, nor one who claims a
    // different address in front of the proxy's.
    let r = login_with(&web, "sam", &pw, None, &from("203.0.113.8"));
    assert_eq!(r.status, 303, "{}", r.body);
    let r = login_with(&web, "sam", &pw, None, &from("10.0.0.1, 203.0.113.7"));
    assert_eq!(r.status, 429, "the proxy's own hop counts: {}", r.body);
}

#[test]
fn a_username_removed_and_made_again_starts_a_new_history() {
    let isp = demo_isp("web_recreated");
    let (_, ann_pw, admin) = operator(&isp, "ann", "admin");
    let web = WebServer::start(isp.config());
    let adm = bearer(&admin);
    let h = [("Authorization", adm.as_str())];
    let add = || {
        let r = web.send_json(
            "POST",
            "/api/v1/subscribers",
            &h,
            &json!({"username": "zoe", "password": "zoe-pass-1", "plan": "home-20M"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    };
    add();
    isp.sql()
        .batch_execute(
            "INSERT INTO radpostauth (username, pass, reply, authdate)
             VALUES ('zoe', '', 'Access-Accept', now() - interval '1 hour');
             INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
             VALUES ('old', 'old-zoe', 'zoe', '192.0.2.1', now() - interval '1 hour');",
        )
        .unwrap();
    let before = web.get("/api/v1/subscribers/zoe/history", &h).json();
    assert_eq!(before["auth_log"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["sessions"].as_array().unwrap().len(), 1, "{before}");
    let r = web
        .request("DELETE", "/api/v1/subscribers/zoe", &h, None)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    add();
    let after = web.get("/api/v1/subscribers/zoe/history", &h).json();
    assert_eq!(after["auth_log"], json!([]), "{after}");
    assert_eq!(after["sessions"], json!([]), "{after}");
    let actions: Vec<&str> = after["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        !actions.is_empty() && actions.iter().all(|a| *a == "customer add"),
        "{actions:?}"
    );
    // The console page shows the same.
    let ann = Console::login(&web, "ann", &ann_pw);
    let page = web.get("/subscribers/zoe", &[("Cookie", &ann.header())]);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("No sessions.") && page.body.contains("No logins."),
        "{}",
        page.body
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
fn a_search_finds_a_phrase_by_its_rarest_word_and_pages_a_common_word_in_username_order() {
    let isp = demo_isp("web_search");
    let (_, _, admin) = operator(&isp, "ann", "admin");
    // 300 subscribers share "Common" (most of the sample: walked in
    // order); their numbers are rare (found through the index).
    isp.sql()
        .batch_execute(
            "INSERT INTO customers (username, password, full_name, status)
             SELECT 'cn' || lpad(g::text, 4, '0'), 'x', 'Common Name ' || lpad(g::text, 4, '0'), 'active'
               FROM generate_series(1, 300) g",
        )
        .unwrap();
    let web = WebServer::start(isp.config());
    let auth = bearer(&admin);
    let found = |q: &str| -> Vec<String> {
        let r = web.get(
            &format!(
                "/api/v1/subscribers?limit=500&q={}",
                netily_tests::web::encode(q)
            ),
            &[("Authorization", &auth)],
        );
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(found("Alice Mwangi"), ["alice"]);
    assert_eq!(
        found("alice  MWANGI"),
        Vec::<String>::new(),
        "two spaces are text too"
    );
    assert_eq!(
        found("Mwangi Alice"),
        Vec::<String>::new(),
        "the words in their order"
    );
    assert_eq!(found("Common Name 0123"), ["cn0123"]);
    assert_eq!(found("Name 0042"), ["cn0042"]);
    assert_eq!(found("Common Alice"), Vec::<String>::new());
    let all: Vec<String> = (1..=300).map(|g| format!("cn{g:04}")).collect();
    assert_eq!(found("Common"), all);
    assert_eq!(found("Common Name"), all);
    // "Zeta" is common in the sample (the first 2,000 usernames) but not
    // beyond: walking the first usernames does not fill the page, and the
    // index finds the rest, past the walk.
    isp.sql()
        .batch_execute(
            "INSERT INTO customers (username, password, full_name, status)
             SELECT 'cz' || lpad(g::text, 5, '0'), 'x',
                    CASE WHEN g <= 30 OR g > 7950 THEN 'Zeta ' ELSE 'Other ' END || g, 'active'
               FROM generate_series(1, 8000) g",
        )
        .unwrap();
    let zeta: Vec<String> = (1..=8000)
        .filter(|g| *g <= 30 || *g > 7950)
        .map(|g| format!("cz{g:05}"))
        .collect();
    assert_eq!(found("Zeta"), zeta);
    // Paged 7 at a time, the common word comes in username order, whole.
    let paged = every_page(
        &web,
        &auth,
        "/api/v1/subscribers?limit=7&q=Common",
        "username",
    );
    let paged: Vec<String> = paged
        .iter()
        .map(|u| u.trim_matches('"').to_owned())
        .collect();
    assert_eq!(paged, all);
}

#[test]
fn an_operator_changes_their_password_and_makes_tokens_and_an_admin_manages_operators_in_the_console(
) {
    let isp = demo_isp("web_account");
    let (_, ann_pw, _) = operator(&isp, "ann", "admin");
    let (_, sam_pw, _) = operator(&isp, "sam", "support");
    let web = WebServer::start(isp.config());

    // sam: his own token, shown once, working until he revokes it.
    let sam = Console::login(&web, "sam", &sam_pw);
    let cookie = sam.header();
    let c = [("Cookie", cookie.as_str())];
    let r = web.post_form(
        "/account/tokens",
        &c,
        &[
            ("csrf", &sam.csrf),
            ("label", "my script"),
            ("expires_days", "3"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r
        .body
        .split("<code id=\"token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the new token on the page")
        .to_owned();
    assert_eq!(
        web.get("/api/v1/me", &[("Authorization", &bearer(&token))])
            .status,
        200
    );
    let page = web.get("/account", &c);
    assert!(
        page.body.contains("my script") && !page.body.contains(&token),
        "shown once"
    );
    let id: i64 = isp
        .sql()
        .query_one(
            "SELECT id FROM operator_tokens WHERE label = 'my script'",
            &[],
        )
        .unwrap()
        .get(0);
    let r = web.post_form(
        &format!("/account/tokens/{id}/revoke"),
        &c,
        &[("csrf", &sam.csrf)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        web.get("/api/v1/me", &[("Authorization", &bearer(&token))])
            .status,
        401
    );
    // Support sees no operators page.
    assert_eq!(web.get("/operators", &c).status, 403);

    // A new password needs the current one and the same twice; then every
    // session of his ends and the new one logs in.
    let change = |current: &str, new: &str, repeat: &str| {
        web.post_form(
            "/account/password",
            &c,
            &[
                ("csrf", &sam.csrf),
                ("current", current),
                ("new", new),
                ("repeat", repeat),
            ],
        )
    };
    let r = change("wrong-password", "brand new pass 1", "brand new pass 1");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = change(&sam_pw, "brand new pass 1", "brand new pass 2");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = change(&sam_pw, "short", "short");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = change(&sam_pw, "brand new pass 1", "brand new pass 1");
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/login?changed=1")),
        "{}",
        r.body
    );
    assert_eq!(web.get("/account", &c).status, 303, "the session ended");
    assert_eq!(login(&web, "sam", &sam_pw, None).status, 401);
    let sam2 = Console::login(&web, "sam", "brand new pass 1");

    // ann: adds an operator (a password made up and shown once), changes
    // roles, removes; the last admin stays.
    let ann = Console::login(&web, "ann", &ann_pw);
    let cookie = ann.header();
    let c = [("Cookie", cookie.as_str())];
    let r = web.post_form(
        "/operators",
        &c,
        &[("csrf", &ann.csrf), ("name", "kim"), ("role", "readonly")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let kim_pw = r
        .body
        .split("<code id=\"new-password\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the new password on the page")
        .to_owned();
    Console::login(&web, "kim", &kim_pw);
    let r = web.post_form(
        "/operators/sam/role",
        &c,
        &[("csrf", &ann.csrf), ("role", "readonly")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = web.post_form(
        "/subscribers/bob/suspend",
        &[("Cookie", &sam2.header())],
        &[("csrf", &sam2.csrf)],
    );
    assert_eq!(r.status, 403, "sam is readonly now: {}", r.body);
    let r = web.post_form(
        "/operators/ann/role",
        &c,
        &[("csrf", &ann.csrf), ("role", "support")],
    );
    assert_eq!(r.status, 409, "the last admin: {}", r.body);
    let r = web.post_form("/operators/kim/remove", &c, &[("csrf", &ann.csrf)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(login(&web, "kim", &kim_pw, None).status, 401);
    let out = isp.netadmin(&["--json", "audit", "--entity", "operators"]);
    for want in [
        "operator add",
        "operator role",
        "operator remove",
        "operator passwd",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
}
