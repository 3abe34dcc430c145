//! Thinning plans: for one zoom and one budget, which features every tile of that zoom
//! keeps, decided once for the whole zoom so that neighbouring tiles agree.
//!
//! Like tippecanoe's `--drop-densest-as-needed`, the densest areas lose features first:
//! each feature has a density rank at the zoom (a stable hash of its id in `(0, 1]`
//! times the number of features in its density cell, see `index::generalized`), and
//! a tile keeps the features whose rank is below the zoom's threshold. The threshold
//! is the highest one under which every tile of the zoom fits the budget. To find it,
//! each feature's encoded size is bounded from its generalized geometry quantized to
//! the zoom's pixel grid (deltas between vertices do not depend on the tile), each
//! tile's features are taken in rank order while their bytes (with the tile's key and
//! value tables) fit, and the threshold is the smallest rank that did not fit in any
//! tile. The renderer still checks every feature against the budget and stops a tile
//! that would overflow (`truncated` in the report); the bound makes that a safety net.
//!
//! Clustered zooms of point layers cannot drop points (cluster counts must add up to
//! the layer's feature count): if their tiles would exceed the budget, single points
//! become clusters of one, without their properties.
//!
//! May import: `model`, `index`.

use foldhash::{HashSet, HashSetExt as _};
use geo_types::{Coord, Geometry};

use super::pbf::{field_len, layer_fixed_len, value_field_len, varint_len};
use super::{BUFFER, EXTENT};
use crate::index::generalized::{Clusters, ShapeKind, Shown, ThinPlan};
use crate::index::{Band, IndexedLayer, TileBudget};
use crate::model::tile::MERCATOR_HALF_EXTENT_M;

/// A feature whose buffered envelope covers more tiles than this is counted only in
/// the tile of its centre: enumerating every tile a country-sized polygon covers at
/// z16 would cost more than rendering, and such features are few.
const MAX_TILES_PER_FEATURE: u64 = 16;
/// Bytes allowed per ring for the vertices clipping can add where a feature crosses
/// the buffer's edge (Sutherland–Hodgman adds at most one vertex per crossing edge).
const CLIP_ALLOWANCE: usize = 4 * 4;
/// Feature message overhead beyond id and geometry: field key and length (≤ 3 bytes
/// for features under 2 MB), id key, tags key and length, type key and value.
const FEATURE_OVERHEAD: usize = 1 + 3 + 1 + 1 + 3 + 2;
/// A delta between two points of one tile: coordinates lie within the buffer, so a
/// zigzagged delta is below 2^14: two varint bytes.
const MAX_DELTA_BYTES: usize = 2;

/// The plan of `band` (of `layer`) for `budget`, computed on first use.
pub fn plan(layer: &IndexedLayer, band: &Band, budget: TileBudget) -> ThinPlan {
    band.plan(budget, || compute(layer, band, budget))
}

/// The zoom's pixel grid over the world and its tiles.
struct Grid {
    /// Tile units per metre.
    scale: f64,
    /// Tiles per axis.
    tiles: u64,
    /// Tile width, metres.
    tile_m: f64,
    /// Buffer, metres.
    pad: f64,
}

impl Grid {
    fn new(zoom: u8) -> Self {
        let tiles = 1u64 << zoom;
        #[expect(clippy::cast_precision_loss, reason = "at most 2^24 tiles per axis")]
        let tile_m = 2.0 * MERCATOR_HALF_EXTENT_M / tiles as f64;
        Self {
            scale: f64::from(EXTENT) / tile_m,
            tiles,
            tile_m,
            pad: tile_m * f64::from(BUFFER) / f64::from(EXTENT),
        }
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "world pixel coordinates at z24 stay below 2^37"
    )]
    fn quantize(&self, c: Coord<f64>) -> [i64; 2] {
        [
            ((c.x + MERCATOR_HALF_EXTENT_M) * self.scale).round() as i64,
            ((MERCATOR_HALF_EXTENT_M - c.y) * self.scale).round() as i64,
        ]
    }

    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to the tile range first"
    )]
    fn tile_of(&self, x: f64, y_down: f64) -> u64 {
        let max = (self.tiles - 1) as f64;
        ((x + MERCATOR_HALF_EXTENT_M) / self.tile_m)
            .floor()
            .clamp(0.0, max) as u64
            | (((y_down) / self.tile_m).floor().clamp(0.0, max) as u64) << 32
    }

    /// Tiles whose buffered box meets the rectangle, as `(x range, y range)`.
    fn tiles_of(&self, min_x: f64, min_y: f64, max_x: f64, max_y: f64) -> ([u64; 2], [u64; 2]) {
        let a = self.tile_of(min_x - self.pad, MERCATOR_HALF_EXTENT_M - max_y - self.pad);
        let b = self.tile_of(max_x + self.pad, MERCATOR_HALF_EXTENT_M - min_y + self.pad);
        ([a & 0xffff_ffff, b & 0xffff_ffff], [a >> 32, b >> 32])
    }
}

/// Bytes of the geometry commands of a feature, bounded.
#[derive(Default)]
struct GeometryCost {
    bytes: usize,
    rings: usize,
    scratch: Vec<[i64; 2]>,
}

impl GeometryCost {
    fn path(&mut self, grid: &Grid, coords: impl Iterator<Item = Coord<f64>>, closed: bool) {
        self.scratch.clear();
        self.scratch.extend(coords.map(|c| grid.quantize(c)));
        self.scratch.dedup();
        if closed {
            while self.scratch.len() > 1 && self.scratch.first() == self.scratch.last() {
                self.scratch.pop();
            }
        }
        let n = self.scratch.len();
        if n < if closed { 3 } else { 2 } {
            return;
        }
        self.rings += 1;
        // MoveTo and its point, LineTo with its count, the deltas, ClosePath.
        self.bytes += 1 + 2 * MAX_DELTA_BYTES + varint_len(((n as u64 - 1) << 3) | 2);
        for w in self.scratch.windows(2) {
            for (a, b) in w[0].iter().zip(&w[1]) {
                let d = b - a;
                let zigzag = ((d << 1) ^ (d >> 63)).cast_unsigned();
                self.bytes += varint_len(zigzag).min(MAX_DELTA_BYTES);
            }
        }
        if closed {
            self.bytes += 1;
        }
    }

    fn points(&mut self, n: usize) {
        self.rings += 1;
        self.bytes += varint_len((n as u64) << 3) + n * 2 * MAX_DELTA_BYTES;
    }

    fn geometry(&mut self, grid: &Grid, g: &Geometry<f64>) {
        match g {
            Geometry::Point(_) => self.points(1),
            Geometry::MultiPoint(mp) => self.points(mp.0.len()),
            Geometry::LineString(ls) => self.path(grid, ls.0.iter().copied(), false),
            Geometry::MultiLineString(mls) => {
                for ls in &mls.0 {
                    self.path(grid, ls.0.iter().copied(), false);
                }
            }
            Geometry::Polygon(p) => self.polygon(grid, p),
            Geometry::MultiPolygon(mp) => {
                for p in &mp.0 {
                    self.polygon(grid, p);
                }
            }
            Geometry::Rect(r) => self.polygon(grid, &r.to_polygon()),
            Geometry::Triangle(t) => self.polygon(grid, &t.to_polygon()),
            Geometry::Line(_) | Geometry::GeometryCollection(_) => {}
        }
    }

    fn polygon(&mut self, grid: &Grid, p: &geo_types::Polygon<f64>) {
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            self.path(grid, ring.0.iter().copied(), true);
        }
    }

    fn shown(&mut self, grid: &Grid, shown: Shown<'_>, raw: &Geometry<f64>) {
        self.bytes = 0;
        self.rings = 0;
        match shown {
            Shown::Raw => self.geometry(grid, raw),
            Shown::Point(_) => self.points(1),
            Shown::Simplified(shape) => {
                let closed = shape.kind() == ShapeKind::Polygon;
                for part in shape.parts() {
                    for ring in part {
                        self.path(grid, ring.iter().copied(), closed);
                    }
                }
            }
            Shown::Tiny | Shown::Clustered => {}
        }
    }
}

struct Entry {
    tile: u64,
    rank: f32,
    index: u32,
    cost: u32,
}

fn compute(layer: &IndexedLayer, band: &Band, budget: TileBudget) -> ThinPlan {
    let grid = Grid::new(band.zoom());
    if let Some(clusters) = band.clusters() {
        return clustered(layer, clusters, &grid, budget);
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(layer.len());
    let mut geometry = GeometryCost::default();
    for i in 0..layer.len() {
        let shown = band.shown(i);
        if matches!(shown, Shown::Tiny | Shown::Clustered) {
            continue;
        }
        let e = layer.envelope(i);
        let ([x0, x1], [y0, y1]) = grid.tiles_of(e.min_x, e.min_y, e.max_x, e.max_y);
        let tiles = (x1 - x0 + 1) * (y1 - y0 + 1);
        geometry.shown(&grid, shown, &layer.mercator(i).0);
        if geometry.bytes == 0 {
            continue;
        }
        let clip = if tiles > 1 {
            geometry.rings * CLIP_ALLOWANCE
        } else {
            0
        };
        let cost = FEATURE_OVERHEAD + varint_len(layer.id(i)) + field_len(geometry.bytes + clip);
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        let (index, rank) = (u32::try_from(i).unwrap_or(u32::MAX), band.rank(i));
        if tiles > MAX_TILES_PER_FEATURE {
            let tile = grid.tile_of(
                f64::midpoint(e.min_x, e.max_x),
                MERCATOR_HALF_EXTENT_M - f64::midpoint(e.min_y, e.max_y),
            );
            entries.push(Entry {
                tile,
                rank,
                index,
                cost,
            });
            continue;
        }
        for y in y0..=y1 {
            for x in x0..=x1 {
                entries.push(Entry {
                    tile: x | y << 32,
                    rank,
                    index,
                    cost,
                });
            }
        }
    }
    entries.sort_unstable_by(|a, b| {
        a.tile
            .cmp(&b.tile)
            .then(a.rank.total_cmp(&b.rank))
            .then(a.index.cmp(&b.index))
    });
    let mut walk = Walk::new(layer);
    let mut threshold = f32::INFINITY;
    for group in entries.chunk_by(|a, b| a.tile == b.tile) {
        if let Some(rank) = walk.first_misfit(layer, group, budget) {
            threshold = threshold.min(rank);
        }
    }
    ThinPlan {
        threshold,
        collapse_singletons: false,
    }
}

/// One tile's features in rank order, with its key and value tables.
struct Walk {
    fixed: usize,
    key_index_len: usize,
    keys: Vec<bool>,
    values: HashSet<u32>,
}

impl Walk {
    fn new(layer: &IndexedLayer) -> Self {
        let fields = layer.meta().schema.fields.len();
        Self {
            fixed: layer_fixed_len(layer.meta().name.as_str(), EXTENT),
            key_index_len: varint_len(fields as u64),
            keys: vec![false; fields],
            values: HashSet::new(),
        }
    }

    /// The rank of the first feature (in rank order) that does not fit, if any.
    fn first_misfit(
        &mut self,
        layer: &IndexedLayer,
        group: &[Entry],
        budget: TileBudget,
    ) -> Option<f32> {
        let props = layer.properties();
        let fields = &layer.meta().schema.fields;
        self.keys.fill(false);
        self.values.clear();
        let (mut bytes, mut pairs) = (self.fixed, 0usize);
        for (count, e) in group.iter().enumerate() {
            let mut add = e.cost as usize;
            for (f, v) in layer.tile_properties(e.index as usize) {
                pairs += 1;
                if !self.keys[f] {
                    self.keys[f] = true;
                    add += field_len(fields[f].name.len());
                }
                if self.values.insert(v) {
                    add += value_field_len(props.value(v));
                }
            }
            // Each tag pair: a key index and a value index below the tile's value count.
            let tags = pairs * (self.key_index_len + varint_len(self.values.len() as u64));
            if count + 1 > budget.max_features || field_len(bytes + add + tags) > budget.max_bytes {
                return Some(e.rank);
            }
            bytes += add;
        }
        None
    }
}

/// Clustered zooms: collapse single points into clusters of one when some tile, with
/// every single point's properties, would exceed the budget.
fn clustered(
    layer: &IndexedLayer,
    clusters: &Clusters,
    grid: &Grid,
    budget: TileBudget,
) -> ThinPlan {
    let props = layer.properties();
    let fields = &layer.meta().schema.fields;
    let all_keys: usize = fields
        .iter()
        .map(|f| field_len(f.name.len()))
        .sum::<usize>()
        + field_len("cluster".len())
        + field_len("point_count".len())
        + clusters.sum_property().map_or(0, |s| field_len(s.len()));
    // A cluster's tags: three pairs of at most 1 + 3 bytes, and its own values.
    let cluster_cost = |id: u64| FEATURE_OVERHEAD + varint_len(id) + 5 + 3 * 4 + 4 + 12 + 12;
    let mut per_tile: foldhash::HashMap<u64, (usize, usize)> = foldhash::HashMap::default();
    for c in clusters.points() {
        let cost = match c.single {
            Some(i) => {
                FEATURE_OVERHEAD
                    + varint_len(c.id)
                    + 5
                    + layer
                        .tile_properties(i as usize)
                        .map(|(_, v)| 1 + 3 + value_field_len(props.value(v)))
                        .sum::<usize>()
            }
            None => cluster_cost(c.id),
        };
        let p = c.position;
        let ([x0, x1], [y0, y1]) = grid.tiles_of(p.x, p.y, p.x, p.y);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let t = per_tile.entry(x | y << 32).or_insert((0, 0));
                t.0 += cost;
                t.1 += 1;
            }
        }
    }
    let fixed = layer_fixed_len(layer.meta().name.as_str(), EXTENT) + all_keys;
    let over = per_tile
        .values()
        .any(|&(bytes, n)| field_len(fixed + bytes) > budget.max_bytes || n > budget.max_features);
    ThinPlan {
        threshold: f32::INFINITY,
        collapse_singletons: over,
    }
}
