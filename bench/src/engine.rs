//! The send/receive loop of one generator thread: a few connected UDP
//! sockets (256 identifiers each), non-blocking, multiplexed with ppoll so
//! the thread sleeps whenever it has nothing to do. A reply is matched by
//! (socket, identifier) and accepted only if its Response Authenticator
//! verifies against the pending request.

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
}

/// What one thread is asked to do.
#[derive(Clone)]
pub struct Plan {
    pub server: SocketAddr,
    pub mode: Mode,
    pub sockets: usize,
    /// Requests in flight at most (this thread).
    pub window: usize,
    /// Requests per second for this thread; 0 = as fast as replies allow.
    pub rate: f64,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub timeout: Duration,
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
    pub timeouts: u64,
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
        self.bad_replies += o.bad_replies;
        self.unmatched += o.unmatched;
        self.skipped += o.skipped;
        self.send_errors += o.send_errors;
        self.latencies_us.extend(o.latencies_us);
        self.first_send = match (self.first_send, o.first_send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_reply = match (self.last_reply, o.last_reply) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

#[derive(Clone, Copy)]
struct Pending {
    sent_at: Instant,
    authenticator: [u8; 16],
    /// Accounting: index into the session table.
    session: usize,
}

struct Sock {
    socket: UdpSocket,
    pending: Vec<Option<Pending>>,
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
    let mut socks = Vec::with_capacity(plan.sockets);
    for _ in 0..plan.sockets.max(1) {
        socks.push(Sock {
            socket: open_socket(plan.server)?,
            pending: vec![None; 256],
            in_flight: 0,
            next_id: 0,
        });
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

    // Accounting: one session per window slot, each with at most one packet
    // in flight, so a session's Interim never overtakes its Start.
    let mut cursor = plan.first_subscriber;
    let mut session_counter: u32 = 0;
    let mut new_session = |cursor: &mut usize| {
        let index = *cursor % subs.len();
        *cursor += 1;
        session_counter = session_counter.wrapping_add(1);
        Session::new(
            index,
            format!(
                "{:08X}{:02X}{:06X}",
                plan.run_tag,
                plan.thread,
                session_counter & 0x00ff_ffff
            ),
        )
    };
    let (mut sessions, mut ready): (Vec<Session>, VecDeque<usize>) = match plan.mode {
        Mode::Acct { .. } => (
            (0..window).map(|_| new_session(&mut cursor)).collect(),
            (0..window).collect(),
        ),
        Mode::Auth => (Vec::new(), VecDeque::new()),
    };

    let start = Instant::now();
    let deadline = plan.duration.map(|d| start + d);
    let interval = if plan.rate > 0.0 {
        Some(Duration::from_secs_f64(1.0 / plan.rate))
    } else {
        None
    };
    let mut scheduled: u64 = 0; // rate mode: sends due so far
    let mut in_flight = 0usize;
    let mut next_sock = 0usize;
    let mut last_scan = start;
    let scan_every = Duration::from_millis(5).min(plan.timeout / 4);

    loop {
        let now = Instant::now();
        let sending = deadline.is_none_or(|d| now < d) && plan.count.is_none_or(|c| scheduled < c);
        if !sending && in_flight == 0 {
            break;
        }

        // Send what is due.
        if sending {
            loop {
                if plan.count.is_some_and(|c| scheduled >= c) {
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
                let session = match plan.mode {
                    Mode::Acct { .. } => match ready.pop_front() {
                        Some(k) => k,
                        None => {
                            if interval.is_some() {
                                scheduled += 1;
                                t.skipped += 1;
                                continue;
                            }
                            break;
                        }
                    },
                    Mode::Auth => 0,
                };
                // A socket with a free identifier.
                let mut chosen = None;
                for k in 0..socks.len() {
                    let i = (next_sock + k) % socks.len();
                    if let Some(id) = socks[i].free_id() {
                        chosen = Some((i, id));
                        break;
                    }
                }
                let Some((si, id)) = chosen else {
                    if let Mode::Acct { .. } = plan.mode {
                        ready.push_front(session);
                    }
                    break;
                };
                next_sock = (si + 1) % socks.len();
                let (pkt, authenticator) = match plan.mode {
                    Mode::Auth => {
                        let index = cursor % subs.len();
                        cursor += 1;
                        let a = rng.authenticator();
                        workload::access_request(
                            &mut builder,
                            &plan.nas,
                            id,
                            &a,
                            index,
                            &subs[index],
                        );
                        (
                            builder.finish_access(&secret, plan.nas.message_authenticator),
                            a,
                        )
                    }
                    Mode::Acct { .. } => {
                        let s = &sessions[session];
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
                };
                let sent_at = Instant::now();
                match socks[si].socket.send(pkt) {
                    Ok(_) => {
                        socks[si].pending[id as usize] = Some(Pending {
                            sent_at,
                            authenticator,
                            session,
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
                        if let Mode::Acct { .. } = plan.mode {
                            ready.push_front(session);
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
                            match reply.code {
                                packet::ACCESS_ACCEPT => {
                                    t.accepts += 1;
                                    if reply.has_rate_limit {
                                        t.accepts_with_rate += 1;
                                    }
                                }
                                packet::ACCESS_REJECT => t.rejects += 1,
                                packet::ACCOUNTING_RESPONSE => t.acct_responses += 1,
                                _ => t.other_codes += 1,
                            }
                            let us = at.duration_since(p.sent_at).as_micros();
                            t.latencies_us.push(us.min(u128::from(u32::MAX)) as u32);
                            t.last_reply = Some(at);
                            if let Mode::Acct { interims } = plan.mode {
                                finish_session(
                                    &mut sessions,
                                    &mut ready,
                                    p.session,
                                    interims,
                                    &mut cursor,
                                    &mut new_session,
                                );
                            }
                        }
                        Err(_) => t.bad_replies += 1,
                    }
                }
            }
        }

        // Expire requests that waited too long.
        let now = Instant::now();
        if now >= last_scan + scan_every {
            last_scan = now;
            for sock in socks.iter_mut() {
                if sock.in_flight == 0 {
                    continue;
                }
                for slot in sock.pending.iter_mut() {
                    if let Some(p) = *slot {
                        if now.duration_since(p.sent_at) >= plan.timeout {
                            *slot = None;
                            sock.in_flight -= 1;
                            in_flight -= 1;
                            t.timeouts += 1;
                            if let Mode::Acct { interims } = plan.mode {
                                finish_session(
                                    &mut sessions,
                                    &mut ready,
                                    p.session,
                                    interims,
                                    &mut cursor,
                                    &mut new_session,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(t)
}

/// A session's packet is done (answered or given up): move it on, or
/// replace it with a new session of the next subscriber.
fn finish_session(
    sessions: &mut [Session],
    ready: &mut VecDeque<usize>,
    k: usize,
    interims: u32,
    cursor: &mut usize,
    new_session: &mut impl FnMut(&mut usize) -> Session,
) {
    if !sessions[k].advance(interims) {
        sessions[k] = new_session(cursor);
    }
    ready.push_back(k);
}
