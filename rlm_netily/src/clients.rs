//! RADIUS clients (NAS) from the database, so a router registered with
//! `netadmin router add` is served with no edit to clients.conf.
//!
//! Two ways in, both fed by netily-core's `db::nas::load_clients`:
//!
//! * At instantiate, every `nas` row is registered with the server's global
//!   client list (`client_afrom_query` + `client_add`, as rlm_sql's
//!   `read_clients` does). Routers known at startup are served from then on.
//! * Routers added later: a `client` network block with `dynamic_clients`
//!   (sites-available/netily-dynamic-clients) makes FreeRADIUS run that
//!   virtual server's authorize for a packet from an unknown address, and our
//!   authorize then answers from [`NasDirectory`] with the
//!   `FreeRADIUS-Client-*` control attributes. An address not in the table
//!   gets NOTFOUND, so FreeRADIUS keeps ignoring it.
//!
//! FreeRADIUS runs that authorize on its main (socket reading) thread, so it
//! must never wait on PostgreSQL: the directory is an in-memory copy of the
//! table, reloaded by netily-core's live loop (`netily_core::live`) when the
//! table notifies a change (migration 0004's `nas` trigger). If the database
//! goes away the last known table keeps serving.
//!
//! Secrets are never logged, not even at debug level.

use std::collections::HashMap;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use netily_core::db::{self, nas::NasClient};
use netily_core::live::{self, Live};
use netily_core::vpn_plan::VpnPlan;

use crate::request::{List, Mode, Request};
use crate::sys;

/// The tables whose changes can change the client list.
const TABLES: &[&str] = &["nas", "routers"];

/// The `nas` table as last loaded.
#[derive(Default)]
struct Table {
    all: Vec<NasClient>,
    by_address: HashMap<IpAddr, usize>,
    /// Rows naming a network (`netadmin nas add 192.0.2.0/24`), longest
    /// prefix first, for addresses no row names exactly.
    networks: Vec<(u8, usize)>,
}

impl Table {
    fn new(all: Vec<NasClient>) -> Table {
        let mut by_address = HashMap::with_capacity(all.len());
        let mut networks = Vec::new();
        for (i, c) in all.iter().enumerate() {
            if let Some(a) = c.address() {
                // The oldest row wins, as in `db::nas::find_client`.
                by_address.entry(a).or_insert(i);
            } else if let Some((_, len)) = c.network() {
                networks.push((len, i));
            }
        }
        // Stable: among equal prefixes the oldest row still wins.
        networks.sort_by_key(|&(len, _)| std::cmp::Reverse(len));
        Table {
            all,
            by_address,
            networks,
        }
    }

    /// The row for `address`: its own, else the most specific network
    /// holding it (as FreeRADIUS matches clients).
    fn find(&self, address: IpAddr) -> Option<&NasClient> {
        let exact = self.by_address.get(&address).and_then(|&i| self.all.get(i));
        exact.or_else(|| {
            self.networks
                .iter()
                .filter_map(|&(_, i)| self.all.get(i))
                .find(|c| c.covers(address))
        })
    }
}

/// The table as last loaded; None before the first load.
type Shared = RwLock<Option<Arc<Table>>>;

/// What the directory knows about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The table has not been read yet (database unavailable since startup).
    NotLoaded,
    Unknown,
    Found(NasClient),
}

/// An in-memory copy of the `nas` table kept fresh by LISTEN/NOTIFY; dropping
/// it stops and joins its thread.
pub struct NasDirectory {
    table: Arc<Shared>,
    live: Live,
}

impl NasDirectory {
    /// Waits up to `timeout` for the table, then registers every client in
    /// it with the server (instantiate only).
    pub fn register_at_start(&self, timeout: Duration) {
        if self.wait_loaded(timeout) {
            let all = self.all();
            let added = register_all(&all);
            log::info!(
                "registered {added} of {} RADIUS client(s) from the nas table",
                all.len()
            );
        } else {
            log::error!(
                "database unavailable: no RADIUS clients from the nas table at startup; \
                 routers are served through the dynamic-clients server once it loads"
            );
        }
    }

    /// Starts the listener thread; the first load happens in the background.
    pub fn start(
        database_url: String,
        plan: VpnPlan,
        connect_timeout: Duration,
    ) -> std::io::Result<Self> {
        let table = Arc::new(Shared::default());
        let mut loader = Loader {
            plan,
            table: Arc::clone(&table),
            loads: 0,
        };
        let options = live::Options::new(
            "netily-nas",
            "RADIUS clients",
            database_url,
            connect_timeout,
        );
        let mirror = live::Whole::new(TABLES, move |c: &mut db::Client| loader.load(c));
        Ok(NasDirectory {
            table,
            live: Live::start(options, mirror)?,
        })
    }

    /// Blocks until the first load or until `timeout` passes.
    pub fn wait_loaded(&self, timeout: Duration) -> bool {
        self.live.wait_loaded(timeout)
    }

    fn table(&self) -> Option<Arc<Table>> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every client in the table (empty before the first load).
    pub fn all(&self) -> Vec<NasClient> {
        self.table().map(|t| t.all.clone()).unwrap_or_default()
    }

    /// The client sending from `address`; never touches the database.
    pub fn lookup(&self, address: IpAddr) -> Lookup {
        match self.table() {
            None => Lookup::NotLoaded,
            Some(t) => match t.find(address) {
                Some(c) => Lookup::Found(c.clone()),
                None => Lookup::Unknown,
            },
        }
    }
}

/// The directory's side of the loop (loaded whole, again whenever a change
/// can touch it).
struct Loader {
    /// The network routers dial: a router is also a client by its address
    /// there (`db::nas::load_clients`).
    plan: VpnPlan,
    table: Arc<Shared>,
    loads: u64,
}

impl Loader {
    fn load(&mut self, client: &mut db::Client) -> db::Result<()> {
        let all = db::nas::load_clients(client, &self.plan)?;
        let count = all.len();
        *self.table.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(Table::new(all)));
        if self.loads == 0 {
            log::info!("RADIUS clients: {count} in the nas table");
        } else {
            log::debug!("RADIUS clients: nas table reloaded ({count})");
        }
        self.loads += 1;
        Ok(())
    }
}

fn c_string(field: &str, value: &str) -> Result<CString, String> {
    CString::new(value).map_err(|_| format!("{field} contains a NUL byte"))
}

/// Registers each client with the server's global client list; returns how
/// many were added. A row FreeRADIUS cannot use (bad address, clash with a
/// clients.conf entry) is skipped with a warning naming it, never its secret.
///
/// Call only from instantiate: the client list is not locked.
pub fn register_all(clients: &[NasClient]) -> usize {
    let mut added = 0;
    for c in clients {
        match register(c) {
            Ok(()) => added += 1,
            Err(why) => log::warn!(
                "RADIUS client '{}' ({}) skipped: {why}",
                c.shortname,
                c.nasname
            ),
        }
    }
    added
}

fn register(c: &NasClient) -> Result<(), String> {
    let identifier = c_string("nasname", c.nasname.trim())?;
    let secret = c_string("secret", &c.secret)?;
    let shortname = c_string("shortname", &c.shortname)?;
    let kind = c_string("type", &c.kind)?;
    if c.secret.is_empty() {
        return Err("empty secret".into());
    }
    // SAFETY: all strings are NUL-terminated and outlive the calls;
    // client_afrom_query copies them into a new talloc'd RADCLIENT (null ctx,
    // as rlm_sql does). client_add takes ownership on success (or frees an
    // exact duplicate itself and returns true); on failure it is still ours
    // to free. Instantiate runs before any listener thread exists.
    unsafe {
        let client = sys::client_afrom_query(
            ptr::null_mut(),
            identifier.as_ptr(),
            secret.as_ptr(),
            shortname.as_ptr(),
            kind.as_ptr(),
            ptr::null(),
            false,
        );
        if client.is_null() {
            return Err(format!("'{}' is not an address or network", c.nasname));
        }
        if !sys::client_add(ptr::null_mut(), client) {
            sys::client_free(client);
            return Err("another client with this address is already defined \
                        (clients.conf?); that one is used"
                .into());
        }
    }
    Ok(())
}

/// When FreeRADIUS runs this request only to define a dynamic client (the
/// request's client is the enclosing `dynamic_clients` network), the source
/// address asking to be a client; None for every ordinary request.
///
/// # Safety
/// `raw` is the REQUEST FreeRADIUS passed to the current module call (or null).
pub unsafe fn being_defined(raw: *mut sys::REQUEST) -> Option<Option<IpAddr>> {
    // SAFETY: the caller's contract: raw is null or a live REQUEST whose
    // client and packet are null or live for the call.
    unsafe {
        let request = raw.as_ref()?;
        let client = request.client.as_ref()?;
        if client.client_server.is_null() {
            return None;
        }
        Some(request.packet.as_ref().and_then(|p| source(&p.src_ipaddr)))
    }
}

fn source(a: &sys::fr_ipaddr_t) -> Option<IpAddr> {
    // SAFETY: `af` says which union member FreeRADIUS filled in.
    unsafe {
        match a.af {
            libc::AF_INET => Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                a.ipaddr.ip4addr.s_addr,
            )))),
            libc::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(
                a.ipaddr.ip6addr.__in6_u.__u6_addr8,
            ))),
            _ => None,
        }
    }
}

/// Answers the dynamic-clients virtual server's authorize: the control
/// attributes FreeRADIUS builds the client from, or NOTFOUND for an address
/// that is not a NAS.
///
/// # Safety
/// `raw` is the REQUEST of the current module call, not otherwise in use.
pub unsafe fn define(
    directory: &NasDirectory,
    raw: *mut sys::REQUEST,
    address: Option<IpAddr>,
) -> sys::rlm_rcode_t {
    let Some(address) = address else {
        log::warn!("dynamic client request without a usable source address");
        return sys::RLM_MODULE_NOTFOUND;
    };
    let client = match directory.lookup(address) {
        Lookup::Found(c) => c,
        Lookup::Unknown => {
            log::debug!("{address} is not in the nas table; not a RADIUS client");
            return sys::RLM_MODULE_NOTFOUND;
        }
        Lookup::NotLoaded => {
            log::error!(
                "cannot tell whether {address} is a RADIUS client: the nas table has not loaded \
                 (database unavailable)"
            );
            return sys::RLM_MODULE_FAIL;
        }
    };
    let (address_attribute, address_text) = match address {
        IpAddr::V4(a) => ("FreeRADIUS-Client-IP-Address", a.to_string()),
        IpAddr::V6(a) => ("FreeRADIUS-Client-IPv6-Address", a.to_string()),
    };
    // SAFETY: the caller's contract.
    let Some(mut request) = (unsafe { Request::from_raw(raw) }) else {
        return sys::RLM_MODULE_FAIL;
    };
    // Strings are set byte for byte (a secret may hold `\` or quotes), and
    // an error names the attribute, never the value.
    let set = [
        (address_attribute, address_text.as_str()),
        ("FreeRADIUS-Client-Require-MA", "no"),
        ("FreeRADIUS-Client-Secret", client.secret.as_str()),
        ("FreeRADIUS-Client-Shortname", client.shortname.as_str()),
        ("FreeRADIUS-Client-NAS-Type", client.kind.as_str()),
    ]
    .into_iter()
    .try_for_each(|(name, value)| request.set(List::Control, Mode::Replace, name, value))
    .map_err(|e| e.to_string());
    match set {
        Ok(()) => {
            log::info!(
                "RADIUS client '{}' ({address}) defined from the nas table",
                client.shortname
            );
            sys::RLM_MODULE_OK
        }
        Err(e) => {
            log::error!(
                "cannot define RADIUS client '{}' ({address}): {e}",
                client.shortname
            );
            sys::RLM_MODULE_FAIL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(nasname: &str, shortname: &str) -> NasClient {
        NasClient {
            nasname: nasname.into(),
            shortname: shortname.into(),
            kind: "other".into(),
            secret: "secret".into(),
        }
    }

    #[test]
    fn only_nas_and_router_changes_reload() {
        let payloads = [
            "nas 10.0.0.1",
            "customers alice",
            "nas *",
            "radacct a",
            "routers 7",
        ];
        let reloading: Vec<&str> = payloads
            .into_iter()
            .filter(|p| live::Payload::parse(p).is_about(TABLES))
            .collect();
        assert_eq!(reloading, ["nas 10.0.0.1", "nas *", "routers 7"]);
    }

    #[test]
    fn table_finds_single_addresses_oldest_first() {
        let t = Table::new(vec![
            client("10.0.0.1", "first"),
            client("10.0.0.0/24", "network"),
            client("10.0.0.1", "second"),
        ]);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            t.by_address.get(&a).map(|&i| t.all[i].shortname.as_str()),
            Some("first")
        );
        assert_eq!(t.by_address.len(), 1);
    }

    #[test]
    fn table_finds_addresses_in_networks_most_specific_first() {
        let t = Table::new(vec![
            client("10.0.0.0/16", "wide"),
            client("10.0.1.0/24", "narrow"),
            client("10.0.1.7", "host"),
            client("10.0.1.0/24", "narrow-again"),
        ]);
        let name = |a: &str| {
            let a: IpAddr = a.parse().ok()?;
            t.find(a).map(|c| c.shortname.clone())
        };
        assert_eq!(name("10.0.1.7").as_deref(), Some("host"));
        assert_eq!(name("10.0.1.8").as_deref(), Some("narrow"));
        assert_eq!(name("10.0.2.8").as_deref(), Some("wide"));
        assert_eq!(name("10.1.0.1"), None);
    }
}
