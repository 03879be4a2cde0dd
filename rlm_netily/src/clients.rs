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
//! **A removed client is not answered from the moment the directory sees the
//! change.** FreeRADIUS itself keeps a client it was given: one registered at
//! instantiate for the server's whole life, one defined through the
//! dynamic-clients server for its `lifetime` (60 s in the shipped site), and
//! its client list may only be changed from its socket-reading thread, which
//! a module never runs on. So the module checks every request instead
//! ([`NasDirectory::removed`], from authorize, accounting and post-auth): when
//! the request came through a client this module put in place (registered at
//! start or defined dynamically, remembered by address and prefix) and the
//! packet's source address is no longer in the table (`netadmin router
//! remove`, `nas remove`, a disabled router), the request gets
//! `control:Response-Packet-Type := Do-Not-Respond` and `handled`: FreeRADIUS
//! sends nothing, exactly as for an unknown client, nothing is written to
//! radacct or radpostauth, and a line saying so is logged at most once a
//! minute per address. Clients from clients.conf are never touched. Once
//! FreeRADIUS's own client expires, the dynamic-clients server finds no row
//! and the address is ignored as unknown. Until the table has loaded, and
//! while the database is away, the last known table decides, as everywhere.
//! A changed secret still takes effect with the client's `lifetime` (for a
//! client registered at start, with a restart).
//!
//! Secrets are never logged, not even at debug level.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use netily_core::db::{self, nas::NasClient};
use netily_core::live::{self, Live};
use netily_core::vpn_plan::VpnPlan;

use crate::request::{List, Mode, Request};
use crate::sys;

/// The tables whose changes can change the client list.
const TABLES: &[&str] = &["nas", "routers", "certificates"];

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

/// How FreeRADIUS knows a client: one address (full prefix), or a network
/// (its first address and prefix length), as in its `RADCLIENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey {
    address: IpAddr,
    prefix: u8,
}

impl ClientKey {
    /// The client of one address.
    pub fn host(address: IpAddr) -> ClientKey {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        ClientKey { address, prefix }
    }

    /// The client FreeRADIUS makes of a row (None for a row it refuses).
    fn of(client: &NasClient) -> Option<ClientKey> {
        client.address().map(ClientKey::host).or_else(|| {
            client
                .network()
                .map(|(address, prefix)| ClientKey { address, prefix })
        })
    }
}

/// How often one removed client's unanswered requests are logged.
const REMOVED_LOG_EVERY: Duration = Duration::from_secs(60);

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
    /// The clients this module gave FreeRADIUS (at start, or dynamically):
    /// the only ones [`NasDirectory::removed`] ever refuses.
    served: RwLock<HashSet<ClientKey>>,
    /// When each removed client's address was last logged.
    logged: Mutex<HashMap<IpAddr, Instant>>,
    live: Live,
}

impl NasDirectory {
    /// Waits up to `timeout` for the table, then registers every client in
    /// it with the server (instantiate only).
    pub fn register_at_start(&self, timeout: Duration) {
        if self.wait_loaded(timeout) {
            let all = self.all();
            let added = register_all(&all);
            self.served
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(added.iter().copied());
            let added = added.len();
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
            served: RwLock::default(),
            logged: Mutex::default(),
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

    /// True when a request that came through FreeRADIUS's client `client`
    /// from `source` must not be answered: the client is one this module
    /// gave FreeRADIUS, and `source` is no longer in the table. Memory only.
    pub fn removed(&self, client: ClientKey, source: IpAddr) -> bool {
        let ours = self
            .served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&client);
        // Loaded, and no row for it (no copy of the row: every request of
        // every router passes here).
        ours && self.table().is_some_and(|t| t.find(source).is_none())
    }

    /// Remembers a client FreeRADIUS is about to create from our answer.
    fn serve(&self, client: ClientKey) {
        let known = self
            .served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&client);
        if !known {
            self.served
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(client);
        }
    }

    /// True when a removed client's request from `source` should be logged
    /// now: once per [`REMOVED_LOG_EVERY`] per address.
    fn log_removed(&self, source: IpAddr, now: Instant) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if logged
            .get(&source)
            .is_some_and(|&at| now.saturating_duration_since(at) < REMOVED_LOG_EVERY)
        {
            return false;
        }
        logged.retain(|_, at| now.saturating_duration_since(*at) < REMOVED_LOG_EVERY);
        logged.insert(source, now);
        true
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

/// Registers each client with the server's global client list; returns the
/// ones added. A row FreeRADIUS cannot use (bad address, clash with a
/// clients.conf entry) is skipped with a warning naming it, never its secret.
///
/// Call only from instantiate: the client list is not locked.
pub fn register_all(clients: &[NasClient]) -> Vec<ClientKey> {
    let mut added = Vec::new();
    for c in clients {
        match register(c) {
            Ok(key) => added.push(key),
            Err(why) => log::warn!(
                "RADIUS client '{}' ({}) skipped: {why}",
                c.shortname,
                c.nasname
            ),
        }
    }
    added
}

fn register(c: &NasClient) -> Result<ClientKey, String> {
    let key =
        ClientKey::of(c).ok_or_else(|| format!("'{}' is not an address or network", c.nasname))?;
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
    Ok(key)
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

/// For an ordinary request through a client FreeRADIUS created at runtime
/// (`dynamic`: registered by a module at start, or defined through a
/// dynamic-clients server; never a clients.conf entry), that client and the
/// packet's source address.
///
/// # Safety
/// `raw` is the REQUEST FreeRADIUS passed to the current module call (or null).
pub unsafe fn origin(raw: *mut sys::REQUEST) -> Option<(ClientKey, IpAddr)> {
    // SAFETY: the caller's contract: raw is null or a live REQUEST whose
    // client and packet are null or live for the call.
    unsafe {
        let request = raw.as_ref()?;
        let client = request.client.as_ref()?;
        if client.dynamic == 0 || !client.client_server.is_null() {
            return None;
        }
        let key = ClientKey {
            address: source(&client.ipaddr)?,
            prefix: client.ipaddr.prefix,
        };
        let from = source(&request.packet.as_ref()?.src_ipaddr)?;
        Some((key, from))
    }
}

/// Whether this request came from a client that is no longer in the nas
/// table; if so it is marked so FreeRADIUS sends no reply at all
/// (`control:Response-Packet-Type := Do-Not-Respond`) and the caller returns
/// `handled` (or `noop` in post-auth).
///
/// # Safety
/// `raw` is the REQUEST of the current module call, not otherwise in use.
pub unsafe fn not_answered(directory: &NasDirectory, raw: *mut sys::REQUEST) -> bool {
    // SAFETY: the caller's contract.
    let Some((client, from)) = (unsafe { origin(raw) }) else {
        return false;
    };
    if !directory.removed(client, from) {
        return false;
    }
    // SAFETY: the caller's contract.
    let Some(mut request) = (unsafe { Request::from_raw(raw) }) else {
        return false;
    };
    let name = request
        .client_name()
        .map(|b| crate::log::safe_value(b, crate::log::SHOWN_CHARS))
        .unwrap_or_default();
    if let Err(e) = request.replace(List::Control, "Response-Packet-Type", "Do-Not-Respond") {
        // Answering would be wrong, failing is the next best: no Accept,
        // and no accounting ack.
        log::error!("request from removed RADIUS client {from}: {e}");
    }
    if directory.log_removed(from, Instant::now()) {
        log::warn!(
            "RADIUS client '{name}' ({from}) is no longer in the nas table: \
             its requests get no answer"
        );
    }
    true
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
            directory.serve(ClientKey::host(address));
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
    fn clients_are_keyed_as_freeradius_keys_them() {
        let key = |n: &str| ClientKey::of(&client(n, "x"));
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert_eq!(key("10.0.0.1"), Some(ClientKey::host(v4(10, 0, 0, 1))));
        assert_eq!(key(" 10.0.0.1 ").map(|k| k.prefix), Some(32));
        assert_eq!(key("2001:db8::1").map(|k| k.prefix), Some(128));
        assert_eq!(
            key("10.0.1.9/24"),
            Some(ClientKey {
                address: v4(10, 0, 1, 0),
                prefix: 24
            })
        );
        assert_eq!(key("tower.example"), None);
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
