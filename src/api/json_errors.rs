//! The JSON error layer: every 4xx and 5xx response leaves the server as
//! `{"code": …, "description": …}`, whichever part of the stack answered.
//!
//! Handlers answer errors through [`ApiError`](super::ApiError), in JSON already. Other
//! parts answer on their own, in plain text or with no body: the router (405, with an
//! `Allow` header), axum's extractors (a query string or path that does not deserialize:
//! 400 in plain text), tower layers (timeouts, limits). [`json_errors`] rewrites those
//! answers: status and headers stay, the code is named after the status (as
//! [`ApiError`](super::ApiError) names it where both answer one), and the plain text, if
//! any, becomes the description. A server error's text is logged, never sent.
//!
//! # Request sizes
//! hyper answers a request it will not buffer (a URI over 64 KiB, a header block over
//! about 400 KiB or of more than 100 headers) with an empty 414 or 431 of its own,
//! before any service runs: no middleware can give that answer a body. So
//! [`json_errors`] refuses smaller requests first, over [`MAX_URI_BYTES`] or
//! [`MAX_HEADER_BYTES`], in JSON; only a request past hyper's limits still gets hyper's
//! empty answer.
//!
//! May import: nothing from the crate.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The longest request URI (path and query) answered, in bytes: the line limit of
/// common proxies (nginx, Apache: 8 KiB), which a URI longer than this does not pass
/// anyway. The longest URIs the API takes (a tile of a dozen combined layers, an
/// aggregate with a property filter) are a few hundred bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest header block answered, in bytes of names and values: nginx's default
/// (four 8 KiB buffers).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The most bytes of a non-JSON error body kept as its description; error texts are a
/// line or two, anything longer is not one and is cut.
const MAX_DESCRIPTION_BYTES: usize = 4 * 1024;

/// Middleware (for [`axum::middleware::from_fn`]) that refuses oversized requests and
/// turns every error response that is not JSON into the JSON error body. See the
/// module documentation.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let uri_bytes = request.uri().to_string().len();
    if uri_bytes > MAX_URI_BYTES {
        return error_response(
            StatusCode::URI_TOO_LONG,
            format!("the request URI is {uri_bytes} bytes long; the limit is {MAX_URI_BYTES}"),
        );
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request headers take {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}"
            ),
        );
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A body that cannot be read (or is not text) leaves the default description.
    let text = axum::body::to_bytes(body, MAX_DESCRIPTION_BYTES)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    let description = if status.is_server_error() {
        if !text.is_empty() {
            tracing::error!(status = status.as_u16(), detail = %text, "request failed");
        }
        reason(status)
    } else if !text.is_empty() {
        text
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        // The router adds its `Allow` header outside the route's layers, after this
        // runs: the description cannot list the methods, the header does.
        format!("method {method} is not allowed on {path}; the Allow header lists those that are")
    } else {
        reason(status)
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body_json(status, &description)))
}

/// A JSON error response.
fn error_response(status: StatusCode, description: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body_json(status, &description),
    )
        .into_response()
}

fn body_json(status: StatusCode, description: &str) -> String {
    serde_json::json!({ "code": code(status), "description": description }).to_string()
}

/// True for `application/json` and the `+json` types (`application/geo+json`, …).
fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|essence| {
            let essence = essence.to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
}

/// The code of an error body: [`ApiError`](super::ApiError)'s names for 400 and 500,
/// else the status's reason phrase in one word (`MethodNotAllowed`, `URITooLong`).
fn code(status: StatusCode) -> String {
    match status {
        StatusCode::BAD_REQUEST => "InvalidParameterValue".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "ServerError".to_owned(),
        _ => match status.canonical_reason() {
            Some(reason) => reason.chars().filter(char::is_ascii_alphanumeric).collect(),
            None if status.is_server_error() => "ServerError".to_owned(),
            None => "ClientError".to_owned(),
        },
    }
}

/// The description of a status without a text: its reason phrase, in lower case.
fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| format!("status {}", status.as_u16()), str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::extract::Query;
    use axum::http::{Request, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;
    use crate::api::ApiError;

    #[derive(serde::Deserialize)]
    struct Limit {
        #[expect(dead_code, reason = "only its parsing is tested")]
        limit: u32,
    }

    /// A router with answers of every kind, behind the middleware.
    fn app() -> Router {
        Router::new()
            .route("/collections", get(|| async { "[]" }))
            .route("/items", get(|_: Query<Limit>| async { "ok" }))
            .route(
                "/missing",
                get(|| async { ApiError::NotFound("no layer \"x\"".into()) }),
            )
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "password rejected by db") }),
            )
            .route("/busy", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route(
                "/odd",
                get(|| async { StatusCode::from_u16(499).map_or(StatusCode::IM_A_TEAPOT, |s| s) }),
            )
            .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
            .layer(axum::middleware::from_fn(json_errors))
    }

    /// Sends `request` and returns the status, the content type and the body.
    async fn send(request: Request<Body>) -> (StatusCode, String, Response) {
        let response = app().oneshot(request).await.expect("infallible");
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status(), content_type, response)
    }

    async fn json_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("a JSON body")
    }

    fn get_request(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).expect("request")
    }

    /// Regression test: `POST /collections` answered 405 with an empty body.
    #[tokio::test]
    async fn a_405_becomes_json_and_keeps_its_allow_header() {
        let request = Request::post("/collections")
            .body(Body::empty())
            .expect("request");
        let (status, content_type, response) = send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(content_type, "application/json");
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(
            json_of(response).await,
            json!({
                "code": "MethodNotAllowed",
                "description": "method POST is not allowed on /collections; the Allow header lists those that are"
            })
        );
    }

    /// Regression test: a query string that did not deserialize was answered by
    /// axum's rejection, a 400 in plain text.
    #[tokio::test]
    async fn a_query_that_does_not_deserialize_is_a_json_400_naming_the_problem() {
        let (status, content_type, response) = send(get_request("/items?limit=%ZZ")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            json_of(response).await,
            json!({
                "code": "InvalidParameterValue",
                "description": "Failed to deserialize query string: limit: invalid digit found in string"
            })
        );
    }

    /// Regression test: a URI or header block too long was answered 414 or 431 with
    /// an empty body (by hyper, whose limits are above these).
    #[tokio::test]
    async fn oversized_uris_and_headers_are_json_414_and_431() {
        let uri = format!("/collections?x={}", "a".repeat(MAX_URI_BYTES));
        let (status, content_type, response) = send(get_request(&uri)).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            json_of(response).await,
            json!({
                "code": "URITooLong",
                "description": format!(
                    "the request URI is {} bytes long; the limit is 8192",
                    uri.len()
                )
            })
        );
        let request = Request::get("/collections")
            .header("x-padding", "p".repeat(MAX_HEADER_BYTES))
            .body(Body::empty())
            .expect("request");
        let (status, _, response) = send(request).await;
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(
            json_of(response).await,
            json!({
                "code": "RequestHeaderFieldsTooLarge",
                "description": "the request headers take 32777 bytes; the limit is 32768"
            })
        );
        // At the limits, requests are served.
        let uri = format!("/collections?x={}", "a".repeat(MAX_URI_BYTES - 15));
        assert_eq!(uri.len(), MAX_URI_BYTES);
        assert_eq!(send(get_request(&uri)).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn server_errors_keep_their_text_in_the_log_and_other_statuses_get_a_code() {
        let (status, content_type, response) = send(get_request("/broken")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            json_of(response).await,
            json!({"code": "ServerError", "description": "internal server error"})
        );
        let (status, _, response) = send(get_request("/busy")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            json_of(response).await,
            json!({"code": "ServiceUnavailable", "description": "service unavailable"})
        );
        let (status, _, response) = send(get_request("/odd")).await;
        assert_eq!(status.as_u16(), 499);
        assert_eq!(
            json_of(response).await,
            json!({"code": "ClientError", "description": "status 499"})
        );
    }

    /// The server's own router with the layer on top, as `api::router` wires it.
    #[tokio::test]
    async fn the_servers_router_answers_json_behind_the_layer() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = crate::store::DataDir::open(tmp.path()).expect("open");
        let registry =
            crate::api::Registry::load_with(dir, std::sync::Arc::default()).expect("registry");
        let state = crate::api::AppState::new(std::sync::Arc::new(registry), None).expect("state");
        let app = crate::api::router(state).layer(axum::middleware::from_fn(json_errors));
        let request = Request::post("/collections")
            .header(header::ORIGIN, "https://example.org")
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            json_of(response).await,
            json!({
                "code": "MethodNotAllowed",
                "description": "method POST is not allowed on /collections; the Allow header lists those that are"
            })
        );
        // Handlers' errors are as they were.
        let response = app
            .oneshot(get_request("/collections/nowhere"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(json_of(response).await["code"], "NotFound");
    }

    #[tokio::test]
    async fn json_errors_and_other_answers_pass_untouched() {
        let (status, _, response) = send(get_request("/missing")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let expected = ApiError::NotFound("no layer \"x\"".into()).into_response();
        assert_eq!(json_of(response).await, json_of(expected).await);
        let (status, content_type, response) = send(get_request("/collections")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/plain; charset=utf-8")
        );
        let body = axum::body::to_bytes(response.into_body(), 64)
            .await
            .expect("body");
        assert_eq!(&body[..], b"[]");
        let (status, content_type, _) = send(get_request("/empty")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::NO_CONTENT, "")
        );
        // A route that does not exist, behind no fallback: axum's empty 404.
        let (status, content_type, response) = send(get_request("/nowhere")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::NOT_FOUND, "application/json")
        );
        assert_eq!(
            json_of(response).await,
            json!({"code": "NotFound", "description": "not found"})
        );
    }
}
