//! Two OpenVPN servers (two VPN hosts, each in its own namespace) with the
//! plugin, on one database: a router's address is its VPN id's place in the
//! network, and the id is the router's own, unique in the database. So two
//! servers never push one address to two routers, and a router that moves
//! from one server to the other keeps its address.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netily_tests::openvpn::Lab;

#[test]
fn two_servers_never_push_one_address_twice_and_a_router_moving_between_them_keeps_its_address() {
    let mut lab = Lab::new("two");
    lab.start_server();
    let second = lab.start_another_server();
    let ca_pem = lab.ca.cert_pem.clone();

    // Four routers, two on each server.
    let mut pushed: HashMap<Ipv4Addr, String> = HashMap::new();
    let mut first_host = HashMap::new();
    for (nth, (name, server)) in [
        ("east-1", 0),
        ("west-1", second),
        ("east-2", 0),
        ("west-2", second),
    ]
    .into_iter()
    .enumerate()
    {
        let (vpn_id, cert) = lab.add_router(name, nth as u32 + 1);
        let host = lab.add_host_on(server);
        let c = lab.start_client(host, name, &ca_pem, &cert);
        assert!(
            lab.clients[c].wait_ready(Duration::from_secs(15)),
            "{name} did not connect to server {server}:\n{}",
            lab.clients[c].log()
        );
        let address = lab
            .tun_address(host)
            .unwrap_or_else(|| panic!("{name}: no tun0"));
        assert_eq!(
            Some(address),
            lab.plan.router_address(i64::from(vpn_id)).ok(),
            "{name}"
        );
        if let Some(other) = pushed.insert(address, name.to_owned()) {
            panic!("{address} pushed to both {other} and {name}");
        }
        first_host.insert(name, (c, cert, address));
    }

    // east-1 leaves the first server and dials the second one.
    let (c, cert, address) = first_host.remove("east-1").unwrap();
    lab.clients[c].terminate();
    let host = lab.add_host_on(second);
    let moved = lab.start_client(host, "east-1", &ca_pem, &cert);
    assert!(
        lab.clients[moved].wait_ready(Duration::from_secs(15)),
        "east-1 did not connect to the second server:\n{}",
        lab.clients[moved].log()
    );
    assert_eq!(lab.tun_address(host), Some(address), "east-1 moved");

    // Both servers recorded its connections (off OpenVPN's thread, so
    // within a moment), at that one address.
    let mut db = lab.db();
    let deadline = Instant::now() + Duration::from_secs(10);
    let recorded = loop {
        let rows: Vec<String> = db
            .query(
                "SELECT host(c.vpn_address) FROM vpn_connections c
                   JOIN routers r ON r.id = c.router_id WHERE r.name = 'east-1'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if rows.len() >= 2 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(recorded, [address.to_string(), address.to_string()]);

    // The uniqueness is the database's: a second router at a taken VPN id
    // is refused whoever writes it.
    let taken = db
        .execute(
            "INSERT INTO routers (name, nas_ip, secret, vpn_id, vpn_address)
             SELECT 'intruder', '192.0.2.200', 's', vpn_id, vpn_address
               FROM routers WHERE name = 'west-1'",
            &[],
        )
        .unwrap_err();
    assert!(
        taken.as_db_error().and_then(|e| e.constraint()) == Some("routers_vpn_id_key"),
        "{taken}"
    );
}
