//! Errors the API answers with: JSON `{"error": {"code": ..., "message":
//! ...}}` and an HTTP status. The codes are stable (integrations branch on
//! them); the messages are for people.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use netily_core::db;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in, or send an API token as Authorization: Bearer <token>",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<db::Error> for ApiError {
    fn from(e: db::Error) -> ApiError {
        let message = e.to_string();
        match e {
            db::Error::NotFound { .. } => ApiError::not_found(message),
            db::Error::Invalid { .. } => ApiError::bad_request(message),
            db::Error::Duplicate { .. } => {
                ApiError::new(StatusCode::CONFLICT, "duplicate", message)
            }
            db::Error::Refused { .. } => ApiError::new(StatusCode::CONFLICT, "refused", message),
            db::Error::Connect { .. } | db::Error::Lost { .. } => {
                // The detail may name hosts; operators see it in the log.
                log::warn!("{}", message);
                ApiError::unavailable("the database is unavailable; try again")
            }
            db::Error::Query { .. } | db::Error::Corrupt { .. } => {
                log::error!("{}", message);
                ApiError::internal("the request failed; the server log has the detail")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        (self.status, Json(body)).into_response()
    }
}
