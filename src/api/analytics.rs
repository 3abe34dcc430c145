//! Privacy-protected analytics over HTTP: heatmap tiles (square grid), H3 heatmaps as
//! GeoJSON, and points-in-zones aggregates as a choropleth-ready GeoJSON.
//!
//! Every statistic of a `personal` layer passes k-anonymity before it leaves the
//! server: heatmap cells with fewer than k distinct persons are left out, and zones
//! keep their geometry with null statistics. `k` may be raised per request, never
//! lowered below the server's setting.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use geo_types::{Coord, Geometry, Rect};
use serde_json::{Value as J, json};

use super::{ApiError, ApiResult, AppState};
use crate::analytics::aggregate::{Boundary, ZoneIndex, area_shares, points_in_zones};
use crate::analytics::grid::{GridSpec, bin as grid_bin};
use crate::analytics::hex;
use crate::analytics::points::{PointColumns, PointFields, Selection};
use crate::analytics::privacy::{
    Epsilon, EpsilonBudget, KAnonymity, PrivacyPolicy, PrivacySettings, Released, Remaining,
    release,
};
use crate::analytics::time_filter::{HourSet, TimeFilter, WeekdaySet, parse_instant};
use crate::analytics::{AnalyticsError, Stats, StatsSpec};
use crate::config::Settings;
use crate::index::IndexedLayer;
use crate::model::tile::mercator_to_lonlat;
use crate::model::{Bbox, Feature, Field, FieldType, LayerMeta, Schema, Value};

/// Default and largest heatmap grid per tile side.
const DEFAULT_CELLS: u32 = 64;
const MAX_CELLS: u32 = 512;
/// Side, in pixels, of the blocks on which raster heatmaps check k-anonymity.
const PRIVACY_BLOCK: usize = 16;
/// The header naming the caller's key for the privacy budget.
pub const API_KEY_HEADER: &str = "x-api-key";

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Point columns and zone indexes, built once per layer version and value field; the
/// layers' privacy settings; and the callers' daily ε budgets, one per layer.
#[derive(Clone)]
pub struct AnalyticsCache {
    points: moka::sync::Cache<String, Arc<PointColumns>>,
    zones: moka::sync::Cache<String, Arc<ZoneIndex>>,
    settings: Arc<Settings>,
    budgets: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<EpsilonBudget>>>>,
}

impl std::fmt::Debug for AnalyticsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsCache").finish_non_exhaustive()
    }
}

impl Default for AnalyticsCache {
    fn default() -> Self {
        Self::new(Arc::new(Settings::default()))
    }
}

fn version_key(layer: &IndexedLayer) -> String {
    format!("{}@{}", layer.meta().name, layer.meta().version)
}

impl AnalyticsCache {
    /// An empty cache applying the privacy settings of `settings`.
    #[must_use]
    pub fn new(settings: Arc<Settings>) -> Self {
        Self {
            points: moka::sync::Cache::new(16),
            zones: moka::sync::Cache::new(16),
            settings,
            budgets: Arc::default(),
        }
    }

    /// The privacy rules in force for `layer`.
    #[must_use]
    pub fn privacy(&self, layer: &IndexedLayer) -> PrivacySettings {
        let meta = layer.meta();
        self.settings
            .layer(&meta.name)
            .privacy
            .resolve(meta.sensitivity)
    }

    /// The daily ε budgets of `layer`'s callers.
    fn budget(&self, layer: &IndexedLayer, privacy: &PrivacySettings) -> Arc<EpsilonBudget> {
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = budgets
            .entry(layer.meta().name.to_string())
            .or_insert_with(|| Arc::new(EpsilonBudget::new(privacy.daily_epsilon)));
        Arc::clone(entry)
    }

    pub(super) fn points(
        &self,
        layer: &Arc<IndexedLayer>,
        value: Option<&str>,
    ) -> ApiResult<Arc<PointColumns>> {
        let key = format!("{}#{}", version_key(layer), value.unwrap_or(""));
        self.points
            .try_get_with(key, || {
                let meta = layer.meta();
                let fields = PointFields {
                    value,
                    ..PointFields::from_meta(meta)
                };
                PointColumns::build(layer, &fields).map(Arc::new)
            })
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    fn zones(&self, layer: &Arc<IndexedLayer>) -> Arc<ZoneIndex> {
        self.zones
            .get_with(version_key(layer), || Arc::new(ZoneIndex::build(layer)))
    }
}

/// The statistic asked for with `stat=`.
#[derive(Debug, Clone, PartialEq)]
enum Stat {
    Count,
    Distinct,
    Sum(String),
    Mean(String),
}

impl Stat {
    fn parse(text: &str) -> ApiResult<Self> {
        match text.split_once(':') {
            None if text == "count" => Ok(Stat::Count),
            None if text == "distinct" => Ok(Stat::Distinct),
            Some(("distinct", _)) => Ok(Stat::Distinct),
            Some(("sum", f)) => Ok(Stat::Sum(f.to_owned())),
            Some(("mean", f)) => Ok(Stat::Mean(f.to_owned())),
            _ => Err(ApiError::BadRequest(format!(
                "stat {text:?} is not one of count, distinct, sum:FIELD, mean:FIELD"
            ))),
        }
    }

    fn value_field(&self) -> Option<&str> {
        match self {
            Stat::Sum(f) | Stat::Mean(f) => Some(f),
            Stat::Count | Stat::Distinct => None,
        }
    }
}

/// Parsed analytics query parameters.
struct AnalyticsParams {
    filter: TimeFilter,
    stat: Stat,
    k: Option<u32>,
    cells: u32,
    h3_res: Option<u8>,
    bbox: Option<Bbox>,
    epsilon: Option<Epsilon>,
    /// Property equality filters on the point layer, as given.
    properties: Vec<(String, String)>,
}

fn parse_params(pairs: &[(String, String)], allowed: &[&str]) -> ApiResult<AnalyticsParams> {
    let mut p = AnalyticsParams {
        filter: TimeFilter::default(),
        stat: Stat::Count,
        k: None,
        cells: DEFAULT_CELLS,
        h3_res: None,
        bbox: None,
        epsilon: None,
        properties: Vec::new(),
    };
    let (mut from, mut to) = (None, None);
    let number = |name: &str, v: &str| {
        v.parse::<u32>().map_err(|_| {
            ApiError::BadRequest(format!("{name} must be a positive integer, got {v:?}"))
        })
    };
    for (key, value) in pairs {
        match key.as_str() {
            "from" => from = Some(parse_instant(value)?),
            "to" => to = Some(parse_instant(value)?),
            "hours" => p.filter.hours = HourSet::parse(value)?,
            "weekdays" => p.filter.weekdays = WeekdaySet::parse(value)?,
            "stat" => p.stat = Stat::parse(value)?,
            "k" => p.k = Some(number("k", value)?),
            "cells" => {
                p.cells = number("cells", value)?;
                if !(1..=MAX_CELLS).contains(&p.cells) {
                    return Err(ApiError::BadRequest(format!(
                        "cells must be 1..={MAX_CELLS}"
                    )));
                }
            }
            "h3_res" => {
                let r = number("h3_res", value)?;
                p.h3_res = Some(u8::try_from(r).unwrap_or(u8::MAX));
            }
            "epsilon" => {
                let eps: f64 = value.parse().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "epsilon must be a positive number, got {value:?}"
                    ))
                })?;
                p.epsilon = Some(Epsilon::new(eps)?);
            }
            "bbox" => {
                p.bbox = Some(Bbox::parse(value).map_err(|e| ApiError::BadRequest(e.to_string()))?);
            }
            other if allowed.contains(&other) => {}
            // Checked against the point layer's schema by `select_rows`.
            _ => p.properties.push((key.clone(), value.clone())),
        }
    }
    let hours = std::mem::take(&mut p.filter.hours);
    let weekdays = std::mem::take(&mut p.filter.weekdays);
    p.filter = TimeFilter {
        hours,
        weekdays,
        ..TimeFilter::between(from, to)?
    };
    Ok(p)
}

/// The k to enforce: the asked one, raised to the layer's smallest; `None` when
/// neither the layer nor the query asks for k-anonymity.
fn k_for(privacy: &PrivacySettings, asked: Option<u32>) -> ApiResult<Option<KAnonymity>> {
    let k = match (privacy.min_k, asked) {
        (Some(min), Some(k)) => Some(k.max(min.k())),
        (Some(min), None) => Some(min.k()),
        (None, k) => k,
    };
    k.map(|k| KAnonymity::new(k).map_err(ApiError::from))
        .transpose()
}

/// The ε a query of `layer` uses: the asked one, which may not exceed the layer's
/// configured ε, or else the configured one (`None`: no noise).
///
/// # Errors
/// [`ApiError::BadRequest`] when the asked ε is above the layer's.
fn effective_epsilon(
    privacy: &PrivacySettings,
    layer: &IndexedLayer,
    asked: Option<Epsilon>,
) -> ApiResult<Option<Epsilon>> {
    match (privacy.epsilon, asked) {
        (Some(max), Some(asked)) if asked > max => Err(ApiError::BadRequest(format!(
            "epsilon {} is above the {} layer's limit of {}",
            asked.get(),
            layer.meta().name,
            max.get()
        ))),
        (configured, asked) => Ok(asked.or(configured)),
    }
}

/// The privacy rules of `layer` and the ε its query uses: the caller's own ε (no
/// more than the layer allows), or the layer's configured ε.
fn privacy_of(
    cache: &AnalyticsCache,
    layer: &IndexedLayer,
    asked: Option<Epsilon>,
) -> ApiResult<(PrivacySettings, Option<Epsilon>)> {
    let privacy = cache.privacy(layer);
    let epsilon = effective_epsilon(&privacy, layer, asked)?;
    Ok((privacy, epsilon))
}

/// Charges a noisy query's ε to the caller's daily budget on `layer` (before any work
/// is done).
fn charge(
    cache: &AnalyticsCache,
    headers: &HeaderMap,
    layer: &IndexedLayer,
    privacy: &PrivacySettings,
    epsilon: Option<Epsilon>,
) -> ApiResult<Option<Remaining>> {
    let Some(eps) = epsilon else {
        return Ok(None);
    };
    let key = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("anonymous");
    cache
        .budget(layer, privacy)
        .spend(key, eps, time::OffsetDateTime::now_utc())
        .map(Some)
        .map_err(|e| ApiError::TooManyRequests(format!("layer {}: {e}", layer.meta().name)))
}

/// A noise generator seeded from the operating system, so the noise is unpredictable.
fn noise_rng() -> rand_pcg::Pcg64 {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        // No OS randomness: fall back to the clock, and say so.
        tracing::warn!("no OS randomness for privacy noise; seeding from the clock");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        seed[..16].copy_from_slice(&nanos.to_le_bytes());
    }
    let (a, b) = seed.split_at(16);
    let word = |bytes: &[u8]| u128::from_le_bytes(bytes.try_into().unwrap_or([0; 16]));
    rand_pcg::Pcg64::new(word(a), word(b))
}

/// Releases groups under k-anonymity and, when asked, Laplace noise.
struct Releaser {
    policy: Option<PrivacyPolicy>,
    rng: rand_pcg::Pcg64,
}

impl Releaser {
    fn new(k: Option<KAnonymity>, epsilon: Option<Epsilon>) -> Self {
        let policy = match (k, epsilon) {
            (None, None) => None,
            (k, epsilon) => Some(PrivacyPolicy {
                k: k.unwrap_or_else(|| KAnonymity::new(1).unwrap_or_default()),
                epsilon,
            }),
        };
        Self {
            policy,
            rng: noise_rng(),
        }
    }

    fn release(&mut self, stats: &Stats) -> Option<Released> {
        match &self.policy {
            None => Some(Released {
                count: stats.count,
                distinct: stats.distinct,
                sum: stats.sum,
                mean: stats.mean(),
            }),
            Some(policy) => release(stats, policy, &mut self.rng),
        }
    }
}

fn budget_json(spent: Option<&Remaining>, epsilon: Option<Epsilon>) -> J {
    spent.map_or(J::Null, |r| {
        json!({
            "epsilon": epsilon.map(Epsilon::get),
            "spent_today": r.spent,
            "remaining_today": r.remaining,
        })
    })
}

/// Refuses property filters where a query does not support them.
fn reject_property_filters(params: &AnalyticsParams) -> ApiResult<()> {
    match params.properties.first() {
        Some((name, _)) => Err(ApiError::BadRequest(format!(
            "unknown query parameter {name:?}"
        ))),
        None => Ok(()),
    }
}

/// The rows of `points` passing the time filter and the property filters, which must
/// name fields of `layer` (anything else is an unknown parameter).
fn select_rows(
    points: &PointColumns,
    layer: &IndexedLayer,
    params: &AnalyticsParams,
) -> ApiResult<Selection> {
    if params.properties.is_empty() {
        return Ok(points.select(&params.filter, None));
    }
    let schema = &layer.meta().schema;
    let filters = params
        .properties
        .iter()
        .map(|(name, text)| {
            let field = schema.position(name).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown query parameter {name:?} (not a field of layer {})",
                    layer.meta().name
                ))
            })?;
            let field_type = schema.fields[field].field_type;
            let value = Value::parse_as(text, field_type).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "property {name:?} is of type {}, cannot compare it with {text:?}",
                    field_type.json_schema_type()
                ))
            })?;
            Ok(crate::model::PropertyFilter { field, value })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let mask = points.property_mask(layer, &filters)?;
    Ok(points.select(&params.filter, Some(&mask)))
}

fn stats_spec(stat: &Stat, k: Option<&KAnonymity>) -> StatsSpec {
    StatsSpec {
        distinct: k.is_some() || *stat == Stat::Distinct,
        value: stat.value_field().is_some(),
    }
}

/// Statistic properties of one released group.
fn stat_values(stats: Option<&Released>) -> [Value; 4] {
    let int = |v: Option<u64>| {
        v.and_then(|n| i64::try_from(n).ok())
            .map_or(Value::Null, Value::Int)
    };
    let float = |v: Option<f64>| {
        v.filter(|f| f.is_finite())
            .map_or(Value::Null, Value::Float)
    };
    match stats {
        None => [Value::Null, Value::Null, Value::Null, Value::Null],
        Some(s) => [
            int(Some(s.count)),
            int(s.distinct),
            float(s.sum),
            float(s.mean),
        ],
    }
}

fn stat_fields() -> Vec<Field> {
    let f = |name: &str, field_type| Field {
        name: name.into(),
        field_type,
    };
    vec![
        f("count", FieldType::Integer),
        f("distinct", FieldType::Integer),
        f("sum", FieldType::Number),
        f("mean", FieldType::Number),
    ]
}

fn analytic_layer(name: &str, fields: Vec<Field>, features: Vec<Feature>) -> IndexedLayer {
    // Names come from served layers or constants, so they are valid; fall back anyway.
    let name = crate::model::LayerName::new(name)
        .or_else(|_| crate::model::LayerName::new("analytics"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let meta = LayerMeta::in_memory(name, Schema { fields }, features.len() as u64);
    IndexedLayer::new(meta, features)
}

fn point_layer(state: &AppState, name: &str) -> ApiResult<Arc<IndexedLayer>> {
    state
        .registry
        .get(name)
        .ok_or_else(|| ApiError::NotFound(format!("layer {name:?} does not exist")))
}

fn lonlat_rect(r: &crate::model::tile::MercatorRect) -> Geometry<f64> {
    let (x0, y0) = mercator_to_lonlat(r.min_x, r.min_y);
    let (x1, y1) = mercator_to_lonlat(r.max_x, r.max_y);
    Geometry::Polygon(Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon())
}

/// `GET /heatmap/{layer}/{z}/{x}/{y}.mvt`: grid cells of the tile with their statistics.
pub(super) async fn heatmap_tile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, z, x, y)): Path<(String, String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    if let Some(y) = y.strip_suffix(".png") {
        let tile = super::params::tile_id(&z, &x, y)?;
        return tokio::task::spawn_blocking(move || heatmap_png(&state, &name, tile, &pairs))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    let tile = super::params::tile_id(&z, &x, &y)?;
    let mut params = parse_params(&pairs, &["size", "radius", "saturation"])?;
    let layer = point_layer(&state, &name)?;
    let cache = state.analytics.clone();
    let (privacy, epsilon) = privacy_of(&cache, &layer, params.epsilon)?;
    params.epsilon = epsilon;
    // Exact answers are cached per layer version and query; noisy ones never are.
    let cache_key = params.epsilon.is_none().then(|| {
        let mut query = pairs.clone();
        query.sort();
        format!(
            "heatmap:{}/{}/{}/{}?{query:?}",
            version_key(&layer),
            tile.z,
            tile.x,
            tile.y
        )
    });
    if let Some(hit) = cache_key.as_ref().and_then(|k| state.tile_cache.get(k)) {
        return Ok(mvt_response(hit.raw.clone().map(Vec::from)));
    }
    let spent = charge(&cache, &headers, &layer, &privacy, params.epsilon)?;
    let rendered = tokio::task::spawn_blocking(move || -> ApiResult<Option<Vec<u8>>> {
        let k = k_for(&privacy, params.k)?;
        let spec = stats_spec(&params.stat, k.as_ref());
        let points = cache.points(&layer, params.stat.value_field())?;
        let rows = select_rows(&points, &layer, &params)?;
        let grid = GridSpec::for_tile(tile, params.cells)?;
        let bins = grid_bin(&points, &rows, &grid, spec)?;
        let mut releaser = Releaser::new(k, params.epsilon);
        let features: Vec<Feature> = bins
            .cells()
            .filter_map(|c| {
                let released = releaser.release(&c.stats)?;
                Some(Feature {
                    id: u64::from(c.row) * u64::from(params.cells) + u64::from(c.col) + 1,
                    geometry: lonlat_rect(&grid.cell_rect(c.col, c.row)),
                    properties: stat_values(Some(&released)).to_vec(),
                })
            })
            .collect();
        let cells = analytic_layer(layer.meta().name.as_str(), stat_fields(), features);
        Ok(crate::tiles::render_tile(&[&cells], tile))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    if let Some(key) = cache_key {
        // Heatmap responses carry no ETag: the tag is unused.
        let tile = super::tile_cache::CachedTile::new(rendered.clone(), String::new());
        state.tile_cache.insert(key, Arc::new(tile));
    }
    let mut response = mvt_response(rendered);
    if let Some(r) = spent {
        for (name, value) in [
            ("x-privacy-epsilon-spent-today", r.spent),
            ("x-privacy-epsilon-remaining-today", r.remaining),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
                response.headers_mut().insert(name, v);
            }
        }
    }
    Ok(response)
}

fn mvt_response(body: Option<Vec<u8>>) -> Response {
    match body {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(bytes) => (
            [(header::CONTENT_TYPE, super::tiles::MVT_CONTENT_TYPE)],
            bytes,
        )
            .into_response(),
    }
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

/// `GET /heatmap/{layer}/{z}/{x}/{y}.png`: a kernel-density raster (see
/// [`crate::analytics::raster`] for the method and colour ramp). Cells under k distinct
/// persons (counted over blocks of [`PRIVACY_BLOCK`] pixels) are removed before blurring.
fn heatmap_png(
    state: &AppState,
    name: &str,
    tile: crate::model::TileId,
    pairs: &[(String, String)],
) -> ApiResult<Response> {
    use crate::analytics::raster;
    let (size, radius, saturation) = raster_settings(pairs)?;
    let params = parse_params(pairs, &["size", "radius", "saturation"])?;
    if params.epsilon.is_some() {
        return Err(ApiError::BadRequest(
            "epsilon is not available for raster heatmaps; use .mvt or .geojson".into(),
        ));
    }
    let layer = point_layer(state, name)?;
    let privacy = state.analytics.privacy(&layer);
    if let Some(eps) = privacy.epsilon {
        return Err(ApiError::Forbidden(format!(
            "layer {name} is only released with noise (ε = {}); raster heatmaps carry none: \
             use .mvt or /heatmap/{name}.geojson",
            eps.get()
        )));
    }
    let k = k_for(&privacy, params.k)?;
    let spec = stats_spec(&params.stat, k.as_ref());
    let points = state.analytics.points(&layer, None)?;
    let rows = select_rows(&points, &layer, &params)?;
    // k-anonymity is checked on blocks of PRIVACY_BLOCK pixels, not single pixels: a
    // pixel rarely holds k persons, a block of 16 × 16 pixels often does. The margin is
    // a whole number of blocks so that blocks align with the tile in every tile.
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
        &points,
        &rows,
        &GridSpec::new(rect, to_u32(side))?,
        StatsSpec::default(),
    )?;
    let blocks_side = side / PRIVACY_BLOCK;
    let allowed: Option<Vec<bool>> = match &k {
        None => None,
        Some(k) => {
            let blocks = grid_bin(
                &points,
                &rows,
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
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let rgba = raster::render(&counts, size as usize, radius, saturation);
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
    Ok(([(header::CONTENT_TYPE, "image/png")], png_bytes).into_response())
}

/// `GET /heatmap/{layer}.geojson?bbox=…&h3_res=…`: H3 cells with their statistics.
pub(super) async fn heatmap_geojson(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let name = file
        .strip_suffix(".geojson")
        .ok_or_else(|| ApiError::NotFound(format!("{file:?}: use /heatmap/LAYER.geojson")))?;
    let mut params = parse_params(&pairs, &[])?;
    let layer = point_layer(&state, name)?;
    let cache = state.analytics.clone();
    let (privacy, epsilon) = privacy_of(&cache, &layer, params.epsilon)?;
    params.epsilon = epsilon;
    let spent = charge(&cache, &headers, &layer, &privacy, params.epsilon)?;
    let body = tokio::task::spawn_blocking(move || -> ApiResult<J> {
        let k = k_for(&privacy, params.k)?;
        let spec = stats_spec(&params.stat, k.as_ref());
        let points = cache.points(&layer, params.stat.value_field())?;
        let rows = select_rows(&points, &layer, &params)?;
        let res = hex::resolution(params.h3_res.unwrap_or(9))?;
        let area = params.bbox.as_ref().map(crate::index::mercator_rect_of);
        let bins = hex::bin(&points, &rows, area.as_ref(), res, spec)?;
        let mut releaser = Releaser::new(k, params.epsilon);
        let features: Vec<J> = bins
            .cells
            .iter()
            .filter_map(|c| Some((c, releaser.release(&c.stats)?)))
            .map(|(c, released)| {
                let polygon = Geometry::Polygon(hex::cell_polygon(c.cell));
                let [count, distinct, sum, mean] = stat_values(Some(&released));
                json!({
                    "type": "Feature",
                    "id": c.cell.to_string(),
                    "geometry": geojson::Geometry::from(&polygon),
                    "properties": { "h3": c.cell.to_string(), "count": count, "distinct": distinct, "sum": sum, "mean": mean },
                })
            })
            .collect();
        Ok(json!({
            "type": "FeatureCollection",
            "h3_resolution": u8::from(res),
            "k": k.map(|k| k.k()),
            "privacy_budget": budget_json(spent.as_ref(), params.epsilon),
            "features": features,
        }))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)).into_response())
}

/// `GET /aggregate?points=L&zones=Z&stat=…` or `?cover=L&zones=Z&measure=area_share:FIELD`.
pub(super) async fn aggregate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let params = parse_params(&pairs, AGGREGATE_KEYS)?;
    let points = pairs
        .iter()
        .find(|(k, _)| k == "points")
        .filter(|_| !pairs.iter().any(|(k, _)| k == "measure"))
        .map(|(_, name)| point_layer(&state, name))
        .transpose()?;
    let spent = match points {
        Some(layer) => {
            let (privacy, epsilon) = privacy_of(&state.analytics, &layer, params.epsilon)?;
            charge(&state.analytics, &headers, &layer, &privacy, epsilon)?
        }
        None => None,
    };
    let body = tokio::task::spawn_blocking(move || {
        aggregate_collection(
            &state.analytics,
            |name| point_layer(&state, name),
            &pairs,
            spent.as_ref(),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)).into_response())
}

/// Query keys of `/aggregate` besides the common analytics ones.
const AGGREGATE_KEYS: &[&str] = &["points", "zones", "cover", "measure"];

/// The zones layer as GeoJSON with the aggregate the query asks for: points-in-zones
/// statistics (`points=L&stat=…`) or area shares (`cover=L&measure=area_share:FIELD`),
/// with the privacy rules of personal layers applied. Shared by `GET /aggregate` and
/// `tessera aggregate`; `spent` is what the caller's budget was charged, if anything.
///
/// # Errors
/// [`ApiError::BadRequest`] for missing or invalid parameters, [`ApiError::NotFound`]
/// (from `layer_of`) for unknown layers.
pub fn aggregate_collection(
    cache: &AnalyticsCache,
    layer_of: impl Fn(&str) -> ApiResult<Arc<IndexedLayer>>,
    pairs: &[(String, String)],
    spent: Option<&Remaining>,
) -> ApiResult<J> {
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let zones_name =
        get("zones").ok_or_else(|| ApiError::BadRequest("zones=LAYER is required".into()))?;
    let zones = layer_of(&zones_name)?;
    let params = parse_params(pairs, AGGREGATE_KEYS)?;
    if let Some(measure) = get("measure") {
        let field = measure.strip_prefix("area_share:").ok_or_else(|| {
            ApiError::BadRequest(format!("measure {measure:?} is not area_share:FIELD"))
        })?;
        let cover_name = get("cover")
            .or_else(|| get("points"))
            .ok_or_else(|| ApiError::BadRequest("cover=LAYER is required with measure".into()))?;
        let cover = layer_of(&cover_name)?;
        super::check_raw_access(cover.meta())?;
        reject_property_filters(&params)?;
        return area_share_collection(&zones, &cover, field);
    }
    let points_name =
        get("points").ok_or_else(|| ApiError::BadRequest("points=LAYER is required".into()))?;
    let points_layer = layer_of(&points_name)?;
    let (privacy, epsilon) = privacy_of(cache, &points_layer, params.epsilon)?;
    let params = AnalyticsParams { epsilon, ..params };
    let k = k_for(&privacy, params.k)?;
    let spec = stats_spec(&params.stat, k.as_ref());
    let points = cache.points(&points_layer, params.stat.value_field())?;
    let rows = select_rows(&points, &points_layer, &params)?;
    let index = cache.zones(&zones);
    let stats = points_in_zones(&points, &rows, &index, Boundary::Exclude, spec)?;
    let k_value = k.map(|k| k.k());
    let mut releaser = Releaser::new(k, params.epsilon);
    let features: Vec<J> = stats
        .zones
        .iter()
        .enumerate()
        .map(|(i, s)| zone_feature(&zones, i, stat_json(releaser.release(s).as_ref())))
        .collect();
    Ok(json!({
        "type": "FeatureCollection",
        "k": k_value,
        "privacy_budget": budget_json(spent, params.epsilon),
        "unassigned": stat_json(releaser.release(&stats.unassigned).as_ref()),
        "features": features,
    }))
}

fn stat_json(stats: Option<&Released>) -> J {
    let [count, distinct, sum, mean] = stat_values(stats);
    json!({ "count": count, "distinct": distinct, "sum": sum, "mean": mean })
}

/// A zone as a GeoJSON feature: its own properties plus `extra`.
fn zone_feature(zones: &IndexedLayer, i: usize, extra: J) -> J {
    let feature = zones.feature_at(i);
    let mut props = serde_json::Map::new();
    for (field, value) in zones.meta().schema.fields.iter().zip(&feature.properties) {
        props.insert(
            field.name.clone(),
            serde_json::to_value(value).unwrap_or(J::Null),
        );
    }
    if let J::Object(extra) = extra {
        props.extend(extra);
    }
    json!({
        "type": "Feature",
        "id": feature.id,
        "geometry": geojson::Geometry::from(&feature.geometry),
        "properties": props,
    })
}

fn area_share_collection(zones: &IndexedLayer, cover: &IndexedLayer, field: &str) -> ApiResult<J> {
    let shares = area_shares(zones, cover, field)?;
    let features: Vec<J> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let classes: serde_json::Map<String, J> = s
                .classes
                .iter()
                .map(|c| (c.class.to_string(), json!(c.share)))
                .collect();
            zone_feature(
                zones,
                i,
                json!({ "area_m2": s.area_m2, "shares": classes, "uncovered": s.uncovered }),
            )
        })
        .collect();
    Ok(
        json!({ "type": "FeatureCollection", "measure": format!("area_share:{field}"), "features": features }),
    )
}

/// One released flow, drawn between zone centroids.
struct FlowLine {
    from: (f64, f64),
    to: (f64, f64),
    slot: u16,
    origin: u64,
    destination: u64,
    stats: Released,
}

/// What a flows query found besides its lines.
struct FlowSummary {
    slot: &'static str,
    trips: u64,
    k: Option<u32>,
    unassigned: Option<Released>,
}

/// The trips layer a flows query names, with its privacy rules and the query's ε.
fn flow_trips(
    state: &AppState,
    pairs: &[(String, String)],
    asked: Option<Epsilon>,
) -> ApiResult<(Arc<IndexedLayer>, PrivacySettings, Option<Epsilon>)> {
    let name = pairs
        .iter()
        .find(|(k, _)| k == "trips")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| ApiError::BadRequest("trips=LAYER is required".into()))?;
    let layer = point_layer(state, name)?;
    let (privacy, epsilon) = privacy_of(&state.analytics, &layer, asked)?;
    Ok((layer, privacy, epsilon))
}

/// Computes the released flows of a `/flows` query.
fn flow_lines(
    state: &AppState,
    pairs: &[(String, String)],
    (trips_layer, privacy, epsilon): (Arc<IndexedLayer>, PrivacySettings, Option<Epsilon>),
) -> ApiResult<(FlowSummary, Vec<FlowLine>)> {
    use crate::analytics::flows::{Slot, Trips, od_matrix};
    use geo::Centroid as _;

    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let required = |key: &str| {
        get(key).ok_or_else(|| ApiError::BadRequest(format!("{key}=LAYER is required")))
    };
    let zones = point_layer(state, &required("zones")?)?;
    let (slot, slot_name) = match get("slot").as_deref() {
        None | Some("hour") => (Slot::Hour, "hour"),
        Some("weekday-hour") => (Slot::WeekdayHour, "weekday-hour"),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "slot {other:?} is not hour or weekday-hour"
            )));
        }
    };
    let params = AnalyticsParams {
        epsilon,
        ..parse_params(pairs, &["trips", "zones", "slot"])?
    };
    reject_property_filters(&params)?;
    let meta = trips_layer.meta();
    let time_field = meta.time_field.as_deref().ok_or_else(|| {
        ApiError::BadRequest(format!(
            "layer {} has no time field (ingest it with --time-field)",
            meta.name
        ))
    })?;
    let k = k_for(&privacy, params.k)?;
    let trips = Trips::from_layer(&trips_layer, time_field, meta.id_field.as_deref())?;
    let index = state.analytics.zones(&zones);
    let distinct = k.is_some() || params.stat == Stat::Distinct;
    let matrix = od_matrix(
        &trips,
        &index,
        Boundary::Exclude,
        slot,
        &params.filter,
        distinct,
    )?;
    let centroid = |i: u32| {
        zones
            .geometry(i as usize)
            .centroid()
            .map(|p| (p.x(), p.y()))
    };
    let mut releaser = Releaser::new(k, params.epsilon);
    let lines = matrix
        .flows
        .iter()
        .filter_map(|f| {
            Some(FlowLine {
                stats: releaser.release(&f.stats)?,
                from: centroid(f.origin)?,
                to: centroid(f.destination)?,
                slot: f.slot,
                origin: zones.id(f.origin as usize),
                destination: zones.id(f.destination as usize),
            })
        })
        .collect();
    let summary = FlowSummary {
        slot: slot_name,
        trips: matrix.trips,
        k: k.map(|k| k.k()),
        unassigned: releaser.release(&matrix.unassigned),
    };
    Ok((summary, lines))
}

/// `GET /flows?trips=T&zones=Z&slot=hour|weekday-hour`: origin–destination flows
/// between zones per time slot, as GeoJSON lines between zone centroids.
pub(super) async fn flows(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let params = parse_params(&pairs, &["trips", "zones", "slot"])?;
    let trips = flow_trips(&state, &pairs, params.epsilon)?;
    let epsilon = trips.2;
    let spent = charge(&state.analytics, &headers, &trips.0, &trips.1, epsilon)?;
    let body = tokio::task::spawn_blocking(move || -> ApiResult<J> {
        let (summary, lines) = flow_lines(&state, &pairs, trips)?;
        let features: Vec<J> = lines
            .iter()
            .map(|l| {
                let [count, distinct, _, _] = stat_values(Some(&l.stats));
                json!({
                    "type": "Feature",
                    "geometry": { "type": "LineString", "coordinates": [[l.from.0, l.from.1], [l.to.0, l.to.1]] },
                    "properties": {
                        "slot": l.slot,
                        "origin": l.origin,
                        "destination": l.destination,
                        "count": count,
                        "distinct": distinct,
                    },
                })
            })
            .collect();
        Ok(json!({
            "type": "FeatureCollection",
            "slot": summary.slot,
            "trips": summary.trips,
            "k": summary.k,
            "privacy_budget": budget_json(spent.as_ref(), epsilon),
            "unassigned": stat_json(summary.unassigned.as_ref()),
            "features": features,
        }))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)).into_response())
}

/// `GET /flows/{z}/{x}/{y}.mvt?trips=T&zones=Z&slot=…`: the same flows as vector tiles
/// (layer `flows`, properties `slot`, `origin`, `destination`, `count`, `distinct`).
pub(super) async fn flows_tile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((z, x, y)): Path<(String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let tile = super::params::tile_id(&z, &x, &y)?;
    let params = parse_params(&pairs, &["trips", "zones", "slot"])?;
    let trips = flow_trips(&state, &pairs, params.epsilon)?;
    charge(&state.analytics, &headers, &trips.0, &trips.1, trips.2)?;
    let rendered = tokio::task::spawn_blocking(move || -> ApiResult<Option<Vec<u8>>> {
        let (_, lines) = flow_lines(&state, &pairs, trips)?;
        let int = |n: u64| i64::try_from(n).map_or(Value::Null, Value::Int);
        let features: Vec<Feature> = lines
            .iter()
            .zip(1u64..)
            .map(|(l, id)| {
                let [count, distinct, _, _] = stat_values(Some(&l.stats));
                Feature {
                    id,
                    geometry: Geometry::LineString(geo_types::LineString::from(vec![l.from, l.to])),
                    properties: vec![
                        Value::Int(i64::from(l.slot)),
                        int(l.origin),
                        int(l.destination),
                        count,
                        distinct,
                    ],
                }
            })
            .collect();
        let f = |name: &str| Field {
            name: name.into(),
            field_type: FieldType::Integer,
        };
        let fields = vec![
            f("slot"),
            f("origin"),
            f("destination"),
            f("count"),
            f("distinct"),
        ];
        let layer = analytic_layer("flows", fields, features);
        Ok(crate::tiles::render_tile(&[&layer], tile))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(mvt_response(rendered))
}
