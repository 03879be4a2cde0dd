//! The send/receive loop of one generator thread: a few connected UDP
//! sockets (256 identifiers each), non-blocking, multiplexed with ppoll so
//! the thread sleeps whenever it has nothing to do. A reply is matched by
//! (socket, identifier) and accepted only if its Response Authenticator
//! verifies against the pending request. A request not answered within
//! the timeout is sent again, byte for byte, as a NAS retransmits, up to
//! the plan's tries.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::workload::{self, Nas, Rng, Session, Subscriber};
use netily_core::radius::{self as packet, Builder, MAX_PACKET};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Access-Request (PAP) for each subscriber in turn.
    Auth,
    /// Sessions: Start, `interims` Interim-Updates, Stop.
    Acct { interims: u32 },
    /// Subscribers dialling in, as a NAS handles each: Access-Request, and
    /// on Access-Accept an Accounting-Start; the session stays open. Each
    /// subscriber once: `count` of them from `first_subscriber` on.
    Login,
    /// Accounting-On (the NAS restarted), `count` times.
    NasOn,
}

/// What one thread is asked to do.
#[derive(Clone)]
pub struct Plan {
    /// Where Access-Requests go (and, but in Login mode, every request).
    pub server: SocketAddr,
    /// Login mode: where its Accounting-Requests go.
    pub acct_server: SocketAddr,
    pub mode: Mode,
    pub sockets: usize,
    /// Requests in flight at most (this thread).
    pub window: usize,
    /// Requests per second for this thread; 0 = as fast as replies allow.
    pub rate: f64,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub timeout: Duration,
    /// Sends of one request at most: 1 = never retransmitted.
    pub tries: u32,
    pub nas: Nas,
    pub subscribers: Arc<Vec<Subscriber>>,
    /// Where in the (shuffled) subscriber list this thread starts.
    pub first_subscriber: usize,
    pub thread: u8,
    /// Random per run, so Acct-Session-Ids never repeat across runs.
    pub run_tag: u32,
    pub seed: u64,
}

/// What one thread saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: u64,
    pub accepts: u64,
    /// Access-Accepts that carried a Mikrotik-Rate-Limit.
    pub accepts_with_rate: u64,
    pub rejects: u64,
    pub acct_responses: u64,
    pub other_codes: u64,
    /// Waits past the timeout (each try of a request counts).
    pub timeouts: u64,
    /// Requests sent again after a timeout.
    pub retransmits: u64,
    /// Requests given up after their last try timed out.
    pub gave_up: u64,
    /// Replies whose authenticator or length did not verify.
    pub bad_replies: u64,
    /// Replies to no pending request (e.g. after their timeout).
    pub unmatched: u64,
    /// Rate mode: scheduled requests not sent because the window was full.
    pub skipped: u64,
    pub send_errors: u64,
    /// Latency of each verified reply, microseconds.
    pub latencies_us: Vec<u32>,
    pub first_send: Option<Instant>,
    pub last_reply: Option<Instant>,
    pub last_accept: Option<Instant>,
    pub last_acct_response: Option<Instant>,
    /// Login mode: when each Access-Accept and each Start's answer came.
    pub accepted_at: Vec<Instant>,
    pub started_at: Vec<Instant>,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Tally {
    pub fn replies(&self) -> u64 {
        self.accepts + self.rejects + self.acct_responses + self.other_codes
    }

    pub fn merge(&mut self, o: Tally) {
        self.sent += o.sent;
        self.accepts += o.accepts;
        self.accepts_with_rate += o.accepts_with_rate;
        self.rejects += o.rejects;
        self.acct_responses += o.acct_responses;
        self.other_codes += o.other_codes;
        self.timeouts += o.timeouts;
        self.retransmits += o.retransmits;
        self.gave_up += o.gave_up;
        self.bad_replies += o.bad_replies;
        self.unmatched += o.unmatched;
        self.skipped += o.skipped;
        self.send_errors += o.send_errors;
        self.latencies_us.extend(o.latencies_us);
        self.first_send = earliest(self.first_send, o.first_send);
        self.last_reply = latest(self.last_reply, o.last_reply);
        self.last_accept = latest(self.last_accept, o.last_accept);
        self.last_acct_response = latest(self.last_acct_response, o.last_acct_response);
        self.accepted_at.extend(o.accepted_at);
        self.started_at.extend(o.started_at);
    }
}

#[derive(Clone, Copy)]
struct Pending {
    sent_at: Instant,
    authenticator: [u8; 16],
    /// Accounting and logins: the window slot (index into `Slots`).
    session: usize,
    /// Sends so far, the first included.
    tries: u32,
}

struct Sock {
    socket: UdpSocket,
    /// Connected to the accounting server (Login mode has both kinds).
    acct: bool,
    pending: Vec<Option<Pending>>,
    /// Each pending request's bytes, kept for retransmits (tries > 1).
    packets: Vec<Vec<u8>>,
    in_flight: usize,
    next_id: u8,
}

impl Sock {
    fn free_id(&mut self) -> Option<u8> {
        if self.in_flight >= 256 {
            return None;
        }
        // Round robin: an identifier is reused as late as possible, so a
        // straggling reply to an old request cannot match a new one.
        for _ in 0..256 {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if self.pending[id as usize].is_none() {
                return Some(id);
            }
        }
        None
    }
}

fn open_socket(server: SocketAddr) -> Result<UdpSocket, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
            .parse()
            .map_err(|_| "bind address".to_string())?
    } else {
        "[::]:0".parse().map_err(|_| "bind address".to_string())?
    };
    let s = UdpSocket::bind(bind).map_err(|e| format!("binding a UDP socket: {e}"))?;
    s.connect(server)
        .map_err(|e| format!("connecting to {server}: {e}"))?;
    s.set_nonblocking(true)
        .map_err(|e| format!("non-blocking socket: {e}"))?;
    // Large buffers: a burst of replies must not be dropped while this
    // thread is busy sending.
    let size: libc::c_int = 4 << 20;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: valid fd owned by `s`, pointer to a live c_int and its size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    Ok(s)
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// Waits until a socket is readable or `timeout` passes (nanosecond
/// precision, unlike poll's milliseconds: rate mode paces with it).
fn wait(fds: &mut [libc::pollfd], timeout: Duration) -> usize {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    for f in fds.iter_mut() {
        f.revents = 0;
    }
    // SAFETY: fds is a valid slice of pollfd for its length; ts lives across the call.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    n.max(0) as usize
}

/// Runs one thread's share of the load and returns what it saw.
pub fn run(plan: Plan) -> Result<Tally, String> {
    // SAFETY: prctl with an integer argument; 1 ns timer slack makes rate
    // mode's short sleeps wake on time instead of up to 50 us late.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    let kinds: &[bool] = match plan.mode {
        Mode::Auth => &[false],
        Mode::Acct { .. } | Mode::NasOn => &[true],
        Mode::Login => &[false, true],
    };
    let mut socks = Vec::with_capacity(plan.sockets * kinds.len());
    for &acct in kinds {
        let server = match plan.mode {
            Mode::Login if acct => plan.acct_server,
            _ => plan.server,
        };
        for _ in 0..plan.sockets.max(1) {
            socks.push(Sock {
                socket: open_socket(server)?,
                acct,
                pending: vec![None; 256],
                packets: vec![Vec::new(); 256],
                in_flight: 0,
                next_id: 0,
            });
        }
    }
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let window = plan.window.clamp(1, 256 * socks.len());
    let subs = &plan.subscribers;
    let secret = plan.nas.secret.clone();
    let mut rng = Rng::new(plan.seed);
    let mut builder = Builder::new();
    let mut buf = vec![0u8; MAX_PACKET];
    let mut t = Tally {
        latencies_us: Vec::with_capacity(1 << 16),
        ..Tally::default()
    };

    let mut slots = Slots::new(&plan, window);

    let start = Instant::now();
    let deadline = plan.duration.map(|d| start + d);
    let interval = if plan.rate > 0.0 {
        Some(Duration::from_secs_f64(1.0 / plan.rate))
    } else {
        None
    };
    // Login counts subscribers, not packets: it ends when they are done.
    let packet_limit = match plan.mode {
        Mode::Login => None,
        _ => plan.count,
    };
    let tries = plan.tries.max(1);
    let mut scheduled: u64 = 0; // rate mode: sends due so far
    let mut in_flight = 0usize;
    let mut next_sock = 0usize;
    let mut last_scan = start;
    let scan_every = Duration::from_millis(5).min(plan.timeout / 4);

    loop {
        let now = Instant::now();
        let sending = match plan.mode {
            Mode::Login => !slots.ready.is_empty(),
            _ => deadline.is_none_or(|d| now < d) && packet_limit.is_none_or(|c| scheduled < c),
        };
        if !sending && in_flight == 0 {
            break;
        }

        // Send what is due.
        if sending {
            loop {
                if packet_limit.is_some_and(|c| scheduled >= c) {
                    break;
                }
                if let Some(iv) = interval {
                    if start + iv.mul_f64(scheduled as f64) > now {
                        break;
                    }
                    if in_flight >= window {
                        // Open loop: the schedule does not wait for a slow server.
                        scheduled += 1;
                        t.skipped += 1;
                        continue;
                    }
                } else if in_flight >= window {
                    break;
                }
                let session = if slots.used {
                    match slots.ready.pop_front() {
                        Some(k) => k,
                        None => {
                            if interval.is_some() {
                                scheduled += 1;
                                t.skipped += 1;
                                continue;
                            }
                            break;
                        }
                    }
                } else {
                    0
                };
                let admitted = slots.used && slots.admitted[session];
                let acct = match plan.mode {
                    Mode::Auth => false,
                    Mode::Login => admitted,
                    Mode::Acct { .. } | Mode::NasOn => true,
                };
                // A socket of that kind with a free identifier.
                let mut chosen = None;
                for k in 0..socks.len() {
                    let i = (next_sock + k) % socks.len();
                    if socks[i].acct != acct {
                        continue;
                    }
                    if let Some(id) = socks[i].free_id() {
                        chosen = Some((i, id));
                        break;
                    }
                }
                let Some((si, id)) = chosen else {
                    if slots.used {
                        slots.ready.push_front(session);
                    }
                    break;
                };
                next_sock = (si + 1) % socks.len();
                let (pkt, authenticator) = match plan.mode {
                    Mode::Auth => {
                        let index = slots.cursor % subs.len();
                        slots.cursor += 1;
                        access(&mut builder, &plan.nas, &mut rng, id, index, &subs[index])
                    }
                    Mode::Login if !admitted => {
                        let index = slots.sessions[session].index;
                        access(&mut builder, &plan.nas, &mut rng, id, index, &subs[index])
                    }
                    Mode::Acct { .. } | Mode::Login => {
                        let s = &slots.sessions[session];
                        workload::accounting_request(
                            &mut builder,
                            &plan.nas,
                            id,
                            &subs[s.index],
                            s,
                            unix_now(),
                        );
                        builder.finish_accounting(&secret)
                    }
                    Mode::NasOn => {
                        workload::accounting_on(&mut builder, &plan.nas, id, unix_now());
                        builder.finish_accounting(&secret)
                    }
                };
                let sent_at = Instant::now();
                match socks[si].socket.send(pkt) {
                    Ok(_) => {
                        if tries > 1 {
                            let kept = &mut socks[si].packets[id as usize];
                            kept.clear();
                            kept.extend_from_slice(pkt);
                        }
                        socks[si].pending[id as usize] = Some(Pending {
                            sent_at,
                            authenticator,
                            session,
                            tries: 1,
                        });
                        socks[si].in_flight += 1;
                        in_flight += 1;
                        t.sent += 1;
                        scheduled += 1;
                        t.first_send.get_or_insert(sent_at);
                    }
                    Err(e) => {
                        if e.kind() != ErrorKind::WouldBlock {
                            t.send_errors += 1;
                        }
                        if slots.used {
                            slots.ready.push_front(session);
                        }
                        break;
                    }
                }
            }
        }

        // Sleep until a reply, the next scheduled send, or the next timeout scan.
        let now = Instant::now();
        let mut until = last_scan + scan_every;
        if sending {
            if let Some(iv) = interval {
                until = until.min(start + iv.mul_f64(scheduled as f64));
            }
            if let Some(d) = deadline {
                until = until.min(d);
            }
        }
        let ready_fds = wait(&mut fds, until.saturating_duration_since(now));

        if ready_fds > 0 {
            for (si, f) in fds.iter().enumerate() {
                if f.revents & libc::POLLIN == 0 {
                    continue;
                }
                let sock = &mut socks[si];
                // Until WouldBlock (drained) or an error such as an ICMP refusal.
                while let Ok(n) = sock.socket.recv(&mut buf) {
                    let at = Instant::now();
                    let Some(id) = packet::peek_id(&buf[..n]) else {
                        t.bad_replies += 1;
                        continue;
                    };
                    let Some(p) = sock.pending[id as usize] else {
                        t.unmatched += 1;
                        continue;
                    };
                    match packet::check_reply(&buf[..n], &p.authenticator, &secret) {
                        Ok(reply) => {
                            sock.pending[id as usize] = None;
                            sock.in_flight -= 1;
                            in_flight -= 1;
                            let accepted = reply.code == packet::ACCESS_ACCEPT;
                            if plan.mode == Mode::Login {
                                match reply.code {
                                    packet::ACCESS_ACCEPT => t.accepted_at.push(at),
                                    packet::ACCOUNTING_RESPONSE => t.started_at.push(at),
                                    _ => {}
                                }
                            }
                            match reply.code {
                                packet::ACCESS_ACCEPT => {
                                    t.accepts += 1;
                                    t.last_accept = Some(at);
                                    if reply.has_rate_limit {
                                        t.accepts_with_rate += 1;
                                    }
                                }
                                packet::ACCESS_REJECT => t.rejects += 1,
                                packet::ACCOUNTING_RESPONSE => {
                                    t.acct_responses += 1;
                                    t.last_acct_response = Some(at);
                                }
                                _ => t.other_codes += 1,
                            }
                            let us = at.duration_since(p.sent_at).as_micros();
                            t.latencies_us.push(us.min(u128::from(u32::MAX)) as u32);
                            t.last_reply = Some(at);
                            slots.done(plan.mode, p.session, accepted);
                        }
                        Err(_) => t.bad_replies += 1,
                    }
                }
            }
        }

        // Retransmit, or give up on, requests that waited too long.
        let now = Instant::now();
        if now >= last_scan + scan_every {
            last_scan = now;
            for sock in socks.iter_mut() {
                if sock.in_flight == 0 {
                    continue;
                }
                for id in 0..sock.pending.len() {
                    let Some(p) = sock.pending[id] else {
                        continue;
                    };
                    if now.duration_since(p.sent_at) < plan.timeout {
                        continue;
                    }
                    t.timeouts += 1;
                    if p.tries < tries {
                        // As a NAS does: the same packet again (same
                        // identifier and authenticator, so either answer counts).
                        match sock.socket.send(&sock.packets[id]) {
                            Ok(_) => t.retransmits += 1,
                            Err(_) => t.send_errors += 1,
                        }
                        sock.pending[id] = Some(Pending {
                            sent_at: now,
                            tries: p.tries + 1,
                            ..p
                        });
                        continue;
                    }
                    sock.pending[id] = None;
                    sock.in_flight -= 1;
                    in_flight -= 1;
                    t.gave_up += 1;
                    slots.done(plan.mode, p.session, false);
                }
            }
        }
    }
    Ok(t)
}

/// Runs `base` on `threads` generator threads, each with its share of the
/// rate and the count and its own part of the first `span` subscribers
/// (`base.window` is each thread's), and adds up what they saw.
pub fn run_threads(
    base: &Plan,
    threads: usize,
    span: usize,
    rng: &mut Rng,
) -> Result<Tally, String> {
    let n = threads.max(1) as u64;
    let mut handles = Vec::new();
    for t in 0..n {
        let plan = Plan {
            rate: base.rate / n as f64,
            count: base.count.map(|c| c / n + u64::from(t < c % n)),
            first_subscriber: base.first_subscriber + t as usize * span / n as usize,
            thread: t as u8,
            seed: rng.next_u64(),
            ..base.clone()
        };
        handles.push(std::thread::spawn(move || run(plan)));
    }
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(h.join().map_err(|_| "a generator thread panicked")??);
    }
    Ok(tally)
}

/// An Access-Request (PAP) for subscriber `index`, and its authenticator.
fn access<'b>(
    builder: &'b mut Builder,
    nas: &Nas,
    rng: &mut Rng,
    id: u8,
    index: usize,
    subscriber: &Subscriber,
) -> (&'b [u8], [u8; 16]) {
    let a = rng.authenticator();
    workload::access_request(builder, nas, id, &a, index, subscriber);
    (
        builder.finish_access(&nas.secret, nas.message_authenticator),
        a,
    )
}

/// Accounting and logins: one session per window slot, each with at most
/// one packet in flight, so a session's Interim never overtakes its Start.
struct Slots {
    /// False for modes without sessions (Auth, NasOn).
    used: bool,
    sessions: Vec<Session>,
    /// Login: the slot's subscriber was accepted (its Start is next).
    admitted: Vec<bool>,
    /// Slots whose next packet may be sent.
    ready: VecDeque<usize>,
    /// The next subscriber (index into the subscriber list, modulo its length).
    cursor: usize,
    subscribers: usize,
    /// Login: subscribers not begun yet (None: no end).
    left: Option<u64>,
    counter: u32,
    run_tag: u32,
    thread: u8,
}

impl Slots {
    fn new(plan: &Plan, window: usize) -> Slots {
        let mut slots = Slots {
            used: matches!(plan.mode, Mode::Acct { .. } | Mode::Login),
            sessions: Vec::new(),
            admitted: Vec::new(),
            ready: VecDeque::new(),
            cursor: plan.first_subscriber,
            subscribers: plan.subscribers.len(),
            left: match plan.mode {
                Mode::Login => Some(plan.count.unwrap_or(plan.subscribers.len() as u64)),
                _ => None,
            },
            counter: 0,
            run_tag: plan.run_tag,
            thread: plan.thread,
        };
        if slots.used {
            for k in 0..window {
                let Some(s) = slots.next_session() else {
                    break;
                };
                slots.sessions.push(s);
                slots.admitted.push(false);
                slots.ready.push_back(k);
            }
        }
        slots
    }

    /// A new session of the next subscriber, unless none is left.
    fn next_session(&mut self) -> Option<Session> {
        if let Some(left) = self.left.as_mut() {
            *left = left.checked_sub(1)?;
        }
        let index = self.cursor % self.subscribers;
        self.cursor += 1;
        self.counter = self.counter.wrapping_add(1);
        Some(Session::new(
            index,
            format!(
                "{:08X}{:02X}{:06X}",
                self.run_tag,
                self.thread,
                self.counter & 0x00ff_ffff
            ),
        ))
    }

    /// Slot `k`'s packet is done (answered, `accepted` if by an
    /// Access-Accept, or given up): move its session on, or give the slot
    /// the next subscriber's, or (none left) let it rest.
    fn done(&mut self, mode: Mode, k: usize, accepted: bool) {
        let next = match mode {
            Mode::Acct { interims } => !self.sessions[k].advance(interims),
            Mode::Login if accepted && !self.admitted[k] => {
                self.admitted[k] = true;
                false
            }
            Mode::Login => true,
            Mode::Auth | Mode::NasOn => return,
        };
        if next {
            let Some(s) = self.next_session() else {
                return;
            };
            self.sessions[k] = s;
            self.admitted[k] = false;
        }
        self.ready.push_back(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(mode: Mode, count: Option<u64>) -> Plan {
        let subscribers = (0..10)
            .map(|i| Subscriber {
                username: format!("u{i}"),
                password: "p".into(),
            })
            .collect();
        let server: SocketAddr = "127.0.0.1:1812".parse().unwrap();
        Plan {
            server,
            acct_server: server,
            mode,
            sockets: 1,
            window: 2,
            rate: 0.0,
            duration: None,
            count,
            timeout: Duration::from_secs(3),
            tries: 3,
            nas: Nas {
                secret: b"s".to_vec(),
                ip: [127, 0, 0, 1],
                message_authenticator: false,
            },
            subscribers: Arc::new(subscribers),
            first_subscriber: 4,
            thread: 0,
            run_tag: 0xABCD_0001,
            seed: 1,
        }
    }

    #[test]
    fn login_is_access_request_then_start_and_each_subscriber_once() {
        let p = plan(Mode::Login, Some(3));
        let mut slots = Slots::new(&p, 2);
        // Two slots for the first two of the three subscribers (from the 5th on).
        assert_eq!(slots.ready, [0, 1]);
        assert_eq!(slots.sessions[0].index, 4);
        assert_eq!(slots.sessions[1].index, 5);
        assert!(slots.sessions[0].session_id.starts_with("ABCD0001"));
        // Accepted: the same subscriber's Start is next.
        assert_eq!(slots.ready.pop_front(), Some(0));
        slots.done(Mode::Login, 0, true);
        assert!(slots.admitted[0]);
        assert_eq!(slots.sessions[0].index, 4);
        assert_eq!(slots.sessions[0].stage, crate::workload::Stage::Start);
        // Rejected: the slot takes the last subscriber.
        assert_eq!(slots.ready.pop_front(), Some(1));
        slots.done(Mode::Login, 1, false);
        assert_eq!(slots.sessions[1].index, 6);
        assert!(!slots.admitted[1]);
        // Start answered: no subscriber left, the slot rests.
        assert_eq!(slots.ready.pop_front(), Some(0));
        slots.done(Mode::Login, 0, false);
        assert_eq!(slots.ready, [1]);
    }

    #[test]
    fn accounting_slots_never_run_out() {
        let p = plan(Mode::Acct { interims: 0 }, None);
        let mut slots = Slots::new(&p, 2);
        // Start, then Stop, then the next subscriber's session.
        slots.ready.clear();
        slots.done(p.mode, 0, false);
        assert_eq!(slots.sessions[0].stage, crate::workload::Stage::Stop);
        slots.done(p.mode, 0, false);
        assert_eq!(slots.sessions[0].index, 6);
        assert_eq!(slots.sessions[0].stage, crate::workload::Stage::Start);
        assert_eq!(slots.ready, [0, 0]);
    }
}
