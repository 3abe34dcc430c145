//! Heatmaps: grid cells as vector tiles, kernel-density raster tiles, H3 hexagons as
//! GeoJSON.
//!
//! Private queries read their cells from a release at a fixed level (grid: the cell
//! zooms of [`GRID_LEVELS`], H3: [`H3_LEVELS`]), built once per layer version, time
//! filter and level, and charged once: every tile and zoom of a map is then
//! post-processing of the same few releases, and panning costs nothing.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

use super::{
    AnalyticsCache, AnalyticsParams, Mode, Private, blocking, exact, exact_json, exact_values,
    geojson_response, lonlat_rect, mvt_response, parse_params, private_json, private_values,
    release_context, select_rows, stat_fields, stats_spec, values_json, with_privacy_headers,
};
use crate::access::{Caller, Statistics};
use crate::analytics::StatisticsInput;
use crate::analytics::StatsSpec;
use crate::analytics::grid::{GridSpec, bin as grid_bin};
use crate::analytics::hex;
use crate::analytics::points::{PointColumns, Selection};
use crate::analytics::privacy::KAnonymity;
use crate::analytics::raster;
use crate::analytics::release::{
    GRID_LEVELS, GridAnswer, H3_LEVELS, Released, grid_release, h3_cell, h3_release, morton,
};
use crate::api::{ApiError, ApiResult, AppState};
use crate::model::{Feature, TileId};

/// Side, in pixels, of the blocks on which raster heatmaps check k-anonymity.
const PRIVACY_BLOCK: usize = 16;
/// Keys of heatmap tiles besides the common analytics ones.
const TILE_KEYS: &[&str] = &["size", "radius", "saturation"];

/// `GET /heatmap/{layer}/{z}/{x}/{y}.mvt` (grid cells with their statistics) or
/// `….png` (a kernel-density raster).
pub(in crate::api) async fn heatmap_tile(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, z, x, y)): Path<(String, String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let layer = state.registry.open::<Statistics>(&name, &caller)?;
    if let Some(y) = y.strip_suffix(".png") {
        let tile = crate::api::params::tile_id(&z, &x, y)?;
        return blocking(move || heatmap_png(&state.analytics, &caller, &layer, tile, &pairs))
            .await;
    }
    let tile = crate::api::params::tile_id(&z, &x, &y)?;
    let mut params = parse_params(&pairs, TILE_KEYS)?;
    let cache = state.analytics.clone();
    match super::mode_of(&cache, layer.meta(), &caller, &mut params)? {
        Mode::Private(private) => {
            let answer = GridAnswer::for_tile(tile.z, params.cells);
            let context = grid_context(&layer, &params, &private, answer.level);
            let charge = cache.charge(&caller, layer.meta(), &private, &context)?;
            let asked_k = params.k;
            let rendered = blocking(move || {
                let release =
                    grid_level_release(&cache, &layer, &params, &private, answer.level, &context)?;
                let k = released_k(&private, asked_k);
                let features = answer
                    .cells(&release, tile)
                    .into_iter()
                    .filter(|c| c.1 >= u64::from(k))
                    .map(|(cell, persons)| Feature {
                        id: morton(cell.x, cell.y) + 1,
                        geometry: lonlat_rect(&cell.mercator_bounds()),
                        properties: private_values(Some(persons)).to_vec(),
                    })
                    .collect();
                Ok(render_cells(layer.meta().name.as_str(), features, tile))
            })
            .await?;
            Ok(with_privacy_headers(mvt_response(rendered), &charge))
        }
        Mode::Exact(k) => exact_grid_tile(&state, layer, tile, &pairs, params, k).await,
    }
}

/// The name of the grid release of `level` for a private query.
fn grid_context(
    layer: &StatisticsInput,
    params: &AnalyticsParams,
    private: &Private,
    level: u8,
) -> String {
    release_context(
        layer.meta(),
        &format!("grid/{level}"),
        params,
        &private.policy,
    )
}

/// The grid release of `level` named `context`, built once.
fn grid_level_release(
    cache: &AnalyticsCache,
    layer: &StatisticsInput,
    params: &AnalyticsParams,
    private: &Private,
    level: u8,
    context: &str,
) -> ApiResult<Arc<Released>> {
    cache.release(context, || {
        let (points, rows) = selection(cache, layer, params)?;
        Ok(grid_release(
            &points,
            &rows,
            level,
            &private.policy,
            &cache.noise,
            context,
        ))
    })
}

/// Builds the grid releases a map of `layer` reads first (every level, no filter), so
/// that its first tile does not wait for them. Building is not releasing: nothing is
/// charged until a tile is served.
///
/// # Errors
/// As the releases' point columns.
pub(in crate::api) fn prepare_map_releases(
    cache: &AnalyticsCache,
    layer: &StatisticsInput,
) -> ApiResult<()> {
    let mut params = parse_params(&[], TILE_KEYS)?;
    if let Mode::Private(private) =
        super::mode_of(cache, layer.meta(), &Caller::anonymous(), &mut params)?
    {
        for level in GRID_LEVELS {
            let context = grid_context(layer, &params, &private, level);
            grid_level_release(cache, layer, &params, &private, level, &context)?;
        }
    }
    Ok(())
}

/// The k a private answer applies: the release's, raised to the one asked.
fn released_k(private: &Private, asked: Option<u32>) -> u32 {
    asked.unwrap_or(0).max(private.policy.k.k())
}

/// The point columns of `layer` and the rows a query selects.
fn selection(
    cache: &AnalyticsCache,
    layer: &StatisticsInput,
    params: &AnalyticsParams,
) -> ApiResult<(Arc<PointColumns>, Selection)> {
    let points = cache.points(layer, params.stat.value_field())?;
    let rows = select_rows(&points, layer, params)?;
    Ok((points, rows))
}

fn render_cells(name: &str, features: Vec<Feature>, tile: TileId) -> Option<Vec<u8>> {
    let cells = super::analytic_layer(name, stat_fields(), features);
    crate::tiles::render_tile(&[&cells], tile)
}

/// An exact heatmap tile, cached per layer version and query.
async fn exact_grid_tile(
    state: &AppState,
    layer: StatisticsInput,
    tile: TileId,
    pairs: &[(String, String)],
    params: AnalyticsParams,
    k: Option<KAnonymity>,
) -> ApiResult<Response> {
    let mut query = pairs.to_vec();
    query.sort();
    let key = format!(
        "heatmap:{}@{}/{}/{}/{}?{query:?}",
        layer.meta().name,
        layer.meta().version,
        tile.z,
        tile.x,
        tile.y
    );
    if let Some(hit) = state.tile_cache.get(&key) {
        return Ok(mvt_response(hit.raw.clone().map(Vec::from)));
    }
    let cache = state.analytics.clone();
    let rendered = blocking(move || {
        let spec = stats_spec(&params.stat, k.as_ref());
        let (points, rows) = selection(&cache, &layer, &params)?;
        let grid = GridSpec::for_tile(tile, params.cells)?;
        let bins = grid_bin(&points, &rows, &grid, spec)?;
        let features = bins
            .cells()
            .filter_map(|c| {
                let stats = exact(&c.stats, k)?;
                Some(Feature {
                    id: u64::from(c.row) * u64::from(params.cells) + u64::from(c.col) + 1,
                    geometry: lonlat_rect(&grid.cell_rect(c.col, c.row)),
                    properties: exact_values(Some(&stats)).to_vec(),
                })
            })
            .collect();
        Ok(render_cells(layer.meta().name.as_str(), features, tile))
    })
    .await?;
    // Heatmap responses carry no ETag: the tag is unused.
    let cached = crate::api::tile_cache::CachedTile::new(rendered.clone(), String::new());
    state.tile_cache.insert(key, Arc::new(cached));
    Ok(mvt_response(rendered))
}

/// Raster heatmap settings: tile size in pixels, kernel radius, colour saturation.
fn raster_settings(pairs: &[(String, String)]) -> ApiResult<(u32, f32, f32)> {
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let size = match get("size") {
        None | Some("256") => 256,
        Some("512") => 512,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "size must be 256 or 512, got {other:?}"
            )));
        }
    };
    let number = |key: &str, default: f32, max: f32| -> ApiResult<f32> {
        get(key).map_or(Ok(default), |v| {
            v.parse::<f32>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= max)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{key} must be a number in (0, {max}], got {v:?}"))
                })
        })
    };
    Ok((
        size,
        number("radius", 8.0, 64.0)?,
        number("saturation", 5.0, 1e6)?,
    ))
}

/// `GET /heatmap/{layer}/{z}/{x}/{y}.png`: a kernel-density raster of an exact query
/// (see [`crate::analytics::raster`]). Private queries are refused: a raster of exact
/// densities cannot carry the release's noise.
fn heatmap_png(
    cache: &AnalyticsCache,
    caller: &Caller,
    layer: &StatisticsInput,
    tile: TileId,
    pairs: &[(String, String)],
) -> ApiResult<Response> {
    let (size, radius, saturation) = raster_settings(pairs)?;
    let mut params = parse_params(pairs, TILE_KEYS)?;
    let name = &layer.meta().name;
    let Mode::Exact(k) = super::mode_of(cache, layer.meta(), caller, &mut params)? else {
        return Err(ApiError::Forbidden(format!(
            "layer {name} is released privately, and raster heatmaps cannot carry its \
             noise: use /heatmap/{name}/{{z}}/{{x}}/{{y}}.mvt or /heatmap/{name}.geojson"
        )));
    };
    let spec = stats_spec(&params.stat, k.as_ref());
    let (points, rows) = selection(cache, layer, &params)?;
    match raster_tile(
        &points,
        &rows,
        tile,
        (size, radius, saturation),
        k.map(|k| (k, spec)),
    )? {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(png) => Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response()),
    }
}

/// The PNG of a raster heatmap tile: points binned one cell per pixel over the tile
/// and a margin (a whole number of privacy blocks), blocks under k persons removed,
/// blurred and coloured; `None` when nothing is left to draw.
fn raster_tile(
    points: &PointColumns,
    rows: &Selection,
    tile: TileId,
    (size, radius, saturation): (u32, f32, f32),
    k: Option<(KAnonymity, StatsSpec)>,
) -> ApiResult<Option<Vec<u8>>> {
    let margin = raster::margin(radius).div_ceil(PRIVACY_BLOCK) * PRIVACY_BLOCK;
    let side = size as usize + 2 * margin;
    let bounds = tile.mercator_bounds();
    #[expect(clippy::cast_precision_loss, reason = "pixel counts are small")]
    let pad = (bounds.max_x - bounds.min_x) / f64::from(size) * margin as f64;
    let rect = crate::model::tile::MercatorRect {
        min_x: bounds.min_x - pad,
        min_y: bounds.min_y - pad,
        max_x: bounds.max_x + pad,
        max_y: bounds.max_y + pad,
    };
    let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let pixels = grid_bin(
        points,
        rows,
        &GridSpec::new(rect, to_u32(side))?,
        StatsSpec::default(),
    )?;
    let blocks_side = side / PRIVACY_BLOCK;
    let allowed: Option<Vec<bool>> = match k {
        None => None,
        Some((k, spec)) => {
            let blocks = grid_bin(
                points,
                rows,
                &GridSpec::new(rect, to_u32(blocks_side))?,
                spec,
            )?;
            let mut allowed = vec![false; blocks_side * blocks_side];
            for cell in blocks.cells() {
                allowed[cell.row as usize * blocks_side + cell.col as usize] =
                    k.allows(&cell.stats);
            }
            Some(allowed)
        }
    };
    let mut counts = vec![0.0f32; side * side];
    let mut any = false;
    for cell in pixels.cells() {
        let (row, col) = (cell.row as usize, cell.col as usize);
        let block = (row / PRIVACY_BLOCK) * blocks_side + col / PRIVACY_BLOCK;
        if allowed.as_ref().is_none_or(|a| a[block]) {
            #[expect(clippy::cast_precision_loss, reason = "per-pixel counts are small")]
            let c = cell.stats.count as f32;
            counts[row * side + col] = c;
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    let rgba = raster::render(&counts, size as usize, margin, radius, saturation);
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, size, size);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        writer
            .write_image_data(&rgba)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(Some(png_bytes))
}

/// `GET /heatmap/{layer}.geojson?bbox=…&h3_res=…`: H3 cells with their statistics.
/// A private query reads the release at its resolution (one of [`H3_LEVELS`]); the
/// bbox only chooses which released cells are listed (those whose centre is in it),
/// never which points are counted, so slivers of bbox change nothing.
pub(in crate::api) async fn heatmap_geojson(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let name = file
        .strip_suffix(".geojson")
        .ok_or_else(|| ApiError::NotFound(format!("{file:?}: use /heatmap/LAYER.geojson")))?;
    let layer = state.registry.open::<Statistics>(name, &caller)?;
    let mut params = parse_params(&pairs, &[])?;
    let cache = state.analytics.clone();
    let res = params.h3_res.unwrap_or(9);
    let body = match super::mode_of(&cache, layer.meta(), &caller, &mut params)? {
        Mode::Private(private) => {
            if !H3_LEVELS.contains(&res) {
                return Err(ApiError::BadRequest(format!(
                    "layer {name} is released privately at H3 resolutions {H3_LEVELS:?} only, \
                     got h3_res={res}"
                )));
            }
            let context =
                release_context(layer.meta(), &format!("h3/{res}"), &params, &private.policy);
            let charge = cache.charge(&caller, layer.meta(), &private, &context)?;
            blocking(move || {
                private_hexagons(&cache, &layer, &params, &private, &context, &charge, res)
            })
            .await?
        }
        Mode::Exact(k) => blocking(move || exact_hexagons(&cache, &layer, &params, k, res)).await?,
    };
    Ok(geojson_response(body))
}

fn hexagon(cell: h3o::CellIndex, values: [crate::model::Value; 4]) -> J {
    let polygon = geo_types::Geometry::Polygon(hex::cell_polygon(cell));
    let mut properties = values_json(values);
    properties["h3"] = json!(cell.to_string());
    json!({
        "type": "Feature",
        "id": cell.to_string(),
        "geometry": geojson::Geometry::from(&polygon),
        "properties": properties,
    })
}

fn private_hexagons(
    cache: &AnalyticsCache,
    layer: &StatisticsInput,
    params: &AnalyticsParams,
    private: &Private,
    context: &str,
    charge: &crate::analytics::ledger::Charge,
    res: u8,
) -> ApiResult<J> {
    let release = cache.release(context, || {
        let (points, rows) = selection(cache, layer, params)?;
        Ok(h3_release(
            &points,
            &rows,
            res,
            &private.policy,
            &cache.noise,
            context,
        )?)
    })?;
    let k = released_k(private, params.k);
    let features: Vec<J> = release
        .groups()
        .iter()
        .filter(|g| g.1 >= u64::from(k))
        .filter_map(|&(group, persons)| Some((h3_cell(group)?, persons)))
        .filter(|(cell, _)| {
            params.bbox.is_none_or(|b| {
                let c = h3o::LatLng::from(*cell);
                (b.min_x..=b.max_x).contains(&c.lng()) && (b.min_y..=b.max_y).contains(&c.lat())
            })
        })
        .map(|(cell, persons)| hexagon(cell, private_values(Some(persons))))
        .collect();
    Ok(json!({
        "type": "FeatureCollection",
        "h3_resolution": res,
        "k": k,
        "privacy": private_json(private, charge, params),
        "features": features,
    }))
}

fn exact_hexagons(
    cache: &AnalyticsCache,
    layer: &StatisticsInput,
    params: &AnalyticsParams,
    k: Option<KAnonymity>,
    res: u8,
) -> ApiResult<J> {
    let spec = stats_spec(&params.stat, k.as_ref());
    let (points, rows) = selection(cache, layer, params)?;
    let res = hex::resolution(res)?;
    let area = params.bbox.as_ref().map(crate::index::mercator_rect_of);
    let bins = hex::bin(&points, &rows, area.as_ref(), res, spec)?;
    let features: Vec<J> = bins
        .cells
        .iter()
        .filter_map(|c| Some(hexagon(c.cell, exact_values(Some(&exact(&c.stats, k)?)))))
        .collect();
    Ok(json!({
        "type": "FeatureCollection",
        "h3_resolution": u8::from(res),
        "k": k.map(|k| k.k()),
        "privacy": exact_json(k),
        "features": features,
    }))
}

#[cfg(test)]
mod tests;
