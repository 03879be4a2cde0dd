//! The FreeRADIUS `nas` table: which clients may talk to the RADIUS server.
//! Routers' rows are kept by `routers.rs`; the others (a NAS that is not a
//! managed router) by [`add_nas`], [`update_nas`] and [`remove_nas`].

use std::net::IpAddr;

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::error::{q, Error, Result};
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
    /// Where it takes CoA and Disconnect-Requests (FreeRADIUS's `ports`
    /// column); None is 3799.
    pub coa_port: Option<i32>,
}

const NAS_SELECT: &str = "SELECT n.id, n.nasname, n.shortname, n.type,
            CASE WHEN $1 THEN n.secret END, r.name, n.description, n.ports
       FROM nas n LEFT JOIN routers r ON r.id = n.router_id";

fn nas_from_row(r: &Row) -> NasRow {
    NasRow {
        id: r.get(0),
        nasname: r.get(1),
        shortname: r.get(2),
        kind: r.get(3),
        secret: r.get(4),
        router: r.get(5),
        description: r.get(6),
        coa_port: r.get(7),
    }
}

pub fn list_nas(conn: &mut impl GenericClient, show_secrets: bool) -> Result<Vec<NasRow>> {
    let rows = conn
        .query(
            &format!("{NAS_SELECT} ORDER BY n.shortname, n.id"),
            &[&show_secrets],
        )
        .map_err(q("listing NAS entries"))?;
    Ok(rows.iter().map(nas_from_row).collect())
}

/// A `nasname` as an operator gives it: an IPv4 or IPv6 address, or a
/// network in CIDR form with no host bits set. Returns the form stored (a
/// /32 or /128 is stored as the bare address, as FreeRADIUS prints it).
pub fn parse_nasname(v: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid("NAS address", format!("\"{v}\": {why}"));
    let allowed = "expected an IPv4 or IPv6 address or a network like 192.0.2.0/24";
    let (text, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let ip: IpAddr = text.parse().map_err(|_| bad(allowed))?;
    let bits: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let Some(prefix) = prefix else {
        return Ok(ip.to_string());
    };
    let len: u8 = prefix
        .parse()
        .ok()
        .filter(|l| (1..=bits).contains(l) && prefix.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad(&format!("the prefix length must be 1 to {bits}")))?;
    if len == bits {
        return Ok(ip.to_string());
    }
    let network = network_of(ip, len);
    if network != ip {
        return Err(bad(&format!(
            "host bits are set; the network is {network}/{len}"
        )));
    }
    Ok(format!("{ip}/{len}"))
}

/// `ip` with every bit after the first `len` cleared.
fn network_of(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// The router or NAS entry that already answers to `nasname` (stored text,
/// from [`parse_nasname`] or a router's address): a `nas` row with that
/// address other than the router `except_router`'s or the row
/// `except_nas`, or a router whose VPN address it is (`CLIENT_SELECT`).
pub(crate) fn address_owner(
    conn: &mut impl GenericClient,
    nasname: &str,
    except_router: Option<i64>,
    except_nas: Option<i32>,
    plan: &VpnPlan,
) -> Result<Option<String>> {
    let row = conn
        .query_opt(
            "SELECT n.shortname FROM nas n
              WHERE (n.nasname = $1 OR n.nasname = $1::inet::text)
                AND ($2::bigint IS NULL OR n.router_id IS DISTINCT FROM $2)
                AND ($3::integer IS NULL OR n.id <> $3)
             UNION ALL
             SELECT r.name FROM routers r WHERE host($4::inet + (r.vpn_id + 1)) = $1
             LIMIT 1",
            &[
                &nasname,
                &except_router,
                &except_nas,
                &IpAddr::V4(plan.network()),
            ],
        )
        .map_err(q("checking NAS addresses"))?;
    Ok(row.map(|r| r.get(0)))
}

/// A RADIUS client that is not a managed router.
#[derive(Debug, Clone)]
pub struct NewNas {
    /// As given; checked by [`parse_nasname`].
    pub nasname: String,
    pub shortname: String,
    /// Never logged or printed by default.
    pub secret: String,
    /// The NAS type (`other` when None).
    pub kind: Option<String>,
    pub description: Option<String>,
    /// The CoA port (None: 3799).
    pub coa_port: Option<u16>,
}

/// What `nas update` changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct NasChange {
    pub nasname: Option<String>,
    pub shortname: Option<String>,
    pub secret: Option<String>,
    pub kind: Option<String>,
    /// `Some("")` clears the description.
    pub description: Option<String>,
    /// The CoA port.
    pub coa_port: Option<u16>,
}

pub(crate) fn check_description(d: &str) -> Result<()> {
    if d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err(Error::invalid(
            "description",
            "at most 200 characters, no control characters",
        ));
    }
    Ok(())
}

fn check_fields(
    shortname: Option<&str>,
    secret: Option<&str>,
    kind: Option<&str>,
    description: Option<&str>,
) -> Result<()> {
    if let Some(name) = shortname {
        super::plans::check_name("NAS short name", name)?;
    }
    if let Some(secret) = secret {
        super::routers::check_secret(secret)?;
    }
    if let Some(kind) = kind {
        super::plans::check_name("NAS type", kind)?;
    }
    description.map(check_description).transpose()?;
    Ok(())
}

/// Serializes NAS address checks with `router add` (which takes the same
/// lock), so two commands cannot both take one address.
pub(crate) fn lock(conn: &mut impl GenericClient) -> Result<()> {
    conn.batch_execute("LOCK TABLE routers IN SHARE ROW EXCLUSIVE MODE")
        .map_err(q("locking the router list"))
}

/// A Duplicate error naming `owner`, the entry that already has `nasname`.
pub(crate) fn refuse_taken(nasname: &str, owner: Option<String>) -> Result<()> {
    match owner {
        Some(other) => Err(Error::Duplicate {
            what: format!("a NAS with address {nasname} ('{other}')"),
        }),
        None => Ok(()),
    }
}

/// Adds a RADIUS client that is not a managed router. Running FreeRADIUS
/// servers learn of it through the nas table's notification.
pub fn add_nas(conn: &mut impl GenericClient, n: &NewNas, plan: &VpnPlan) -> Result<NasRow> {
    let nasname = parse_nasname(&n.nasname)?;
    check_fields(
        Some(&n.shortname),
        Some(&n.secret),
        n.kind.as_deref(),
        n.description.as_deref(),
    )?;
    lock(conn)?;
    refuse_taken(&nasname, address_owner(conn, &nasname, None, None, plan)?)?;
    let description = n.description.as_deref().filter(|d| !d.is_empty());
    let id: i32 = conn
        .query_one(
            "INSERT INTO nas (nasname, shortname, type, secret, description, ports)
             VALUES ($1, $2, COALESCE($3, 'other'), $4, $5, $6) RETURNING id",
            &[
                &nasname,
                &n.shortname,
                &n.kind,
                &n.secret,
                &description,
                &n.coa_port.map(i32::from),
            ],
        )
        .map_err(q("adding a NAS entry"))?
        .get(0);
    nas_by_id(conn, id)
}

fn nas_by_id(conn: &mut impl GenericClient, id: i32) -> Result<NasRow> {
    let row = conn
        .query_one(&format!("{NAS_SELECT} WHERE n.id = $2"), &[&false, &id])
        .map_err(q("reading a NAS entry"))?;
    Ok(nas_from_row(&row))
}

/// The hand-made NAS entry `target` names: its address or network, or its
/// short name. A router's entry (or a router's VPN address) is refused with
/// the `router` command to use instead.
fn find_own(
    conn: &mut impl GenericClient,
    target: &str,
    verb: &str,
    plan: &VpnPlan,
) -> Result<NasRow> {
    let nasname = parse_nasname(target).ok();
    let rows = conn
        .query(
            &format!(
                "{NAS_SELECT}
                  WHERE ($2::text IS NOT NULL AND (n.nasname = $2 OR n.nasname = $2::inet::text))
                     OR ($2::text IS NULL AND n.shortname = $3)
                 UNION ALL
                 SELECT 0, host($4::inet + (r.vpn_id + 1)), r.name, 'other', NULL, r.name, NULL,
                        NULL::integer
                   FROM routers r
                  WHERE host($4::inet + (r.vpn_id + 1)) = $2
                  ORDER BY 1"
            ),
            &[&false, &nasname, &target, &IpAddr::V4(plan.network())],
        )
        .map_err(q("reading a NAS entry"))?;
    let rows: Vec<NasRow> = rows.iter().map(nas_from_row).collect();
    if let Some(router) = rows.iter().find_map(|r| r.router.as_ref()) {
        return Err(Error::Refused {
            what: format!("{verb} NAS '{target}'"),
            why: format!("it belongs to router '{router}'; use `netadmin router {verb} {router}`"),
        });
    }
    match rows.len() {
        0 => Err(Error::not_found(format!("NAS '{target}'"))),
        1 => rows
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("NAS '{target}'"))),
        n => Err(Error::Refused {
            what: format!("{verb} NAS '{target}'"),
            why: format!("{n} entries match it; name one by its address"),
        }),
    }
}

/// Changes a hand-made NAS entry (see [`find_own`] for `target`).
pub fn update_nas(
    conn: &mut impl GenericClient,
    target: &str,
    change: &NasChange,
    plan: &VpnPlan,
) -> Result<NasRow> {
    let c = change;
    if c.nasname.is_none()
        && c.shortname.is_none()
        && c.secret.is_none()
        && c.kind.is_none()
        && c.description.is_none()
        && c.coa_port.is_none()
    {
        return Err(Error::Refused {
            what: format!("update NAS '{target}'"),
            why: "nothing to change: give --address, --shortname, --secret, --type, \
                  --description or --coa-port"
                .into(),
        });
    }
    let nasname = c.nasname.as_deref().map(parse_nasname).transpose()?;
    check_fields(
        c.shortname.as_deref(),
        c.secret.as_deref(),
        c.kind.as_deref(),
        c.description.as_deref(),
    )?;
    lock(conn)?;
    let row = find_own(conn, target, "update", plan)?;
    if let Some(nasname) = &nasname {
        refuse_taken(
            nasname,
            address_owner(conn, nasname, None, Some(row.id), plan)?,
        )?;
    }
    let description = c
        .description
        .as_deref()
        .map(|d| if d.is_empty() { None } else { Some(d) });
    conn.execute(
        "UPDATE nas SET nasname = COALESCE($2, nasname), shortname = COALESCE($3, shortname),
                        secret = COALESCE($4, secret), type = COALESCE($5, type),
                        description = CASE WHEN $6 THEN $7 ELSE description END,
                        ports = COALESCE($8, ports)
          WHERE id = $1",
        &[
            &row.id,
            &nasname,
            &c.shortname,
            &c.secret,
            &c.kind,
            &description.is_some(),
            &description.flatten(),
            &c.coa_port.map(i32::from),
        ],
    )
    .map_err(q("updating a NAS entry"))?;
    nas_by_id(conn, row.id)
}

/// Removes a hand-made NAS entry (see [`find_own`] for `target`); returns it.
pub fn remove_nas(conn: &mut impl GenericClient, target: &str, plan: &VpnPlan) -> Result<NasRow> {
    let row = find_own(conn, target, "remove", plan)?;
    conn.execute("DELETE FROM nas WHERE id = $1", &[&row.id])
        .map_err(q("removing a NAS entry"))?;
    Ok(row)
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

    /// The network this client covers when `nasname` is one
    /// (`192.0.2.0/24`): its address and prefix length.
    pub fn network(&self) -> Option<(IpAddr, u8)> {
        let (ip, len) = self.nasname.trim().split_once('/')?;
        let ip: IpAddr = ip.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        (len <= bits).then(|| (network_of(ip, len), len))
    }

    /// True when `address` is inside this client's network.
    pub fn covers(&self, address: IpAddr) -> bool {
        self.network().is_some_and(|(net, len)| {
            net.is_ipv4() == address.is_ipv4() && network_of(address, len) == net
        })
    }
}

// Rows of disabled routers are left out: a disabled router is not served.
// A router is one RADIUS client whichever way it talks to us: from its NAS
// address (its `nas` row) and from its management VPN address (the RouterOS
// script sends RADIUS from there), with one secret and one short name. $1 is
// the network routers dial (`Config::router_plan`): the VPN address is
// network + vpn_id + 1, as `VpnPlan::router_address` says, for the ids that
// fit in it ($2, the plan's largest): a router whose id no longer fits (the
// network was made smaller) gets no VPN address, as the plugin refuses it.
const CLIENT_SELECT: &str = "SELECT nasname, shortname, type, secret FROM (
        SELECT n.nasname, n.shortname, n.type, n.secret, n.id, 0 AS via_vpn
          FROM nas n LEFT JOIN routers r ON r.id = n.router_id
         WHERE (r.id IS NULL OR (r.status = 'active' AND NOT REVOKED))
        UNION ALL
        SELECT host($1::inet + (r.vpn_id + 1)), n.shortname, n.type, n.secret, n.id, 1
          FROM nas n JOIN routers r ON r.id = n.router_id
         WHERE r.status = 'active' AND NOT REVOKED AND r.vpn_id BETWEEN 1 AND $2::bigint
       ) c
      WHERE true";

/// A router whose certificates were revoked and that has no active one
/// left (lost, stolen, cut off) is no RADIUS client either; one that never
/// had a certificate (no VPN) or is between `cert issue --replace`'s two
/// halves (one transaction) is.
const REVOKED: &str = "(EXISTS (SELECT 1 FROM certificates x
                        WHERE x.router_id = r.id AND x.status = 'revoked')
          AND NOT EXISTS (SELECT 1 FROM certificates x
                           WHERE x.router_id = r.id AND x.status = 'active'))";

fn client_from_row(r: &postgres::Row) -> NasClient {
    NasClient {
        nasname: r.get(0),
        shortname: r.get(1),
        kind: r.get(2),
        secret: r.get(3),
    }
}

/// The client query with the revoked-router condition in place.
fn client_select() -> String {
    CLIENT_SELECT.replace("REVOKED", REVOKED)
}

/// Every RADIUS client the server should accept: hand-made `nas` rows and
/// the NAS rows of routers that are neither disabled nor cut off by
/// revocation (each also by its VPN address), oldest first.
pub fn load_clients(conn: &mut impl GenericClient, plan: &VpnPlan) -> Result<Vec<NasClient>> {
    let network = IpAddr::V4(plan.network());
    let rows = conn
        .query(
            &format!("{} ORDER BY c.id, c.via_vpn", client_select()),
            &[&network, &plan.max_router_id()],
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
                "{} AND (c.nasname = host($3::inet) OR c.nasname = $3::inet::text)
                 ORDER BY c.id, c.via_vpn LIMIT 1",
                client_select()
            ),
            &[&network, &plan.max_router_id(), &address],
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
    fn networks_cover_their_addresses_only() {
        let net = client("192.0.2.0/28");
        assert!(net.covers("192.0.2.0".parse().unwrap()));
        assert!(net.covers("192.0.2.15".parse().unwrap()));
        assert!(!net.covers("192.0.2.16".parse().unwrap()));
        assert!(!net.covers("::ffff:192.0.2.1".parse().unwrap()));
        assert_eq!(net.network(), Some(("192.0.2.0".parse().unwrap(), 28)));
        let v6 = client("2001:db8:1::/48");
        assert!(v6.covers("2001:db8:1:ff::1".parse().unwrap()));
        assert!(!v6.covers("2001:db8:2::1".parse().unwrap()));
        assert!(!client("192.0.2.1").covers("192.0.2.1".parse().unwrap()));
        assert_eq!(client("192.0.2.0/33").network(), None);
    }

    #[test]
    fn nasnames_are_addresses_or_networks_without_host_bits() {
        use super::parse_nasname;
        assert_eq!(parse_nasname("192.0.2.1").unwrap(), "192.0.2.1");
        assert_eq!(parse_nasname("192.0.2.1/32").unwrap(), "192.0.2.1");
        assert_eq!(parse_nasname("2001:DB8::0:1").unwrap(), "2001:db8::1");
        assert_eq!(parse_nasname("10.0.0.0/8").unwrap(), "10.0.0.0/8");
        assert_eq!(parse_nasname("2001:db8::/32").unwrap(), "2001:db8::/32");
        for bad in [
            "",
            "host.example",
            "10.0.0.1/24",
            "10.0.0.0/0",
            "10.0.0.0/+8",
            "::/129",
            "1.2.3.4/",
        ] {
            assert!(parse_nasname(bad).is_err(), "{bad}");
        }
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
