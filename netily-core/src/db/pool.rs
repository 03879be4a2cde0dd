//! Connecting: one client per caller (netadmin's command, each background
//! thread of the plugins), with the config's timeout and a password-free
//! error.
//!
//! A URL may name several hosts, as libpq's do
//! (`postgresql://u:p@db1:5432,db2:5432/netily`): they are tried in order,
//! each within the connect timeout. Netily writes, and LISTEN works only on
//! a primary, so unless the URL says otherwise (`target_session_attrs`) a
//! connection is kept only where writes are allowed: after a failover every
//! reconnect finds the promoted standby, never a read-only one.

use std::time::Duration;

use postgres::config::TargetSessionAttrs;
use postgres::NoTls;

use super::error::{Error, Result};

/// `url`'s settings with `connect_timeout`, and `application` as the
/// application name unless the URL names one.
fn parse(url: &str, connect_timeout: Duration, application: &str) -> Result<postgres::Config> {
    let mut cfg: postgres::Config = url.parse().map_err(|e: postgres::Error| Error::Connect {
        url: redact_url(url),
        detail: format!("not a valid PostgreSQL URL ({e})"),
    })?;
    cfg.connect_timeout(connect_timeout);
    if !url.contains("target_session_attrs") {
        cfg.target_session_attrs(TargetSessionAttrs::ReadWrite);
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name(application);
    }
    Ok(cfg)
}

/// The settings of a server's background connection: `timeout` bounds the
/// connect and, as statement_timeout, every statement; `extra_options`
/// (server settings, `-c name=value ...`) follow. Options the URL already
/// sets are kept, before these.
pub(crate) fn bounded_config(
    url: &str,
    timeout: Duration,
    application: &str,
    extra_options: &str,
) -> Result<postgres::Config> {
    let mut cfg = parse(url, timeout, application)?;
    let mut ours = format!("-c statement_timeout={}", timeout.as_millis().max(1));
    if !extra_options.is_empty() {
        ours.push(' ');
        ours.push_str(extra_options);
    }
    let options = match cfg.get_options() {
        Some(o) if !o.is_empty() => format!("{o} {ours}"),
        _ => ours,
    };
    cfg.options(&options);
    Ok(cfg)
}

/// The settings of a pooled server connection (the web console's):
/// `timeout` bounds the connect and, as statement_timeout, every statement,
/// so a slow query answers an operator with an error instead of holding a
/// pool slot. The pool (r2d2) opens connections with these.
pub fn pooled_config(url: &str, timeout: Duration, application: &str) -> Result<postgres::Config> {
    bounded_config(url, timeout, application, "")
}

/// One connection.
pub fn connect(url: &str, connect_timeout: Duration) -> Result<postgres::Client> {
    let cfg = parse(url, connect_timeout, "netily")?;
    open(url, &cfg)
}

/// One connection for a server's background thread: `timeout` bounds the
/// connect and every statement (statement_timeout, set at connect), so a
/// stuck statement never holds the thread, and its host's shutdown, forever.
pub fn connect_bounded(url: &str, timeout: Duration) -> Result<postgres::Client> {
    let cfg = bounded_config(url, timeout, "netily", "")?;
    open(url, &cfg)
}

/// A connection whose death both ends notice within seconds, for a lock
/// held as a lease (the enforcer's): TCP keepalives every second after 2 s
/// of silence, 3 unanswered = dead, on PostgreSQL's side (so it releases
/// the lock of a vanished host) and on ours ([`watchful`]); statements
/// bounded as [`connect_bounded`].
pub fn connect_lease(url: &str, timeout: Duration) -> Result<postgres::Client> {
    let mut cfg = bounded_config(
        url,
        timeout,
        "netily",
        "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3 \
         -c tcp_user_timeout=5000",
    )?;
    open(url, watchful(&mut cfg))
}

/// A connection that mostly waits (a LISTEN) and must notice within
/// seconds that its server vanished (a host powered off, a partition: no
/// connection is closed, and the kernel would take minutes to hours), so
/// that after a failover it moves to the new primary. `bounded`: every
/// statement too, as [`connect_bounded`].
pub fn connect_watchful(url: &str, timeout: Duration, bounded: bool) -> Result<postgres::Client> {
    let mut cfg = if bounded {
        bounded_config(url, timeout, "netily", "")?
    } else {
        parse(url, timeout, "netily")?
    };
    open(url, watchful(&mut cfg))
}

/// Our side of a dead-peer check: keepalives every second after 2 s of
/// silence, 3 unanswered = dead.
fn watchful(cfg: &mut postgres::Config) -> &postgres::Config {
    cfg.keepalives(true)
        .keepalives_idle(Duration::from_secs(2))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3)
        // Keepalives stop while data waits unacknowledged (a probe sent to
        // a vanished host): this bounds that case too.
        .tcp_user_timeout(Duration::from_secs(5))
}

fn open(url: &str, cfg: &postgres::Config) -> Result<postgres::Client> {
    cfg.connect(NoTls).map_err(|e| Error::Connect {
        url: redact_url(url),
        detail: connect_detail(&e),
    })
}

pub(crate) fn connect_detail(e: &postgres::Error) -> String {
    use std::error::Error as _;
    // The driver's top-level text is often just "error connecting to server";
    // the cause ("Connection refused", "password authentication failed") is
    // what the operator needs.
    match (e.as_db_error(), e.source()) {
        (Some(db), _) => db.message().to_owned(),
        (None, Some(src)) => src.to_string(),
        (None, None) => e.to_string(),
    }
}

/// The URL with any password removed, safe for messages and logs. Handles
/// both `postgresql://user:pass@host/db` and `key=value` forms.
pub fn redact_url(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgresql://")
        .map(|r| ("postgresql://", r))
        .or_else(|| url.strip_prefix("postgres://").map(|r| ("postgres://", r)))
    {
        let (scheme, rest) = rest;
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let authority = match authority.rfind('@') {
            Some(at) => {
                let (userinfo, hosts) = authority.split_at(at);
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{user}{hosts}")
            }
            None => authority.to_owned(),
        };
        // A password can also ride in the query string.
        let tail = redact_query_password(tail);
        return format!("{scheme}{authority}{tail}");
    }
    // key=value form: drop password=... (quoted or not).
    let mut out = Vec::new();
    let mut skip_quoted = false;
    for word in url.split_whitespace() {
        if skip_quoted {
            if word.ends_with('\'') && !word.ends_with("\\'") {
                skip_quoted = false;
            }
            continue;
        }
        if let Some(v) = word.strip_prefix("password=") {
            if v.starts_with('\'') && (v.len() == 1 || !v.ends_with('\'')) {
                skip_quoted = true;
            }
            continue;
        }
        out.push(word);
    }
    out.join(" ")
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.starts_with("password="))
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use postgres::config::{Host, TargetSessionAttrs};

    use super::{parse, redact_url, watchful};

    #[test]
    fn url_password_is_removed() {
        assert_eq!(
            redact_url("postgresql://netily:s3cret@127.0.0.1:55432/netily"),
            "postgresql://netily@127.0.0.1:55432/netily"
        );
        assert_eq!(
            redact_url("postgres://u:p@h/db?sslmode=disable&password=x"),
            "postgres://u@h/db?sslmode=disable"
        );
        assert_eq!(redact_url("postgresql://h/db"), "postgresql://h/db");
        assert_eq!(
            redact_url("host=h user=u password=s3cret dbname=d"),
            "host=h user=u dbname=d"
        );
        assert_eq!(
            redact_url("host=h password='a b c' dbname=d"),
            "host=h dbname=d"
        );
    }

    #[test]
    fn a_url_with_several_hosts_loses_only_its_password() {
        assert_eq!(
            redact_url("postgresql://netily:s3cret@db1:5432,db2:5433/netily?target_session_attrs=read-write"),
            "postgresql://netily@db1:5432,db2:5433/netily?target_session_attrs=read-write"
        );
        assert_eq!(
            redact_url("postgresql://netily:p@ss@[::1]:5,10.0.0.2:6/netily"),
            "postgresql://netily@[::1]:5,10.0.0.2:6/netily"
        );
        assert_eq!(
            redact_url("host=db1,db2 port=5432,5433 password=s3cret dbname=netily"),
            "host=db1,db2 port=5432,5433 dbname=netily"
        );
    }

    #[test]
    fn a_waiting_connection_gives_a_vanished_server_up_within_seconds() {
        let mut cfg = parse("postgresql://u@db1,db2/netily", Duration::from_secs(2), "t").unwrap();
        let cfg = watchful(&mut cfg);
        assert!(cfg.get_keepalives());
        let give_up = cfg.get_keepalives_idle()
            + cfg.get_keepalives_interval().unwrap() * cfg.get_keepalives_retries().unwrap();
        assert!(give_up <= Duration::from_secs(5), "{give_up:?}");
        assert_eq!(cfg.get_tcp_user_timeout(), Some(&Duration::from_secs(5)));
    }

    #[test]
    fn several_hosts_are_tried_in_order_and_only_a_writable_one_is_kept() {
        let cfg = parse(
            "postgresql://u:p@db1:5432,db2:5433/netily",
            Duration::from_secs(2),
            "t",
        )
        .unwrap();
        assert_eq!(
            cfg.get_hosts(),
            [Host::Tcp("db1".into()), Host::Tcp("db2".into())]
        );
        assert_eq!(cfg.get_ports(), [5432, 5433]);
        assert_eq!(
            cfg.get_target_session_attrs(),
            TargetSessionAttrs::ReadWrite
        );

        // One host too: a URL naming a standby fails at connect, clearly.
        let one = parse("postgresql://u@db1/netily", Duration::from_secs(2), "t").unwrap();
        assert_eq!(
            one.get_target_session_attrs(),
            TargetSessionAttrs::ReadWrite
        );

        // What the URL says wins (a read-only report against a replica).
        let any = parse(
            "host=db1,db2 dbname=netily target_session_attrs=any",
            Duration::from_secs(2),
            "t",
        )
        .unwrap();
        assert_eq!(any.get_target_session_attrs(), TargetSessionAttrs::Any);
    }
}
