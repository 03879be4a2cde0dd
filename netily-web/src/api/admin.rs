//! /api/v1/me, /dashboard, /audit, /operators and /tokens.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use netily_core::db::audit::{self, AuditEntry, AuditFilter};
use netily_core::db::operators::{self as ops, Operator, TokenRow};
use netily_core::operators::{Area, Role};
use serde::Deserialize;

use super::{after_id, created, page_size, paged, Body, Page, Params};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

pub async fn me(Extension(who): Extension<Authed>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "operator": who.operator,
        "via": who.via,
    }))
}

/// Subscribers by state, sessions, logins and rejects in 24 h, routers
/// online: as last counted (every 30 s; `counted_at` says when).
pub async fn dashboard(
    State(app): State<App>,
) -> Result<Json<crate::dashboard::Counted>, ApiError> {
    Ok(Json(crate::dashboard::latest(&app).await?))
}

/// Logins, rejects and traffic per hour, the last 24 hours.
pub async fn dashboard_hours(
    State(app): State<App>,
) -> Result<Json<Vec<netily_core::db::dashboard::HourCounts>>, ApiError> {
    Ok(Json(
        app.read(|tx| Ok(netily_core::db::dashboard::last_24_hours(tx)?))
            .await?,
    ))
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub operator: Option<String>,
    pub entity: Option<String>,
    /// An id: entries older than it (the next page).
    pub after: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list_audit(app: &App, q: AuditQuery) -> Result<Page<AuditEntry>, ApiError> {
    let size = page_size(q.limit)?;
    let before_id = after_id(q.after.as_deref())?;
    let filter = AuditFilter {
        subscriber: q.user.filter(|s| !s.is_empty()),
        actor: q.operator.filter(|s| !s.is_empty()),
        entity: q.entity.filter(|s| !s.is_empty()),
        before_id,
        limit: size + 1,
        ..AuditFilter::default()
    };
    let rows = app
        .read(move |tx| Ok(audit::list_audit(tx, &filter)?))
        .await?;
    Ok(paged(rows, size, |e| e.id.to_string()))
}

pub async fn audit(
    State(app): State<App>,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    Ok(Json(list_audit(&app, q).await?))
}

pub async fn operators(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
) -> Result<Json<Vec<Operator>>, ApiError> {
    who.require(Area::Operators)?;
    Ok(Json(app.read(|tx| Ok(ops::list_operators(tx)?)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub name: String,
    pub role: String,
    pub password: String,
}

/// Adds an operator (admins only). The password is hashed (argon2) on the
/// bounded password threads, before the transaction.
pub async fn create_operator(
    app: &App,
    who: &Authed,
    n: NewOperator,
) -> Result<Operator, ApiError> {
    who.require(Area::Operators)?;
    let role = Role::parse(&n.role)?;
    netily_core::operators::check_name(&n.name)?;
    let hash = hash_password(app, n.password).await?;
    app.change(who, "operator add", move |tx| {
        Ok(ops::add_operator_hashed(tx, &n.name, role, &hash)?)
    })
    .await
}

/// `password` checked and hashed on one of the bounded password threads
/// (`App::password_work`).
pub async fn hash_password(app: &App, password: String) -> Result<String, ApiError> {
    app.password_work(move || netily_core::operators::hash_password(&password))
        .await?
        .ok_or_else(|| ApiError::internal("hashing the password failed"))?
        .map_err(ApiError::from)
}

pub async fn add_operator(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(n): Body<NewOperator>,
) -> Result<Response, ApiError> {
    Ok(created(create_operator(&app, &who, n).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorUpdate {
    /// admin, support or readonly (the last admin stays admin).
    role: String,
}

/// Changes an operator's role; their sessions and tokens act with the new
/// one from the next request.
pub async fn update_operator(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Body(u): Body<OperatorUpdate>,
) -> Result<Json<Operator>, ApiError> {
    Ok(Json(set_role(&app, &who, name, &u.role).await?))
}

pub async fn set_role(
    app: &App,
    who: &Authed,
    name: String,
    role: &str,
) -> Result<Operator, ApiError> {
    who.require(Area::Operators)?;
    let role = Role::parse(role)?;
    app.change(who, "operator role", move |tx| {
        Ok(ops::set_role(tx, &name, role)?)
    })
    .await
}

pub async fn remove_operator(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    delete_operator(&app, &who, name.clone()).await?;
    Ok(Json(serde_json::json!({ "removed": name })))
}

pub async fn delete_operator(app: &App, who: &Authed, name: String) -> Result<(), ApiError> {
    who.require(Area::Operators)?;
    app.change(who, "operator remove", move |tx| {
        Ok(ops::remove_operator(tx, &name)?)
    })
    .await
}

/// Tokens: an admin sees all, anyone else their own.
pub async fn tokens(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
) -> Result<Json<Vec<TokenRow>>, ApiError> {
    let only = (!who.may(Area::Operators)).then(|| who.operator.name.clone());
    Ok(Json(list_tokens(&app, only).await?))
}

/// Tokens, newest first; only `operator`'s when given.
pub async fn list_tokens(app: &App, operator: Option<String>) -> Result<Vec<TokenRow>, ApiError> {
    app.read(move |tx| Ok(ops::list_tokens(tx, operator.as_deref())?))
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The operator it acts as [default: the caller]; others' need admin.
    pub operator: Option<String>,
    pub label: String,
    /// It stops working after this many days [default: until revoked].
    pub expires_days: Option<u32>,
}

/// A new token and its secret, shown once. Support makes its own, admins
/// anyone's, readonly none.
pub async fn make_token(
    app: &App,
    who: &Authed,
    n: NewToken,
) -> Result<(TokenRow, netily_core::operators::Secret), ApiError> {
    let operator = n.operator.unwrap_or_else(|| who.operator.name.clone());
    if operator != who.operator.name || who.operator.role == Role::Readonly {
        who.require(Area::Operators)?;
    }
    app.change(who, "operator token add", move |tx| {
        Ok(ops::add_token(tx, &operator, &n.label, n.expires_days)?)
    })
    .await
}

pub async fn add_token(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Body(n): Body<NewToken>,
) -> Result<Response, ApiError> {
    let (row, secret) = make_token(&app, &who, n).await?;
    let mut v = serde_json::to_value(&row).map_err(|e| ApiError::internal(e.to_string()))?;
    v["token"] = secret.expose().into();
    Ok(created(v))
}

pub async fn revoke_token(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(id): Path<String>,
) -> Result<Json<TokenRow>, ApiError> {
    Ok(Json(revoke(&app, &who, id).await?))
}

/// Revokes a token: one's own, or anyone's for admins.
pub async fn revoke(app: &App, who: &Authed, id: String) -> Result<TokenRow, ApiError> {
    let mine = who.operator.name.clone();
    let admin = who.may(Area::Operators);
    app.change(who, "operator token revoke", move |tx| {
        let owner = ops::token_owner(tx, &id)?;
        if !admin && owner.as_deref() != Some(mine.as_str()) {
            return Err(ApiError::forbidden(
                "only admins revoke other operators' tokens",
            ));
        }
        Ok(ops::revoke_token(tx, &id)?)
    })
    .await
}
