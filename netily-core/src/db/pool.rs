//! Connecting: a single client for netadmin, an r2d2 pool for the servers.

use std::time::Duration;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use super::error::{Error, Result};
use crate::config::Config;

pub type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
pub type PooledClient = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

fn parse(url: &str, connect_timeout: Duration) -> Result<postgres::Config> {
    let mut cfg: postgres::Config = url.parse().map_err(|e: postgres::Error| Error::Connect {
        url: redact_url(url),
        detail: format!("not a valid PostgreSQL URL ({e})"),
    })?;
    cfg.connect_timeout(connect_timeout);
    if cfg.get_application_name().is_none() {
        cfg.application_name("netily");
    }
    Ok(cfg)
}

/// One connection, for a short-lived program such as netadmin.
pub fn connect(url: &str, connect_timeout: Duration) -> Result<postgres::Client> {
    let cfg = parse(url, connect_timeout)?;
    cfg.connect(NoTls).map_err(|e| Error::Connect {
        url: redact_url(url),
        detail: connect_detail(&e),
    })
}

/// A pool sized and timed from the config. The first connection is made
/// here, so a wrong URL fails at startup, not on the first request.
pub fn build_pool(config: &Config) -> Result<Pool> {
    let timeout = Duration::from_secs(config.connect_timeout.into());
    let cfg = parse(&config.database_url, timeout)?;
    let manager = PostgresConnectionManager::new(cfg, NoTls);
    r2d2::Pool::builder()
        .max_size(config.pool_size)
        .connection_timeout(timeout)
        .build(manager)
        .map_err(|e| Error::Connect {
            url: redact_url(&config.database_url),
            detail: e.to_string(),
        })
}

fn connect_detail(e: &postgres::Error) -> String {
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
    use super::redact_url;

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
}
