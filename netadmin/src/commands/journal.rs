//! `netadmin journal`: a RADIUS node's journals, read from their files.

use std::io::BufRead;
use std::path::Path;

use netily_core::journal;
use serde::Serialize;

use super::Ctx;
use crate::output::{print_fields, print_json};
use crate::{Failure, Outcome};

#[derive(Serialize)]
struct Report {
    accounting: Option<journal::Status>,
    /// Accounting packets PostgreSQL refused, kept in rejected.jsonl.
    rejected_packets: u64,
    auth_log: Option<journal::Status>,
}

pub fn run(ctx: &Ctx, dir: &Path) -> Outcome {
    if !dir.is_dir() {
        return Err(Failure(format!(
            "no journal directory {} (rlm_netily's journal_dir; --dir names another)",
            dir.display()
        )));
    }
    let read = |name: &str| -> Result<Option<journal::Status>, Failure> {
        let sub = dir.join(name);
        if !sub.is_dir() {
            return Ok(None);
        }
        journal::status(&sub)
            .map(Some)
            .map_err(|e| Failure(format!("cannot read {}: {e}", sub.display())))
    };
    let rejected = dir.join("accounting/rejected.jsonl");
    let rejected_packets = match std::fs::File::open(&rejected) {
        Ok(f) => std::io::BufReader::new(f).lines().count() as u64,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Failure(format!("cannot read {}: {e}", rejected.display()))),
    };
    let report = Report {
        accounting: read("accounting")?,
        rejected_packets,
        auth_log: read("auth-log")?,
    };
    if ctx.json {
        return print_json(&report);
    }
    let line = |s: &Option<journal::Status>| {
        match s {
        None => "none yet".to_owned(),
        Some(s) if s.backlog_bytes == 0 => {
            format!("all applied ({} segment(s), {} bytes on disk)", s.segments, s.disk_bytes)
        }
        Some(s) => format!(
            "{} bytes waiting for PostgreSQL, the oldest for {} s ({} segment(s), {} bytes on disk)",
            s.backlog_bytes, s.oldest_backlog_secs, s.segments, s.disk_bytes
        ),
    }
    };
    print_fields(&[
        ("accounting", line(&report.accounting)),
        (
            "  refused by PostgreSQL",
            if rejected_packets == 0 {
                "0".to_owned()
            } else {
                format!("{rejected_packets} (in {})", rejected.display())
            },
        ),
        ("authentication log", line(&report.auth_log)),
    ]);
    Ok(())
}
