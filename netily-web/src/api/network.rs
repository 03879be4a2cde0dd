//! /api/v1/sessions, /auth-log, /routers (with VPN state, profile and
//! script downloads) and /certificates.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use netily_core::db::enforcement::{self, CoaLogEntry, CoaLogFilter, NewCoaLog};
use netily_core::db::pki::{self, CertificateRow};
use netily_core::db::{self, AuthLogEntry, AuthLogFilter, RouterRow, SessionFilter, SessionRow};
use netily_core::enforcer::{kick, Settings};
use netily_core::operators::Area;
use netily_core::pki::CaKeySeal;
use serde::Deserialize;

use super::{after_id, after_position, page_size, paged, Body, Page, Params};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

#[derive(Deserialize)]
pub struct SessionQuery {
    pub user: Option<String>,
    /// true: only sessions online now [default: true]
    pub online: Option<bool>,
    /// The `next` of the page before.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list_sessions(app: &App, q: SessionQuery) -> Result<Page<SessionRow>, ApiError> {
    let size = page_size(q.limit)?;
    let filter = SessionFilter {
        active: q.online.unwrap_or(true),
        username: q.user.filter(|s| !s.is_empty()),
        after: after_position(q.after.as_deref())?,
        limit: Some(size + 1),
        ..SessionFilter::default()
    };
    let rows = app
        .read(move |tx| Ok(db::list_sessions(tx, &filter)?))
        .await?;
    Ok(paged(rows, size, |s| s.position.to_string()))
}

pub async fn sessions(
    State(app): State<App>,
    Params(q): Params<SessionQuery>,
) -> Result<Json<Page<SessionRow>>, ApiError> {
    Ok(Json(list_sessions(&app, q).await?))
}

#[derive(Deserialize)]
pub struct AuthLogQuery {
    pub user: Option<String>,
    pub rejects: Option<bool>,
    /// With `user`: how many days back from now the listing goes, over all
    /// its pages (1 to 31) [default: 7]; not for `rejects`. Accepts have no
    /// index by subscriber (writing the log stays cheap), so one
    /// subscriber's read those days of everyone's.
    pub days: Option<i32>,
    /// The `next` of the page before.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// One subscriber's accepts: the days looked back by default, and at most.
pub const USER_LOG_DAYS: i32 = 7;
pub const MAX_USER_LOG_DAYS: i32 = 31;

/// Ends `target`'s sessions now (a subscriber's, or one session by its
/// Acct-Session-Id or unique id): a Disconnect-Request to the router, the
/// answers in the enforcement log.
pub async fn kick_sessions(
    app: &App,
    who: &Authed,
    target: String,
) -> Result<Vec<NewCoaLog>, ApiError> {
    who.require(Area::Subscribers)?;
    let settings = Settings::from_config(&app.config);
    let origin = who.via.as_str();
    let why = format!("operator {}: {} session kick", who.operator.name, origin);
    app.with_client(move |conn| {
        Ok(kick::kick_now(
            conn,
            settings,
            &target,
            origin,
            &why,
            netily_core::clock::now(),
        )?)
    })
    .await
}

pub async fn kick_subscriber(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(username): Path<String>,
) -> Result<Json<Vec<NewCoaLog>>, ApiError> {
    Ok(Json(kick_sessions(&app, &who, username).await?))
}

pub async fn kick_session(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(id): Path<String>,
) -> Result<Json<Vec<NewCoaLog>>, ApiError> {
    Ok(Json(kick_sessions(&app, &who, id).await?))
}

#[derive(Deserialize)]
pub struct EnforcementQuery {
    pub user: Option<String>,
    /// The `next` of the page before.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// CoA and Disconnect-Requests sent to routers and their answers, newest
/// first.
pub async fn list_enforcement(
    app: &App,
    q: EnforcementQuery,
) -> Result<Page<CoaLogEntry>, ApiError> {
    let size = page_size(q.limit)?;
    let filter = CoaLogFilter {
        username: q.user.filter(|s| !s.is_empty()),
        since: None,
        before_id: after_id(q.after.as_deref())?,
        limit: Some(size + 1),
    };
    let rows = app
        .read(move |tx| Ok(enforcement::list_coa_log(tx, &filter)?))
        .await?;
    Ok(paged(rows, size, |e| e.id.to_string()))
}

pub async fn enforcement_log(
    State(app): State<App>,
    Params(q): Params<EnforcementQuery>,
) -> Result<Json<Page<CoaLogEntry>>, ApiError> {
    Ok(Json(list_enforcement(&app, q).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// Revoke the router's current certificates once the new one exists.
    #[serde(default)]
    pub replace: bool,
    /// Validity [default: netadmin's, DEFAULT_CERT_DAYS].
    pub days: Option<u32>,
}

/// Issues a certificate for a router (refused while one is current, unless
/// `replace`).
pub async fn issue_certificate(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Body(b): Body<IssueBody>,
) -> Result<axum::response::Response, ApiError> {
    let issued = issue(&app, &who, name, b).await?;
    Ok(super::created(issued))
}

pub async fn issue(
    app: &App,
    who: &Authed,
    name: String,
    b: IssueBody,
) -> Result<pki::Issued, ApiError> {
    who.require(Area::Certificates)?;
    let seal = seal(app)?;
    let days = b.days.unwrap_or(pki::DEFAULT_CERT_DAYS);
    app.change(who, "cert issue", move |tx| {
        Ok(pki::issue_router_certificate(
            tx,
            &seal,
            &name,
            days,
            b.replace,
            netily_core::clock::now(),
        )?)
    })
    .await
}

pub async fn list_auth_log(app: &App, q: AuthLogQuery) -> Result<Page<AuthLogEntry>, ApiError> {
    let size = page_size(q.limit)?;
    let days = q.days.unwrap_or(USER_LOG_DAYS);
    if !(1..=MAX_USER_LOG_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "invalid days {days}: 1 to {MAX_USER_LOG_DAYS}"
        )));
    }
    let rejects_only = q.rejects.unwrap_or(false);
    let filter = AuthLogFilter {
        // Rejects have an index by subscriber: no window for them.
        max_hours: (!rejects_only).then_some(days * 24),
        username: q.user.filter(|s| !s.is_empty()),
        rejects_only,
        after: after_position(q.after.as_deref())?,
        limit: Some(size + 1),
        ..AuthLogFilter::default()
    };
    let rows = app
        .read(move |tx| Ok(db::list_auth_log(tx, &filter)?))
        .await?;
    Ok(paged(rows, size, |e| e.position.to_string()))
}

pub async fn auth_log(
    State(app): State<App>,
    Params(q): Params<AuthLogQuery>,
) -> Result<Json<Page<AuthLogEntry>>, ApiError> {
    Ok(Json(list_auth_log(&app, q).await?))
}

pub async fn list_routers(app: &App) -> Result<Vec<RouterRow>, ApiError> {
    let plan = app.config.router_plan();
    app.read(move |tx| Ok(db::list_routers(tx, &plan)?)).await
}

pub async fn routers(State(app): State<App>) -> Result<Json<Vec<RouterRow>>, ApiError> {
    Ok(Json(list_routers(&app).await?))
}

pub fn seal(app: &App) -> Result<CaKeySeal, ApiError> {
    let key = app.config.ca_key_seal.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_configured",
            "ca_key_seal is not set in netily-web's config: it cannot open router keys",
        )
    })?;
    CaKeySeal::from_hex("ca_key_seal", key.hex()).map_err(|e| ApiError::internal(e.to_string()))
}

fn remote(app: &App) -> Result<netily_core::config::VpnRemote, ApiError> {
    app.config.vpn_remote.clone().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_configured",
            "vpn_remote is not set in netily-web's config: set it to the host[:port] routers dial",
        )
    })
}

fn download(body: String, content_type: &str, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The router's OpenVPN profile. It holds the router's private key: admins
/// only.
pub async fn router_profile(app: &App, who: &Authed, name: String) -> Result<Response, ApiError> {
    who.require(Area::Routers)?;
    let (seal, remote, proto) = (seal(app)?, remote(app)?, app.config.vpn_proto);
    let file = format!("{}.ovpn", safe_file_name(&name));
    let profile = app
        .change(who, "router profile download", move |tx| {
            let profile = pki::router_profile(tx, &seal, &name, &remote, proto)?;
            netily_core::db::audit::record(tx, "routers", &name)?;
            Ok(profile)
        })
        .await?;
    Ok(download(profile, "application/x-openvpn-profile", &file))
}

pub async fn ovpn(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    router_profile(&app, &who, name).await
}

pub async fn router_script(app: &App, who: &Authed, name: String) -> Result<Response, ApiError> {
    who.require(Area::Routers)?;
    let (seal, remote) = (seal(app)?, remote(app)?);
    let config = app.config.clone();
    let file = format!("{}.rsc", safe_file_name(&name));
    let script = app
        .change(who, "router script download", move |tx| {
            let script = pki::router_script(tx, &seal, &name, &remote, &config, 5)?;
            netily_core::db::audit::record(tx, "routers", &name)?;
            Ok(script)
        })
        .await?;
    Ok(download(script, "text/plain; charset=utf-8", &file))
}

pub async fn mikrotik_script(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    router_script(&app, &who, name).await
}

/// A router's name as a download's file name (no quotes or slashes).
fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub async fn certificates(State(app): State<App>) -> Result<Json<Vec<CertificateRow>>, ApiError> {
    Ok(Json(app.read(|tx| Ok(pki::list_certificates(tx)?)).await?))
}

/// Revokes a certificate (by serial) or every active one of a router (by
/// name); the VPN plugin refuses it from then on.
pub async fn revoke(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(serial): Path<String>,
) -> Result<Json<Vec<CertificateRow>>, ApiError> {
    Ok(Json(revoke_certificates(&app, &who, serial).await?))
}

pub async fn revoke_certificates(
    app: &App,
    who: &Authed,
    target: String,
) -> Result<Vec<CertificateRow>, ApiError> {
    who.require(Area::Certificates)?;
    app.change(who, "cert revoke", move |tx| Ok(pki::revoke(tx, &target)?))
        .await
}
