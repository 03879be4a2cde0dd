//! All PostgreSQL access. The only module that speaks SQL; every statement is
//! parameterized.
//!
//! Functions take `&mut impl GenericClient`, so a caller decides the
//! transaction: netadmin runs each command in one, the servers use a pooled
//! client. Times cross this boundary as `UnixTime` (seconds since the epoch).

mod error;

pub mod accounting;
pub mod audit;
pub mod auth_log;
pub mod auth_log_writer;
pub mod customers;
pub mod dashboard;
pub mod enforcement;
pub mod import;
pub mod invoices;
pub mod journal_positions;
pub mod listen;
pub mod migrate;
pub mod nas;
pub mod onboard;
pub mod operators;
pub mod page;
pub mod pki;
pub mod plans;
pub mod pool;
pub mod post_auth;
pub mod record;
pub mod retention;
pub mod routers;
pub mod seed;
pub mod sessions;
pub mod stale_sessions;
pub mod subscriber_detail;
pub mod subscriptions;
pub mod usage;
pub mod vpn_status;
pub mod vpn_store;

pub use auth_log::{list_auth_log, AuthLogEntry, AuthLogFilter};
pub use customers::{
    add_customer, get_customer, list_customers, remove_customer, set_customer_status,
    update_customer, CustomerFilter, CustomerRow, CustomerUpdate, NewCustomer,
};
pub use dashboard::{dashboard, Dashboard};
pub use error::{Error, Result};
pub use invoices::{
    add_invoice, list_invoices, pay_invoice, void_invoice, InvoiceFilter, InvoiceRow, NewInvoice,
    Payment,
};
pub use migrate::{migrate, Migration, MigrationReport, MIGRATIONS};
pub use nas::{list_nas, NasRow};
pub use plans::{
    add_plan, all_plans, get_plan, list_plans, remove_plan, update_plan, NewPlan, PlanUpdate,
};
pub use pool::{connect, connect_bounded, connect_lease, connect_watchful, redact_url};
pub use record::{for_each_subscriber, load_all_subscribers, load_subscriber, load_subscribers};
pub use routers::{
    add_router, get_router, list_routers, remove_router, update_router, NewRouter, RouterChange,
    RouterRow,
};
pub use seed::{seed_demo, seed_synthetic, SeedReport, SyntheticReport};
pub use sessions::{list_sessions, SessionFilter, SessionRow};
pub use stale_sessions::{close_stale_sessions, find_stale_sessions, StaleSession};
pub use subscriptions::{set_plan, SubscriptionRow};
pub use vpn_status::{vpn_status, VpnStatusRow, STALE_AFTER_SECONDS};

pub use postgres::{Client, GenericClient, Transaction};

/// `floor(extract(epoch ...))` as a bigint: how every timestamp leaves SQL
/// (floor, not a cast: a cast rounds, putting stored times up to half a
/// second in the future).
macro_rules! epoch {
    ($col:literal) => {
        concat!("floor(extract(epoch from ", $col, "))::bigint")
    };
}
pub(crate) use epoch;
