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

#[test]
fn nas_add_update_remove_manage_clients_that_are_not_routers() {
    let env = Env::migrated();
    env.ok(&[
        "router",
        "add",
        "edge-1",
        "--ip",
        "192.0.2.11",
        "--secret",
        "router-secret",
    ]);

    // An address, an IPv6 address and a network; secrets never printed.
    let a = env.json(&[
        "nas",
        "add",
        "198.51.100.5",
        "--shortname",
        "olt-1",
        "--secret",
        "olt-s3cret",
        "--type",
        "cisco",
        "--description",
        "fibre OLT",
    ]);
    assert_eq!(a["nasname"], "198.51.100.5");
    assert_eq!(a["shortname"], "olt-1");
    assert_eq!(a["type"], "cisco");
    assert_eq!(a["router"], serde_json::Value::Null);
    assert!(a.get("secret").is_none(), "{a}");
    let out = env.ok(&[
        "nas",
        "add",
        "2001:DB8::5",
        "--shortname",
        "bras-6",
        "--secret",
        "v6-s3cret",
    ]);
    assert!(out.contains("'bras-6' (2001:db8::5, type other)"), "{out}");
    assert!(!out.contains("v6-s3cret"), "{out}");
    let net = env.json(&[
        "nas",
        "add",
        "203.0.113.0/28",
        "--shortname",
        "hotspots",
        "--secret",
        "net-s3cret",
    ]);
    assert_eq!(net["nasname"], "203.0.113.0/28");
    // A /32 is the address itself.
    env.ok(&[
        "nas",
        "add",
        "198.51.100.6/32",
        "--shortname",
        "olt-2",
        "--secret",
        "olt2-s3cret",
    ]);
    let rows = env.json(&["nas", "list", "--show-secrets"]);
    let secret_of = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["shortname"] == name)
            .map(|r| (r["nasname"].clone(), r["secret"].clone()))
            .unwrap()
    };
    assert_eq!(
        secret_of("olt-1"),
        ("198.51.100.5".into(), "olt-s3cret".into())
    );
    assert_eq!(
        secret_of("olt-2"),
        ("198.51.100.6".into(), "olt2-s3cret".into())
    );
    assert!(!env.ok(&["nas", "list"]).contains("s3cret"));

    // Bad input: one clear line each.
    for (args, says) in [
        (vec!["nas", "add", "nas.example.net"], "invalid NAS address \"nas.example.net\": expected an IPv4 or IPv6 address or a network"),
        (vec!["nas", "add", "203.0.113.1/24"], "host bits are set; the network is 203.0.113.0/24"),
        (vec!["nas", "add", "203.0.113.0/33"], "the prefix length must be 1 to 32"),
        (vec!["nas", "add", "0.0.0.0/0"], "the prefix length must be 1 to 32"),
    ] {
        let mut args = args;
        args.extend(["--shortname", "x", "--secret", "good-secret"]);
        let e = env.fail(&args);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    let e = env.fail(&[
        "nas",
        "add",
        "198.51.100.9",
        "--shortname",
        "x",
        "--secret",
        "has space",
    ]);
    assert!(e.contains("invalid secret"), "{e}");
    let e = env.fail(&[
        "nas",
        "add",
        "198.51.100.9",
        "--shortname",
        "bad name",
        "--secret",
        "good-secret",
    ]);
    assert!(e.contains("invalid NAS short name"), "{e}");
    // Taken addresses: another entry's, a router's, a router's VPN address.
    for (ip, owner) in [
        ("198.51.100.5", "olt-1"),
        ("192.0.2.11", "edge-1"),
        ("10.8.0.2", "edge-1"),
    ] {
        let e = env.fail(&[
            "nas",
            "add",
            ip,
            "--shortname",
            "x",
            "--secret",
            "good-secret",
        ]);
        assert!(
            e.contains(&format!(
                "a NAS with address {ip} ('{owner}') already exists"
            )),
            "{e}"
        );
    }
    // A router cannot take a hand-made entry's address either.
    let e = env.fail(&[
        "router",
        "add",
        "edge-2",
        "--ip",
        "198.51.100.5",
        "--secret",
        "good-secret",
    ]);
    assert!(e.contains("('olt-1') already exists"), "{e}");

    // Update by address or short name; only what is given changes.
    let u = env.json(&[
        "nas",
        "update",
        "olt-1",
        "--address",
        "198.51.100.7",
        "--secret",
        "new-s3cret",
        "--description",
        "",
    ]);
    assert_eq!(u["nasname"], "198.51.100.7");
    assert_eq!(u["type"], "cisco");
    assert_eq!(u["description"], serde_json::Value::Null);
    assert!(!u.to_string().contains("new-s3cret"));
    env.ok(&["nas", "update", "198.51.100.7", "--shortname", "olt-north"]);
    let row = env
        .sql()
        .query_one(
            "SELECT nasname, shortname, secret, type FROM nas WHERE shortname = 'olt-north'",
            &[],
        )
        .unwrap();
    let got: (String, String, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        got,
        (
            "198.51.100.7".into(),
            "olt-north".into(),
            "new-s3cret".into(),
            "cisco".into()
        )
    );
    let e = env.fail(&["nas", "update", "olt-north", "--address", "203.0.113.0/28"]);
    assert!(e.contains("('hotspots') already exists"), "{e}");
    let e = env.fail(&["nas", "update", "olt-north"]);
    assert!(e.contains("nothing to change"), "{e}");
    let e = env.fail(&["nas", "update", "nobody", "--secret", "good-secret"]);
    assert_eq!(e, "netadmin: NAS 'nobody' not found");

    // A router's entry is the router's: refused with the command to use.
    for target in ["edge-1", "192.0.2.11", "10.8.0.2"] {
        let e = env.fail(&["nas", "update", target, "--secret", "good-secret"]);
        assert!(
            e.contains("it belongs to router 'edge-1'; use `netadmin router update edge-1`"),
            "{e}"
        );
        let e = env.fail(&["nas", "remove", target]);
        assert!(
            e.contains("it belongs to router 'edge-1'; use `netadmin router remove edge-1`"),
            "{e}"
        );
    }
    assert_eq!(
        env.count("SELECT count(*) FROM nas WHERE router_id IS NOT NULL"),
        1
    );

    // Remove by network or short name.
    let r = env.json(&["nas", "remove", "203.0.113.0/28"]);
    assert_eq!(r["shortname"], "hotspots");
    let out = env.ok(&["nas", "remove", "bras-6"]);
    assert!(out.contains("Removed RADIUS client 'bras-6'"), "{out}");
    let e = env.fail(&["nas", "remove", "bras-6"]);
    assert_eq!(e, "netadmin: NAS 'bras-6' not found");
    let left: Vec<String> = env
        .json(&["nas", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shortname"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["edge-1", "olt-2", "olt-north"]);
}
