//! The web map viewer (`GET /map`, and `GET /` for browsers): MapLibre GL JS, served by
//! Tessera itself so that it works without internet access.

use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("map.html");
const MAPLIBRE_JS: &[u8] = include_bytes!("../../../assets/maplibre-gl/maplibre-gl.js");
const MAPLIBRE_CSS: &[u8] = include_bytes!("../../../assets/maplibre-gl/maplibre-gl.css");
const MAPLIBRE_LICENSE: &str = include_str!("../../../assets/maplibre-gl/LICENSE.txt");

/// Vendored files change only with a new build: let browsers keep them a day.
const ASSET_CACHE: &str = "public, max-age=86400";

/// True when the client prefers HTML (a browser navigating), not JSON.
pub(super) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            let html = accept.find("text/html");
            let json = accept.find("json");
            html.is_some() && (json.is_none() || html < json)
        })
}

pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub(super) async fn maplibre_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        MAPLIBRE_JS,
    )
        .into_response()
}

pub(super) async fn maplibre_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        MAPLIBRE_CSS,
    )
        .into_response()
}

pub(super) async fn maplibre_license() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        MAPLIBRE_LICENSE,
    )
        .into_response()
}
