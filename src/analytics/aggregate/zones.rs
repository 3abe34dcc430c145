//! [`ZoneIndex`]: exact point-in-polygon against every zone of a layer, answered
//! for most points by one grid lookup.
//!
//! # Design
//! A per-point R-tree search followed by `geo::Contains` costs about a microsecond
//! per point for city districts (hundreds of vertices each), 10 s for 10M pings. So
//! the zones' lon/lat extent is cut into a uniform grid (up to [`MAX_CELLS`] cells),
//! and each cell lists
//! - the zones that contain the whole cell: a point there is in those zones, no
//!   geometry test needed;
//! - the zones whose boundary passes through the cell ("edge" entries): only these
//!   are tested with `geo`, exactly.
//!
//! Edges are marked conservatively: each segment marks every cell it passes within
//! [`EDGE_EPS_DEG`] of, so a cell without a mark has no boundary in or near it, and a
//! run of unmarked cells along a row is wholly inside or wholly outside the zone
//! (one `contains` test on its first cell's centre decides which). Rounding of a
//! point's cell index (≪ [`EDGE_EPS_DEG`]) therefore never changes an answer.
//!
//! Only areal zones (polygons, multipolygons, rectangles, triangles) contain points;
//! other geometries are kept as zones without area.
//!
//! May import: `index`, `model`.

use geo::{BoundingRect as _, Contains as _, Intersects as _};
use geo_types::{Coord, Geometry, LineString, MultiPolygon, Point, Rect};

use crate::analytics::points::layer_key;
use crate::index::IndexedLayer;

/// The most grid cells: 4 Mi cells take 16 MiB of offsets.
pub const MAX_CELLS: usize = 1 << 22;
/// The fewest grid cells, so that small layers still get a useful grid.
const MIN_CELLS: usize = 1 << 12;
/// Grid cells per zone aimed at (a district then spans about 64×64 cells, and
/// about one point in twenty lands in a cell that needs an exact test).
const CELLS_PER_ZONE: usize = 4096;
/// How close to a cell (degrees, ~0.1 mm) a boundary marks it: far above the
/// rounding of a cell index (~10⁻¹³ degrees).
pub const EDGE_EPS_DEG: f64 = 1e-9;

/// High bit of an entry: the zone's boundary passes through the cell.
const EDGE: u32 = 1 << 31;

/// Whether a point on a zone's boundary belongs to the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Boundary {
    /// No (`geo::Contains`, OGC semantics): a point exactly on the border of two
    /// districts is in neither and counts as unassigned.
    #[default]
    Exclude,
    /// Yes (`geo::Intersects`): such a point counts in both districts.
    Include,
}

/// The uniform grid over the zones' extent, lon/lat degrees.
#[derive(Debug, Clone, Copy)]
struct Frame {
    x0: f64,
    y0: f64,
    cell_w: f64,
    cell_h: f64,
    cols: usize,
    rows: usize,
}

impl Frame {
    fn new(extent: Rect<f64>, zones: usize) -> Self {
        let target = (zones.saturating_mul(CELLS_PER_ZONE)).clamp(MIN_CELLS, MAX_CELLS);
        let w = (extent.width() + 4.0 * EDGE_EPS_DEG).max(EDGE_EPS_DEG);
        let h = (extent.height() + 4.0 * EDGE_EPS_DEG).max(EDGE_EPS_DEG);
        // Square-ish cells in degrees: cols / rows follows the aspect ratio.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "bounded by MAX_CELLS"
        )]
        let cols = ((target as f64 * w / h).sqrt().round() as usize).clamp(1, target);
        let rows = (target / cols).max(1);
        #[expect(clippy::cast_precision_loss, reason = "bounded by MAX_CELLS")]
        Self {
            x0: extent.min().x - 2.0 * EDGE_EPS_DEG,
            y0: extent.min().y - 2.0 * EDGE_EPS_DEG,
            cell_w: w / cols as f64,
            cell_h: h / rows as f64,
            cols,
            rows,
        }
    }

    /// The cell of a point, `None` outside the grid.
    #[inline]
    fn cell(&self, lon: f64, lat: f64) -> Option<usize> {
        let fx = (lon - self.x0) / self.cell_w;
        let fy = (lat - self.y0) / self.cell_h;
        #[expect(clippy::cast_precision_loss, reason = "cols and rows are below 2^22")]
        let inside = fx >= 0.0 && fy >= 0.0 && fx < self.cols as f64 && fy < self.rows as f64;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked to lie in 0..cols and 0..rows, where truncation is floor"
        )]
        inside.then(|| fy as usize * self.cols + fx as usize)
    }

    /// The columns (or rows) of cells within `EDGE_EPS_DEG` of `[lo, hi]`, clamped.
    fn span(lo: f64, hi: f64, origin: f64, size: f64, count: usize) -> (usize, usize) {
        let a = ((lo - EDGE_EPS_DEG - origin) / size).floor();
        let b = ((hi + EDGE_EPS_DEG - origin) / size).floor();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "clamped to 0..count"
        )]
        let clamp = |v: f64| v.clamp(0.0, (count - 1) as f64) as usize;
        (clamp(a), clamp(b))
    }

    fn cols_of(&self, lo: f64, hi: f64) -> (usize, usize) {
        Self::span(lo, hi, self.x0, self.cell_w, self.cols)
    }

    fn rows_of(&self, lo: f64, hi: f64) -> (usize, usize) {
        Self::span(lo, hi, self.y0, self.cell_h, self.rows)
    }

    #[expect(clippy::cast_precision_loss, reason = "cell indices are below 2^22")]
    fn centre(&self, col: usize, row: usize) -> Point<f64> {
        Point::new(
            self.x0 + (col as f64 + 0.5) * self.cell_w,
            self.y0 + (row as f64 + 0.5) * self.cell_h,
        )
    }
}

/// Point-in-zones for every zone of a layer. See the module documentation.
#[derive(Debug)]
pub struct ZoneIndex {
    layer: String,
    shapes: Vec<Option<MultiPolygon<f64>>>,
    frame: Frame,
    start: Vec<u32>,
    entries: Vec<u32>,
}

impl ZoneIndex {
    /// Indexes the zones of a layer; zone `i` is the layer's feature at position `i`.
    #[must_use]
    pub fn build(zones: &IndexedLayer) -> Self {
        let shapes: Vec<Option<MultiPolygon<f64>>> =
            (0..zones.len()).map(|i| areal(zones.geometry(i))).collect();
        let extent = shapes
            .iter()
            .flatten()
            .filter_map(geo::BoundingRect::bounding_rect)
            .reduce(|a, b| {
                Rect::new(
                    Coord {
                        x: a.min().x.min(b.min().x),
                        y: a.min().y.min(b.min().y),
                    },
                    Coord {
                        x: a.max().x.max(b.max().x),
                        y: a.max().y.max(b.max().y),
                    },
                )
            })
            .unwrap_or_else(|| Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 }));
        let frame = Frame::new(extent, shapes.iter().flatten().count());
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for (zone, shape) in shapes.iter().enumerate() {
            if let Some(shape) = shape {
                // Zones are layer positions, far below 2^31.
                let zone = u32::try_from(zone).unwrap_or(EDGE - 1);
                cover_zone(&frame, shape, zone, &mut pairs);
            }
        }
        let cells = frame.cols * frame.rows;
        let mut start = vec![0u32; cells + 1];
        for &(cell, _) in &pairs {
            start[cell as usize + 1] += 1;
        }
        for i in 0..cells {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut entries = vec![0u32; pairs.len()];
        for &(cell, entry) in &pairs {
            let slot = &mut next[cell as usize];
            entries[*slot as usize] = entry;
            *slot += 1;
        }
        // Entries of a cell in zone order, so results come out ascending.
        for c in 0..cells {
            entries[start[c] as usize..start[c + 1] as usize].sort_unstable_by_key(|e| e & !EDGE);
        }
        Self {
            layer: layer_key(zones),
            shapes,
            frame,
            start,
            entries,
        }
    }

    /// Number of zones (features of the layer, areal or not).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// True when the layer had no feature.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// The zones layer (`name@version`).
    #[must_use]
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// Grid cells and entries, for logs: `(cells, entries)`.
    #[must_use]
    pub fn size(&self) -> (usize, usize) {
        (self.frame.cols * self.frame.rows, self.entries.len())
    }

    /// Calls `f` with every zone containing the WGS84 point, in ascending order.
    #[inline]
    pub fn for_each_zone(&self, lon: f64, lat: f64, rule: Boundary, mut f: impl FnMut(u32)) {
        let Some(cell) = self.frame.cell(lon, lat) else {
            return;
        };
        let (a, b) = (self.start[cell] as usize, self.start[cell + 1] as usize);
        for &e in &self.entries[a..b] {
            let zone = e & !EDGE;
            if e & EDGE == 0 || self.exact(zone, lon, lat, rule) {
                f(zone);
            }
        }
    }

    /// The zones containing the WGS84 point, ascending.
    #[must_use]
    pub fn zones_at(&self, lon: f64, lat: f64, rule: Boundary) -> Vec<u32> {
        let mut out = Vec::new();
        self.for_each_zone(lon, lat, rule, |z| out.push(z));
        out
    }

    fn exact(&self, zone: u32, lon: f64, lat: f64, rule: Boundary) -> bool {
        let Some(Some(shape)) = self.shapes.get(zone as usize) else {
            return false;
        };
        let p = Point::new(lon, lat);
        match rule {
            Boundary::Exclude => shape.contains(&p),
            Boundary::Include => shape.intersects(&p),
        }
    }
}

/// A zone's geometry as a multipolygon, `None` when it has no area.
pub(crate) fn areal(g: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon::new(vec![p.clone()])),
        Geometry::MultiPolygon(mp) => Some(mp.clone()),
        Geometry::Rect(r) => Some(MultiPolygon::new(vec![r.to_polygon()])),
        Geometry::Triangle(t) => Some(MultiPolygon::new(vec![t.to_polygon()])),
        _ => None,
    }
}

/// Adds the `(cell, entry)` pairs of one zone: edge entries where its boundary
/// passes, plain entries for runs of cells inside it.
fn cover_zone(frame: &Frame, shape: &MultiPolygon<f64>, zone: u32, pairs: &mut Vec<(u32, u32)>) {
    let Some(bbox) = shape.bounding_rect() else {
        return;
    };
    let (c0, c1) = frame.cols_of(bbox.min().x, bbox.max().x);
    let (r0, r1) = frame.rows_of(bbox.min().y, bbox.max().y);
    let (w, h) = (c1 - c0 + 1, r1 - r0 + 1);
    let mut edge = vec![false; w * h];
    let rings = shape
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()));
    for ring in rings {
        mark_ring(frame, ring, (c0, r0, w, h), &mut edge);
    }
    // Cell numbers fit in u32: at most MAX_CELLS = 2^22.
    let cell_id =
        |col: usize, row: usize| u32::try_from(row * frame.cols + col).unwrap_or(u32::MAX);
    for row in 0..h {
        let mut col = 0;
        while col < w {
            if edge[row * w + col] {
                pairs.push((cell_id(c0 + col, r0 + row), zone | EDGE));
                col += 1;
                continue;
            }
            let run = col;
            while col < w && !edge[row * w + col] {
                col += 1;
            }
            // No boundary in or near the run: its first centre decides for all.
            if shape.contains(&frame.centre(c0 + run, r0 + row)) {
                for c in run..col {
                    pairs.push((cell_id(c0 + c, r0 + row), zone));
                }
            }
        }
    }
}

/// Marks the cells (of the zone's window `(c0, r0, w, h)`) that each segment of the
/// ring passes within `EDGE_EPS_DEG` of: per row of cells, the segment's x-range over
/// that row's (widened) y-band.
fn mark_ring(
    frame: &Frame,
    ring: &LineString<f64>,
    window: (usize, usize, usize, usize),
    edge: &mut [bool],
) {
    let (c0, r0, w, h) = window;
    for seg in ring.lines() {
        let (a, b) = (seg.start, seg.end);
        let (ylo, yhi) = (a.y.min(b.y), a.y.max(b.y));
        let (ra, rb) = frame.rows_of(ylo, yhi);
        for row in ra.max(r0)..=rb.min(r0 + h - 1) {
            #[expect(clippy::cast_precision_loss, reason = "row < 2^22")]
            let band_lo = frame.y0 + row as f64 * frame.cell_h - EDGE_EPS_DEG;
            let band_hi = band_lo + frame.cell_h + 2.0 * EDGE_EPS_DEG;
            // The part of the segment in the band (clamped to the segment, so a band
            // reached only through the widening never extrapolates).
            let (lo, hi) = (ylo.max(band_lo).min(yhi), yhi.min(band_hi).max(ylo));
            let (sx_lo, sx_hi) = (a.x.min(b.x), a.x.max(b.x));
            let (xlo, xhi) = if b.y == a.y {
                (sx_lo, sx_hi)
            } else {
                let x_at =
                    |y: f64| (a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y)).clamp(sx_lo, sx_hi);
                let (p, q) = (x_at(lo), x_at(hi));
                (p.min(q), p.max(q))
            };
            let (ca, cb) = frame.cols_of(xlo, xhi);
            for col in ca.max(c0)..=cb.min(c0 + w - 1) {
                edge[(row - r0) * w + (col - c0)] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use geo_types::{Polygon, polygon};

    use super::*;
    use crate::analytics::test_data::{rect, zones_of};

    /// A ring with a hole, a triangle, and a rectangle overlapping the triangle.
    fn zones() -> IndexedLayer {
        let holed = Polygon::new(
            rect(0.0, 0.0, 4.0, 4.0).exterior().clone(),
            vec![rect(1.0, 1.0, 2.0, 2.0).exterior().clone()],
        );
        let triangle: Polygon<f64> =
            polygon![(x: 4.0, y: 0.0), (x: 8.0, y: 0.0), (x: 4.0, y: 4.0), (x: 4.0, y: 0.0)];
        zones_of(vec![
            Geometry::Polygon(holed),
            Geometry::Polygon(triangle),
            Geometry::Polygon(rect(5.0, 0.0, 6.0, 1.0)),
            Geometry::Point(Point::new(0.5, 0.5)),
        ])
    }

    #[test]
    fn answers_equal_geo_everywhere() {
        let layer = zones();
        let index = ZoneIndex::build(&layer);
        assert_eq!(index.len(), 4);
        let shapes: Vec<Option<MultiPolygon<f64>>> =
            (0..layer.len()).map(|i| areal(layer.geometry(i))).collect();
        // A fine lattice, including points exactly on edges and vertices.
        for i in -4..=68 {
            for j in -4..=36 {
                let (lon, lat) = (f64::from(i) / 8.0, f64::from(j) / 8.0);
                for rule in [Boundary::Exclude, Boundary::Include] {
                    let want: Vec<u32> = shapes
                        .iter()
                        .zip(0u32..)
                        .filter(|(s, _)| {
                            s.as_ref().is_some_and(|s| match rule {
                                Boundary::Exclude => s.contains(&Point::new(lon, lat)),
                                Boundary::Include => s.intersects(&Point::new(lon, lat)),
                            })
                        })
                        .map(|(_, z)| z)
                        .collect();
                    assert_eq!(index.zones_at(lon, lat, rule), want, "{lon},{lat} {rule:?}");
                }
            }
        }
        // Most of the grid needs no exact test.
        let (cells, entries) = index.size();
        let edges = index.entries.iter().filter(|e| *e & EDGE != 0).count();
        assert!(
            cells >= MIN_CELLS && entries > 4 * edges,
            "{cells} {entries} {edges}"
        );
    }

    #[test]
    fn overlaps_gaps_and_borders() {
        let index = ZoneIndex::build(&zones());
        // Inside the triangle and the rectangle.
        assert_eq!(index.zones_at(5.5, 0.5, Boundary::Exclude), vec![1, 2]);
        // In the hole: no zone.
        assert!(index.zones_at(1.5, 1.5, Boundary::Exclude).is_empty());
        // On the shared border x = 4 between the ring and the triangle.
        assert!(index.zones_at(4.0, 1.0, Boundary::Exclude).is_empty());
        assert_eq!(index.zones_at(4.0, 1.0, Boundary::Include), vec![0, 1]);
        // Outside every zone and outside the grid.
        assert!(index.zones_at(-50.0, 3.0, Boundary::Include).is_empty());
        // A point zone contains nothing.
        assert_eq!(index.zones_at(0.5, 0.5, Boundary::Include), vec![0]);
    }
}
