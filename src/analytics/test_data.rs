//! Hand-made layers shared by the analytics tests.
//!
//! May import: `index`, `model`.

use geo_types::{Geometry, Polygon, point, polygon};

use crate::index::IndexedLayer;
use crate::model::{Feature, Field, FieldType, LayerMeta, LayerName, Schema, Sensitivity, Value};

/// A layer with the given schema.
pub(crate) fn layer_with(
    name: &str,
    fields: &[(&str, FieldType)],
    features: Vec<Feature>,
) -> IndexedLayer {
    let schema = Schema {
        fields: fields
            .iter()
            .map(|(n, t)| Field {
                name: (*n).into(),
                field_type: *t,
            })
            .collect(),
    };
    let mut meta = LayerMeta::in_memory(
        LayerName::new(name).expect("name"),
        schema,
        features.len() as u64,
    );
    meta.version = 1;
    meta.sensitivity = Sensitivity::Personal;
    IndexedLayer::new(meta, features)
}

/// A ping layer: fields `ts` (text), `device` (text), `speed` (number).
pub(crate) fn layer_of(features: Vec<Feature>) -> IndexedLayer {
    layer_with(
        "pings",
        &[
            ("ts", FieldType::String),
            ("device", FieldType::String),
            ("speed", FieldType::Number),
        ],
        features,
    )
}

/// One ping at `(lon, lat)`.
pub(crate) fn ping(
    id: u64,
    (lon, lat): (f64, f64),
    ts: Option<&str>,
    device: &str,
    speed: Option<f64>,
) -> Feature {
    Feature {
        id,
        geometry: Geometry::Point(point!(x: lon, y: lat)),
        properties: vec![
            ts.map_or(Value::Null, |t| Value::String(t.into())),
            Value::String(device.into()),
            speed.map_or(Value::Null, Value::Float),
        ],
    }
}

/// An axis-aligned lon/lat rectangle polygon.
pub(crate) fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)]
}

/// A zones layer: field `name` (text), one feature per geometry.
pub(crate) fn zones_of(geometries: Vec<Geometry<f64>>) -> IndexedLayer {
    layer_with(
        "zones",
        &[("name", FieldType::String)],
        geometries
            .into_iter()
            .zip(1u64..)
            .map(|(geometry, id)| Feature {
                id,
                geometry,
                properties: vec![Value::String(format!("z{id}"))],
            })
            .collect(),
    )
}
