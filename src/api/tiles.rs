//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt`: rendered on demand, cached per layer
//! version, compressed once per coding, with ETag revalidation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::tile_cache::{CachedTile, Coding};
use super::{ApiError, ApiResult, AppState, params};
use crate::index::IndexedLayer;

/// Media type of Mapbox Vector Tiles.
pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";
/// How long clients and proxies may reuse a tile before revalidating it.
pub const TILE_CACHE_CONTROL: &str = "public, max-age=60";

/// Resolves a comma-separated list of layer names.
pub(super) fn resolve_layers(state: &AppState, list: &str) -> ApiResult<Vec<Arc<IndexedLayer>>> {
    list.split(',')
        .map(|name| {
            let layer = state
                .registry
                .get(name)
                .ok_or_else(|| ApiError::NotFound(format!("layer {name:?} does not exist")))?;
            super::check_raw_access(layer.meta())?;
            Ok(layer)
        })
        .collect()
}

/// True when `If-None-Match` names `etag` (or `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

pub(super) async fn tile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((list, z, x, y)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let tile = params::tile_id(&z, &x, &y)?;
    let layers = resolve_layers(&state, &list)?;
    let versions: Vec<String> = layers
        .iter()
        .map(|l| format!("{}@{}", l.meta().name, l.meta().version))
        .collect();
    let key = format!("{}/{}/{}/{}", versions.join(","), tile.z, tile.x, tile.y);
    let etag = format!("\"{}\"", key.replace('/', "-"));
    if not_modified(&headers, &etag) {
        return Ok(with_validators(
            StatusCode::NOT_MODIFIED.into_response(),
            &etag,
        ));
    }
    let coding = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map_or(Coding::Identity, Coding::negotiate);
    let cache = state.tile_cache.clone();
    let body = tokio::task::spawn_blocking(move || {
        let cached = cache.get_or_render(key, || {
            let refs: Vec<&IndexedLayer> = layers.iter().map(AsRef::as_ref).collect();
            Arc::new(CachedTile::new(
                crate::tiles::render_tile(&refs, tile),
                etag,
            ))
        });
        let body = cached.body(coding);
        (cached, body)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (cached, body) = body;
    let response = match body {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(bytes) => {
            let mut response = ([(header::CONTENT_TYPE, MVT_CONTENT_TYPE)], bytes).into_response();
            let encoding = match coding {
                Coding::Identity => None,
                Coding::Gzip => Some("gzip"),
                Coding::Brotli => Some("br"),
            };
            if let Some(encoding) = encoding {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            }
            response
        }
    };
    Ok(with_validators(response, &cached.etag))
}

fn with_validators(mut response: Response, etag: &str) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(TILE_CACHE_CONTROL),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}
