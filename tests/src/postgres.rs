//! A real, private PostgreSQL for tests, stopped and removed when the guard drops.
//!
//! [`TestDb`] is what most tests want: a fresh, empty database and its URL.
//! When `NETILY_TEST_PG` names a running cluster (as `make test` arranges) the
//! database is created there and dropped afterwards; otherwise the `TestDb`
//! starts its own [`PgCluster`] in a temp dir.
//!
//! [`PgCluster`] is also usable directly, e.g. to stop the database in the
//! middle of a test and bring it back with [`PgCluster::start_again`].
//!
//! [`Replicated`] is a primary and a streaming standby with one database
//! and a URL naming both hosts, for failover tests:
//! [`Replicated::failover`] stops the primary as a crash would and promotes
//! the standby.
//!
//! initdb and postgres refuse to run as root, so when the tests run as root
//! the server runs as the `postgres` user (override with `NETILY_PG_USER`).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Role and password every test database is owned by, mirroring production
/// (`make run` creates the same role): tests run as a non-superuser owner.
pub const ROLE: &str = "netily";
const PASSWORD: &str = "netily";
/// The cluster's superuser, for administrative connections only.
pub const SUPERUSER: &str = "postgres";

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the harness could not provide a database.
#[derive(Debug)]
pub struct PgError(String);

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PgError {}

impl From<::postgres::Error> for PgError {
    fn from(e: ::postgres::Error) -> Self {
        PgError(format!("postgres: {e}"))
    }
}

fn io_err(what: impl fmt::Display) -> impl FnOnce(io::Error) -> PgError {
    move |e| PgError(format!("{what}: {e}"))
}

/// A private PostgreSQL cluster: initdb into a temp dir, `postgres` as a direct
/// child process on a free loopback port. Dropping it stops the server and
/// removes the directory.
pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PgCluster {
    /// Start a fresh cluster. Panics with the reason (and the server log) if it cannot.
    pub fn start() -> PgCluster {
        match Self::try_start() {
            Ok(c) => c,
            Err(e) => panic!("cannot start a test PostgreSQL cluster: {e}"),
        }
    }

    /// Start a fresh cluster, or say why not.
    pub fn try_start() -> Result<PgCluster, PgError> {
        let bin = bin_dir()?;
        let run_as = run_as()?;
        let dir = unique_temp_dir()?;
        // From here on the guard owns the dir: an error drops it and removes the dir.
        let mut cluster = PgCluster {
            dir,
            port: 0,
            bin,
            run_as,
            child: None,
        };
        cluster.initdb()?;
        cluster.spawn_on_a_free_port()?;
        cluster.bootstrap()?;
        Ok(cluster)
    }

    fn spawn_on_a_free_port(&mut self) -> Result<(), PgError> {
        // A port found free may be taken before postgres binds it; try a few.
        let mut last = None;
        for _ in 0..5 {
            self.port = free_port()?;
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| PgError("postgres did not start".into())))
    }

    /// A streaming standby of `primary`, started, accepting read-only
    /// connections. Panics with the reason if it cannot.
    pub fn start_standby(primary: &PgCluster) -> PgCluster {
        match Self::try_start_standby(primary) {
            Ok(c) => c,
            Err(e) => panic!("cannot start a standby: {e}"),
        }
    }

    /// pg_basebackup -R (standby.signal and primary_conninfo) through a
    /// replication slot of its own, so the primary keeps the WAL the
    /// standby has not received however far it lags.
    pub fn try_start_standby(primary: &PgCluster) -> Result<PgCluster, PgError> {
        let mut standby = PgCluster {
            dir: unique_temp_dir()?,
            port: 0,
            bin: primary.bin.clone(),
            run_as: primary.run_as,
            child: None,
        };
        let slot = unique_name("standby");
        let port = primary.port.to_string();
        standby.run_tool(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                SUPERUSER,
                "-X",
                "stream",
                "-R",
                "-C",
                "-S",
                &slot,
                "--checkpoint=fast",
                "--no-sync",
            ],
        )?;
        standby.spawn_on_a_free_port()?;
        Ok(standby)
    }

    /// Waits until this standby has replayed everything `primary` has
    /// committed so far.
    ///
    /// Test clusters commit asynchronously, so the last commits may still
    /// sit in the primary's WAL buffers, past `pg_current_wal_lsn()` (what
    /// is written), and a crash then loses them. One synchronous commit
    /// writes them out; then the insert position is what to wait for.
    pub fn wait_replayed(&self, primary: &PgCluster, timeout: Duration) -> Result<(), PgError> {
        let mut admin = primary.connect_admin("postgres")?;
        admin.batch_execute(
            "SET synchronous_commit = on; BEGIN; SELECT pg_current_xact_id(); COMMIT;",
        )?;
        let lsn: String = admin
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])?
            .get(0);
        let mut me = self.connect_admin("postgres")?;
        let deadline = Instant::now() + timeout;
        loop {
            let done: Option<bool> = me
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )?
                .get(0);
            if done == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(PgError(format!(
                    "the standby on port {} has not replayed {lsn} within {timeout:?}",
                    self.port
                )));
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Ends a standby's recovery: it takes writes when this returns.
    pub fn promote(&self) -> Result<(), PgError> {
        self.pg_ctl(&["promote", "-w", "-t", "60"])
    }

    /// `pg_ctl stop -m immediate`: every process ends at once, with no
    /// checkpoint and no goodbye to clients, as a crash would.
    pub fn stop_immediate(&mut self) -> Result<(), PgError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let stopped = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
        if stopped.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        stopped
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), PgError> {
        self.run_tool("pg_ctl", args)
    }

    /// Runs one of PostgreSQL's programs on the data dir (`-D DIR` first)
    /// to completion; its output in the error.
    fn run_tool(&self, program: &str, args: &[&str]) -> Result<(), PgError> {
        let out = self
            .command(program)
            .arg("-D")
            .arg(self.data_dir())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(format!("cannot run {program}")))?;
        if out.status.success() {
            return Ok(());
        }
        Err(PgError(format!(
            "{program} {} ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }

    /// Stop the server (fast shutdown), keeping the data. Idempotent.
    pub fn stop(&mut self) -> Result<(), PgError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SIGINT = fast shutdown: disconnects clients instead of waiting for them.
        let result = stop_child(&mut child, "INT", STOP_TIMEOUT);
        if result.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        result
    }

    /// Start the server again on the same port with the same data.
    pub fn start_again(&mut self) -> Result<(), PgError> {
        if self.child.is_some() {
            return Ok(());
        }
        self.spawn_and_wait()
    }

    /// Is the server process alive?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// PID of the postmaster, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding the unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// URL of `database` as the superuser (trust auth on loopback).
    pub fn admin_url(&self, database: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// URL of `database` as the `netily` role.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// A superuser connection to `database`.
    pub fn connect_admin(&self, database: &str) -> Result<::postgres::Client, PgError> {
        Ok(::postgres::Client::connect(
            &self.admin_url(database),
            ::postgres::NoTls,
        )?)
    }

    /// Create an empty database owned by the `netily` role; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, PgError> {
        check_identifier(name)?;
        let mut admin = self.connect_admin("postgres")?;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{ROLE}\""))?;
        Ok(self.url(name))
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        log_since(&self.dir.join("postgres.log"), 0)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(&self.dir).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            // std drops supplementary groups too when switching from root.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn initdb(&self) -> Result<(), PgError> {
        self.run_tool(
            "initdb",
            &[
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
        )
    }

    fn spawn_and_wait(&mut self) -> Result<(), PgError> {
        let log_path = self.dir.join("postgres.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err("cannot open postgres.log"))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log2 = log.try_clone().map_err(io_err("cannot dup log"))?;
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Test data is disposable: trade durability for speed.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(io_err("cannot run postgres"))?;
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(PgError(format!(
                        "postgres exited during startup ({status}); log:\n{}",
                        log_since(&log_path, log_start)
                    )));
                }
            }
            if self.ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.stop();
                return Err(PgError(format!(
                    "postgres not ready after {READY_TIMEOUT:?}; log:\n{}",
                    log_since(&log_path, log_start)
                )));
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        let mut config: ::postgres::Config = match self.admin_url("postgres").parse() {
            Ok(c) => c,
            Err(_) => return false,
        };
        config.connect_timeout(Duration::from_secs(2));
        config.connect(::postgres::NoTls).is_ok()
    }

    /// The `netily` role every TestDb belongs to.
    fn bootstrap(&self) -> Result<(), PgError> {
        let mut admin = self.connect_admin("postgres")?;
        admin.batch_execute(&format!(
            "CREATE ROLE \"{ROLE}\" LOGIN CREATEDB PASSWORD '{PASSWORD}'"
        ))?;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("netily_tests: stopping test PostgreSQL: {e}");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A primary, its streaming standby, and one database (owned by the
/// `netily` role) on both. Dropping it stops both servers.
pub struct Replicated {
    pub primary: PgCluster,
    pub standby: PgCluster,
    database: String,
}

/// When [`Replicated::failover`] did what.
#[derive(Debug, Clone, Copy)]
pub struct Failover {
    /// The primary was gone (no write can reach it after this).
    pub primary_stopped: Instant,
    /// The standby took writes.
    pub promoted: Instant,
}

impl Replicated {
    /// Both servers, the database created on the primary and replayed by
    /// the standby. Panics with the reason if it cannot.
    pub fn start(database: &str) -> Replicated {
        let primary = PgCluster::start();
        if let Err(e) = primary.create_database(database) {
            panic!("{e}");
        }
        let standby = PgCluster::start_standby(&primary);
        if let Err(e) = standby.wait_replayed(&primary, READY_TIMEOUT) {
            panic!("{e}");
        }
        Replicated {
            primary,
            standby,
            database: database.to_owned(),
        }
    }

    /// The URL a node is configured with: both hosts, primary first, and
    /// only a writable one kept (as libpq's `target_session_attrs`).
    pub fn url(&self) -> String {
        format!(
            "postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{},127.0.0.1:{}/{}?target_session_attrs=read-write",
            self.primary.port, self.standby.port, self.database
        )
    }

    /// A Netily config file in `dir` (created) naming both hosts, for a
    /// node under test; returns its path.
    pub fn write_config(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let config = dir.join("netily.conf");
        let text = format!("database_url = {}\nconnect_timeout = 2\n", self.url());
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        config
    }

    /// A connection to whichever server takes writes now.
    pub fn connect_writable(&self) -> Result<::postgres::Client, PgError> {
        Ok(::postgres::Client::connect(&self.url(), ::postgres::NoTls)?)
    }

    /// A connection to the standby (read-only until promoted).
    pub fn connect_standby(&self) -> Result<::postgres::Client, PgError> {
        Ok(::postgres::Client::connect(
            &self.standby.url(&self.database),
            ::postgres::NoTls,
        )?)
    }

    /// Waits until the standby has replayed all the primary wrote.
    pub fn wait_replayed(&self) -> Result<(), PgError> {
        self.standby.wait_replayed(&self.primary, READY_TIMEOUT)
    }

    /// The primary stopped as a crash would (`pg_ctl stop -m immediate`),
    /// then the standby promoted.
    pub fn failover(&mut self) -> Result<Failover, PgError> {
        self.primary.stop_immediate()?;
        let primary_stopped = Instant::now();
        self.standby.promote()?;
        Ok(Failover {
            primary_stopped,
            promoted: Instant::now(),
        })
    }
}

/// A fresh, empty database owned by the `netily` role, gone when dropped.
pub struct TestDb {
    url: String,
    name: String,
    place: Place,
}

enum Place {
    /// Created in the cluster named by `NETILY_TEST_PG` (a URL to its admin database).
    Shared {
        base_url: String,
    },
    Own(PgCluster),
}

impl TestDb {
    /// A fresh database. Panics with the reason if none can be had.
    pub fn new() -> TestDb {
        match Self::try_new() {
            Ok(db) => db,
            Err(e) => panic!("cannot create a test database: {e}"),
        }
    }

    pub fn try_new() -> Result<TestDb, PgError> {
        match std::env::var("NETILY_TEST_PG") {
            Ok(base_url) if !base_url.trim().is_empty() => Self::in_cluster(base_url.trim()),
            _ => {
                let name = unique_name("netily_test");
                let cluster = PgCluster::try_start()?;
                let url = cluster.create_database(&name)?;
                Ok(TestDb {
                    url,
                    name,
                    place: Place::Own(cluster),
                })
            }
        }
    }

    /// A fresh database in the running cluster `base_url` points at (any
    /// database there; its role needs CREATEDB). Dropped again on Drop.
    pub fn in_cluster(base_url: &str) -> Result<TestDb, PgError> {
        let name = unique_name("netily_test");
        let mut admin = ::postgres::Client::connect(base_url, ::postgres::NoTls)
            .map_err(|e| PgError(format!("cannot connect to the test cluster: {e}")))?;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(TestDb {
            url: with_database(base_url, &name),
            name,
            place: Place::Shared {
                base_url: base_url.to_string(),
            },
        })
    }

    /// URL usable by the `postgres` crate, netadmin's `--database-url` and psql.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new connection to this database.
    pub fn connect(&self) -> ::postgres::Client {
        match ::postgres::Client::connect(&self.url, ::postgres::NoTls) {
            Ok(c) => c,
            Err(e) => panic!("cannot connect to test database {}: {e}", self.name),
        }
    }

    /// The private cluster behind this database; `None` when it lives in the
    /// shared `NETILY_TEST_PG` cluster (tests that stop the server should
    /// start their own [`PgCluster`] instead).
    pub fn cluster(&self) -> Option<&PgCluster> {
        match &self.place {
            Place::Own(c) => Some(c),
            Place::Shared { .. } => None,
        }
    }

    pub fn cluster_mut(&mut self) -> Option<&mut PgCluster> {
        match &mut self.place {
            Place::Own(c) => Some(c),
            Place::Shared { .. } => None,
        }
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // An own cluster is removed whole when its guard drops.
        if let Place::Shared { base_url } = &self.place {
            let drop_it =
                ::postgres::Client::connect(base_url, ::postgres::NoTls).and_then(|mut c| {
                    // FORCE: a pool the test leaked must not keep the database alive.
                    c.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                        self.name
                    ))
                });
            if let Err(e) = drop_it {
                eprintln!("netily_tests: cannot drop test database {}: {e}", self.name);
            }
        }
    }
}

/// `base` with its database replaced by `name`; URL or key=value form.
pub fn with_database(base: &str, name: &str) -> String {
    if let Some(scheme_end) = base.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &base[rest_start..];
        let (before_query, query) = match rest.find('?') {
            Some(q) => (&rest[..q], &rest[q..]),
            None => (rest, ""),
        };
        let authority = match before_query.find('/') {
            Some(slash) => &before_query[..slash],
            None => before_query,
        };
        format!("{}{authority}/{name}{query}", &base[..rest_start])
    } else {
        let kept: Vec<&str> = base
            .split_whitespace()
            .filter(|kv| !kv.starts_with("dbname="))
            .collect();
        let mut out = kept.join(" ");
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("dbname=");
        out.push_str(name);
        out
    }
}

fn check_identifier(name: &str) -> Result<(), PgError> {
    let ok = !name.is_empty()
        && name.len() < 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PgError(format!(
            "database name {name:?}: allowed are 1-63 of a-z, 0-9, _"
        )))
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

fn unique_temp_dir() -> Result<PathBuf, PgError> {
    // /tmp rather than $TMPDIR: the postgres user must be able to reach it.
    let base = match std::env::var_os("NETILY_PG_TMPDIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from("/tmp"),
    };
    let dir = base.join(unique_name("netily-pg"));
    fs::create_dir(&dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err("cannot chmod temp dir"))?;
    if let Ok(Some((uid, gid))) = run_as() {
        if let Err(e) = std::os::unix::fs::chown(&dir, Some(uid), Some(gid)) {
            let _ = fs::remove_dir(&dir);
            return Err(PgError(format!("cannot chown {}: {e}", dir.display())));
        }
    }
    Ok(dir)
}

fn free_port() -> Result<u16, PgError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("cannot find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("cannot find a free port"))?
        .port();
    Ok(port)
}

/// PostgreSQL's binaries: `NETILY_PG_BINDIR`, else Debian's version 15 dir, else PATH.
fn bin_dir() -> Result<PathBuf, PgError> {
    if let Some(d) = std::env::var_os("NETILY_PG_BINDIR") {
        return Ok(PathBuf::from(d));
    }
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    if debian.join("postgres").exists() {
        return Ok(debian);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if d.join("postgres").exists() {
                return Ok(d);
            }
        }
    }
    Err(PgError(
        "PostgreSQL binaries not found (install postgresql-15: scripts/install-deps.sh, or set NETILY_PG_BINDIR)".into(),
    ))
}

/// `Some((uid, gid))` of the user to run the server as when we are root.
fn run_as() -> Result<Option<(u32, u32)>, PgError> {
    if effective_uid()? != 0 {
        return Ok(None);
    }
    let user = std::env::var("NETILY_PG_USER").unwrap_or_else(|_| "postgres".into());
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_err("cannot read /etc/passwd"))?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == user {
            if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                return Ok(Some((uid, gid)));
            }
        }
    }
    Err(PgError(format!(
        "running as root, but user {user:?} does not exist to run postgres as (scripts/install-deps.sh creates it; or set NETILY_PG_USER)"
    )))
}

fn effective_uid() -> Result<u32, PgError> {
    let status =
        fs::read_to_string("/proc/self/status").map_err(io_err("cannot read /proc/self/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| PgError("no Uid line in /proc/self/status".into()))
}

/// Signal `child` by PID and wait for it to exit.
fn stop_child(child: &mut Child, signal: &str, timeout: Duration) -> Result<(), PgError> {
    if let Ok(Some(_)) = child.try_wait() {
        return Ok(());
    }
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .map_err(io_err("cannot run kill"))?;
    if !sent.success() {
        // Already gone between try_wait and kill?
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        return Err(PgError(format!(
            "kill -{signal} {} failed: {sent}",
            child.id()
        )));
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() > deadline => {
                return Err(PgError(format!(
                    "postgres {} did not stop within {timeout:?}",
                    child.id()
                )))
            }
            Ok(None) => sleep(Duration::from_millis(20)),
            Err(e) => return Err(PgError(format!("waiting for postgres: {e}"))),
        }
    }
}

fn log_since(path: &Path, start: u64) -> String {
    let mut out = String::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(start)).is_ok() {
            let _ = f.read_to_string(&mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgresql://a:b@127.0.0.1:5/netily?sslmode=disable", "t1"),
            "postgresql://a:b@127.0.0.1:5/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://a@h:5", "t1"),
            "postgres://a@h:5/t1"
        );
        assert_eq!(
            with_database("host=/tmp port=5 dbname=x user=u", "t1"),
            "host=/tmp port=5 user=u dbname=t1"
        );
    }

    #[test]
    fn database_names_are_checked() {
        assert!(check_identifier("netily_test_1_2_ab").is_ok());
        assert!(check_identifier("a\"; drop").is_err());
        assert!(check_identifier("").is_err());
    }
}
