//! The accumulation of a layer during ingest: accepted features, their schema and the
//! quality report, built feature by feature from a reader's output.
//!
//! Several builders can read parts of one file on different threads and be joined in
//! file order ([`LayerBuilder::append`]) with the result one builder would give.
//!
//! May import: `model`, `crs`, `geometry_check`, `ingest::read`, `ingest::fields`.

use std::collections::HashMap;
use std::sync::Arc;

use geo::BoundingRect as _;

use super::fields::{FieldRules, Slots};
use super::read::{PropertyNames, RawFeature, ReadError};
use crate::crs::ToWgs84;
use crate::geometry_check::{self, Checked, Fix};
use crate::model::quality::{MAX_LISTED_ISSUES, SourcePosition};
use crate::model::{Bbox, Feature, Field, FieldType, QualityReport, Schema, Value};

/// What a builder ends with: the schema, the features with their values typed and in
/// schema order, and the report.
pub(super) type Built = (Schema, Vec<Feature>, QualityReport);

/// How many recent lists of property names the builder remembers the fields of.
const RECENT_LAYOUTS: usize = 8;

/// Accumulates accepted features, the schema and the report.
#[derive(Default)]
pub(super) struct LayerBuilder {
    fields: Vec<Field>,
    /// Fields seen so far only with null values; their type is still open.
    untyped: Vec<usize>,
    field_index: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Layouts: for each list of property names met, the field of each of its values.
    layouts: Vec<Vec<usize>>,
    /// Recently met lists of property names and their layout, most recent first.
    /// Readers share one list between features with the same names, so matching a
    /// feature's names to fields is mostly one pointer comparison, not a string
    /// comparison or hash per property.
    recent: Vec<(PropertyNames, usize)>,
    /// Accepted features, their properties still as read: untyped, in the order of
    /// their layout. [`Self::finish`] puts them in schema order in place.
    accepted: Vec<Feature>,
    /// The layout of each accepted feature's properties.
    layout_of: Vec<usize>,
    pub(super) report: QualityReport,
    /// The rules of the catalog's time and id fields.
    rules: Arc<FieldRules>,
    /// The last list of property names met and where the rules' fields are in it.
    rule_slots: Option<(PropertyNames, Slots)>,
}

impl LayerBuilder {
    /// A builder that applies `rules` to each feature's time and id values.
    pub(super) fn new(rules: Arc<FieldRules>) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// Checks `raw` and keeps it, or records why not.
    pub(super) fn add(&mut self, raw: RawFeature, to_wgs84: &ToWgs84) {
        self.report.features_read += 1;
        let at = raw.at;
        let Some(mut geometry) = raw.geometry else {
            self.report.reject(at, "feature has no geometry");
            return;
        };
        if let Err(e) = to_wgs84.transform_geometry(&mut geometry) {
            self.report.reject(at, format!("cannot reproject: {e}"));
            return;
        }
        let Checked { geometry, fixes } = match geometry_check::check(geometry) {
            Ok(checked) => checked,
            Err(rejected) => {
                self.report.reject(at, rejected.to_string());
                return;
            }
        };
        let (names, mut values) = raw.properties.into_parts();
        if !self.rules.is_empty() {
            let slots = self.rule_slots(&names);
            if let Err(reason) = self.rules.apply(slots, &mut values) {
                self.report.reject(at, reason);
                return;
            }
        }
        // Reorienting rings to RFC 7946 is routine normalisation, not a repair.
        let repairs: Vec<String> = fixes
            .iter()
            .filter(|f| !matches!(f, Fix::ReorientedRings))
            .map(ToString::to_string)
            .collect();
        if !repairs.is_empty() {
            self.report.repaired(at, repairs.join("; "));
        }
        let layout = self.layout(&names, &values);
        self.accepted.push(Feature {
            id: at.feature,
            geometry,
            properties: values,
        });
        self.layout_of.push(layout);
    }

    /// Where the rules' fields are among properties `names`; readers share one list
    /// between features, so this is mostly one pointer comparison.
    fn rule_slots(&mut self, names: &PropertyNames) -> Slots {
        if let Some((last, slots)) = &self.rule_slots
            && last.same_list(names)
        {
            return *slots;
        }
        let slots = self
            .rules
            .slots(names.as_slice().iter().map(super::read::Name::as_str));
        self.rule_slots = Some((names.clone(), slots));
        slots
    }

    /// Records a feature the reader could not read.
    pub(super) fn reject_unreadable(&mut self, e: &ReadError) {
        self.report.features_read += 1;
        let at = e.position().unwrap_or(SourcePosition {
            feature: self.report.features_read,
            line: None,
        });
        self.report.reject(at, e.to_string());
    }

    /// The layout of properties `names`, widening the fields' types to hold `values`.
    fn layout(&mut self, names: &PropertyNames, values: &[Value]) -> usize {
        if let Some(i) = self.recent.iter().position(|(n, _)| n.same_list(names)) {
            let layout = self.recent[i].1;
            self.recent[..=i].rotate_right(1);
            for (&field, value) in self.layouts[layout].iter().zip(values) {
                widen(
                    &mut self.fields,
                    &mut self.untyped,
                    field,
                    value.field_type(),
                );
            }
            return layout;
        }
        let fields = names
            .as_slice()
            .iter()
            .zip(values)
            .map(|(name, value)| self.field(name.as_str(), value))
            .collect();
        self.layouts.push(fields);
        let layout = self.layouts.len() - 1;
        self.recent.truncate(RECENT_LAYOUTS - 1);
        self.recent.insert(0, (names.clone(), layout));
        layout
    }

    /// The index of field `name`, widening its type to hold `value`.
    fn field(&mut self, name: &str, value: &Value) -> usize {
        if let Some(&index) = self.field_index.get(name) {
            widen(
                &mut self.fields,
                &mut self.untyped,
                index,
                value.field_type(),
            );
            return index;
        }
        let index = self.fields.len();
        self.fields.push(Field {
            name: name.to_owned(),
            field_type: value.field_type().unwrap_or(FieldType::String),
        });
        self.field_index.insert(name.to_owned(), index);
        // A column that starts with nulls takes the type of its first value.
        if value.is_null() {
            self.untyped.push(index);
        }
        index
    }

    /// Appends what `other` built from the part of the file that follows this one's.
    ///
    /// `other` numbered its features from 1; they are renumbered to follow these. The
    /// result is what one builder reading both parts in turn would hold: fields in the
    /// order first met, and types that do not depend on the order values come in (a
    /// type only widens, and nulls leave it open).
    pub(super) fn append(&mut self, other: LayerBuilder) {
        let LayerBuilder {
            fields,
            untyped,
            layouts,
            accepted,
            layout_of,
            report,
            ..
        } = other;
        let before = self.report.features_read;
        let to_self: Vec<usize> = fields
            .into_iter()
            .enumerate()
            .map(|(j, field)| {
                let t = (!untyped.contains(&j)).then_some(field.field_type);
                if let Some(&i) = self.field_index.get(&field.name) {
                    widen(&mut self.fields, &mut self.untyped, i, t);
                    return i;
                }
                let i = self.fields.len();
                if t.is_none() {
                    self.untyped.push(i);
                }
                self.field_index.insert(field.name.clone(), i);
                self.fields.push(field);
                i
            })
            .collect();
        let offset = self.layouts.len();
        self.layouts.extend(
            layouts
                .into_iter()
                .map(|layout| layout.into_iter().map(|j| to_self[j]).collect()),
        );
        self.layout_of
            .extend(layout_of.into_iter().map(|layout| layout + offset));
        self.accepted
            .extend(accepted.into_iter().map(|mut feature| {
                feature.id += before;
                feature
            }));
        let ours = &mut self.report;
        ours.features_read += report.features_read;
        ours.features_repaired += report.features_repaired;
        ours.features_rejected += report.features_rejected;
        for mut rejection in report.rejections {
            if ours.rejections.len() < MAX_LISTED_ISSUES {
                rejection.at.feature += before;
                ours.rejections.push(rejection);
            }
        }
        for mut repair in report.repairs {
            if ours.repairs.len() < MAX_LISTED_ISSUES {
                repair.at.feature += before;
                ours.repairs.push(repair);
            }
        }
    }

    /// The schema, the features with their values typed and in schema order, and the
    /// report.
    pub(super) fn finish(self) -> Built {
        let Self {
            fields,
            layouts,
            mut accepted,
            layout_of,
            mut report,
            ..
        } = self;
        let schema = Schema { fields };
        let count = schema.fields.len();
        // A layout that holds every field in schema order lets values be typed where
        // they are, without a new vector per feature.
        let in_order: Vec<bool> = layouts
            .iter()
            .map(|l| l.len() == count && l.iter().enumerate().all(|(i, &f)| i == f))
            .collect();
        let mut missing = vec![0u64; count];
        let mut bbox = Bbox::empty();
        for (feature, &layout) in accepted.iter_mut().zip(&layout_of) {
            if in_order[layout] {
                for (value, field) in feature.properties.iter_mut().zip(&schema.fields) {
                    *value = coerce(std::mem::take(value), field.field_type);
                }
            } else {
                let mut properties = vec![Value::Null; count];
                let values = std::mem::take(&mut feature.properties);
                for (&i, value) in layouts[layout].iter().zip(values) {
                    properties[i] = coerce(value, schema.fields[i].field_type);
                }
                feature.properties = properties;
            }
            for (count, value) in missing.iter_mut().zip(&feature.properties) {
                *count += u64::from(value.is_null());
            }
            if let Some(r) = feature.geometry.bounding_rect() {
                bbox.extend(&Bbox::from(r));
            }
        }
        report.features_accepted = accepted.len() as u64;
        report.bbox = (!bbox.is_empty()).then_some(bbox);
        for (field, count) in schema.fields.iter().zip(missing) {
            report.missing_values.insert(field.name.clone(), count);
            report
                .field_types
                .insert(field.name.clone(), field.field_type);
        }
        (schema, accepted, report)
    }
}

/// Widens the type of field `index` to hold values of type `t` (`None` for null);
/// `untyped` lists the fields seen only with nulls so far.
fn widen(fields: &mut [Field], untyped: &mut Vec<usize>, index: usize, t: Option<FieldType>) {
    if let Some(t) = t {
        let field = &mut fields[index];
        field.field_type = if let Some(pos) = untyped.iter().position(|&u| u == index) {
            untyped.swap_remove(pos);
            t
        } else {
            field.field_type.merge(t)
        };
    }
}

/// `value` as a value of type `to`, null when it cannot be one.
fn coerce(value: Value, to: FieldType) -> Value {
    if value.is_null() || value.field_type() == Some(to) {
        value
    } else {
        value.coerce(to).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use geo_types::{Geometry, point};

    use super::*;
    use crate::crs::Crs;
    use crate::ingest::read::Properties;

    /// Features with columns that come and go, change type, start as nulls, and some
    /// without geometry or unreadable.
    fn items() -> Vec<Result<RawFeature, ReadError>> {
        let values = [
            Value::Null,
            Value::Int(1),
            Value::Float(2.5),
            Value::Bool(true),
            Value::String("x".into()),
        ];
        (1..=40_u64)
            .map(|n| {
                let at = SourcePosition {
                    feature: n,
                    line: Some(n + 1),
                };
                if n % 13 == 0 {
                    return Err(ReadError::feature(
                        std::path::Path::new("f"),
                        at,
                        "unreadable",
                    ));
                }
                let pick = |k: u64| values[usize::try_from((n * k) % 5).unwrap_or(0)].clone();
                let mut pairs = vec![("a".to_owned(), if n < 20 { Value::Null } else { pick(3) })];
                if n % 3 != 0 {
                    pairs.push(("b".to_owned(), pick(7)));
                }
                if n > 10 {
                    pairs.insert(0, (format!("c{}", n % 4), Value::Int(1)));
                }
                if n > 30 {
                    pairs.push(("late".to_owned(), Value::Null));
                }
                let x = f64::from(u32::try_from(n).unwrap_or(0));
                Ok(RawFeature {
                    at,
                    geometry: (n % 7 != 0).then(|| Geometry::Point(point!(x: x, y: 1.0))),
                    properties: Properties::from_pairs(pairs),
                })
            })
            .collect()
    }

    fn build(items: Vec<Result<RawFeature, ReadError>>) -> LayerBuilder {
        let to_wgs84 = ToWgs84::new(&Crs::wgs84()).expect("identity");
        let mut builder = LayerBuilder::default();
        for item in items {
            match item {
                Ok(raw) => builder.add(raw, &to_wgs84),
                Err(e) => builder.reject_unreadable(&e),
            }
        }
        builder
    }

    /// The items of a later part as its own reader numbers them: from 1.
    fn renumbered(
        items: &[Result<RawFeature, ReadError>],
        before: u64,
    ) -> Vec<Result<RawFeature, ReadError>> {
        items
            .iter()
            .map(|item| match item {
                Ok(raw) => {
                    let mut raw = raw.clone();
                    raw.at.feature -= before;
                    Ok(raw)
                }
                Err(e) => {
                    let mut at = e.position().expect("position");
                    at.feature -= before;
                    Err(ReadError::feature(e.path(), at, "unreadable"))
                }
            })
            .collect()
    }

    #[test]
    fn parts_appended_give_what_one_builder_gives() {
        let whole = build(items()).finish();
        for split in [0, 1, 5, 10, 19, 20, 26, 39, 40] {
            let mut all = items();
            let second = all.split_off(split);
            let mut first = build(all);
            first.append(build(renumbered(&second, split as u64)));
            let joined = first.finish();
            assert_eq!(joined.0, whole.0, "schema, split at {split}");
            assert_eq!(joined.1, whole.1, "features, split at {split}");
            assert_eq!(joined.2, whole.2, "report, split at {split}");
        }
        assert!(whole.2.features_rejected > 0 && whole.0.fields.len() > 4);
    }
}
