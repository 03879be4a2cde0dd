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
