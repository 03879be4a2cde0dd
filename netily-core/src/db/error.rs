//! What went wrong talking to the database, in words an operator can act on.

use std::fmt;

use postgres::error::SqlState;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// The database could not be reached. `url` never carries a password.
    Connect { url: String, detail: String },
    /// A statement failed for a reason other than the ones below.
    Query { what: String, detail: String },
    /// The connection broke while `what` ran (worth reconnecting and
    /// retrying, unlike a statement the database refused).
    Lost { what: String, detail: String },
    /// The named thing does not exist, e.g. "plan 'gold'".
    NotFound { what: String },
    /// A unique name is already taken, e.g. "username 'alice'".
    Duplicate { what: String },
    /// Bad input: which field, and what is allowed.
    Invalid { field: String, allowed: String },
    /// The operation would break something that depends on it.
    Refused { what: String, why: String },
    /// A stored value the rules cannot read (e.g. a hand-edited plan rate).
    Corrupt { what: String, detail: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { url, detail } => {
                write!(f, "cannot connect to database {url}: {detail}")
            }
            Error::Query { what, detail } | Error::Lost { what, detail } => {
                write!(f, "database error while {what}: {detail}")
            }
            Error::NotFound { what } => write!(f, "{what} not found"),
            Error::Duplicate { what } => write!(f, "{what} already exists"),
            // `allowed` may open with the quoted bad value: `invalid MAC
            // address "zz": expected ...`, as netadmin's own checks print.
            Error::Invalid { field, allowed } if allowed.starts_with('"') => {
                write!(f, "invalid {field} {allowed}")
            }
            Error::Invalid { field, allowed } => write!(f, "invalid {field}: {allowed}"),
            Error::Refused { what, why } => write!(f, "cannot {what}: {why}"),
            Error::Corrupt { what, detail } => write!(f, "stored {what} is unreadable: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn invalid(field: impl Into<String>, allowed: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            allowed: allowed.into(),
        }
    }

    /// The database could not be reached or the connection broke: reconnect
    /// and retry, rather than drop the work as refused.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Lost { .. })
    }

    pub fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound { what: what.into() }
    }

    pub fn corrupt(what: impl Into<String>, detail: impl fmt::Display) -> Error {
        Error::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// Turns a driver error into an `Error` that says what we were doing. Unique
/// violations become `Duplicate` naming `dup` (the caller knows which name
/// clashed); check violations become `Invalid`.
pub(crate) fn sql<'a>(what: &'a str, dup: &'a str) -> impl FnOnce(postgres::Error) -> Error + 'a {
    move |e| from_pg(what, dup, e)
}

/// Like `sql`, for statements where no unique name can clash.
pub(crate) fn q(what: &str) -> impl FnOnce(postgres::Error) -> Error + '_ {
    move |e| from_pg(what, "", e)
}

/// SQLSTATEs that say "not now" rather than "not this statement": worth
/// reconnecting and retrying. Connection exceptions (08), a timed-out or
/// cancelled statement (57014), an administrator's shutdown (57P0x),
/// insufficient resources (53), serialization failures and deadlocks
/// (40001, 40P01), and a read-only server after a failover (25006).
fn is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P0")
        || matches!(code, "57014" | "40001" | "40P01" | "25006")
}

fn from_pg(what: &str, dup: &str, e: postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::UNIQUE_VIOLATION && !dup.is_empty() {
            return Error::Duplicate {
                what: dup.to_owned(),
            };
        }
        if *db.code() == SqlState::CHECK_VIOLATION {
            return Error::Invalid {
                field: db.constraint().unwrap_or(what).to_owned(),
                allowed: db.message().to_owned(),
            };
        }
        if is_transient(db.code().code()) {
            return Error::Lost {
                what: what.to_owned(),
                detail: db.message().to_owned(),
            };
        }
        return Error::Query {
            what: what.to_owned(),
            detail: db.message().to_owned(),
        };
    }
    if e.is_closed() {
        return Error::Lost {
            what: what.to_owned(),
            detail: "the database connection was closed".into(),
        };
    }
    // No database error: the socket or the protocol failed.
    Error::Lost {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn timeouts_shutdowns_and_failovers_are_worth_a_retry_bad_statements_are_not() {
        for code in [
            "08006", "57014", "57P01", "53300", "40001", "40P01", "25006",
        ] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22003", "23514"] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
