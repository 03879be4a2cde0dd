//! `check USER`: the same decision the RADIUS module makes, explained.

use std::net::IpAddr;

use netily_core::db;
use netily_core::decision::{self, AccessRequest, Decision};
use netily_core::model::ReplySource;

use super::{now, Ctx};
use crate::output::print_json;
use crate::parse;
use crate::{Failure, Outcome};

pub fn run(ctx: &Ctx, username: &str, mac: Option<&str>, nas: Option<&str>) -> Outcome {
    let nas_ip = nas.map(|n| parse::ipv4("NAS address", n)).transpose()?;
    let record = ctx.in_tx(|tx| Ok(db::load_subscriber(tx, username)?))?;
    let request = AccessRequest {
        username,
        calling_station_id: mac,
        nas_ip: nas_ip.map(IpAddr::V4),
    };
    let decision = decision::decide(record.as_ref(), &request, now(), &ctx.config.policy());
    // Rows radiusd leaves out of the reply too (checked as both load them).
    let skipped = record.as_ref().map_or(&[][..], |r| &r.skipped_replies);
    if ctx.json {
        let mut v = serde_json::to_value(&decision)
            .map_err(|e| Failure(format!("cannot render JSON: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("username".into(), username.into());
            let skipped = serde_json::to_value(skipped)
                .map_err(|e| Failure(format!("cannot render JSON: {e}")))?;
            o.insert("skipped_replies".into(), skipped);
        }
        return print_json(&v);
    }
    match &decision {
        Decision::Accept {
            reply,
            walled_garden,
            why,
            ..
        } => {
            if *walled_garden {
                println!("ACCEPT {username} (walled garden)");
            } else {
                println!("ACCEPT {username}");
            }
            println!("reply:");
            for a in reply {
                println!("  {} := {}", a.name, a.value);
            }
            println!("why:");
            for w in why {
                println!("  {w}");
            }
        }
        Decision::Reject { reason } => {
            println!("REJECT {username}");
            println!("reason: {reason}");
        }
    }
    let (checks, replies): (Vec<_>, Vec<_>) = skipped
        .iter()
        .partition(|s| matches!(s.source, ReplySource::UserCheck | ReplySource::GroupCheck));
    if !replies.is_empty() {
        println!("skipped reply rows (radiusd leaves them out too):");
        for s in replies {
            let row = &s.row;
            println!(
                "  {} reply {} {} {} skipped: {}",
                s.source.as_str(),
                row.attribute,
                row.op,
                row.value,
                s.reason
            );
        }
    }
    if !checks.is_empty() {
        println!("check rows not used (radiusd does not use them either):");
        for s in checks {
            let row = &s.row;
            // A password row's value is a secret: named, never kept.
            let value = if netily_core::checks::is_password(&row.attribute) {
                "(value hidden)".to_string()
            } else {
                format!("{:?}", row.value)
            };
            println!(
                "  {} {} {} {value}: {}",
                s.source.table(),
                row.attribute,
                row.op,
                s.reason
            );
        }
    }
    Ok(())
}
