//! netily-web's console over HTTP against a real PostgreSQL: sessions (CSRF,
//! fixation, logout, password change), login limits (behind a trusted proxy
//! too), a subscriber's forms, an operator's own page and the operators page.

use netily_tests::isp::Isp;
use netily_tests::web::{login, login_with, Console, WebServer};
use netily_tests::web_fixtures::{bearer, demo_isp, fingerprint, operator, status_of};
use serde_json::Value;

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
