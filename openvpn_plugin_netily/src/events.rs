//! What the plugin decides for each OpenVPN event, from owned values only.
//! Runs on OpenVPN's thread: memory lookups and a queue push, nothing that
//! waits.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netily_core::db::vpn_store::{ConnectionClosed, ConnectionOpened};
use netily_core::model::UnixTime;
use netily_core::pki::Serial;
use netily_core::vpn_plan::VpnPlan;
use parking_lot::Mutex;

use crate::env::Env;
use crate::recorder::{Queue, Record};
use crate::routers::{Admitted, Routers};

/// A connected router, by `trusted_ip:trusted_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub router_id: i64,
    pub router_name: Arc<str>,
    /// The certificate's common name, as OpenVPN knows the client.
    pub common_name: Arc<str>,
    pub vpn_address: Ipv4Addr,
    /// The certificate it connected with: when it leaves the admitted set,
    /// the session is ended ([`crate::cutoff`]).
    pub serial: Serial,
}

pub type Sessions = Arc<Mutex<HashMap<String, Session>>>;

/// The state every event reads.
pub struct Core {
    pub plan: VpnPlan,
    pub routers: Arc<Routers>,
    pub sessions: Sessions,
    pub records: Queue,
    /// Also put each connection's line in OpenVPN's log (verb 4 and up).
    /// Otherwise only the recorder logs it, to syslog, off OpenVPN's thread.
    pub verbose: bool,
}

/// The certificate serial OpenVPN verified, from `tls_serial_0` (decimal) or
/// `tls_serial_hex_0`.
fn serial_of(env: &Env) -> Result<Serial, String> {
    if let Some(dec) = env.get("tls_serial_0") {
        return Serial::from_decimal(dec).map_err(|e| e.to_string());
    }
    if let Some(hex) = env.get("tls_serial_hex_0") {
        return Serial::from_hex(hex).map_err(|e| e.to_string());
    }
    Err("no tls_serial_0 in OpenVPN's environment".into())
}

fn who(env: &Env) -> String {
    let cn = env
        .get("common_name")
        .or_else(|| env.get("X509_0_CN"))
        .unwrap_or("?");
    let from = env.real_address().unwrap_or_else(|| "?".into());
    format!("CN={cn} from {from}")
}

impl Core {
    /// TLS_VERIFY: at depth 0 the certificate must be an active certificate
    /// of an active router. OpenVPN has already checked the chain, the CRL and
    /// the key usage; CA levels (depth > 0) are left to it.
    pub fn tls_verify(&self, depth: i32, env: &Env) -> Result<Option<Admitted>, String> {
        if depth != 0 {
            return Ok(None);
        }
        if !self.routers.is_loaded() {
            return Err(format!(
                "refused {}: router certificates not loaded yet (database unreachable since start)",
                who(env)
            ));
        }
        let serial = serial_of(env).map_err(|e| format!("refused {}: {e}", who(env)))?;
        match self.routers.lookup(&serial) {
            Some(a) => Ok(Some(a)),
            None => Err(format!(
                "refused {} serial {}: not an active certificate of an active router",
                who(env),
                serial.to_colon_hex()
            )),
        }
    }

    /// CLIENT_CONNECT_V2: the router's address from the plan, as the ccd line
    /// OpenVPN applies, and the line for OpenVPN's log when verbose; the
    /// connection record is queued.
    pub fn client_connect(
        &self,
        env: &Env,
        now: UnixTime,
    ) -> Result<(String, Option<String>), String> {
        let serial = serial_of(env).map_err(|e| format!("refused {}: {e}", who(env)))?;
        let admitted = self.routers.lookup(&serial).ok_or_else(|| {
            format!(
                "refused {} serial {}: certificate no longer active",
                who(env),
                serial.to_colon_hex()
            )
        })?;
        // OpenVPN's own tunnel address comes from its `server` line; the
        // address we push comes from netily.conf. If they disagree, the
        // router would be given (and told) an address this server cannot
        // route: refuse loudly instead.
        if let Some(local) = env.get("ifconfig_local") {
            if local != self.plan.server_address().to_string() {
                return Err(format!(
                    "refused router {}: this OpenVPN server's tunnel address is {local}, but \
                     netily.conf's network for it is {} (server address {}); make the \
                     server line and vpn_network/vpn_tcp_network agree",
                    admitted.router_name,
                    self.plan,
                    self.plan.server_address()
                ));
            }
        }
        let address = self
            .plan
            .router_address(admitted.vpn_id)
            .map_err(|e| format!("refused router {}: {e}", admitted.router_name))?;
        let real_address = env.real_address().ok_or_else(|| {
            format!(
                "refused router {}: no trusted_ip/trusted_port",
                admitted.router_name
            )
        })?;
        let at = env
            .get("time_unix")
            .and_then(|t| t.parse().ok())
            .unwrap_or(now);
        let common_name = env
            .get("common_name")
            .or_else(|| env.get("X509_0_CN"))
            .unwrap_or_default();
        self.sessions.lock().insert(
            real_address.clone(),
            Session {
                router_id: admitted.router_id,
                router_name: admitted.router_name.clone(),
                common_name: common_name.into(),
                vpn_address: address,
                serial,
            },
        );
        let record = Record::Opened {
            opened: ConnectionOpened {
                router_id: admitted.router_id,
                certificate_id: admitted.certificate_id,
                vpn_address: address,
                real_address,
                at,
            },
            router_name: admitted.router_name,
        };
        let note = if self.verbose { record.note() } else { None };
        self.records.push(record);
        let line = format!("ifconfig-push {address} {}", self.plan.netmask());
        Ok((line, note))
    }

    /// CLIENT_DISCONNECT: final counters are queued; the line for OpenVPN's
    /// log when verbose. Unknown clients (refused at connect) are ignored.
    pub fn client_disconnect(&self, env: &Env, now: UnixTime) -> Option<String> {
        let real_address = env.real_address()?;
        let session = self.sessions.lock().remove(&real_address)?;
        let bytes_in = env.counter("bytes_received");
        let bytes_out = env.counter("bytes_sent");
        let record = Record::Closed {
            closed: ConnectionClosed {
                router_id: session.router_id,
                real_address,
                bytes_in,
                bytes_out,
                at: now,
            },
            router_name: session.router_name,
            seconds: env.counter("time_duration"),
        };
        let note = if self.verbose { record.note() } else { None };
        self.records.push(record);
        note
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netily_core::db::vpn_store::AuthorizedCertificate;

    fn core() -> (Core, Queue) {
        let records = Queue::default();
        let routers = Arc::new(Routers::default());
        routers.replace(vec![
            AuthorizedCertificate {
                serial: Serial::from_decimal("256").unwrap(),
                certificate_id: 11,
                router_id: 5,
                router_name: "tower-7".into(),
                vpn_id: 7,
            },
            AuthorizedCertificate {
                serial: Serial::from_decimal("257").unwrap(),
                certificate_id: 12,
                router_id: 6,
                router_name: "too-far".into(),
                vpn_id: 300,
            },
        ]);
        let core = Core {
            plan: "10.8.0.0/24".parse().unwrap(),
            routers,
            sessions: Arc::default(),
            records: records.clone(),
            verbose: true,
        };
        (core, records)
    }

    fn env(serial: &str) -> Env<'_> {
        Env::from_pairs(&[
            ("tls_serial_0", serial),
            ("common_name", "tower-7"),
            ("trusted_ip", "172.31.1.2"),
            ("trusted_port", "40000"),
            ("time_unix", "1795834740"),
            ("bytes_received", "100"),
            ("bytes_sent", "200"),
            ("time_duration", "60"),
        ])
    }

    #[test]
    fn known_serial_is_admitted_unknown_refused() {
        let (c, _rx) = core();
        assert_eq!(
            c.tls_verify(0, &env("256")).unwrap().map(|a| a.router_id),
            Some(5)
        );
        assert_eq!(
            c.tls_verify(1, &env("999")).unwrap(),
            None,
            "CA level is OpenVPN's job"
        );
        let e = c.tls_verify(0, &env("999")).unwrap_err();
        assert!(e.contains("serial 03:e7: not an active certificate"), "{e}");
    }

    #[test]
    fn nothing_is_admitted_before_the_first_load() {
        let (mut c, _rx) = core();
        c.routers = Arc::new(Routers::default());
        assert!(c
            .tls_verify(0, &env("256"))
            .unwrap_err()
            .contains("not loaded yet"));
    }

    #[test]
    fn connect_pushes_network_plus_id_plus_one_and_queues_the_record() {
        let (c, rx) = core();
        let (line, note) = c.client_connect(&env("256"), 0).unwrap();
        assert_eq!(line, "ifconfig-push 10.8.0.8 255.255.255.0");
        assert_eq!(
            note.as_deref(),
            Some("router tower-7 (id 5) connected from 172.31.1.2:40000, address 10.8.0.8")
        );
        match rx.drain().as_slice() {
            [Record::Opened {
                opened: o,
                router_name,
            }] => {
                assert_eq!((o.router_id, o.certificate_id), (5, 11));
                assert_eq!(o.real_address, "172.31.1.2:40000");
                assert_eq!(o.at, 1795834740);
                assert_eq!(&**router_name, "tower-7");
            }
            other => panic!("unexpected {other:?}"),
        }
        let note = c.client_disconnect(&env("256"), 1795834800).unwrap();
        assert_eq!(
            note,
            "router tower-7 disconnected from 172.31.1.2:40000 after 60s, 100 bytes in, 200 bytes out"
        );
        assert!(matches!(
            rx.drain().as_slice(),
            [Record::Closed { closed, seconds: 60, .. }] if closed.bytes_in == 100
        ));
        assert_eq!(c.client_disconnect(&env("256"), 0), None, "only once");
        assert!(rx.drain().is_empty());
    }

    #[test]
    fn below_verb_4_the_lines_are_left_to_the_recorder() {
        let (mut c, rx) = core();
        c.verbose = false;
        let (line, note) = c.client_connect(&env("256"), 0).unwrap();
        assert_eq!(line, "ifconfig-push 10.8.0.8 255.255.255.0");
        assert_eq!(note, None);
        assert_eq!(c.client_disconnect(&env("256"), 0), None);
        let notes: Vec<_> = rx.drain().iter().filter_map(Record::note).collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[1].contains("disconnected"), "{notes:?}");
    }

    #[test]
    fn a_server_line_that_disagrees_with_the_config_refuses_routers() {
        let (c, rx) = core();
        let with_local = |local| {
            Env::from_pairs(&[
                ("tls_serial_0", "256"),
                ("trusted_ip", "172.31.1.2"),
                ("trusted_port", "40000"),
                ("ifconfig_local", local),
            ])
        };
        assert!(
            c.client_connect(&with_local("10.8.0.1"), 0).is_ok(),
            "agreeing server"
        );
        rx.drain();
        let err = c.client_connect(&with_local("10.9.0.1"), 0).unwrap_err();
        assert!(
            err.contains(
                "tunnel address is 10.9.0.1, but netily.conf's network for it is 10.8.0.0/24"
            ),
            "{err}"
        );
        assert!(rx.drain().is_empty());
    }

    #[test]
    fn a_router_outside_the_plan_is_refused() {
        let (c, rx) = core();
        let e = c.client_connect(&env("257"), 0).unwrap_err();
        assert!(
            e.contains("router too-far: router id 300 does not fit"),
            "{e}"
        );
        assert!(rx.drain().is_empty());
    }
}
