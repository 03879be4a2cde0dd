//! The console's list pages: dashboard, subscribers, sessions, routers,
//! invoices, the auth log and the audit log.

use askama::Template;
use axum::extract::{Query, State};
use axum::Extension;
use netily_core::db::customers::status_str;
use netily_core::db::Dashboard;
use serde::Deserialize;

use super::view::{bytes, money, opt_time, path_segment, query, time};
use super::{render, Nav, PageResult};
use crate::api::{admin, billing, network, subscribers};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    d: Dashboard,
    counted_at: String,
}

pub async fn dashboard(State(app): State<App>, Extension(who): Extension<Authed>) -> PageResult {
    let c = crate::dashboard::latest(&app).await?;
    Ok(render(&DashboardPage {
        nav: Nav::new(&who, "dashboard"),
        d: c.counts,
        counted_at: time(c.counted_at),
    }))
}

pub struct SubscriberLine {
    href: String,
    username: String,
    full_name: String,
    phone: Option<String>,
    status_text: &'static str,
    plan: String,
    unpaid: String,
}

#[derive(Template)]
#[template(path = "subscribers.html")]
struct SubscribersPage {
    nav: Nav,
    q: String,
    status: String,
    rows: Vec<SubscriberLine>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SubscribersQuery {
    q: Option<String>,
    status: Option<String>,
    after: Option<String>,
}

pub async fn subscribers(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(p): Query<SubscribersQuery>,
) -> PageResult {
    let q = p.q.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    let page = subscribers::search(
        &app,
        subscribers::ListQuery {
            q: Some(q.clone()).filter(|s| !s.trim().is_empty()),
            status: Some(status.clone()),
            plan: None,
            after: p.after,
            limit: None,
        },
    )
    .await?;
    let next = page.next.map(|after| {
        format!(
            "/subscribers?{}",
            query(&[("q", &q), ("status", &status), ("after", &after)])
        )
    });
    let rows = page
        .items
        .into_iter()
        .map(|c| SubscriberLine {
            href: format!("/subscribers/{}", path_segment(&c.username)),
            status_text: status_str(c.status),
            plan: c.plan.unwrap_or_else(|| "-".into()),
            unpaid: money(c.unpaid_cents),
            username: c.username,
            full_name: c.full_name,
            phone: c.phone,
        })
        .collect();
    Ok(render(&SubscribersPage {
        nav: Nav::new(&who, "subscribers"),
        q,
        status,
        rows,
        next,
    }))
}

/// Rows per page of a console list (sessions, invoices, logins, the
/// enforcement log).
const CONSOLE_ROWS: i64 = 100;

/// A cell of a generic list, with an optional link.
/// A cell of a generic list: text, a link, or a button posting a form.
pub struct Cell {
    text: String,
    href: Option<String>,
    post: Option<String>,
}

fn cell(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        href: None,
        post: None,
    }
}

fn link(text: impl Into<String>, href: String) -> Cell {
    Cell {
        href: Some(href),
        ..cell(text)
    }
}

fn button(text: impl Into<String>, action: String) -> Cell {
    Cell {
        post: Some(action),
        ..cell(text)
    }
}

fn subscriber_link(name: &str) -> Cell {
    let href = format!("/subscribers/{}", path_segment(name));
    link(name, href)
}

#[derive(Template)]
#[template(path = "table.html")]
struct TablePage {
    nav: Nav,
    title: &'static str,
    /// (name, value, placeholder) of each filter field.
    filters: Vec<(&'static str, String, &'static str)>,
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    next: Option<String>,
    /// A form below the list (adding a router).
    form: Option<AddForm>,
}

/// A form of text fields posting to `action`.
pub struct AddForm {
    id: &'static str,
    title: &'static str,
    action: &'static str,
    /// (name, label, placeholder) of each field.
    fields: Vec<(&'static str, &'static str, &'static str)>,
    button: &'static str,
}

#[derive(Deserialize)]
pub struct UserQuery {
    user: Option<String>,
    after: Option<String>,
}

/// The link to the page after this one, with the same filters.
fn next_link(path: &str, filters: &[(&str, &str)], next: Option<String>) -> Option<String> {
    next.map(|after| {
        let mut pairs = filters.to_vec();
        pairs.push(("after", &after));
        format!("{path}?{}", query(&pairs))
    })
}

pub async fn sessions(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<UserQuery>,
) -> PageResult {
    let user = q.user.unwrap_or_default();
    let page = network::list_sessions(
        &app,
        network::SessionQuery {
            user: Some(user.clone()),
            online: Some(true),
            after: q.after,
            limit: Some(CONSOLE_ROWS),
        },
    )
    .await?;
    let next = next_link("/sessions", &[("user", &user)], page.next);
    let rows = page
        .items
        .into_iter()
        .map(|s| {
            vec![
                s.username
                    .as_deref()
                    .map_or_else(|| cell("-"), subscriber_link),
                cell(opt_time(s.started_at)),
                cell(s.nas_ip),
                cell(s.framed_ip.unwrap_or_default()),
                cell(s.calling_station_id.unwrap_or_default()),
                cell(bytes(s.output_octets)),
                cell(bytes(s.input_octets)),
            ]
        })
        .collect();
    Ok(render(&TablePage {
        nav: Nav::new(&who, "sessions"),
        title: "Sessions online",
        filters: vec![("user", user, "username")],
        headers: vec!["Subscriber", "Started", "NAS", "IP", "MAC", "Down", "Up"],
        rows,
        next,
        form: None,
    }))
}

#[derive(Deserialize)]
pub struct RoutersQuery {
    done: Option<String>,
}

pub async fn routers(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<RoutersQuery>,
) -> PageResult {
    let list = network::list_routers(&app).await?;
    let admin = who.is_admin();
    let rows = list
        .into_iter()
        .map(|r| {
            let name = path_segment(&r.name);
            let mut row = vec![
                cell(r.name.clone()),
                cell(r.nas_ip.map(|i| i.to_string()).unwrap_or_default()),
                cell(r.vpn_address.map(|i| i.to_string()).unwrap_or_default()),
                cell(if r.online { "online" } else { "offline" }),
                cell(opt_time(r.last_seen)),
                cell(r.status),
            ];
            if admin {
                row.push(link("profile (.ovpn)", format!("/routers/{name}/ovpn")));
                row.push(link("RouterOS script", format!("/routers/{name}/script")));
                row.push(button(
                    "new certificate",
                    format!("/routers/{name}/certificate"),
                ));
                row.push(button("revoke", format!("/routers/{name}/revoke")));
                row.push(button("remove", format!("/routers/{name}/remove")));
            }
            row
        })
        .collect();
    let mut headers = vec![
        "Router",
        "NAS address",
        "VPN address",
        "VPN",
        "Last seen",
        "Status",
    ];
    if admin {
        headers.extend(["Profile", "Script", "Certificate", "", ""]);
    }
    let mut nav = Nav::new(&who, "routers");
    nav.flash = match q.done.as_deref() {
        Some("issued") => Some(
            "Certificate issued; the router's previous ones are revoked. Download its new profile.",
        ),
        Some("revoked") => {
            Some("The router's certificates are revoked: its VPN is refused from now on.")
        }
        Some("added") => Some(
            "Router added, with its first certificate once a CA exists. Download its RouterOS script.",
        ),
        Some("removed") => Some("Router removed: its NAS entry is gone and its certificates revoked."),
        _ => None,
    };
    let form = admin.then(|| AddForm {
        id: "add-router",
        title: "Add a router",
        action: "/routers",
        fields: vec![
            ("name", "Name", "e.g. tower-3"),
            ("ip", "NAS address", "the address it sends RADIUS from"),
            ("secret", "RADIUS secret", "shared secret"),
            ("description", "Description", "optional"),
        ],
        button: "Add router",
    });
    Ok(render(&TablePage {
        nav,
        title: "Routers",
        filters: vec![],
        headers,
        rows,
        next: None,
        form,
    }))
}

#[derive(Deserialize)]
pub struct InvoicesQuery {
    user: Option<String>,
    status: Option<String>,
    after: Option<String>,
}

pub async fn invoices(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<InvoicesQuery>,
) -> PageResult {
    let user = q.user.unwrap_or_default();
    let status = q.status.unwrap_or_default();
    let page = billing::list_invoices(
        &app,
        billing::InvoiceQuery {
            user: Some(user.clone()),
            status: Some(status.clone()),
            after: q.after,
            limit: Some(CONSOLE_ROWS),
        },
    )
    .await?;
    let next = next_link(
        "/invoices",
        &[("user", &user), ("status", &status)],
        page.next,
    );
    let rows = page
        .items
        .into_iter()
        .map(|i| {
            vec![
                cell(i.number),
                subscriber_link(&i.username),
                cell(money(i.amount_cents)),
                cell(money(i.paid_cents)),
                cell(time(i.issued_at)),
                cell(time(i.due_at)),
                cell(i.status),
            ]
        })
        .collect();
    Ok(render(&TablePage {
        nav: Nav::new(&who, "invoices"),
        title: "Invoices",
        filters: vec![
            ("user", user, "username"),
            ("status", status, "unpaid, paid or void"),
        ],
        headers: vec![
            "Number",
            "Subscriber",
            "Amount",
            "Paid",
            "Issued",
            "Due",
            "Status",
        ],
        rows,
        next,
        form: None,
    }))
}

#[derive(Deserialize)]
pub struct AuthLogPageQuery {
    user: Option<String>,
    days: Option<String>,
    after: Option<String>,
}

pub async fn auth_log(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<AuthLogPageQuery>,
) -> PageResult {
    let user = q.user.unwrap_or_default();
    let days_text = q.days.unwrap_or_default();
    let days = match days_text.trim() {
        "" => None,
        d => Some(d.parse::<i32>().map_err(|_| {
            ApiError::bad_request(format!("invalid days \"{d}\": a number from 1 to 31"))
        })?),
    };
    let page = network::list_auth_log(
        &app,
        network::AuthLogQuery {
            user: Some(user.clone()),
            rejects: None,
            days,
            after: q.after,
            limit: Some(CONSOLE_ROWS),
        },
    )
    .await?;
    let next = next_link(
        "/auth-log",
        &[("user", &user), ("days", &days_text)],
        page.next,
    );
    let rows = page
        .items
        .into_iter()
        .map(|a| {
            vec![
                cell(time(a.at)),
                subscriber_link(&a.username),
                cell(a.reply.unwrap_or_default()),
                cell(a.calling_station_id.unwrap_or_default()),
                cell(a.nas_ip.unwrap_or_default()),
                cell(a.reason.unwrap_or_default()),
            ]
        })
        .collect();
    Ok(render(&TablePage {
        nav: Nav::new(&who, "auth-log"),
        title: "Authentication log",
        filters: vec![
            ("user", user, "username"),
            (
                "days",
                days_text,
                "a subscriber's accepts: days back, 7 (up to 31)",
            ),
        ],
        headers: vec!["When", "Subscriber", "Reply", "MAC", "NAS", "Why"],
        rows,
        next,
        form: None,
    }))
}

#[derive(Deserialize)]
pub struct AuditPageQuery {
    user: Option<String>,
    operator: Option<String>,
    after: Option<String>,
}

pub async fn audit(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<AuditPageQuery>,
) -> PageResult {
    let user = q.user.unwrap_or_default();
    let operator = q.operator.unwrap_or_default();
    let page = admin::list_audit(
        &app,
        admin::AuditQuery {
            user: Some(user.clone()),
            operator: Some(operator.clone()),
            entity: None,
            after: q.after,
            limit: None,
        },
    )
    .await?;
    let next = next_link(
        "/audit",
        &[("user", &user), ("operator", &operator)],
        page.next,
    );
    let rows = page
        .items
        .into_iter()
        .map(|e| {
            vec![
                cell(time(e.at)),
                cell(e.actor),
                cell(e.via),
                cell(e.action),
                match (&e.subscriber, e.entity.as_str()) {
                    (Some(s), _) => subscriber_link(s),
                    _ => cell(format!(
                        "{} {}",
                        e.entity,
                        e.entity_key.as_deref().unwrap_or("")
                    )),
                },
                cell(netily_core::audit::describe_change(
                    e.before.as_ref(),
                    e.after.as_ref(),
                )),
            ]
        })
        .collect();
    Ok(render(&TablePage {
        nav: Nav::new(&who, "audit"),
        title: "Audit log",
        filters: vec![
            ("user", user, "subscriber"),
            ("operator", operator, "operator"),
        ],
        headers: vec!["When", "Who", "Via", "Action", "What", "Change"],
        rows,
        next,
        form: None,
    }))
}

#[derive(Deserialize)]
pub struct EnforcementPageQuery {
    user: Option<String>,
    after: Option<String>,
}

pub async fn enforcement(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<EnforcementPageQuery>,
) -> PageResult {
    let user = q.user.unwrap_or_default();
    let page = network::list_enforcement(
        &app,
        network::EnforcementQuery {
            user: Some(user.clone()),
            after: q.after,
            limit: Some(CONSOLE_ROWS),
        },
    )
    .await?;
    let next = next_link("/enforcement", &[("user", &user)], page.next);
    let rows = page
        .items
        .into_iter()
        .map(|e| {
            vec![
                cell(time(e.sent_at)),
                subscriber_link(&e.username),
                cell(e.kind),
                cell(e.router.unwrap_or(e.target)),
                cell(e.outcome),
                cell(e.attributes),
                cell(e.why),
                cell(e.origin),
            ]
        })
        .collect();
    Ok(render(&TablePage {
        nav: Nav::new(&who, "enforcement"),
        title: "Enforcement log",
        filters: vec![("user", user, "username")],
        headers: vec![
            "Sent",
            "Subscriber",
            "Request",
            "Router",
            "Outcome",
            "Attributes",
            "Why",
            "From",
        ],
        rows,
        next,
        form: None,
    }))
}
