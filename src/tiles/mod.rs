//! Mapbox Vector Tiles (MVT 2.1) rendered on the fly from indexed layers.
//!
//! Per tile and layer: take the layer's generalization at the tile's zoom (simplified
//! geometry, tiny polygons, cluster points: see `index::generalized`) and its thinning
//! plan for the tile budget ([`budget`]); search the R-tree with the buffered tile box;
//! leave out what the plan drops; then for each kept feature transform to tile pixels,
//! clip to the buffer (only when the feature's envelope crosses it), quantize, drop
//! what collapsed, and encode. Property values are mapped from the layer's dictionary
//! to tile-local indices, so each distinct value is written once per tile.
//!
//! Every tile comes with a [`ThinningReport`] saying what was left out or merged.
//!
//! May import: `model`, `index`.

pub mod budget;
pub mod clip;
pub mod encode;
mod pbf;
mod tags;
pub mod tilejson;

use std::fmt;

use crate::index::generalized::{Shown, UNITS_PER_TILE};
use crate::index::{Band, IndexedLayer};
use crate::model::TileId;
use crate::model::tile::MercatorRect;
use clip::ClipBox;
use encode::{GeometryWriter, TileTransform};
use pbf::LayerWriter;
use tags::TagTable;

pub use crate::index::TileBudget;

/// Tile coordinate extent (MVT default).
pub const EXTENT: u32 = 4096;
/// Pixels of geometry kept beyond each tile edge, in tile coordinates.
pub const BUFFER: u32 = 64;

// Generalization tolerances are measured in units of this extent.
const _: () = assert!(EXTENT == UNITS_PER_TILE);

/// Options of one rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TileOptions {
    /// The most a tile may hold; layers of a multi-layer tile share it evenly.
    pub budget: TileBudget,
}

/// What a tile left out or merged, in the buffered tile area (a feature near an edge
/// is counted by both tiles). Displayed as the `X-Tessera-Thinned` header value,
/// e.g. `dropped=120;tiny=3400;clustered=0;truncated=0;simplified=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThinningReport {
    /// Features written.
    pub features: usize,
    /// Features left out by the budget's thinning (densest areas first).
    pub dropped: usize,
    /// Polygons left out because they are below the zoom's pixel-area threshold.
    pub tiny: usize,
    /// Points merged into cluster points.
    pub clustered: usize,
    /// Features left out because the tile was full although the plan kept them (the
    /// plan's size estimate fell short; 0 in the tests).
    pub truncated: usize,
    /// True when geometry simplified for the zoom was used.
    pub simplified: bool,
}

impl ThinningReport {
    fn add(&mut self, other: &Self) {
        self.features += other.features;
        self.dropped += other.dropped;
        self.tiny += other.tiny;
        self.clustered += other.clustered;
        self.truncated += other.truncated;
        self.simplified |= other.simplified;
    }
}

impl fmt::Display for ThinningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dropped={};tiny={};clustered={};truncated={};simplified={}",
            self.dropped,
            self.tiny,
            self.clustered,
            self.truncated,
            u8::from(self.simplified)
        )
    }
}

/// A rendered tile and what was thinned.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedTile {
    /// The MVT bytes; `None` when no layer has a feature in the tile.
    pub bytes: Option<Vec<u8>>,
    /// What was left out or merged, all layers together.
    pub report: ThinningReport,
}

/// Renders `layers` into one MVT tile with the default options. Returns `None` when
/// no layer has a feature in the tile.
#[must_use]
pub fn render_tile(layers: &[&IndexedLayer], tile: TileId) -> Option<Vec<u8>> {
    render_tile_with(layers, tile, &TileOptions::default()).bytes
}

/// Renders `layers` into one MVT tile (one MVT layer per input layer) within the
/// options' budget, each layer getting an equal share.
#[must_use]
pub fn render_tile_with(
    layers: &[&IndexedLayer],
    tile: TileId,
    options: &TileOptions,
) -> RenderedTile {
    let share = layers.len().max(1);
    let budget = TileBudget {
        max_bytes: options.budget.max_bytes / share,
        max_features: options.budget.max_features / share,
    };
    let mut out = Vec::new();
    let mut report = ThinningReport::default();
    for layer in layers {
        report.add(&render_layer(layer, tile, budget, &mut out));
    }
    RenderedTile {
        bytes: (!out.is_empty()).then_some(out),
        report,
    }
}

/// Appends one layer's part of a tile to `out` (an encoded `Tile` message), within
/// `budget`; appends nothing when the layer has no feature there.
pub fn render_layer(
    layer: &IndexedLayer,
    tile: TileId,
    budget: TileBudget,
    out: &mut Vec<u8>,
) -> ThinningReport {
    let bounds = tile.mercator_bounds();
    let pad = tile.width_m() * f64::from(BUFFER) / f64::from(EXTENT);
    let search = MercatorRect {
        min_x: bounds.min_x - pad,
        min_y: bounds.min_y - pad,
        max_x: bounds.max_x + pad,
        max_y: bounds.max_y + pad,
    };
    let band = layer.band(tile.z);
    let plan = budget::plan(layer, band, budget);
    let mut sink = Sink::new(layer, band, budget, TileTransform::new(&bounds, EXTENT));
    sink.report.simplified = band.is_simplified();
    if let Some(clusters) = band.clusters() {
        for c in clusters.in_rect(&search) {
            match c.single {
                Some(i) if !plan.collapse_singletons => sink.feature(i as usize, false),
                _ => {
                    sink.cluster(c.id, c.position, c.count, c.sum.as_ref());
                    sink.report.clustered += c.count as usize;
                }
            }
        }
    } else {
        let mut hits: Vec<usize> = Vec::new();
        for i in layer.in_mercator_rect(&search) {
            match band.shown(i) {
                Shown::Tiny => sink.report.tiny += 1,
                Shown::Clustered => sink.report.clustered += 1,
                _ if band.rank(i) >= plan.threshold => sink.report.dropped += 1,
                _ => hits.push(i),
            }
        }
        // Ascending positions (ids) give deterministic tiles whatever the tree's order.
        hits.sort_unstable();
        sink.tags = TagTable::new(layer, hits.len());
        for i in hits {
            sink.feature(i, !inside(layer.envelope(i), &search));
        }
    }
    sink.finish_into(out)
}

/// Collects the features of one layer of one tile, within the budget.
struct Sink<'a> {
    layer: &'a IndexedLayer,
    band: &'a Band,
    budget: TileBudget,
    transform: TileTransform,
    clip_box: ClipBox,
    tags: TagTable,
    tag_buf: Vec<u32>,
    geometry: GeometryWriter,
    writer: LayerWriter,
    fixed: usize,
    full: bool,
    report: ThinningReport,
}

impl<'a> Sink<'a> {
    fn new(
        layer: &'a IndexedLayer,
        band: &'a Band,
        budget: TileBudget,
        transform: TileTransform,
    ) -> Self {
        Self {
            layer,
            band,
            budget,
            transform,
            clip_box: ClipBox {
                min: -f64::from(BUFFER),
                max: f64::from(EXTENT + BUFFER),
            },
            tags: TagTable::new(layer, 0),
            tag_buf: Vec::new(),
            geometry: GeometryWriter::default(),
            writer: LayerWriter::default(),
            fixed: pbf::layer_fixed_len(layer.meta().name.as_str(), EXTENT),
            full: false,
            report: ThinningReport::default(),
        }
    }

    /// Size of the tile message if the layer held what it holds plus `extra` bytes.
    fn tile_len(&self, extra: usize) -> usize {
        pbf::field_len(self.fixed + self.writer.features_len() + self.tags.bytes() + extra)
    }

    fn feature(&mut self, i: usize, needs_clip: bool) {
        if self.full {
            self.report.truncated += 1;
            return;
        }
        let kind = match self.band.shown(i) {
            Shown::Simplified(shape) => {
                self.geometry
                    .encode_shape(shape, &self.transform, self.clip_box, needs_clip)
            }
            Shown::Point(p) => self
                .geometry
                .encode_point(p, &self.transform, self.clip_box),
            Shown::Raw | Shown::Tiny | Shown::Clustered => self.geometry.encode(
                &self.layer.mercator(i).0,
                &self.transform,
                self.clip_box,
                needs_clip,
            ),
        };
        let Some(kind) = kind else {
            return;
        };
        let mark = self.tags.mark();
        self.tags.feature_tags(self.layer, i, &mut self.tag_buf);
        self.write(mark, self.layer.id(i), kind as u32);
    }

    /// Writes the feature in `geometry` and `tag_buf` if it fits, or rolls its tags back.
    fn write(&mut self, mark: tags::Mark, id: u64, kind: u32) {
        let sizes = pbf::FeatureSizes::new(id, &self.tag_buf, kind, self.geometry.commands());
        if !self.fits(sizes.field_len()) {
            self.tags.rollback(mark);
            self.full = true;
            self.report.truncated += 1;
            return;
        }
        self.writer
            .feature_sized(&sizes, id, &self.tag_buf, kind, self.geometry.commands());
    }

    fn cluster(
        &mut self,
        id: u64,
        position: geo_types::Coord<f64>,
        count: u32,
        sum: Option<&crate::model::Value>,
    ) {
        if self.full {
            self.report.truncated += 1;
            return;
        }
        let Some(kind) = self
            .geometry
            .encode_point(position, &self.transform, self.clip_box)
        else {
            return;
        };
        let sum_name = self.band.clusters().and_then(|c| c.sum_property());
        let mark = self.tags.mark();
        self.tags
            .cluster_tags(count, sum_name.zip(sum), &mut self.tag_buf);
        self.write(mark, id, kind as u32);
    }

    fn fits(&self, feature_len: usize) -> bool {
        self.writer.len() < self.budget.max_features
            && self.tile_len(feature_len) <= self.budget.max_bytes
    }

    fn finish_into(mut self, out: &mut Vec<u8>) -> ThinningReport {
        self.report.features = self.writer.len();
        if self.writer.len() > 0 {
            let expected = self.tile_len(0);
            let before = out.len();
            let sum_name = self.band.clusters().and_then(|c| c.sum_property());
            self.writer.finish_into(
                out,
                self.layer.meta().name.as_str(),
                self.tags.key_names(self.layer, sum_name),
                self.tags.values(self.layer),
                EXTENT,
            );
            debug_assert_eq!(out.len() - before, expected, "tile size accounting");
        }
        self.report
    }
}

fn inside(inner: &MercatorRect, outer: &MercatorRect) -> bool {
    inner.min_x >= outer.min_x
        && inner.max_x <= outer.max_x
        && inner.min_y >= outer.min_y
        && inner.max_y <= outer.max_y
}
