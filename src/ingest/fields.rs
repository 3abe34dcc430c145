//! The catalog's fields at ingest: a time field whose values each mean one instant, an
//! id field kept as text, and the shape of personal data that must be declared.
//!
//! # Time values
//! A time value with a UTC offset (`2025-03-03T08:00:00+01:00`, `…Z`) or a number (unix
//! seconds) means one instant and is stored as it is. A date and time without an offset
//! (`2025-03-03T08:00:00`, `2025-03-03 08:00`, or a bare date, read as midnight) means
//! a different instant in every time zone: the feature is rejected and listed in the
//! quality report, unless the layer has a time zone, in which case the value is read
//! on that zone's clock (daylight saving included) and stored as RFC 3339 text with
//! the offset in force then (`2025-07-03T08:00:00+02:00`). A local time that the
//! zone's clock skips or shows twice (at a daylight-saving change) is rejected too:
//! it names no instant, or two. Other text is not a time and is stored as it is.
//!
//! # Id values
//! Persons are told apart by the text of their id, never by a number: `1` and `1.0`
//! are two persons. The CSV reader keeps the id column's cells as text as written
//! (trimmed); numbers from other formats become their canonical text (`1`, `1.0`).
//!
//! # Personal data
//! Points with an observation time and a recurring identifier trace people's
//! movements. [`personal_shape`] finds that shape in a layer ingested without a declared
//! sensitivity, so that the ingest can refuse to guess.
//!
//! May import: `model`.

use std::collections::HashSet;

use geo_types::Geometry;
use jiff::civil::{DateTime, Time};
use jiff::fmt::temporal::Pieces;
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::model::{Feature, FieldType, Schema, Value};

/// The most values of a column looked at to tell whether it holds times or ids. The
/// first 10 000 are plenty to see a column's nature, and keep the look at a file of
/// millions of rows to a few milliseconds.
pub const SHAPE_SAMPLE: usize = 10_000;

/// The rules an ingest applies to the catalog's fields, feature by feature.
#[derive(Debug, Clone, Default)]
pub(super) struct FieldRules {
    /// The time field, if declared.
    pub(super) time_field: Option<String>,
    /// The layer's time zone: its IANA name and the zone.
    pub(super) zone: Option<(String, TimeZone)>,
    /// The id field, if declared.
    pub(super) id_field: Option<String>,
}

/// Where the time and id fields are among one feature's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Slots {
    time: Option<usize>,
    id: Option<usize>,
}

impl FieldRules {
    /// True when no rule applies.
    pub(super) fn is_empty(&self) -> bool {
        self.time_field.is_none() && self.id_field.is_none()
    }

    /// The positions of the fields among properties named `names`.
    pub(super) fn slots<'a>(&self, names: impl Iterator<Item = &'a str> + Clone) -> Slots {
        let find = |field: &Option<String>| {
            field
                .as_deref()
                .and_then(|f| names.clone().position(|n| n == f))
        };
        Slots {
            time: find(&self.time_field),
            id: find(&self.id_field),
        }
    }

    /// Applies the rules to one feature's values (see the module documentation):
    /// the id becomes text, a local time is read in the layer's zone. `Err` holds why
    /// the feature is rejected; the text names the field but never its value.
    pub(super) fn apply(&self, slots: Slots, values: &mut [Value]) -> Result<(), String> {
        if let Some(value) = slots.time.and_then(|i| values.get_mut(i))
            && let Value::String(text) = value
        {
            let field = self.time_field.as_deref().unwrap_or_default();
            if let Some(stamped) = self.stamped(field, text)? {
                *text = stamped;
            }
        }
        if let Some(value) = slots.id.and_then(|i| values.get_mut(i)) {
            id_as_text(value);
        }
        Ok(())
    }

    /// `text` with an offset when it is a local time and the layer has a zone; `None`
    /// when it stays as it is.
    fn stamped(&self, field: &str, text: &str) -> Result<Option<String>, String> {
        let Some(local) = local_time(text) else {
            return Ok(None);
        };
        let Some((name, zone)) = &self.zone else {
            return Err(format!(
                "time field {field:?} has no UTC offset: write the offset (e.g. \
                 +01:00 or Z), or give the layer a time zone (--timezone, or timezone \
                 in [layers.NAME] of tessera.toml)"
            ));
        };
        in_zone(local, zone).map(Some).map_err(|gap| {
            if gap {
                format!(
                    "time field {field:?}: the local time does not exist in {name} (the \
                     clocks skip it when daylight saving starts)"
                )
            } else {
                format!(
                    "time field {field:?}: the local time occurs twice in {name} (the \
                     clocks show it twice when daylight saving ends); write its offset"
                )
            }
        })
    }
}

/// The date and time of `text` when it is a date, or a date and time, without a UTC
/// offset; `None` for text with an offset and for text that is no date.
pub(super) fn local_time(text: &str) -> Option<DateTime> {
    let pieces = Pieces::parse(text.trim()).ok()?;
    if pieces.offset().is_some() {
        return None;
    }
    Some(
        pieces
            .date()
            .to_datetime(pieces.time().unwrap_or(Time::midnight())),
    )
}

/// True when `text` is a timestamp: a date with a time of day, with or without an
/// offset (a bare date is not: it is a day, not a moment).
fn is_timestamp(text: &str) -> bool {
    Pieces::parse(text.trim()).is_ok_and(|p| p.time().is_some())
}

/// `local` on the clock of `zone`, as RFC 3339 text with the offset then in force;
/// `Err(true)` when the clock skips it, `Err(false)` when it shows it twice.
fn in_zone(local: DateTime, zone: &TimeZone) -> Result<String, bool> {
    let ambiguous = zone.to_ambiguous_timestamp(local);
    let offset = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Gap { .. } => return Err(true),
        AmbiguousOffset::Fold { .. } => return Err(false),
    };
    let seconds = offset.seconds();
    if seconds % 60 != 0 {
        // Offsets with seconds (local mean time before ~1900) have no RFC 3339 form:
        // write the instant in UTC.
        return ambiguous
            .unambiguous()
            .map(|t| t.to_string())
            .map_err(|_| true);
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    Ok(format!(
        "{local}{sign}{:02}:{:02}",
        minutes / 60,
        minutes % 60
    ))
}

/// Turns an id value into its text: numbers and booleans as their canonical text
/// (`1`, `1.0`, `true`), text and nulls as they are.
pub(super) fn id_as_text(value: &mut Value) {
    let text = match value {
        Value::Int(i) => i.to_string(),
        // serde_json writes the shortest text that reads back as the same float, and
        // always with a fraction or exponent: 1.0 stays apart from 1.
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string())
        }
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::String(_) => return,
    };
    *value = Value::String(text);
}

/// A field whose values recur, as persons' ids do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdLike {
    /// The field.
    pub field: String,
    /// Non-null values looked at.
    pub rows: usize,
    /// Distinct values among them.
    pub distinct: usize,
}

/// What makes a layer look like personal data: points with a time field and fields
/// that identify someone across rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalShape {
    /// The time field (declared, or the first whose values are timestamps).
    pub time_field: String,
    /// The id-like fields, in schema order (the declared id field alone when there is
    /// one).
    pub id_fields: Vec<IdLike>,
}

/// The personal-data shape of a layer, if it has it: every geometry a point or
/// multipoint, a time field (`time_field`, or else the first text field whose values
/// are timestamps), and an id field (`id_field`, or else id-like fields: text or
/// integer fields other than the time field whose values recur, with at most half as
/// many distinct values as rows, so at least two rows per value on average). Columns
/// are judged on their first [`SHAPE_SAMPLE`] non-null values.
#[must_use]
pub fn personal_shape(
    schema: &Schema,
    features: &[Feature],
    time_field: Option<&str>,
    id_field: Option<&str>,
) -> Option<PersonalShape> {
    let points = features
        .iter()
        .all(|f| matches!(f.geometry, Geometry::Point(_) | Geometry::MultiPoint(_)));
    if !points || features.is_empty() {
        return None;
    }
    let sample = |i: usize| {
        features
            .iter()
            .filter_map(move |f| f.properties.get(i))
            .filter(|v| !v.is_null())
            .take(SHAPE_SAMPLE)
    };
    let time_field = match time_field {
        Some(field) => field.to_owned(),
        None => schema
            .fields
            .iter()
            .enumerate()
            .find(|(i, field)| {
                field.field_type == FieldType::String && {
                    let mut values = sample(*i).peekable();
                    values.peek().is_some()
                        && values.all(|v| matches!(v, Value::String(s) if is_timestamp(s)))
                }
            })
            .map(|(_, field)| field.name.clone())?,
    };
    let id_fields: Vec<IdLike> = schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, field)| {
            field.name != time_field
                && id_field.is_none_or(|id| id == field.name)
                && (id_field.is_some()
                    || matches!(field.field_type, FieldType::String | FieldType::Integer))
        })
        .filter_map(|(i, field)| {
            let mut distinct = HashSet::new();
            let mut rows = 0;
            for value in sample(i) {
                rows += 1;
                distinct.insert(value.to_string());
            }
            let recurs = rows >= 2 && distinct.len() * 2 <= rows;
            (recurs || id_field.is_some()).then(|| IdLike {
                field: field.name.clone(),
                rows,
                distinct: distinct.len(),
            })
        })
        .collect();
    (!id_fields.is_empty()).then_some(PersonalShape {
        time_field,
        id_fields,
    })
}

#[cfg(test)]
mod tests {
    use geo_types::{Point, line_string, point};

    use super::*;
    use crate::model::Field;

    fn madrid() -> FieldRules {
        FieldRules {
            time_field: Some("ts".into()),
            zone: Some((
                "Europe/Madrid".into(),
                TimeZone::get("Europe/Madrid").expect("bundled zone"),
            )),
            id_field: None,
        }
    }

    fn stamp(rules: &FieldRules, text: &str) -> Result<Value, String> {
        let mut values = [Value::String(text.into())];
        let slots = rules.slots(["ts"].into_iter());
        rules.apply(slots, &mut values)?;
        let [value] = values;
        Ok(value)
    }

    #[test]
    fn local_times_are_read_on_the_zone_clock_with_daylight_saving() {
        let rules = madrid();
        let winter = stamp(&rules, "2025-03-03T08:30:00").expect("winter");
        assert_eq!(winter, Value::String("2025-03-03T08:30:00+01:00".into()));
        let summer = stamp(&rules, "2025-07-03 08:30").expect("summer");
        assert_eq!(summer, Value::String("2025-07-03T08:30:00+02:00".into()));
        for value in [winter, summer] {
            let Value::String(text) = value else {
                panic!("text")
            };
            // What analytics reads: RFC 3339 with the local time of day kept.
            let t =
                time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                    .expect("RFC 3339");
            assert_eq!((t.hour(), t.minute()), (8, 30));
        }
        // A time with an offset is left as written, in any zone.
        assert_eq!(
            stamp(&rules, "2025-07-03T08:30:00Z"),
            Ok(Value::String("2025-07-03T08:30:00Z".into()))
        );
        // A bare date is midnight local time.
        assert_eq!(
            stamp(&rules, "2025-03-03"),
            Ok(Value::String("2025-03-03T00:00:00+01:00".into()))
        );
        // Not a time: stored as it is.
        assert_eq!(
            stamp(&rules, "yesterday"),
            Ok(Value::String("yesterday".into()))
        );
    }

    #[test]
    fn daylight_saving_gaps_and_folds_are_rejected_without_the_value() {
        let rules = madrid();
        // 2025-03-30 02:00 → 03:00 and 2025-10-26 03:00 → 02:00 in Madrid.
        let gap = stamp(&rules, "2025-03-30T02:30:00").expect_err("skipped");
        assert!(gap.contains("does not exist in Europe/Madrid"), "{gap}");
        let fold = stamp(&rules, "2025-10-26T02:30:00").expect_err("twice");
        assert!(fold.contains("occurs twice in Europe/Madrid"), "{fold}");
        for reason in [gap, fold] {
            assert!(!reason.contains("02:30"), "{reason}");
        }
    }

    #[test]
    fn without_a_zone_a_local_time_is_rejected() {
        let rules = FieldRules {
            zone: None,
            ..madrid()
        };
        let reason = stamp(&rules, "2025-03-03T08:00:00").expect_err("naive");
        assert!(reason.contains("\"ts\" has no UTC offset"), "{reason}");
        assert!(reason.contains("--timezone"), "{reason}");
        assert!(!reason.contains("08:00"), "{reason}");
        assert!(stamp(&rules, "2025-03-03T08:00:00+01:00").is_ok());
        // Unix seconds are instants.
        let mut values = [Value::Int(1_741_000_000)];
        assert_eq!(
            rules.apply(rules.slots(["ts"].into_iter()), &mut values),
            Ok(())
        );
        assert_eq!(values[0], Value::Int(1_741_000_000));
    }

    #[test]
    fn ids_become_text_that_tells_1_from_1_0() {
        let rules = FieldRules {
            id_field: Some("id".into()),
            ..FieldRules::default()
        };
        let slots = rules.slots(["x", "id"].into_iter());
        let cases = [
            (Value::Int(1), Value::String("1".into())),
            (Value::Float(1.0), Value::String("1.0".into())),
            (Value::Float(0.1), Value::String("0.1".into())),
            (Value::Bool(true), Value::String("true".into())),
            (Value::String("a1".into()), Value::String("a1".into())),
            (Value::Null, Value::Null),
        ];
        for (given, expected) in cases {
            let mut values = [Value::Int(7), given];
            assert_eq!(rules.apply(slots, &mut values), Ok(()));
            assert_eq!(values, [Value::Int(7), expected]);
        }
    }

    fn layer(geometry: &dyn Fn(usize) -> Geometry<f64>, rows: usize) -> (Schema, Vec<Feature>) {
        let schema = Schema {
            fields: vec![
                Field {
                    name: "when".into(),
                    field_type: FieldType::String,
                },
                Field {
                    name: "device".into(),
                    field_type: FieldType::String,
                },
                Field {
                    name: "serial".into(),
                    field_type: FieldType::Integer,
                },
            ],
        };
        let features = (0..rows)
            .map(|i| Feature {
                id: i as u64 + 1,
                geometry: geometry(i),
                properties: vec![
                    Value::String(format!("2025-03-03T08:{:02}:00Z", i % 60)),
                    Value::String(format!("d{}", i % 3)),
                    Value::Int(i64::try_from(i).unwrap_or_default()),
                ],
            })
            .collect();
        (schema, features)
    }

    #[test]
    fn points_with_a_timestamp_and_a_recurring_id_look_personal() {
        let point = |i: usize| Geometry::Point(point!(x: 2.0 + i as f64 / 1000.0, y: 41.0));
        let (schema, features) = layer(&point, 12);
        let shape = personal_shape(&schema, &features, None, None).expect("personal shape");
        assert_eq!(shape.time_field, "when");
        assert_eq!(
            shape.id_fields,
            [IdLike {
                field: "device".into(),
                rows: 12,
                distinct: 3
            }]
        );
        // A declared id field is the one named, even when its values do not recur.
        let shape = personal_shape(&schema, &features, None, Some("serial")).expect("shape");
        assert_eq!(shape.id_fields[0].field, "serial");
        assert_eq!(shape.id_fields.len(), 1);
        // Lines are not points.
        let line = |i: usize| {
            let x = i as f64;
            Geometry::LineString(line_string![(x: x, y: 0.0), (x: x + 1.0, y: 1.0)])
        };
        let (schema, lines) = layer(&line, 12);
        assert_eq!(personal_shape(&schema, &lines, None, None), None);
    }

    #[test]
    fn no_time_or_no_recurring_value_is_not_the_personal_shape() {
        let point = |_: usize| Geometry::Point(Point::new(2.0, 41.0));
        let (mut schema, mut features) = layer(&point, 12);
        // Dates are days, not moments.
        for f in &mut features {
            f.properties[0] = Value::String("2008-05-02".into());
        }
        assert_eq!(personal_shape(&schema, &features, None, None), None);
        // A declared time field counts whatever its values.
        assert!(personal_shape(&schema, &features, Some("when"), None).is_some());
        // Every device distinct: no id-like field (serial is unique too).
        let (_, mut unique) = layer(&point, 12);
        for (i, f) in unique.iter_mut().enumerate() {
            f.properties[1] = Value::String(format!("d{i}"));
        }
        assert_eq!(personal_shape(&schema, &unique, None, None), None);
        // Booleans recur but identify no one.
        schema.fields[1].field_type = FieldType::Boolean;
        let (_, features) = layer(&point, 12);
        assert_eq!(personal_shape(&schema, &features, None, None), None);
    }
}
