//! The whole site: public routes (login, static files, health, the OpenAPI
//! description) and the rest behind `auth::authenticate`; security headers
//! on every response.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::App;
use crate::{api, auth, pages};

/// The most a request body may hold (a JSON change is small).
const MAX_BODY: usize = 256 * 1024;

pub fn router(app: App) -> Router {
    let protected = Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::authenticate,
        ));
    Router::new()
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/static/app.css", get(pages::css))
        .route("/healthz", get(health))
        .route("/api/v1/openapi.json", get(api::openapi))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// A path nothing serves: a JSON error under /api, the error page
/// elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    let e = ApiError::not_found(format!("no such path: {}", uri.path()));
    if uri.path().starts_with("/api/") {
        e.into_response()
    } else {
        pages::error_page(e)
    }
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let e = ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    );
    if uri.path().starts_with("/api/") {
        e.into_response()
    } else {
        pages::error_page(e)
    }
}

async fn health() -> &'static str {
    "ok\n"
}

/// No framing (clickjacking), no sniffing, only this site's own styles and
/// no scripts, no referrer to other sites. And `Server-Timing: app;dur=MS`:
/// the time the server spent on the request (a browser's developer tools
/// and `make bench-web` read it).
async fn security_headers(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let mut res = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.1}")) {
        h.insert("server-timing", v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}
