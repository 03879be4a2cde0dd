//! CoA and Disconnect reach a router behind NAT through the management VPN:
//! a RouterOS-like client joins the real OpenVPN server (plugin loaded); the
//! stand-in router listens on its tunnel address inside its own namespace
//! and accepts requests only from the VPN server's tunnel address (what the
//! RouterOS script's `/radius` entry names); the enforcer runs beside the
//! VPN server, in its namespace.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netily_core::config::Config;
use netily_core::db::NewPlan;
use netily_tests::coa_nas::{CoaNas, CoaNasOptions, DISCONNECT_REQUEST};
use netily_tests::enforcer::EnforcerProcess;
use netily_tests::isp::seed_alice_and_bob;
use netily_tests::openvpn::Lab;

#[test]
fn a_disconnect_reaches_a_connected_router_at_its_vpn_address_from_the_server_tunnel_address() {
    let mut lab = Lab::new("coa");
    let mut db = lab.db();
    seed_alice_and_bob(
        &mut db,
        &NewPlan::new("home-10m", "5M/10M".parse().unwrap()),
    );
    let (vpn_id, host) = lab.connect_router("tower-1");
    let config = Config::load(&lab.dir.join("netily.conf")).unwrap();
    let vpn_address = IpAddr::V4(
        config
            .router_plan()
            .router_address(i64::from(vpn_id))
            .unwrap(),
    );
    let nas = CoaNas::start(CoaNasOptions {
        address: vpn_address,
        secret: "radius-secret".into(),
        clients: vec![IpAddr::V4(config.radius_address())],
        netns: Some(lab.client_ns[host - 1].0.clone()),
        ..CoaNasOptions::default()
    })
    .unwrap();
    db.execute(
        "UPDATE nas SET ports = $1 WHERE shortname = 'tower-1'",
        &[&i32::from(nas.addr().port())],
    )
    .unwrap();
    // The plugin reports the tunnel up (its status heartbeat).
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        let up: i64 = db
            .query_one(
                "SELECT count(*) FROM vpn_connections WHERE status = 'connected'",
                &[],
            )
            .unwrap()
            .get(0);
        if up > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // alice online on tower-1, which reports its VPN address as NAS-IP.
    db.execute(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,
                              framedipaddress, acctstarttime, acctupdatetime)
         VALUES ('81a00001', 'u-1', 'alice', $1, '10.0.0.7', now(), now())",
        &[&vpn_address],
    )
    .unwrap();
    let enforcer =
        EnforcerProcess::start_in(&lab.dir.join("netily.conf"), "vpn", Some(&lab.server_ns.0));
    assert!(
        enforcer.wait_for_log("reviewed every online session", Duration::from_secs(20)),
        "{}",
        enforcer.log()
    );
    db.execute(
        "UPDATE customers SET status = 'suspended' WHERE username = 'alice'",
        &[],
    )
    .unwrap();
    let got = nas.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{}\n{}", enforcer.log(), nas.log());
    assert_eq!(got[0].kind, DISCONNECT_REQUEST);
    assert_eq!(got[0].acct_session_id.as_deref(), Some("81a00001"));
    assert_eq!(got[0].nas_ip, Some(vpn_address.to_string()));
    let until = Instant::now() + Duration::from_secs(5);
    let mut row = None;
    while row.is_none() && Instant::now() < until {
        row = db
            .query_opt("SELECT target, outcome FROM coa_log", &[])
            .unwrap()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        row,
        Some((
            format!("{vpn_address}:{}", nas.addr().port()),
            "ack".to_owned()
        ))
    );
}
