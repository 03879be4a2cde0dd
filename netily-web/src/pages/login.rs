//! Logging in and out.
//!
//! The login form is protected against cross-site posting by a double
//! submit: GET /login sets a random cookie and puts the same value in the
//! form; POST /login refuses a form without the pair. Each login gets a
//! fresh session id (an id planted before login is ended, never promoted:
//! no session fixation). Failures are rate-limited (login_limit.rs) and say
//! the same for a wrong name as for a wrong password.

use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use netily_core::db::operators as ops;
use netily_core::operators::Secret;
use serde::Deserialize;

use super::render;
use crate::auth::{self, cookie, session_cookie, Authed, SESSION_COOKIE};
use crate::state::App;

const LOGIN_COOKIE: &str = "netily_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Set after an operator changed their own password.
    changed: Option<String>,
}

/// Only a path on this site: `/x`, never `//host`, `https://...`, or a
/// path with a control character or a backslash (browsers drop tabs and
/// newlines from a Location and read `\` as `/`, which would turn
/// `/\t/host` into `//host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2048
                && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_page(app: &App, status: StatusCode, next: String, error: Option<String>) -> Response {
    login_page_with(app, status, next, error, None)
}

fn login_page_with(
    app: &App,
    status: StatusCode,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let token = match Secret::generate("") {
        Ok(t) => t,
        Err(e) => return super::error_page(e.into()),
    };
    let page = LoginPage {
        csrf: token.expose().to_owned(),
        next,
        error,
        notice,
    };
    let secure = if app.config.web.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let mut res = render(&page);
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}",
        token.expose()
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn form(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if let Ok(Some(_)) = auth::session(&app, &headers).await {
        return Redirect::to(&next).into_response();
    }
    let notice = q
        .changed
        .is_some()
        .then_some("Password changed: log in with the new one.");
    login_page_with(&app, StatusCode::OK, next, None, notice)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_only_ever_a_path_on_this_site() {
        for ok in ["/", "/subscribers?q=a%20b", "/subscribers/alice"] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/a\nb",
            "/a b",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

pub async fn submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let pair_ok = cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| !f.csrf.is_empty() && Secret::from_presented(&c).matches(&f.csrf));
    if !pair_ok {
        return login_page(
            &app,
            StatusCode::FORBIDDEN,
            next,
            Some("The login form expired; please try again.".into()),
        );
    }
    let ip = crate::client::address(peer.ip(), &headers, &app.config.web.trusted_proxies);
    if let Err(wait) = app.login_limit.attempt(&f.name, ip, Instant::now()) {
        log::warn!(
            "login refused for a while: too many failures (address {})",
            ip
        );
        let mut res = login_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            Some(format!(
                "Too many failed logins; try again in {} minutes.",
                wait.div_ceil(60)
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    // Logins cannot starve the pool or the machine (see check_password).
    let (verified, known) = match check_password(&app, f.name.clone(), f.password).await {
        Ok(v) => v,
        Err(e) => return super::error_page(e),
    };
    let Some(op) = verified else {
        if known {
            log::warn!("failed login for operator {:?} from {}", f.name, ip);
        } else {
            log::warn!("failed login for an unknown operator name from {}", ip);
        }
        return login_page(
            &app,
            StatusCode::UNAUTHORIZED,
            next,
            Some("Wrong operator name or password.".into()),
        );
    };
    app.login_limit.succeeded(&f.name, ip);
    let planted = cookie(&headers, SESSION_COOKIE);
    let max_seconds = i64::from(app.config.web.session_max_hours) * 3600;
    let id = op.id;
    let started = app
        .read(move |tx| {
            if let Some(old) = planted {
                ops::end_session(tx, &old)?;
            }
            Ok(ops::start_session(tx, id, max_seconds)?)
        })
        .await;
    match started {
        Ok(session) => {
            log::info!("operator {:?} logged in from {}", op.name, ip);
            let mut res = Redirect::to(&next).into_response();
            if let Ok(v) =
                HeaderValue::from_str(&session_cookie(&app, session.cookie.expose(), max_seconds))
            {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => super::error_page(e),
    }
}

/// The operator `name` if `password` is theirs, and whether the name
/// exists (for the log). The stored hash is read and the connection given
/// back before the slow check, which runs on the bounded password threads.
pub async fn check_password(
    app: &App,
    name: String,
    password: String,
) -> Result<(Option<ops::Operator>, bool), crate::error::ApiError> {
    let candidate = app
        .read(move |tx| Ok(ops::login_candidate(tx, &name)?))
        .await?;
    let known = candidate.known();
    let verified = app
        .password_work(move || candidate.verify(&password))
        .await?
        .flatten();
    Ok((verified, known))
}

pub async fn logout(
    State(app): State<App>,
    Extension(_who): Extension<Authed>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = app.read(move |tx| Ok(ops::end_session(tx, &id)?)).await {
            return super::error_page(e);
        }
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&app, "", 0)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
