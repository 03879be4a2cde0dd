//! Adding a router the way every operator surface does it (netadmin's
//! `router add`, the API, the console): its NAS entry and VPN address and,
//! once a certificate authority exists, its first certificate, in one
//! transaction: the router with its certificate, or nothing.

use postgres::GenericClient;

use super::error::Error;
use super::pki::{self, CertificateRow};
use super::routers::{add_router, NewRouter, RouterRow};
use crate::model::UnixTime;
use crate::pki::CaKeySeal;
use crate::vpn_plan::VpnPlan;

/// Adds `r`; `seal` (asked for only when a CA exists) opens the CA key to
/// sign its certificate. None for the certificate: no CA yet.
pub fn add_router_with_certificate<E: From<Error>>(
    tx: &mut impl GenericClient,
    r: &NewRouter,
    vpn: &VpnPlan,
    seal: impl FnOnce() -> Result<CaKeySeal, E>,
    now: UnixTime,
) -> Result<(RouterRow, Option<CertificateRow>), E> {
    let row = add_router(tx, r, vpn)?;
    if pki::ca_info(tx)?.is_none() {
        return Ok((row, None));
    }
    let seal = seal()?;
    let issued =
        pki::issue_router_certificate(tx, &seal, &row.name, pki::DEFAULT_CERT_DAYS, false, now)?;
    Ok((row, Some(issued.certificate)))
}
