//! The command line, declared with clap. Values that need checking (rates,
//! dates, money, addresses) arrive as text and are checked in `parse`, so a
//! bad one gets Netily's one-line error naming the field.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The most rows a listing's `--limit` may ask for.
const MAX_LIMIT: i64 = 1_000_000;

/// `--limit`: 1 to [`MAX_LIMIT`], refused by the parser otherwise (a
/// negative LIMIT used to reach PostgreSQL).
fn limit() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..=MAX_LIMIT)
}

#[derive(Debug, Parser)]
#[command(
    name = "netadmin",
    version,
    about = "Netily operator CLI: plans, subscribers, invoices, routers"
)]
pub struct Cli {
    /// Config file [default: /etc/netily/netily.conf if it exists]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL; overrides the config file and NETILY_DATABASE_URL
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Print JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema
    Migrate,
    /// Operators of the web console and API (roles admin, support,
    /// readonly) and their API tokens
    #[command(subcommand)]
    Operator(OperatorCmd),
    /// The audit log: every change to subscribers, plans, invoices,
    /// routers, certificates and operators, from the console, the API,
    /// netadmin or SQL; newest first
    Audit {
        /// Only changes to this subscriber (their record, plan, invoices)
        #[arg(long)]
        user: Option<String>,
        /// Only changes made by this operator (or login user, for netadmin)
        #[arg(long)]
        operator: Option<String>,
        /// Only changes to this table (customers, plans, invoices, payments,
        /// routers, certificates, operators, ...)
        #[arg(long)]
        entity: Option<String>,
        /// Only entries older than this id (the next page)
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=500))]
        limit: i64,
    },
    /// Load demo or synthetic data
    #[command(subcommand)]
    Seed(SeedCmd),
    /// Service plans
    #[command(subcommand)]
    Plan(PlanCmd),
    /// Subscribers
    #[command(subcommand)]
    Customer(CustomerCmd),
    /// Invoices and payments
    #[command(subcommand)]
    Invoice(InvoiceCmd),
    /// Routers (NAS + management VPN)
    #[command(subcommand)]
    Router(RouterCmd),
    /// RADIUS clients (the nas table)
    #[command(subcommand)]
    Nas(NasCmd),
    /// Accounting sessions, newest first; `sessions close-stale` closes
    /// sessions whose router stopped reporting them
    Sessions(SessionsArgs),
    /// Make online sessions match their decisions now: CoA for a new rate,
    /// Disconnect for a refusal (once; `--follow` is the service)
    Enforce {
        /// Show what would be sent and why, send nothing
        #[arg(long, conflicts_with = "follow")]
        dry_run: bool,
        /// Keep enforcing (the netily-enforcer service): react to changes
        /// and deadlines; one node acts at a time
        #[arg(long)]
        follow: bool,
    },
    /// CoA and Disconnect-Requests sent to routers and their answers
    CoaLog {
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only those sent at or after this (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = limit())]
        limit: i64,
    },
    /// The authentication log (accepts and rejects with why)
    AuthLog {
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only rejects
        #[arg(long)]
        rejects: bool,
        #[arg(long, default_value_t = 100, value_parser = limit())]
        limit: i64,
    },
    /// The router PKI's certificate authority
    #[command(subcommand)]
    Ca(CaCmd),
    /// Router certificates
    #[command(subcommand)]
    Cert(CertCmd),
    /// Write the VPN server's certificate, key, CA, tls-crypt key and CRL
    ServerCert {
        /// Where OpenVPN's config expects them
        #[arg(long, value_name = "DIR", default_value = "/etc/netily/pki")]
        out_dir: std::path::PathBuf,
        /// The server certificate's common name
        #[arg(long, default_value = netily_core::db::pki::DEFAULT_SERVER_NAME)]
        name: String,
        /// Validity of a newly issued certificate
        #[arg(long, value_name = "DAYS", default_value_t = netily_core::db::pki::DEFAULT_CERT_DAYS)]
        days: u32,
        /// Issue a new certificate even if a current one exists
        #[arg(long)]
        renew: bool,
    },
    /// A fresh certificate revocation list (PEM) for OpenVPN's crl-verify;
    /// with the Netily plugin, revocations take effect without it
    Crl {
        /// Write it to FILE (atomically) instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// A router's complete inline OpenVPN client profile (holds its key)
    Ovpn { router: String },
    /// A RouterOS v7 script joining the router to Netily (VPN, RADIUS, CoA)
    MikrotikScript {
        router: String,
        /// Interim accounting interval for PPP and Hotspot, in minutes
        #[arg(long, value_name = "MINUTES", default_value_t = 5)]
        interim: u32,
    },
    /// The management VPN
    #[command(subcommand)]
    Vpn(VpnCmd),
    /// Subscribers by state, sessions, logins in the last 24h, routers online
    Dashboard,
    /// Usage: a subscriber's traffic and time online by hour, day, month or
    /// billing cycle (`usage USER`), top users, routers, plans
    Usage(UsageArgs),
    /// Retention: create radacct's months ahead, drop the months past
    /// keep_radacct_months, delete logins and usage past theirs (the
    /// enforcer does it every hour)
    Retention {
        /// Report what would go and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Also list radacct's partitions
        #[arg(long)]
        partitions: bool,
    },
    /// This RADIUS node's journals: what is acknowledged and not yet in
    /// PostgreSQL, and accounting packets PostgreSQL refused (no database
    /// needed: it reads the files)
    Journal {
        /// rlm_netily's journal_dir (mods-available/netily)
        #[arg(
            long,
            value_name = "DIR",
            default_value = "/var/log/freeradius/radacct/netily-journal"
        )]
        dir: std::path::PathBuf,
    },
    /// Move subscribers, plans and routers over from FreeRADIUS + rlm_sql
    /// (stock radcheck/radreply/radusergroup/radgroupcheck/radgroupreply/nas)
    Import {
        /// The rlm_sql database (libpq URL); default: this database's own
        /// rlm_sql tables
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// CSV with a header line: username,full_name[,phone][,email][,password]
        #[arg(long, value_name = "FILE")]
        subscribers: Option<std::path::PathBuf>,
        /// Rate of a plan whose group has no Mikrotik-Rate-Limit with units
        #[arg(long, value_name = "RATE", default_value = "10M/10M")]
        default_rate: String,
        /// Report what would be done and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Decide a login now, exactly as the RADIUS module would, and say why
    Check {
        username: String,
        /// Calling-Station-Id (the device's MAC)
        #[arg(long, value_name = "MAC")]
        mac: Option<String>,
        /// NAS-IP-Address (the router the device connects through)
        #[arg(long, value_name = "IP")]
        nas: Option<String>,
    },
}

/// The period a usage report covers: `--period`, or `--from`/`--to`.
#[derive(Debug, Args, Clone, Default)]
pub struct PeriodArgs {
    /// today, yesterday, 7d, 30d, month, last-month, 12m, YYYY-MM or
    /// YYYY-MM-DD, in the ISP's time zone [default: month]
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    /// First day (YYYY-MM-DD), included
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), included [default: today]
    #[arg(long, value_name = "DATE", requires = "from")]
    pub to: Option<String>,
    /// Print CSV (with a header line) instead of a table
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Also draw the report as a chart: FILE.svg or FILE.png
    #[arg(long, value_name = "FILE")]
    pub chart: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UsageArgs {
    #[command(subcommand)]
    pub command: Option<UsageCmd>,
    /// The subscriber
    #[arg(value_name = "USER")]
    pub username: Option<String>,
    /// The subscriber, for one named like a report (top, routers, plans, fold)
    #[arg(long = "user", value_name = "USER", conflicts_with = "username")]
    pub user: Option<String>,
    /// Group by hour, day, month or cycle (the subscriber's billing cycles)
    #[arg(long, default_value = "day")]
    pub by: String,
    #[command(flatten)]
    pub period: PeriodArgs,
}

#[derive(Debug, Subcommand)]
pub enum UsageCmd {
    /// The subscribers who moved the most bytes
    Top {
        #[command(flatten)]
        period: PeriodArgs,
        /// Only traffic through this router (a name or an address)
        #[arg(long, value_name = "IP|ROUTER")]
        router: Option<String>,
        /// Only subscribers now on this plan
        #[arg(long)]
        plan: Option<String>,
        #[arg(long, default_value_t = 20, value_parser = limit())]
        limit: i64,
    },
    /// Traffic, sessions and subscribers per router; with --router, that
    /// router's traffic by hour (its chart: the average rate in Mbit/s)
    Routers {
        #[command(flatten)]
        period: PeriodArgs,
        /// One router (a name or an address), by hour
        #[arg(long, value_name = "IP|ROUTER")]
        router: Option<String>,
    },
    /// Subscribers and traffic per plan (what is sold against what is used)
    Plans {
        #[command(flatten)]
        period: PeriodArgs,
    },
    /// Fold finished hours into the monthly sums now (the enforcer does it
    /// every few minutes; reports are right either way, only faster)
    Fold,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: Option<SessionsCmd>,
    /// Only sessions that have not stopped
    #[arg(long)]
    pub active: bool,
    /// Only this subscriber's sessions
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only sessions from this NAS: an address, or a router's name (its NAS
    /// address and its VPN address)
    #[arg(long, value_name = "IP|ROUTER")]
    pub nas: Option<String>,
    /// Only sessions started at or after this (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    #[arg(long, default_value_t = 100, value_parser = limit())]
    pub limit: i64,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCmd {
    /// Close every open session with no accounting for longer than 2 x its
    /// interim interval + stale_session_margin (terminate cause
    /// Stale-Session), so it no longer counts for simultaneous use; its
    /// router's next Interim-Update reopens it
    CloseStale {
        /// List the sessions that would be closed, and close nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// End a subscriber's open sessions (or one session) now: a
    /// Disconnect-Request to the router, the outcome in `coa-log`
    Kick {
        /// A username, or an open session's Acct-Session-Id or unique id
        #[arg(value_name = "USER|SESSION")]
        target: String,
    },
    /// Push the subscriber's current decision onto their open sessions now
    /// (a CoA-Request with the rate and timeouts, or a Disconnect-Request
    /// where a CoA cannot change what differs)
    Coa {
        #[arg(value_name = "USER")]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SeedCmd {
    /// A small demo ISP: plans, a subscriber in every state, router 127.0.0.1
    Demo,
    /// Bulk synthetic subscribers for load tests
    Synthetic {
        #[arg(long, value_name = "N")]
        subscribers: u64,
        #[arg(long, value_name = "M", default_value_t = 0)]
        routers: u64,
    },
}

#[derive(Debug, Args)]
pub struct PlanFields {
    /// Mikrotik-Rate-Limit, every rate with a unit (k, M, G), e.g. "10M/20M" or
    /// "10M/20M 20M/40M 8M/16M 16/16 8"
    #[arg(long)]
    pub rate: Option<String>,
    /// Monthly price, e.g. 29.00
    #[arg(long)]
    pub price: Option<String>,
    /// Data cap per billing cycle, e.g. 100G ("none" clears)
    #[arg(long, value_name = "BYTES")]
    pub data_cap: Option<String>,
    /// Rate after the data cap, with units like --rate ("none" clears)
    #[arg(long, value_name = "RATE")]
    pub fair_use_rate: Option<String>,
    /// Session-Timeout in seconds ("none" clears)
    #[arg(long, value_name = "SECONDS")]
    pub session_timeout: Option<String>,
    /// Idle-Timeout in seconds ("none" clears)
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<String>,
    /// Acct-Interim-Interval in seconds ("none" clears)
    #[arg(long, value_name = "SECONDS")]
    pub interim_interval: Option<String>,
    /// Framed-Pool ("none" clears)
    #[arg(long, value_name = "POOL")]
    pub ip_pool: Option<String>,
    /// Mikrotik-Group ("none" clears)
    #[arg(long, value_name = "GROUP")]
    pub mikrotik_group: Option<String>,
    /// Mikrotik-Address-List ("none" clears)
    #[arg(long, value_name = "LIST")]
    pub address_list: Option<String>,
    /// Simultaneous-Use limit ("none" = unlimited)
    #[arg(long, value_name = "N")]
    pub simultaneous_use: Option<String>,
    /// Billing cycles of N days (1 = a day pass, 7 = weekly) instead of monthly
    /// on the subscription's day ("monthly" or "none" restores that)
    #[arg(long, value_name = "N")]
    pub cycle_days: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Add an operator; the password is read from standard input (asked
    /// twice on a terminal), or made up and printed with --generate-password
    Add {
        name: String,
        /// admin (everything), support (subscribers, payments, sessions) or
        /// readonly (sees everything, changes nothing)
        #[arg(long)]
        role: String,
        #[arg(long)]
        generate_password: bool,
    },
    List,
    /// Remove an operator, their tokens and console sessions (not the last
    /// admin)
    Remove {
        name: String,
    },
    /// Set a new password (from standard input, or --generate-password);
    /// ends the operator's console sessions
    Passwd {
        name: String,
        #[arg(long)]
        generate_password: bool,
    },
    /// Change an operator's role
    Role {
        name: String,
        role: String,
    },
    /// API tokens for integrations (billing systems, payment gateways)
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make a token acting as OPERATOR (with their role); it is printed
    /// once and only its hash is kept
    Add {
        operator: String,
        /// What it is for, e.g. "billing gateway"
        #[arg(long)]
        label: String,
        /// It stops working after this many days [default: until revoked]
        #[arg(long, value_name = "DAYS")]
        expires_days: Option<u32>,
    },
    /// Tokens, newest first, with when they were last used
    List {
        #[arg(long)]
        operator: Option<String>,
    },
    /// Revoke a token by its id or the prefix `token list` shows
    Revoke { token: String },
}

#[derive(Debug, Subcommand)]
pub enum PlanCmd {
    /// Add a plan (--rate is required)
    Add {
        name: String,
        #[command(flatten)]
        fields: PlanFields,
    },
    List,
    Show {
        name: String,
    },
    /// Change a plan's fields
    Update {
        name: String,
        #[command(flatten)]
        fields: PlanFields,
    },
    /// Remove a plan no subscription uses
    Remove {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerCmd {
    /// Add a subscriber (and subscribe them with --plan)
    Add {
        username: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_name = "FULL NAME", default_value = "")]
        name: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Bind to this MAC (Calling-Station-Id)
        #[arg(long, value_name = "MAC")]
        mac: Option<String>,
        /// Fixed IPv4 address (Framed-IP-Address)
        #[arg(long, value_name = "IP")]
        static_ip: Option<String>,
        #[arg(long)]
        plan: Option<String>,
        /// Subscription expiry (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
    List {
        /// active, suspended or terminated
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        plan: Option<String>,
        /// Part of the username, name, phone or MAC; or an IP address (the
        /// static IP or an online session's)
        #[arg(long)]
        search: Option<String>,
        /// Only usernames after this one (the next page)
        #[arg(long, value_name = "USERNAME")]
        after: Option<String>,
        #[arg(long, value_parser = limit())]
        limit: Option<i64>,
    },
    Show {
        username: String,
    },
    /// Change details ("none" clears phone, email, mac, static-ip)
    Update {
        username: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, value_name = "FULL NAME")]
        name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_name = "MAC")]
        mac: Option<String>,
        #[arg(long, value_name = "IP")]
        static_ip: Option<String>,
    },
    /// Start a new subscription on PLAN (ends the current one)
    SetPlan {
        username: String,
        plan: String,
        /// Start (YYYY-MM-DD or RFC 3339) [default: now]
        #[arg(long, value_name = "DATE")]
        starts: Option<String>,
        /// First moment no longer covered (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
    /// Switch service off (operator decision)
    Suspend {
        username: String,
    },
    /// Switch service back on
    Resume {
        username: String,
    },
    /// End the contract
    Terminate {
        username: String,
    },
    /// Delete a subscriber and their billing records
    Remove {
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InvoiceCmd {
    /// Issue an invoice
    Add {
        username: String,
        /// Amount, e.g. 29.00
        #[arg(long)]
        amount: String,
        /// Due date (YYYY-MM-DD or RFC 3339) [default: issued + 14 days]
        #[arg(long, value_name = "DATE")]
        due: Option<String>,
        /// Issue date [default: now]
        #[arg(long, value_name = "DATE")]
        issued: Option<String>,
        /// Invoice number [default: INV-<id>]
        #[arg(long)]
        number: Option<String>,
    },
    List {
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// unpaid, paid or void
        #[arg(long)]
        status: Option<String>,
        #[arg(long, value_parser = limit())]
        limit: Option<i64>,
    },
    /// Record full payment
    Pay {
        number: String,
        #[arg(long, default_value = "cash")]
        method: String,
        #[arg(long)]
        reference: Option<String>,
        #[arg(long, value_name = "DATE")]
        paid_at: Option<String>,
    },
    /// Cancel an unpaid invoice
    Void { number: String },
}

#[derive(Debug, Subcommand)]
pub enum RouterCmd {
    /// Register a router as a RADIUS client and give it a VPN address
    Add {
        name: String,
        /// The address it sends RADIUS from
        #[arg(long, value_name = "IP")]
        ip: String,
        /// RADIUS shared secret
        #[arg(long)]
        secret: String,
        #[arg(long)]
        description: Option<String>,
    },
    List,
    Show {
        name: String,
    },
    /// Change a router's NAS address, RADIUS secret, description or CoA port
    Update {
        name: String,
        /// The address it sends RADIUS from (besides its VPN address)
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
        /// New RADIUS shared secret
        #[arg(long)]
        secret: Option<String>,
        /// New description ("" clears it)
        #[arg(long)]
        description: Option<String>,
        /// The port it takes CoA and Disconnect-Requests on (`/radius
        /// incoming`; 3799 until set)
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        coa_port: Option<u16>,
    },
    /// Remove a router, its NAS entry, and revoke its certificates
    Remove {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NasCmd {
    /// RADIUS clients; secrets only with --show-secrets
    List {
        #[arg(long)]
        show_secrets: bool,
    },
    /// Add a RADIUS client that is not a managed router (routers: `router add`)
    Add {
        /// The address it sends from, or a network (192.0.2.0/24, 2001:db8::/64)
        #[arg(value_name = "ADDRESS")]
        address: String,
        /// Its short name (FreeRADIUS's shortname)
        #[arg(long)]
        shortname: String,
        /// RADIUS shared secret
        #[arg(long)]
        secret: String,
        /// NAS type [default: other]
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// The port it takes CoA and Disconnect-Requests on [default: 3799]
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        coa_port: Option<u16>,
    },
    /// Change a RADIUS client added with `nas add` (by address or short name)
    Update {
        #[arg(value_name = "ADDRESS|SHORTNAME")]
        nas: String,
        /// New address or network
        #[arg(long, value_name = "ADDRESS")]
        address: Option<String>,
        #[arg(long)]
        shortname: Option<String>,
        /// New RADIUS shared secret
        #[arg(long)]
        secret: Option<String>,
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// New description ("" clears it)
        #[arg(long)]
        description: Option<String>,
        /// The port it takes CoA and Disconnect-Requests on
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        coa_port: Option<u16>,
    },
    /// Remove a RADIUS client added with `nas add` (by address or short name)
    Remove {
        #[arg(value_name = "ADDRESS|SHORTNAME")]
        nas: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Create the certificate authority and the tls-crypt key (once)
    Init {
        #[arg(long, default_value = "Netily-CA")]
        name: String,
        #[arg(long, value_name = "DAYS", default_value_t = netily_core::db::pki::DEFAULT_CA_DAYS)]
        days: u32,
    },
    /// The CA's name, serial and validity
    Show {
        /// Print the CA certificate (PEM) instead
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// Issue a router's certificate
    Issue {
        router: String,
        #[arg(long, value_name = "DAYS", default_value_t = netily_core::db::pki::DEFAULT_CERT_DAYS)]
        days: u32,
        /// Revoke the router's current certificate and issue a new one
        #[arg(long)]
        replace: bool,
    },
    /// Revoke a router's certificates (by router name) or one certificate (by serial)
    Revoke {
        #[arg(value_name = "ROUTER|SERIAL")]
        target: String,
    },
    /// Every certificate issued: active, expired (past its not-after) or revoked
    List,
}

#[derive(Debug, Subcommand)]
pub enum VpnCmd {
    /// Routers' VPN state: connected, stale or disconnected
    Status {
        /// Only this router, in detail
        router: Option<String>,
    },
}
