//! `netadmin invoice ...` against a real database.

mod common;

use common::Env;

#[test]
fn invoice_lifecycle_and_bad_input() {
    let env = Env::migrated();
    env.ok(&["plan", "add", "basic", "--rate", "2M/5M"]);
    env.ok(&[
        "customer",
        "add",
        "alice",
        "--password",
        "pw",
        "--plan",
        "basic",
    ]);

    let inv = env.json(&[
        "invoice",
        "add",
        "alice",
        "--amount",
        "29.50",
        "--issued",
        "2030-01-01",
        "--due",
        "2030-01-15",
    ]);
    let number = inv["number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("INV-"), "{number}");
    assert_eq!(inv["amount_cents"], 2950);
    assert_eq!(inv["status"], "unpaid");
    assert_eq!(inv["due_at"], 1_894_665_600i64);
    let out = env.ok(&[
        "invoice", "add", "alice", "--amount", "10", "--number", "MANUAL-1",
    ]);
    assert!(
        out.contains("Issued invoice MANUAL-1 to 'alice' for 10.00"),
        "{out}"
    );

    let table = env.ok(&["invoice", "list", "--user", "alice"]);
    assert!(table.starts_with("NUMBER"), "{table}");
    assert_eq!(table.lines().count(), 3);
    let unpaid = env.json(&["invoice", "list", "--status", "unpaid"]);
    assert_eq!(unpaid.as_array().unwrap().len(), 2);

    let paid = env.json(&[
        "invoice",
        "pay",
        &number,
        "--method",
        "mobile",
        "--reference",
        "MP123",
    ]);
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["paid_cents"], 2950);
    assert_eq!(env.count("SELECT count(*) FROM payments WHERE method = 'mobile' AND reference = 'MP123' AND amount_cents = 2950"), 1);
    let e = env.fail(&["invoice", "pay", &number]);
    assert_eq!(
        e,
        format!("netadmin: cannot pay invoice '{number}': it is paid")
    );
    let e = env.fail(&["invoice", "void", &number]);
    assert_eq!(
        e,
        format!("netadmin: cannot void invoice '{number}': it is paid")
    );

    let v = env.json(&["invoice", "void", "MANUAL-1"]);
    assert_eq!(v["status"], "void");

    let e = env.fail(&["invoice", "add", "alice", "--amount", "ten"]);
    assert!(e.starts_with("netadmin: invalid amount \"ten\""), "{e}");
    let e = env.fail(&["invoice", "add", "alice", "--amount", "0"]);
    assert!(e.starts_with("netadmin: invalid amount"), "{e}");
    let e = env.fail(&[
        "invoice",
        "add",
        "alice",
        "--amount",
        "5",
        "--due",
        "15/01/2030",
    ]);
    assert!(
        e.starts_with("netadmin: invalid due date \"15/01/2030\": expected YYYY-MM-DD or RFC 3339"),
        "{e}"
    );
    let e = env.fail(&["invoice", "add", "nobody", "--amount", "5"]);
    assert_eq!(e, "netadmin: subscriber 'nobody' not found");
    let e = env.fail(&[
        "invoice", "add", "alice", "--amount", "5", "--number", "MANUAL-1",
    ]);
    assert_eq!(e, "netadmin: invoice 'MANUAL-1' already exists");
    let e = env.fail(&["invoice", "pay", "NOPE-1"]);
    assert_eq!(e, "netadmin: invoice 'NOPE-1' not found");
    let e = env.fail(&["invoice", "list", "--status", "late"]);
    assert!(e.contains("expected unpaid, paid or void"), "{e}");
    assert_eq!(env.count("SELECT count(*) FROM invoices"), 2);
}

#[test]
fn amounts_above_one_billion_are_refused_and_sums_never_overflow() {
    let env = Env::migrated();
    env.ok(&["plan", "add", "basic", "--rate", "2M/5M"]);
    env.ok(&["customer", "add", "alice", "--password", "pw"]);
    env.ok(&["customer", "add", "bob", "--password", "pw"]);

    let e = env.fail(&[
        "invoice",
        "add",
        "alice",
        "--amount",
        "92233720368547758.07",
    ]);
    assert_eq!(
        e,
        "netadmin: invalid amount \"92233720368547758.07\": at most 1000000000.00"
    );
    let e = env.fail(&["invoice", "add", "alice", "--amount", "1000000000.01"]);
    assert!(e.ends_with(": at most 1000000000.00"), "{e}");
    let e = env.fail(&["plan", "update", "basic", "--price", "1000000000.01"]);
    assert_eq!(
        e,
        "netadmin: invalid price \"1000000000.01\": at most 1000000000.00"
    );
    assert_eq!(env.count("SELECT count(*) FROM invoices"), 0);
    let inv = env.json(&["invoice", "add", "alice", "--amount", "1000000000"]);
    assert_eq!(inv["amount_cents"], 100_000_000_000i64);

    // Rows written before the limit (or by hand), each as large as bigint
    // allows: the sums saturate instead of failing every listing.
    let mut sql = env.sql();
    sql.batch_execute(
        "INSERT INTO invoices (number, customer_id, amount_cents, issued_at, due_at)
           SELECT 'HUGE-' || n, c.id, 9223372036854775807, now(), now()
             FROM customers c, generate_series(1, 3) n WHERE c.username = 'alice';
         INSERT INTO payments (invoice_id, amount_cents, method)
           SELECT i.id, 9223372036854775807, 'cash' FROM invoices i, generate_series(1, 2)
            WHERE i.number = 'HUGE-1';",
    )
    .unwrap();
    let list = env.json(&["customer", "list"]);
    assert_eq!(list[0]["username"], "alice");
    assert_eq!(list[0]["unpaid_cents"], i64::MAX);
    assert_eq!(list[1]["unpaid_cents"], 0, "bob is unaffected");
    let shown = env.json(&["customer", "show", "alice"]);
    assert_eq!(shown["subscriber"]["unpaid_cents"], i64::MAX);
    let invoices = env.json(&["invoice", "list", "--user", "alice"]);
    assert!(
        invoices
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["paid_cents"] == i64::MAX),
        "{invoices}"
    );
    env.ok(&["customer", "list"]);
    env.ok(&["dashboard"]);
}
