//! FlatGeobuf encoding of a layer version's features.
//!
//! Features are written with FlatGeobuf's packed Hilbert R-tree, which reorders them;
//! the feature id travels in a hidden column, [`FID_COLUMN`], so that reading restores
//! the ingest order and ids.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;

use flatgeobuf::{
    ColumnType, FallibleStreamingIterator as _, FgbCrs, FgbReader, FgbWriter, FgbWriterOptions,
    GeometryType,
};
use geozero::{ColumnValue, PropertyProcessor, ToGeo as _};

use super::{Result, StoreError, io_err};
use crate::model::{Feature, FieldType, LayerMeta, Schema, Value};

/// Name of the column that stores the feature id.
pub const FID_COLUMN: &str = "__tessera_fid";

fn fgb_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::FlatGeobuf {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// The FlatGeobuf geometry type that holds every feature, and whether single
/// geometries must be promoted to multi ones.
fn dataset_type(features: &[Feature]) -> (GeometryType, bool) {
    use geo_types::Geometry as G;
    let kind = |g: &G<f64>| match g {
        G::Point(_) => GeometryType::Point,
        G::MultiPoint(_) => GeometryType::MultiPoint,
        G::LineString(_) | G::Line(_) => GeometryType::LineString,
        G::MultiLineString(_) => GeometryType::MultiLineString,
        G::Polygon(_) | G::Rect(_) | G::Triangle(_) => GeometryType::Polygon,
        G::MultiPolygon(_) => GeometryType::MultiPolygon,
        G::GeometryCollection(_) => GeometryType::GeometryCollection,
    };
    let mut types = features.iter().map(|f| kind(&f.geometry));
    let Some(first) = types.next() else {
        return (GeometryType::Unknown, false);
    };
    let (mut all_same, mut only_polygonal, mut only_lineal) = (true, true, true);
    for t in std::iter::once(first).chain(types) {
        all_same &= t == first;
        only_polygonal &= matches!(t, GeometryType::Polygon | GeometryType::MultiPolygon);
        only_lineal &= matches!(t, GeometryType::LineString | GeometryType::MultiLineString);
    }
    if all_same {
        (first, false)
    } else if only_polygonal {
        (GeometryType::MultiPolygon, true)
    } else if only_lineal {
        (GeometryType::MultiLineString, true)
    } else {
        (GeometryType::Unknown, false)
    }
}

fn column_type(t: FieldType) -> ColumnType {
    match t {
        FieldType::Boolean => ColumnType::Bool,
        FieldType::Integer => ColumnType::Long,
        FieldType::Number => ColumnType::Double,
        FieldType::String => ColumnType::String,
    }
}

/// Writes features (WGS84) to a FlatGeobuf file with a spatial index, synced to disk.
pub(super) fn write_features(path: &Path, meta: &LayerMeta, features: &[Feature]) -> Result<()> {
    let (geometry_type, promote_to_multi) = dataset_type(features);
    let options = FgbWriterOptions {
        write_index: true,
        detect_type: false,
        promote_to_multi,
        crs: FgbCrs {
            org: Some("EPSG"),
            code: 4326,
            ..Default::default()
        },
        title: Some(&meta.title),
        ..Default::default()
    };
    let mut writer = FgbWriter::create_with_options(meta.name.as_str(), geometry_type, options)
        .map_err(|e| fgb_err(path, e))?;
    for field in &meta.schema.fields {
        writer.add_column(&field.name, column_type(field.field_type), |_, col| {
            col.nullable = true;
        });
    }
    let fid_index = meta.schema.fields.len();
    writer.add_column(FID_COLUMN, ColumnType::ULong, |_, col| col.nullable = false);
    for feature in features {
        writer
            .add_feature_geom(feature.geometry.clone(), |out| {
                write_properties(out, &meta.schema, feature, fid_index);
            })
            .map_err(|e| fgb_err(path, e))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    let mut out = BufWriter::new(file);
    writer.write(&mut out).map_err(|e| fgb_err(path, e))?;
    out.flush().map_err(io_err(path))?;
    out.into_inner()
        .map_err(|e| io_err(path)(e.into_error()))?
        .sync_all()
        .map_err(io_err(path))
}

fn write_properties(
    out: &mut impl PropertyProcessor,
    schema: &Schema,
    feature: &Feature,
    fid_index: usize,
) {
    for (i, (field, value)) in schema.fields.iter().zip(&feature.properties).enumerate() {
        let column_value = match value {
            Value::Null => continue,
            Value::Bool(b) => ColumnValue::Bool(*b),
            Value::Int(n) => ColumnValue::Long(*n),
            Value::Float(x) => ColumnValue::Double(*x),
            Value::String(s) => ColumnValue::String(s),
        };
        // The feature writer only buffers bytes; it cannot fail.
        let _ = out.property(i, &field.name, &column_value);
    }
    let _ = out.property(fid_index, FID_COLUMN, &ColumnValue::ULong(feature.id));
}

/// Collects one feature's properties from FlatGeobuf columns.
struct PropertyCollector<'a> {
    schema: &'a Schema,
    values: Vec<Value>,
    fid: Option<u64>,
}

impl PropertyProcessor for PropertyCollector<'_> {
    fn property(&mut self, i: usize, name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        if name == FID_COLUMN {
            if let ColumnValue::ULong(fid) = v {
                self.fid = Some(*fid);
            }
            return Ok(false);
        }
        let value = match v {
            ColumnValue::Bool(b) => Value::Bool(*b),
            ColumnValue::Long(n) => Value::Int(*n),
            ColumnValue::Double(x) => Value::Float(*x),
            ColumnValue::String(s) => Value::String((*s).to_owned()),
            _ => Value::Null,
        };
        if let Some(slot) = self.values.get_mut(i)
            && self.schema.fields.get(i).is_some_and(|f| f.name == name)
        {
            *slot = value;
        }
        Ok(false)
    }
}

/// Reads every feature of a version, sorted by id.
pub(super) fn read_features(path: &Path, schema: &Schema) -> Result<Vec<Feature>> {
    let file = File::open(path).map_err(io_err(path))?;
    let reader = FgbReader::open(BufReader::new(file)).map_err(|e| fgb_err(path, e))?;
    let count = reader.header().features_count();
    let mut iter = reader.select_all_seq().map_err(|e| fgb_err(path, e))?;
    // The count comes from a file we wrote, but cap the reservation anyway.
    let mut features = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 24));
    while let Some(fgb_feature) = iter.next().map_err(|e| fgb_err(path, e))? {
        let geometry = fgb_feature.to_geo().map_err(|e| fgb_err(path, e))?;
        let mut collector = PropertyCollector {
            schema,
            values: vec![Value::Null; schema.fields.len()],
            fid: None,
        };
        geozero::FeatureProperties::process_properties(fgb_feature, &mut collector)
            .map_err(|e| fgb_err(path, e))?;
        let id = collector
            .fid
            .ok_or_else(|| fgb_err(path, format!("feature without {FID_COLUMN}")))?;
        features.push(Feature {
            id,
            geometry,
            properties: collector.values,
        });
    }
    features.sort_unstable_by_key(|f| f.id);
    Ok(features)
}
