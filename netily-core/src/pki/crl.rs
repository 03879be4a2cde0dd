//! The certificate revocation list OpenVPN reads with `crl-verify`.
//!
//! OpenVPN re-reads the file when it changes and refuses every client once the
//! CRL's nextUpdate has passed, so whoever writes it must re-issue it well
//! before then (the plugin's in-memory check enforces revocation regardless).

use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams};

use super::authority::to_datetime;
use super::{CaMaterial, PkiError, Serial};
use crate::model::{UnixTime, SECONDS_PER_DAY};

/// One revoked certificate as the CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCertificate {
    pub serial: Serial,
    pub revoked_at: UnixTime,
}

/// A PEM CRL signed by the CA. `crl_number` must grow with every CRL issued.
pub fn render_crl(
    ca: &CaMaterial,
    revoked: &[RevokedCertificate],
    crl_number: u64,
    now: UnixTime,
    valid_days: u32,
) -> Result<String, PkiError> {
    if valid_days == 0 || valid_days > 36_500 {
        return Err(PkiError::field("CRL validity", "1 to 36500 days"));
    }
    let ca_key = KeyPair::from_pem(&ca.key_pem)
        .map_err(|_| PkiError::Certificate("the CA private key is not a usable PEM key".into()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key)?;
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            Ok(RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(r.serial.as_bytes()),
                revocation_time: to_datetime("revoked_at", r.revoked_at)?,
                reason_code: None,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let params = CertificateRevocationListParams {
        this_update: to_datetime("now", now)?,
        next_update: to_datetime(
            "CRL validity",
            now.saturating_add(i64::from(valid_days) * SECONDS_PER_DAY),
        )?,
        crl_number: rcgen::SerialNumber::from_slice(&crl_number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(&issuer)?.pem()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{create_ca, issue_router_certificate};
    use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

    #[test]
    fn crl_lists_exactly_the_revoked_serials_and_is_signed_by_the_ca() {
        let now = 1_780_000_000;
        let ca = create_ca("Netily-CA", now, 3650).unwrap();
        let a = issue_router_certificate(&ca, "a", now, 30).unwrap();
        let b = issue_router_certificate(&ca, "b", now, 30).unwrap();
        let pem = render_crl(
            &ca,
            &[RevokedCertificate {
                serial: a.serial.clone(),
                revoked_at: now,
            }],
            7,
            now,
            30,
        )
        .unwrap();
        assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&p.contents).unwrap();
        let listed: Vec<Serial> = crl
            .iter_revoked_certificates()
            .map(|r| Serial::from_bytes(r.raw_serial()).unwrap())
            .collect();
        assert_eq!(listed, vec![a.serial]);
        assert!(!listed.contains(&b.serial));
        assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".into()));

        let (_, cap) = x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes()).unwrap();
        let (_, ca_x509) = X509Certificate::from_der(&cap.contents).unwrap();
        assert_eq!(crl.issuer(), ca_x509.subject());
    }

    #[test]
    fn an_empty_crl_is_valid() {
        let ca = create_ca("Netily-CA", 1_780_000_000, 3650).unwrap();
        let pem = render_crl(&ca, &[], 1, 1_780_000_000, 30).unwrap();
        assert!(pem.contains("X509 CRL"));
    }
}
