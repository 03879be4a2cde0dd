//! A router is one RADIUS client whichever way it talks to us: the RouterOS
//! script makes it send RADIUS from its management VPN address, through the
//! tunnel, to the VPN server's tunnel address. Here a RouterOS-like client
//! joins the real OpenVPN server (plugin loaded), and radclient inside the
//! client's namespace (so from its tunnel address) asks radiusd, which runs in
//! the server's namespace with rlm_netily.

use std::io::Write;
use std::process::{Command, Stdio};

use netily_core::config::Config;
use netily_core::db::NewPlan;
use netily_core::pki::VpnTransport;
use netily_tests::freeradius::{parse_radclient, Radiusd, RadiusdOptions, Reply};
use netily_tests::isp::seed_alice_and_bob;
use netily_tests::openvpn::Lab;

/// radclient inside namespace `ns`, to `server` (ADDR:PORT).
fn radclient_in(ns: &str, server: &str, secret: &str, attributes: &str) -> Reply {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "radclient", "-x", "-r", "1", "-t", "3"])
        .args([server, "auth", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attributes.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    parse_radclient(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn a_router_is_served_from_its_vpn_address_through_the_udp_tunnel() {
    served_through_the_tunnel(VpnTransport::Udp);
}

/// The TCP server has its own network (vpn_tcp_network): what the router is
/// given there is what netily.conf says it is told, and RADIUS answers it.
#[test]
fn a_router_is_served_from_its_vpn_address_through_the_tcp_tunnel() {
    served_through_the_tunnel(VpnTransport::Tcp);
}

fn served_through_the_tunnel(transport: VpnTransport) {
    let mut lab = Lab::with_transport("r", transport);
    seed_alice_and_bob(
        &mut lab.db(),
        &NewPlan::new("home-10m", "5M/10M".parse().unwrap()),
    );
    let (vpn_id, host) = lab.connect_router("tower-1");
    // One source: the address OpenVPN was pushed is the one netily.conf's
    // router plan gives this router (what `router show` prints and the
    // RouterOS script sends RADIUS from), and RADIUS lives at the address
    // the script names.
    let config = Config::load(&lab.dir.join("netily.conf")).unwrap();
    let vpn_address = config
        .router_plan()
        .router_address(i64::from(vpn_id))
        .unwrap();
    assert_eq!(lab.tun_address(host), Some(vpn_address));
    assert_eq!(config.radius_address(), lab.plan.server_address());

    // radiusd drops to the freerad user: let it reach PostgreSQL's socket
    // (the only way into the host from the server's namespace).
    std::fs::set_permissions(
        lab.pg.socket_dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let radiusd = Radiusd::start_with(RadiusdOptions {
        config_file: Some(lab.dir.join("netily.conf")),
        netns: Some(lab.server_ns.0.clone()),
        ..Default::default()
    })
    .unwrap();
    let client_ns = lab.client_ns[host - 1].0.clone();
    let login = "User-Name = \"alice\", User-Password = \"alice-secret\"\n";

    // Through the tunnel: from tower-1's VPN address to the server's.
    let server = format!("{}:{}", config.radius_address(), radiusd.auth_port);
    let reply = radclient_in(&client_ns, &server, "radius-secret", login);
    assert!(
        reply.is("Access-Accept"),
        "from {vpn_address}: {reply:?}\n{}",
        radiusd.log()
    );
    assert_eq!(reply.values("Mikrotik-Rate-Limit"), ["5M/10M"]);

    // The same router's secret is still required.
    let reply = radclient_in(&client_ns, &server, "not-the-secret", login);
    assert_eq!(reply.code, None, "{reply:?}");

    // From an address that is neither the router's NAS address nor its VPN
    // address (the host's own link), nobody answers.
    let outside = format!("172.30.{host}.1:{}", radiusd.auth_port);
    let reply = radclient_in(&client_ns, &outside, "radius-secret", login);
    assert_eq!(reply.code, None, "unknown client answered: {reply:?}");
}
