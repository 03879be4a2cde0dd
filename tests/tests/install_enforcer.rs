//! scripts/enforcer-install.sh (what `make install` runs for the enforcer),
//! into a DESTDIR: the systemd unit, naming netadmin where PREFIX put it
//! and the config `make install` writes; enabled and started by nobody.

use std::path::PathBuf;
use std::process::Command;

use netily_tests::freeradius::workspace;

#[test]
fn installs_the_enforcer_unit_naming_the_installed_netadmin() {
    let dest: PathBuf =
        std::env::temp_dir().join(format!("enforcer-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let out = Command::new("sh")
        .arg(workspace().join("scripts/enforcer-install.sh"))
        .env("DESTDIR", &dest)
        .env("PREFIX", "/opt/netily-test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit =
        std::fs::read_to_string(dest.join("etc/systemd/system/netily-enforcer.service")).unwrap();
    assert!(
        unit.lines().any(|l| l
            == "ExecStart=/opt/netily-test/bin/netadmin --config /etc/netily/netily.conf enforce --follow"),
        "{unit}"
    );
    assert!(unit.contains("Restart=always") && unit.contains("WantedBy=multi-user.target"));
    // Nothing enabled: no wants/ links.
    assert!(!dest
        .join("etc/systemd/system/multi-user.target.wants")
        .exists());
    std::fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn installs_netily_web_and_its_unit_enabling_nothing() {
    // A stand-in for the release binary (the script only copies it): the
    // test needs no release build.
    let target = std::env::temp_dir().join(format!("web-install-target-{}", std::process::id()));
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::write(target.join("release/netily-web"), "#!/bin/sh\n").unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(target.join("release/netily-web"))
        .status()
        .unwrap();
    let dest: PathBuf = std::env::temp_dir().join(format!("web-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let out = Command::new("sh")
        .arg(workspace().join("scripts/web-install.sh"))
        .env("CARGO_TARGET_DIR", &target)
        .env("DESTDIR", &dest)
        .env("PREFIX", "/opt/netily-test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dest.join("opt/netily-test/bin/netily-web").is_file());
    let unit = std::fs::read_to_string(dest.join("etc/systemd/system/netily-web.service")).unwrap();
    assert!(
        unit.lines()
            .any(|l| l
                == "ExecStart=/opt/netily-test/bin/netily-web --config /etc/netily/netily.conf"),
        "{unit}"
    );
    // Root, but with no capability at all.
    assert!(
        unit.lines().any(|l| l == "CapabilityBoundingSet="),
        "{unit}"
    );
    assert!(!dest
        .join("etc/systemd/system/multi-user.target.wants")
        .exists());
    std::fs::remove_dir_all(&dest).unwrap();
    std::fs::remove_dir_all(&target).unwrap();
}
