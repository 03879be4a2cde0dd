//! The operator's own page: their password and their API tokens; and, for
//! admins, the operators page. The forms call the API's functions (same
//! checks, same audit entries, via "console").

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use netily_core::db::operators::{self as ops, Operator};
use netily_core::operators::{Area, Role};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Instant;

use super::view::{opt_time, path_segment, time};
use super::{render, Nav, PageResult};
use crate::api::admin;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::App;

pub struct TokenLine {
    id: i64,
    label: String,
    prefix: String,
    created: String,
    last_used: String,
    expires: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    role: String,
    tokens: Vec<TokenLine>,
    /// A token just made: shown this once.
    new_token: Option<String>,
    may_make_tokens: bool,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn account_page(
    app: &App,
    who: &Authed,
    new_token: Option<String>,
    done: Option<&str>,
) -> PageResult {
    let now = netily_core::clock::now();
    let tokens = admin::list_tokens(app, Some(who.operator.name.clone()))
        .await?
        .into_iter()
        .map(|t| TokenLine {
            live: t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now),
            id: t.id,
            label: t.label,
            prefix: t.prefix,
            created: time(t.created_at),
            last_used: opt_time(t.last_used_at),
            expires: t.expires_at.map_or_else(|| "never".into(), time),
        })
        .collect();
    let mut nav = Nav::new(who, "account");
    nav.flash = match done {
        Some("revoked") => Some("Token revoked."),
        _ => None,
    };
    Ok(render(&AccountPage {
        nav,
        role: who.operator.role.to_string(),
        tokens,
        new_token,
        may_make_tokens: who.operator.role != Role::Readonly,
    }))
}

pub async fn page(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<Done>,
) -> PageResult {
    account_page(&app, &who, None, q.done.as_deref()).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
}

/// A new password for oneself, given the current one (a session left open
/// on a shared screen cannot take the account). Counted by the login
/// limit like a login; every session of the operator ends, this one too.
pub async fn password(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let name = who.operator.name.clone();
    let ip = crate::client::address(peer.ip(), &headers, &app.config.web.trusted_proxies);
    if app.login_limit.attempt(&name, ip, Instant::now()).is_err() {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "refused",
            "too many wrong passwords; try again later",
        )
        .into());
    }
    if f.new != f.repeat {
        return Err(ApiError::bad_request("the new password and its repeat differ").into());
    }
    let (verified, _) = super::login::check_password(&app, name.clone(), f.current).await?;
    if verified.is_none() {
        return Err(ApiError::forbidden("the current password is wrong").into());
    }
    app.login_limit.succeeded(&name, ip);
    let hash = admin::hash_password(&app, f.new).await?;
    app.change(&who, "operator passwd", move |tx| {
        Ok(ops::set_password_hash(tx, &name, &hash)?)
    })
    .await?;
    let mut res = Redirect::to("/login?changed=1").into_response();
    if let Ok(v) = HeaderValue::from_str(&crate::auth::session_cookie(&app, "", 0)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

#[derive(Deserialize)]
pub struct TokenForm {
    label: String,
    expires_days: Option<String>,
}

/// Makes a token for oneself and shows it on the page this once.
pub async fn add_token(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Form(f): Form<TokenForm>,
) -> PageResult {
    let expires_days = match f.expires_days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(d.parse::<u32>().map_err(|_| {
            ApiError::bad_request(format!("invalid lifetime \"{d}\": a number of days"))
        })?),
    };
    let (_, secret) = admin::make_token(
        &app,
        &who,
        admin::NewToken {
            operator: None,
            label: f.label,
            expires_days,
        },
    )
    .await?;
    account_page(&app, &who, Some(secret.expose().to_owned()), None).await
}

pub async fn revoke_token(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(id): Path<String>,
) -> PageResult {
    admin::revoke(&app, &who, id).await?;
    Ok(Redirect::to("/account?done=revoked").into_response())
}

pub struct OperatorLine {
    name: String,
    path: String,
    role: &'static str,
    created: String,
    password_changed: String,
}

#[derive(Template)]
#[template(path = "operators.html")]
struct OperatorsPage {
    nav: Nav,
    operators: Vec<OperatorLine>,
    roles: [&'static str; 3],
    /// An operator just added and their password, shown this once.
    added: Option<(String, String)>,
}

async fn operators_page(
    app: &App,
    who: &Authed,
    added: Option<(String, String)>,
    done: Option<&str>,
) -> PageResult {
    who.require(Area::Operators)?;
    let operators: Vec<Operator> = app.read(|tx| Ok(ops::list_operators(tx)?)).await?;
    let mut nav = Nav::new(who, "operators");
    nav.flash = match done {
        Some("role") => Some("Role changed: it applies from their next request."),
        Some("removed") => Some("Operator removed, with their tokens and sessions."),
        _ => None,
    };
    Ok(render(&OperatorsPage {
        nav,
        operators: operators
            .into_iter()
            .map(|o| OperatorLine {
                path: path_segment(&o.name),
                role: o.role.as_str(),
                created: time(o.created_at),
                password_changed: time(o.password_changed_at),
                name: o.name,
            })
            .collect(),
        roles: Role::ALL.map(Role::as_str),
        added,
    }))
}

pub async fn operators(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Query(q): Query<Done>,
) -> PageResult {
    operators_page(&app, &who, None, q.done.as_deref()).await
}

#[derive(Deserialize)]
pub struct NewOperatorForm {
    name: String,
    role: String,
}

/// Adds an operator with a generated password, shown this once.
pub async fn add_operator(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Form(f): Form<NewOperatorForm>,
) -> PageResult {
    let password = netily_core::operators::generate_password().map_err(ApiError::from)?;
    let op = admin::create_operator(
        &app,
        &who,
        admin::NewOperator {
            name: f.name.trim().to_owned(),
            role: f.role,
            password: password.clone(),
        },
    )
    .await?;
    operators_page(&app, &who, Some((op.name, password)), None).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
    Form(f): Form<RoleForm>,
) -> PageResult {
    admin::set_role(&app, &who, name, &f.role).await?;
    Ok(Redirect::to("/operators?done=role").into_response())
}

pub async fn remove_operator(
    State(app): State<App>,
    Extension(who): Extension<Authed>,
    Path(name): Path<String>,
) -> PageResult {
    admin::delete_operator(&app, &who, name).await?;
    Ok(Redirect::to("/operators?done=removed").into_response())
}
