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
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()))
}

/// The caller of a request: the one the trace middleware authenticated, or
/// authenticated now from the headers.
pub(super) fn of_request(
    state: &AppState,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
) -> Caller {
    extensions.get::<Caller>().cloned().unwrap_or_else(|| {
        state
            .keys
            .authenticate(presented_key(headers).map(str::trim))
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(of_request(state, &parts.extensions, &parts.headers))
    }
}
