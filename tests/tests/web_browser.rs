//! The console in a real browser (Debian's chromium, headless, over
//! WebDriver) against real netily-web, PostgreSQL and FreeRADIUS with
//! rlm_netily: log in, find a subscriber, suspend them and see radclient's
//! next login rejected; record a payment and see an overdue subscriber let
//! in; download a router's .ovpn. Screenshots of the main pages (and one at
//! a phone's width) go to target/screenshots/.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use netily_tests::browser::Browser;
use netily_tests::freeradius::{workspace, Radiusd};
use netily_tests::isp::Isp;
use netily_tests::web::WebServer;
use serde_json::Value;

fn login_reply(radiusd: &Radiusd, user: &str) -> String {
    let r = radiusd
        .auth(&format!(
            "User-Name = \"{user}\", User-Password = \"{user}-pass\""
        ))
        .unwrap();
    if r.is("Access-Accept") {
        "Access-Accept".into()
    } else {
        "Access-Reject".into()
    }
}

/// Waits (up to 10 s: the module's snapshot follows PostgreSQL's
/// notifications) until `user`'s login gets `want`.
fn wait_login(radiusd: &Radiusd, user: &str, want: &str) {
    let until = Instant::now() + Duration::from_secs(10);
    let mut got = login_reply(radiusd, user);
    while got != want && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        got = login_reply(radiusd, user);
    }
    assert_eq!(got, want, "{user}'s login");
}

#[test]
fn an_operator_suspends_a_subscriber_records_a_payment_and_downloads_a_profile_in_a_browser() {
    let dir = workspace().join(format!("target/browser-tests/{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let isp = Isp::with_ca_seal("web_browser");
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["seed", "demo"]);
    isp.netadmin(&["ca", "init"]);
    isp.netadmin(&["cert", "issue", "demo-router"]);
    let out = isp.netadmin(&[
        "--json",
        "operator",
        "add",
        "ann",
        "--role",
        "admin",
        "--generate-password",
    ]);
    let password = serde_json::from_str::<Value>(&out).unwrap()["password"]
        .as_str()
        .unwrap()
        .to_owned();

    let radiusd = isp.radiusd();
    assert_eq!(login_reply(&radiusd, "alice"), "Access-Accept");
    assert_eq!(
        login_reply(&radiusd, "carol"),
        "Access-Reject",
        "carol is past grace"
    );

    let web = WebServer::start(isp.config());
    let browser = Browser::start(&dir);
    let shots = workspace().join("target/screenshots");
    let shot = |name: &str| browser.screenshot(&shots.join(format!("{name}.png")));

    // Log in.
    browser.goto(&web.url("/subscribers"));
    assert!(
        browser.url().contains("/login?next=%2Fsubscribers"),
        "{}",
        browser.url()
    );
    shot("login");
    browser.find("#name").type_text("ann");
    browser.find("#password").type_text(&password);
    browser.find("#login").click();
    browser.wait_url("/subscribers");
    browser.find("#subscribers");

    // Find alice by her surname and open her page.
    browser.find("#q").type_text("Mwangi");
    browser.find("#search").click();
    // Each click that navigates is waited for: an element found on the page
    // being left is stale once the next one loads.
    browser.wait_url("q=Mwangi");
    browser
        .find("#subscribers a[href='/subscribers/alice']")
        .click();
    browser.wait_url("/subscribers/alice");
    assert_eq!(browser.find("#status").text(), "active");
    // The usage chart loaded (an SVG from netily-charts).
    let until = Instant::now() + Duration::from_secs(10);
    while browser.script("return document.getElementById('usage-chart').naturalWidth") == 0 {
        assert!(Instant::now() < until, "the usage chart did not load");
        std::thread::sleep(Duration::from_millis(100));
    }
    shot("subscriber");

    // Suspend: the next RADIUS login is refused.
    browser.find("#suspend").click();
    browser.wait_url("done=suspended");
    assert!(browser.find("#flash").text().starts_with("Suspended."));
    assert_eq!(browser.find("#status").text(), "suspended");
    wait_login(&radiusd, "alice", "Access-Reject");
    let check = browser.find("#check").text();
    assert!(
        check.starts_with("Rejected: ") && !check.contains('{'),
        "{check}"
    );
    assert!(browser
        .find("#changes")
        .text()
        .contains("status: active → suspended"));

    // Record carol's overdue payment: she is let in.
    browser.goto(&web.url("/subscribers/carol"));
    assert!(
        browser.find("#check").text().starts_with("Rejected"),
        "{}",
        browser.find("#check").text()
    );
    browser.find("#invoices button.pay").click();
    browser.wait_url("done=paid");
    assert_eq!(browser.find("#flash").text(), "Payment recorded.");
    wait_login(&radiusd, "carol", "Access-Accept");
    browser.goto(&web.url("/subscribers/carol"));
    assert!(browser.find("#check").text().starts_with("Accepted"));
    shot("subscriber-paid");

    // Download demo-router's profile from the routers page.
    browser.goto(&web.url("/routers"));
    shot("routers");
    browser.find("a[href='/routers/demo-router/ovpn']").click();
    let file = browser.download_dir().join("demo-router.ovpn");
    let until = Instant::now() + Duration::from_secs(15);
    while !file.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let profile = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        profile.contains("remote 127.0.0.1 1194") || profile.contains("remote 127.0.0.1"),
        "{profile}"
    );
    assert!(profile.contains("-----BEGIN CERTIFICATE-----") && profile.contains("PRIVATE KEY"));

    // A new certificate for the router, from the same page.
    browser
        .find("form[action='/routers/demo-router/certificate'] button")
        .click();
    browser.wait_url("done=issued");
    assert!(browser
        .find("#flash")
        .text()
        .starts_with("Certificate issued"));

    // A plan's price changed on its page; the form keeps its other fields.
    browser.goto(&web.url("/plans/home-20M"));
    browser.script("document.getElementById('plan-price').value = ''; return 0");
    browser.find("#plan-price").type_text("31.50");
    browser.find("#save-plan").click();
    browser.wait_url("done=saved");
    assert_eq!(
        browser.script("return document.getElementById('plan-price').value"),
        "31.50"
    );
    assert_eq!(
        browser.script("return document.getElementById('plan-rate').value"),
        "10M/20M 20M/40M 8M/16M 16/16 8"
    );
    shot("plan");

    // The other pages, and one at a phone's width.
    browser.goto(&web.url("/"));
    let until = Instant::now() + Duration::from_secs(10);
    while browser.script("return document.getElementById('logins-chart').naturalWidth") == 0 {
        assert!(Instant::now() < until, "the dashboard's chart did not load");
        std::thread::sleep(Duration::from_millis(100));
    }
    for (path, name) in [
        ("/", "dashboard"),
        ("/subscribers", "subscribers"),
        ("/sessions", "sessions"),
        ("/plans", "plans"),
        ("/invoices", "invoices"),
        ("/auth-log", "auth-log"),
        ("/audit", "audit"),
        ("/enforcement", "enforcement"),
        ("/account", "account"),
        ("/operators", "operators"),
    ] {
        browser.goto(&web.url(path));
        browser.find("main h1");
        shot(name);
    }
    browser.set_window(390, 844);
    browser.goto(&web.url("/subscribers/alice"));
    browser.find("#status");
    shot("phone-subscriber");
    let shots_made: Vec<PathBuf> = std::fs::read_dir(&shots)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert!(shots_made.len() >= 16, "{shots_made:?}");
    drop(browser);
    std::fs::remove_dir_all(&dir).unwrap();
}
