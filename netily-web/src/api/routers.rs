//! Adding, changing and removing routers and other RADIUS clients (NAS):
//! admins only, as their secrets and VPN keys are the network's. The same
//! netily-core calls as netadmin's `router` and `nas` commands; secrets
//! are taken, never shown.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use netily_core::db::nas::{self, NasChange, NasRow, NewNas};
use netily_core::db::pki::CertificateRow;
use netily_core::db::{self, onboard, NewRouter, RouterChange, RouterRow};
use netily_core::input;
use netily_core::operators::Area;
use serde::{Deserialize, Serialize};

use super::{created, Body};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

pub async fn show(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<RouterRow>, ApiError> {
    let plan = app.config.router_plan();
    Ok(Json(
        app.read(move |tx| Ok(db::get_router(tx, &name, &plan)?))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRouterBody {
    pub name: String,
    /// The address it sends RADIUS from.
    pub ip: String,
    /// The RADIUS shared secret.
    pub secret: String,
    pub description: Option<String>,
}

#[derive(Serialize)]
pub struct Added {
    #[serde(flatten)]
    pub router: RouterRow,
    /// Its first certificate's serial; null while there is no CA.
    pub certificate: Option<String>,
}

pub async fn add_router(app: &App, who: &Authed, b: NewRouterBody) -> Result<Added, ApiError> {
    who.require(Area::Routers)?;
    let r = NewRouter {
        name: b.name,
        nas_ip: input::ipv4("router IP", &b.ip)?,
        secret: b.secret,
        description: b.description.filter(|d| !d.is_empty()),
    };
    let vpn = app.config.router_plan();
    let web = app.clone();
    let (router, cert) = app
        .change(who, "router add", move |tx| {
            onboard::add_router_with_certificate(
                tx,
                &r,
                &vpn,
                || super::network::seal(&web),
                netily_core::clock::now(),
            )
        })
        .await?;
    Ok(Added {
        router,
        certificate: cert.map(|c: CertificateRow| c.serial),
    })
}

/// Registers a router: its NAS entry, its VPN address and (once a CA
/// exists) its first certificate.
pub async fn add(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(b): Body<NewRouterBody>,
) -> Result<Response, ApiError> {
    Ok(created(add_router(&app, &who, b).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouterUpdate {
    pub ip: Option<String>,
    pub secret: Option<String>,
    /// "" clears it.
    pub description: Option<String>,
    pub coa_port: Option<u16>,
}

pub async fn update(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Body(b): Body<RouterUpdate>,
) -> Result<Json<RouterRow>, ApiError> {
    who.require(Area::Routers)?;
    let change = RouterChange {
        nas_ip: b
            .ip
            .as_deref()
            .map(|i| input::ipv4("router IP", i))
            .transpose()?,
        secret: b.secret,
        description: b.description,
        coa_port: coa_port(b.coa_port)?,
    };
    let plan = app.config.router_plan();
    let row = app
        .change(&who, "router update", move |tx| {
            Ok(db::update_router(tx, &name, &change, &plan)?)
        })
        .await?;
    Ok(Json(row))
}

fn coa_port(p: Option<u16>) -> Result<Option<u16>, ApiError> {
    match p {
        Some(0) => Err(ApiError::bad_request(
            "invalid coa_port \"0\": expected a port from 1 to 65535",
        )),
        p => Ok(p),
    }
}

pub async fn remove_router(app: &App, who: &Authed, name: String) -> Result<Vec<String>, ApiError> {
    who.require(Area::Routers)?;
    app.change(who, "router remove", move |tx| {
        Ok(db::remove_router(tx, &name)?)
    })
    .await
}

/// Removes a router and its NAS entry, and revokes its certificates.
pub async fn remove(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let revoked = remove_router(&app, &who, name.clone()).await?;
    Ok(Json(
        serde_json::json!({ "removed": name, "revoked": revoked }),
    ))
}

/// RADIUS clients (routers' and others'), never with their secrets.
pub async fn list_nas(State(app): State<App>) -> Result<Json<Vec<NasRow>>, ApiError> {
    Ok(Json(app.read(|tx| Ok(db::list_nas(tx, false)?)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNasBody {
    /// An address, or a network like 192.0.2.0/24.
    pub address: String,
    pub shortname: String,
    pub secret: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub coa_port: Option<u16>,
}

pub async fn add_nas(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(b): Body<NewNasBody>,
) -> Result<Response, ApiError> {
    who.require(Area::Routers)?;
    let n = NewNas {
        nasname: b.address,
        shortname: b.shortname,
        secret: b.secret,
        kind: b.kind,
        description: b.description,
        coa_port: coa_port(b.coa_port)?,
    };
    let plan = app.config.router_plan();
    let row = app
        .change(&who, "nas add", move |tx| Ok(nas::add_nas(tx, &n, &plan)?))
        .await?;
    Ok(created(row))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasUpdate {
    pub address: Option<String>,
    pub shortname: Option<String>,
    pub secret: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// "" clears it.
    pub description: Option<String>,
    pub coa_port: Option<u16>,
}

/// Changes a RADIUS client that is not a router (by address or short
/// name); a router's is changed through its router.
pub async fn update_nas(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(target): Path<String>,
    Body(b): Body<NasUpdate>,
) -> Result<Json<NasRow>, ApiError> {
    who.require(Area::Routers)?;
    let change = NasChange {
        nasname: b.address,
        shortname: b.shortname,
        secret: b.secret,
        kind: b.kind,
        description: b.description,
        coa_port: coa_port(b.coa_port)?,
    };
    let plan = app.config.router_plan();
    let row = app
        .change(&who, "nas update", move |tx| {
            Ok(nas::update_nas(tx, &target, &change, &plan)?)
        })
        .await?;
    Ok(Json(row))
}

pub async fn remove_nas(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(target): Path<String>,
) -> Result<Json<NasRow>, ApiError> {
    who.require(Area::Routers)?;
    let plan = app.config.router_plan();
    let row = app
        .change(&who, "nas remove", move |tx| {
            Ok(nas::remove_nas(tx, &target, &plan)?)
        })
        .await?;
    Ok(Json(row))
}
