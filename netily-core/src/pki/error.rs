//! What can go wrong in the PKI, in one line each and never with key material.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiError {
    /// A field failed validation: names the field and what is allowed.
    InvalidField {
        field: &'static str,
        allowed: String,
    },
    /// The X.509 library refused (bad PEM, unusable key, ...).
    Certificate(String),
    /// The sealed CA key could not be opened: wrong key or corrupted data.
    SealedKey(&'static str),
    /// The operating system's random source failed.
    Random,
}

impl PkiError {
    pub(crate) fn field(field: &'static str, allowed: impl Into<String>) -> PkiError {
        PkiError::InvalidField {
            field,
            allowed: allowed.into(),
        }
    }
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::InvalidField { field, allowed } => write!(f, "invalid {field}: {allowed}"),
            PkiError::Certificate(why) => write!(f, "certificate error: {why}"),
            PkiError::SealedKey(why) => write!(f, "CA private key cannot be opened: {why}"),
            PkiError::Random => write!(f, "the system random source failed"),
        }
    }
}

impl std::error::Error for PkiError {}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        // rcgen's messages describe structure, never key bytes.
        PkiError::Certificate(e.to_string())
    }
}
