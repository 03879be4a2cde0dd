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
