//! The TileJSON 3.0.0 description of the MVT layers [`super::render_tile_with`]
//! writes, shared by the `GET /tiles/{layers}` document and the metadata of exported
//! archives, so a client sees the same `vector_layers` wherever the tiles come from.
//!
//! May import: `model`, `index`.

use std::ops::RangeInclusive;

use serde_json::{Value, json};

use crate::index::IndexedLayer;
use crate::model::FieldType;

/// The `vector_layers` entry of one layer: its MVT layer id (the layer name), a
/// description, the zooms it is offered at and the type of each property its tiles
/// carry.
#[must_use]
pub fn vector_layer(layer: &IndexedLayer, zooms: RangeInclusive<u8>) -> Value {
    let meta = layer.meta();
    let fields: serde_json::Map<String, Value> = meta
        .schema
        .fields
        .iter()
        .enumerate()
        .filter(|&(i, _)| layer.tile_field(i))
        .map(|(_, f)| (f.name.clone(), json!(field_type(f.field_type))))
        .collect();
    json!({
        "id": meta.name,
        "description": meta.description.clone().unwrap_or_else(|| meta.title.clone()),
        "minzoom": zooms.start(),
        "maxzoom": zooms.end(),
        "fields": fields,
    })
}

/// TileJSON names the three MVT value kinds a property can arrive as.
fn field_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Boolean => "Boolean",
        FieldType::Integer | FieldType::Number => "Number",
        FieldType::String => "String",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, LayerMeta, LayerName, Schema};

    #[test]
    fn describes_fields_and_zooms() {
        let schema = Schema {
            fields: vec![
                Field {
                    name: "area".into(),
                    field_type: FieldType::Integer,
                },
                Field {
                    name: "use".into(),
                    field_type: FieldType::String,
                },
            ],
        };
        let name = LayerName::new("parcels").expect("valid name");
        let mut indexed = IndexedLayer::new(LayerMeta::in_memory(name, schema, 0), Vec::new());
        let layer = vector_layer(&indexed, 10..=14);
        assert_eq!(layer["id"], "parcels");
        assert_eq!(layer["description"], "parcels");
        assert_eq!(
            (layer["minzoom"].as_u64(), layer["maxzoom"].as_u64()),
            (Some(10), Some(14))
        );
        assert_eq!(layer["fields"], json!({"area": "Number", "use": "String"}));
        // Only the properties tiles carry are described.
        indexed.set_tile_properties(&["use".to_owned()]);
        let layer = vector_layer(&indexed, 10..=14);
        assert_eq!(layer["fields"], json!({"use": "String"}));
    }
}
