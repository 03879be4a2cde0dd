//! Subscribers (the `customers` table): credentials, status, bindings.

use std::net::{IpAddr, Ipv4Addr};

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::epoch;
use super::error::{q, sql, Error, Result};
use crate::model::{SubscriberStatus, UnixTime};

pub fn status_str(s: SubscriberStatus) -> &'static str {
    match s {
        SubscriberStatus::Active => "active",
        SubscriberStatus::Suspended => "suspended",
        SubscriberStatus::Terminated => "terminated",
    }
}

pub fn parse_status(s: &str) -> Result<SubscriberStatus> {
    match s {
        "active" => Ok(SubscriberStatus::Active),
        "suspended" => Ok(SubscriberStatus::Suspended),
        "terminated" => Ok(SubscriberStatus::Terminated),
        other => Err(Error::invalid(
            "status",
            format!("\"{other}\": expected active, suspended or terminated"),
        )),
    }
}

/// A subscriber as the operator sees it (never the password).
#[derive(Debug, Clone, Serialize)]
pub struct CustomerRow {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: SubscriberStatus,
    pub mac_binding: Option<String>,
    pub static_ip: Option<Ipv4Addr>,
    /// The plan of the active subscription.
    pub plan: Option<String>,
    pub expires_at: Option<UnixTime>,
    /// Sum of unpaid invoices.
    pub unpaid_cents: i64,
    /// Earliest due date among unpaid invoices.
    pub oldest_due_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

const CUSTOMER_SELECT: &str = concat!(
    "SELECT c.id, c.username, c.full_name, c.phone, c.email, c.status, c.mac_binding, c.static_ip,
            p.name, ",
    epoch!("s.expires_at"),
    // sum() of bigint is numeric: capped, it cannot fail the cast.
    ", least(coalesce(i.unpaid, 0), 9223372036854775807)::bigint, i.oldest, ",
    epoch!("c.created_at"),
    " FROM customers c
       LEFT JOIN subscriptions s ON s.customer_id = c.id AND s.active
       LEFT JOIN plans p ON p.id = s.plan_id
       LEFT JOIN LATERAL (SELECT sum(amount_cents) AS unpaid,
                                 floor(extract(epoch from min(due_at)))::bigint AS oldest
                            FROM invoices WHERE customer_id = c.id AND status = 'unpaid') i ON true"
);

fn customer_from_row(r: &Row) -> Result<CustomerRow> {
    let status: String = r.get(5);
    let ip: Option<IpAddr> = r.get(7);
    Ok(CustomerRow {
        id: r.get(0),
        username: r.get(1),
        full_name: r.get(2),
        phone: r.get(3),
        email: r.get(4),
        status: parse_status(&status).map_err(|e| Error::corrupt("subscriber status", e))?,
        mac_binding: r.get(6),
        static_ip: ip.and_then(|ip| match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }),
        plan: r.get(8),
        expires_at: r.get(9),
        unpaid_cents: r.get(10),
        oldest_due_at: r.get(11),
        created_at: r.get(12),
    })
}

#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub username: String,
    pub password: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub mac_binding: Option<String>,
    pub static_ip: Option<Ipv4Addr>,
}

/// Changes to a subscriber: `None` keeps; `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct CustomerUpdate {
    pub password: Option<String>,
    pub full_name: Option<String>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub mac_binding: Option<Option<String>>,
    pub static_ip: Option<Option<Ipv4Addr>>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub status: Option<SubscriberStatus>,
    pub plan: Option<String>,
    /// Text found in the username, full name, phone or MAC binding; or an
    /// IPv4 address: the static IP, or the address of an open session.
    pub search: Option<String>,
    /// Only usernames after this one (the next page: rows come in username
    /// order, so every page costs the same at any depth).
    pub after: Option<String>,
    pub limit: Option<i64>,
}

pub fn check_username(username: &str) -> Result<()> {
    if username.is_empty()
        || username.len() > 253
        || username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::invalid(
            "username",
            format!("\"{username}\": 1-253 characters, no spaces or control characters"),
        ));
    }
    Ok(())
}

pub(crate) fn check_password(password: &str) -> Result<()> {
    if password.is_empty() || password.len() > 128 || password.chars().any(char::is_control) {
        return Err(Error::invalid(
            "password",
            "1-128 characters, no control characters",
        ));
    }
    Ok(())
}

/// A MAC address as `AA:BB:CC:DD:EE:FF`; accepts `:`, `-`, `.` or no separators.
pub fn normalize_mac(mac: &str) -> Result<String> {
    let hex: String = mac
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "MAC address",
            format!("\"{mac}\": expected six hex pairs, e.g. AA:BB:CC:DD:EE:FF"),
        ));
    }
    let up = hex.to_ascii_uppercase();
    Ok(up
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":"))
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub fn add_customer(conn: &mut impl GenericClient, c: &NewCustomer) -> Result<CustomerRow> {
    check_username(&c.username)?;
    check_password(&c.password)?;
    let mac = c.mac_binding.as_deref().map(normalize_mac).transpose()?;
    let ip = c.static_ip.map(IpAddr::V4);
    let row = conn
        .query_one(
            "INSERT INTO customers (username, password, full_name, phone, email, mac_binding, static_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &c.username,
                &c.password,
                &c.full_name,
                &nonempty(&c.phone),
                &nonempty(&c.email),
                &mac,
                &ip,
            ],
        )
        .map_err(|e| {
            let ip_clash = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .is_some_and(|c| c == "customers_static_ip_key");
            if ip_clash {
                Error::Duplicate {
                    what: format!("a subscriber with static IP {}", c.static_ip.map(|i| i.to_string()).unwrap_or_default()),
                }
            } else {
                sql("adding a subscriber", &format!("username '{}'", c.username))(e)
            }
        })?;
    let id: i64 = row.get(0);
    get_customer_by_id(conn, id)
}

/// Adds a subscriber and, with `plan`, subscribes them (until `expires`):
/// netadmin's `customer add --plan` and the API's, in the caller's
/// transaction.
pub fn add_with_plan(
    conn: &mut impl GenericClient,
    c: &NewCustomer,
    plan: Option<&str>,
    expires: Option<UnixTime>,
) -> Result<CustomerRow> {
    if expires.is_some() && plan.is_none() {
        return Err(Error::invalid("expiry date", "needs a plan"));
    }
    add_customer(conn, c)?;
    if let Some(plan) = plan {
        super::subscriptions::set_plan(conn, &c.username, plan, None, expires)?;
    }
    get_customer(conn, &c.username)
}

fn get_customer_by_id(conn: &mut impl GenericClient, id: i64) -> Result<CustomerRow> {
    let row = conn
        .query_one(&format!("{CUSTOMER_SELECT} WHERE c.id = $1"), &[&id])
        .map_err(q("reading a subscriber"))?;
    customer_from_row(&row)
}

pub fn get_customer(conn: &mut impl GenericClient, username: &str) -> Result<CustomerRow> {
    let row = conn
        .query_opt(
            &format!("{CUSTOMER_SELECT} WHERE c.username = $1"),
            &[&username],
        )
        .map_err(q("reading a subscriber"))?
        .ok_or_else(|| Error::not_found(format!("subscriber '{username}'")))?;
    customer_from_row(&row)
}

pub(crate) fn customer_id(conn: &mut impl GenericClient, username: &str) -> Result<i64> {
    conn.query_opt("SELECT id FROM customers WHERE username = $1", &[&username])
        .map_err(q("reading a subscriber"))?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::not_found(format!("subscriber '{username}'")))
}

/// A LIKE pattern matching `text` anywhere, literally: `%`, `_` and the
/// escape character `\` in `text` match only themselves (use with
/// `ESCAPE '\'`).
pub(crate) fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub fn list_customers(
    conn: &mut impl GenericClient,
    f: &CustomerFilter,
) -> Result<Vec<CustomerRow>> {
    let status = f.status.map(status_str);
    let search = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let ip: Option<IpAddr> = search
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
        .map(IpAddr::V4);
    // An address is looked up exactly, first (its subscribers are few: an
    // OR inside the listing would keep the planner from walking usernames
    // in order); other text anywhere in the searched fields (migration
    // 0032's trigram index serves the pattern).
    // A phone number (digits, with + - spaces or brackets) is matched by
    // its end, so "0722 123 456" finds "+254 722 123 456": every number of
    // an ISP shares the country code, which a text search would match in
    // all of them (migration 0034's index on the reversed digits).
    let phone_tail: Option<String> = search.filter(|_| ip.is_none()).and_then(phone_digits);
    let text = search.filter(|_| ip.is_none() && phone_tail.is_none());
    // The index looks for the rarest word; with several, the whole text is
    // checked on what it finds (see `rarest_word`).
    let (pattern, whole, common) = match text {
        None => (None, None, false),
        Some(t) => {
            let (word, common) = rarest_word(conn, t)?;
            let whole = (word != t).then(|| like_contains(t));
            (Some(like_contains(&word)), whole, common)
        }
    };
    let phone_reversed: Option<String> = phone_tail.map(|d| {
        let mut r: String = d.chars().rev().collect();
        r.push('%');
        r
    });
    let at_address: Option<Vec<String>> = match ip {
        None => None,
        Some(ip) => Some(
            conn.query(
                "SELECT username FROM customers WHERE static_ip = $1
                 UNION
                 SELECT username FROM radacct
                  WHERE acctstoptime IS NULL AND framedipaddress = $1 AND username IS NOT NULL",
                &[&ip],
            )
            .map_err(q("finding subscribers by address"))?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        ),
    };
    let limit = f.limit.unwrap_or(i64::MAX);
    let mut page = |walk: Option<i64>| {
        conn.query(
            &format!(
                "{CUSTOMER_SELECT}
                 WHERE ($1::text IS NULL OR c.status = $1)
                   AND ($2::text IS NULL OR p.name = $2)
                   AND ($3::text IS NULL OR {SEARCH_TEXT} ILIKE $3 ESCAPE '\\')
                   AND ($9::text IS NULL OR ({SEARCH_TEXT} || '') ILIKE $9 ESCAPE '\\')
                   AND ($4::text[] IS NULL OR c.username = ANY($4))
                   AND ($5::text IS NULL OR c.username > $5)
                   AND ($7::text IS NULL OR {PHONE_REVERSED} LIKE $7)
                   AND ($8::bigint IS NULL OR c.username <= (
                        SELECT max(w.username) FROM (
                          SELECT username FROM customers
                           WHERE ($5::text IS NULL OR username > $5)
                           ORDER BY username LIMIT $8) w))
                 ORDER BY c.username
                 LIMIT $6"
            ),
            &[
                &status,
                &f.plan,
                &pattern,
                &at_address,
                &f.after,
                &limit,
                &phone_reversed,
                &walk,
                &whole,
            ],
        )
        .map_err(q("listing subscribers"))
    };
    // Text anywhere in the name: a word many subscribers share would make
    // the trigram index hand over most rows to be sorted (270 ms at
    // 1,000,000, make bench-web). So for a common word the next
    // SEARCH_WALK usernames in order are tried first, which it fills the
    // page from; a rare word goes to the index, which finds its few rows
    // fast.
    if common {
        let rows = page(Some(SEARCH_WALK))?;
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit {
            return rows.iter().map(customer_from_row).collect();
        }
    }
    page(None)?.iter().map(customer_from_row).collect()
}

/// How many usernames a text search walks in order before it asks the
/// trigram index (see `list_customers`).
const SEARCH_WALK: i64 = 5_000;

/// How many subscribers `rarest_word` looks at...
const WORD_SAMPLE: i64 = 2_000;
/// ...and how many must have a word for it to be common (1%).
const COMMON_IN_SAMPLE: i64 = WORD_SAMPLE / 100;

/// The words of a search `rarest_word` compares (the whole text still
/// filters): a pasted paragraph costs no more than a name.
const MAX_SEARCH_WORDS: usize = 8;

/// The word of `text` found in the fewest of the first `WORD_SAMPLE`
/// subscribers (the longest among equals; words of one or two letters only
/// when there is nothing else, as trigrams cannot find them), and whether
/// it is common (found 20 times or more, 1% of a full sample). The trigram
/// index intersects every trigram of what it is given: a word most names
/// share ("Mary", or a synthetic "Subscriber") costs it every row, 300 ms
/// at 1,000,000, while the rarest word alone narrows to a few rows, which
/// the whole text then filters.
fn rarest_word(conn: &mut impl GenericClient, text: &str) -> Result<(String, bool)> {
    let mut words: Vec<String> = text
        .split_whitespace()
        .take(MAX_SEARCH_WORDS)
        .map(str::to_owned)
        .collect();
    if words.iter().any(|w| w.chars().count() >= 3) {
        words.retain(|w| w.chars().count() >= 3);
    }
    let patterns: Vec<String> = words.iter().map(|w| like_contains(w)).collect();
    let counts: Vec<i64> = conn
        .query(
            &format!(
                "WITH sample AS (SELECT {SEARCH_TEXT} AS t FROM customers c
                                  ORDER BY c.username LIMIT $2)
                 SELECT (SELECT count(*) FROM sample WHERE t ILIKE w.p ESCAPE '\\')
                   FROM unnest($1::text[]) WITH ORDINALITY AS w(p, n)
                  ORDER BY w.n"
            ),
            &[&patterns, &WORD_SAMPLE],
        )
        .map_err(q("sampling subscriber names"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rarest = words
        .into_iter()
        .zip(counts)
        .min_by_key(|(w, count)| (*count, std::cmp::Reverse(w.len())));
    Ok(match rarest {
        Some((w, count)) => (w, count >= COMMON_IN_SAMPLE),
        None => (text.to_owned(), false),
    })
}

/// A phone number's digits reversed: the expression migration 0034 indexes.
const PHONE_REVERSED: &str = "reverse(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g'))";

/// The digits to match a phone number's end by, when `search` is one: 6 or
/// more digits with only `+ - ( )` and spaces besides; leading zeros (a
/// national prefix) dropped.
fn phone_digits(search: &str) -> Option<String> {
    if !search
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()".contains(c))
    {
        return None;
    }
    let digits: String = search.chars().filter(char::is_ascii_digit).collect();
    let tail = digits.trim_start_matches('0');
    (tail.len() >= 6).then(|| tail.to_owned())
}

/// The text a subscriber search matches: the same expression as migration
/// 0032's index, so the index serves it.
const SEARCH_TEXT: &str = "(c.username || ' ' || c.full_name || ' ' || coalesce(c.phone, '') || ' ' || coalesce(c.mac_binding, ''))";

pub fn update_customer(
    conn: &mut impl GenericClient,
    username: &str,
    u: &CustomerUpdate,
) -> Result<CustomerRow> {
    let id = customer_id(conn, username)?;
    if let Some(p) = &u.password {
        check_password(p)?;
    }
    let mac = match &u.mac_binding {
        Some(Some(m)) => Some(Some(normalize_mac(m)?)),
        Some(None) => Some(None),
        None => None,
    };
    // Each column: keep ($n IS NULL and not clearing) or set. `clear_*`
    // flags distinguish "leave alone" from "set to NULL".
    let ip = u.static_ip.map(|o| o.map(IpAddr::V4));
    conn.execute(
        "UPDATE customers SET
            password    = coalesce($2, password),
            -- A new cleartext password replaces an imported hash.
            password_hash = CASE WHEN $2::text IS NULL THEN password_hash END,
            full_name   = coalesce($3, full_name),
            phone       = CASE WHEN $4 THEN $5 ELSE phone END,
            email       = CASE WHEN $6 THEN $7 ELSE email END,
            mac_binding = CASE WHEN $8 THEN $9 ELSE mac_binding END,
            static_ip   = CASE WHEN $10 THEN $11 ELSE static_ip END,
            updated_at  = now()
          WHERE id = $1",
        &[
            &id,
            &u.password,
            &u.full_name,
            &u.phone.is_some(),
            &u.phone.as_ref().and_then(nonempty),
            &u.email.is_some(),
            &u.email.as_ref().and_then(nonempty),
            &mac.is_some(),
            &mac.flatten(),
            &ip.is_some(),
            &ip.flatten(),
        ],
    )
    .map_err(|e| {
        let ip_clash = e
            .as_db_error()
            .and_then(|d| d.constraint())
            .is_some_and(|c| c == "customers_static_ip_key");
        if ip_clash {
            Error::Duplicate {
                what: "a subscriber with that static IP".into(),
            }
        } else {
            q("updating a subscriber")(e)
        }
    })?;
    get_customer_by_id(conn, id)
}

/// Sets the operator status; returns the status it had before.
pub fn set_customer_status(
    conn: &mut impl GenericClient,
    username: &str,
    status: SubscriberStatus,
) -> Result<SubscriberStatus> {
    let row = conn
        .query_opt(
            "UPDATE customers c SET status = $2, updated_at = now()
               FROM customers old WHERE c.id = old.id AND c.username = $1
             RETURNING old.status",
            &[&username, &status_str(status)],
        )
        .map_err(q("changing a subscriber's status"))?
        .ok_or_else(|| Error::not_found(format!("subscriber '{username}'")))?;
    let old: String = row.get(0);
    parse_status(&old)
}

/// Deletes a subscriber with their subscriptions, invoices, usage and
/// FreeRADIUS attribute rows. Accounting history (radacct) is kept.
pub fn remove_customer(conn: &mut impl GenericClient, username: &str) -> Result<()> {
    let id = customer_id(conn, username)?;
    for (table, what) in [
        (
            "DELETE FROM radreply WHERE username = $1",
            "removing reply attributes",
        ),
        (
            "DELETE FROM radcheck WHERE username = $1",
            "removing check attributes",
        ),
        (
            "DELETE FROM radusergroup WHERE username = $1",
            "removing group memberships",
        ),
    ] {
        conn.execute(table, &[&username]).map_err(q(what))?;
    }
    conn.execute("DELETE FROM customers WHERE id = $1", &[&id])
        .map_err(q("removing a subscriber"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::like_contains;

    #[test]
    fn like_patterns_escape_wildcards_and_the_escape_character() {
        assert_eq!(like_contains("alice"), "%alice%");
        assert_eq!(like_contains("100%"), "%100\\%%");
        assert_eq!(like_contains("a_b"), "%a\\_b%");
        assert_eq!(like_contains("c:\\x"), "%c:\\\\x%");
        assert_eq!(like_contains(""), "%%");
    }
}

#[cfg(test)]
mod search_tests {
    use super::phone_digits;

    #[test]
    fn a_phone_number_is_matched_by_its_digits_without_the_national_zero() {
        assert_eq!(phone_digits("0722 123 456").as_deref(), Some("722123456"));
        assert_eq!(
            phone_digits("+254 (722) 123-456").as_deref(),
            Some("254722123456")
        );
        assert_eq!(phone_digits("123456").as_deref(), Some("123456"));
        for not_phone in ["12345", "alice", "0722x123456", "10.0.0.1", "00000012"] {
            assert_eq!(phone_digits(not_phone), None, "{not_phone}");
        }
    }
}
