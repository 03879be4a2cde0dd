//! The router PKI's storage: the one certificate authority (its private key
//! sealed with the config's `ca_key_seal`), the certificates it issued, CRLs,
//! and the files a router or the VPN server is handed. The X.509 work is
//! `crate::pki`'s; this module keeps the rows around it.
//!
//! Private keys and the tls-crypt key are stored sealed only. Each sealed
//! value carries its purpose inside the ciphertext, so one can never be
//! swapped into another's column and opened as something else.

use std::fmt;

use postgres::{GenericClient, Row};
use serde::Serialize;

use super::epoch;
use super::error::{q, sql, Error, Result};
use crate::config::{Config, VpnProto, VpnRemote};
use crate::model::UnixTime;
use crate::pki::{
    self, CaKeySeal, CaMaterial, ClientProfile, PkiError, RevokedCertificate, RouterOsSetup,
    Serial, VpnTransport,
};

/// The CA's validity unless the operator says otherwise.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Router and server certificates: long-lived, since revocation (enforced by
/// the VPN plugin from the database) is how a router loses access.
pub const DEFAULT_CERT_DAYS: u32 = 1825;
/// OpenVPN refuses every client once its CRL's nextUpdate has passed, so a
/// CRL is issued for long; revocations reach the plugin through the database
/// within seconds regardless.
pub const CRL_DAYS: u32 = 3650;
/// The VPN server certificate's name unless the operator says otherwise.
pub const DEFAULT_SERVER_NAME: &str = "netily-vpn";

const TLS_CRYPT_PURPOSE: &str = "netily tls-crypt key";
const CERT_KEY_PURPOSE: &str = "netily certificate key";

const NO_CA: &str = "there is no certificate authority yet; run `netadmin ca init`";

#[derive(Debug, Clone, Serialize)]
pub struct CaInfo {
    pub name: String,
    pub serial: Option<String>,
    pub not_after: Option<UnixTime>,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateRow {
    /// Lowercase hex, as stored and as OpenVPN's tls_serial_hex without ':'.
    pub serial: String,
    /// router or server.
    pub kind: String,
    pub router: Option<String>,
    pub common_name: String,
    /// active, revoked, or expired (active in the database but past
    /// `not_after` now: OpenVPN refuses it, `cert issue` replaces it).
    pub status: String,
    pub not_after: UnixTime,
    pub revoked_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

const CERT_SELECT: &str = concat!(
    "SELECT c.serial, c.kind, r.name, c.common_name,
            CASE WHEN c.status = 'active' AND c.not_after <= now() THEN 'expired'
                 ELSE c.status END, ",
    epoch!("c.not_after"),
    ", ",
    epoch!("c.revoked_at"),
    ", ",
    epoch!("c.created_at"),
    " FROM certificates c LEFT JOIN routers r ON r.id = c.router_id"
);

fn cert_from_row(r: &Row) -> CertificateRow {
    CertificateRow {
        serial: r.get(0),
        kind: r.get(1),
        router: r.get(2),
        common_name: r.get(3),
        status: r.get(4),
        not_after: r.get(5),
        revoked_at: r.get(6),
        created_at: r.get(7),
    }
}

/// A certificate just issued; `replaced` are the serials it revoked.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub certificate: CertificateRow,
    pub replaced: Vec<String>,
}

/// Everything the VPN server's config points at. Holds the server's private
/// key and the tls-crypt key: `Debug` hides both.
#[derive(Clone)]
pub struct ServerFiles {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub tls_crypt_key: String,
    pub crl_pem: String,
    pub serial: String,
    pub common_name: String,
    /// False when an existing server certificate was handed out again.
    pub issued: bool,
}

impl fmt::Debug for ServerFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerFiles")
            .field("serial", &self.serial)
            .field("common_name", &self.common_name)
            .field("issued", &self.issued)
            .field("key_pem", &"<secret>")
            .field("tls_crypt_key", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// Maps a PKI failure to the db layer's error; never carries key material
/// (PkiError never does either).
fn pki_err(what: &str) -> impl FnOnce(PkiError) -> Error + '_ {
    move |e| match e {
        PkiError::InvalidField { field, allowed } => Error::invalid(field, allowed),
        PkiError::SealedKey(_) => Error::Refused {
            what: what.to_owned(),
            why: "a sealed key cannot be opened with the config's ca_key_seal \
                  (a different key, or the stored value was altered)"
                .into(),
        },
        other => Error::Refused {
            what: what.to_owned(),
            why: other.to_string(),
        },
    }
}

fn seal_as(seal: &CaKeySeal, purpose: &str, text: &str) -> std::result::Result<String, PkiError> {
    seal.seal(&format!("{purpose}\n{text}"))
}

fn open_as(seal: &CaKeySeal, purpose: &str, sealed: &str) -> std::result::Result<String, PkiError> {
    let plain = seal.open(sealed)?;
    plain
        .strip_prefix(purpose)
        .and_then(|rest| rest.strip_prefix('\n'))
        .map(str::to_owned)
        .ok_or(PkiError::SealedKey("sealed for another purpose"))
}

/// The stored CA, still sealed.
struct StoredCa {
    cert_pem: String,
    key_sealed: Vec<u8>,
    serial: Option<String>,
    not_after: Option<UnixTime>,
    tls_crypt_sealed: Option<String>,
}

impl StoredCa {
    fn load(conn: &mut impl GenericClient, what: &str) -> Result<StoredCa> {
        let row = conn
            .query_opt(
                concat!(
                    "SELECT cert_pem, key_encrypted, serial, ",
                    epoch!("not_after"),
                    ", tls_crypt_sealed FROM certificate_authority"
                ),
                &[],
            )
            .map_err(q("reading the certificate authority"))?
            .ok_or_else(|| Error::Refused {
                what: what.to_owned(),
                why: NO_CA.into(),
            })?;
        Ok(StoredCa {
            cert_pem: row.get(0),
            key_sealed: row.get(1),
            serial: row.get(2),
            not_after: row.get(3),
            tls_crypt_sealed: row.get(4),
        })
    }

    /// The CA with its private key opened, for signing.
    fn open(&self, seal: &CaKeySeal, what: &str) -> Result<CaMaterial> {
        let sealed = std::str::from_utf8(&self.key_sealed)
            .map_err(|_| Error::corrupt("CA private key", "not a sealed value"))?;
        let key_pem = seal.open(sealed).map_err(pki_err(what))?;
        let serial = self
            .serial
            .as_deref()
            .ok_or_else(|| Error::corrupt("CA", "no serial recorded"))
            .and_then(|s| Serial::from_hex(s).map_err(|e| Error::corrupt("CA serial", e)))?;
        Ok(CaMaterial {
            cert_pem: self.cert_pem.clone(),
            key_pem,
            serial,
            not_after: self.not_after.unwrap_or(0),
        })
    }

    fn tls_crypt_key(&self, seal: &CaKeySeal, what: &str) -> Result<String> {
        let sealed = self
            .tls_crypt_sealed
            .as_deref()
            .ok_or_else(|| Error::corrupt("tls-crypt key", "none recorded with the CA"))?;
        open_as(seal, TLS_CRYPT_PURPOSE, sealed).map_err(pki_err(what))
    }
}

pub fn ca_info(conn: &mut impl GenericClient) -> Result<Option<CaInfo>> {
    let row = conn
        .query_opt(
            concat!(
                "SELECT name, serial, ",
                epoch!("not_after"),
                ", ",
                epoch!("created_at"),
                " FROM certificate_authority"
            ),
            &[],
        )
        .map_err(q("reading the certificate authority"))?;
    Ok(row.map(|r| CaInfo {
        name: r.get(0),
        serial: r.get(1),
        not_after: r.get(2),
        created_at: r.get(3),
    }))
}

/// Creates the CA and the tls-crypt key. Refused when a CA exists: routers
/// trust exactly one, and replacing it would cut every router off.
pub fn init_ca(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    name: &str,
    valid_days: u32,
    now: UnixTime,
) -> Result<CaInfo> {
    const WHAT: &str = "create the certificate authority";
    if let Some(ca) = ca_info(conn)? {
        return Err(Error::Refused {
            what: WHAT.into(),
            why: format!(
                "certificate authority '{}' already exists, and every router trusts it",
                ca.name
            ),
        });
    }
    let ca = pki::create_ca(name, now, valid_days).map_err(pki_err(WHAT))?;
    let tls_crypt = pki::generate_tls_crypt_key().map_err(pki_err(WHAT))?;
    let key_sealed = seal.seal(&ca.key_pem).map_err(pki_err(WHAT))?;
    let tls_sealed = seal_as(seal, TLS_CRYPT_PURPOSE, &tls_crypt).map_err(pki_err(WHAT))?;
    conn.execute(
        "INSERT INTO certificate_authority
                (name, key_encrypted, cert_pem, serial, not_after, tls_crypt_sealed)
         VALUES ($1, $2, $3, $4, to_timestamp($5::bigint), $6)",
        &[
            &name,
            &key_sealed.as_bytes(),
            &ca.cert_pem,
            &ca.serial.to_hex(),
            &ca.not_after,
            &tls_sealed,
        ],
    )
    .map_err(sql(
        "creating the certificate authority",
        "a certificate authority",
    ))?;
    ca_info(conn)?.ok_or_else(|| Error::corrupt("certificate authority", "vanished"))
}

/// The CA certificate (public), for `openssl verify` and the like.
pub fn ca_certificate(conn: &mut impl GenericClient) -> Result<String> {
    Ok(StoredCa::load(conn, "show the CA certificate")?.cert_pem)
}

fn router_id(conn: &mut impl GenericClient, name: &str) -> Result<Option<i64>> {
    let row = conn
        .query_opt(
            "SELECT id FROM routers WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .map_err(q("reading a router"))?;
    Ok(row.map(|r| r.get(0)))
}

fn certificate(conn: &mut impl GenericClient, serial: &str) -> Result<CertificateRow> {
    let row = conn
        .query_one(&format!("{CERT_SELECT} WHERE c.serial = $1"), &[&serial])
        .map_err(q("reading a certificate"))?;
    Ok(cert_from_row(&row))
}

/// Issues a router's client certificate (CN = router name) and stores it with
/// its sealed key. A router with an unexpired active certificate keeps it
/// unless `replace`, which revokes the old one in the same transaction.
pub fn issue_router_certificate(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    router: &str,
    valid_days: u32,
    replace: bool,
    now: UnixTime,
) -> Result<Issued> {
    let what = format!("issue a certificate for router '{router}'");
    let id =
        router_id(conn, router)?.ok_or_else(|| Error::not_found(format!("router '{router}'")))?;
    let current: Vec<String> = conn
        .query(
            "SELECT serial FROM certificates
              WHERE router_id = $1 AND kind = 'router' AND status = 'active' AND not_after > now()
              ORDER BY created_at",
            &[&id],
        )
        .map_err(q("reading the router's certificates"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !current.is_empty() && !replace {
        return Err(Error::Refused {
            what,
            why: format!(
                "it already has active certificate {}; use --replace to revoke it and issue a new one",
                current.join(", ")
            ),
        });
    }
    let replaced = revoke_router_certificates(conn, id)?;
    let ca = StoredCa::load(conn, &what)?.open(seal, &what)?;
    let cert =
        pki::issue_router_certificate(&ca, router, now, valid_days).map_err(pki_err(&what))?;
    store_certificate(conn, seal, &cert, Some(id), "router", &what)?;
    Ok(Issued {
        certificate: certificate(conn, &cert.serial.to_hex())?,
        replaced,
    })
}

fn store_certificate(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    cert: &pki::IssuedCertificate,
    router_id: Option<i64>,
    kind: &str,
    what: &str,
) -> Result<()> {
    let key_sealed = seal_as(seal, CERT_KEY_PURPOSE, &cert.key_pem).map_err(pki_err(what))?;
    conn.execute(
        "INSERT INTO certificates (serial, router_id, common_name, not_after, pem, kind, key_sealed)
         VALUES ($1, $2, $3, to_timestamp($4::bigint), $5, $6, $7)",
        &[
            &cert.serial.to_hex(),
            &router_id,
            &cert.common_name,
            &cert.not_after,
            &cert.cert_pem,
            &kind,
            &key_sealed,
        ],
    )
    .map_err(sql("storing a certificate", "a certificate with that serial"))?;
    Ok(())
}

/// Revokes a router's active certificates; returns their serials.
pub(crate) fn revoke_router_certificates(
    conn: &mut impl GenericClient,
    router_id: i64,
) -> Result<Vec<String>> {
    let rows = conn
        .query(
            "UPDATE certificates SET status = 'revoked', revoked_at = now()
              WHERE router_id = $1 AND status = 'active'
              RETURNING serial",
            &[&router_id],
        )
        .map_err(q("revoking the router's certificates"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Revokes by router name (all its active certificates) or by serial (hex,
/// ':' separators allowed). A name wins over a serial that looks the same.
pub fn revoke(conn: &mut impl GenericClient, target: &str) -> Result<Vec<CertificateRow>> {
    let serials = if let Some(id) = router_id(conn, target)? {
        let serials = revoke_router_certificates(conn, id)?;
        if serials.is_empty() {
            return Err(Error::Refused {
                what: format!("revoke router '{target}'"),
                why: "it has no active certificate".into(),
            });
        }
        serials
    } else {
        let serial = Serial::from_hex(target)
            .map_err(|_| Error::not_found(format!("router or certificate serial '{target}'")))?
            .to_hex();
        let status: Option<String> = conn
            .query_opt(
                "SELECT status FROM certificates WHERE serial = $1 FOR UPDATE",
                &[&serial],
            )
            .map_err(q("reading a certificate"))?
            .map(|r| r.get(0));
        match status.as_deref() {
            None => {
                return Err(Error::not_found(format!(
                    "router or certificate serial '{target}'"
                )))
            }
            Some("revoked") => {
                return Err(Error::Refused {
                    what: format!("revoke certificate {serial}"),
                    why: "it is already revoked".into(),
                })
            }
            Some(_) => {}
        }
        conn.execute(
            "UPDATE certificates SET status = 'revoked', revoked_at = now() WHERE serial = $1",
            &[&serial],
        )
        .map_err(q("revoking a certificate"))?;
        vec![serial]
    };
    serials.iter().map(|s| certificate(conn, s)).collect()
}

pub fn list_certificates(conn: &mut impl GenericClient) -> Result<Vec<CertificateRow>> {
    let rows = conn
        .query(&format!("{CERT_SELECT} ORDER BY c.created_at, c.id"), &[])
        .map_err(q("listing certificates"))?;
    Ok(rows.iter().map(cert_from_row).collect())
}

/// A fresh CRL (PEM) listing every revoked certificate, with the next CRL
/// number.
pub fn issue_crl(conn: &mut impl GenericClient, seal: &CaKeySeal, now: UnixTime) -> Result<String> {
    const WHAT: &str = "issue a CRL";
    let ca = StoredCa::load(conn, WHAT)?.open(seal, WHAT)?;
    let number: i64 = conn
        .query_one(
            "UPDATE certificate_authority SET crl_number = crl_number + 1 RETURNING crl_number",
            &[],
        )
        .map_err(q("numbering the CRL"))?
        .get(0);
    let rows = conn
        .query(
            concat!(
                "SELECT serial, ",
                epoch!("coalesce(revoked_at, now())"),
                " FROM certificates WHERE status = 'revoked' ORDER BY revoked_at, id"
            ),
            &[],
        )
        .map_err(q("listing revoked certificates"))?;
    let revoked = rows
        .iter()
        .map(|r| {
            let serial: String = r.get(0);
            Ok(RevokedCertificate {
                serial: Serial::from_hex(&serial)
                    .map_err(|e| Error::corrupt(format!("certificate serial '{serial}'"), e))?,
                revoked_at: r.get(1),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let number = u64::try_from(number).map_err(|e| Error::corrupt("CRL number", e))?;
    pki::render_crl(&ca, &revoked, number, now, CRL_DAYS).map_err(pki_err(WHAT))
}

/// The VPN server's files. An active server certificate named `name` with
/// more than 30 days left is handed out again (so re-running is harmless);
/// otherwise, or with `renew`, a new one is issued. The CRL is always fresh.
pub fn server_files(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    name: &str,
    valid_days: u32,
    renew: bool,
    now: UnixTime,
) -> Result<ServerFiles> {
    const WHAT: &str = "issue the VPN server's certificate";
    let stored = StoredCa::load(conn, WHAT)?;
    let existing = if renew {
        None
    } else {
        conn.query_opt(
            "SELECT serial, pem, key_sealed FROM certificates
              WHERE kind = 'server' AND status = 'active' AND common_name = $1
                AND key_sealed IS NOT NULL AND not_after > to_timestamp($2::bigint) + interval '30 days'
              ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&name, &now],
        )
        .map_err(q("reading the server certificate"))?
    };
    let (serial, cert_pem, key_pem, issued) = match existing {
        Some(row) => {
            let sealed: String = row.get(2);
            let key = open_as(seal, CERT_KEY_PURPOSE, &sealed).map_err(pki_err(WHAT))?;
            (row.get(0), row.get(1), key, false)
        }
        None => {
            let ca = stored.open(seal, WHAT)?;
            let cert =
                pki::issue_server_certificate(&ca, name, now, valid_days).map_err(pki_err(WHAT))?;
            store_certificate(conn, seal, &cert, None, "server", WHAT)?;
            (cert.serial.to_hex(), cert.cert_pem, cert.key_pem, true)
        }
    };
    Ok(ServerFiles {
        ca_pem: stored.cert_pem.clone(),
        cert_pem,
        key_pem,
        tls_crypt_key: stored.tls_crypt_key(seal, WHAT)?,
        crl_pem: issue_crl(conn, seal, now)?,
        serial,
        common_name: name.to_owned(),
        issued,
    })
}

/// What a router's files are made of.
struct RouterMaterial {
    name: String,
    secret: String,
    vpn_id: i32,
    cert_pem: String,
    key_pem: String,
    ca_pem: String,
}

fn router_material(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    router: &str,
    what: &str,
) -> Result<RouterMaterial> {
    let r = conn
        .query_opt(
            "SELECT id, name, secret, vpn_id FROM routers WHERE name = $1",
            &[&router],
        )
        .map_err(q("reading a router"))?
        .ok_or_else(|| Error::not_found(format!("router '{router}'")))?;
    let id: i64 = r.get(0);
    let cert = conn
        .query_opt(
            "SELECT pem, key_sealed FROM certificates
              WHERE router_id = $1 AND kind = 'router' AND status = 'active'
                AND not_after > now() AND key_sealed IS NOT NULL
              ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&id],
        )
        .map_err(q("reading the router's certificate"))?
        .ok_or_else(|| Error::Refused {
            what: what.to_owned(),
            why: format!(
                "router '{router}' has no active certificate; run `netadmin cert issue {router}`"
            ),
        })?;
    let stored = StoredCa::load(conn, what)?;
    let key_sealed: String = cert.get(1);
    Ok(RouterMaterial {
        name: r.get(1),
        secret: r.get(2),
        vpn_id: r.get(3),
        cert_pem: cert.get(0),
        key_pem: open_as(seal, CERT_KEY_PURPOSE, &key_sealed).map_err(pki_err(what))?,
        ca_pem: stored.cert_pem,
    })
}

fn transport(proto: VpnProto) -> VpnTransport {
    match proto {
        VpnProto::Udp => VpnTransport::Udp,
        VpnProto::Tcp => VpnTransport::Tcp,
    }
}

fn render_profile(
    m: &RouterMaterial,
    remote: &VpnRemote,
    proto: VpnProto,
    what: &str,
) -> Result<String> {
    pki::render_client_profile(&ClientProfile {
        router_name: &m.name,
        remote_host: &remote.host,
        port: remote.port,
        transport: transport(proto),
        ca_pem: &m.ca_pem,
        cert_pem: &m.cert_pem,
        key_pem: &m.key_pem,
    })
    .map_err(pki_err(what))
}

/// The router's complete inline OpenVPN client profile (.ovpn). Secret: it
/// holds the router's private key.
pub fn router_profile(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    router: &str,
    remote: &VpnRemote,
    proto: VpnProto,
) -> Result<String> {
    let what = format!("write the VPN profile of router '{router}'");
    let m = router_material(conn, seal, router, &what)?;
    render_profile(&m, remote, proto, &what)
}

/// The RouterOS v7 script joining the router to Netily: VPN client from the
/// profile (`config.vpn_proto` to `remote`), RADIUS at
/// `config.radius_address()` from the router's tunnel address in
/// `config.router_plan()`, CoA on port 3799, PPP and Hotspot through RADIUS.
/// Secret, like the profile.
pub fn router_script(
    conn: &mut impl GenericClient,
    seal: &CaKeySeal,
    router: &str,
    remote: &VpnRemote,
    config: &Config,
    interim_minutes: u32,
) -> Result<String> {
    let what = format!("write the RouterOS script of router '{router}'");
    let m = router_material(conn, seal, router, &what)?;
    let profile = render_profile(&m, remote, config.vpn_proto, &what)?;
    let router_vpn_address = config
        .router_plan()
        .router_address(i64::from(m.vpn_id))
        .map_err(|e| Error::Refused {
            what: what.clone(),
            why: e.to_string(),
        })?;
    pki::render_routeros_script(&RouterOsSetup {
        router_name: &m.name,
        profile: &profile,
        remote_host: &remote.host,
        radius_server: config.radius_address(),
        router_vpn_address,
        radius_secret: &m.secret,
        interim_minutes,
    })
    .map_err(pki_err(&what))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_open_only_for_their_purpose() {
        let seal = CaKeySeal::from_hex("ca_key_seal", KEY).unwrap();
        let sealed = seal_as(&seal, CERT_KEY_PURPOSE, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert_eq!(
            open_as(&seal, CERT_KEY_PURPOSE, &sealed).unwrap(),
            "-----BEGIN PRIVATE KEY-----\n"
        );
        assert!(open_as(&seal, TLS_CRYPT_PURPOSE, &sealed).is_err());
        // A certificate key put in the CA's column does not open as a PEM key.
        assert!(seal.open(&sealed).unwrap().starts_with(CERT_KEY_PURPOSE));
        let ca_sealed = seal.seal("-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert!(open_as(&seal, CERT_KEY_PURPOSE, &ca_sealed).is_err());
    }

    #[test]
    fn a_wrong_seal_is_a_one_line_refusal_without_secrets() {
        let e = pki_err("issue a CRL")(PkiError::SealedKey("wrong sealing key"));
        let text = e.to_string();
        assert!(
            text.starts_with("cannot issue a CRL: a sealed key cannot be opened"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }
}
