//! Runs the real netadmin binary against a real, fresh PostgreSQL database.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use netily_tests::postgres::TestDb;
use serde_json::Value;

pub struct Env {
    pub db: TestDb,
    /// Passed as --config when set.
    pub config: Option<PathBuf>,
    pub dir: Option<TempDir>,
}

/// A private temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "netadmin-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 256-bit sealing key for test configs.
pub const SEAL_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

impl Env {
    /// A fresh database, not migrated.
    pub fn empty() -> Env {
        Env {
            db: TestDb::new(),
            config: None,
            dir: None,
        }
    }

    /// Runs every command with `--config` naming a file (mode `mode`) holding
    /// `text`.
    pub fn with_config(mut self, text: &str, mode: u32) -> Env {
        let dir = TempDir::new("conf");
        let path = dir.path().join("netily.conf");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self.config = Some(path);
        self.dir = Some(dir);
        self
    }

    /// Replaces the config file's text, keeping its mode.
    pub fn set_config(&self, text: &str) {
        std::fs::write(self.config.as_ref().expect("a config file"), text).unwrap();
    }

    /// A fresh, migrated database.
    pub fn migrated() -> Env {
        let env = Env::empty();
        env.ok(&["migrate"]);
        env
    }

    /// Migrated and seeded with the demo ISP.
    pub fn demo() -> Env {
        let env = Env::migrated();
        env.ok(&["seed", "demo"]);
        env
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netadmin"));
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("--database-url")
            .arg(self.db.url())
            .args(args)
            // The default config path must not leak the machine's settings in.
            .env_remove("NETILY_DATABASE_URL")
            .output()
            .expect("netadmin runs")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "netadmin {args:?} failed ({:?})\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        stdout
    }

    /// Runs with --json and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    /// Runs and expects failure with a one-line error; returns that line.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "netadmin {args:?} should have failed\nstdout: {stdout}"
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "netadmin {args:?}: expected one error line, got:\n{stderr}"
        );
        assert!(lines[0].starts_with("netadmin: "), "{stderr}");
        lines[0].to_owned()
    }

    pub fn sql(&self) -> postgres::Client {
        self.db.connect()
    }

    pub fn count(&self, query: &str) -> i64 {
        self.sql().query_one(query, &[]).expect(query).get(0)
    }
}
