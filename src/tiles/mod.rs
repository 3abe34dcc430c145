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
mod pbf;

use foldhash::{HashMap, HashMapExt as _};

use crate::index::{IndexedLayer, NULL_VALUE};
use crate::model::TileId;
use crate::model::tile::MercatorRect;
use clip::ClipBox;
use encode::{GeometryWriter, TileTransform};
use pbf::LayerWriter;

/// Tile coordinate extent (MVT default).
pub const EXTENT: u32 = 4096;
/// Pixels of geometry kept beyond each tile edge, in tile coordinates.
pub const BUFFER: u32 = 64;

/// Renders `layers` into one MVT tile (one MVT layer per input layer). Returns `None`
/// when no layer has a feature in the tile.
#[must_use]
pub fn render_tile(layers: &[&IndexedLayer], tile: TileId) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for layer in layers {
        render_layer(layer, tile, &mut out);
    }
    (!out.is_empty()).then_some(out)
}

/// Appends one layer's part of a tile to `out` (an encoded `Tile` message); appends
/// nothing when the layer has no feature there. Returns the number of features written.
pub fn render_layer(layer: &IndexedLayer, tile: TileId, out: &mut Vec<u8>) -> usize {
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
    let mut tags = TagTable::new(layer, hits.len());
    let mut geometry = GeometryWriter::default();
    let mut writer = LayerWriter::default();
    for i in hits {
        let needs_clip = !inside(layer.envelope(i), &search);
        let Some(kind) = geometry.encode(&layer.mercator(i).0, &transform, clip_box, needs_clip)
        else {
            continue;
        };
        let feature_tags = tags.feature_tags(layer, i);
        writer.feature(layer.id(i), feature_tags, kind as u32, geometry.commands());
    }
    let written = writer.len();
    if written > 0 {
        let fields = &layer.meta().schema.fields;
        writer.finish_into(
            out,
            layer.meta().name.as_str(),
            tags.keys.iter().map(|&f| fields[f].name.as_str()),
            tags.values.iter().map(|&id| layer.properties().value(id)),
            EXTENT,
        );
    }
    written
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
    scratch: Vec<u32>,
}

impl TagTable {
    fn new(layer: &IndexedLayer, features: usize) -> Self {
        Self {
            key_of_field: vec![None; layer.meta().schema.fields.len()],
            keys: Vec::new(),
            value_index: HashMap::with_capacity(features * 2),
            values: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The tag pairs of one feature, valid until the next call.
    fn feature_tags(&mut self, layer: &IndexedLayer, row: usize) -> &[u32] {
        let ids = layer.properties().row(row);
        let mut tags = std::mem::take(&mut self.scratch);
        tags.clear();
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
        self.scratch = tags;
        &self.scratch
    }
}

fn index_u32(i: usize) -> u32 {
    // Tile-local tables are bounded by the features of one tile.
    u32::try_from(i).unwrap_or(u32::MAX)
}
