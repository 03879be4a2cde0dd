//! What the netily-web tests share: a demo ISP, operators with tokens, and
//! a fingerprint of everything an operator could change.

use serde_json::Value;

use crate::isp::Isp;

/// An operator made by netadmin: (name, password, API token).
pub fn operator(isp: &Isp, name: &str, role: &str) -> (String, String, String) {
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

pub fn demo_isp(name: &str) -> Isp {
    let isp = Isp::new(name);
    isp.netadmin(&["migrate"]);
    isp.netadmin(&["seed", "demo"]);
    isp
}

pub fn status_of(isp: &Isp, user: &str) -> String {
    isp.sql()
        .query_one("SELECT status FROM customers WHERE username = $1", &[&user])
        .unwrap()
        .get(0)
}

/// 1 while invoice `number` is unpaid.
pub fn unpaid(isp: &Isp, number: &str) -> i64 {
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
pub fn fingerprint(isp: &Isp) -> String {
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

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
