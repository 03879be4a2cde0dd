//! A subscriber's page: who they are, their cycle against the cap, the
//! login decision explained, invoices with payment, sessions, logins and
//! every change made to them; with suspend, resume and plan change.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::Extension;
use netily_core::db::customers::status_str;
use netily_core::db::subscriber_detail;
use netily_core::decision::Decision;
use netily_core::operators::Area;
use serde::Deserialize;

use super::view::{bytes, money, opt_time, path_segment, time};
use super::{render, Nav, PageResult};
use crate::api::subscribers;
use crate::auth::Authed;
use crate::state::App;

pub struct CycleView {
    from: String,
    to: String,
    used: String,
    cap: Option<String>,
    percent: Option<u64>,
}

pub struct InvoiceLine {
    number: String,
    pay_action: String,
    amount: String,
    due: String,
    status: String,
}

pub struct SessionLine {
    started: String,
    stopped: String,
    nas: String,
    ip: String,
    mac: String,
    down: String,
    up: String,
    cause: String,
}

pub struct LoginLine {
    at: String,
    reply: String,
    mac: String,
    nas: String,
    reason: String,
}

pub struct ChangeLine {
    at: String,
    actor: String,
    via: String,
    action: String,
    change: String,
}

#[derive(Template)]
#[template(path = "subscriber.html")]
struct SubscriberPage {
    nav: Nav,
    s: netily_core::db::CustomerRow,
    /// The username as one path segment (a `/` or `..` in it must not
    /// point the forms at another subscriber).
    path: String,
    status: &'static str,
    static_ip: String,
    plan: String,
    unpaid: String,
    cycle: Option<CycleView>,
    check: String,
    accepted: bool,
    may_change: bool,
    /// A session is open now (the kick button).
    online: bool,
    plans: Vec<String>,
    invoices: Vec<InvoiceLine>,
    sessions: Vec<SessionLine>,
    logins: Vec<LoginLine>,
    changes: Vec<ChangeLine>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The message a finished action leaves (fixed texts: nothing from the URL
/// reaches the page).
fn flash(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "suspended" => {
            Some("Suspended. Their next login is refused; the enforcer ends open sessions.")
        }
        "resumed" => Some("Resumed. They can log in again."),
        "plan" => Some("Plan changed; open sessions get the new rate."),
        "paid" => Some("Payment recorded."),
        "terminated" => Some("Terminated. Logins are refused; the enforcer ends open sessions."),
        "invoiced" => Some("Invoice issued."),
        "kicked" => Some("Disconnect-Request sent; the Enforcement page has the router's answer."),
        _ => None,
    }
}

pub async fn page(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
    Query(d): Query<Done>,
) -> PageResult {
    let detail = subscribers::detail(&app, username.clone()).await?;
    let name = username.clone();
    let (history, plans) = app
        .read(move |tx| {
            let h = subscriber_detail::subscriber_history(tx, &name)?;
            let plans = netily_core::db::plans::plan_names(tx)?;
            Ok((h, plans))
        })
        .await?;
    let (accepted, check) = match subscribers::decide(&app, username, None, None).await? {
        Decision::Accept {
            why, walled_garden, ..
        } => {
            let garden = if walled_garden {
                " (walled garden)"
            } else {
                ""
            };
            (true, format!("Accepted{garden}: {}", why.join("; ")))
        }
        Decision::Reject { reason } => (false, format!("Rejected: {reason}")),
    };
    let s = detail.subscriber;
    let cycle = detail.cycle.map(|c| CycleView {
        from: time(c.cycle.start),
        to: time(c.cycle.end),
        used: bytes(i64::try_from(c.usage_bytes).unwrap_or(i64::MAX)),
        cap: c.cap_bytes.map(netily_core::billing::format_bytes),
        percent: c
            .cap_bytes
            .filter(|cap| *cap > 0)
            .map(|cap| (c.usage_bytes.saturating_mul(100) / cap).min(100)),
    });
    let mut nav = Nav::new(&who, "subscribers");
    nav.flash = flash(d.done.as_deref());
    let page = SubscriberPage {
        nav,
        path: path_segment(&s.username),
        status: status_str(s.status),
        static_ip: s
            .static_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into()),
        plan: s.plan.clone().unwrap_or_else(|| "-".into()),
        unpaid: money(s.unpaid_cents),
        cycle,
        check,
        accepted,
        may_change: who.may(Area::Subscribers),
        online: history.sessions.iter().any(|x| x.stopped_at.is_none()),
        plans,
        invoices: detail
            .invoices
            .into_iter()
            .map(|i| InvoiceLine {
                pay_action: format!("/invoices/{}/pay", path_segment(&i.number)),
                number: i.number,
                amount: money(i.amount_cents),
                due: time(i.due_at),
                status: i.status,
            })
            .collect(),
        sessions: history
            .sessions
            .into_iter()
            .map(|x| SessionLine {
                started: opt_time(x.started_at),
                stopped: x.stopped_at.map_or_else(|| "online".into(), time),
                nas: x.nas_ip,
                ip: x.framed_ip.unwrap_or_default(),
                mac: x.calling_station_id.unwrap_or_default(),
                down: bytes(x.output_octets),
                up: bytes(x.input_octets),
                cause: x.terminate_cause.unwrap_or_default(),
            })
            .collect(),
        logins: history
            .auth_log
            .into_iter()
            .map(|a| LoginLine {
                at: time(a.at),
                reply: a.reply.unwrap_or_default(),
                mac: a.calling_station_id.unwrap_or_default(),
                nas: a.nas_ip.unwrap_or_default(),
                reason: a.reason.unwrap_or_default(),
            })
            .collect(),
        changes: history
            .audit
            .into_iter()
            .map(|e| ChangeLine {
                at: time(e.at),
                change: netily_core::audit::describe_change(e.before.as_ref(), e.after.as_ref()),
                actor: e.actor,
                via: e.via,
                action: e.action,
            })
            .collect(),
        s,
    };
    Ok(render(&page))
}
