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
//!
//! May import: `index`, `model`.

mod selection;

use std::collections::HashMap;

use geo_types::{Geometry, Point};

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
    /// per point); other geometries are skipped and counted in the report.
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
        let mut report = BuildReport::default();
        let mut dense_person: HashMap<u32, u32> = HashMap::new();
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
            let stamp = time_field.and_then(|f| stamp_of(props.value(props.value_id(i, f))));
            let person = person_field.map_or(NO_PERSON, |f| {
                let id = props.value_id(i, f);
                if id == NULL_VALUE {
                    return NO_PERSON;
                }
                let next = u32::try_from(dense_person.len()).unwrap_or(NO_PERSON);
                *dense_person.entry(id).or_insert(next)
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
        let persons = u32::try_from(dense_person.len()).unwrap_or(NO_PERSON);
        let mut cols = Self::from_rows(
            &name,
            rows,
            person_field.is_some().then_some(persons),
            value_field.is_some(),
        )?;
        cols.report.skipped = report.skipped;
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

    /// The time of `row` with its recorded UTC offset; `None` for untimed rows.
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
mod tests {
    use super::*;
    use crate::analytics::test_data::{layer_of, ping};
    use crate::analytics::time_filter::{HourSet, TimeFilter, WeekdaySet};
    use crate::model::PropertyFilter;

    fn pings() -> IndexedLayer {
        layer_of(vec![
            ping(
                1,
                (2.0, 41.0),
                Some("2024-05-06T08:00:00+02:00"),
                "a",
                Some(1.0),
            ),
            ping(
                2,
                (2.1, 41.0),
                Some("2024-05-06T07:00:00+02:00"),
                "b",
                Some(2.0),
            ),
            ping(3, (2.2, 41.0), None, "a", None),
            ping(
                4,
                (2.3, 41.0),
                Some("2024-05-11T12:00:00+02:00"),
                "c",
                Some(4.0),
            ),
            ping(
                5,
                (2.4, 41.0),
                Some("2024-05-06T07:00:00+02:00"),
                "a",
                Some(5.0),
            ),
        ])
    }

    fn fields() -> PointFields<'static> {
        PointFields {
            time: Some("ts"),
            person: Some("device"),
            value: Some("speed"),
        }
    }

    #[test]
    fn rows_are_sorted_by_time_with_untimed_last() {
        let cols = PointColumns::build(&pings(), &fields()).expect("build");
        assert_eq!(cols.len(), 5);
        assert_eq!(cols.timed_len(), 4);
        assert!(cols.times().windows(2).all(|w| w[0] <= w[1]));
        // Equal times keep feature order: features 2 and 5 at 07:00, then 1, then 4.
        let lons: Vec<f64> = cols.lon().to_vec();
        assert_eq!(lons, vec![2.1, 2.4, 2.0, 2.3, 2.2]);
        assert_eq!(cols.persons(), Some(&[1, 0, 0, 2, 0][..]));
        assert_eq!(cols.person_count(), 3);
        assert_eq!(cols.report().untimed, 1);
        assert!(cols.values().is_some_and(|v| v[4].is_nan() && v[0] == 2.0));
        // Mercator offsets round-trip to the projected point.
        let (mx, _) = lonlat_to_mercator(2.3, 41.0);
        assert!((f64::from(cols.x()[3]) + cols.origin()[0] - mx).abs() < 0.01);
    }

    #[test]
    fn select_by_range_hours_weekdays_and_mask() {
        let layer = pings();
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        assert_eq!(
            cols.select(&TimeFilter::default(), None),
            Selection::Range(0..5)
        );
        let from = Stamp::parse("2024-05-06T07:30:00+02:00").expect("t").unix;
        let f = TimeFilter::between(Some(from), None).expect("filter");
        assert_eq!(cols.select(&f, None), Selection::Range(2..4));
        let f = TimeFilter::between(None, Some(from)).expect("filter");
        assert_eq!(cols.select(&f, None), Selection::Range(0..2));
        let f = TimeFilter {
            hours: HourSet::parse("7-8").expect("hours"),
            ..TimeFilter::default()
        };
        assert_eq!(cols.select(&f, None), Selection::Rows(vec![0, 1]));
        let f = TimeFilter {
            weekdays: WeekdaySet::parse("sat").expect("days"),
            ..TimeFilter::default()
        };
        assert_eq!(cols.select(&f, None), Selection::Rows(vec![3]));
        let mask = cols
            .property_mask(
                &layer,
                &[PropertyFilter {
                    field: 1,
                    value: Value::String("a".into()),
                }],
            )
            .expect("mask");
        assert_eq!(
            cols.select(&TimeFilter::default(), Some(&mask)),
            Selection::Rows(vec![1, 2, 4])
        );
        assert_eq!(
            cols.select(&TimeFilter::between(Some(0), None).expect("f"), Some(&mask)),
            Selection::Rows(vec![1, 2])
        );
    }

    #[test]
    fn fields_from_layer_metadata() {
        let mut layer_meta = pings().meta().clone();
        layer_meta.time_field = Some("ts".into());
        layer_meta.id_field = Some("device".into());
        let f = PointFields::from_meta(&layer_meta);
        assert_eq!(
            (f.time, f.person, f.value),
            (Some("ts"), Some("device"), None)
        );
    }

    #[test]
    fn unknown_and_non_numeric_fields_are_refused() {
        let layer = pings();
        let bad = PointFields {
            time: Some("nope"),
            ..PointFields::default()
        };
        assert!(matches!(
            PointColumns::build(&layer, &bad),
            Err(AnalyticsError::UnknownField { .. })
        ));
        let bad = PointFields {
            value: Some("device"),
            ..PointFields::default()
        };
        assert!(matches!(
            PointColumns::build(&layer, &bad),
            Err(AnalyticsError::NotNumeric { .. })
        ));
        let cols = PointColumns::build(&layer, &PointFields::default()).expect("build");
        assert!(
            cols.check(StatsSpec {
                distinct: true,
                value: false
            })
            .is_err()
        );
        assert_eq!(cols.timed_len(), 0);
    }

    #[test]
    fn chunks_cover_the_selection_in_order() {
        let cols = PointColumns::build(&pings(), &fields()).expect("build");
        for sel in [Selection::Range(1..5), Selection::Rows(vec![0, 3, 4])] {
            let mut seen = Vec::new();
            cols.for_each_chunk(&sel, |xs, _, rows| {
                for j in 0..xs.len() {
                    seen.push(rows.row(j));
                }
            });
            assert_eq!(seen, sel.iter().collect::<Vec<_>>());
        }
    }
}
