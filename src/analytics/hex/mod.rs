//! H3 hexagon binning of the selected points of a [`PointColumns`], with the same
//! statistics as the square grid, and cell boundaries as WGS84 polygons.
//!
//! Cells are computed with `h3o` from the exact WGS84 degrees of each point
//! (`LatLng::new(lat, lon)?.to_cell(resolution)`), so a point's cell is exactly the
//! one `h3o` gives for the layer's coordinates.
//!
//! # Complete cells in an area
//! When binning for an area (a tile or a bbox), a hexagon crossing the area's edge
//! must carry the statistics of *all* its points, or two adjacent tiles would draw the
//! same hexagon with different numbers (and a difference of the two could single out
//! a person). So points are read in the area grown by two hexagon radii, and only
//! hexagons whose centre lies within one radius of the area are returned: every
//! point of such a hexagon lies in the grown area, so its statistics are complete.
//! The radius bound is twice the average edge of the resolution (H3 hexagons vary in
//! size by less than a factor of two), stretched by the Mercator scale `1/cos φ` at
//! the area's latitude furthest from the equator.
//!
//! # Speed
//! `to_cell` is called only when the `shortcut` module cannot prove a point's cell from a
//! cell already seen nearby (its inscribed disc or its edge half-spaces); the result
//! is the same cell, exactly, only faster.
//!
//! May import: `index`, `model`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use geo_types::{Coord, LineString, Polygon};
use h3o::{CellIndex, LatLng, Resolution};

mod shortcut;

use shortcut::Shortcut;

use super::points::{PointColumns, Selection};
use super::stats::{Accumulator, IntBuildHasher};
use super::{AnalyticsError, NO_PERSON, Result, Stats, StatsSpec};
use crate::model::tile::{
    EARTH_RADIUS_M, MERCATOR_HALF_EXTENT_M, MercatorRect, lonlat_to_mercator,
};

/// The H3 resolution shown at a tile zoom: `round(zoom · ln 2 / ln √7)`, at most 15.
///
/// Each zoom halves the tile's width and each H3 resolution divides the hexagon's
/// edge by √7, so this keeps hexagons the same size on screen: their average edge is
/// 5 to 13 pixels (8 on average) of a 256-pixel tile at the equator, larger towards
/// the poles by the Mercator stretch. Zoom 12 gives resolution 9 (edges of ~200 m),
/// zoom 14 resolution 10 (~76 m).
///
/// # Examples
/// ```
/// use tessera::analytics::hex::resolution_for_zoom;
/// assert_eq!(u8::from(resolution_for_zoom(12)), 9);
/// assert_eq!(u8::from(resolution_for_zoom(24)), 15);
/// ```
#[must_use]
pub fn resolution_for_zoom(zoom: u8) -> Resolution {
    let r = (f64::from(zoom) * std::f64::consts::LN_2 / 7f64.sqrt().ln()).round();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 0..=15"
    )]
    let r = r.clamp(0.0, 15.0) as u8;
    Resolution::try_from(r).unwrap_or(Resolution::Fifteen)
}

/// A resolution given as a number.
///
/// # Errors
/// [`AnalyticsError::Resolution`] unless `res <= 15`.
pub fn resolution(res: u8) -> Result<Resolution> {
    Resolution::try_from(res).map_err(|_| AnalyticsError::Resolution(res))
}

/// The statistics of one hexagon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HexCell {
    /// The H3 cell.
    pub cell: CellIndex,
    /// Its statistics.
    pub stats: Stats,
}

/// Binned hexagons, sorted by cell index.
#[derive(Debug, Clone, PartialEq)]
pub struct HexBins {
    /// The resolution binned at.
    pub resolution: Resolution,
    /// Non-empty hexagons, sorted by cell index.
    pub cells: Vec<HexCell>,
}

/// Bins the selected points into H3 cells at `resolution`, over the whole table
/// (`area: None`) or over the hexagons intersecting `area` with complete statistics
/// (see the module documentation).
///
/// # Errors
/// [`AnalyticsError::NoPersonField`] / [`AnalyticsError::NoValueField`] when `stats`
/// asks for a column the table was built without.
pub fn bin(
    points: &PointColumns,
    selection: &Selection,
    area: Option<&MercatorRect>,
    resolution: Resolution,
    stats: StatsSpec,
) -> Result<HexBins> {
    points.check(stats)?;
    let radius = area.map(|a| radius_bound_m(a, resolution));
    // Points are read in the area grown by two radii (see the module documentation).
    let grown = area.zip(radius).map(|(a, r)| grow(a, 2.0 * r));
    let window = grown.map(|g| LocalWindow::new(&g, points.origin()));
    let (xs, ys, lons, lats) = (points.x(), points.y(), points.lon(), points.lat());
    let values = points.values().unwrap_or(&[]);
    let persons = points.persons().unwrap_or(&[]);
    let mut slots: HashMap<u64, u32, IntBuildHasher> = HashMap::default();
    let mut cells: Vec<CellIndex> = Vec::new();
    let mut acc = Accumulator::new(stats, 0);
    let mut shortcut = Shortcut::new(
        resolution,
        selection.len(),
        points.origin(),
        points.offset_error_m(),
        grown.or(points.extent()),
    );
    for row in selection.iter() {
        let (x, y) = (xs[row], ys[row]);
        if let Some(w) = &window
            && !w.contains(x, y)
        {
            continue;
        }
        let key = shortcut.key(x, y);
        let group = if let Some(g) = shortcut.find(key, x, y, lats[row], lons[row]) {
            g
        } else {
            // Ingest keeps coordinates finite; a bad one is skipped, not binned.
            let Ok(ll) = LatLng::new(lats[row], lons[row]) else {
                continue;
            };
            let cell = ll.to_cell(resolution);
            let (g, seen) = match slots.entry(u64::from(cell)) {
                Entry::Occupied(e) => (*e.get(), true),
                Entry::Vacant(e) => {
                    cells.push(cell);
                    shortcut.push_group();
                    (*e.insert(acc.push_group()), false)
                }
            };
            shortcut.missed(key, g, cell, seen);
            g
        };
        acc.add(
            group,
            persons.get(row).copied().unwrap_or(NO_PERSON),
            values.get(row).copied().unwrap_or(f64::NAN),
        );
    }
    // Only hexagons whose centre is within one radius of the area: they are complete.
    let keep = area.zip(radius).map(|(a, r)| grow(a, r));
    let mut out: Vec<HexCell> = cells
        .into_iter()
        .zip(acc.finish(points.person_count()))
        .filter(|(cell, _)| {
            keep.as_ref().is_none_or(|k| {
                let c = LatLng::from(*cell);
                let (x, y) = lonlat_to_mercator(c.lng(), c.lat());
                k.min_x <= x && x <= k.max_x && k.min_y <= y && y <= k.max_y
            })
        })
        .map(|(cell, stats)| HexCell { cell, stats })
        .collect();
    out.sort_unstable_by_key(|c| c.cell);
    Ok(HexBins {
        resolution,
        cells: out,
    })
}

/// The boundary of a cell as a closed WGS84 lon/lat polygon (x = longitude).
///
/// A cell crossing the antimeridian keeps its longitudes as `h3o` gives them, which
/// jump by 360°; callers drawing such cells must split them.
#[must_use]
pub fn cell_polygon(cell: CellIndex) -> Polygon<f64> {
    let mut ring: Vec<Coord<f64>> = cell
        .boundary()
        .iter()
        .map(|ll| Coord {
            x: ll.lng(),
            y: ll.lat(),
        })
        .collect();
    if let Some(&first) = ring.first() {
        ring.push(first);
    }
    Polygon::new(LineString::new(ring), Vec::new())
}

/// An upper bound of the circumradius of the hexagons of `res` near `area`, in Web
/// Mercator metres.
fn radius_bound_m(area: &MercatorRect, res: Resolution) -> f64 {
    let ground = 2.0 * res.edge_length_m();
    // The Mercator scale at Mercator y is cosh(y / R) = 1 / cos(latitude).
    let scale = |y: f64| (y.abs().min(MERCATOR_HALF_EXTENT_M) / EARTH_RADIUS_M).cosh();
    let far = area.min_y.abs().max(area.max_y.abs());
    // Twice: the grown area reaches further from the equator.
    let first = ground * scale(far);
    ground * scale(far + 2.0 * first)
}

fn grow(r: &MercatorRect, by: f64) -> MercatorRect {
    MercatorRect {
        min_x: r.min_x - by,
        min_y: r.min_y - by,
        max_x: r.max_x + by,
        max_y: r.max_y + by,
    }
}

/// A rectangle in the `f32` frame of the point offsets; conservative by the margin
/// it is built with, so `f32` rounding never drops a point that matters.
struct LocalWindow {
    min: [f32; 2],
    max: [f32; 2],
}

impl LocalWindow {
    #[expect(clippy::cast_possible_truncation, reason = "offsets are f32 by design")]
    fn new(r: &MercatorRect, origin: [f64; 2]) -> Self {
        Self {
            min: [(r.min_x - origin[0]) as f32, (r.min_y - origin[1]) as f32],
            max: [(r.max_x - origin[0]) as f32, (r.max_y - origin[1]) as f32],
        }
    }

    #[inline]
    #[expect(clippy::needless_bitwise_bool, reason = "no branch to mispredict")]
    fn contains(&self, x: f32, y: f32) -> bool {
        (x >= self.min[0]) & (x <= self.max[0]) & (y >= self.min[1]) & (y <= self.max[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::points::PointFields;
    use crate::analytics::test_data::{layer_of, ping};
    use crate::model::TileId;

    fn fields() -> PointFields<'static> {
        PointFields {
            time: Some("ts"),
            person: Some("device"),
            value: Some("speed"),
        }
    }

    #[test]
    fn zoom_to_resolution_table() {
        let table: Vec<u8> = (0..=24).map(|z| u8::from(resolution_for_zoom(z))).collect();
        assert_eq!(
            table,
            vec![
                0, 1, 1, 2, 3, 4, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 11, 12, 13, 14, 14, 15, 15, 15,
                15
            ]
        );
        assert!(resolution(16).is_err());
    }

    #[test]
    fn cells_match_h3o_and_carry_statistics() {
        // Pseudo-random points around Barcelona, with 7 devices.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            f64::from(u32::try_from(state >> 40).expect("24 bits")) / f64::from(1u32 << 24)
        };
        let pts: Vec<(f64, f64)> = (0..20_000)
            .map(|_| (2.10 + 0.1 * next(), 41.35 + 0.08 * next()))
            .collect();
        let layer = layer_of(
            pts.iter()
                .zip(1u64..)
                .map(|(&p, id)| ping(id, p, None, &format!("d{}", id % 7), Some(1.0)))
                .collect(),
        );
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        let res = Resolution::Eight;
        let all = StatsSpec {
            distinct: true,
            value: true,
        };
        let bins = bin(&cols, &Selection::Range(0..cols.len()), None, res, all).expect("bin");
        // The same, straight from h3o.
        let mut want: HashMap<CellIndex, (u64, std::collections::HashSet<u64>)> = HashMap::new();
        for (&(lon, lat), id) in pts.iter().zip(1u64..) {
            let cell = LatLng::new(lat, lon).expect("valid").to_cell(res);
            let e = want.entry(cell).or_default();
            e.0 += 1;
            e.1.insert(id % 7);
        }
        assert_eq!(bins.cells.len(), want.len());
        for c in &bins.cells {
            let (count, devices) = &want[&c.cell];
            assert_eq!(c.stats.count, *count);
            assert_eq!(c.stats.distinct, Some(devices.len() as u64));
            assert_eq!(c.stats.mean(), Some(1.0));
        }
        assert!(bins.cells.windows(2).all(|w| w[0].cell < w[1].cell));
        assert_eq!(
            bins.cells.iter().map(|c| c.stats.count).sum::<u64>(),
            20_000
        );
    }

    #[test]
    fn cells_in_an_area_are_complete() {
        // A row of points straddling the edge between two tiles.
        let left = TileId::new(14, 8287, 6116).expect("tile").mercator_bounds();
        let right = TileId::new(14, 8288, 6116).expect("tile").mercator_bounds();
        let y = (left.min_y + left.max_y) / 2.0;
        let pts: Vec<(f64, f64)> = (0..400)
            .map(|i| {
                let x = left.max_x + (f64::from(i) - 200.0) * 25.0;
                crate::model::tile::mercator_to_lonlat(x, y)
            })
            .collect();
        let layer = layer_of(
            pts.iter()
                .zip(1u64..)
                .map(|(&p, id)| ping(id, p, None, "d", None))
                .collect(),
        );
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        let sel = Selection::Range(0..cols.len());
        let res = Resolution::Nine;
        let whole = bin(&cols, &sel, None, res, StatsSpec::default()).expect("bin");
        let full: HashMap<CellIndex, u64> = whole
            .cells
            .iter()
            .map(|c| (c.cell, c.stats.count))
            .collect();
        let a = bin(&cols, &sel, Some(&left), res, StatsSpec::default()).expect("bin");
        let b = bin(&cols, &sel, Some(&right), res, StatsSpec::default()).expect("bin");
        let shared: Vec<_> = a
            .cells
            .iter()
            .filter(|c| b.cells.iter().any(|d| d.cell == c.cell))
            .collect();
        assert!(!shared.is_empty(), "some hexagons cross the tile edge");
        for c in a.cells.iter().chain(&b.cells) {
            assert_eq!(c.stats.count, full[&c.cell], "cell {} is complete", c.cell);
        }
    }

    #[test]
    fn repeated_points_use_the_shortcut_and_still_match_h3o() {
        let pts: Vec<(f64, f64)> = (0..3000)
            .map(|i| {
                let f = f64::from(i);
                (
                    2.15 + 0.0004 * ((f * 0.618_034).fract() * 50.0).floor(),
                    41.38 + 0.0004 * ((f * 0.414_214).fract() * 40.0).floor(),
                )
            })
            .collect();
        let layer = layer_of(
            pts.iter()
                .zip(1u64..)
                .map(|(&p, id)| ping(id, p, None, "d", None))
                .collect(),
        );
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        for res in [Resolution::Eight, Resolution::Ten, Resolution::Eleven] {
            let bins = bin(
                &cols,
                &Selection::Range(0..cols.len()),
                None,
                res,
                StatsSpec::default(),
            )
            .expect("bin");
            assert_counts_match_h3o(&bins, &pts, res);
        }
    }

    /// The counts per cell equal those of calling `h3o` on each point.
    fn assert_counts_match_h3o(bins: &HexBins, pts: &[(f64, f64)], res: Resolution) {
        let mut want: HashMap<CellIndex, u64> = HashMap::new();
        for &(lon, lat) in pts {
            *want
                .entry(LatLng::new(lat, lon).expect("valid").to_cell(res))
                .or_default() += 1;
        }
        let got: HashMap<CellIndex, u64> =
            bins.cells.iter().map(|c| (c.cell, c.stats.count)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn sparse_points_over_a_wide_area_use_hashed_hints_and_match_h3o() {
        // 400 points, each repeated, spread over Europe: the hint grid would be huge,
        // so hints are hashed.
        let pts: Vec<(f64, f64)> = (0..400)
            .map(|i| {
                let f = f64::from(i % 200);
                (-9.0 + 0.15 * f, 36.0 + 0.12 * ((f * 7.3) % 200.0))
            })
            .collect();
        let layer = layer_of(
            pts.iter()
                .zip(1u64..)
                .map(|(&p, id)| ping(id, p, None, "d", None))
                .collect(),
        );
        let cols = PointColumns::build(&layer, &fields()).expect("build");
        let res = Resolution::Twelve;
        let bins = bin(
            &cols,
            &Selection::Range(0..cols.len()),
            None,
            res,
            StatsSpec::default(),
        )
        .expect("bin");
        assert_counts_match_h3o(&bins, &pts, res);
        assert_eq!(bins.cells.len(), 200);
    }

    #[test]
    fn polygon_is_the_closed_h3o_boundary() {
        let cell = LatLng::new(41.39, 2.17)
            .expect("valid")
            .to_cell(Resolution::Nine);
        let p = cell_polygon(cell);
        let b = cell.boundary();
        assert_eq!(p.exterior().0.len(), b.len() + 1);
        assert_eq!(p.exterior().0.first(), p.exterior().0.last());
        assert_eq!(p.exterior().0[1].x, b[1].lng());
    }
}
