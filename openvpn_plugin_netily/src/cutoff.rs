//! Connected routers that are no longer admitted lose their tunnel at once.
//!
//! After every load of the admitted certificates (a revocation, `router
//! remove`, a disabled router or an expiry reloads them within milliseconds,
//! see [`crate::routers`]), [`Sweeper::sweep`] looks for connected sessions
//! whose certificate is not in the new set. Each is handed to this module's
//! thread, which ends it through OpenVPN's management interface
//! ([`crate::management`]: `kill IP:PORT`, exactly that client instance);
//! OpenVPN then runs CLIENT_DISCONNECT as for any other disconnect, so the
//! connection record is closed as usual, and the router's next handshake is
//! refused by TLS_VERIFY.
//!
//! Without a management socket (no `management=` plugin argument) nothing
//! is ended early: open says so in OpenVPN's log, and each such session gets
//! one line (syslog) saying its tunnel lasts until its next renegotiation
//! (`reneg-sec`) or reconnect, which the plugin refuses.
//!
//! Failure behaviour: the sweep runs on the routers' loop thread and only
//! takes two short locks and queues; it never touches the socket. The
//! socket is used by this module's thread alone, each exchange bounded by
//! [`management::TIMEOUT`]; a failed kill is tried again at a later sweep
//! (the certificates reload every second), at most every [`RETRY_AFTER`] per
//! session. Failures are logged rate-limited: the first of an outage and any
//! that reads differently, then a count when it works again. Logs name
//! routers, addresses and the socket path, nothing secret. Dropping
//! [`Cutoff`] stops the thread, shuts down a connection in flight so no reply
//! is waited for (one being opened at that instant may still wait out its
//! greeting timeout), and joins it.

use std::collections::{HashMap, HashSet};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::events::{Session, Sessions};
use crate::management::{Killed, Management, Target};
use crate::routers::Routers;

/// A session is asked to end at most this often.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Sessions ended over one management connection at most.
const BATCH: usize = 32;

/// A connected session to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    pub real_address: String,
    pub router_name: Arc<str>,
    pub common_name: Arc<str>,
}

/// The connected sessions whose certificate `routers` no longer admits.
pub fn doomed(sessions: &HashMap<String, Session>, routers: &Routers) -> Vec<Victim> {
    let admitted = routers.current();
    let mut out: Vec<Victim> = sessions
        .iter()
        .filter(|(_, s)| !admitted.contains_key(&s.serial))
        .map(|(real_address, s)| Victim {
            real_address: real_address.clone(),
            router_name: s.router_name.clone(),
            common_name: s.common_name.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.real_address.cmp(&b.real_address));
    out
}

#[derive(Default)]
struct Queue {
    pending: Vec<Victim>,
    stopped: bool,
}

/// What the sweep remembers between loads.
#[derive(Default)]
struct Book {
    /// When each doomed session was last queued.
    queued: HashMap<String, Instant>,
    /// Doomed sessions already told about (no management socket).
    reported: HashSet<String>,
}

struct Shared {
    management: Option<Management>,
    queue: Mutex<Queue>,
    wake: Condvar,
    book: Mutex<Book>,
    /// The connection in flight, so stop can shut it down.
    current: Mutex<Option<UnixStream>>,
}

/// The sweep's handle (for the routers' loop thread).
#[derive(Clone)]
pub struct Sweeper {
    shared: Arc<Shared>,
    sessions: Sessions,
}

impl Sweeper {
    /// Queues every connected session `routers` no longer admits (each at
    /// most every [`RETRY_AFTER`]), or says once per session why it stays
    /// connected. Never waits on the socket.
    pub fn sweep(&self, routers: &Routers) {
        let doomed = doomed(&self.sessions.lock(), routers);
        let now = Instant::now();
        let mut book = self.shared.book.lock();
        let current: HashSet<&str> = doomed.iter().map(|v| v.real_address.as_str()).collect();
        book.queued.retain(|a, _| current.contains(a.as_str()));
        book.reported.retain(|a| current.contains(a.as_str()));
        let Some(management) = &self.shared.management else {
            for v in doomed {
                if book.reported.insert(v.real_address.clone()) {
                    log::warn!(
                        "router {} connected from {} is no longer admitted; with no management \
                         socket (plugin argument management=) its tunnel lasts until its next \
                         renegotiation (reneg-sec) or reconnect, which is refused",
                        v.router_name,
                        v.real_address
                    );
                }
            }
            return;
        };
        let due: Vec<Victim> = doomed
            .into_iter()
            .filter(|v| {
                book.queued
                    .get(&v.real_address)
                    .is_none_or(|&at| now.saturating_duration_since(at) >= RETRY_AFTER)
            })
            .collect();
        if due.is_empty() {
            return;
        }
        for v in &due {
            // Said once per session; retries are only counted by the thread.
            if book.queued.insert(v.real_address.clone(), now).is_none() {
                log::info!(
                    "router {} connected from {} is no longer admitted: ending its tunnel \
                     through {}",
                    v.router_name,
                    v.real_address,
                    management.path().display()
                );
            }
        }
        drop(book);
        let mut queue = self.shared.queue.lock();
        for v in due {
            if !queue.pending.contains(&v) {
                queue.pending.push(v);
            }
        }
        self.shared.wake.notify_one();
    }
}

/// The thread that ends sessions; dropping it stops and joins it.
pub struct Cutoff {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Cutoff {
    /// Starts the thread when there is a management socket; without one the
    /// sweep only reports.
    pub fn start(management: Option<PathBuf>) -> std::io::Result<Cutoff> {
        let shared = Arc::new(Shared {
            management: management.map(Management::new),
            queue: Mutex::default(),
            wake: Condvar::new(),
            book: Mutex::default(),
            current: Mutex::default(),
        });
        let thread = match shared.management {
            Some(_) => {
                let worker = Arc::clone(&shared);
                Some(
                    std::thread::Builder::new()
                        .name("netily-cutoff".into())
                        .spawn(move || run(&worker))?,
                )
            }
            None => None,
        };
        Ok(Cutoff { shared, thread })
    }

    pub fn sweeper(&self, sessions: Sessions) -> Sweeper {
        Sweeper {
            shared: Arc::clone(&self.shared),
            sessions,
        }
    }
}

impl Drop for Cutoff {
    fn drop(&mut self) {
        self.shared.queue.lock().stopped = true;
        self.shared.wake.notify_all();
        if let Some(stream) = self.shared.current.lock().as_ref() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::warn!("the netily-cutoff thread panicked");
            }
        }
    }
}

/// The log lines of a management outage: its first failure and any that
/// reads differently; repeats are counted for the line when it works again.
#[derive(Debug, Default)]
struct Outage {
    failures: u64,
    said: Option<String>,
}

impl Outage {
    fn failed(&mut self, why: &str) -> bool {
        self.failures += 1;
        if self.said.as_deref() == Some(why) {
            return false;
        }
        self.said = Some(why.to_owned());
        true
    }

    /// After a success: the failures it ends, if any.
    fn recovered(&mut self) -> Option<u64> {
        self.said = None;
        Some(std::mem::take(&mut self.failures)).filter(|&n| n > 0)
    }
}

fn run(shared: &Shared) {
    let Some(management) = &shared.management else {
        return;
    };
    let mut outage = Outage::default();
    loop {
        let batch = {
            let mut queue = shared.queue.lock();
            while queue.pending.is_empty() && !queue.stopped {
                shared.wake.wait(&mut queue);
            }
            if queue.stopped {
                return;
            }
            let n = queue.pending.len().min(BATCH);
            queue.pending.drain(..n).collect::<Vec<_>>()
        };
        match end_sessions(shared, management, &batch) {
            Ok(()) => {
                if let Some(n) = outage.recovered() {
                    log::info!(
                        "management interface {} answers again after {n} failed attempt{}",
                        management.path().display(),
                        if n == 1 { "" } else { "s" }
                    );
                }
            }
            Err(why) => {
                if outage.failed(&why) {
                    log::warn!("cannot end revoked routers' tunnels yet: {why}; retrying");
                }
            }
        }
    }
}

/// One connection: `kill` for each session of the batch.
fn end_sessions(shared: &Shared, management: &Management, batch: &[Victim]) -> Result<(), String> {
    let result = management
        .connect(|stream| *shared.current.lock() = stream.try_clone().ok())
        .and_then(|mut session| {
            for v in batch {
                let Some(target) = Target::of(&v.real_address, &v.common_name) else {
                    log::warn!(
                        "router {} connected from {}: cannot name it on the management \
                         interface (common name not plain); its tunnel lasts until its next \
                         renegotiation",
                        v.router_name,
                        v.real_address
                    );
                    continue;
                };
                match session.kill(&target)? {
                    Killed::Yes(what) => {
                        log::info!("router {} tunnel ended: {what}", v.router_name)
                    }
                    Killed::NotFound(what) => {
                        log::debug!("router {} already gone: {what}", v.router_name)
                    }
                }
            }
            session.quit();
            Ok(())
        });
    *shared.current.lock() = None;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use netily_core::db::vpn_store::AuthorizedCertificate;
    use netily_core::pki::Serial;

    fn session(serial: &str, name: &str) -> Session {
        Session {
            router_id: 1,
            router_name: name.into(),
            common_name: name.into(),
            vpn_address: "10.8.0.2".parse().unwrap(),
            serial: Serial::from_decimal(serial).unwrap(),
        }
    }

    fn routers(serials: &[&str]) -> Routers {
        let r = Routers::default();
        r.replace(
            serials
                .iter()
                .map(|s| AuthorizedCertificate {
                    serial: Serial::from_decimal(s).unwrap(),
                    certificate_id: 1,
                    router_id: 1,
                    router_name: "r".into(),
                    vpn_id: 1,
                })
                .collect(),
        );
        r
    }

    #[test]
    fn sessions_whose_certificate_left_the_set_are_doomed() {
        let sessions: HashMap<String, Session> = [
            ("1.1.1.1:1".to_string(), session("10", "kept")),
            ("2.2.2.2:2".to_string(), session("11", "revoked")),
            ("3.3.3.3:3".to_string(), session("12", "removed")),
        ]
        .into();
        let names = |r: &Routers| -> Vec<String> {
            doomed(&sessions, r)
                .iter()
                .map(|v| format!("{}@{}", v.router_name, v.real_address))
                .collect()
        };
        assert_eq!(names(&routers(&["10", "11", "12"])), Vec::<String>::new());
        assert_eq!(
            names(&routers(&["10"])),
            ["revoked@2.2.2.2:2", "removed@3.3.3.3:3"]
        );
        assert_eq!(names(&routers(&[])).len(), 3);
    }

    #[test]
    fn a_doomed_session_is_queued_again_only_after_the_retry_delay() {
        let cutoff = Cutoff {
            shared: Arc::new(Shared {
                management: Some(Management::new("/nonexistent/mgmt.sock".into())),
                queue: Mutex::default(),
                wake: Condvar::new(),
                book: Mutex::default(),
                current: Mutex::default(),
            }),
            thread: None,
        };
        let sessions: Sessions = Arc::default();
        sessions
            .lock()
            .insert("2.2.2.2:2".into(), session("11", "revoked"));
        let sweeper = cutoff.sweeper(sessions.clone());
        let none = routers(&[]);
        sweeper.sweep(&none);
        sweeper.sweep(&none);
        assert_eq!(cutoff.shared.queue.lock().pending.len(), 1, "queued once");
        cutoff.shared.queue.lock().pending.clear();
        sweeper.sweep(&none);
        assert!(
            cutoff.shared.queue.lock().pending.is_empty(),
            "not yet again"
        );
        // Later, still connected: asked again.
        if let Some(at) = cutoff.shared.book.lock().queued.get_mut("2.2.2.2:2") {
            *at -= RETRY_AFTER;
        }
        sweeper.sweep(&none);
        assert_eq!(cutoff.shared.queue.lock().pending.len(), 1);
        // Gone: forgotten.
        sessions.lock().clear();
        sweeper.sweep(&none);
        assert!(cutoff.shared.book.lock().queued.is_empty());
    }

    #[test]
    fn an_outage_is_logged_once_per_reason_and_counted() {
        let mut o = Outage::default();
        assert_eq!(o.recovered(), None);
        assert!(o.failed("refused"));
        assert!(!o.failed("refused"));
        assert!(o.failed("timed out"));
        assert_eq!(o.recovered(), Some(3));
        assert!(o.failed("refused"), "a new outage is logged again");
    }

    #[test]
    fn stopping_is_prompt_while_the_queue_is_empty() {
        let cutoff = Cutoff::start(Some("/nonexistent/mgmt.sock".into())).unwrap();
        let t = Instant::now();
        drop(cutoff);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
