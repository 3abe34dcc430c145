//! `GET /tiles/{layers}`: TileJSON 3.0.0 describing a tile source.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value as Json_, json};

use super::tiles::resolve_layers;
use super::{ApiResult, AppState};
use crate::model::Bbox;

/// Deepest zoom advertised; tiles are rendered on the fly at any zoom up to it.
pub const MAX_ADVERTISED_ZOOM: u8 = 22;

pub(super) async fn tilejson(
    State(state): State<AppState>,
    caller: crate::access::Caller,
    headers: HeaderMap,
    Path(list): Path<String>,
) -> ApiResult<Json<Json_>> {
    let layers = resolve_layers(&state, &caller, &list)?;
    let settings: Vec<_> = layers
        .iter()
        .map(|l| state.registry.settings().layer(&l.meta().name))
        .collect();
    let mut bounds = Bbox::empty();
    let vector_layers: Vec<Json_> = layers
        .iter()
        .zip(&settings)
        .map(|(layer, settings)| {
            if let Some(b) = &layer.meta().bbox {
                bounds.extend(b);
            }
            let zooms = settings.min_zoom..=settings.max_zoom.min(MAX_ADVERTISED_ZOOM);
            crate::tiles::tilejson::vector_layer(layer, zooms)
        })
        .collect();
    if bounds.is_empty() {
        bounds = Bbox::new(-180.0, -85.051_128_78, 180.0, 85.051_128_78);
    }
    let (lon, lat) = bounds.center();
    let names: Vec<&str> = layers.iter().map(|l| l.meta().name.as_str()).collect();
    let attribution: Vec<String> = layers
        .iter()
        .filter_map(|l| l.meta().license.clone())
        .collect();
    let base = state.base_url(&headers);
    Ok(Json(json!({
        "tilejson": "3.0.0",
        "name": names.join(","),
        "description": layers.iter().map(|l| l.meta().title.as_str()).collect::<Vec<_>>().join(", "),
        "version": layers.iter().map(|l| l.meta().version.to_string()).collect::<Vec<_>>().join(","),
        "attribution": attribution.join("; "),
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{list}/{{z}}/{{x}}/{{y}}.mvt")],
        "minzoom": settings.iter().map(|s| s.min_zoom).min().unwrap_or(0),
        "maxzoom": settings.iter().map(|s| s.max_zoom).max().unwrap_or(0).min(MAX_ADVERTISED_ZOOM),
        "bounds": [bounds.min_x, bounds.min_y, bounds.max_x, bounds.max_y],
        "center": [lon, lat, bounds.viewport_zoom()],
        "vector_layers": vector_layers,
    })))
}
