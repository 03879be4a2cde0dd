//! Failures an operator meets before any data: database and config.

mod common;

use std::process::Command;

fn netadmin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netadmin"))
        .args(args)
        .env_remove("NETILY_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unreachable_database_names_the_url_without_password() {
    let (ok, _, err) = netadmin(&[
        "--database-url",
        "postgresql://netily:TopSecret@127.0.0.1:1/netily",
        "plan",
        "list",
    ]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "netadmin: cannot connect to database postgresql://netily@127.0.0.1:1/netily: "
        ),
        "{err}"
    );
    assert!(!err.contains("TopSecret"), "{err}");
}

#[test]
fn environment_url_is_used_and_flag_wins() {
    let out = Command::new(env!("CARGO_BIN_EXE_netadmin"))
        .args(["plan", "list"])
        .env(
            "NETILY_DATABASE_URL",
            "postgresql://u:EnvSecret@127.0.0.1:2/envdb",
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("127.0.0.1:2/envdb") && !err.contains("EnvSecret"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_netadmin"))
        .args([
            "--database-url",
            "postgresql://u@127.0.0.1:3/flagdb",
            "plan",
            "list",
        ])
        .env("NETILY_DATABASE_URL", "postgresql://u@127.0.0.1:2/envdb")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:3/flagdb"), "{err}");
}

#[test]
fn config_file_errors() {
    let (ok, _, err) = netadmin(&["--config", "/nonexistent/netily.conf", "plan", "list"]);
    assert!(!ok);
    assert!(
        err.starts_with("netadmin: cannot read config file /nonexistent/netily.conf"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("netadmin-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "# ok\npool_size = 4\ncolour = blue\n").unwrap();
    let (ok, _, err) = netadmin(&["--config", conf.to_str().unwrap(), "plan", "list"]);
    assert!(!ok);
    assert!(err.contains("bad.conf:3: unknown key \"colour\""), "{err}");
    std::fs::write(&conf, "grace_days = a week\n").unwrap();
    let (_, _, err) = netadmin(&["--config", conf.to_str().unwrap(), "plan", "list"]);
    assert!(err.contains("bad.conf:1: grace_days:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs netadmin with at most 1 GiB of address space, killed after 10
/// seconds (reading /dev/zero would otherwise grow without end): whether it
/// succeeded, and its stderr.
fn netadmin_bounded(args: &[&str]) -> (bool, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_netadmin"))
        .args(args)
        .env_remove("NETILY_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("netadmin {args:?} did not return within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_that_is_a_device_a_fifo_a_directory_or_over_1_mib_is_refused_at_once() {
    let dir = common::TempDir::new("bigconf");
    let fifo = dir.path().join("fifo.conf");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let big = dir.path().join("big.conf");
    // Valid text (comments), just too much of it.
    std::fs::write(&big, "# padding\n".repeat(110_000)).unwrap();
    let cases = [
        ("/dev/zero".to_owned(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (dir.path().display().to_string(), "not a regular file"),
        (big.display().to_string(), "larger than 1 MiB"),
    ];
    for (path, why) in cases {
        let (ok, err) = netadmin_bounded(&["--config", &path, "plan", "list"]);
        assert!(!ok, "{path}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("netadmin: cannot read config file {path}: {why}")),
            "{err}"
        );
    }
}

#[test]
fn negative_zero_or_huge_limits_and_negative_days_are_refused_by_the_argument_parser() {
    // No database is reachable: these never get as far as connecting.
    let url = "postgresql://netily@127.0.0.1:1/netily";
    for cmd in [
        &["sessions"][..],
        &["auth-log"],
        &["customer", "list"],
        &["invoice", "list"],
    ] {
        for bad in ["-1", "0", "1000001", "ten"] {
            let limit = format!("--limit={bad}");
            let mut args = vec!["--database-url", url];
            args.extend_from_slice(cmd);
            args.push(&limit);
            let out = Command::new(env!("CARGO_BIN_EXE_netadmin"))
                .args(&args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.starts_with(&format!(
                    "error: invalid value '{bad}' for '--limit <LIMIT>'"
                )),
                "{args:?}: {err}"
            );
            assert!(!err.contains("database"), "{err}");
        }
    }
    for args in [
        &["cert", "issue", "r1", "--days=-1"][..],
        &["ca", "init", "--days=-1"],
        &["server-cert", "--days=-1"],
        &["mikrotik-script", "r1", "--interim=-5"],
        &["seed", "synthetic", "--subscribers=-1"],
    ] {
        let (ok, _, err) = netadmin(args);
        assert!(!ok);
        assert!(
            err.starts_with("error: invalid value '-"),
            "{args:?}: {err}"
        );
    }
}
