//! The router PKI: the management VPN's certificate authority, the certificates
//! it issues, its revocation list and the files a router is handed.
//!
//! Everything here is a pure function of its inputs (plus the system's random
//! source for keys and serials): storing certificates is the `db` layer's job.

mod authority;
mod ca_key_seal;
mod client_profile;
mod crl;
mod error;
mod routeros_script;
mod serial;
mod tls_crypt;

pub use authority::{
    create_ca, issue_router_certificate, issue_server_certificate, CaMaterial, IssuedCertificate,
};
pub use ca_key_seal::CaKeySeal;
pub use client_profile::{render_client_profile, ClientProfile, VpnTransport, ROUTEROS_DIRECTIVES};
pub use crl::{render_crl, RevokedCertificate};
pub use error::PkiError;
pub use routeros_script::{render_routeros_script, RouterOsSetup, ROUTEROS_OVPN_CLIENT_PROPERTIES};
pub use serial::Serial;
pub use tls_crypt::generate_tls_crypt_key;
