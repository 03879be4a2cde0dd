//! Sends CoA and Disconnect-Requests and collects the answers.
//!
//! A [`Dispatcher`] keeps one worker thread per router (NAS address, port
//! and secret), started on its first request and ended after
//! [`IDLE_WORKER`] without one: a router that does not answer holds up
//! only its own requests, never another router's or the enforcer's loop.
//! Each worker has one UDP socket bound to the configured source address (a
//! router drops a request from an address its `/radius` entry does not
//! name: the VPN server's tunnel address when the request goes through the
//! management VPN) and at most `per_router` requests in flight, so a plan
//! change for 10,000 subscribers does not flood one router. Every outcome
//! goes to the dispatcher's `on_done` as soon as it is known. Dropping the
//! dispatcher stops and joins every worker (requests still in flight then
//! get no outcome).
//!
//! Retransmission (RFC 5176 section 2.3, RFC 5080 section 2.2.1): the same
//! packet (same identifier and authenticator) again after `first_timeout`,
//! doubling each time, `tries` times in all; then the request has no
//! answer. A reply that is not signed with the request's authenticator and
//! the secret is ignored (it may be forged or late) and said in the outcome
//! when no valid one comes. Nothing here logs: every outcome is returned,
//! for the outcome log.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::coa::{self, Answer, Kind, SessionIdentity};
use crate::decision::ReplyAttribute;
use crate::radius::{self, Builder};

/// A worker with nothing to do for this long ends (a new request starts
/// another).
pub const IDLE_WORKER: Duration = Duration::from_secs(30);

/// How often a busy worker looks for new requests and for a stop.
const POLL: Duration = Duration::from_millis(20);

/// How requests are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOptions {
    /// The configured address every request leaves from (a request may
    /// name its own); None lets the system choose.
    pub source: Option<IpAddr>,
    /// Requests in flight to one router at most.
    pub per_router: usize,
    /// Wait before the first retransmission; doubled each time.
    pub first_timeout: Duration,
    /// Transmissions in all (the first one included).
    pub tries: u32,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            source: None,
            per_router: 32,
            first_timeout: Duration::from_secs(2),
            tries: 3,
        }
    }
}

/// One request to send. Its Event-Timestamp is the time it first leaves.
#[derive(Clone)]
pub struct Request {
    pub target: SocketAddr,
    /// The address it leaves from; None: the system's choice.
    pub source: Option<IpAddr>,
    pub secret: String,
    pub kind: Kind,
    pub session: SessionIdentity,
    /// For a CoA-Request: the attributes to change.
    pub attributes: Vec<ReplyAttribute>,
}

/// Never the secret.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("target", &self.target)
            .field("source", &self.source)
            .field("kind", &self.kind)
            .field("session", &self.session)
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Answered {
        answer: Answer,
        rtt: Duration,
    },
    /// No valid answer after every try; the text says what came instead,
    /// if anything.
    NoAnswer {
        bad_reply: Option<String>,
    },
    /// It could not be sent at all (the source address is not local, the
    /// request cannot be encoded, ...).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub delivery: Delivery,
    /// Transmissions made.
    pub attempts: u32,
}

/// A request and the caller's key for it.
#[derive(Debug, Clone)]
pub struct Job {
    pub key: u64,
    pub request: Request,
}

/// The outcome of the job with `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub key: u64,
    pub outcome: Outcome,
}

/// Where outcomes go (called on the workers' threads).
pub type OnDone = Arc<dyn Fn(Done) + Send + Sync>;

struct Worker {
    jobs: Sender<Job>,
    /// Set by the worker, under the lock, when it ends: a job is sent only
    /// while it is false, so none is left in a channel nobody reads.
    closed: Arc<parking_lot::Mutex<bool>>,
    handle: JoinHandle<()>,
}

/// The per-router workers.
pub struct Dispatcher {
    opts: SendOptions,
    on_done: OnDone,
    stop: Arc<AtomicBool>,
    workers: HashMap<(SocketAddr, Option<IpAddr>, String), Worker>,
}

impl Dispatcher {
    pub fn new(opts: SendOptions, on_done: OnDone) -> Dispatcher {
        Dispatcher {
            opts,
            on_done,
            stop: Arc::new(AtomicBool::new(false)),
            workers: HashMap::new(),
        }
    }

    /// Queues `job` on its router's worker (starting one if needed).
    pub fn send(&mut self, job: Job) {
        let r = &job.request;
        let key = (r.target, r.source, r.secret.clone());
        if let Some(w) = self.workers.get(&key) {
            let closed = w.closed.lock();
            if !*closed && w.jobs.send(job.clone()).is_ok() {
                return;
            }
        }
        // No worker, or one that ended: start anew.
        if let Some(old) = self.workers.remove(&key) {
            let _ = old.handle.join();
        }
        let (tx, rx) = mpsc::channel();
        let closed = Arc::new(parking_lot::Mutex::new(false));
        let opts = self.opts.clone();
        let on_done = Arc::clone(&self.on_done);
        let stop = Arc::clone(&self.stop);
        let (target, source) = (job.request.target, job.request.source);
        let ended = Arc::clone(&closed);
        let spawned = std::thread::Builder::new()
            .name("netily-coa".to_owned())
            .spawn(move || {
                work(target, source, &rx, &ended, &opts, &on_done, &stop);
            });
        match spawned {
            Ok(handle) => {
                let _ = tx.send(job);
                self.workers.insert(
                    key,
                    Worker {
                        jobs: tx,
                        closed,
                        handle,
                    },
                );
            }
            Err(e) => (self.on_done)(Done {
                key: job.key,
                outcome: Outcome {
                    delivery: Delivery::Failed(format!("cannot start a sender thread: {e}")),
                    attempts: 0,
                },
            }),
        }
    }

    /// Joins the workers that ended (idle); the busy ones keep running.
    pub fn reap(&mut self) {
        let ended: Vec<_> = self
            .workers
            .iter()
            .filter(|(_, w)| w.handle.is_finished())
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(w) = self.workers.remove(&k) {
                let _ = w.handle.join();
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for (_, w) in self.workers.drain() {
            drop(w.jobs);
            let _ = w.handle.join();
        }
    }
}

/// Sends every request and waits for every outcome; outcomes in the order
/// of `requests` (`netadmin`, acting once).
pub fn send_all(requests: &[Request], opts: &SendOptions) -> Vec<Outcome> {
    let (tx, rx) = mpsc::channel::<Done>();
    let tx = parking_lot::Mutex::new(tx);
    let on_done: OnDone = Arc::new(move |d| {
        let _ = tx.lock().send(d);
    });
    let mut dispatcher = Dispatcher::new(opts.clone(), on_done);
    for (i, r) in requests.iter().enumerate() {
        dispatcher.send(Job {
            key: i as u64,
            request: r.clone(),
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; requests.len()];
    for _ in 0..requests.len() {
        match rx.recv() {
            Ok(d) => {
                if let Some(slot) = usize::try_from(d.key)
                    .ok()
                    .and_then(|i| outcomes.get_mut(i))
                {
                    *slot = Some(d.outcome);
                }
            }
            Err(_) => break,
        }
    }
    drop(dispatcher);
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or(Outcome {
                delivery: Delivery::Failed("the sender stopped unexpectedly".to_owned()),
                attempts: 0,
            })
        })
        .collect()
}

struct InFlight {
    job: Job,
    packet: Vec<u8>,
    authenticator: [u8; 16],
    first_sent: Instant,
    due: Instant,
    wait: Duration,
    attempts: u32,
    bad_reply: Option<String>,
}

fn bind(source: Option<IpAddr>, target: SocketAddr) -> std::io::Result<UdpSocket> {
    let local = match (source, target) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, SocketAddr::V4(_)) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        (None, SocketAddr::V6(_)) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(target)?;
    Ok(socket)
}

/// The request in flight that `data` validly answers, and the answer; a
/// reply that matches an identifier but not its request is noted on it.
fn answer_to(data: &[u8], in_flight: &mut HashMap<u8, InFlight>) -> Option<(u8, Answer)> {
    let id = radius::peek_id(data)?;
    let f = in_flight.get_mut(&id)?;
    let r = &f.job.request;
    match coa::read_answer(data, r.kind, &f.authenticator, r.secret.as_bytes()) {
        Ok(answer) => Some((id, answer)),
        Err(bad) => {
            f.bad_reply = Some(bad.to_string());
            None
        }
    }
}

/// One router's worker: takes jobs from `jobs`, `per_router` in flight at
/// a time, until idle for [`IDLE_WORKER`], the dispatcher is gone, `stop`,
/// or its socket cannot be set up (every job then fails with why, and the
/// next one starts a worker that tries again).
fn work(
    target: SocketAddr,
    source: Option<IpAddr>,
    jobs: &Receiver<Job>,
    closed: &parking_lot::Mutex<bool>,
    opts: &SendOptions,
    on_done: &OnDone,
    stop: &AtomicBool,
) {
    let socket = bind(source, target);
    let window = opts.per_router.clamp(1, 256);
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut free_ids: VecDeque<u8> = (0..=255).collect();
    let mut in_flight: HashMap<u8, InFlight> = HashMap::new();
    let mut builder = Builder::new();
    let mut buf = [0u8; radius::MAX_PACKET];
    let finish = |job: Job, delivery: Delivery, attempts: u32| {
        on_done(Done {
            key: job.key,
            outcome: Outcome { delivery, attempts },
        });
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // New jobs: wait for one when idle, else take what is there.
        if in_flight.is_empty() && waiting.is_empty() {
            match jobs.recv_timeout(IDLE_WORKER) {
                Ok(job) => waiting.push_back(job),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    // Under the lock the dispatcher sends with: nothing
                    // arrives after the last look.
                    let mut c = closed.lock();
                    match jobs.try_recv() {
                        Ok(job) => waiting.push_back(job),
                        Err(_) => {
                            *c = true;
                            return;
                        }
                    }
                }
            }
        }
        while let Ok(job) = jobs.try_recv() {
            waiting.push_back(job);
        }
        let socket = match &socket {
            Ok(s) => s,
            Err(e) => {
                let from = source.map_or_else(|| "any address".to_owned(), |s| s.to_string());
                let why = format!("cannot send from {from} to {target}: {e}");
                let mut c = closed.lock();
                while let Ok(job) = jobs.try_recv() {
                    waiting.push_back(job);
                }
                *c = true;
                drop(c);
                for job in waiting.drain(..) {
                    finish(job, Delivery::Failed(why.clone()), 0);
                }
                return;
            }
        };
        while in_flight.len() < window && !free_ids.is_empty() {
            let Some(job) = waiting.pop_front() else {
                break;
            };
            let Some(id) = free_ids.front().copied() else {
                waiting.push_front(job);
                break;
            };
            let r = &job.request;
            let built = coa::build(
                &mut builder,
                r.kind,
                id,
                &r.session,
                &r.attributes,
                crate::clock::now(),
                r.secret.as_bytes(),
            );
            let authenticator = match built {
                Ok(a) => a,
                Err(why) => {
                    finish(job, Delivery::Failed(why), 0);
                    continue;
                }
            };
            free_ids.pop_front();
            let packet = builder.packet().to_vec();
            // A send error (no route yet, ICMP from an earlier packet) is
            // one more try that got no answer: retransmission covers it.
            let _ = socket.send(&packet);
            let now = Instant::now();
            in_flight.insert(
                id,
                InFlight {
                    job,
                    packet,
                    authenticator,
                    first_sent: now,
                    due: now + opts.first_timeout,
                    wait: opts.first_timeout,
                    attempts: 1,
                    bad_reply: None,
                },
            );
        }
        let now = Instant::now();
        let next_due = in_flight
            .values()
            .map(|f| f.due)
            .min()
            .unwrap_or(now + POLL);
        let wait = next_due
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), POLL);
        let _ = socket.set_read_timeout(Some(wait));
        // A timeout, or an ICMP refusal of an earlier packet, reads as
        // nothing: what is due is retransmitted below either way.
        if let Ok(n) = socket.recv(&mut buf) {
            if let Some((id, answer)) = answer_to(&buf[..n], &mut in_flight) {
                if let Some(f) = in_flight.remove(&id) {
                    free_ids.push_back(id);
                    let rtt = f.first_sent.elapsed();
                    finish(f.job, Delivery::Answered { answer, rtt }, f.attempts);
                }
            }
        }
        let now = Instant::now();
        let expired: Vec<u8> = in_flight
            .iter()
            .filter(|(_, f)| f.due <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(f) = in_flight.get_mut(&id) else {
                continue;
            };
            if f.attempts < opts.tries.max(1) {
                let _ = socket.send(&f.packet);
                f.attempts += 1;
                f.wait = f.wait.saturating_mul(2);
                f.due = now + f.wait;
            } else if let Some(f) = in_flight.remove(&id) {
                free_ids.push_back(id);
                let attempts = f.attempts;
                let delivery = Delivery::NoAnswer {
                    bad_reply: f.bad_reply,
                };
                finish(f.job, delivery, attempts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A NAS on loopback that answers each request with `code` (after
    /// ignoring the first `drop_first` datagrams), until `stop` datagrams.
    fn nas(code: u8, drop_first: usize, stop: usize) -> (SocketAddr, Arc<AtomicUsize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let k = count.fetch_add(1, Ordering::SeqCst);
                if k < drop_first {
                    continue;
                }
                let req_auth: [u8; 16] = buf[4..20].try_into().unwrap();
                let mut b = Builder::new();
                b.start(code, buf[1], &req_auth);
                b.finish_access(b"s", false);
                // Response Authenticator: MD5 over the reply with the
                // request's authenticator, then the secret.
                let mut reply = b.packet().to_vec();
                let mut h = <md5::Md5 as md5::Digest>::new();
                md5::Digest::update(&mut h, &reply);
                md5::Digest::update(&mut h, b"s");
                let ra: [u8; 16] = md5::Digest::finalize(h).into();
                reply[4..20].copy_from_slice(&ra);
                let _ = socket.send_to(&reply, from);
                if k + 1 >= stop || n == 0 {
                    break;
                }
            }
        });
        (addr, seen)
    }

    fn request(target: SocketAddr, kind: Kind, n: usize) -> Request {
        Request {
            target,
            secret: "s".into(),
            kind,
            session: SessionIdentity {
                user_name: format!("user{n}"),
                acct_session_id: format!("sid{n}"),
                framed_ip: None,
                nas_ip: None,
            },
            attributes: vec![ReplyAttribute::new("Mikrotik-Rate-Limit", "1M/2M")],
            source: None,
        }
    }

    fn quick() -> SendOptions {
        SendOptions {
            first_timeout: Duration::from_millis(100),
            per_router: 4,
            ..SendOptions::default()
        }
    }

    #[test]
    fn every_request_to_one_router_is_answered_through_a_small_window() {
        let (addr, seen) = nas(radius::COA_ACK, 0, 50);
        let reqs: Vec<Request> = (0..50).map(|n| request(addr, Kind::Coa, n)).collect();
        let out = send_all(&reqs, &quick());
        assert_eq!(out.len(), 50);
        for o in &out {
            assert!(
                matches!(
                    o.delivery,
                    Delivery::Answered {
                        answer: Answer::Ack,
                        ..
                    }
                ),
                "{o:?}"
            );
            assert_eq!(o.attempts, 1);
        }
        assert_eq!(seen.load(Ordering::SeqCst), 50);
    }

    #[test]
    fn a_lost_request_is_retransmitted_and_then_answered() {
        let (addr, seen) = nas(radius::DISCONNECT_ACK, 1, 2);
        let out = send_all(&[request(addr, Kind::Disconnect, 1)], &quick());
        assert_eq!(out[0].attempts, 2, "{out:?}");
        assert!(matches!(out[0].delivery, Delivery::Answered { .. }));
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_silent_router_gets_every_try_then_no_answer() {
        let (addr, seen) = nas(radius::COA_ACK, usize::MAX, usize::MAX);
        let out = send_all(&[request(addr, Kind::Coa, 1)], &quick());
        assert_eq!(out[0].attempts, 3);
        assert_eq!(out[0].delivery, Delivery::NoAnswer { bad_reply: None });
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn an_answer_of_the_wrong_kind_is_not_taken() {
        // A CoA-ACK to a Disconnect-Request: signed, but no answer to it.
        let (addr, _) = nas(radius::COA_ACK, 0, 3);
        let out = send_all(&[request(addr, Kind::Disconnect, 1)], &quick());
        match &out[0].delivery {
            Delivery::NoAnswer {
                bad_reply: Some(why),
            } => assert!(why.contains("44"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_silent_router_does_not_hold_up_another_routers_answers() {
        let (silent, _) = nas(radius::COA_ACK, usize::MAX, usize::MAX);
        let (answering, _) = nas(radius::COA_ACK, 0, 1);
        let (tx, rx) = mpsc::channel::<(Done, Instant)>();
        let tx = parking_lot::Mutex::new(tx);
        let on_done: OnDone = Arc::new(move |d| {
            let _ = tx.lock().send((d, Instant::now()));
        });
        let mut d = Dispatcher::new(quick(), on_done);
        let start = Instant::now();
        d.send(Job {
            key: 1,
            request: request(silent, Kind::Coa, 1),
        });
        d.send(Job {
            key: 2,
            request: request(answering, Kind::Coa, 2),
        });
        let (first, at) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(first.key, 2);
        assert!(at - start < Duration::from_millis(90), "{:?}", at - start);
        let (second, _) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(second.key, 1);
        assert_eq!(second.outcome.attempts, 3);
    }

    #[test]
    fn a_source_address_that_is_not_local_fails_every_request_clearly() {
        let target = "127.0.0.1:9".parse().unwrap();
        let mut r = request(target, Kind::Coa, 1);
        r.source = Some("192.0.2.77".parse().unwrap());
        let out = send_all(&[r], &quick());
        match &out[0].delivery {
            Delivery::Failed(why) => assert!(why.contains("192.0.2.77"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
