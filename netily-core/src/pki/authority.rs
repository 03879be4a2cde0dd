//! The certificate authority and the certificates it issues: one CA per ISP,
//! a server certificate for the VPN server, one client certificate per router.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey;
use time::OffsetDateTime;

use super::{PkiError, Serial};
use crate::model::{UnixTime, SECONDS_PER_DAY};

/// Routers with a wrong clock still accept a certificate issued "just now".
const BACKDATE_SECONDS: i64 = 3_600;

/// The CA's certificate and its private key (PEM). The key is secret: store it
/// only sealed with [`super::CaKeySeal`]; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct CaMaterial {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: Serial,
    pub not_after: UnixTime,
}

impl fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaMaterial")
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// A certificate issued by the CA, with its fresh private key.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub common_name: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: Serial,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("common_name", &self.common_name)
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// RSA modulus size. RouterOS's OpenVPN client is documented and used with RSA
/// certificates (its guides generate RSA keys); EC support there is unverified,
/// so every key Netily makes is RSA.
const RSA_BITS: usize = 2048;

/// A fresh RSA key pair, signing with SHA-256.
fn generate_key() -> Result<KeyPair, PkiError> {
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|_| PkiError::Random)?;
    let pem = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|_| PkiError::Certificate("cannot encode the new RSA key".into()))?;
    Ok(KeyPair::from_pkcs8_pem_and_sign_algo(
        &pem,
        &PKCS_RSA_SHA256,
    )?)
}

/// Create the ISP's CA: RSA-2048, self-signed, may sign certificates and CRLs
/// but not other CAs.
pub fn create_ca(name: &str, now: UnixTime, valid_days: u32) -> Result<CaMaterial, PkiError> {
    check_common_name("CA name", name)?;
    let serial = Serial::random()?;
    let (not_before, not_after) = validity(now, valid_days)?;
    let mut params = base_params(name, &serial, not_before, not_after)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = generate_key()?;
    let cert = params.self_signed(&key)?;
    Ok(CaMaterial {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        serial,
        not_after: not_after.unix_timestamp(),
    })
}

/// A router's client certificate: CN = the router's name, clientAuth only.
pub fn issue_router_certificate(
    ca: &CaMaterial,
    router_name: &str,
    now: UnixTime,
    valid_days: u32,
) -> Result<IssuedCertificate, PkiError> {
    check_common_name("router name", router_name)?;
    issue(
        ca,
        router_name,
        ExtendedKeyUsagePurpose::ClientAuth,
        now,
        valid_days,
    )
}

/// The VPN server's certificate: serverAuth, which clients check with
/// `remote-cert-tls server`.
pub fn issue_server_certificate(
    ca: &CaMaterial,
    server_name: &str,
    now: UnixTime,
    valid_days: u32,
) -> Result<IssuedCertificate, PkiError> {
    check_common_name("server name", server_name)?;
    issue(
        ca,
        server_name,
        ExtendedKeyUsagePurpose::ServerAuth,
        now,
        valid_days,
    )
}

fn issue(
    ca: &CaMaterial,
    common_name: &str,
    purpose: ExtendedKeyUsagePurpose,
    now: UnixTime,
    valid_days: u32,
) -> Result<IssuedCertificate, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)
        .map_err(|_| PkiError::Certificate("the CA private key is not a usable PEM key".into()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key)?;
    let serial = Serial::random()?;
    let (not_before, not_after) = validity(now, valid_days)?;
    let mut params = base_params(common_name, &serial, not_before, not_after)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    params.use_authority_key_identifier_extension = true;
    let key = generate_key()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(IssuedCertificate {
        common_name: common_name.to_string(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        serial,
        not_before: not_before.unix_timestamp(),
        not_after: not_after.unix_timestamp(),
    })
}

fn base_params(
    common_name: &str,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = not_before;
    params.not_after = not_after;
    Ok(params)
}

pub(super) fn to_datetime(field: &'static str, t: UnixTime) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(t)
        .map_err(|_| PkiError::field(field, "a time between years -9999 and 9999"))
}

fn validity(now: UnixTime, valid_days: u32) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    if valid_days == 0 || valid_days > 36_500 {
        return Err(PkiError::field("validity", "1 to 36500 days"));
    }
    let not_before = to_datetime("now", now.saturating_sub(BACKDATE_SECONDS))?;
    let not_after = to_datetime(
        "validity",
        now.saturating_add(i64::from(valid_days) * SECONDS_PER_DAY),
    )?;
    Ok((not_before, not_after))
}

/// A name that OpenVPN passes through unchanged as `common_name` (it remaps
/// other characters to '_') and that fits X.509's 64-character limit.
pub(super) fn check_common_name(field: &'static str, name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::field(
            field,
            "1 to 64 characters from A-Z a-z 0-9 - _ . @",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    const NOW: UnixTime = 1_780_000_000;

    fn parse(pem: &str) -> Vec<u8> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        p.contents
    }

    #[test]
    fn router_certificate_is_signed_by_the_ca_for_client_auth() {
        let ca = create_ca("Netily-CA", NOW, 3650).unwrap();
        let router = issue_router_certificate(&ca, "tower-7", NOW, 825).unwrap();
        let ca_der = parse(&ca.cert_pem);
        let (_, ca_x509) = X509Certificate::from_der(&ca_der).unwrap();
        let der = parse(&router.cert_pem);
        let (_, x509) = X509Certificate::from_der(&der).unwrap();

        assert!(ca_x509.is_ca());
        assert!(!x509.is_ca());
        let cn = x509.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "tower-7");
        assert_eq!(x509.issuer(), ca_x509.subject());
        x509.verify_signature(Some(ca_x509.public_key())).unwrap();
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert_eq!(
            Serial::from_bytes(x509.raw_serial()).unwrap(),
            router.serial
        );
        assert_eq!(
            x509.validity().not_after.timestamp(),
            NOW + 825 * SECONDS_PER_DAY
        );
        assert!(x509.validity().not_before.timestamp() < NOW);
        assert!(router.key_pem.contains("BEGIN PRIVATE KEY"));
        // RSA, as RouterOS's guides use.
        assert_eq!(
            x509.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
        );
        assert_eq!(
            ca_x509.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
        );
    }

    #[test]
    fn server_certificate_is_for_server_auth() {
        let ca = create_ca("Netily-CA", NOW, 3650).unwrap();
        let server = issue_server_certificate(&ca, "vpn.isp.example", NOW, 825).unwrap();
        let der = parse(&server.cert_pem);
        let (_, x509) = X509Certificate::from_der(&der).unwrap();
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
    }

    #[test]
    fn two_certificates_never_share_a_serial() {
        let ca = create_ca("Netily-CA", NOW, 3650).unwrap();
        let a = issue_router_certificate(&ca, "a", NOW, 1).unwrap();
        let b = issue_router_certificate(&ca, "a", NOW, 1).unwrap();
        assert_ne!(a.serial, b.serial);
        assert_ne!(a.serial, ca.serial);
    }

    #[test]
    fn bad_names_and_validity_are_refused_with_the_field_named() {
        let ca = create_ca("Netily-CA", NOW, 3650).unwrap();
        let e = issue_router_certificate(&ca, "bad name", NOW, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid router name: 1 to 64 characters from A-Z a-z 0-9 - _ . @"
        );
        assert!(issue_router_certificate(&ca, "", NOW, 1).is_err());
        assert!(issue_router_certificate(&ca, &"x".repeat(65), NOW, 1).is_err());
        let e = issue_router_certificate(&ca, "ok", NOW, 0).unwrap_err();
        assert!(e.to_string().starts_with("invalid validity"));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let ca = create_ca("Netily-CA", NOW, 3650).unwrap();
        let shown = format!("{ca:?}");
        assert!(!shown.contains("PRIVATE"));
    }
}
