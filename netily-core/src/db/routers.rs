//! Routers: the ISP's MikroTiks, each a RADIUS client (NAS) with a place in
//! the management VPN.

use std::net::{IpAddr, Ipv4Addr};

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::epoch;
use super::error::{q, sql, Error, Result};
use crate::model::UnixTime;
use crate::vpn_plan::VpnPlan;

#[derive(Debug, Clone, Serialize)]
pub struct RouterRow {
    pub id: i64,
    pub name: String,
    pub nas_ip: Option<IpAddr>,
    pub vpn_id: i32,
    /// In the network routers dial (`Config::router_plan`), from `vpn_id`.
    pub vpn_address: Option<IpAddr>,
    /// active or disabled (the operator's word).
    pub status: String,
    /// A VPN connection is open now.
    pub online: bool,
    pub last_seen: Option<UnixTime>,
    pub created_at: UnixTime,
}

// `online` follows vpn_status: connected and seen within the stale limit.
// last_seen is the latest of any connection the router had.
const ROUTER_SELECT: &str = concat!(
    "SELECT r.id, r.name, r.nas_ip, r.vpn_id, r.status,
            EXISTS (SELECT 1 FROM vpn_connections
                     WHERE router_id = r.id AND status = 'connected'
                       AND last_seen >= now() - make_interval(secs => ",
    "30", // super::vpn_status::STALE_AFTER_SECONDS, checked by a unit test
    ")), ",
    epoch!("v.last_seen"),
    ", ",
    epoch!("r.created_at"),
    " FROM routers r
       LEFT JOIN LATERAL (SELECT max(last_seen) AS last_seen FROM vpn_connections
                           WHERE router_id = r.id) v ON true"
);

impl RouterRow {
    /// Every address the router talks RADIUS from: its NAS address and its
    /// management VPN address (see `nas::CLIENT_SELECT`).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.nas_ip.into_iter().chain(self.vpn_address).collect()
    }
}

fn from_row(r: &Row, plan: &VpnPlan) -> RouterRow {
    let vpn_id: i32 = r.get(3);
    RouterRow {
        id: r.get(0),
        name: r.get(1),
        nas_ip: r.get(2),
        vpn_id,
        vpn_address: plan.router_address(i64::from(vpn_id)).ok().map(IpAddr::V4),
        status: r.get(4),
        online: r.get(5),
        last_seen: r.get(6),
        created_at: r.get(7),
    }
}

#[derive(Debug, Clone)]
pub struct NewRouter {
    pub name: String,
    /// The address the router sends RADIUS from (NAS-IP / packet source).
    pub nas_ip: Ipv4Addr,
    /// The RADIUS shared secret. Never logged or printed by default.
    pub secret: String,
    pub description: Option<String>,
}

pub(crate) fn check_secret(secret: &str) -> Result<()> {
    if secret.is_empty()
        || secret.len() > 128
        || secret.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::invalid(
            "secret",
            "1-128 characters, no spaces or control characters",
        ));
    }
    Ok(())
}

/// Registers a router: its NAS row (so FreeRADIUS accepts its packets) and
/// the lowest free VPN id with the matching tunnel address.
pub fn add_router(
    conn: &mut impl GenericClient,
    r: &NewRouter,
    vpn: &VpnPlan,
) -> Result<RouterRow> {
    super::plans::check_name("router name", &r.name)?;
    check_secret(&r.secret)?;
    let ip = IpAddr::V4(r.nas_ip);
    // Serializes id allocation and the address check with every other
    // `router add/update` and `nas add/update`.
    super::nas::lock(conn)?;
    let nasname = ip.to_string();
    let owner = super::nas::address_owner(conn, &nasname, None, None, vpn)?;
    super::nas::refuse_taken(&nasname, owner)?;
    let free = conn
        .query_opt(
            "SELECT g::integer FROM generate_series(1, $1::bigint) g
              WHERE NOT EXISTS (SELECT 1 FROM routers WHERE vpn_id = g)
              ORDER BY g LIMIT 1",
            &[&vpn.max_router_id()],
        )
        .map_err(q("allocating a VPN id"))?;
    let Some(free) = free else {
        return Err(Error::Refused {
            what: format!("add router '{}'", r.name),
            why: format!(
                "the VPN network {vpn} is full ({} routers); set a larger vpn_network",
                vpn.max_router_id()
            ),
        });
    };
    let vpn_id: i32 = free.get(0);
    let vpn_address = vpn
        .router_address(i64::from(vpn_id))
        .map_err(|e| Error::Refused {
            what: format!("add router '{}'", r.name),
            why: e.to_string(),
        })?;
    let row = conn
        .query_one(
            "INSERT INTO routers (name, nas_ip, secret, vpn_id, vpn_address)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&r.name, &ip, &r.secret, &vpn_id, &IpAddr::V4(vpn_address)],
        )
        .map_err(|e| {
            let c = e.as_db_error().and_then(|d| d.constraint()).unwrap_or("");
            let dup = if c == "routers_nas_ip_key" {
                format!("a router with address {}", r.nas_ip)
            } else {
                format!("router '{}'", r.name)
            };
            sql("adding a router", &dup)(e)
        })?;
    let id: i64 = row.get(0);
    conn.execute(
        "INSERT INTO nas (nasname, shortname, type, secret, description, router_id)
         VALUES (host($1::inet), $2, 'other', $3, $4, $5)",
        &[&ip, &r.name, &r.secret, &r.description, &id],
    )
    .map_err(q("adding the router's NAS entry"))?;
    get_router(conn, &r.name, vpn)
}

/// What `router update` changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct RouterChange {
    pub nas_ip: Option<Ipv4Addr>,
    /// Never logged or printed.
    pub secret: Option<String>,
    /// `Some("")` clears the description.
    pub description: Option<String>,
    /// Where the router takes CoA and Disconnect-Requests (`/radius
    /// incoming` port; 3799 until set).
    pub coa_port: Option<u16>,
}

/// Changes a router's NAS address, secret, description or CoA port, in its router row
/// and its NAS row together (FreeRADIUS reads the NAS row; the change reaches
/// running servers through the nas table's notification).
pub fn update_router(
    conn: &mut impl GenericClient,
    name: &str,
    change: &RouterChange,
    plan: &VpnPlan,
) -> Result<RouterRow> {
    let r = get_router(conn, name, plan)?;
    if change.nas_ip.is_none()
        && change.secret.is_none()
        && change.description.is_none()
        && change.coa_port.is_none()
    {
        return Err(Error::Refused {
            what: format!("update router '{name}'"),
            why: "nothing to change: give --ip, --secret, --description or --coa-port".into(),
        });
    }
    if let Some(secret) = &change.secret {
        check_secret(secret)?;
    }
    if let Some(d) = change.description.as_deref().filter(|d| !d.is_empty()) {
        super::nas::check_description(d)?;
    }
    if let Some(ip) = change.nas_ip {
        // As `router add` and `nas add`: one address, one owner.
        super::nas::lock(conn)?;
        let ip = IpAddr::V4(ip);
        let nasname = ip.to_string();
        let owner = super::nas::address_owner(conn, &nasname, Some(r.id), None, plan)?;
        super::nas::refuse_taken(&nasname, owner)?;
    }
    let ip = change.nas_ip.map(IpAddr::V4);
    let description = change
        .description
        .as_deref()
        .map(|d| if d.is_empty() { None } else { Some(d) });
    conn.execute(
        "UPDATE routers SET nas_ip = COALESCE($2, nas_ip), secret = COALESCE($3, secret)
          WHERE id = $1",
        &[&r.id, &ip, &change.secret],
    )
    .map_err(sql(
        "updating a router",
        &format!("a router with address {}", opt_ip(ip)),
    ))?;
    conn.execute(
        "UPDATE nas SET nasname = COALESCE(host($2::inet), nasname),
                        secret = COALESCE($3, secret),
                        description = CASE WHEN $4 THEN $5 ELSE description END,
                        ports = COALESCE($6, ports)
          WHERE router_id = $1",
        &[
            &r.id,
            &ip,
            &change.secret,
            &description.is_some(),
            &description.flatten(),
            &change.coa_port.map(i32::from),
        ],
    )
    .map_err(q("updating the router's NAS entry"))?;
    get_router(conn, name, plan)
}

fn opt_ip(ip: Option<IpAddr>) -> String {
    ip.map(|i| i.to_string()).unwrap_or_default()
}

/// One router; its VPN address in `plan` (`Config::router_plan`).
pub fn get_router(conn: &mut impl GenericClient, name: &str, plan: &VpnPlan) -> Result<RouterRow> {
    let row = conn
        .query_opt(&format!("{ROUTER_SELECT} WHERE r.name = $1"), &[&name])
        .map_err(q("reading a router"))?
        .ok_or_else(|| Error::not_found(format!("router '{name}'")))?;
    Ok(from_row(&row, plan))
}

pub fn list_routers(conn: &mut impl GenericClient, plan: &VpnPlan) -> Result<Vec<RouterRow>> {
    let rows = conn
        .query(&format!("{ROUTER_SELECT} ORDER BY r.name"), &[])
        .map_err(q("listing routers"))?;
    Ok(rows.iter().map(|r| from_row(r, plan)).collect())
}

/// Removes a router, its NAS entry (by cascade) and revokes its certificates,
/// so neither RADIUS nor the VPN accepts it any more. Returns the serials
/// revoked; the certificate rows stay (router unset) for the CRL.
pub fn remove_router(conn: &mut impl GenericClient, name: &str) -> Result<Vec<String>> {
    let id: i64 = conn
        .query_opt("SELECT id FROM routers WHERE name = $1", &[&name])
        .map_err(q("reading a router"))?
        .ok_or_else(|| Error::not_found(format!("router '{name}'")))?
        .get(0);
    let revoked = super::pki::revoke_router_certificates(conn, id)?;
    conn.execute("DELETE FROM routers WHERE id = $1", &[&id])
        .map_err(q("removing a router"))?;
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    #[test]
    fn online_uses_the_stale_limit() {
        let limit = super::super::vpn_status::STALE_AFTER_SECONDS.to_string();
        assert!(super::ROUTER_SELECT.contains(&format!("make_interval(secs => {limit})")));
    }
}
