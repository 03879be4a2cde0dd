//! Operators, their API tokens and console sessions (migration 0031).
//!
//! Passwords are checked here, against argon2 hashes that never leave this
//! module. A wrong name costs the same hash as a wrong password. Removing an
//! operator or changing their password ends their console sessions at once
//! (the rows go), so no node keeps serving them.

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::epoch;
use super::error::{q, sql, Error, Result};
use crate::model::UnixTime;
use crate::operators::{self, Role, Secret, TOKEN_PREFIX};

#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: UnixTime,
    pub password_changed_at: UnixTime,
}

macro_rules! operator_columns {
    () => {
        concat!(
            "o.id, o.name, o.role, ",
            epoch!("o.created_at"),
            ", ",
            epoch!("o.password_changed_at")
        )
    };
}
const OPERATOR_SELECT: &str = concat!("SELECT ", operator_columns!(), " FROM operators o");

fn operator_from_row(r: &Row) -> Result<Operator> {
    let role: String = r.get(2);
    Ok(Operator {
        id: r.get(0),
        name: r.get(1),
        role: Role::parse(&role).map_err(|e| Error::corrupt("operator role", e))?,
        created_at: r.get(3),
        password_changed_at: r.get(4),
    })
}

pub fn add_operator(
    conn: &mut impl GenericClient,
    name: &str,
    role: Role,
    password: &str,
) -> Result<Operator> {
    operators::check_name(name)?;
    let hash = operators::hash_password(password)?;
    add_operator_hashed(conn, name, role, &hash)
}

/// [`add_operator`] with the password already hashed
/// ([`operators::hash_password`]), so a server hashes it outside the
/// transaction.
pub fn add_operator_hashed(
    conn: &mut impl GenericClient,
    name: &str,
    role: Role,
    hash: &str,
) -> Result<Operator> {
    operators::check_name(name)?;
    let row = conn
        .query_one(
            "INSERT INTO operators (name, role, password_hash) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &role.as_str(), &hash],
        )
        .map_err(sql("adding an operator", &format!("operator '{name}'")))?;
    let id: i64 = row.get(0);
    let row = conn
        .query_one(&format!("{OPERATOR_SELECT} WHERE o.id = $1"), &[&id])
        .map_err(q("reading an operator"))?;
    operator_from_row(&row)
}

pub fn get_operator(conn: &mut impl GenericClient, name: &str) -> Result<Operator> {
    let row = conn
        .query_opt(&format!("{OPERATOR_SELECT} WHERE o.name = $1"), &[&name])
        .map_err(q("reading an operator"))?
        .ok_or_else(|| Error::not_found(format!("operator '{name}'")))?;
    operator_from_row(&row)
}

pub fn list_operators(conn: &mut impl GenericClient) -> Result<Vec<Operator>> {
    conn.query(&format!("{OPERATOR_SELECT} ORDER BY o.name"), &[])
        .map_err(q("listing operators"))?
        .iter()
        .map(operator_from_row)
        .collect()
}

/// Removes an operator with their tokens and sessions. The last admin stays:
/// without one nobody could add operators from the console.
pub fn remove_operator(conn: &mut impl GenericClient, name: &str) -> Result<()> {
    let op = get_operator(conn, name)?;
    if op.role == Role::Admin {
        refuse_if_last_admin(conn, "remove", name)?;
    }
    conn.execute("DELETE FROM operators WHERE id = $1", &[&op.id])
        .map_err(q("removing an operator"))?;
    Ok(())
}

pub fn set_role(conn: &mut impl GenericClient, name: &str, role: Role) -> Result<Operator> {
    let op = get_operator(conn, name)?;
    if op.role == Role::Admin && role != Role::Admin {
        refuse_if_last_admin(conn, "change the role of", name)?;
    }
    conn.execute(
        "UPDATE operators SET role = $2 WHERE id = $1",
        &[&op.id, &role.as_str()],
    )
    .map_err(q("changing an operator's role"))?;
    get_operator(conn, name)
}

fn refuse_if_last_admin(conn: &mut impl GenericClient, what: &str, name: &str) -> Result<()> {
    // FOR UPDATE: two concurrent removals cannot both see another admin.
    let admins = conn
        .query(
            "SELECT id FROM operators WHERE role = 'admin' ORDER BY id FOR UPDATE",
            &[],
        )
        .map_err(q("counting admins"))?
        .len();
    if admins <= 1 {
        return Err(Error::Refused {
            what: format!("{what} operator '{name}'"),
            why: "it is the only admin".into(),
        });
    }
    Ok(())
}

/// Sets a new password and ends the operator's console sessions.
pub fn set_password(conn: &mut impl GenericClient, name: &str, password: &str) -> Result<()> {
    let hash = operators::hash_password(password)?;
    set_password_hash(conn, name, &hash)
}

/// [`set_password`] with the password already hashed.
pub fn set_password_hash(conn: &mut impl GenericClient, name: &str, hash: &str) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE operators SET password_hash = $2, password_changed_at = now() WHERE name = $1",
            &[&name, &hash],
        )
        .map_err(q("changing an operator's password"))?;
    if n == 0 {
        return Err(Error::not_found(format!("operator '{name}'")));
    }
    conn.execute(
        "DELETE FROM console_sessions WHERE operator_id = (SELECT id FROM operators WHERE name = $1)",
        &[&name],
    )
    .map_err(q("ending an operator's sessions"))?;
    Ok(())
}

/// A login being checked: the operator (if the name exists) and their
/// stored hash, read in one statement so that the slow password check runs
/// after the connection is given back (`verify`).
pub struct LoginCandidate {
    operator: Option<(Operator, String)>,
}

impl LoginCandidate {
    /// The operator if `password` is theirs. `None` for a wrong name or a
    /// wrong password alike, in the same time (a wrong name is checked
    /// against a hash nothing matches).
    pub fn verify(self, password: &str) -> Option<Operator> {
        match self.operator {
            Some((op, hash)) => operators::verify_password(password, &hash).then_some(op),
            None => {
                let _ = operators::verify_password(password, operators::DUMMY_HASH);
                None
            }
        }
    }

    /// The name exists (for the log: an unknown "name" may be a password
    /// typed into the wrong field, and is not logged).
    pub fn known(&self) -> bool {
        self.operator.is_some()
    }
}

pub fn login_candidate(conn: &mut impl GenericClient, name: &str) -> Result<LoginCandidate> {
    if operators::check_name(name).is_err() {
        return Ok(LoginCandidate { operator: None });
    }
    let row = conn
        .query_opt(
            concat!(
                "SELECT ",
                operator_columns!(),
                ", o.password_hash FROM operators o WHERE o.name = $1"
            ),
            &[&name],
        )
        .map_err(q("reading an operator"))?;
    let operator = match row {
        Some(r) => Some((operator_from_row(&r)?, r.get::<_, String>(5))),
        None => None,
    };
    Ok(LoginCandidate { operator })
}

/// [`login_candidate`] and [`LoginCandidate::verify`] in one call (tests,
/// tools): holds the connection through the hash.
pub fn check_login(
    conn: &mut impl GenericClient,
    name: &str,
    password: &str,
) -> Result<Option<Operator>> {
    Ok(login_candidate(conn, name)?.verify(password))
}

// --- API tokens ---------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub operator: String,
    pub label: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    /// It stops working then; None: until revoked.
    pub expires_at: Option<UnixTime>,
}

/// The longest a token may be made to last with an expiry.
pub const MAX_TOKEN_DAYS: u32 = 3650;

const TOKEN_SELECT: &str = concat!(
    "SELECT t.id, o.name, t.label, t.prefix, ",
    epoch!("t.created_at"),
    ", ",
    epoch!("t.last_used_at"),
    ", ",
    epoch!("t.revoked_at"),
    ", ",
    epoch!("t.expires_at"),
    " FROM operator_tokens t JOIN operators o ON o.id = t.operator_id"
);

fn token_from_row(r: &Row) -> TokenRow {
    TokenRow {
        id: r.get(0),
        operator: r.get(1),
        label: r.get(2),
        prefix: r.get(3),
        created_at: r.get(4),
        last_used_at: r.get(5),
        revoked_at: r.get(6),
        expires_at: r.get(7),
    }
}

/// A new token for `operator`, valid for `days` (None: until revoked): the
/// row and the token itself, shown once.
pub fn add_token(
    conn: &mut impl GenericClient,
    operator: &str,
    label: &str,
    days: Option<u32>,
) -> Result<(TokenRow, Secret)> {
    if days.is_some_and(|d| !(1..=MAX_TOKEN_DAYS).contains(&d)) {
        return Err(Error::invalid(
            "token lifetime",
            format!("1 to {MAX_TOKEN_DAYS} days"),
        ));
    }
    if label.trim().is_empty() || label.len() > 100 || label.chars().any(char::is_control) {
        return Err(Error::invalid(
            "token label",
            "1 to 100 characters, no control characters",
        ));
    }
    let op = get_operator(conn, operator)?;
    let token = Secret::generate(TOKEN_PREFIX)?;
    let prefix = operators::token_display_prefix(&token);
    let row = conn
        .query_one(
            "INSERT INTO operator_tokens (operator_id, label, prefix, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(days => $5)) RETURNING id",
            &[
                &op.id,
                &label,
                &prefix,
                &token.digest(),
                &days.map(|d| d as i32),
            ],
        )
        .map_err(q("adding a token"))?;
    let id: i64 = row.get(0);
    let row = conn
        .query_one(&format!("{TOKEN_SELECT} WHERE t.id = $1"), &[&id])
        .map_err(q("reading a token"))?;
    Ok((token_from_row(&row), token))
}

/// Tokens, newest first; only `operator`'s when given.
pub fn list_tokens(conn: &mut impl GenericClient, operator: Option<&str>) -> Result<Vec<TokenRow>> {
    Ok(conn
        .query(
            &format!("{TOKEN_SELECT} WHERE ($1::text IS NULL OR o.name = $1) ORDER BY t.id DESC"),
            &[&operator],
        )
        .map_err(q("listing tokens"))?
        .iter()
        .map(token_from_row)
        .collect())
}

/// Revokes the token with this id or display prefix. Revoked tokens stay
/// listed (when, and whose).
pub fn revoke_token(conn: &mut impl GenericClient, id_or_prefix: &str) -> Result<TokenRow> {
    let id: Option<i64> = id_or_prefix.parse().ok();
    let rows = conn
        .query(
            "UPDATE operator_tokens SET revoked_at = coalesce(revoked_at, now())
              WHERE id = $1 OR prefix = $2 RETURNING id",
            &[&id, &id_or_prefix],
        )
        .map_err(q("revoking a token"))?;
    match rows.as_slice() {
        [one] => {
            let id: i64 = one.get(0);
            let row = conn
                .query_one(&format!("{TOKEN_SELECT} WHERE t.id = $1"), &[&id])
                .map_err(q("reading a token"))?;
            Ok(token_from_row(&row))
        }
        [] => Err(Error::not_found(format!("token '{id_or_prefix}'"))),
        _ => Err(Error::Refused {
            what: format!("revoke token '{id_or_prefix}'"),
            why: "it matches several tokens; give its id".into(),
        }),
    }
}

/// Whose token this is (by id or display prefix), revoked or not.
pub fn token_owner(conn: &mut impl GenericClient, id_or_prefix: &str) -> Result<Option<String>> {
    let id: Option<i64> = id_or_prefix.parse().ok();
    Ok(conn
        .query_opt(
            "SELECT o.name FROM operator_tokens t JOIN operators o ON o.id = t.operator_id
              WHERE t.id = $1 OR t.prefix = $2 LIMIT 1",
            &[&id, &id_or_prefix],
        )
        .map_err(q("reading a token"))?
        .map(|r| r.get(0)))
}

/// The operator an API token belongs to, if it is live. Marks it used (at
/// most once a minute, so a busy integration does not write every request).
pub fn check_token(conn: &mut impl GenericClient, presented: &str) -> Result<Option<Operator>> {
    if !presented.starts_with(TOKEN_PREFIX) || presented.len() != TOKEN_PREFIX.len() + 64 {
        return Ok(None);
    }
    let digest = Secret::from_presented(presented).digest();
    let row = conn
        .query_opt(
            &format!(
                "{OPERATOR_SELECT} JOIN operator_tokens t ON t.operator_id = o.id
                  WHERE t.token_hash = $1 AND t.revoked_at IS NULL
                    AND (t.expires_at IS NULL OR t.expires_at > now())"
            ),
            &[&digest],
        )
        .map_err(q("checking a token"))?;
    let Some(row) = row else { return Ok(None) };
    conn.execute(
        "UPDATE operator_tokens SET last_used_at = now()
          WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        &[&digest],
    )
    .map_err(q("marking a token used"))?;
    Ok(Some(operator_from_row(&row)?))
}

// --- console sessions ---------------------------------------------------

/// A console login: the cookie's value and the CSRF token its forms carry.
#[derive(Debug)]
pub struct NewSession {
    pub cookie: Secret,
    pub csrf: Secret,
}

/// A live console session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub operator: Operator,
    pub csrf: Secret,
}

/// Starts a session for `operator_id` that ends after `idle_seconds` without
/// a request (and never lasts past `max_seconds`). A fresh id every login:
/// an id planted before login is never promoted (session fixation).
pub fn start_session(
    conn: &mut impl GenericClient,
    operator_id: i64,
    max_seconds: i64,
) -> Result<NewSession> {
    let cookie = Secret::generate("")?;
    let csrf = Secret::generate("")?;
    conn.execute(
        "INSERT INTO console_sessions (id_hash, operator_id, csrf_token, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint))",
        &[&cookie.digest(), &operator_id, &csrf.expose(), &max_seconds],
    )
    .map_err(q("starting a console session"))?;
    // Expired sessions of anyone go now and then (cheap: indexed).
    conn.execute("DELETE FROM console_sessions WHERE expires_at < now()", &[])
        .map_err(q("ending expired console sessions"))?;
    Ok(NewSession { cookie, csrf })
}

/// The session a cookie names, if it is live and has been used within
/// `idle_seconds`; marks it seen.
pub fn check_session(
    conn: &mut impl GenericClient,
    cookie: &str,
    idle_seconds: i64,
) -> Result<Option<ConsoleSession>> {
    if cookie.len() != 64 {
        return Ok(None);
    }
    let digest = Secret::from_presented(cookie).digest();
    let row = conn
        .query_opt(
            concat!(
                "WITH s AS (
                    UPDATE console_sessions SET last_seen_at = now()
                     WHERE id_hash = $1 AND expires_at > now()
                       AND last_seen_at > now() - make_interval(secs => $2::bigint)
                     RETURNING operator_id, csrf_token)
                 SELECT ",
                operator_columns!(),
                ", s.csrf_token FROM operators o JOIN s ON o.id = s.operator_id"
            ),
            &[&digest, &idle_seconds],
        )
        .map_err(q("checking a console session"))?;
    let Some(row) = row else { return Ok(None) };
    let csrf: String = row.get(5);
    Ok(Some(ConsoleSession {
        operator: operator_from_row(&row)?,
        csrf: Secret::from_presented(&csrf),
    }))
}

pub fn end_session(conn: &mut impl GenericClient, cookie: &str) -> Result<()> {
    let digest = Secret::from_presented(cookie).digest();
    conn.execute(
        "DELETE FROM console_sessions WHERE id_hash = $1",
        &[&digest],
    )
    .map_err(q("ending a console session"))?;
    Ok(())
}
