//! Builds a plugin crate (a cdylib) for tests, once per test process, in its
//! own target directory: the outer `cargo test` may still hold the
//! workspace's build lock.

use std::path::PathBuf;
use std::process::Command;

use crate::freeradius::workspace;

/// How to build one cdylib.
pub struct Cdylib<'a> {
    /// The cargo package, e.g. `rlm_netily`.
    pub package: &'a str,
    /// Cargo features, comma-separated ("" for none).
    pub features: &'a str,
    /// `release` or `debug`.
    pub release: bool,
    /// Below `target/`, e.g. `radius-tests`.
    pub target_dir: &'a str,
}

impl Cdylib<'_> {
    /// Builds it and returns the path of `lib<package>.so`.
    pub fn build(&self) -> Result<PathBuf, String> {
        let target = workspace().join("target").join(self.target_dir);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace())
            .args(["build", "-p", self.package, "--target-dir"])
            .arg(&target);
        if !self.features.is_empty() {
            cmd.args(["--features", self.features]);
        }
        if self.release {
            cmd.arg("--release");
        }
        let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building {} failed:\n{}",
                self.package,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let profile = if self.release { "release" } else { "debug" };
        Ok(target.join(profile).join(format!("lib{}.so", self.package)))
    }
}
