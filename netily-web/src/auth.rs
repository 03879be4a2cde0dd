//! Who is asking: a console session (cookie) or an API token (bearer), and
//! what they may do.
//!
//! Every route but the login page and the static files goes through
//! [`authenticate`]. A request without a valid session or token gets 401
//! (API) or is sent to the login page (console). A request that changes
//! something with a session cookie must carry the session's CSRF token, as
//! the `X-CSRF-Token` header or a `csrf` form field: checked here, before
//! any handler runs, so no form can forget it. Tokens need none (a browser
//! never sends one by itself).

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use netily_core::db::audit::Via;
use netily_core::db::operators::{self as ops, Operator};
use netily_core::operators::{Area, Role, Secret};

use crate::error::ApiError;
use crate::pages::error_page;
use crate::state::App;

pub const SESSION_COOKIE: &str = "netily_session";
/// The most a form body may hold (the CSRF check reads it whole).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The operator behind a request.
#[derive(Debug, Clone)]
pub struct Authed {
    pub operator: Operator,
    pub via: Via,
    /// The session's CSRF token, for the forms a page renders (console only).
    pub csrf: Option<Secret>,
}

impl Authed {
    /// Refuses (403) unless the operator's role may change `area`.
    pub fn require(&self, area: Area) -> Result<(), ApiError> {
        if self.operator.role.may_change(area) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "operator '{}' is {} and may not change {}",
                self.operator.name,
                self.operator.role,
                area_name(area)
            )))
        }
    }

    pub fn may(&self, area: Area) -> bool {
        self.operator.role.may_change(area)
    }

    pub fn is_admin(&self) -> bool {
        self.operator.role == Role::Admin
    }

    pub fn csrf_token(&self) -> &str {
        self.csrf.as_ref().map_or("", |c| c.expose())
    }
}

fn area_name(area: Area) -> &'static str {
    match area {
        Area::Subscribers => "subscribers",
        Area::Plans => "plans",
        Area::Routers => "routers",
        Area::Certificates => "certificates",
        Area::Operators => "operators",
    }
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The session a request's cookie names, if live.
pub async fn session(app: &App, headers: &HeaderMap) -> Result<Option<Authed>, ApiError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let idle = i64::from(app.config.web.session_idle_minutes) * 60;
    let s = app
        .read(move |tx| Ok(ops::check_session(tx, &id, idle)?))
        .await?;
    Ok(s.map(|s| Authed {
        operator: s.operator,
        via: Via::Console,
        csrf: Some(s.csrf),
    }))
}

pub async fn authenticate(State(app): State<App>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let fail = |e: ApiError| {
        if api {
            e.into_response()
        } else {
            error_page(e)
        }
    };
    let authed = if let Some(token) = bearer(req.headers()).filter(|_| api) {
        match app.read(move |tx| Ok(ops::check_token(tx, &token)?)).await {
            Ok(Some(operator)) => Authed {
                operator,
                via: Via::Api,
                csrf: None,
            },
            Ok(None) => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the API token is unknown or revoked",
                )
                .into_response()
            }
            Err(e) => return e.into_response(),
        }
    } else {
        match session(&app, req.headers()).await {
            Ok(Some(a)) => a,
            Ok(None) if api => return ApiError::unauthorized().into_response(),
            Ok(None) => {
                let next = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                return Redirect::to(&format!("/login?{q}")).into_response();
            }
            Err(e) => return fail(e),
        }
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let req = if changes && authed.via == Via::Console {
        match check_csrf(req, &authed).await {
            Ok(req) => req,
            Err(e) => return fail(e),
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(authed);
    next.run(req).await
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "the form is stale or did not come from this console: reload the page and try again",
    )
}

/// Passes the request on if it carries the session's CSRF token (header or
/// form field); the form body is read and put back.
async fn check_csrf(req: Request, authed: &Authed) -> Result<Request, ApiError> {
    let Some(expected) = &authed.csrf else {
        return Err(csrf_refused());
    };
    if let Some(h) = req.headers().get("x-csrf-token") {
        return match h.to_str() {
            Ok(v) if expected.matches(v) => Ok(req),
            _ => Err(csrf_refused()),
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(csrf_refused());
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
        ApiError::bad_request(format!("the form is larger than {MAX_FORM_BYTES} bytes"))
    })?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| ApiError::bad_request("the form is not valid URL-encoded text"))?;
    let ok = fields
        .iter()
        .any(|(k, v)| k == "csrf" && expected.matches(v));
    if !ok {
        return Err(csrf_refused());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The Set-Cookie value for a session (`value` empty and `max_age` 0 ends
/// it).
pub fn session_cookie(app: &App, value: &str, max_age: i64) -> String {
    let secure = if app.config.web.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}
