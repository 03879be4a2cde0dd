//! scripts/openvpn-install.sh (what `make install` runs for OpenVPN), into a
//! DESTDIR: the plugin where the installed configs' plugin line points, the
//! configs with the status directory they name, nothing else, and a second
//! run keeps an operator's edited configs.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use netily_tests::freeradius::workspace;

const PREFIX: &str = "/opt/netily-test";
const PLUGIN: &str = "/opt/netily-test/lib/netily/libopenvpn_plugin_netily.so";
/// The packaged path the shipped configs name.
const SHIPPED_PLUGIN: &str = "/usr/lib/netily/libopenvpn_plugin_netily.so";
/// Installed name -> shipped file in openvpn-conf/.
const CONFS: [(&str, &str); 2] = [
    ("etc/openvpn/server/netily.conf", "server.conf"),
    ("etc/openvpn/server/netily-tcp.conf", "server-tcp.conf"),
];

/// A scratch dir removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "netily-install-openvpn-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn install(destdir: &Path, plugin: &Path) -> Output {
    Command::new("sh")
        .arg(workspace().join("scripts/openvpn-install.sh"))
        .env("DESTDIR", destdir)
        .env("PREFIX", PREFIX)
        .env("NETILY_OPENVPN_PLUGIN", plugin)
        .output()
        .unwrap_or_else(|e| panic!("sh scripts/openvpn-install.sh: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file, link and directory under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let rel = path.strip_prefix(base).unwrap_or(&path);
            out.insert(rel.display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The argument of the first `directive` line of an OpenVPN config.
fn directive<'a>(conf: &'a str, name: &str) -> &'a str {
    conf.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{conf}"))
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("empty `{name}` line"))
}

#[test]
fn installs_plugin_and_configs_that_agree_and_enables_nothing() {
    let scratch = Scratch::new("fresh");
    let plugin = scratch.0.join("plugin.so");
    fs::write(&plugin, b"first build").unwrap_or_else(|e| panic!("{e}"));
    let dest = scratch.0.join("dest");

    let out = install(&dest, &plugin);
    let log = text(&out);
    assert!(out.status.success(), "{log}");

    let installed = dest.join(PLUGIN.trim_start_matches('/'));
    assert_eq!(
        fs::read(&installed).unwrap_or_default(),
        b"first build",
        "{log}"
    );
    assert_eq!(mode(&installed), 0o644, "plugin mode");

    for (name, shipped) in CONFS {
        let path = dest.join(name);
        let conf = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}\n{log}"));
        assert_eq!(mode(&path), 0o644, "{name} mode");
        // Only the plugin path differs from the shipped file.
        let source = fs::read_to_string(workspace().join("openvpn-conf").join(shipped))
            .unwrap_or_else(|e| panic!("openvpn-conf/{shipped}: {e}"));
        assert!(source.contains(SHIPPED_PLUGIN), "openvpn-conf/{shipped}");
        assert_eq!(conf, source.replace(SHIPPED_PLUGIN, PLUGIN), "{name}");
        // The plugin line names the installed plugin...
        assert_eq!(directive(&conf, "plugin"), PLUGIN, "{name}");
        // ...and the directory of the status file exists.
        let status = directive(&conf, "status");
        let status_dir = Path::new(status)
            .parent()
            .unwrap_or_else(|| panic!("status {status}"));
        let made = dest.join(status_dir.strip_prefix("/").unwrap_or(status_dir));
        assert!(made.is_dir(), "{} missing\n{log}", made.display());
        assert_eq!(mode(&made), 0o755, "{} mode", made.display());
        assert!(
            log.contains(&format!("installed {}", path.display())),
            "{log}"
        );
    }

    // Nothing else: no enabled unit, no PKI, no leftover temporary file.
    let expected: BTreeSet<String> = [
        "etc",
        "etc/openvpn",
        "etc/openvpn/server",
        "etc/openvpn/server/netily.conf",
        "etc/openvpn/server/netily-tcp.conf",
        "opt",
        "opt/netily-test",
        "opt/netily-test/lib",
        "opt/netily-test/lib/netily",
        "opt/netily-test/lib/netily/libopenvpn_plugin_netily.so",
        "run",
        "run/netily",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(tree(&dest), expected, "{log}");

    // The next steps, in order.
    let steps = [
        "ca_key_seal_file",
        "netadmin ca init",
        "netadmin server-cert --out-dir /etc/netily/pki",
        "netadmin crl --out /etc/netily/pki/crl.pem",
        "openvpn --config /etc/openvpn/server/netily.conf",
    ];
    let mut at = 0;
    for step in steps {
        let found = log[at..]
            .find(step)
            .unwrap_or_else(|| panic!("`{step}` missing (or out of order) in:\n{log}"));
        at += found + step.len();
    }
}

#[test]
fn second_run_keeps_edited_configs_and_replaces_the_plugin() {
    let scratch = Scratch::new("again");
    let plugin = scratch.0.join("plugin.so");
    fs::write(&plugin, b"first build").unwrap_or_else(|e| panic!("{e}"));
    let dest = scratch.0.join("dest");
    let out = install(&dest, &plugin);
    assert!(out.status.success(), "{}", text(&out));
    let before = tree(&dest);

    // The operator edits both configs; a new build comes along.
    for (name, _) in CONFS {
        fs::write(dest.join(name), format!("# the operator's own {name}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    fs::write(&plugin, b"second build").unwrap_or_else(|e| panic!("{e}"));

    let out = install(&dest, &plugin);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    for (name, _) in CONFS {
        let path = dest.join(name);
        assert_eq!(
            fs::read_to_string(&path).unwrap_or_default(),
            format!("# the operator's own {name}\n"),
            "{name} overwritten\n{log}"
        );
        assert!(
            log.contains(&format!("kept existing {}", path.display())),
            "{log}"
        );
    }
    assert_eq!(
        fs::read(dest.join(PLUGIN.trim_start_matches('/'))).unwrap_or_default(),
        b"second build",
        "the plugin is code: a new build replaces it\n{log}"
    );
    assert_eq!(tree(&dest), before, "{log}");
}

#[test]
fn missing_plugin_fails_before_writing_anything() {
    let scratch = Scratch::new("missing");
    let dest = scratch.0.join("dest");
    let out = install(&dest, &scratch.0.join("no-such-plugin.so"));
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("no-such-plugin.so missing"), "{log}");
    assert!(!dest.exists(), "wrote into {}:\n{log}", dest.display());
}
