//! Per-zoom generalization of a layer: what a tile at each zoom shows of each feature.
//!
//! A [`Band`] holds, for one zoom and per feature, one of: the raw Web Mercator
//! geometry, a copy simplified to the zoom's pixel tolerance (Douglas–Peucker, checked
//! with `geo`'s validity rules, falling back to topology-preserving Visvalingam and
//! then to the unsimplified rings), a representative point or nothing for a polygon
//! below the pixel-area threshold, or membership in a cluster point (point layers at
//! low zoom). It also holds each feature's *density rank* at that zoom: a number that
//! depends only on the feature and the zoom, never on a tile, so that a thinning rule
//! "keep ranks below a threshold" gives neighbouring tiles the same answer.
//!
//! Bands are built on first use, one `OnceLock` per zoom: a server that is never asked
//! for z3 never pays for it, and the memory of a band is spent only where tiles are
//! requested. Simplified geometry is stored flat (one coordinate buffer per band) and
//! only for features whose vertex count actually dropped; everything else points at
//! the layer's raw Mercator geometry.
//!
//! Distances and areas in settings are in *tile units*: 1/4096 of a tile's width at
//! the zoom in question (a pixel of a 4096-extent vector tile).
//!
//! May import: `model`.

mod cluster;
mod simplify;

use std::sync::Mutex;

use geo_types::{Coord, Geometry};

pub use cluster::{ClusterPoint, Clusters};

use crate::model::tile::{MAX_ZOOM, MERCATOR_HALF_EXTENT_M};

use super::IndexedLayer;

/// Tile units per tile side: generalization is measured against the MVT default extent.
pub const UNITS_PER_TILE: u32 = 4096;
/// Deepest zoom whose tiles use simplified geometry by default; deeper tiles are
/// rendered from raw geometry (a z15 pixel is about 5 mm on the ground at 41°N).
pub const DEFAULT_SIMPLIFY_MAX_ZOOM: u8 = 14;
/// Default Douglas–Peucker tolerance, tile units: half a unit, so that with
/// quantization every vertex stays within one unit of the source.
pub const DEFAULT_TOLERANCE: f64 = 0.5;
/// Default area below which a polygon (or hole) is tiny, square tile units: four
/// square units, the threshold tippecanoe uses for its tiny-polygon reduction.
pub const DEFAULT_MIN_AREA: f64 = 4.0;
/// Density cells per tile side: a feature's density at a zoom is the number of
/// features whose envelope centre falls in its cell of 256 × 256 tile units.
pub const DENSITY_CELLS_PER_TILE: u32 = 16;

/// What becomes of polygons smaller than [`GeneralizeSettings::min_area`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TinyPolygons {
    /// Leave them out of the tile.
    #[default]
    Drop,
    /// Show them as a point inside the polygon.
    Point,
}

/// Grid clustering of point layers at low zoom.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// Deepest zoom that clusters; deeper tiles show every point.
    pub max_zoom: u8,
    /// Side of a cluster cell, tile units; rounded down to a power of two between 16
    /// and 4096, so cells nest in tiles and a cluster belongs to exactly one tile.
    pub cell: u32,
    /// A numeric field whose sum over a cluster's points becomes the cluster's
    /// `{field}_sum` property.
    pub sum_field: Option<String>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            max_zoom: 13,
            cell: 128,
            sum_field: None,
        }
    }
}

/// How a layer is generalized per zoom.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralizeSettings {
    /// Deepest zoom that uses simplified geometry.
    pub simplify_max_zoom: u8,
    /// Douglas–Peucker tolerance, tile units.
    pub tolerance: f64,
    /// Polygons and holes with a smaller area are tiny, square tile units.
    pub min_area: f64,
    /// What tiny polygons become.
    pub tiny_polygons: TinyPolygons,
    /// Clustering of point layers (layers whose every feature is a `Point`); `None`
    /// turns it off.
    pub cluster: Option<ClusterSettings>,
}

impl Default for GeneralizeSettings {
    fn default() -> Self {
        Self {
            simplify_max_zoom: DEFAULT_SIMPLIFY_MAX_ZOOM,
            tolerance: DEFAULT_TOLERANCE,
            min_area: DEFAULT_MIN_AREA,
            tiny_polygons: TinyPolygons::Drop,
            cluster: Some(ClusterSettings::default()),
        }
    }
}

/// The most a tile may hold. Renderers thin tiles that would exceed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileBudget {
    /// Uncompressed MVT bytes.
    pub max_bytes: usize,
    /// Features, all layers together.
    pub max_features: usize,
}

impl Default for TileBudget {
    fn default() -> Self {
        Self {
            max_bytes: 500_000,
            max_features: 200_000,
        }
    }
}

/// How one zoom is thinned for one budget: the same for every tile of the zoom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThinPlan {
    /// Features whose density rank is below this are kept (`INFINITY`: all).
    pub threshold: f32,
    /// Clustered zooms only: show single points as clusters of one, without their
    /// properties, because tiles would exceed the budget otherwise.
    pub collapse_singletons: bool,
}

impl ThinPlan {
    /// Keeps everything.
    pub const KEEP_ALL: Self = Self {
        threshold: f32::INFINITY,
        collapse_singletons: false,
    };
}

/// What a tile at a band's zoom shows of one feature.
#[derive(Debug, Clone, Copy)]
pub enum Shown<'a> {
    /// The raw Web Mercator geometry.
    Raw,
    /// Geometry simplified for this zoom.
    Simplified(Shape<'a>),
    /// A representative point of a tiny polygon, Web Mercator metres.
    Point(Coord<f64>),
    /// Nothing: a polygon below the area threshold.
    Tiny,
    /// Nothing on its own: the feature is counted in a cluster point.
    Clustered,
}

const RAW: u32 = u32::MAX;
const TINY: u32 = u32::MAX - 1;
const CLUSTERED: u32 = u32::MAX - 2;
const POINT_FLAG: u32 = 1 << 31;

/// Kind of a stored simplified shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    /// Polygons: each part is an exterior ring followed by its holes.
    Polygon,
    /// Lines: each part is one line.
    Line,
}

/// Simplified shapes of one band, stored flat. Rings are open (no closing point).
#[derive(Debug, Default)]
struct FlatShapes {
    coords: Vec<Coord<f64>>,
    /// Per ring (or line), its end in `coords`.
    ring_ends: Vec<u32>,
    /// Per part, its end in `ring_ends`.
    part_ends: Vec<u32>,
    /// Per shape, its end in `part_ends`.
    shape_ends: Vec<u32>,
    kinds: Vec<ShapeKind>,
}

fn end(len: usize) -> u32 {
    // A band holds at most the layer's vertices, which the u32 positions of the
    // R-tree already bound to well below 2^32 per layer.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn range(ends: &[u32], i: usize) -> std::ops::Range<usize> {
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    start..ends[i] as usize
}

impl FlatShapes {
    fn push(&mut self, kind: ShapeKind, parts: &[Vec<Vec<Coord<f64>>>]) -> u32 {
        for part in parts {
            for ring in part {
                self.coords.extend_from_slice(ring);
                self.ring_ends.push(end(self.coords.len()));
            }
            self.part_ends.push(end(self.ring_ends.len()));
        }
        self.shape_ends.push(end(self.part_ends.len()));
        self.kinds.push(kind);
        end(self.kinds.len() - 1)
    }

    fn heap_bytes(&self) -> usize {
        self.coords.capacity() * size_of::<Coord<f64>>()
            + (self.ring_ends.capacity() + self.part_ends.capacity() + self.shape_ends.capacity())
                * 4
            + self.kinds.capacity()
    }

    fn shrink(&mut self) {
        self.coords.shrink_to_fit();
        self.ring_ends.shrink_to_fit();
        self.part_ends.shrink_to_fit();
        self.shape_ends.shrink_to_fit();
        self.kinds.shrink_to_fit();
    }
}

/// A simplified shape of a band.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    flat: &'a FlatShapes,
    index: usize,
}

impl<'a> Shape<'a> {
    /// Polygons or lines.
    #[must_use]
    pub fn kind(&self) -> ShapeKind {
        self.flat.kinds[self.index]
    }

    /// The parts (polygons or lines), each as its rings: open coordinate runs in Web
    /// Mercator metres, the exterior first for polygons.
    pub fn parts(&self) -> impl Iterator<Item = impl Iterator<Item = &'a [Coord<f64>]>> + 'a {
        let flat = self.flat;
        range(&flat.shape_ends, self.index).map(move |part| {
            range(&flat.part_ends, part).map(move |ring| &flat.coords[range(&flat.ring_ends, ring)])
        })
    }

    /// The shape as a `geo` geometry (polygons with closed rings), for checks and tests.
    #[must_use]
    pub fn to_geometry(&self) -> Geometry<f64> {
        let close = |ring: &[Coord<f64>]| {
            let mut v = ring.to_vec();
            if let Some(&first) = v.first() {
                v.push(first);
            }
            geo_types::LineString::new(v)
        };
        match self.kind() {
            ShapeKind::Polygon => Geometry::MultiPolygon(geo_types::MultiPolygon::new(
                self.parts()
                    .map(|mut rings| {
                        let exterior = rings
                            .next()
                            .map_or_else(|| geo_types::LineString::new(Vec::new()), close);
                        geo_types::Polygon::new(exterior, rings.map(close).collect())
                    })
                    .collect(),
            )),
            ShapeKind::Line => Geometry::MultiLineString(geo_types::MultiLineString::new(
                self.parts()
                    .flat_map(|lines| lines.map(|l| geo_types::LineString::new(l.to_vec())))
                    .collect(),
            )),
        }
    }
}

/// Counts of what a band changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BandStats {
    /// Features shown with simplified geometry.
    pub simplified: usize,
    /// Polygons below the area threshold.
    pub tiny: usize,
    /// Simplifications that failed the validity check with Douglas–Peucker and were
    /// redone with Visvalingam or kept unsimplified.
    pub fallbacks: usize,
    /// Vertices of the simplified features before and after.
    pub vertices_before: usize,
    /// See `vertices_before`.
    pub vertices_after: usize,
}

/// The generalization of a layer at one zoom.
#[derive(Debug)]
pub struct Band {
    zoom: u8,
    simplified: bool,
    /// Per feature; `None` when every feature is shown raw.
    slots: Option<Box<[u32]>>,
    shapes: FlatShapes,
    points: Vec<Coord<f64>>,
    /// Per feature density rank; empty on clustered bands.
    ranks: Box<[f32]>,
    clusters: Option<Clusters>,
    stats: BandStats,
    plans: Mutex<Vec<(TileBudget, ThinPlan)>>,
}

impl Band {
    /// Builds the band of `layer` at `zoom`.
    pub(super) fn build(layer: &IndexedLayer, zoom: u8) -> Self {
        let settings = layer.settings();
        if let Some(cluster) = settings.cluster.as_ref().filter(|c| zoom <= c.max_zoom)
            && layer.is_point_layer()
        {
            return Self {
                zoom,
                simplified: false,
                slots: None,
                shapes: FlatShapes::default(),
                points: Vec::new(),
                ranks: Box::default(),
                clusters: Some(Clusters::build(layer, zoom, cluster)),
                stats: BandStats::default(),
                plans: Mutex::default(),
            };
        }
        let mut band = Self {
            zoom,
            simplified: false,
            slots: None,
            shapes: FlatShapes::default(),
            points: Vec::new(),
            ranks: density_ranks(layer, zoom),
            clusters: None,
            stats: BandStats::default(),
            plans: Mutex::default(),
        };
        if zoom <= settings.simplify_max_zoom && !layer.is_point_layer() {
            band.simplified = true;
            simplify::fill(&mut band, layer);
        }
        band
    }

    /// The zoom.
    #[must_use]
    pub fn zoom(&self) -> u8 {
        self.zoom
    }

    /// True when this zoom uses simplified geometry.
    #[must_use]
    pub fn is_simplified(&self) -> bool {
        self.simplified
    }

    /// What tiles at this zoom show of feature `index`.
    #[must_use]
    pub fn shown(&self, index: usize) -> Shown<'_> {
        if self.clusters.is_some() {
            return Shown::Clustered;
        }
        let Some(slots) = &self.slots else {
            return Shown::Raw;
        };
        match slots[index] {
            RAW => Shown::Raw,
            TINY => Shown::Tiny,
            CLUSTERED => Shown::Clustered,
            s if s & POINT_FLAG != 0 => Shown::Point(self.points[(s & !POINT_FLAG) as usize]),
            s => Shown::Simplified(Shape {
                flat: &self.shapes,
                index: s as usize,
            }),
        }
    }

    /// Density rank of feature `index`: a stable hash of its id in `(0, 1]` times the
    /// number of features in its density cell. Thinning keeps ranks below a threshold,
    /// so the densest cells lose features first and every tile agrees on each feature.
    #[must_use]
    pub fn rank(&self, index: usize) -> f32 {
        self.ranks.get(index).copied().unwrap_or(0.0)
    }

    /// The cluster points, on a clustered zoom of a point layer.
    #[must_use]
    pub fn clusters(&self) -> Option<&Clusters> {
        self.clusters.as_ref()
    }

    /// What the band changed.
    #[must_use]
    pub fn stats(&self) -> BandStats {
        self.stats
    }

    /// The thinning plan for `budget`, computed by `compute` on first use and then
    /// remembered (plans depend only on the layer, the zoom and the budget).
    pub fn plan(&self, budget: TileBudget, compute: impl FnOnce() -> ThinPlan) -> ThinPlan {
        let lookup = |plans: &[(TileBudget, ThinPlan)]| {
            plans.iter().find(|(b, _)| *b == budget).map(|(_, p)| *p)
        };
        if let Some(plan) = lookup(&self.plans.lock().unwrap_or_else(|e| e.into_inner())) {
            return plan;
        }
        // Computed outside the lock: plans are deterministic, so a race only costs time.
        let plan = compute();
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if lookup(&plans).is_none() {
            plans.push((budget, plan));
        }
        plan
    }

    /// Heap bytes held by the band.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.slots.as_ref().map_or(0, |s| s.len() * 4)
            + self.shapes.heap_bytes()
            + self.points.capacity() * size_of::<Coord<f64>>()
            + self.ranks.len() * 4
            + self.clusters.as_ref().map_or(0, Clusters::heap_bytes)
    }
}

/// Width of one tile unit at `zoom`, Web Mercator metres.
#[must_use]
pub fn unit_m(zoom: u8) -> f64 {
    2.0 * MERCATOR_HALF_EXTENT_M / f64::from(UNITS_PER_TILE) / f64::from(1u32 << zoom)
}

/// Number of zoom levels a layer can have bands for.
pub(super) const ZOOMS: usize = MAX_ZOOM as usize + 1;

/// A stable hash of a feature id mapped to `(0, 1]` (`SplitMix64` finalizer).
fn unit_hash(id: u64) -> f64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // The top 53 bits as a fraction; +1 keeps zero out so ranks are never 0.
    ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// Cell of a Web Mercator point on a grid of `cells_per_axis` cells over the world.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to the grid, which has at most 2^36 cells per axis"
)]
fn cell_of(x: f64, y: f64, cells_per_axis: f64) -> (u64, u64) {
    let w = 2.0 * MERCATOR_HALF_EXTENT_M;
    let cx = ((x + MERCATOR_HALF_EXTENT_M) / w * cells_per_axis).clamp(0.0, cells_per_axis - 1.0);
    let cy = ((MERCATOR_HALF_EXTENT_M - y) / w * cells_per_axis).clamp(0.0, cells_per_axis - 1.0);
    (cx as u64, cy as u64)
}

fn density_ranks(layer: &IndexedLayer, zoom: u8) -> Box<[f32]> {
    let cells = f64::from(DENSITY_CELLS_PER_TILE) * f64::from(1u32 << zoom);
    let keys: Vec<(u64, u64)> = (0..layer.len())
        .map(|i| {
            let e = layer.envelope(i);
            cell_of(
                f64::midpoint(e.min_x, e.max_x),
                f64::midpoint(e.min_y, e.max_y),
                cells,
            )
        })
        .collect();
    let mut counts: foldhash::HashMap<(u64, u64), u32> = foldhash::HashMap::default();
    for k in &keys {
        *counts.entry(*k).or_insert(0) += 1;
    }
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "ranks only order features; f32 keeps 24 bits"
            )]
            let rank = (unit_hash(layer.id(i)) * f64::from(counts[k])) as f32;
            rank
        })
        .collect()
}

#[cfg(test)]
mod tests;
