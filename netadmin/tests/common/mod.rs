//! Runs the real netadmin binary against a real, fresh PostgreSQL database.
#![allow(dead_code)]

use std::process::{Command, Output};

use netily_tests::postgres::TestDb;
use serde_json::Value;

pub struct Env {
    pub db: TestDb,
}

impl Env {
    /// A fresh database, not migrated.
    pub fn empty() -> Env {
        Env { db: TestDb::new() }
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
        Command::new(env!("CARGO_BIN_EXE_netadmin"))
            .arg("--database-url")
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
