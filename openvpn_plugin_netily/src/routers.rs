//! The routers allowed to connect, in memory, so TLS_VERIFY and CONNECT are
//! answered without a database round trip on OpenVPN's thread.
//!
//! netily-core's live loop (`netily_core::live`) keeps the set: it reloads
//! it at once when a certificate changes (a revoke, a new certificate:
//! `certificates` notifications), and also every `refresh` (1 s by default),
//! since an expiry or a disabled router fires no notification; so a revoked
//! certificate is refused at its next handshake, and an expired one or a
//! disabled router within about a second. After each load a connected router
//! the new set no longer admits has its tunnel ended ([`crate::cutoff`]).
//! When the database is down the last loaded set keeps serving; before the
//! first load, nobody is admitted (fail closed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netily_core::db;
use netily_core::db::vpn_store::{self, AuthorizedCertificate};
use netily_core::live::{self, Live};
use netily_core::pki::Serial;
use parking_lot::RwLock;

/// The tables whose changes can change who is admitted.
const TABLES: &[&str] = &["certificates", "routers"];

/// What the plugin needs to know about an admitted certificate. Cloned on
/// OpenVPN's thread at every lookup, so the name is shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub router_id: i64,
    pub certificate_id: i64,
    pub router_name: Arc<str>,
    pub vpn_id: i64,
}

#[derive(Default)]
pub struct Routers {
    by_serial: RwLock<Arc<HashMap<Serial, Admitted>>>,
    loaded: AtomicBool,
}

impl Routers {
    /// A read lock held for one hash lookup; the refresher holds the write
    /// lock only for a pointer swap.
    pub fn lookup(&self, serial: &Serial) -> Option<Admitted> {
        self.by_serial.read().get(serial).cloned()
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.by_serial.read().len()
    }

    /// The admitted set as it is now (a pointer copy, for a whole sweep).
    pub fn current(&self) -> Arc<HashMap<Serial, Admitted>> {
        self.by_serial.read().clone()
    }

    pub fn replace(&self, certificates: Vec<AuthorizedCertificate>) {
        let map: HashMap<Serial, Admitted> = certificates
            .into_iter()
            .map(|c| {
                (
                    c.serial,
                    Admitted {
                        router_id: c.router_id,
                        certificate_id: c.certificate_id,
                        router_name: c.router_name.into(),
                        vpn_id: c.vpn_id,
                    },
                )
            })
            .collect();
        // Most reloads find nothing new: then OpenVPN's thread never meets a
        // writer at all.
        let unchanged = self.is_loaded() && **self.by_serial.read() == map;
        if !unchanged {
            // Built outside the lock, and the old set is dropped after it is
            // released: readers wait only for a pointer swap.
            let old = std::mem::replace(&mut *self.by_serial.write(), Arc::new(map));
            drop(old);
        }
        self.loaded.store(true, Ordering::Release);
    }
}

/// What runs on the loop's thread after each load (the cut-off sweep).
pub type AfterLoad = Box<dyn FnMut(&Routers) + Send>;

/// Starts the thread that keeps `routers` fresh; dropping the handle stops
/// and joins it. `every` is the periodic reload (expiry fires no
/// notification); statements are bounded by `timeout`, so the host's close
/// never waits long on the database. `after_load` runs after every load.
pub fn keep_fresh(
    routers: Arc<Routers>,
    database_url: String,
    every: Duration,
    timeout: Duration,
    after_load: AfterLoad,
) -> std::io::Result<Live> {
    let mut options = live::Options::new(
        "netily-routers",
        "router certificates",
        database_url,
        timeout,
    );
    options.bounded = true;
    options.reload_every = Some(every);
    let mut refresher = Refresher {
        routers,
        unreadable: 0,
        after_load,
    };
    let mirror = live::Whole::new(TABLES, move |c: &mut db::Client| refresher.load(c));
    Live::start(options, mirror)
}

/// The plugin's side of the loop.
struct Refresher {
    routers: Arc<Routers>,
    /// Rows with an unreadable serial in the last load, so the log names a
    /// change, not every reload.
    unreadable: usize,
    after_load: AfterLoad,
}

impl Refresher {
    fn load(&mut self, client: &mut db::Client) -> db::Result<()> {
        let (certificates, unreadable) = vpn_store::load_authorized(client)?;
        if unreadable != self.unreadable && unreadable > 0 {
            log::warn!(
                "{unreadable} certificate rows have an unreadable serial and are not admitted"
            );
        }
        self.unreadable = unreadable;
        self.routers.replace(certificates);
        (self.after_load)(&self.routers);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_swaps_the_whole_set() {
        let r = Routers::default();
        assert!(!r.is_loaded());
        let s1 = Serial::from_hex("01").unwrap();
        let s2 = Serial::from_hex("02").unwrap();
        let cert = |serial: &Serial, id| AuthorizedCertificate {
            serial: serial.clone(),
            certificate_id: id,
            router_id: id,
            router_name: format!("r{id}"),
            vpn_id: id,
        };
        r.replace(vec![cert(&s1, 1)]);
        assert!(r.is_loaded());
        assert_eq!(r.lookup(&s1).map(|a| a.router_id), Some(1));
        r.replace(vec![cert(&s2, 2)]);
        assert_eq!(r.lookup(&s1), None, "revoked = gone from the next set");
        assert_eq!(r.len(), 1);
        let before = r.by_serial.read().clone();
        r.replace(vec![cert(&s2, 2)]);
        assert!(
            Arc::ptr_eq(&before, &r.by_serial.read()),
            "an unchanged set is not swapped"
        );
    }

    #[test]
    fn certificate_and_router_changes_reload() {
        let touches = |p| live::Payload::parse(p).is_about(TABLES);
        assert!(touches("certificates 12"));
        assert!(touches("certificates *"));
        assert!(touches("routers 3"));
        assert!(!touches("nas 10.0.0.1"));
        assert!(!touches("customers alice"));
    }
}
