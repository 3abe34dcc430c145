//! Mapbox Vector Tiles (MVT 2.1) rendered on the fly from indexed layers.
//!
//! Per tile and layer: search the R-tree with the buffered tile box, then for each hit
//! transform to tile pixels, clip to the buffer (only when the feature's envelope
//! crosses it), quantize, drop what collapsed, and encode. Property values are mapped
//! from the layer's dictionary to tile-local indices, so each distinct value is
//! written once per tile.
//!
//! May import: `model`, `index`.

pub mod clip;
pub mod encode;

use std::collections::HashMap;

use geozero::mvt::{Message as _, Tile, tile};

use crate::index::{IndexedLayer, NULL_VALUE};
use crate::model::tile::MercatorRect;
use crate::model::{TileId, Value};
use clip::ClipBox;
use encode::TileTransform;

/// Tile coordinate extent (MVT default).
pub const EXTENT: u32 = 4096;
/// Pixels of geometry kept beyond each tile edge, in tile coordinates.
pub const BUFFER: u32 = 64;

/// Renders `layers` into one MVT tile (one MVT layer per input layer). Returns `None`
/// when no layer has a feature in the tile.
#[must_use]
pub fn render_tile(layers: &[&IndexedLayer], tile: TileId) -> Option<Vec<u8>> {
    let mvt_layers: Vec<tile::Layer> = layers
        .iter()
        .filter_map(|layer| render_layer(layer, tile))
        .collect();
    if mvt_layers.is_empty() {
        return None;
    }
    Some(Tile { layers: mvt_layers }.encode_to_vec())
}

/// Renders one layer's part of a tile, `None` when it has no feature there.
#[must_use]
pub fn render_layer(layer: &IndexedLayer, tile: TileId) -> Option<tile::Layer> {
    let bounds = tile.mercator_bounds();
    let pad = tile.width_m() * f64::from(BUFFER) / f64::from(EXTENT);
    let search = MercatorRect {
        min_x: bounds.min_x - pad,
        min_y: bounds.min_y - pad,
        max_x: bounds.max_x + pad,
        max_y: bounds.max_y + pad,
    };
    let transform = TileTransform::new(&bounds, EXTENT);
    let clip_box = ClipBox {
        min: -f64::from(BUFFER),
        max: f64::from(EXTENT + BUFFER),
    };
    let mut hits: Vec<usize> = layer.in_mercator_rect(&search).collect();
    // Ascending ids give deterministic tiles whatever the tree's traversal order.
    hits.sort_unstable();
    let mut tags = TagTable::new(layer);
    let mut features = Vec::with_capacity(hits.len());
    for i in hits {
        let needs_clip = !inside(layer.envelope(i), &search);
        let Some((kind, geometry)) =
            encode::encode(&layer.mercator(i).0, &transform, clip_box, needs_clip)
        else {
            continue;
        };
        features.push(tile::Feature {
            id: Some(layer.id(i)),
            tags: tags.feature_tags(layer, i),
            r#type: Some(kind as i32),
            geometry,
        });
    }
    if features.is_empty() {
        return None;
    }
    let (keys, values) = tags.finish(layer);
    Some(tile::Layer {
        version: 2,
        name: layer.meta().name.to_string(),
        features,
        keys,
        values,
        extent: Some(EXTENT),
    })
}

fn inside(inner: &MercatorRect, outer: &MercatorRect) -> bool {
    inner.min_x >= outer.min_x
        && inner.max_x <= outer.max_x
        && inner.min_y >= outer.min_y
        && inner.max_y <= outer.max_y
}

/// Tile-local key and value tables.
struct TagTable {
    /// Per schema field, its key index once used.
    key_of_field: Vec<Option<u32>>,
    keys: Vec<usize>,
    /// Dictionary value id to tile-local value index.
    value_index: HashMap<u32, u32>,
    values: Vec<u32>,
}

impl TagTable {
    fn new(layer: &IndexedLayer) -> Self {
        Self {
            key_of_field: vec![None; layer.meta().schema.fields.len()],
            keys: Vec::new(),
            value_index: HashMap::new(),
            values: Vec::new(),
        }
    }

    fn feature_tags(&mut self, layer: &IndexedLayer, row: usize) -> Vec<u32> {
        let ids = layer.properties().row(row);
        let mut tags = Vec::with_capacity(ids.len() * 2);
        for (field, &value_id) in ids.iter().enumerate() {
            if value_id == NULL_VALUE {
                continue;
            }
            let key = *self.key_of_field[field].get_or_insert_with(|| {
                self.keys.push(field);
                index_u32(self.keys.len() - 1)
            });
            let next = index_u32(self.values.len());
            let value = *self.value_index.entry(value_id).or_insert(next);
            if value == next {
                self.values.push(value_id);
            }
            tags.push(key);
            tags.push(value);
        }
        tags
    }

    fn finish(self, layer: &IndexedLayer) -> (Vec<String>, Vec<tile::Value>) {
        let fields = &layer.meta().schema.fields;
        let keys = self.keys.iter().map(|&f| fields[f].name.clone()).collect();
        let values = self
            .values
            .iter()
            .map(|&id| mvt_value(layer.properties().value(id)))
            .collect();
        (keys, values)
    }
}

fn index_u32(i: usize) -> u32 {
    // Tile-local tables are bounded by the features of one tile.
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The MVT value for a property value (nulls are never encoded: the tag is omitted).
fn mvt_value(v: &Value) -> tile::Value {
    let mut out = tile::Value::default();
    match v {
        Value::Null => {}
        Value::Bool(b) => out.bool_value = Some(*b),
        Value::Int(i) => out.int_value = Some(*i),
        Value::Float(f) => out.double_value = Some(*f),
        Value::String(s) => out.string_value = Some(s.clone()),
    }
    out
}
