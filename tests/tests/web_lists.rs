//! netily-web's lists over HTTP against a real PostgreSQL: keyset pages that
//! lose and repeat nothing, the subscriber search, and a subscriber's
//! history.

use netily_tests::web::{Console, WebServer};
use netily_tests::web_fixtures::{bearer, demo_isp, operator};
use serde_json::json;

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
