//! The FreeRADIUS `nas` table: which clients may talk to the RADIUS server.

use std::net::IpAddr;

use postgres::GenericClient;
use serde::Serialize;

use super::error::{q, Result};
use crate::vpn_plan::VpnPlan;

#[derive(Debug, Clone, Serialize)]
pub struct NasRow {
    pub id: i32,
    pub nasname: String,
    pub shortname: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Only filled when the caller asked for secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub router: Option<String>,
    pub description: Option<String>,
}

pub fn list_nas(conn: &mut impl GenericClient, show_secrets: bool) -> Result<Vec<NasRow>> {
    let rows = conn
        .query(
            "SELECT n.id, n.nasname, n.shortname, n.type,
                    CASE WHEN $1 THEN n.secret END, r.name, n.description
               FROM nas n LEFT JOIN routers r ON r.id = n.router_id
              ORDER BY n.shortname, n.id",
            &[&show_secrets],
        )
        .map_err(q("listing NAS entries"))?;
    Ok(rows
        .iter()
        .map(|r| NasRow {
            id: r.get(0),
            nasname: r.get(1),
            shortname: r.get(2),
            kind: r.get(3),
            secret: r.get(4),
            router: r.get(5),
            description: r.get(6),
        })
        .collect())
}

/// A RADIUS client as FreeRADIUS needs it: address, names and secret.
/// `Debug` hides the secret, so a client can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct NasClient {
    /// As stored: an address, a network (`10.0.0.0/24`) or a host name.
    pub nasname: String,
    pub shortname: String,
    /// The NAS type (`other`, `mikrotik`, ...).
    pub kind: String,
    pub secret: String,
}

impl std::fmt::Debug for NasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NasClient")
            .field("nasname", &self.nasname)
            .field("shortname", &self.shortname)
            .field("kind", &self.kind)
            .field("secret", &"<secret>")
            .finish()
    }
}

impl NasClient {
    /// The single address this client sends from, when `nasname` is one.
    pub fn address(&self) -> Option<IpAddr> {
        self.nasname.trim().parse().ok()
    }
}

// Rows of disabled routers are left out: a disabled router is not served.
// A router is one RADIUS client whichever way it talks to us: from its NAS
// address (its `nas` row) and from its management VPN address (the RouterOS
// script sends RADIUS from there), with one secret and one short name. $1 is
// the network routers dial (`Config::router_plan`): the VPN address is
// network + vpn_id + 1, as `VpnPlan::router_address` says.
const CLIENT_SELECT: &str = "SELECT nasname, shortname, type, secret FROM (
        SELECT n.nasname, n.shortname, n.type, n.secret, n.id, 0 AS via_vpn
          FROM nas n LEFT JOIN routers r ON r.id = n.router_id
         WHERE (r.id IS NULL OR r.status = 'active')
        UNION ALL
        SELECT host($1::inet + (r.vpn_id + 1)), n.shortname, n.type, n.secret, n.id, 1
          FROM nas n JOIN routers r ON r.id = n.router_id
         WHERE r.status = 'active'
       ) c
      WHERE true";

fn client_from_row(r: &postgres::Row) -> NasClient {
    NasClient {
        nasname: r.get(0),
        shortname: r.get(1),
        kind: r.get(2),
        secret: r.get(3),
    }
}

/// Every RADIUS client the server should accept: hand-made `nas` rows and
/// the NAS rows of routers that are not disabled (each also by its VPN
/// address), oldest first.
pub fn load_clients(conn: &mut impl GenericClient, plan: &VpnPlan) -> Result<Vec<NasClient>> {
    let network = IpAddr::V4(plan.network());
    let rows = conn
        .query(
            &format!("{CLIENT_SELECT} ORDER BY c.id, c.via_vpn"),
            &[&network],
        )
        .map_err(q("reading RADIUS clients"))?;
    Ok(rows.iter().map(client_from_row).collect())
}

/// The RADIUS client whose `nasname` is exactly this address, if any (the
/// oldest row wins when an address was entered twice by hand).
pub fn find_client(
    conn: &mut impl GenericClient,
    address: IpAddr,
    plan: &VpnPlan,
) -> Result<Option<NasClient>> {
    let network = IpAddr::V4(plan.network());
    let row = conn
        .query_opt(
            &format!(
                "{CLIENT_SELECT} AND (c.nasname = host($2::inet) OR c.nasname = $2::inet::text)
                 ORDER BY c.id, c.via_vpn LIMIT 1"
            ),
            &[&network, &address],
        )
        .map_err(q("looking up a RADIUS client"))?;
    Ok(row.as_ref().map(client_from_row))
}

#[cfg(test)]
mod tests {
    use super::NasClient;

    fn client(nasname: &str) -> NasClient {
        NasClient {
            nasname: nasname.into(),
            shortname: "tower-1".into(),
            kind: "other".into(),
            secret: "s3cret-value".into(),
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let text = format!("{:?}", client("10.0.0.1"));
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(text.contains("tower-1"), "{text}");
    }

    #[test]
    fn address_only_for_single_addresses() {
        assert_eq!(
            client(" 10.0.0.1 ").address(),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(client("10.0.0.0/24").address(), None);
        assert_eq!(client("nas.example.net").address(), None);
    }
}
