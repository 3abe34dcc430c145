//! Privacy-protected analytics over HTTP: heatmap tiles (square grid, raster), H3
//! heatmaps, points-in-zones aggregates, area shares and origin–destination flows.
//!
//! Every layer is reached through the access gate: the points and trips as
//! [`StatisticsInput`], zones and cover as [`crate::index::RawLayer`] (so a personal
//! layer can never be drawn as zones). Each query then runs in one of two modes
//! ([`Mode`]):
//! - **private** (every query of a personal layer, unless the caller's role is one
//!   its config allows exact answers; every query of a layer with a configured ε or
//!   asking for one): time filters snap to whole hours, persons are counted per
//!   released group with bounded contributions and consistent noise
//!   ([`crate::analytics::release`]), grid and H3 answers are read from releases at
//!   fixed levels, and each distinct release is charged once to the caller's budget;
//! - **exact** (other layers): exact statistics, with k-anonymity when asked.
//!
//! May import: `model`, `index`, `analytics`, `access`, `config`, `tiles`.

mod heatmap;
mod zones;

use std::path::Path;
use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};

pub(super) use heatmap::{heatmap_geojson, heatmap_tile, prepare_map_releases};
pub use zones::aggregate_collection;
pub(super) use zones::{aggregate, flows, flows_tile};

use super::{ApiError, ApiResult};
use crate::access::Caller;
use crate::analytics::StatisticsInput;
use crate::analytics::aggregate::ZoneIndex;
use crate::analytics::ledger::{Charge, ChargeError, Ledger};
use crate::analytics::noise::NoiseKey;
use crate::analytics::points::{PointColumns, PointFields, Selection};
use crate::analytics::privacy::{
    DEFAULT_RELEASE_EPSILON, Epsilon, KAnonymity, MIN_EPSILON, PrivacySettings,
};
use crate::analytics::release::{PrivatePolicy, Released};
use crate::analytics::time_filter::{HourSet, TimeFilter, WeekdaySet, parse_instant};
use crate::analytics::{AnalyticsError, Stats, StatsSpec};
use crate::config::Settings;
use crate::index::{IndexedLayer, RawLayer};
use crate::model::tile::{MercatorRect, mercator_to_lonlat};
use crate::model::{Bbox, Feature, Field, FieldType, LayerMeta, Schema, Value};

/// Default and largest heatmap grid per tile side.
const DEFAULT_CELLS: u32 = 64;
const MAX_CELLS: u32 = 512;
/// Seconds of the slot that private time filters snap to.
const TIME_SLOT_SECONDS: i64 = 3600;

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Point columns, zone indexes and private releases, built once per layer version
/// and query; the layers' privacy settings; the noise secret and the privacy ledger.
#[derive(Clone)]
pub struct AnalyticsCache {
    points: moka::sync::Cache<String, Arc<PointColumns>>,
    zones: moka::sync::Cache<String, Arc<ZoneIndex>>,
    releases: moka::sync::Cache<String, Arc<Released>>,
    settings: Arc<Settings>,
    noise: NoiseKey,
    ledger: Arc<Ledger>,
}

impl std::fmt::Debug for AnalyticsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsCache").finish_non_exhaustive()
    }
}

fn version_key(meta: &LayerMeta) -> String {
    format!("{}@{}", meta.name, meta.version)
}

impl AnalyticsCache {
    /// A cache applying the privacy settings of `settings`, with the noise secret and
    /// ledger of the data folder `root` (the secret is created on first use).
    ///
    /// # Errors
    /// When the secret or the ledger cannot be read or created.
    pub fn open(settings: Arc<Settings>, root: &Path) -> std::io::Result<Self> {
        let noise = NoiseKey::load_or_create(&root.join(super::NOISE_KEY_FILE))?;
        let ledger = Ledger::open(&root.join(super::LEDGER_FILE))?;
        Ok(Self::with(settings, noise, ledger))
    }

    /// A cache with the given secret and ledger.
    fn with(settings: Arc<Settings>, noise: NoiseKey, ledger: Ledger) -> Self {
        Self {
            points: moka::sync::Cache::new(16),
            zones: moka::sync::Cache::new(16),
            releases: moka::sync::Cache::new(1024),
            settings,
            noise,
            ledger: Arc::new(ledger),
        }
    }

    /// ε spent today per layer, all payers together.
    #[must_use]
    pub fn spent_today(&self) -> std::collections::BTreeMap<String, f64> {
        self.ledger.spent_today(time::OffsetDateTime::now_utc())
    }

    /// The privacy rules in force for a layer.
    #[must_use]
    pub fn privacy(&self, meta: &LayerMeta) -> PrivacySettings {
        self.settings
            .layer(&meta.name)
            .privacy
            .resolve(meta.sensitivity)
    }

    /// The point columns of `layer` (with `value` as the value field, if any).
    pub(super) fn points(
        &self,
        layer: &StatisticsInput,
        value: Option<&str>,
    ) -> ApiResult<Arc<PointColumns>> {
        let key = format!("{}#{}", version_key(layer.meta()), value.unwrap_or(""));
        self.points
            .try_get_with(key, || {
                let fields = PointFields {
                    value,
                    ..PointFields::from_meta(layer.meta())
                };
                layer.point_columns(&fields).map(Arc::new)
            })
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    fn zones(&self, layer: &RawLayer) -> Arc<ZoneIndex> {
        self.zones.get_with(version_key(layer.meta()), || {
            Arc::new(ZoneIndex::build(layer))
        })
    }

    /// The release named `context`, built once by `build`.
    fn release(
        &self,
        context: &str,
        build: impl FnOnce() -> ApiResult<Released>,
    ) -> ApiResult<Arc<Released>> {
        self.releases
            .try_get_with(context.to_owned(), || build().map(Arc::new))
            .map_err(|e| match e.as_ref() {
                ApiError::BadRequest(m) => ApiError::BadRequest(m.clone()),
                other => ApiError::Internal(other.to_string()),
            })
    }

    /// Charges a private release to `caller` (free when already paid today).
    fn charge(
        &self,
        caller: &Caller,
        meta: &LayerMeta,
        private: &Private,
        context: &str,
    ) -> ApiResult<Charge> {
        self.ledger
            .charge(
                meta.name.as_str(),
                caller.payer(),
                context,
                private.policy.epsilon,
                private.daily,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| match e {
                ChargeError::Exhausted(e) => {
                    ApiError::TooManyRequests(format!("layer {}: {e}", meta.name))
                }
                ChargeError::Io { .. } => ApiError::Internal(e.to_string()),
            })
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

/// A private query's release parameters.
#[derive(Debug, Clone, Copy)]
struct Private {
    policy: PrivatePolicy,
    /// The payer's daily budget on the layer.
    daily: Epsilon,
}

/// How a query is answered (see the module documentation).
#[derive(Debug, Clone, Copy)]
enum Mode {
    Exact(Option<KAnonymity>),
    Private(Private),
}

/// The mode of a query of `meta` by `caller`. A private query's time filter is
/// snapped outward to whole hours, so that windows differing by seconds are one
/// release.
///
/// # Errors
/// [`ApiError::BadRequest`] for an ε above the layer's or below [`MIN_EPSILON`], or
/// a statistic a private query does not release (sums and means).
fn mode_of(
    cache: &AnalyticsCache,
    meta: &LayerMeta,
    caller: &Caller,
    params: &mut AnalyticsParams,
) -> ApiResult<Mode> {
    let privacy = cache.privacy(meta);
    let k = k_for(&privacy, params.k)?;
    if !privacy.private_for(caller.role) && params.epsilon.is_none() {
        return Ok(Mode::Exact(k));
    }
    let epsilon = match (privacy.epsilon, params.epsilon) {
        (Some(max), Some(asked)) if asked > max => {
            return Err(ApiError::BadRequest(format!(
                "epsilon {} is above the {} layer's limit of {}",
                asked.get(),
                meta.name,
                max.get()
            )));
        }
        (configured, asked) => match asked.or(configured) {
            Some(e) => e,
            None => Epsilon::new(DEFAULT_RELEASE_EPSILON)?,
        },
    };
    if epsilon.get() < MIN_EPSILON {
        return Err(ApiError::BadRequest(format!(
            "epsilon must be at least {MIN_EPSILON}"
        )));
    }
    if params.stat.value_field().is_some() {
        return Err(ApiError::BadRequest(format!(
            "layer {} is released privately: only persons are counted (stat=count or \
             distinct); sums and means are not released",
            meta.name
        )));
    }
    let filter = &mut params.filter;
    filter.from = filter
        .from
        .map(|t| t.div_euclid(TIME_SLOT_SECONDS) * TIME_SLOT_SECONDS);
    filter.to = filter.to.map(|t| {
        let slots =
            t.div_euclid(TIME_SLOT_SECONDS) + i64::from(t.rem_euclid(TIME_SLOT_SECONDS) > 0);
        slots * TIME_SLOT_SECONDS
    });
    Ok(Mode::Private(Private {
        policy: PrivatePolicy {
            epsilon,
            k: k.unwrap_or(KAnonymity::new(1)?),
            max_groups: privacy.max_groups,
        },
        daily: privacy.daily_epsilon,
    }))
}

/// The k to enforce: the asked one, raised to the layer's smallest; `None` when
/// neither the layer nor the query asks for k-anonymity.
///
/// # Errors
/// [`ApiError::BadRequest`] for `k=0`, which no layer's smallest k may silently raise:
/// a query that asks for no threshold at all is told so rather than answered as if it
/// had asked for another.
fn k_for(privacy: &PrivacySettings, asked: Option<u32>) -> ApiResult<Option<KAnonymity>> {
    if asked == Some(0) {
        return Err(ApiError::BadRequest(
            "k must be at least 1, got 0".to_owned(),
        ));
    }
    let k = match (privacy.min_k, asked) {
        (Some(min), Some(k)) => Some(k.max(min.k())),
        (Some(min), None) => Some(min.k()),
        (None, k) => k,
    };
    k.map(|k| KAnonymity::new(k).map_err(ApiError::from))
        .transpose()
}

/// The name of a private release: everything that determines its values (layer
/// version, what is counted, the snapped time filter, property filters, ε and the
/// contribution bound), never k, which only filters what was released.
fn release_context(
    meta: &LayerMeta,
    what: &str,
    params: &AnalyticsParams,
    policy: &PrivatePolicy,
) -> String {
    let mut properties = params.properties.clone();
    properties.sort();
    format!(
        "{}|{what}|{:?}|{properties:?}|eps={}|m={}",
        version_key(meta),
        params.filter,
        policy.epsilon.get(),
        policy.max_groups
    )
}

/// What a private answer says of its privacy.
fn private_json(private: &Private, charge: &Charge, params: &AnalyticsParams) -> J {
    let p = &private.policy;
    let instant = |t: Option<i64>| {
        t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
    };
    json!({
        "mechanism": "discrete Laplace noise on person counts, consistent per release",
        "epsilon": p.epsilon.get(),
        "k": p.k.k(),
        "max_groups_per_person": p.max_groups,
        "noise_scale": p.noise_scale(),
        "delta": p.delta(),
        "from": instant(params.filter.from),
        "to": instant(params.filter.to),
        "charged": charge.cost,
        "spent_today": charge.spent,
        "remaining_today": charge.remaining,
    })
}

/// What an exact answer says of its privacy.
fn exact_json(k: Option<KAnonymity>) -> J {
    json!({ "mechanism": "exact", "k": k.map(|k| k.k()) })
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
    layer: &StatisticsInput,
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
    let mask = layer.property_mask(points, &filters)?;
    Ok(points.select(&params.filter, Some(&mask)))
}

fn stats_spec(stat: &Stat, k: Option<&KAnonymity>) -> StatsSpec {
    StatsSpec {
        distinct: k.is_some() || *stat == Stat::Distinct,
        value: stat.value_field().is_some(),
    }
}

/// Exact statistics under an optional k: `None` when suppressed.
fn exact(stats: &Stats, k: Option<KAnonymity>) -> Option<Stats> {
    match k {
        Some(k) => k.apply(*stats),
        None => Some(*stats),
    }
}

fn int(v: Option<u64>) -> Value {
    v.and_then(|n| i64::try_from(n).ok())
        .map_or(Value::Null, Value::Int)
}

/// Statistic properties `[count, distinct, sum, mean]` of exact statistics.
fn exact_values(stats: Option<&Stats>) -> [Value; 4] {
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
            float(s.mean()),
        ],
    }
}

/// Statistic properties of a private group: persons only.
fn private_values(persons: Option<u64>) -> [Value; 4] {
    [Value::Null, int(persons), Value::Null, Value::Null]
}

fn values_json(values: [Value; 4]) -> J {
    let [count, distinct, sum, mean] = values.map(|v| serde_json::to_value(v).unwrap_or(J::Null));
    json!({ "count": count, "distinct": distinct, "sum": sum, "mean": mean })
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

/// An in-memory layer of computed features (cells, flows), for the tile renderer.
fn analytic_layer(name: &str, fields: Vec<Field>, features: Vec<Feature>) -> IndexedLayer {
    // Names come from served layers or constants, so they are valid; fall back anyway.
    let name = crate::model::LayerName::new(name)
        .or_else(|_| crate::model::LayerName::new("analytics"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let meta = LayerMeta::in_memory(name, Schema { fields }, features.len() as u64);
    IndexedLayer::new(meta, features)
}

fn lonlat_rect(r: &MercatorRect) -> geo_types::Geometry<f64> {
    let (x0, y0) = mercator_to_lonlat(r.min_x, r.min_y);
    let (x1, y1) = mercator_to_lonlat(r.max_x, r.max_y);
    geo_types::Geometry::Polygon(
        geo_types::Rect::new(
            geo_types::Coord { x: x0, y: y0 },
            geo_types::Coord { x: x1, y: y1 },
        )
        .to_polygon(),
    )
}

fn mvt_response(body: Option<Vec<u8>>) -> Response {
    match body {
        None => axum::http::StatusCode::NO_CONTENT.into_response(),
        Some(bytes) => (
            [(header::CONTENT_TYPE, super::tiles::MVT_CONTENT_TYPE)],
            bytes,
        )
            .into_response(),
    }
}

fn geojson_response(body: J) -> Response {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        axum::Json(body),
    )
        .into_response()
}

/// Adds `X-Privacy-*` headers of a private answer to a tile response.
fn with_privacy_headers(mut response: Response, charge: &Charge) -> Response {
    for (name, value) in [
        ("x-privacy-epsilon-charged", charge.cost),
        ("x-privacy-epsilon-spent-today", charge.spent),
        ("x-privacy-epsilon-remaining-today", charge.remaining),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value.to_string()) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// Runs blocking analytics work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}
