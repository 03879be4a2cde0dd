//! How netadmin meets the terminal and pipes: a reader that goes away early,
//! errors for scripts (`--json`) and for people.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::Env;
use serde_json::Value;

/// netadmin's exit status when its standard output is a closed pipe: what a
/// shell reports for a tool killed by SIGPIPE (128 + 13).
const CLOSED_PIPE_STATUS: i32 = 141;

#[test]
fn closed_stdout_pipe_ends_quietly_with_status_141() {
    let env = Env::migrated();
    env.ok(&["seed", "synthetic", "--subscribers", "3000"]);
    for json in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_netadmin"));
        cmd.arg("--database-url").arg(env.db.url());
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .args(["customer", "list"])
            .env_remove("NETILY_DATABASE_URL")
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head -c 100`: read a little, then close the pipe while
        // netadmin still has far more than a pipe buffer (64 KiB) to write.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr, "", "json={json}: nothing on stderr, no panic");
        assert_eq!(out.status.signal(), None, "json={json}: {:?}", out.status);
        assert_eq!(out.status.code(), Some(CLOSED_PIPE_STATUS), "json={json}");
    }
}

#[test]
fn errors_under_json_are_one_json_object_on_stderr() {
    let env = Env::migrated();
    let out = env.run(&["--json", "customer", "show", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let v: Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"error": "subscriber 'nobody' not found"})
    );

    // Without --json the same error is the plain line.
    let e = env.fail(&["customer", "show", "nobody"]);
    assert_eq!(e, "netadmin: subscriber 'nobody' not found");
}

#[test]
fn argument_errors_under_json_are_json_too() {
    let env = Env::migrated();
    let out = env.run(&["--json", "customer", "list", "--colour", "blue"]);
    assert_eq!(out.status.code(), Some(2), "clap's status for usage errors");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let v: Value = serde_json::from_str(&stderr).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("--colour"), "{msg}");
}

#[test]
fn control_characters_in_errors_are_escaped_before_the_terminal() {
    let env = Env::migrated();
    // ESC [2J clears the screen; a newline would forge a second line.
    let e = env.fail(&["customer", "show", "\u{1b}[2Jevil\nnetadmin: all good"]);
    assert_eq!(
        e,
        "netadmin: subscriber '\\u{1b}[2Jevil\\nnetadmin: all good' not found"
    );

    let out = env.run(&["--json", "customer", "show", "\u{1b}[2J\u{9b}1m"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{9b}'),
        "{stderr:?}"
    );
    let v: Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(v["error"], "subscriber '\u{1b}[2J\u{9b}1m' not found");

    // Refused by the argument parser: the same, in clap's message.
    let out = env.run(&["\u{1b}[2Jevil\rok\u{7}"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "{stderr:?}"
    );
    assert!(stderr.contains("evil\\rok"), "{stderr}");
}
