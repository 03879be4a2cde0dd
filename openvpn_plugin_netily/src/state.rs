//! The plugin's lifetime: what open starts and close stops. Every thread
//! started here is joined in close, so SIGHUP (close + open) leaves nothing
//! behind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use netily_core::clock::now;
use netily_core::config::Config;
use netily_core::live::Live;
use parking_lot::Mutex;

use crate::args::Args;
use crate::background::{Stop, CONNECT_TIMEOUT};
use crate::cutoff::Cutoff;
use crate::events::{Core, Sessions};
use crate::log::HostLog;
use crate::recorder::{self, Queue, Record};
use crate::routers::{self, Routers};
use crate::status::{parse_status, Beat, HeartbeatTracker, StatusClient};
use crate::timing::Timings;
use netily_core::db::vpn_store::ConnectionHeartbeat;

/// OpenVPN verbosity from which each connection's line also goes to
/// OpenVPN's log (on its thread); below it only syslog gets it.
const VERBOSE_FROM: i64 = 4;

pub struct Plugin {
    pub log: HostLog,
    pub core: Core,
    pub timings: Mutex<Timings>,
    stop: Arc<Stop>,
    workers: Vec<JoinHandle<()>>,
    /// The loop keeping `core.routers` fresh; dropped (stopped and joined)
    /// with the workers.
    routers_live: Option<Live>,
    /// Ends connected routers no longer admitted; stopped after the loop
    /// that feeds it.
    cutoff: Option<Cutoff>,
    /// Stopped after the workers, since they feed it.
    recorder_stop: Arc<Stop>,
    recorder: Option<JoinHandle<()>>,
}

impl Plugin {
    /// `verb` is OpenVPN's verbosity (its `verb` variable at open).
    pub fn start(args: Args, log: HostLog, verb: i64) -> Result<Plugin, String> {
        crate::log::init_background_logger();
        let config = match &args.config {
            Some(path) => Config::load(path),
            None => Config::resolve(None, None),
        }
        .map_err(|e| e.to_string())?;
        let plan = args.plan(&config)?;

        let sessions: Sessions = Arc::new(Mutex::new(HashMap::new()));
        let cutoff = Cutoff::start(args.management.clone())
            .map_err(|e| format!("cannot start thread netily-cutoff: {e}"))?;
        let sweeper = cutoff.sweeper(sessions.clone());
        let routers = Arc::new(Routers::default());
        let routers_live = routers::keep_fresh(
            routers.clone(),
            config.database_url.clone(),
            args.refresh,
            CONNECT_TIMEOUT,
            Box::new(move |routers: &Routers| sweeper.sweep(routers)),
        )
        .map_err(|e| format!("cannot start thread netily-routers: {e}"))?;
        // Open waits (bounded, not on a client's path) for the first load or
        // the first failed attempt, so the first routers are admitted at once;
        // if it fails, nobody is admitted until a load succeeds.
        if routers_live.wait_attempt(2 * CONNECT_TIMEOUT) {
            log.note(&format!(
                "{} router certificates admitted; VPN network {plan}; connections logged to syslog{}",
                routers.len(),
                if verb >= VERBOSE_FROM {
                    format!(" and here (verb {verb})")
                } else {
                    format!(" (and here from verb {VERBOSE_FROM}; verb is {verb})")
                }
            ));
        } else {
            let why = routers_live.status().last_error;
            log.warn(&format!(
                "router certificates not loaded yet, refusing routers until they are: {}",
                why.as_deref()
                    .unwrap_or("the database has not answered yet")
            ));
        }

        match &args.management {
            Some(path) => log.note(&format!(
                "a connected router whose certificate is revoked, or that is removed or \
                 disabled, is cut off through the management interface {}",
                path.display()
            )),
            None => log.warn(
                "no management= plugin argument: a connected router whose certificate is \
                 revoked, or that is removed or disabled, keeps its tunnel until its next \
                 renegotiation (reneg-sec) or reconnect, which is refused; add \
                 `management /run/netily/openvpn-mgmt.sock unix` to the server config and \
                 management=/run/netily/openvpn-mgmt.sock to the plugin line to cut it off \
                 at once",
            ),
        }

        let stop = Arc::new(Stop::default());
        let records = Queue::default();
        let recorder_stop = Arc::new(Stop::default());
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(f)
                .map_err(|e| format!("cannot start thread {name}: {e}"))
        };

        let (q, url, s) = (
            records.clone(),
            config.database_url.clone(),
            recorder_stop.clone(),
        );
        let recorder = spawn(
            "netily-recorder",
            Box::new(move || recorder::run(q, url, s)),
        )?;

        let mut workers = Vec::new();
        if let Some(path) = args.status_file.clone() {
            let (sess, tx, s) = (sessions.clone(), records.clone(), stop.clone());
            let (every, stale) = (args.status_interval, args.stale_after.as_secs() as i64);
            match spawn(
                "netily-status",
                Box::new(move || watch_status(&path, every, stale, sess, tx, s)),
            ) {
                Ok(h) => workers.push(h),
                Err(e) => log.warn(&format!("heartbeats off: {e}")),
            }
        }

        Ok(Plugin {
            log,
            core: Core {
                plan,
                routers,
                sessions,
                records,
                verbose: verb >= VERBOSE_FROM,
            },
            timings: Mutex::new(Timings::default()),
            stop,
            workers,
            routers_live: Some(routers_live),
            cutoff: Some(cutoff),
            recorder_stop,
            recorder: Some(recorder),
        })
    }

    /// Stops and joins every thread; queued records get one last write.
    pub fn shutdown(mut self) {
        self.stop.stop();
        drop(self.routers_live.take());
        // After the loop whose sweeps feed it; never waits for a reply.
        drop(self.cutoff.take());
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        // The recorder ends after a final flush of what is queued.
        self.recorder_stop.stop();
        let Plugin {
            log,
            timings,
            recorder,
            ..
        } = self;
        if let Some(h) = recorder {
            let _ = h.join();
        }
        for line in timings.lock().summary() {
            log.note(&line);
        }
    }
}

fn watch_status(
    path: &Path,
    every: Duration,
    stale_after: i64,
    sessions: Sessions,
    records: Queue,
    stop: Arc<Stop>,
) {
    let mut tracker = HeartbeatTracker::default();
    loop {
        if stop.wait(every) {
            return;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let Some(clients) = parse_status(&text) else {
            continue;
        };
        let now = now();
        let beats = tracker.update(clients, now, stale_after);
        if beats.is_empty() {
            continue;
        }
        // One short hold for the whole round: OpenVPN's thread takes this
        // lock at every connect and disconnect.
        let known: Vec<(i64, StatusClient, Option<i64>)> = {
            let sessions = sessions.lock();
            beats
                .into_iter()
                .filter_map(|beat| {
                    let (client, moving_at) = match beat {
                        Beat::Moving(c) => (c, Some(now)),
                        Beat::Stale(c) => (c, None),
                    };
                    let router_id = sessions.get(&client.real_address)?.router_id;
                    Some((router_id, client, moving_at))
                })
                .collect()
        };
        for (router_id, client, moving_at) in known {
            records.push(Record::Heartbeat(ConnectionHeartbeat {
                router_id,
                real_address: client.real_address,
                bytes_in: client.bytes_received,
                bytes_out: client.bytes_sent,
                moving_at,
            }));
        }
    }
}
