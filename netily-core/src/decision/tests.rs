//! The access decision's tests: one behaviour each, by name.

use super::*;
use crate::dictionary::Dictionary;
use crate::model::{OpenSession, Plan, Subscriber, Subscription, UnpaidInvoice, SECONDS_PER_DAY};
use crate::rate::RateLimit;

pub(crate) const NOW: UnixTime = 1_700_000_000;
const DAY: i64 = SECONDS_PER_DAY;
const MAC: &str = "AA:BB:CC:DD:EE:0F";

fn rate(s: &str) -> RateLimit {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn plan() -> Plan {
    Plan {
        id: 7,
        name: "Home-10".into(),
        rate: rate("5M/10M"),
        data_cap_bytes: None,
        fair_use_rate: None,
        session_timeout: None,
        idle_timeout: None,
        interim_interval: None,
        ip_pool: None,
        mikrotik_group: None,
        address_list: None,
        simultaneous_use: None,
        price_cents: 2_500,
        cycle_days: None,
    }
}

/// An active subscriber with an open-ended subscription to Home-10.
pub(crate) fn record() -> SubscriberRecord {
    SubscriberRecord {
        subscriber: Subscriber {
            id: 1,
            username: "alice".into(),
            password: "s3cret".into(),
            password_hash: None,
            full_name: "Alice".into(),
            status: SubscriberStatus::Active,
            mac_binding: None,
            static_ip: None,
        },
        plan: Some(plan()),
        subscription: Some(Subscription {
            id: 3,
            plan_id: 7,
            starts_at: NOW - 30 * DAY,
            expires_at: None,
            active: true,
            cycle_start: NOW - 10 * DAY,
        }),
        unpaid_invoices: vec![],
        cycle_usage_bytes: 0,
        usage_cycle_start: Some(NOW - 10 * DAY),
        open_sessions: vec![],
        group_replies: vec![],
        user_replies: vec![],
        skipped_replies: vec![],
        user_checks: vec![],
        group_checks: vec![],
        check_rules: Default::default(),
    }
}

/// The NAS of [`session`]'s sessions and of [`req`]'s requests.
const NAS: &str = "192.0.2.1";

fn req(csid: Option<&str>) -> AccessRequest<'_> {
    req_via(csid, Some(NAS))
}

fn req_via<'a>(csid: Option<&'a str>, nas: Option<&str>) -> AccessRequest<'a> {
    AccessRequest {
        username: "alice",
        calling_station_id: csid,
        nas_ip: nas.map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}"))),
    }
}

/// The decision on `r` as it is loaded: override rows screened first.
fn run(r: &SubscriberRecord, policy: &Policy) -> Decision {
    let mut r = r.clone();
    Dictionary::standard().screen(&mut r);
    decide(Some(&r), &req(None), NOW, policy)
}

fn rejected(d: &Decision) -> &RejectReason {
    d.reject_reason()
        .unwrap_or_else(|| panic!("expected a reject, got {d:?}"))
}

fn accepted(d: &Decision) -> (&[ReplyAttribute], bool, &[String]) {
    match d {
        Decision::Accept {
            reply,
            walled_garden,
            why,
            ..
        } => (reply, *walled_garden, why),
        Decision::Reject { reason } => panic!("expected an accept, got reject: {reason}"),
    }
}

fn values<'a>(d: &'a Decision, name: &str) -> Vec<&'a str> {
    d.reply()
        .iter()
        .filter(|a| a.name == name)
        .map(|a| a.value.as_str())
        .collect()
}

fn why_has(d: &Decision, needle: &str) -> bool {
    accepted(d).2.iter().any(|w| w.contains(needle))
}

fn ov(attribute: &str, op: &str, value: &str) -> ReplyOverride {
    ReplyOverride {
        attribute: attribute.into(),
        op: op.into(),
        value: value.into(),
    }
}

fn session(id: &str, csid: Option<&str>) -> OpenSession {
    session_on(id, csid, NAS)
}

fn session_on(id: &str, csid: Option<&str>, nas: &str) -> OpenSession {
    OpenSession {
        acct_unique_id: id.into(),
        nas_ip: nas.into(),
        calling_station_id: csid.map(str::to_string),
        started_at: NOW - 3600,
    }
}

fn overdue(r: &mut SubscriberRecord, number: &str, days: i64) {
    r.unpaid_invoices.push(UnpaidInvoice {
        id: r.unpaid_invoices.len() as i64 + 1,
        number: number.into(),
        amount_cents: 2_500,
        due_at: NOW - days * DAY,
    });
}

fn garden_policy() -> Policy {
    Policy {
        grace_days: 7,
        walled_garden: Some(WalledGarden {
            address_list: "unpaid".into(),
            rate: rate("256k/512k"),
            session_timeout: 300,
        }),
    }
}

// ---- order of checks and reject reasons ----

#[test]
fn unknown_user() {
    let d = decide(None, &req(None), NOW, &Policy::default());
    let r = rejected(&d);
    assert_eq!(r.code(), "unknown_user");
    assert_eq!(r.reply_message(), "Unknown user");
    assert!(r.is_unknown_user());
}

#[test]
fn terminated_before_everything_else() {
    let mut r = record();
    r.subscriber.status = SubscriberStatus::Terminated;
    r.subscription = None;
    let d = run(&r, &garden_policy());
    assert_eq!(rejected(&d).code(), "terminated");
    assert_eq!(rejected(&d).reply_message(), "Account terminated");
    assert!(!rejected(&d).is_unknown_user());
}

#[test]
fn disabled_is_always_rejected_never_walled_garden() {
    let mut r = record();
    r.subscriber.status = SubscriberStatus::Suspended;
    overdue(&mut r, "INV-1", 30);
    let d = run(&r, &garden_policy());
    let reason = rejected(&d);
    assert_eq!(reason.code(), "disabled");
    assert_eq!(reason.reply_message(), "Account disabled");
    assert_eq!(reason.to_string(), "Account disabled by the operator");
    // Also without any invoice and before the subscription check.
    r.unpaid_invoices.clear();
    r.subscription = None;
    assert_eq!(rejected(&run(&r, &Policy::default())).code(), "disabled");
}

#[test]
fn no_subscription_and_inactive() {
    let mut r = record();
    r.subscription = None;
    let d = run(&r, &Policy::default());
    assert_eq!(rejected(&d).code(), "no_subscription");
    assert_eq!(rejected(&d).reply_message(), "No active subscription");
    let mut r = record();
    if let Some(s) = r.subscription.as_mut() {
        s.active = false;
    }
    let d = run(&r, &Policy::default());
    assert_eq!(rejected(&d), &RejectReason::SubscriptionInactive);
    assert_eq!(rejected(&d).code(), "no_subscription");
}

#[test]
fn subscription_not_started_until_its_start_second() {
    let mut r = record();
    if let Some(s) = r.subscription.as_mut() {
        s.starts_at = NOW + 1;
    }
    let d = run(&r, &Policy::default());
    assert_eq!(rejected(&d).code(), "subscription_not_started");
    assert!(rejected(&d).to_string().contains("2023-11-14 22:13:21 UTC"));
    if let Some(s) = r.subscription.as_mut() {
        s.starts_at = NOW;
    }
    assert!(run(&r, &Policy::default()).is_accept());
}

#[test]
fn subscription_expired_at_the_expiry_second() {
    let mut r = record();
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW);
    }
    let d = run(&r, &Policy::default());
    let reason = rejected(&d);
    assert_eq!(reason.code(), "subscription_expired");
    assert_eq!(reason.reply_message(), "Subscription expired");
    assert_eq!(
        reason.to_string(),
        "Subscription expired at 2023-11-14 22:13:20 UTC"
    );
    // One second before: accepted, for exactly one second.
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 1);
    }
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["1"]);
}

#[test]
fn expired_before_mac_and_billing() {
    let mut r = record();
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW - DAY);
    }
    r.subscriber.mac_binding = Some(MAC.into());
    overdue(&mut r, "INV-1", 30);
    assert_eq!(
        rejected(&run(&r, &garden_policy())).code(),
        "subscription_expired"
    );
}

#[test]
fn no_plan() {
    let mut r = record();
    r.plan = None;
    let d = run(&r, &Policy::default());
    assert_eq!(rejected(&d).code(), "no_plan");
}

// ---- MAC binding ----

#[test]
fn mac_normalization() {
    let want = Some("aa:bb:cc:dd:ee:0f".to_string());
    for s in [
        "AA:BB:CC:DD:EE:0F",
        "aa:bb:cc:dd:ee:0f",
        "AA-BB-CC-DD-EE-0F",
        "aabb.ccdd.ee0f",
        "AABBCCDDEE0F",
        " aa:bb:cc:dd:ee:0f ",
    ] {
        assert_eq!(normalize_mac(s), want, "{s}");
    }
    for bad in [
        "",
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:0f:11",
        "gg:bb:cc:dd:ee:0f",
        "alice",
    ] {
        assert_eq!(normalize_mac(bad), None, "{bad}");
    }
    assert!(same_station("AA-BB-CC-DD-EE-0F", "aabbccddee0f"));
    assert!(!same_station("AA-BB-CC-DD-EE-0F", "aabbccddee0e"));
    // Non-MAC station ids compare as text.
    assert!(same_station("Port 7", "port 7"));
}

#[test]
fn mac_binding_matches_in_any_format() {
    let mut r = record();
    r.subscriber.mac_binding = Some(MAC.into());
    for csid in ["aa-bb-cc-dd-ee-0f", "aabb.ccdd.ee0f", "AABBCCDDEE0F", MAC] {
        let d = decide(Some(&r), &req(Some(csid)), NOW, &Policy::default());
        assert!(d.is_accept(), "{csid}: {d:?}");
    }
}

#[test]
fn mac_binding_mismatch_and_missing_calling_station_id() {
    let mut r = record();
    r.subscriber.mac_binding = Some(MAC.into());
    let d = decide(
        Some(&r),
        &req(Some("aa:bb:cc:dd:ee:10")),
        NOW,
        &Policy::default(),
    );
    let reason = rejected(&d);
    assert_eq!(reason.code(), "mac_mismatch");
    assert_eq!(reason.reply_message(), "MAC address not allowed");
    assert!(reason.to_string().contains("aa:bb:cc:dd:ee:10"));
    let d = decide(Some(&r), &req(None), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "mac_mismatch");
    assert!(rejected(&d).to_string().contains("no Calling-Station-Id"));
}

#[test]
fn blank_mac_binding_is_no_binding() {
    let mut r = record();
    r.subscriber.mac_binding = Some("  ".into());
    assert!(run(&r, &Policy::default()).is_accept());
}

// ---- simultaneous use ----

#[test]
fn simultaneous_use_limit_reached() {
    let mut r = record();
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = Some(1);
    }
    r.open_sessions = vec![session("s1", Some("11:22:33:44:55:66"))];
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default());
    let reason = rejected(&d);
    assert_eq!(reason.code(), "simultaneous_use");
    assert_eq!(reason.reply_message(), "Simultaneous-use limit reached");
    assert_eq!(
        reason.to_string(),
        "Simultaneous-use limit reached: 1 session open, limit 1"
    );
    // Below the limit.
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = Some(2);
    }
    assert!(decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default()).is_accept());
    // Unlimited.
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = None;
    }
    r.open_sessions = (0..50).map(|i| session(&format!("s{i}"), None)).collect();
    assert!(decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default()).is_accept());
}

#[test]
fn same_device_reconnecting_over_a_stale_session_is_not_counted() {
    let mut r = record();
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = Some(1);
    }
    r.open_sessions = vec![session("stale", Some("aa-bb-cc-dd-ee-0f"))];
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default());
    assert!(d.is_accept(), "{d:?}");
    // ...but another device's session still counts.
    r.open_sessions
        .push(session("other", Some("11:22:33:44:55:66")));
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "simultaneous_use");
    // Without a Calling-Station-Id nothing is excluded.
    r.open_sessions.truncate(1);
    let d = decide(Some(&r), &req(None), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "simultaneous_use");
    // A session without a Calling-Station-Id always counts.
    r.open_sessions = vec![session("anon", None)];
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "simultaneous_use");
}

fn set_limit(r: &mut SubscriberRecord, limit: u32) {
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = Some(limit);
    }
}

fn limit_one() -> SubscriberRecord {
    let mut r = record();
    set_limit(&mut r, 1);
    r
}

/// radcheck / radgroupcheck rows a stock rlm_sql tool wrote, as loaded.
fn with_checks(user: &[(&str, &str, &str)], group: &[(&str, &str, &str)]) -> SubscriberRecord {
    let mut r = record();
    let rows = |rows: &[(&str, &str, &str)]| {
        rows.iter()
            .map(|(a, op, v)| ReplyOverride {
                attribute: (*a).into(),
                op: (*op).into(),
                value: (*v).into(),
            })
            .collect()
    };
    r.user_checks = rows(user);
    r.group_checks = rows(group);
    crate::checks::screen(&mut r);
    r
}

#[test]
fn a_check_rows_auth_type_reject_disables_the_subscriber() {
    let r = with_checks(&[], &[("Auth-Type", ":=", "Reject")]);
    let d = decide(Some(&r), &req(None), NOW, &Policy::default());
    let reason = rejected(&d);
    assert_eq!(reason.code(), "disabled");
    assert_eq!(
        reason.to_string(),
        "Account disabled: radgroupcheck has Auth-Type := Reject"
    );
}

#[test]
fn a_check_rows_expiration_ends_service_and_caps_the_session_before() {
    // 1_700_000_000 is 2023-11-14T22:13:20Z.
    let r = with_checks(&[("Expiration", ":=", "Nov 15 2023")], &[]);
    let d = decide(Some(&r), &req(None), NOW, &Policy::default());
    assert_eq!(d.reply_value("Session-Timeout"), Some("6400"), "{d:?}");
    let d = decide(Some(&r), &req(None), 1_700_006_400, &Policy::default());
    assert_eq!(rejected(&d).code(), "subscription_expired");
}

#[test]
fn a_check_rows_limits_replace_the_plans_and_bind_the_device() {
    let mut r = with_checks(
        &[
            ("Simultaneous-Use", ":=", "1"),
            ("Calling-Station-Id", "==", "aa-bb-cc-dd-ee-ff"),
        ],
        &[],
    );
    r.open_sessions = vec![session_on("s1", Some("AA:BB:CC:DD:EE:FF"), "192.0.2.9")];
    let d = decide(
        Some(&r),
        &req(Some("AA:BB:CC:DD:EE:FF")),
        NOW,
        &Policy::default(),
    );
    assert_eq!(rejected(&d).code(), "simultaneous_use");
    r.open_sessions.clear();
    assert!(decide(
        Some(&r),
        &req(Some("aa:bb:cc:dd:ee:ff")),
        NOW,
        &Policy::default()
    )
    .is_accept());
    let d = decide(
        Some(&r),
        &req(Some("11:22:33:44:55:66")),
        NOW,
        &Policy::default(),
    );
    assert_eq!(rejected(&d).code(), "mac_mismatch");
}

#[test]
fn the_same_device_on_another_nas_is_another_session() {
    let mut r = limit_one();
    r.open_sessions = vec![session_on("s1", Some(MAC), "192.0.2.1")];
    let d = decide(
        Some(&r),
        &req_via(Some(MAC), Some("192.0.2.2")),
        NOW,
        &Policy::default(),
    );
    assert_eq!(rejected(&d).code(), "simultaneous_use");
    // Three sessions from one MAC on three NASes: one too many, twice over.
    r.open_sessions
        .push(session_on("s2", Some(MAC), "192.0.2.2"));
    for nas in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let d = decide(
            Some(&r),
            &req_via(Some(MAC), Some(nas)),
            NOW,
            &Policy::default(),
        );
        assert_eq!(rejected(&d).code(), "simultaneous_use", "via {nas}");
    }
}

#[test]
fn a_device_replaces_at_most_one_session_of_its_own_on_a_nas() {
    let mut r = limit_one();
    r.open_sessions = vec![session("old", Some(MAC))];
    assert!(decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default()).is_accept());
    // The replacement opened before the NAS closed the old one: a third
    // session of the same device on the same NAS counts.
    r.open_sessions.push(session("new", Some("aabb.ccdd.ee0f")));
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "simultaneous_use");
    // With a limit of 2, one replaced and one counted: accepted.
    set_limit(&mut r, 2);
    assert!(decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default()).is_accept());
}

#[test]
fn without_a_nas_address_no_session_is_a_predecessor() {
    let mut r = limit_one();
    r.open_sessions = vec![session("s1", Some(MAC))];
    let d = decide(Some(&r), &req_via(Some(MAC), None), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "simultaneous_use");
    // A session whose NAS address is unreadable is no predecessor either.
    r.open_sessions = vec![session_on("s1", Some(MAC), "")];
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &Policy::default());
    assert_eq!(rejected(&d).code(), "simultaneous_use");
}

#[test]
fn mac_checked_before_simultaneous_use() {
    let mut r = record();
    r.subscriber.mac_binding = Some(MAC.into());
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = Some(1);
    }
    r.open_sessions = vec![session("s1", Some("11:22:33:44:55:66"))];
    let d = decide(
        Some(&r),
        &req(Some("11:22:33:44:55:77")),
        NOW,
        &Policy::default(),
    );
    assert_eq!(rejected(&d).code(), "mac_mismatch");
}

// ---- billing ----

#[test]
fn invoice_overdue_eight_days_rejects_six_days_accepts() {
    let mut r = record();
    overdue(&mut r, "INV-0042", 8);
    let d = run(&r, &Policy::default());
    let reason = rejected(&d);
    assert_eq!(reason.code(), "invoice_overdue");
    assert_eq!(reason.reply_message(), "Account suspended: invoice overdue");
    assert_eq!(
        reason.to_string(),
        "Account suspended: invoice INV-0042 overdue 8 days (due 2023-11-06 22:13:20 UTC, grace 7 days)"
    );
    let mut r = record();
    overdue(&mut r, "INV-0042", 6);
    assert!(run(&r, &Policy::default()).is_accept());
}

#[test]
fn invoice_grace_boundary_exactly_seven_days() {
    let mut r = record();
    overdue(&mut r, "INV-7", 7);
    assert_eq!(
        rejected(&run(&r, &Policy::default())).code(),
        "invoice_overdue"
    );
    let d = decide(Some(&r), &req(None), NOW - 1, &Policy::default());
    assert!(d.is_accept());
}

#[test]
fn invoice_reason_names_the_oldest() {
    let mut r = record();
    overdue(&mut r, "INV-NEW", 10);
    overdue(&mut r, "INV-OLD", 40);
    overdue(&mut r, "INV-RECENT", 1);
    let d = run(&r, &Policy::default());
    match rejected(&d) {
        RejectReason::InvoiceOverdue {
            invoice_number,
            days_overdue,
            ..
        } => {
            assert_eq!(invoice_number, "INV-OLD");
            assert_eq!(*days_overdue, 40);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn simultaneous_use_checked_before_billing() {
    let mut r = record();
    if let Some(p) = r.plan.as_mut() {
        p.simultaneous_use = Some(1);
    }
    r.open_sessions = vec![session("s1", None)];
    overdue(&mut r, "INV-1", 30);
    assert_eq!(
        rejected(&run(&r, &garden_policy())).code(),
        "simultaneous_use"
    );
}

// ---- walled garden ----

fn full_plan(r: &mut SubscriberRecord) {
    if let Some(p) = r.plan.as_mut() {
        p.session_timeout = Some(86_400);
        p.idle_timeout = Some(600);
        p.interim_interval = Some(300);
        p.ip_pool = Some("pppoe-pool".into());
        p.mikrotik_group = Some("pppoe-profile".into());
        p.address_list = Some("customers".into());
    }
}

#[test]
fn walled_garden_accepts_with_garden_settings_only() {
    let mut r = record();
    full_plan(&mut r);
    overdue(&mut r, "INV-9", 8);
    let d = run(&r, &garden_policy());
    let (_, garden, why) = accepted(&d);
    assert!(garden);
    assert_eq!(values(&d, ADDRESS_LIST), ["unpaid"]);
    assert_eq!(values(&d, RATE_LIMIT), ["256k/512k"]);
    assert_eq!(values(&d, SESSION_TIMEOUT), ["300"]);
    // The plan's pool and profile still apply so the subscriber gets an
    // address and can reach the payment page.
    assert_eq!(values(&d, FRAMED_POOL), ["pppoe-pool"]);
    assert_eq!(values(&d, MIKROTIK_GROUP), ["pppoe-profile"]);
    assert_eq!(values(&d, IDLE_TIMEOUT), ["600"]);
    assert!(why
        .iter()
        .any(|w| w.contains("INV-9") && w.contains("walled garden")));
    match &d {
        Decision::Accept { password, .. } => assert_eq!(password, "s3cret"),
        Decision::Reject { .. } => unreachable!(),
    }
}

#[test]
fn walled_garden_timeout_capped_by_expiry() {
    let mut r = record();
    overdue(&mut r, "INV-9", 8);
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 120);
    }
    let d = run(&r, &garden_policy());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["120"]);
    assert!(why_has(&d, "capped at subscription expiry"));
}

#[test]
fn walled_garden_overrides_cannot_lift_the_garden() {
    let mut r = record();
    overdue(&mut r, "INV-9", 8);
    r.user_replies = vec![
        ov("Mikrotik-Rate-Limit", ":=", "100M"),
        ov("mikrotik-address-list", "+=", "customers"),
        ov("Session-Timeout", ":=", "99999"),
        ov("Reply-Message", ":=", "Please pay"),
    ];
    let d = run(&r, &garden_policy());
    assert_eq!(values(&d, RATE_LIMIT), ["256k/512k"]);
    assert_eq!(values(&d, ADDRESS_LIST), ["unpaid"]);
    assert_eq!(values(&d, SESSION_TIMEOUT), ["300"]);
    assert_eq!(values(&d, "Reply-Message"), ["Please pay"]);
    assert!(why_has(
        &d,
        "ignored user reply Mikrotik-Rate-Limit := (the walled garden sets it)"
    ));
}

#[test]
fn walled_garden_respects_mac_binding() {
    let mut r = record();
    overdue(&mut r, "INV-9", 8);
    r.subscriber.mac_binding = Some(MAC.into());
    let d = decide(
        Some(&r),
        &req(Some("11:22:33:44:55:66")),
        NOW,
        &garden_policy(),
    );
    assert_eq!(rejected(&d).code(), "mac_mismatch");
    let d = decide(Some(&r), &req(Some(MAC)), NOW, &garden_policy());
    assert!(accepted(&d).1);
}

#[test]
fn not_overdue_means_no_walled_garden() {
    let mut r = record();
    full_plan(&mut r);
    overdue(&mut r, "INV-9", 6);
    let d = run(&r, &garden_policy());
    assert!(!accepted(&d).1);
    assert_eq!(values(&d, ADDRESS_LIST), ["customers"]);
}

// ---- accept reply ----

#[test]
fn accept_renders_the_plan() {
    let mut r = record();
    full_plan(&mut r);
    let d = run(&r, &Policy::default());
    let (reply, garden, why) = accepted(&d);
    assert!(!garden);
    let got: Vec<(&str, &str)> = reply
        .iter()
        .map(|a| (a.name.as_ref(), a.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (RATE_LIMIT, "5M/10M"),
            (SESSION_TIMEOUT, "86400"),
            (IDLE_TIMEOUT, "600"),
            (INTERIM_INTERVAL, "300"),
            (FRAMED_POOL, "pppoe-pool"),
            (MIKROTIK_GROUP, "pppoe-profile"),
            (ADDRESS_LIST, "customers"),
        ]
    );
    assert_eq!(why[0], "plan Home-10 rate 5M/10M");
    match &d {
        Decision::Accept { password, .. } => assert_eq!(password, "s3cret"),
        Decision::Reject { .. } => unreachable!(),
    }
}

#[test]
fn minimal_plan_sends_only_the_rate() {
    let d = run(&record(), &Policy::default());
    assert_eq!(d.reply(), [ReplyAttribute::new(RATE_LIMIT, "5M/10M")]);
    assert_eq!(d.reply_value("mikrotik-rate-limit"), Some("5M/10M"));
}

#[test]
fn static_ip_replaces_pool() {
    let mut r = record();
    full_plan(&mut r);
    r.subscriber.static_ip = Some("100.64.0.9".parse().unwrap_or_else(|e| panic!("{e}")));
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, FRAMED_IP), ["100.64.0.9"]);
    assert!(values(&d, FRAMED_POOL).is_empty());
}

#[test]
fn zero_timeouts_and_blank_names_are_not_sent() {
    let mut r = record();
    if let Some(p) = r.plan.as_mut() {
        p.session_timeout = Some(0);
        p.idle_timeout = Some(0);
        p.interim_interval = Some(0);
        p.ip_pool = Some(String::new());
        p.address_list = Some(" ".into());
    }
    let d = run(&r, &Policy::default());
    assert_eq!(d.reply().len(), 1);
}

#[test]
fn session_timeout_is_min_of_plan_and_expiry() {
    let mut r = record();
    full_plan(&mut r); // 86400
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 3600);
    }
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["3600"]);
    assert!(why_has(&d, "session timeout capped at subscription expiry"));
    // Expiry further away than the plan timeout: the plan's.
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 10 * DAY);
    }
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["86400"]);
    assert!(!why_has(&d, "capped"));
    // Equal: the plan's, no capping line.
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 86_400);
    }
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["86400"]);
    assert!(!why_has(&d, "capped"));
}

#[test]
fn session_timeout_from_expiry_alone() {
    let mut r = record();
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 7200);
    }
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["7200"]);
    assert!(why_has(&d, "seconds until subscription expiry"));
    // Far future expiry is clamped to what Session-Timeout can carry.
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(i64::MAX);
    }
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), [u32::MAX.to_string().as_str()]);
}

/// [`record`] on a plan capped at 100 GB, then 1M/2M.
fn capped_at_100_gb() -> SubscriberRecord {
    let mut r = record();
    if let Some(p) = r.plan.as_mut() {
        p.data_cap_bytes = Some(100_000_000_000);
        p.fair_use_rate = Some(rate("1M/2M"));
    }
    r
}

#[test]
fn fair_use_boundary_switches_rate() {
    let mut r = capped_at_100_gb();
    r.cycle_usage_bytes = 99_999_999_999;
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, RATE_LIMIT), ["5M/10M"]);
    r.cycle_usage_bytes = 100_000_000_000;
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, RATE_LIMIT), ["1M/2M"]);
    assert!(why_has(
        &d,
        "fair-use cap reached: 100 GB of 100 GB; rate 1M/2M"
    ));
    r.cycle_usage_bytes = 101_234_000_000;
    let d = run(&r, &Policy::default());
    assert!(why_has(
        &d,
        "fair-use cap reached: 101.2 GB of 100 GB; rate 1M/2M"
    ));
}

#[test]
fn a_fair_use_downgrade_ends_with_its_cycle() {
    let mut r = capped_at_100_gb();
    // Anchored on January 31st: this cycle ends on the last day of
    // November, at the anchor's time of day.
    let anchor = 1_675_123_200;
    if let Some(s) = r.subscription.as_mut() {
        s.cycle_start = anchor;
    }
    let this = cycle::cycle_at(anchor, NOW);
    assert_eq!(format_utc(this.start), "2023-10-31 00:00:00 UTC");
    assert_eq!(format_utc(this.end), "2023-11-30 00:00:00 UTC");
    r.usage_cycle_start = Some(this.start);
    r.cycle_usage_bytes = 150_000_000_000;
    let at = |r: &SubscriberRecord, now| decide(Some(r), &req(None), now, &Policy::default());
    assert_eq!(at(&r, this.end - 1).reply_value(RATE_LIMIT), Some("1M/2M"));
    // The record still holds the old cycle's usage: the new one is at 0.
    let d = at(&r, this.end);
    assert_eq!(d.reply_value(RATE_LIMIT), Some("5M/10M"), "{d:?}");
    assert!(why_has(&d, "plan Home-10 rate 5M/10M"), "{d:?}");
    // A record loaded in the new cycle counts its usage again.
    r.usage_cycle_start = Some(this.end);
    assert_eq!(at(&r, this.end).reply_value(RATE_LIMIT), Some("1M/2M"));
}

#[test]
fn a_one_day_plans_downgrade_ends_at_the_next_day_boundary() {
    let mut r = capped_at_100_gb();
    let anchor = 1_675_123_200 + 9 * 3_600; // 2023-01-31 09:00:00
    if let Some(s) = r.subscription.as_mut() {
        s.cycle_start = anchor;
    }
    if let Some(p) = r.plan.as_mut() {
        p.cycle_days = Some(1);
    }
    let this = cycle::cycle_of(anchor, Some(1), NOW);
    assert_eq!(this.end - this.start, 86_400);
    assert_eq!(format_utc(this.start).get(11..), Some("09:00:00 UTC"));
    r.usage_cycle_start = Some(this.start);
    r.cycle_usage_bytes = 150_000_000_000;
    let at = |r: &SubscriberRecord, now| decide(Some(r), &req(None), now, &Policy::default());
    assert_eq!(at(&r, this.end - 1).reply_value(RATE_LIMIT), Some("1M/2M"));
    // The next day's first second: the plan's rate (the monthly cycle of
    // the same anchor would still be downgraded).
    assert_eq!(at(&r, this.end).reply_value(RATE_LIMIT), Some("5M/10M"));
    assert!(cycle::cycle_at(anchor, this.end).contains(this.start));
}

#[test]
fn fair_use_cap_without_fair_rate_keeps_plan_rate() {
    let mut r = record();
    if let Some(p) = r.plan.as_mut() {
        p.data_cap_bytes = Some(1_000);
    }
    r.cycle_usage_bytes = 5_000;
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, RATE_LIMIT), ["5M/10M"]);
    assert!(why_has(&d, "plan has no fair-use rate"));
}

// ---- overrides ----

#[test]
fn override_replace_set_and_append() {
    let mut r = record();
    full_plan(&mut r);
    r.group_replies = vec![
        ov("Mikrotik-Rate-Limit", ":=", "20M"),
        ov("Idle-Timeout", "=", "60"),     // already set: ignored
        ov("Reply-Message", "=", "Hello"), // absent: set
        ov("Mikrotik-Address-List", "+=", "vip"),
    ];
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, RATE_LIMIT), ["20M/20M"]);
    assert_eq!(values(&d, IDLE_TIMEOUT), ["600"]);
    assert_eq!(values(&d, "Reply-Message"), ["Hello"]);
    assert_eq!(values(&d, ADDRESS_LIST), ["customers", "vip"]);
    assert!(why_has(&d, "group reply Mikrotik-Rate-Limit := applied"));
    assert!(why_has(
        &d,
        "group reply Idle-Timeout = not applied: already set"
    ));
}

#[test]
fn user_replies_layer_over_group_replies() {
    let mut r = record();
    r.group_replies = vec![ov("Mikrotik-Rate-Limit", ":=", "20M")];
    r.user_replies = vec![ov("Mikrotik-Rate-Limit", ":=", "30M/40M")];
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, RATE_LIMIT), ["30M/40M"]);
    // "=" in the user replies does not beat a group's value.
    r.user_replies = vec![ov("Mikrotik-Rate-Limit", "=", "30M")];
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, RATE_LIMIT), ["20M/20M"]);
}

#[test]
fn replace_removes_appended_duplicates_case_insensitively() {
    let mut r = record();
    r.group_replies = vec![
        ov("Mikrotik-Address-List", "+=", "a"),
        ov("Mikrotik-Address-List", "+=", "b"),
    ];
    r.user_replies = vec![ov("mikrotik-address-list", ":=", "c")];
    let d = run(&r, &Policy::default());
    let lists: Vec<&ReplyAttribute> = d
        .reply()
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(ADDRESS_LIST))
        .collect();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].value, "c");
}

#[test]
fn rows_freeradius_could_not_send_are_skipped_and_the_rest_applies() {
    let mut r = record();
    r.group_replies = vec![ov("Session-Timeout", ":=", "abc")];
    r.user_replies = vec![
        ov("Mikrotik-Rate-Limit", "==", "1M"),
        ov("Mikrotik-Rate-Limit", ":=", "fast please"),
        ov("No-Such-Attribute", ":=", "x"),
        ov("Framed-IP-Address", ":=", "not-an-ip"),
        ov("", ":=", "x"),
        ov("Reply-Message", ":=", "hello"),
    ];
    let d = run(&r, &Policy::default());
    assert!(d.is_accept(), "{d:?}");
    assert_eq!(values(&d, RATE_LIMIT), ["5M/10M"]);
    assert_eq!(values(&d, "Reply-Message"), ["hello"]);
    assert!(values(&d, SESSION_TIMEOUT).is_empty());
    assert!(values(&d, FRAMED_IP).is_empty());
    assert_eq!(d.reply().len(), 2, "{:?}", d.reply());
}

#[test]
fn a_bare_number_in_an_override_rate_is_bits_per_second() {
    let mut r = record();
    r.group_replies = vec![ov("Mikrotik-Rate-Limit", ":=", "10000/20000")];
    assert_eq!(
        values(&run(&r, &Policy::default()), RATE_LIMIT),
        ["10k/20k"]
    );
}

#[test]
fn session_timeout_override_still_capped_by_expiry() {
    let mut r = record();
    if let Some(s) = r.subscription.as_mut() {
        s.expires_at = Some(NOW + 600);
    }
    r.user_replies = vec![ov("Session-Timeout", ":=", "86400")];
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["600"]);
    assert!(why_has(
        &d,
        "session timeout override capped at subscription expiry"
    ));
    // A shorter override stands.
    r.user_replies = vec![ov("Session-Timeout", ":=", "60")];
    let d = run(&r, &Policy::default());
    assert_eq!(values(&d, SESSION_TIMEOUT), ["60"]);
    // Without expiry the override stands as written.
    let mut r = record();
    r.user_replies = vec![ov("Session-Timeout", ":=", "86400")];
    assert_eq!(
        values(&run(&r, &Policy::default()), SESSION_TIMEOUT),
        ["86400"]
    );
}

#[test]
fn every_name_once_without_append() {
    let mut r = record();
    full_plan(&mut r);
    r.group_replies = vec![ov("Idle-Timeout", ":=", "5"), ov("Framed-MTU", "=", "1480")];
    r.user_replies = vec![ov("Framed-MTU", ":=", "1400"), ov("Idle-Timeout", "=", "7")];
    let d = run(&r, &Policy::default());
    let mut names: Vec<String> = d.reply().iter().map(|a| a.name.to_lowercase()).collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "{:?}", d.reply());
    assert_eq!(values(&d, "Framed-MTU"), ["1400"]);
    assert_eq!(values(&d, IDLE_TIMEOUT), ["5"]);
}

// ---- serialization ----

#[test]
fn reject_serializes_code_reply_and_message() {
    let mut r = record();
    overdue(&mut r, "INV-0042", 8);
    let json = serde_json::to_value(run(&r, &Policy::default())).unwrap_or_default();
    assert_eq!(json["decision"], "reject");
    assert_eq!(json["reason"]["code"], "invoice_overdue");
    assert_eq!(
        json["reason"]["reply_message"],
        "Account suspended: invoice overdue"
    );
    assert!(json["reason"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("INV-0042")));
}

#[test]
fn accept_serializes_without_password() {
    let json = serde_json::to_string(&run(&record(), &Policy::default())).unwrap_or_default();
    assert!(json.contains("\"decision\":\"accept\""), "{json}");
    assert!(json.contains("Mikrotik-Rate-Limit"), "{json}");
    assert!(!json.contains("s3cret"), "{json}");
}
