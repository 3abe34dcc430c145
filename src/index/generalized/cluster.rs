//! Grid clustering of point layers.
//!
//! The grid is aligned to the zoom's tiles (cells of a power-of-two number of tile
//! units), so every cell, and the cluster point at the mean of its points, lies in
//! exactly one tile: neighbouring tiles never disagree about a cluster, and the
//! counts of the cluster points of a zoom add up to the layer's feature count.

use geo_types::{Coord, Geometry};
use rstar::primitives::GeomWithData;
use rstar::{AABB, RTree};

use super::{ClusterSettings, UNITS_PER_TILE, cell_of};
use crate::index::IndexedLayer;
use crate::model::tile::MercatorRect;
use crate::model::{FieldType, Value};

/// One cluster point: the mean position of the points of a grid cell.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPoint {
    /// MVT feature id: the feature's own id for a cell with one point; otherwise
    /// above every feature id of the layer, numbered in cell order.
    pub id: u64,
    /// Mean of the points, Web Mercator metres.
    pub position: Coord<f64>,
    /// Number of points.
    pub count: u32,
    /// Sum of the chosen numeric field over the points (nulls skipped).
    pub sum: Option<Value>,
    /// Position of the feature, for a cell with one point.
    pub single: Option<u32>,
}

type Entry = GeomWithData<[f64; 2], u32>;

/// The cluster points of one zoom.
#[derive(Debug)]
pub struct Clusters {
    points: Vec<ClusterPoint>,
    tree: RTree<Entry>,
    sum_field: Option<String>,
}

impl Clusters {
    pub(super) fn build(layer: &IndexedLayer, zoom: u8, settings: &ClusterSettings) -> Self {
        let cell = settings.cell.clamp(16, UNITS_PER_TILE);
        // Largest power of two not above `cell`, so cells nest in tiles.
        let cell = 1u32 << (31 - cell.leading_zeros());
        let cells_per_axis = f64::from(UNITS_PER_TILE / cell) * f64::from(1u32 << zoom);
        let sum_field = settings
            .sum_field
            .as_deref()
            .and_then(|name| {
                layer
                    .meta()
                    .schema
                    .fields
                    .iter()
                    .position(|f| f.name == name)
            })
            .filter(|&f| {
                matches!(
                    layer.meta().schema.fields[f].field_type,
                    FieldType::Integer | FieldType::Number
                )
            });
        let mut keyed: Vec<((u64, u64), u32)> = (0..layer.len())
            .filter_map(|i| {
                let Geometry::Point(p) = &layer.mercator(i).0 else {
                    return None;
                };
                Some((cell_of(p.x(), p.y(), cells_per_axis), super::end(i)))
            })
            .collect();
        // Row-major cell order, then feature order: deterministic whatever the input.
        keyed.sort_unstable_by_key(|&((cx, cy), i)| (cy, cx, i));
        let max_id = (0..layer.len()).map(|i| layer.id(i)).max().unwrap_or(0);
        let mut points = Vec::new();
        let mut multi = 0u64;
        for group in keyed.chunk_by(|a, b| a.0 == b.0) {
            let n = group.len();
            let (mut sx, mut sy) = (0.0, 0.0);
            for &(_, i) in group {
                if let Geometry::Point(p) = &layer.mercator(i as usize).0 {
                    sx += p.x();
                    sy += p.y();
                }
            }
            #[expect(
                clippy::cast_precision_loss,
                reason = "point counts are far below 2^52"
            )]
            let position = Coord {
                x: sx / n as f64,
                y: sy / n as f64,
            };
            let single = (n == 1).then(|| group[0].1);
            let id = match single {
                Some(i) => layer.id(i as usize),
                None => {
                    multi += 1;
                    max_id + multi
                }
            };
            points.push(ClusterPoint {
                id,
                position,
                count: super::end(n),
                sum: sum_field.map(|f| sum(layer, f, group.iter().map(|g| g.1 as usize))),
                single,
            });
        }
        let tree = RTree::bulk_load(
            points
                .iter()
                .zip(0u32..)
                .map(|(p, i)| GeomWithData::new([p.position.x, p.position.y], i))
                .collect(),
        );
        Self {
            points,
            tree,
            sum_field: sum_field.map(|f| format!("{}_sum", layer.meta().schema.fields[f].name)),
        }
    }

    /// All cluster points, in cell order.
    #[must_use]
    pub fn points(&self) -> &[ClusterPoint] {
        &self.points
    }

    /// Cluster points inside `rect`, in cell order.
    #[must_use]
    pub fn in_rect(&self, rect: &MercatorRect) -> Vec<&ClusterPoint> {
        let aabb = AABB::from_corners([rect.min_x, rect.min_y], [rect.max_x, rect.max_y]);
        let mut hits: Vec<u32> = self
            .tree
            .locate_in_envelope(&aabb)
            .map(|e| e.data)
            .collect();
        hits.sort_unstable();
        hits.iter().map(|&i| &self.points[i as usize]).collect()
    }

    /// Name of the summed property (`{field}_sum`), when a field is summed.
    #[must_use]
    pub fn sum_property(&self) -> Option<&str> {
        self.sum_field.as_deref()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.points.capacity() * size_of::<ClusterPoint>()
            + self.tree.size() * (size_of::<Entry>() + 16)
    }
}

/// Sum of field `field` over `rows`: an integer for integer fields.
fn sum(layer: &IndexedLayer, field: usize, rows: impl Iterator<Item = usize>) -> Value {
    let props = layer.properties();
    let integer = layer.meta().schema.fields[field].field_type == FieldType::Integer;
    let (mut int, mut float) = (0i64, 0.0f64);
    for row in rows {
        match props.value(props.value_id(row, field)) {
            Value::Int(v) => int = int.saturating_add(*v),
            Value::Float(v) => float += v,
            _ => {}
        }
    }
    if integer {
        Value::Int(int)
    } else {
        #[expect(clippy::cast_precision_loss, reason = "integers in a number column")]
        Value::Float(float + int as f64)
    }
}
