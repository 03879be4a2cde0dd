//! Everything an operator reads about one subscriber at once (netadmin's
//! `customer show`, the console's subscriber page, the API's
//! `/subscribers/{name}`): one code path, so they never disagree.

use postgres::GenericClient;
use serde::Serialize;

use super::audit::{last_removal, list_audit, AuditEntry, AuditFilter};
use super::auth_log::{list_auth_log, AuthLogEntry, AuthLogFilter};
use super::customers::{get_customer, CustomerRow};
use super::error::Result;
use super::invoices::{list_invoices, InvoiceFilter, InvoiceRow};
use super::record::load_subscriber;
use super::sessions::{list_sessions, SessionFilter, SessionRow};
use super::subscriptions::{list_subscriptions, SubscriptionRow};
use crate::cycle::{self, CycleUsage};
use crate::model::UnixTime;

/// How many of the newest sessions, logins and audit entries it carries.
pub const RECENT: i64 = 20;

/// How far back its logins go: a week (the auth log page and
/// `netadmin auth-log --user` go further).
pub const RECENT_LOGINS_HOURS: i32 = 24 * 7;

#[derive(Debug, Clone, Serialize)]
pub struct SubscriberDetail {
    pub subscriber: CustomerRow,
    /// The billing cycle of now with its usage against the cap.
    pub cycle: Option<CycleUsage>,
    pub subscriptions: Vec<SubscriptionRow>,
    pub invoices: Vec<InvoiceRow>,
}

/// The subscriber, their cycle, subscriptions and invoices.
pub fn subscriber_detail(
    conn: &mut impl GenericClient,
    username: &str,
    now: UnixTime,
) -> Result<SubscriberDetail> {
    let subscriber = get_customer(conn, username)?;
    let subscriptions = list_subscriptions(conn, username)?;
    let record = load_subscriber(conn, username)?;
    let invoices = list_invoices(
        conn,
        &InvoiceFilter {
            username: Some(username.to_owned()),
            ..InvoiceFilter::default()
        },
    )?;
    Ok(SubscriberDetail {
        subscriber,
        cycle: record.and_then(|r| cycle::cycle_usage(&r, now)),
        subscriptions,
        invoices,
    })
}

/// What the console's subscriber page adds: the newest sessions, logins and
/// changes.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberHistory {
    pub sessions: Vec<SessionRow>,
    pub auth_log: Vec<AuthLogEntry>,
    pub audit: Vec<AuditEntry>,
}

/// Only this subscriber's: a username removed and made again starts a new
/// history at its last removal (when the audit log recorded one).
pub fn subscriber_history(
    conn: &mut impl GenericClient,
    username: &str,
) -> Result<SubscriberHistory> {
    let removed = last_removal(conn, username)?;
    let since = removed.map(|(_, at)| at);
    Ok(SubscriberHistory {
        sessions: list_sessions(
            conn,
            &SessionFilter {
                username: Some(username.to_owned()),
                limit: Some(RECENT),
                since,
                ..SessionFilter::default()
            },
        )?,
        auth_log: list_auth_log(
            conn,
            &AuthLogFilter {
                username: Some(username.to_owned()),
                rejects_only: false,
                limit: Some(RECENT),
                max_hours: Some(RECENT_LOGINS_HOURS),
                since,
                ..AuthLogFilter::default()
            },
        )?,
        audit: list_audit(
            conn,
            &AuditFilter {
                subscriber: Some(username.to_owned()),
                limit: RECENT,
                after_id: removed.map(|(id, _)| id),
                ..AuditFilter::default()
            },
        )?,
    })
}
