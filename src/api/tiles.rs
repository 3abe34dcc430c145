//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiResult, AppState, params};
use crate::index::IndexedLayer;

/// Media type of Mapbox Vector Tiles.
pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// Resolves a comma-separated list of layer names.
pub(super) fn resolve_layers(state: &AppState, list: &str) -> ApiResult<Vec<Arc<IndexedLayer>>> {
    list.split(',')
        .map(|name| {
            state
                .registry
                .get(name)
                .ok_or_else(|| ApiError::NotFound(format!("layer {name:?} does not exist")))
        })
        .collect()
}

pub(super) async fn tile(
    State(state): State<AppState>,
    Path((layers, z, x, y)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let tile = params::tile_id(&z, &x, &y)?;
    let layers = resolve_layers(&state, &layers)?;
    let rendered = tokio::task::spawn_blocking(move || {
        let refs: Vec<&IndexedLayer> = layers.iter().map(AsRef::as_ref).collect();
        crate::tiles::render_tile(&refs, tile)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(match rendered {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(bytes) => ([(header::CONTENT_TYPE, MVT_CONTENT_TYPE)], bytes).into_response(),
    })
}
