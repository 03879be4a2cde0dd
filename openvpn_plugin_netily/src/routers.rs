//! The routers allowed to connect, in memory, so TLS_VERIFY and CONNECT are
//! answered without a database round trip on OpenVPN's thread.
//!
//! A background thread reloads the set every `refresh` (1 s by default), so a
//! revoked certificate or disabled router is refused at its next handshake
//! within about a second. When the database is down the last loaded set keeps
//! serving; before the first load, nobody is admitted (fail closed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netily_core::db;
use netily_core::db::vpn_store::{self, AuthorizedCertificate};
use netily_core::pki::Serial;
use parking_lot::RwLock;

use crate::state::{connect_db, Stop};

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

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_serial.read().len()
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

    /// One load from the database; Err is the (password-free) reason.
    pub fn reload(&self, client: &mut db::Client) -> db::Result<usize> {
        let (certificates, unreadable) = vpn_store::load_authorized(client)?;
        if unreadable > 0 {
            log::warn!(
                "{unreadable} certificate rows have an unreadable serial and are not admitted"
            );
        }
        let n = certificates.len();
        self.replace(certificates);
        Ok(n)
    }
}

/// The refresher thread's body: reload every `every` until stopped.
pub fn keep_fresh(routers: Arc<Routers>, database_url: String, every: Duration, stop: Arc<Stop>) {
    let mut client: Option<db::Client> = None;
    let mut healthy = true;
    loop {
        let result = match client.as_mut() {
            Some(c) => routers.reload(c).map_err(|e| e.to_string()),
            None => match connect_db(&database_url) {
                Ok(mut c) => {
                    let r = routers.reload(&mut c).map_err(|e| e.to_string());
                    client = Some(c);
                    r
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(n) => {
                if !healthy {
                    log::info!("database back: {n} router certificates admitted");
                }
                healthy = true;
            }
            Err(e) => {
                client = None;
                if healthy {
                    log::warn!(
                        "cannot refresh router certificates, serving the last known set: {e}"
                    );
                }
                healthy = false;
            }
        }
        if stop.wait(every) {
            return;
        }
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
}
