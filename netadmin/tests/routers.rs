//! `netadmin router ...` and `nas list` against a real database.

mod common;

use common::Env;

#[test]
fn routers_register_nas_and_vpn_addresses() {
    let env = Env::migrated();
    let r1 = env.json(&[
        "router",
        "add",
        "core-1",
        "--ip",
        "192.0.2.1",
        "--secret",
        "s3cr3t-one",
    ]);
    assert_eq!(r1["vpn_id"], 1);
    assert_eq!(r1["vpn_address"], "10.8.0.2");
    assert_eq!(r1["nas_ip"], "192.0.2.1");
    assert!(r1.get("secret").is_none());
    let out = env.ok(&[
        "router",
        "add",
        "core-2",
        "--ip",
        "192.0.2.2",
        "--secret",
        "s3cr3t-two",
    ]);
    assert!(out.contains("VPN id 2 address 10.8.0.3"), "{out}");

    // The NAS row FreeRADIUS reads: nasname = the address, with its secret.
    let (nasname, secret): (String, String) = {
        let row = env
            .sql()
            .query_one(
                "SELECT nasname, secret FROM nas WHERE shortname = 'core-1'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(nasname, "192.0.2.1");
    assert_eq!(secret, "s3cr3t-one");

    let nas = env.ok(&["nas", "list"]);
    assert!(nas.contains("192.0.2.1") && nas.contains("core-1"), "{nas}");
    assert!(!nas.contains("s3cr3t"), "secrets hidden by default: {nas}");
    let nas_json = env.json(&["nas", "list"]);
    assert!(!nas_json.to_string().contains("s3cr3t"));
    let shown = env.ok(&["nas", "list", "--show-secrets"]);
    assert!(
        shown.contains("SECRET") && shown.contains("s3cr3t-one"),
        "{shown}"
    );
    let shown = env.json(&["nas", "list", "--show-secrets"]);
    assert_eq!(shown[0]["secret"], "s3cr3t-one");

    let list = env.ok(&["router", "list"]);
    assert!(list.starts_with("NAME"), "{list}");
    assert!(!list.contains("s3cr3t"));
    assert_eq!(env.json(&["router", "list"]).as_array().unwrap().len(), 2);
    let show = env.json(&["router", "show", "core-2"]);
    assert_eq!(show["online"], false);

    // Removal frees the id for reuse and takes the NAS row with it.
    env.ok(&["router", "remove", "core-1"]);
    assert_eq!(
        env.count("SELECT count(*) FROM nas WHERE shortname = 'core-1'"),
        0
    );
    let r3 = env.json(&[
        "router",
        "add",
        "core-3",
        "--ip",
        "192.0.2.3",
        "--secret",
        "x",
    ]);
    assert_eq!(r3["vpn_id"], 1);

    let e = env.fail(&[
        "router",
        "add",
        "core-2",
        "--ip",
        "192.0.2.9",
        "--secret",
        "x",
    ]);
    assert_eq!(e, "netadmin: router 'core-2' already exists");
    let e = env.fail(&[
        "router",
        "add",
        "core-9",
        "--ip",
        "192.0.2.2",
        "--secret",
        "x",
    ]);
    assert!(
        e.contains("192.0.2.2") && e.contains("already exists"),
        "{e}"
    );
    let e = env.fail(&[
        "router", "add", "core-9", "--ip", "192.0.2", "--secret", "x",
    ]);
    assert!(
        e.starts_with("netadmin: invalid router IP \"192.0.2\""),
        "{e}"
    );
    let e = env.fail(&[
        "router",
        "add",
        "core-9",
        "--ip",
        "192.0.2.9",
        "--secret",
        "has space",
    ]);
    assert!(e.starts_with("netadmin: invalid secret"), "{e}");
    assert!(!e.contains("has space"), "secret not echoed: {e}");
    let e = env.fail(&["router", "show", "core-9"]);
    assert_eq!(e, "netadmin: router 'core-9' not found");
    assert_eq!(env.count("SELECT count(*) FROM routers"), 2);
}

#[test]
fn router_update_changes_address_secret_and_description_together() {
    let env = Env::migrated();
    for (name, ip) in [("edge-1", "192.0.2.11"), ("edge-2", "192.0.2.12")] {
        env.ok(&[
            "router",
            "add",
            name,
            "--ip",
            ip,
            "--secret",
            "first-secret",
        ]);
    }
    let r = env.json(&[
        "router",
        "update",
        "edge-1",
        "--ip",
        "198.51.100.7",
        "--secret",
        "second-secret",
        "--description",
        "north tower",
    ]);
    assert_eq!(r["nas_ip"], "198.51.100.7");
    assert!(!r.to_string().contains("second-secret"));
    let row = env
        .sql()
        .query_one(
            "SELECT n.nasname, n.secret, n.description, r.secret, host(r.nas_ip)
               FROM nas n JOIN routers r ON r.id = n.router_id WHERE r.name = 'edge-1'",
            &[],
        )
        .unwrap();
    let got: (String, String, Option<String>, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(
        got,
        (
            "198.51.100.7".into(),
            "second-secret".into(),
            Some("north tower".into()),
            "second-secret".into(),
            "198.51.100.7".into()
        )
    );

    // Only what was given changes; "" clears the description.
    env.ok(&["router", "update", "edge-1", "--description", ""]);
    let row = env
        .sql()
        .query_one(
            "SELECT nasname, secret, description FROM nas WHERE shortname = 'edge-1'",
            &[],
        )
        .unwrap();
    let got: (String, String, Option<String>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(got, ("198.51.100.7".into(), "second-secret".into(), None));

    // Another router's address, or its VPN address, is refused.
    let e = env.fail(&["router", "update", "edge-1", "--ip", "192.0.2.12"]);
    assert!(
        e.contains("a NAS with address 192.0.2.12 ('edge-2') already exists"),
        "{e}"
    );
    let e = env.fail(&["router", "update", "edge-1", "--ip", "10.8.0.3"]);
    assert!(
        e.contains("a NAS with address 10.8.0.3 ('edge-2') already exists"),
        "{e}"
    );
    let e = env.fail(&["router", "update", "edge-1", "--secret", "has space"]);
    assert!(e.contains("secret"), "{e}");
    let e = env.fail(&["router", "update", "edge-1"]);
    assert!(e.contains("nothing to change"), "{e}");
    let e = env.fail(&["router", "update", "nobody", "--secret", "x"]);
    assert!(e.contains("router 'nobody'"), "{e}");
}
