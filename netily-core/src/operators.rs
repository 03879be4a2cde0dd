//! Operators: who may change what, and their secrets (passwords, API tokens,
//! console session ids). Pure rules; `db::operators` stores them.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults, OWASP's
//! recommended parameters). Tokens and session ids are 256 random bits from
//! the OS, so a SHA-256 of them is enough to store: nobody can guess one to
//! match. Nothing here logs a secret, and `Secret`'s Debug hides it.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use crate::db::Error;

/// What an operator may do. Support runs the subscribers' day (suspend,
/// resume, plan changes, payments, kicking sessions); only admins change
/// plans, routers, certificates and operators; readonly sees everything and
/// changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Support,
    Readonly,
}

/// The kinds of change a role is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Subscribers, their plan and status, invoices and payments, sessions.
    Subscribers,
    /// Plans (what every subscriber on them gets).
    Plans,
    /// Routers, their RADIUS secrets and their VPN profiles (which hold a
    /// private key).
    Routers,
    /// The PKI: issuing and revoking certificates.
    Certificates,
    /// Operators and their tokens.
    Operators,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Support, Role::Readonly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Readonly => "readonly",
        }
    }

    pub fn parse(s: &str) -> Result<Role, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("\"{s}\": expected admin, support or readonly"),
                )
            })
    }

    /// May this role change things in `area`?
    pub fn may_change(self, area: Area) -> bool {
        match self {
            Role::Admin => true,
            Role::Support => area == Area::Subscribers,
            Role::Readonly => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Argon2 takes any length; the bound keeps one request from hashing
/// megabytes.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Operator names: a letter or digit, then letters, digits and `._@-`, up to
/// 64 (the schema checks the same).
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "operator name",
            "1 to 64 letters, digits and . _ @ -, starting with a letter or digit",
        ))
    }
}

pub fn check_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            format!("at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// An argon2id PHC string for `password` (checked first).
pub fn hash_password(password: &str) -> Result<String, Error> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    fill_random(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::corrupt("password salt", e))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::corrupt("password hash", e))
}

/// Does `password` match `stored`? A stored hash that cannot be read matches
/// nothing. Over-long passwords are refused before hashing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, verified when the operator does not exist so
/// that a login takes as long for a wrong name as for a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$bmV0aWx5ZHVtbXlzYWx0$2Cz3O4Qm1L2bXbT1x1eQm0Y0a8WgXh2Q0h8y9lHkV5E";

/// A random secret (an API token, a console session id or a CSRF token):
/// 32 bytes from the OS in lowercase hex, after `prefix`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn generate(prefix: &str) -> Result<Secret, Error> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        let mut s = String::with_capacity(prefix.len() + 64);
        s.push_str(prefix);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Ok(Secret(s))
    }

    pub fn from_presented(s: &str) -> Secret {
        Secret(s.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: SHA-256 of the secret.
    pub fn digest(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// Compares in time independent of where the two differ (CSRF tokens are
    /// compared in memory, not looked up).
    pub fn matches(&self, presented: &str) -> bool {
        let a = self.0.as_bytes();
        let b = presented.as_bytes();
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// API tokens start with this, so a leaked one is recognisable (and secret
/// scanners can be taught it).
pub const TOKEN_PREFIX: &str = "ntk_";

/// The part of a token shown in lists: its prefix and 8 hex digits.
pub fn token_display_prefix(token: &Secret) -> String {
    token
        .expose()
        .chars()
        .take(TOKEN_PREFIX.len() + 8)
        .collect()
}

/// A password for `--generate-password` and `make run`'s demo operator: 20
/// characters from 32 that cannot be misread (no 0/O, 1/l/I): 100 bits.
pub fn generate_password() -> Result<String, Error> {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789-";
    let mut bytes = [0u8; 20];
    fill_random(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect())
}

fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::corrupt("random bytes", "the OS random source failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_changes_subscribers_only_and_readonly_nothing() {
        for area in [
            Area::Subscribers,
            Area::Plans,
            Area::Routers,
            Area::Certificates,
            Area::Operators,
        ] {
            assert!(Role::Admin.may_change(area));
            assert_eq!(Role::Support.may_change(area), area == Area::Subscribers);
            assert!(!Role::Readonly.may_change(area));
        }
    }

    #[test]
    fn roles_parse_by_name_and_unknown_ones_are_refused() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        let e = Role::parse("root").unwrap_err().to_string();
        assert!(e.contains("admin, support or readonly"), "{e}");
    }

    #[test]
    fn a_password_hashes_and_verifies_and_a_wrong_one_does_not() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("anything at all", DUMMY_HASH));
        // The dummy must parse, or a wrong name would skip the hash and
        // answer faster than a wrong password.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        // Same password, new salt.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(hash_password("short").is_err());
        assert!(hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(!verify_password(&"x".repeat(10_000), DUMMY_HASH));
    }

    #[test]
    fn operator_names_are_checked() {
        for ok in ["alice", "a", "noc-1", "bob.smith@isp", "x_y"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "-a", "a b", "a/b", &"a".repeat(65), "ü"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_random_hex_compared_whole_and_hidden_in_debug() {
        let a = Secret::generate(TOKEN_PREFIX).unwrap();
        let b = Secret::generate(TOKEN_PREFIX).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 64);
        assert!(a.matches(a.expose()));
        assert!(!a.matches(b.expose()));
        assert!(!a.matches(&a.expose()[..10]));
        assert_eq!(format!("{a:?}"), "Secret(..)");
        assert_eq!(a.digest().len(), 32);
        assert_eq!(token_display_prefix(&a).len(), TOKEN_PREFIX.len() + 8);
    }

    #[test]
    fn generated_passwords_pass_the_password_rules() {
        let p = generate_password().unwrap();
        assert_eq!(p.len(), 20);
        check_password(&p).unwrap();
        assert_ne!(p, generate_password().unwrap());
    }
}
