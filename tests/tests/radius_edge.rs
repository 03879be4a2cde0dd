//! Edge cases of rlm_netily against a real PostgreSQL, the real `netadmin`
//! binary and a real FreeRADIUS (`-f -l stdout`, no debugging):
//!
//! - Passwords and reply values holding backslashes and quotes reach pap and
//!   the NAS byte for byte (no escape interpretation on the way).
//! - A normal (non-debug) server log says why a login was rejected and that a
//!   User-Name was malformed, with the name escaped and cut short, and never
//!   a password.

use std::process::Command;

use netily_tests::freeradius::{self, Reply};
use netily_tests::isp::Isp;

/// The ISP with the schema and one plan, `gold`.
fn isp_with_gold(name: &str) -> Isp {
    Isp::with_plan(name, "gold", "5M/10M")
}

/// A value inside radclient's double quotes. radclient undoes escapes twice
/// (its tokenizer, then the value parser: `"a\\nb"` arrives as a newline),
/// so a literal value is escaped twice.
fn quoted(value: &str) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    // A real newline stays one: `\n` in either pass gives a newline.
    format!("\"{}\"", escape(&escape(value)).replace('\n', "\\n"))
}

fn pap(user: &str, password: &str) -> String {
    format!(
        "User-Name = {}, User-Password = {}\n",
        quoted(user),
        quoted(password)
    )
}

/// CHAP-Password is an octets attribute: radclient reads a quoted value for
/// it without undoing escapes, so the exact bytes go as hex.
fn chap(user: &str, password: &str) -> String {
    let hex: String = password.bytes().map(|b| format!("{b:02x}")).collect();
    format!("User-Name = {}, CHAP-Password = 0x{hex}\n", quoted(user))
}

/// Undoes radclient's printing of a string value (`\\`, `\"`, `\n`, ...).
fn unescape(printed: &str) -> String {
    let mut out = String::new();
    let mut chars = printed.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn values(reply: &Reply, name: &str) -> Vec<String> {
    reply.values(name).into_iter().map(unescape).collect()
}

#[test]
fn passwords_and_reply_values_are_byte_exact() {
    let isp = isp_with_gold("edge_bytes");
    // Literal backslashes and quotes, as the operator typed them.
    let users = [
        ("trailing", r"pass\"),
        ("newline", r"a\nb"),
        ("quotes", r#"q"uote'"#),
        ("octal", r"x\101\\y"),
    ];
    for (user, password) in users {
        isp.customer(user, password, "gold");
    }
    // Per-subscriber reply overrides straight in the stock radreply table.
    isp.sql()
        .batch_execute(
            r#"INSERT INTO radreply (username, attribute, op, value) VALUES
                 ('trailing', 'Mikrotik-Address-List', ':=', 'list\one'),
                 ('trailing', 'Mikrotik-Address-List', '+=', 'trail\'),
                 ('trailing', 'Reply-Message', ':=', 'tab\t "q" \101 end'),
                 ('trailing', 'Idle-Timeout', ':=', '77'),
                 ('trailing', 'Attr-26.14988.99', ':=', '0x4142')"#,
        )
        .unwrap();
    let server = isp.radiusd();

    for (user, password) in users {
        for (method, request) in [("PAP", pap(user, password)), ("CHAP", chap(user, password))] {
            let reply = server.auth(&request).unwrap();
            assert!(
                reply.is("Access-Accept"),
                "{method} {user} with {password:?}: {reply:?}\n{}",
                server.log()
            );
        }
        // What escape processing would have produced must not work.
        let mangled = password.replace(r"\n", "\n").replace(r"\101", "A");
        let wrong = if mangled == password {
            format!("{password}x")
        } else {
            mangled
        };
        let reply = server.auth(&pap(user, &wrong)).unwrap();
        assert!(
            reply.is("Access-Reject"),
            "{user} with {wrong:?}: {reply:?}"
        );
    }

    let reply = server.auth(&pap("trailing", r"pass\")).unwrap();
    assert_eq!(
        values(&reply, "Mikrotik-Address-List"),
        [r"list\one", r"trail\"],
        "{reply:?}"
    );
    assert_eq!(
        values(&reply, "Reply-Message"),
        [r#"tab\t "q" \101 end"#],
        "{reply:?}"
    );
    // An integer is parsed from its text; a name the dictionary does not
    // hold (a raw vendor attribute) still reaches the NAS.
    assert_eq!(values(&reply, "Idle-Timeout"), ["77"], "{reply:?}");
    assert_eq!(values(&reply, "Attr-26.14988.99"), ["0x4142"], "{reply:?}");
    // The plan's own reply is still there.
    assert_eq!(
        values(&reply, "Mikrotik-Rate-Limit"),
        ["5M/10M"],
        "{reply:?}"
    );
    assert!(!server.log().contains("cannot set"), "{}", server.log());
}

/// Every line of the log that mentions `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn rejects_and_malformed_names_are_logged_without_debugging() {
    let isp = isp_with_gold("edge_log");
    isp.customer("bob", "bob-secret-pw", "gold");
    isp.netadmin(&["customer", "suspend", "bob"]);
    let server = isp.radiusd();

    let reply = server.auth(&pap("bob", "bob-secret-pw")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    // Not UTF-8 (radclient turns the octal escapes into raw bytes).
    let reply = server
        .auth("User-Name = \"\\377\\376alice\", User-Password = \"x\"\n")
        .unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    // An escape sequence that would repaint a terminal, and a very long name.
    let reply = server
        .auth("User-Name = \"evil\\033[2J%s\", User-Password = \"x\"\n")
        .unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");
    let long = "A".repeat(253);
    let reply = server.auth(&pap(&long, "x")).unwrap();
    assert!(reply.is("Access-Reject"), "{reply:?}");

    let log = server.log();
    // The server runs without -X: these are normal log lines.
    let bob = lines_with(&log, "[bob]");
    assert!(
        bob.iter()
            .any(|l| l.contains("Auth:") && l.contains("rlm_netily") && l.contains("reject (")),
        "no reject reason for bob in:\n{log}"
    );
    let bad = lines_with(&log, r"[\xff\xfealice]");
    assert!(
        bad.iter()
            .any(|l| l.contains("Auth:") && l.contains("User-Name is not valid UTF-8")),
        "no escaped line for the non-UTF-8 name in:\n{log}"
    );
    assert!(
        log.contains(r"[evil\x1b[2J%s]"),
        "no escaped line for the terminal escape in:\n{log}"
    );
    assert!(
        log.contains(&format!("[{}...(253 bytes)]", "A".repeat(64))),
        "the long name is not cut in:\n{log}"
    );
    // Nothing raw, and never a password.
    assert!(!log.contains('\u{1b}'), "raw ESC in the log:\n{log}");
    assert!(
        !log.contains("\u{fffd}"),
        "raw invalid UTF-8 in the log:\n{log}"
    );
    assert!(
        !log.contains("bob-secret-pw"),
        "password in the log:\n{log}"
    );
}

#[test]
fn install_script_copies_both_sites_and_enables_nothing() {
    let root = freeradius::workspace().join(format!(
        "target/radius-tests/install-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let module = root.join("librlm_netily.so");
    std::fs::write(&module, b"not really a module").unwrap();
    let destdir = root.join("dest");
    let out = Command::new("sh")
        .arg(freeradius::workspace().join("scripts/freeradius-install.sh"))
        .env("DESTDIR", &destdir)
        .env("NETILY_MODULE", &module)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raddb = destdir.join("etc/freeradius/3.0");
    for f in [
        "mods-available/netily",
        "sites-available/netily",
        "sites-available/netily-dynamic-clients",
    ] {
        let installed = std::fs::read(raddb.join(f)).unwrap_or_default();
        let source = std::fs::read(freeradius::workspace().join("raddb").join(f)).unwrap();
        assert_eq!(
            installed, source,
            "{f} not installed as in raddb/\n{stdout}"
        );
    }
    assert!(!raddb.join("sites-enabled").exists(), "{stdout}");
    assert!(!raddb.join("mods-enabled").exists(), "{stdout}");
    // How to enable each one is printed.
    for link in [
        "ln -s ../mods-available/netily /etc/freeradius/3.0/mods-enabled/netily",
        "ln -s ../sites-available/netily /etc/freeradius/3.0/sites-enabled/netily",
        "ln -s ../sites-available/netily-dynamic-clients /etc/freeradius/3.0/sites-enabled/netily-dynamic-clients",
    ] {
        assert!(stdout.contains(link), "missing `{link}` in:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
