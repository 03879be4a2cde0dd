//! The real `netadmin` binary, for end-to-end tests that drive the ISP's data
//! the way an operator does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::freeradius::workspace;

/// Builds netadmin (debug) once per test process and returns its path;
/// `NETILY_NETADMIN` names another build instead (the benchmarks' release
/// one). Panics with cargo's output when the build fails: the test cannot run.
pub fn netadmin_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("NETILY_NETADMIN") {
            return PathBuf::from(path);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "-p", "netadmin"])
            .output()
            .expect("run cargo build -p netadmin");
        assert!(
            out.status.success(),
            "cargo build -p netadmin failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        workspace().join("target/debug/netadmin")
    })
    .clone()
}

/// Runs `netadmin --config CONFIG args...` (the environment's database URL
/// left out: the file says which); panics with its output on failure.
pub fn run_netadmin(config: &Path, args: &[&str]) -> String {
    let out = Command::new(netadmin_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("NETILY_DATABASE_URL")
        .output()
        .expect("run netadmin");
    assert!(
        out.status.success(),
        "netadmin {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
