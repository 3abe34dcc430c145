//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt`: rendered on demand, cached per layer
//! version, compressed once per coding, with ETag revalidation. The
//! `X-Tessera-Thinned` header says what the tile left out to stay within its budget.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::tile_cache::{CachedTile, Coding};
use super::{ApiError, ApiResult, AppState, params};
use crate::access::{Caller, Features};
use crate::config::{CachePolicy, LayerSettings};
use crate::index::{IndexedLayer, RawLayer};
use crate::model::TileId;
use crate::tiles::TileOptions;

/// Media type of Mapbox Vector Tiles.
pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";
/// Response header reporting what a tile thinned, e.g.
/// `dropped=120;tiny=3400;clustered=0;truncated=0;simplified=1`.
pub const THINNED_HEADER: &str = "x-tessera-thinned";

/// Resolves a comma-separated list of layer names through the access gate.
pub(super) fn resolve_layers(
    state: &AppState,
    caller: &Caller,
    list: &str,
) -> ApiResult<Vec<RawLayer>> {
    list.split(',')
        .map(|name| Ok(state.registry.open::<Features>(name, caller)?))
        .collect()
}

/// The `version=N` of a tile request. Other parameters are ignored, as before: map
/// clients add their own (cache busters, tokens).
fn version_of(pairs: &[(String, String)]) -> ApiResult<Option<u32>> {
    pairs
        .iter()
        .find(|(key, _)| key == "version")
        .map(|(_, value)| {
            value.parse().map_err(|_| {
                ApiError::BadRequest(format!("version must be a version number, got {value:?}"))
            })
        })
        .transpose()
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
    caller: Caller,
    headers: HeaderMap,
    Path((list, z, x, y)): Path<(String, String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let tile = params::tile_id(&z, &x, &y)?;
    let layers = match version_of(&pairs)? {
        None => resolve_layers(&state, &caller, &list)?,
        Some(_) if list.contains(',') => {
            return Err(ApiError::BadRequest(
                "version=N applies to a tile of one layer".into(),
            ));
        }
        Some(v) => vec![state.registry.open_version::<Features>(&list, v, &caller)?],
    };
    let all_settings = Arc::clone(state.registry.settings());
    let settings: Vec<&LayerSettings> = layers
        .iter()
        .map(|l| all_settings.layer(&l.meta().name))
        .collect();
    let (layers, settings) = in_zoom_range(layers, settings, tile)?;
    let options = TileOptions {
        budget: LayerSettings::shared_budget(settings.iter().copied()),
    };
    let policy = cache_policy(&settings);
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
            policy,
        ));
    }
    let coding = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map_or(Coding::Identity, Coding::negotiate);
    let cache = state.tile_cache.clone();
    let body = tokio::task::spawn_blocking(move || {
        let refs: Vec<&IndexedLayer> = layers.iter().map(AsRef::as_ref).collect();
        let render = || crate::tiles::render_tile_with(&refs, tile, &options);
        if !policy.server {
            let rendered = render();
            let tile = Arc::new(CachedTile::new(rendered.bytes, etag));
            let report = Arc::new(CachedTile::new(
                Some(rendered.report.to_string().into_bytes()),
                String::new(),
            ));
            let body = tile.body(coding);
            return (tile, body, report);
        }
        let mut fresh = None;
        let cached = cache.get_or_render(key.clone(), || {
            let rendered = render();
            fresh = Some(rendered.report);
            Arc::new(CachedTile::new(rendered.bytes, etag))
        });
        // `CachedTile` has no room for extra headers, so the report is cached beside the
        // tile under a derived key; if it was evicted alone, the tile is rendered again.
        let report = cache.get_or_render(format!("{key}#thinned"), || {
            let report = fresh.unwrap_or_else(|| render().report);
            Arc::new(CachedTile::new(
                Some(report.to_string().into_bytes()),
                String::new(),
            ))
        });
        let body = cached.body(coding);
        (cached, body, report)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (cached, body, report) = body;
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
    let mut response = with_validators(response, &cached.etag, policy);
    if let Some(v) = report
        .raw
        .as_ref()
        .and_then(|r| HeaderValue::from_bytes(r).ok())
    {
        response.headers_mut().insert(THINNED_HEADER, v);
    }
    Ok(response)
}

/// The layers (and their settings) whose zoom range holds the tile's zoom.
///
/// # Errors
/// [`ApiError::NotFound`] naming the zoom ranges when no layer is shown at that zoom.
fn in_zoom_range(
    layers: Vec<RawLayer>,
    settings: Vec<&LayerSettings>,
    tile: TileId,
) -> ApiResult<(Vec<RawLayer>, Vec<&LayerSettings>)> {
    let z = tile.z;
    let ranges: Vec<String> = layers
        .iter()
        .zip(&settings)
        .map(|(l, s)| format!("{} {}–{}", l.meta().name, s.min_zoom, s.max_zoom))
        .collect();
    let (layers, settings): (Vec<_>, Vec<_>) = layers
        .into_iter()
        .zip(settings)
        .filter(|(_, s)| s.shows_zoom(z))
        .unzip();
    if layers.is_empty() {
        return Err(ApiError::NotFound(format!(
            "zoom {z} is outside the zoom range of {}",
            ranges.join(", ")
        )));
    }
    Ok((layers, settings))
}

/// The cache policy of a tile of several layers: the strictest of theirs.
fn cache_policy(settings: &[&LayerSettings]) -> CachePolicy {
    CachePolicy {
        max_age_seconds: settings
            .iter()
            .map(|s| s.cache.max_age_seconds)
            .min()
            .unwrap_or(0),
        server: settings.iter().all(|s| s.cache.server),
    }
}

fn with_validators(mut response: Response, etag: &str, policy: CachePolicy) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    let control = format!("public, max-age={}", policy.max_age_seconds);
    if let Ok(v) = HeaderValue::from_str(&control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}
