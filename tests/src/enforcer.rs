//! `netadmin enforce --follow` as a child process (the netily-enforcer
//! service as systemd runs it), killed and reaped when the guard drops. Its
//! log (standard error) goes to a file the test reads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netadmin::netadmin_bin;

pub struct EnforcerProcess {
    child: Child,
    log: PathBuf,
}

impl EnforcerProcess {
    /// Starts it with `config`; `name` tells two of them apart. Does not
    /// wait: [`EnforcerProcess::wait_for_log`] does.
    pub fn start(config: &Path, name: &str) -> EnforcerProcess {
        Self::start_in(config, name, None)
    }

    /// As [`EnforcerProcess::start`], inside network namespace `netns` (the
    /// VPN server's, where the tunnel to the routers is).
    pub fn start_in(config: &Path, name: &str, netns: Option<&str>) -> EnforcerProcess {
        let log = config.with_file_name(format!("enforcer-{name}.log"));
        let file = std::fs::File::create(&log).expect("create the enforcer's log");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(netadmin_bin());
                c
            }
            None => Command::new(netadmin_bin()),
        };
        let child = command
            .arg("--config")
            .arg(config)
            .args(["enforce", "--follow"])
            .env_remove("NETILY_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start netadmin enforce --follow");
        EnforcerProcess { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True once its log has `text`, waiting up to `timeout`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log().contains(text)
    }

    /// True when this one acts (holds the lock and reviewed every session).
    pub fn acts(&self) -> bool {
        self.log().contains("reviewed every online session")
    }

    /// SIGKILL, as a crash or a power cut would end it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EnforcerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
