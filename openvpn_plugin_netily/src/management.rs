//! A client of OpenVPN's own management interface, on the unix socket the
//! server config names (`management /run/netily/openvpn-mgmt.sock unix`),
//! used only to end a connected router's tunnel (`kill`).
//!
//! The plugin API of OpenVPN 2.6 has no call that ends a client instance
//! (its callbacks are logging, memzero and base64), and a plugin call that
//! refuses a client only acts at a handshake; the management interface is
//! OpenVPN's supported way to end one at once. It is served by OpenVPN's main
//! thread, so it is used only from a background thread, never from a plugin
//! call: from one, OpenVPN could not answer.
//!
//! Failure behaviour: nothing here waits without a bound. The connect is
//! non-blocking (a unix socket either takes it at once or refuses it: no
//! listener, no file, a full backlog); every read and write has [`TIMEOUT`],
//! so a socket that accepts and never answers (OpenVPN serves one management
//! client at a time, so an operator's open session makes it wait) costs at
//! most that. A socket asking for a password (`management ... pw-file`) is
//! refused with an error saying so. Errors name the socket and the system's
//! reason, never anything OpenVPN sent beyond the reply line.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one exchange with the management interface may take.
pub const TIMEOUT: Duration = Duration::from_millis(1000);

/// The most a reply may hold before we give up on it (OpenVPN's are short).
const MAX_REPLY: usize = 64 * 1024;

/// One client instance to end, as the `kill` command names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `kill IP:PORT`: exactly the instance connected from there.
    Address(SocketAddrV4),
    /// `kill CN`: every instance with this common name (used when the real
    /// address is not IPv4, which `kill IP:PORT` cannot name).
    CommonName(String),
}

impl Target {
    /// The target for a session from `real_address` (`trusted_ip:trusted_port`)
    /// with certificate common name `common_name`; None when neither can be
    /// put on a management command line safely.
    pub fn of(real_address: &str, common_name: &str) -> Option<Target> {
        if let Ok(a) = real_address.parse::<SocketAddrV4>() {
            return Some(Target::Address(a));
        }
        // OpenVPN splits the argument at ':' (IP:PORT) and at blanks.
        let plain = !common_name.is_empty()
            && common_name.len() <= 64
            && common_name
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ':' | '"' | '\\' | '\''));
        plain.then(|| Target::CommonName(common_name.to_owned()))
    }

    pub(crate) fn command(&self) -> String {
        match self {
            Target::Address(a) => format!("kill {a}\n"),
            Target::CommonName(cn) => format!("kill {cn}\n"),
        }
    }
}

/// What OpenVPN said to one `kill`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Killed {
    /// `SUCCESS: ...`: the instance is being ended.
    Yes(String),
    /// `ERROR: ...`: no such instance (already gone).
    NotFound(String),
}

/// The management interface at a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Management {
    path: PathBuf,
}

impl Management {
    pub fn new(path: PathBuf) -> Management {
        Management { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Connects, reads the greeting, and returns the session. `on_connect`
    /// gets a handle to the socket, so another thread can shut it down
    /// (close() does, so it never waits for a reply).
    pub fn connect(&self, on_connect: impl FnOnce(&UnixStream)) -> Result<Session, String> {
        let stream = connect_now(&self.path).map_err(|e| self.failed("cannot connect", &e))?;
        on_connect(&stream);
        let mut session = Session {
            stream,
            path: self.path.clone(),
            buffer: Vec::new(),
        };
        session.greeting()?;
        Ok(session)
    }

    fn failed(&self, what: &str, e: &io::Error) -> String {
        format!("management interface {}: {what}: {e}", self.path.display())
    }
}

/// One connection to the management interface.
pub struct Session {
    stream: UnixStream,
    path: PathBuf,
    /// Bytes read past the last complete line.
    buffer: Vec<u8>,
}

impl Session {
    fn failed(&self, what: &str) -> String {
        format!("management interface {}: {what}", self.path.display())
    }

    /// `>INFO:OpenVPN Management Interface ...`; a password prompt is an error.
    fn greeting(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            // The password prompt has no line end: look at what has come.
            if self.buffer.starts_with(b"ENTER PASSWORD:") {
                return Err(self.failed(
                    "asks for a password (a pw-file on its `management` line); \
                     give it none: the socket's file permissions protect it",
                ));
            }
            if let Some(line) = self.take_line() {
                if line.starts_with(">INFO:") {
                    return Ok(());
                }
                continue;
            }
            self.fill(deadline, "no greeting")?;
        }
    }

    /// Sends `kill` for `target` and reads OpenVPN's answer, skipping
    /// real-time notifications (`>...` lines).
    pub fn kill(&mut self, target: &Target) -> Result<Killed, String> {
        let deadline = Instant::now() + TIMEOUT;
        self.stream
            .set_write_timeout(Some(TIMEOUT))
            .and_then(|()| self.stream.write_all(target.command().as_bytes()))
            .map_err(|e| self.failed(&format!("cannot send kill: {e}")))?;
        loop {
            while let Some(line) = self.take_line() {
                if let Some(rest) = line.strip_prefix("SUCCESS:") {
                    return Ok(Killed::Yes(rest.trim().to_owned()));
                }
                if let Some(rest) = line.strip_prefix("ERROR:") {
                    return Ok(Killed::NotFound(rest.trim().to_owned()));
                }
            }
            self.fill(deadline, "no answer to kill")?;
        }
    }

    /// Says goodbye (best effort: OpenVPN also copes with a closed socket).
    pub fn quit(mut self) {
        let _ = self.stream.write_all(b"quit\n");
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// The next complete line in the buffer (without its line end), as text
    /// with anything odd replaced.
    fn take_line(&mut self) -> Option<String> {
        let end = self.buffer.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buffer.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line);
        Some(
            text.trim_end_matches(['\r', '\n'])
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        )
    }

    /// Reads more, waiting until `deadline` at most.
    fn fill(&mut self, deadline: Instant, what: &str) -> Result<(), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.failed(&format!("{what} within {TIMEOUT:?}")));
        }
        if self.buffer.len() >= MAX_REPLY {
            return Err(self.failed("reply too long"));
        }
        let mut chunk = [0u8; 4096];
        let read = self
            .stream
            .set_read_timeout(Some(left))
            .and_then(|()| self.stream.read(&mut chunk));
        match read {
            Ok(0) => Err(self.failed("closed the connection")),
            Ok(n) => {
                self.buffer
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(self.failed(&format!("{what} within {TIMEOUT:?}")))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(self.failed(&format!("{what}: {e}"))),
        }
    }
}

/// A unix stream connect that never waits: a unix socket takes the
/// connection into its backlog at once or refuses it (EAGAIN when the
/// backlog is full), so a non-blocking connect is complete when it returns.
fn connect_now(path: &Path) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.is_empty() || bytes.len() >= address.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a usable unix socket path (empty, too long or with a NUL byte)",
        ));
    }
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, &b) in address.sun_path.iter_mut().zip(bytes) {
        *slot = b as libc::c_char;
    }
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a socket we just opened and own alone; OwnedFd closes it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let length = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: address is a valid sockaddr_un with a NUL-terminated path
    // (zeroed above, the path shorter than sun_path), length within it.
    let rc = unsafe {
        libc::connect(
            fd,
            std::ptr::addr_of!(address).cast::<libc::sockaddr>(),
            length as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let stream = UnixStream::from(socket);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::os::unix::net::UnixListener;

    fn socket_path(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("netily-mgmt-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A management interface that greets, then answers each line with what
    /// `answer` says, and reports the commands it got.
    fn fake(
        tag: &str,
        greeting: &'static str,
        answer: fn(&str) -> Option<String>,
    ) -> (Management, std::thread::JoinHandle<Vec<String>>) {
        let path = socket_path(tag);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(greeting.as_bytes()).unwrap();
            let mut got = Vec::new();
            let reader = io::BufReader::new(stream.try_clone().unwrap());
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if line == "quit" {
                    break;
                }
                if let Some(reply) = answer(&line) {
                    stream.write_all(reply.as_bytes()).unwrap();
                }
                got.push(line);
            }
            got
        });
        (Management::new(path), server)
    }

    #[test]
    fn kills_by_address_and_reads_through_notifications() {
        let (m, server) = fake(
            "ok",
            ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n",
            |line| {
                Some(match line {
                    "kill 172.30.1.2:40000" => {
                        ">CLIENT:DISCONNECT,3\r\nSUCCESS: 1 client(s) at address 172.30.1.2:40000 killed\r\n"
                            .into()
                    }
                    _ => "ERROR: client at address 172.30.9.9:1 not found\r\n".into(),
                })
            },
        );
        let mut s = m.connect(|_| {}).unwrap();
        let a = Target::of("172.30.1.2:40000", "tower-1").unwrap();
        assert_eq!(
            s.kill(&a).unwrap(),
            Killed::Yes("1 client(s) at address 172.30.1.2:40000 killed".into())
        );
        let gone = Target::of("172.30.9.9:1", "x").unwrap();
        assert!(matches!(s.kill(&gone).unwrap(), Killed::NotFound(_)));
        s.quit();
        assert_eq!(
            server.join().unwrap(),
            ["kill 172.30.1.2:40000", "kill 172.30.9.9:1"]
        );
        let _ = std::fs::remove_file(m.path());
    }

    #[test]
    fn a_silent_socket_costs_one_timeout_and_a_password_is_refused() {
        // Accepts (the backlog does) and never says anything.
        let path = socket_path("silent");
        let _listener = UnixListener::bind(&path).unwrap();
        let t = Instant::now();
        let e = Management::new(path.clone()).connect(|_| {}).err().unwrap();
        assert!(t.elapsed() < TIMEOUT * 2, "{:?}", t.elapsed());
        assert!(e.contains("no greeting within"), "{e}");
        let _ = std::fs::remove_file(&path);

        let (m, _server) = fake("pw", "ENTER PASSWORD:", |_| None);
        let e = m.connect(|_| {}).err().unwrap();
        assert!(e.contains("asks for a password"), "{e}");
        let _ = std::fs::remove_file(m.path());

        // No socket at all: at once, with the reason.
        let e = Management::new(socket_path("none"))
            .connect(|_| {})
            .err()
            .unwrap();
        assert!(e.contains("cannot connect: No such file"), "{e}");
    }

    #[test]
    fn a_kill_that_gets_no_answer_times_out() {
        let (m, _server) = fake("mute", ">INFO:hello\r\n", |_| None);
        let mut s = m.connect(|_| {}).unwrap();
        let t = Instant::now();
        let e = s.kill(&Target::of("10.0.0.1:1", "r").unwrap()).unwrap_err();
        assert!(e.contains("no answer to kill within"), "{e}");
        assert!(t.elapsed() < TIMEOUT * 2, "{:?}", t.elapsed());
        let _ = std::fs::remove_file(m.path());
    }

    #[test]
    fn targets_are_addresses_or_plain_common_names() {
        assert_eq!(
            Target::of("1.2.3.4:5", "r").map(|t| t.command()),
            Some("kill 1.2.3.4:5\n".into())
        );
        assert_eq!(
            Target::of("2001:db8::1:1194", "tower-7").map(|t| t.command()),
            Some("kill tower-7\n".into())
        );
        for bad in ["", "a b", "a:b", "a\nkill x", "q\"", "x\\"] {
            assert_eq!(Target::of("2001:db8::1:1194", bad), None, "{bad:?}");
        }
    }
}
