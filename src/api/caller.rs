//! The caller of a request: `Authorization: Bearer KEY` or `X-Api-Key: KEY`, checked
//! against the server's issued keys. An unknown key is an anonymous caller, never an
//! error, so that made-up keys cannot tell issued ones apart.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::AppState;
use crate::access::Caller;

/// The header naming the caller's key, besides `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The key a request presents, if any.
pub(super) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(state
            .keys
            .authenticate(presented_key(&parts.headers).map(str::trim)))
    }
}
