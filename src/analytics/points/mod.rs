//! A point layer as columns, built once per layer version: Web Mercator offsets for
//! grid binning, exact WGS84 degrees for H3 and point-in-polygon, time, person and
//! value. Queries select rows through [`Selection`], never by scanning features.
//!
//! # Invariants
//! - Rows are sorted by time: `times()[i] <= times()[i + 1]`. Rows with a time come
//!   first (`0..timed_len()`); rows without one (missing or unparsable time field)
//!   come last and hold `i64::MAX`. A `from`/`to` filter is therefore a binary
//!   search to one contiguous range. Rows with equal times keep feature order.
//! - Every column has `len()` rows, and `len() <= MAX_ROWS`, so a row fits in `u32`.
//! - `x`, `y` are Web Mercator metres minus [`PointColumns::origin`], in `f32`: at
//!   city scale (offsets below ~100 km) they are exact to a few millimetres, and at
//!   worst (a world-wide layer) to about a metre. Only grid binning reads them;
//!   everything that must be exact reads the `f64` degrees.
//! - Each timed row has a local UTC offset, read by hour and weekday filters: for a
//!   layer with a time zone ([`LayerMeta::timezone`]), the zone's offset at the row's
//!   instant (daylight saving included), computed once at build; otherwise the
//!   offset written in the row's time (UTC for `Z` and unix seconds).
//! - Persons are told apart by the text of their id, the text the ingest stores ids
//!   as: `1` and `1.0` are two persons, the string `"1"` and the integer `1` one.
//!
//! May import: `index`, `model`.

mod selection;

use std::collections::HashMap;

use geo_types::{Geometry, Point};
use jiff::Timestamp;
use jiff::tz::TimeZone;

pub(crate) use selection::{CHUNK, ChunkRows};
pub use selection::{RowMask, Selection};

use super::time_filter::Stamp;
use super::{AnalyticsError, NO_PERSON, Result, StatsSpec};
use crate::index::{IndexedLayer, NULL_VALUE};
use crate::model::tile::{MercatorRect, lonlat_to_mercator};
use crate::model::{FieldType, LayerMeta, Value};

/// The most rows a table holds: rows are addressed with `u32`, and `u32::MAX` is kept
/// free as a marker.
pub const MAX_ROWS: usize = u32::MAX as usize - 1;

/// Which properties of the layer become columns. Field names are the layer's schema
/// names.
#[derive(Debug, Clone, Copy, Default)]
pub struct PointFields<'a> {
    /// Observation time: RFC 3339 text, or integer/float unix seconds (read as UTC).
    /// In a layer with a time zone, text without an offset is read in the zone, and
    /// hours and weekdays are counted on its clock.
    pub time: Option<&'a str>,
    /// The field identifying a person (device, card, …), for distinct counts and
    /// k-anonymity.
    pub person: Option<&'a str>,
    /// A numeric field to sum and average.
    pub value: Option<&'a str>,
}

impl<'a> PointFields<'a> {
    /// The time and person fields recorded in a layer's metadata at ingest
    /// (`--time-field`, `--id-field`), with no value field.
    #[must_use]
    pub fn from_meta(meta: &'a LayerMeta) -> Self {
        Self {
            time: meta.time_field.as_deref(),
            person: meta.id_field.as_deref(),
            value: None,
        }
    }
}

/// What the build found, for the ingest report and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildReport {
    /// Rows in the table (a multipoint gives one row per point).
    pub rows: usize,
    /// Rows without a usable time.
    pub untimed: usize,
    /// Features skipped because they are not points or have non-finite coordinates.
    pub skipped: usize,
}

#[derive(Debug)]
enum Offsets {
    /// All rows share one recorded offset (the common case), minutes.
    Uniform(i16),
    PerRow(Vec<i16>),
}

/// A point layer as time-sorted columns. See the module documentation for the
/// invariants.
#[derive(Debug)]
pub struct PointColumns {
    layer: String,
    origin: [f64; 2],
    extent: Option<MercatorRect>,
    offset_error: f64,
    x: Vec<f32>,
    y: Vec<f32>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    t: Vec<i64>,
    offsets: Offsets,
    timed: usize,
    person: Option<Vec<u32>>,
    persons: u32,
    value: Option<Vec<f64>>,
    source: Vec<u32>,
    report: BuildReport,
}

/// One point for [`PointColumns::from_rows`], for sources other than an indexed
/// layer (a streamed CSV, generated benchmark data).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointRow {
    /// Longitude, WGS84 degrees.
    pub lon: f64,
    /// Latitude, WGS84 degrees.
    pub lat: f64,
    /// Observation time, if any.
    pub stamp: Option<Stamp>,
    /// Dense person index, [`NO_PERSON`] when unknown.
    pub person: u32,
    /// Value, NaN when missing.
    pub value: f64,
    /// Position of the source feature (for property filters).
    pub source: u32,
}

impl PointColumns {
    /// Builds the columns of a point layer. Points and multipoints become rows (one
    /// per point); other geometries are skipped and counted in the report. The layer's
    /// time zone ([`LayerMeta::timezone`]) sets the local offset of every timed row (a
    /// zone name the tz database does not know is logged and ignored: each time's own
    /// offset then applies).
    ///
    /// # Errors
    /// [`AnalyticsError::UnknownField`] or [`AnalyticsError::NotNumeric`] for bad
    /// field names, [`AnalyticsError::TooManyRows`] beyond [`MAX_ROWS`].
    pub fn build(layer: &IndexedLayer, fields: &PointFields<'_>) -> Result<Self> {
        let name = layer_key(layer);
        let time_field = fields.time.map(|f| field_index(layer, f)).transpose()?;
        let person_field = fields.person.map(|f| field_index(layer, f)).transpose()?;
        let value_field = fields
            .value
            .map(|f| numeric_field_index(layer, f))
            .transpose()?;
        let props = layer.properties();
        let zone = layer_zone(layer);
        let mut report = BuildReport::default();
        let mut persons = Persons::default();
        let mut rows: Vec<PointRow> = Vec::with_capacity(layer.len());
        for i in 0..layer.len() {
            let points: &[Point<f64>] = match layer.geometry(i) {
                Geometry::Point(p) => std::slice::from_ref(p),
                Geometry::MultiPoint(mp) => &mp.0,
                _ => {
                    report.skipped += 1;
                    continue;
                }
            };
            let stamp =
                time_field.and_then(|f| stamp_in(props.value(props.value_id(i, f)), zone.as_ref()));
            let person = person_field.map_or(NO_PERSON, |f| {
                let id = props.value_id(i, f);
                if id == NULL_VALUE {
                    return NO_PERSON;
                }
                persons.index(id, || id_text(props.value(id)))
            });
            let value =
                value_field.map_or(f64::NAN, |f| number_of(props.value(props.value_id(i, f))));
            let source = u32::try_from(i).unwrap_or(u32::MAX);
            for p in points {
                if !(p.x().is_finite() && p.y().is_finite()) {
                    report.skipped += 1;
                    continue;
                }
                rows.push(PointRow {
                    lon: p.x(),
                    lat: p.y(),
                    stamp,
                    person,
                    value,
                    source,
                });
            }
        }
        let mut cols = Self::from_rows(
            &name,
            rows,
            person_field.is_some().then_some(persons.count()),
            value_field.is_some(),
        )?;
        cols.report.skipped = report.skipped;
        if let Some(zone) = &zone {
            cols.offsets = zone_offsets(&cols.t[..cols.timed], zone);
        }
        Ok(cols)
    }

    /// Builds the columns from rows of any source, labelled `layer`. `persons` is the
    /// number of distinct persons when the rows carry person indices (each below it or
    /// [`NO_PERSON`]), `None` when they carry none; `with_value` says whether values
    /// are meaningful.
    ///
    /// # Errors
    /// [`AnalyticsError::TooManyRows`] beyond [`MAX_ROWS`].
    pub fn from_rows(
        layer: &str,
        mut rows: Vec<PointRow>,
        persons: Option<u32>,
        with_value: bool,
    ) -> Result<Self> {
        if rows.len() > MAX_ROWS {
            return Err(AnalyticsError::TooManyRows {
                layer: layer.to_owned(),
                rows: rows.len(),
                max: MAX_ROWS,
            });
        }
        rows.retain(|r| r.lon.is_finite() && r.lat.is_finite());
        // Stable: rows with equal times keep their order.
        rows.sort_by_key(|r| r.stamp.map_or(i64::MAX, |s| s.unix));
        let report = BuildReport {
            rows: rows.len(),
            untimed: rows.iter().filter(|r| r.stamp.is_none()).count(),
            skipped: 0,
        };
        Ok(Self::from_sorted_rows(
            layer.to_owned(),
            &rows,
            persons.is_some(),
            with_value,
            persons.unwrap_or(0),
            report,
        ))
    }

    fn from_sorted_rows(
        layer: String,
        rows: &[PointRow],
        with_person: bool,
        with_value: bool,
        persons: u32,
        report: BuildReport,
    ) -> Self {
        let mercator: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| lonlat_to_mercator(r.lon, r.lat))
            .collect();
        let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for &(x, y) in &mercator {
            min = [min[0].min(x), min[1].min(y)];
            max = [max[0].max(x), max[1].max(y)];
        }
        let origin = if rows.is_empty() {
            [0.0, 0.0]
        } else {
            [f64::midpoint(min[0], max[0]), f64::midpoint(min[1], max[1])]
        };
        let extent = (!rows.is_empty()).then_some(MercatorRect {
            min_x: min[0],
            min_y: min[1],
            max_x: max[0],
            max_y: max[1],
        });
        #[expect(
            clippy::cast_possible_truncation,
            reason = "offsets are stored as f32 by design, see the module invariants"
        )]
        let (x, y): (Vec<f32>, Vec<f32>) = mercator
            .iter()
            .map(|&(x, y)| ((x - origin[0]) as f32, (y - origin[1]) as f32))
            .unzip();
        let offset_error = mercator
            .iter()
            .zip(x.iter().zip(&y))
            .map(|(&(mx, my), (&x, &y))| {
                (mx - origin[0] - f64::from(x)).hypot(my - origin[1] - f64::from(y))
            })
            .fold(0.0, f64::max);
        let offsets: Vec<i16> = rows
            .iter()
            .map(|r| r.stamp.map_or(0, |s| s.offset_min))
            .collect();
        let offsets = match offsets.first() {
            Some(&first) if offsets.iter().any(|&o| o != first) => Offsets::PerRow(offsets),
            first => Offsets::Uniform(first.copied().unwrap_or(0)),
        };
        Self {
            layer,
            origin,
            extent,
            offset_error,
            x,
            y,
            lon: rows.iter().map(|r| r.lon).collect(),
            lat: rows.iter().map(|r| r.lat).collect(),
            t: rows
                .iter()
                .map(|r| r.stamp.map_or(i64::MAX, |s| s.unix))
                .collect(),
            offsets,
            timed: rows.iter().take_while(|r| r.stamp.is_some()).count(),
            person: with_person.then(|| rows.iter().map(|r| r.person).collect()),
            persons,
            value: with_value.then(|| rows.iter().map(|r| r.value).collect()),
            source: rows.iter().map(|r| r.source).collect(),
            report,
        }
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// True when the table has no row.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Rows `0..timed_len()` have a time.
    #[must_use]
    pub fn timed_len(&self) -> usize {
        self.timed
    }

    /// What the build found.
    #[must_use]
    pub fn report(&self) -> &BuildReport {
        &self.report
    }

    /// The layer (`name@version`) the table was built from.
    #[must_use]
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// The Web Mercator bounds of all rows; `None` for an empty table.
    #[must_use]
    pub fn extent(&self) -> Option<MercatorRect> {
        self.extent
    }

    /// The Web Mercator point subtracted from `x` and `y`, metres.
    #[must_use]
    pub fn origin(&self) -> [f64; 2] {
        self.origin
    }

    /// The largest distance between a row's `f32` offsets and its exact Web Mercator
    /// position, metres (measured at build).
    #[must_use]
    pub fn offset_error_m(&self) -> f64 {
        self.offset_error
    }

    /// Web Mercator x minus `origin()[0]`, metres.
    #[must_use]
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Web Mercator y minus `origin()[1]`, metres.
    #[must_use]
    pub fn y(&self) -> &[f32] {
        &self.y
    }

    /// Longitudes, WGS84 degrees, exactly as in the layer.
    #[must_use]
    pub fn lon(&self) -> &[f64] {
        &self.lon
    }

    /// Latitudes, WGS84 degrees, exactly as in the layer.
    #[must_use]
    pub fn lat(&self) -> &[f64] {
        &self.lat
    }

    /// Unix seconds, ascending; `i64::MAX` from `timed_len()` on.
    #[must_use]
    pub fn times(&self) -> &[i64] {
        &self.t
    }

    /// The time of `row` with its local UTC offset (the layer's time zone's at that
    /// instant, or else the one recorded); `None` for untimed rows.
    #[must_use]
    pub fn stamp(&self, row: usize) -> Option<Stamp> {
        (row < self.timed).then(|| Stamp {
            unix: self.t[row],
            offset_min: self.offset(row),
        })
    }

    #[inline]
    fn offset(&self, row: usize) -> i16 {
        match &self.offsets {
            Offsets::Uniform(o) => *o,
            Offsets::PerRow(v) => v[row],
        }
    }

    /// Dense person index per row ([`NO_PERSON`] when missing); `None` when built
    /// without a person field.
    #[must_use]
    pub fn persons(&self) -> Option<&[u32]> {
        self.person.as_deref()
    }

    /// Number of distinct persons in the layer (the bound of the person indices).
    #[must_use]
    pub fn person_count(&self) -> u32 {
        self.persons
    }

    /// The value column (NaN when missing); `None` when built without a value field.
    #[must_use]
    pub fn values(&self) -> Option<&[f64]> {
        self.value.as_deref()
    }

    /// The position in the source layer of the feature `row` came from.
    #[must_use]
    pub fn source_position(&self, row: usize) -> usize {
        self.source[row] as usize
    }

    /// Checks that the columns can give the statistics of `spec`.
    ///
    /// # Errors
    /// [`AnalyticsError::NoPersonField`] or [`AnalyticsError::NoValueField`].
    pub fn check(&self, spec: StatsSpec) -> Result<()> {
        if spec.distinct && self.person.is_none() {
            return Err(AnalyticsError::NoPersonField {
                layer: self.layer.clone(),
            });
        }
        if spec.value && self.value.is_none() {
            return Err(AnalyticsError::NoValueField {
                layer: self.layer.clone(),
            });
        }
        Ok(())
    }
}

/// Dense person indices, one per distinct id text.
#[derive(Default)]
struct Persons {
    /// Dictionary value id → person; most lookups stop here.
    by_value: HashMap<u32, u32>,
    /// Id text → person: values that differ in the dictionary but not as text (the
    /// string `"1"` and the integer `1`) are one person.
    by_text: HashMap<String, u32>,
}

impl Persons {
    /// The person of dictionary value `id`, whose text `text` gives.
    fn index(&mut self, id: u32, text: impl FnOnce() -> String) -> u32 {
        if let Some(&person) = self.by_value.get(&id) {
            return person;
        }
        let next = u32::try_from(self.by_text.len()).unwrap_or(NO_PERSON);
        let person = *self.by_text.entry(text()).or_insert(next);
        self.by_value.insert(id, person);
        person
    }

    fn count(&self) -> u32 {
        u32::try_from(self.by_text.len()).unwrap_or(NO_PERSON)
    }
}

/// The text of an id value, as the ingest stores ids: numbers in their canonical form,
/// which keeps a float's fraction (`1.0`, not `1`).
fn id_text(value: &Value) -> String {
    match value {
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string())
        }
        other => other.to_string(),
    }
}

/// The time zone of `layer`, if it has one the tz database knows.
pub(crate) fn layer_zone(layer: &IndexedLayer) -> Option<TimeZone> {
    let name = layer.meta().timezone.as_deref()?;
    TimeZone::get(name)
        .inspect_err(|e| {
            tracing::warn!(
                layer = %layer.meta().name,
                zone = name,
                "unknown time zone, hours and weekdays use each time's own offset: {e}"
            );
        })
        .ok()
}

/// The local offset in `zone` of each of `times` (ascending unix seconds), minutes.
/// Rows are sorted, so the zone is asked once per offset change (daylight-saving
/// transition) in the data, not once per row.
fn zone_offsets(times: &[i64], zone: &TimeZone) -> Offsets {
    let mut offsets = Vec::with_capacity(times.len());
    // The offset holds for `span.0 <= t < span.1`.
    let mut span: Option<(i64, i64, i16)> = None;
    for &t in times {
        let offset = match span {
            Some((from, until, offset)) if from <= t && t < until => offset,
            _ => {
                let next = offset_span(zone, t);
                span = Some(next);
                next.2
            }
        };
        offsets.push(offset);
    }
    match offsets.first() {
        Some(&first) if offsets.iter().any(|&o| o != first) => Offsets::PerRow(offsets),
        first => Offsets::Uniform(first.copied().unwrap_or(0)),
    }
}

/// The offset of `zone` at unix second `t`, minutes, and the span `[t, until)` over
/// which it holds. Instants beyond the years -9999..=9999 get UTC.
pub(crate) fn offset_span(zone: &TimeZone, t: i64) -> (i64, i64, i16) {
    let Ok(at) = Timestamp::from_second(t) else {
        return (t, t.saturating_add(1), 0);
    };
    let minutes = i16::try_from(zone.to_offset(at).seconds() / 60).unwrap_or(0);
    let until = zone
        .following(at)
        .next()
        .map_or(i64::MAX, |transition| transition.timestamp().as_second());
    (t, until, minutes)
}

/// `name@version`, to tell layer versions apart.
pub(crate) fn layer_key(layer: &IndexedLayer) -> String {
    format!("{}@{}", layer.meta().name, layer.meta().version)
}

/// The schema position of `field`.
pub(crate) fn field_index(layer: &IndexedLayer, field: &str) -> Result<usize> {
    layer
        .meta()
        .schema
        .position(field)
        .ok_or_else(|| AnalyticsError::UnknownField {
            layer: layer_key(layer),
            field: field.to_owned(),
        })
}

/// The schema position of `field`, which must be numeric.
pub(crate) fn numeric_field_index(layer: &IndexedLayer, field: &str) -> Result<usize> {
    let i = field_index(layer, field)?;
    match layer.meta().schema.fields[i].field_type {
        FieldType::Integer | FieldType::Number => Ok(i),
        other => Err(AnalyticsError::NotNumeric {
            layer: layer_key(layer),
            field: field.to_owned(),
            found: other.json_schema_type(),
        }),
    }
}

/// The time of a property value as [`stamp_of`] reads it, and, in a layer with time
/// zone `zone`, text without an offset read on the zone's clock (the ingest writes
/// such times with their offset; versions ingested before it may hold them bare).
fn stamp_in(v: &Value, zone: Option<&TimeZone>) -> Option<Stamp> {
    let stamp = stamp_of(v);
    if stamp.is_some() {
        return stamp;
    }
    let (Value::String(text), Some(zone)) = (v, zone) else {
        return None;
    };
    let pieces = jiff::fmt::temporal::Pieces::parse(text.trim()).ok()?;
    if pieces.offset().is_some() {
        return None;
    }
    let local = pieces
        .date()
        .to_datetime(pieces.time().unwrap_or(jiff::civil::Time::midnight()));
    let at = zone.to_ambiguous_timestamp(local).compatible().ok()?;
    Some(Stamp {
        unix: at.as_second(),
        offset_min: i16::try_from(zone.to_offset(at).seconds() / 60).unwrap_or(0),
    })
}

/// The time of a property value: RFC 3339 text, or unix seconds as a number.
pub(crate) fn stamp_of(v: &Value) -> Option<Stamp> {
    match v {
        Value::String(s) => Stamp::parse(s).ok(),
        Value::Int(i) => Some(Stamp {
            unix: *i,
            offset_min: 0,
        }),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "float times are whole seconds by intent; out-of-range values saturate"
        )]
        Value::Float(f) if f.is_finite() => Some(Stamp {
            unix: f.floor() as i64,
            offset_min: 0,
        }),
        _ => None,
    }
}

/// A property value as a number; NaN when missing.
pub(crate) fn number_of(v: &Value) -> f64 {
    match v {
        #[expect(
            clippy::cast_precision_loss,
            reason = "integers beyond 2^53 are rounded, as in any f64 sum"
        )]
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests;
