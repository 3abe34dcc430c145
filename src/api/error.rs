//! The one place where errors become HTTP responses.
//!
//! Client errors say what was wrong in a JSON body `{"code": …, "description": …}`;
//! server errors are logged and answered with a generic message. The answers that do
//! not come from a handler (the router's 405, axum's rejections, oversized requests)
//! get the same body from the [`json_errors`] middleware.
//!
//! May import: `model`, `access`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

// The middleware's file sits beside this one (`api/json_errors.rs`); it is declared
// here, with the rest of the error mapping, and exported for the router.
#[path = "json_errors.rs"]
mod json_errors;
pub use json_errors::{MAX_HEADER_BYTES, MAX_URI_BYTES, json_errors};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad parameter, bad tile address, …).
    #[error("{0}")]
    BadRequest(String),
    /// The named layer or feature does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The layer may not be served in this form.
    #[error("{0}")]
    Forbidden(String),
    /// A request body over its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A quota (e.g. the daily privacy budget) is used up.
    #[error("{0}")]
    TooManyRequests(String),
    /// Something failed inside the server.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "BudgetExhausted"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "ServerError"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let description = if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
            "internal server error".to_owned()
        } else {
            self.to_string()
        };
        let body = Json(serde_json::json!({ "code": code, "description": description }));
        (status, body).into_response()
    }
}

impl From<crate::model::SourceError> for ApiError {
    fn from(e: crate::model::SourceError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::access::AccessError> for ApiError {
    fn from(e: crate::access::AccessError) -> Self {
        use crate::access::AccessError;
        match e {
            AccessError::NotFound(_) | AccessError::NoSuchVersion { .. } => {
                ApiError::NotFound(e.to_string())
            }
            AccessError::Personal { .. } | AccessError::Restricted(_) => {
                ApiError::Forbidden(e.to_string())
            }
        }
    }
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
