//! The JSON API under /api/v1: netily-core's operations over HTTP, with the
//! same checks and transactions as netadmin. Lists come as `{"items": [...],
//! "next": CURSOR}` (pass `after=CURSOR` for the next page; null at the
//! end). Errors are `{"error": {"code", "message"}}` with a stable code
//! (error.rs). Changes are recorded in the audit log as the token's or
//! session's operator, via "api".

pub mod admin;
pub mod billing;
pub mod network;
pub mod plans;
pub mod routers;
pub mod subscribers;
pub mod usage;

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ApiError;
use crate::state::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/me", get(admin::me))
        .route("/api/v1/dashboard", get(admin::dashboard))
        .route("/api/v1/dashboard/hours", get(admin::dashboard_hours))
        .route(
            "/api/v1/subscribers",
            get(subscribers::list).post(subscribers::add),
        )
        .route(
            "/api/v1/subscribers/{username}",
            get(subscribers::show)
                .patch(subscribers::update)
                .delete(subscribers::remove),
        )
        .route(
            "/api/v1/subscribers/{username}/suspend",
            post(subscribers::suspend),
        )
        .route(
            "/api/v1/subscribers/{username}/resume",
            post(subscribers::resume),
        )
        .route(
            "/api/v1/subscribers/{username}/terminate",
            post(subscribers::terminate),
        )
        .route(
            "/api/v1/subscribers/{username}/plan",
            post(subscribers::set_plan),
        )
        .route(
            "/api/v1/subscribers/{username}/check",
            get(subscribers::check),
        )
        .route(
            "/api/v1/subscribers/{username}/history",
            get(subscribers::history),
        )
        .route(
            "/api/v1/subscribers/{username}/usage",
            get(usage::subscriber),
        )
        .route("/api/v1/usage/top", get(usage::top))
        .route("/api/v1/usage/routers", get(usage::routers))
        .route("/api/v1/usage/plans", get(usage::plans))
        .route("/api/v1/plans", get(plans::plans).post(plans::add))
        .route(
            "/api/v1/plans/{name}",
            get(plans::show).patch(plans::update).delete(plans::remove),
        )
        .route(
            "/api/v1/invoices",
            get(billing::invoices).post(billing::add_invoice),
        )
        .route("/api/v1/invoices/{number}/payments", post(billing::pay))
        .route("/api/v1/invoices/{number}/void", post(billing::void))
        .route(
            "/api/v1/subscribers/{username}/kick",
            post(network::kick_subscriber),
        )
        .route("/api/v1/sessions", get(network::sessions))
        .route("/api/v1/sessions/{id}/kick", post(network::kick_session))
        .route("/api/v1/enforcement-log", get(network::enforcement_log))
        .route(
            "/api/v1/routers/{name}/certificates",
            post(network::issue_certificate),
        )
        .route("/api/v1/auth-log", get(network::auth_log))
        .route("/api/v1/routers", get(network::routers).post(routers::add))
        .route(
            "/api/v1/routers/{name}",
            get(routers::show)
                .patch(routers::update)
                .delete(routers::remove),
        )
        .route("/api/v1/nas", get(routers::list_nas).post(routers::add_nas))
        .route(
            "/api/v1/nas/{target}",
            axum::routing::patch(routers::update_nas).delete(routers::remove_nas),
        )
        .route("/api/v1/routers/{name}/ovpn", get(network::ovpn))
        .route(
            "/api/v1/routers/{name}/mikrotik-script",
            get(network::mikrotik_script),
        )
        .route("/api/v1/certificates", get(network::certificates))
        .route(
            "/api/v1/certificates/{serial}/revoke",
            post(network::revoke),
        )
        .route("/api/v1/audit", get(admin::audit))
        .route(
            "/api/v1/operators",
            get(admin::operators).post(admin::add_operator),
        )
        .route(
            "/api/v1/operators/{name}",
            axum::routing::patch(admin::update_operator).delete(admin::remove_operator),
        )
        .route("/api/v1/tokens", get(admin::tokens).post(admin::add_token))
        .route("/api/v1/tokens/{id}/revoke", post(admin::revoke_token))
}

/// The OpenAPI description (public: it holds no data).
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

/// A JSON body; a malformed one is a 400 with a JSON error, like every
/// other bad input (axum's own rejection is plain text).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the request body is larger than 256 KiB",
                ))
            }
            Err(rejection) => Err(ApiError::bad_request(plain(
                "invalid body",
                &rejection.body_text(),
            ))),
        }
    }
}

/// A parser's rejection as one short line: `what: field: problem`, without
/// axum's preamble or serde's line and column (a body is one line anyway).
fn plain(what: &str, text: &str) -> String {
    let text = text.rsplit_once("target type: ").map_or(text, |(_, t)| t);
    let text = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(text);
    let text = match text.rfind(" at line ") {
        Some(i) if text[i..].contains(" column ") => &text[..i],
        _ => text,
    };
    format!("{what}: {text}")
}

/// Query parameters, with a JSON 400 for ones that do not parse.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(rejection) => Err(ApiError::bad_request(plain(
                "invalid query",
                &rejection.body_text(),
            ))),
        }
    }
}

/// A page of a list.
#[derive(Serialize)]
pub struct Page<T: Serialize> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

/// `limit` checked: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
pub fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "invalid limit {n}: 1 to {MAX_PAGE}"
        ))),
    }
}

/// Takes one row more than a page to learn whether there is a next one;
/// `cursor` names the last row kept.
pub fn paged<T: Serialize>(mut rows: Vec<T>, size: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let next = if rows.len() > size {
        rows.truncate(size);
        rows.last().map(cursor)
    } else {
        None
    };
    Page { items: rows, next }
}

/// `after` of a list ordered by time: the `next` of the page before.
pub fn after_position(
    after: Option<&str>,
) -> Result<Option<netily_core::db::page::Position>, ApiError> {
    Ok(after
        .filter(|s| !s.is_empty())
        .map(|s| netily_core::db::page::Position::parse("after", s))
        .transpose()?)
}

/// `after` of a list ordered by id: the `next` of the page before.
pub fn after_id(after: Option<&str>) -> Result<Option<i64>, ApiError> {
    after
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid after \"{s}\": expected the `next` of the previous page"
                ))
            })
        })
        .transpose()
}

/// A field that may be absent (keep), null (clear) or a value (set).
pub fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// 201 with the created thing.
pub fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_parsers_rejection_reads_as_one_short_line() {
        assert_eq!(
            super::plain(
                "invalid body",
                "Failed to deserialize the JSON body into the target type: price: invalid type: integer `10`, expected a string at line 1 column 11"
            ),
            "invalid body: price: invalid type: integer `10`, expected a string"
        );
        assert_eq!(
            super::plain(
                "invalid query",
                "Failed to deserialize query string: limit: invalid digit found in string"
            ),
            "invalid query: limit: invalid digit found in string"
        );
    }

    /// Every route registered above is described in openapi.json, and the
    /// description names no route that does not exist.
    #[test]
    fn the_openapi_description_has_exactly_the_routes() {
        let source = include_str!("mod.rs");
        let mut routes: Vec<&str> = source
            .split(".route(")
            .filter_map(|s| s.trim_start().strip_prefix('"'))
            .filter_map(|s| s.split('"').next())
            .filter(|r| r.starts_with("/api/"))
            .collect();
        routes.sort_unstable();
        routes.dedup();
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi.json")).unwrap_or_default();
        let mut described: Vec<&str> = spec["paths"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        described.sort_unstable();
        assert!(routes.len() > 20, "{routes:?}");
        assert_eq!(routes, described);
    }
}
