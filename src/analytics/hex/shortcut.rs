//! An exact shortcut around `h3o`'s `to_cell`, which costs a few hundred nanoseconds
//! on a baseline x86-64 build (its trig, `round` and `fma` are library calls there).
//!
//! # Why a hit is a proof
//! A hexagon lying on one icosahedron face (`icosahedron_faces().len() == 1`, not a
//! pentagon, six vertices) is the gnomonic image of a planar hexagon of that face, so
//! on the sphere it is a convex polygon whose edges are great-circle arcs through the
//! vertices `h3o` returns, and every point inside it has that face as closest face:
//! `to_cell` returns this cell for every point inside it. Two tests prove that a point
//! is inside, each with an angular margin of [`MARGIN_RAD`] (6 mm), far above the
//! rounding noise of `h3o` and of these tests (~10⁻¹⁵ rad):
//! 1. the *inscribed disc* (radius: the angular distance from the centre to the
//!    nearest edge's great circle, minus the margin), tested in Web Mercator without
//!    trigonometry: the radius is shrunk by the smallest Mercator scale over the
//!    disc's latitude band (a Mercator segment's ground length is at most its length
//!    over that scale) and by the measured error of the `f32` offsets. About 90 % of
//!    a hexagon's area lies in its disc.
//! 2. otherwise the *half-spaces*: the point's unit vector is on the inner side of all
//!    six edge great circles (`n · p > sin(margin)`), which costs one `sin_cos` per
//!    coordinate.
//!
//! Shapes are computed once per cell, on its second miss (cells with one point never
//! pay). Which cells to try comes from a hint table: for each Mercator square of one
//! hexagon edge, the last four cells found there. A stale or colliding hint only fails
//! the tests; then `to_cell` decides. Pentagons, cells on face edges and cells beyond
//! 85° of latitude always go to `to_cell`.
//!
//! May import: `model`.

use h3o::{CellIndex, LatLng, Resolution};

use crate::model::tile::{EARTH_RADIUS_M, MercatorRect, lonlat_to_mercator};

/// Angular safety margin, radians (6 mm on the Earth).
pub(super) const MARGIN_RAD: f64 = 1e-9;
/// Extra Mercator slack for the rounding of a disc's own centre, metres.
pub(super) const SLACK_M: f64 = 1e-6;
/// Latitude beyond which no shape is used: Web Mercator clamps at 85.05°.
const MAX_LAT: f64 = 85.0;
/// The fewest and the most hint slots (16 B each: 64 KiB to 16 MiB).
const MIN_SLOTS: usize = 1 << 12;
const MAX_SLOTS: usize = 1 << 20;
/// Cells remembered per hint slot; a square of one edge meets at most four cells.
const WAYS: usize = 4;
const EMPTY: u32 = u32::MAX;

/// The inscribed disc of a cell in the local Mercator frame of the point offsets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Disc {
    cx: f64,
    cy: f64,
    /// Squared radius; NaN while not computed, negative when the cell has no usable
    /// shape. Both make every test fail.
    r2: f64,
}

impl Disc {
    pub(super) const UNKNOWN: Self = Self {
        cx: 0.0,
        cy: 0.0,
        r2: f64::NAN,
    };
    const NONE: Self = Self {
        cx: 0.0,
        cy: 0.0,
        r2: -1.0,
    };

    #[inline]
    pub(super) fn contains(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (f64::from(x) - self.cx, f64::from(y) - self.cy);
        dx * dx + dy * dy < self.r2
    }

    fn usable(&self) -> bool {
        self.r2 >= 0.0
    }
}

/// Inward unit normals of a cell's six edge great circles.
type Normals = [[f64; 3]; 6];

/// The shape of `cell` (disc and edge normals), or unusable. See the module
/// documentation for why a point inside it is in `cell`.
pub(super) fn shape_of(cell: CellIndex, origin: [f64; 2], slack_m: f64) -> (Disc, Normals) {
    let none = (Disc::NONE, [[0.0; 3]; 6]);
    if cell.is_pentagon() || cell.icosahedron_faces().len() != 1 {
        return none;
    }
    let boundary = cell.boundary();
    if boundary.len() != 6 {
        return none;
    }
    let centre = LatLng::from(cell);
    let c = unit(centre.lat_radians(), centre.lng_radians());
    let mut normals = [[0.0; 3]; 6];
    let mut d = f64::INFINITY;
    for (i, a) in boundary.iter().enumerate() {
        let b = boundary[(i + 1) % boundary.len()];
        let n = cross(
            unit(a.lat_radians(), a.lng_radians()),
            unit(b.lat_radians(), b.lng_radians()),
        );
        let len = dot(n, n).sqrt();
        if len == 0.0 {
            return none;
        }
        let side = if dot(n, c) < 0.0 { -1.0 } else { 1.0 };
        normals[i] = [side * n[0] / len, side * n[1] / len, side * n[2] / len];
        d = d.min(dot(normals[i], c).min(1.0).asin());
    }
    let d = d - MARGIN_RAD;
    if d <= 0.0 || centre.lat().abs() + d.to_degrees() >= MAX_LAT {
        return none;
    }
    let (mx, my) = lonlat_to_mercator(centre.lng(), centre.lat());
    // The smallest Mercator scale cosh(y / R) over the band of y the disc can reach.
    let ground = d * EARTH_RADIUS_M;
    let wide = ground * (my.abs() / EARTH_RADIUS_M).cosh();
    let radius = ground * ((my.abs() - wide).max(0.0) / EARTH_RADIUS_M).cosh() - slack_m;
    if radius <= 0.0 {
        return none;
    }
    let disc = Disc {
        cx: mx - origin[0],
        cy: my - origin[1],
        r2: radius * radius,
    };
    (disc, normals)
}

/// True when the unit vector `p` is inside all half-spaces with the margin.
#[inline]
fn inside(normals: &Normals, p: [f64; 3]) -> bool {
    let min_sin = MARGIN_RAD.sin();
    normals.iter().all(|n| dot(*n, p) > min_sin)
}

pub(super) fn unit(lat: f64, lng: f64) -> [f64; 3] {
    let (sin_lat, cos_lat) = lat.sin_cos();
    let (sin_lng, cos_lng) = lng.sin_cos();
    [cos_lat * cos_lng, cos_lat * sin_lng, sin_lat]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The shortcut's state for one binning call: shapes per group and the hint table.
pub(super) struct Shortcut {
    origin: [f64; 2],
    slack_m: f64,
    discs: Vec<Disc>,
    normals: Vec<Normals>,
    hints: HintGrid,
    slots: Vec<[u32; WAYS]>,
}

/// Maps a point to its hint slot: its square of a grid over the points' extent when
/// that grid is small enough, else a hash of the square.
#[derive(Debug, Clone, Copy)]
enum HintGrid {
    Dense {
        x0: f32,
        y0: f32,
        inv_side: f32,
        cols: usize,
        rows: usize,
    },
    Hashed {
        inv_side: f32,
        mask: usize,
    },
}

impl Shortcut {
    /// A shortcut for `selected` points with offsets from `origin` (off by at most
    /// `offset_error_m`) spread over `extent` (absolute Web Mercator). The hint table
    /// has at most four slots per point, and at most [`MAX_SLOTS`].
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "hint grid sizes are bounded by MAX_SLOTS; f32 keys need no precision"
    )]
    pub(super) fn new(
        res: Resolution,
        selected: usize,
        origin: [f64; 2],
        offset_error_m: f64,
        extent: Option<MercatorRect>,
    ) -> Self {
        let cap = selected
            .saturating_mul(4)
            .clamp(MIN_SLOTS, MAX_SLOTS)
            .next_power_of_two();
        // One average edge at the latitude of the points.
        let side = res.edge_length_m() * (origin[1].abs() / EARTH_RADIUS_M).cosh();
        let inv_side = (1.0 / side) as f32;
        let dense = extent.and_then(|e| {
            let cols = ((e.max_x - e.min_x) / side).floor() + 1.0;
            let rows = ((e.max_y - e.min_y) / side).floor() + 1.0;
            (cols * rows <= cap as f64).then(|| HintGrid::Dense {
                x0: (e.min_x - origin[0]) as f32,
                y0: (e.min_y - origin[1]) as f32,
                inv_side,
                cols: cols as usize,
                rows: rows as usize,
            })
        });
        let hints = dense.unwrap_or(HintGrid::Hashed {
            inv_side,
            mask: cap - 1,
        });
        let slots = match hints {
            HintGrid::Dense { cols, rows, .. } => cols * rows,
            HintGrid::Hashed { .. } => cap,
        };
        Self {
            origin,
            slack_m: offset_error_m + SLACK_M,
            discs: Vec::new(),
            normals: Vec::new(),
            hints,
            slots: vec![[EMPTY; WAYS]; slots],
        }
    }

    /// The hint slot of a point.
    #[inline]
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "square numbers: saturation, truncation and wrapping only move a hint"
    )]
    pub(super) fn key(&self, x: f32, y: f32) -> usize {
        match self.hints {
            HintGrid::Dense {
                x0,
                y0,
                inv_side,
                cols,
                rows,
            } => {
                let kx = (((x - x0) * inv_side) as i32).max(0) as usize;
                let ky = (((y - y0) * inv_side) as i32).max(0) as usize;
                ky.min(rows - 1) * cols + kx.min(cols - 1)
            }
            HintGrid::Hashed { inv_side, mask } => {
                let (kx, ky) = ((x * inv_side) as i32 as u32, (y * inv_side) as i32 as u32);
                let h = kx.wrapping_mul(0x9E37_79B1) ^ ky.wrapping_mul(0x85EB_CA77);
                (h.rotate_left(16) as usize) & mask
            }
        }
    }

    /// A group proven to contain the point, if one of the hinted cells does. A hit
    /// moves its cell one place forward in the slot, so frequent cells are tried
    /// first.
    #[inline]
    pub(super) fn find(&mut self, key: usize, x: f32, y: f32, lat: f64, lng: f64) -> Option<u32> {
        let hints = self.slots.get_mut(key)?;
        let n = hints.iter().position(|&g| g == EMPTY).unwrap_or(WAYS);
        let discs = &self.discs;
        let mut hit = hints[..n]
            .iter()
            .position(|&g| discs.get(g as usize).is_some_and(|d| d.contains(x, y)));
        if hit.is_none() {
            let usable = |g: u32| discs.get(g as usize).is_some_and(Disc::usable);
            if hints[..n].iter().any(|&g| usable(g)) {
                let p = unit(lat.to_radians(), lng.to_radians());
                hit = hints[..n]
                    .iter()
                    .position(|&g| usable(g) && inside(&self.normals[g as usize], p));
            }
        }
        let i = hit?;
        let g = hints[i];
        if i > 0 {
            hints.swap(i, i - 1);
        }
        Some(g)
    }

    /// Registers a new group (in group order).
    pub(super) fn push_group(&mut self) {
        self.discs.push(Disc::UNKNOWN);
        self.normals.push([[0.0; 3]; 6]);
    }

    /// Records that `to_cell` put a point of slot `key` in `group` (of `cell`):
    /// computes the cell's shape on its second miss and remembers the cell.
    pub(super) fn missed(&mut self, key: usize, group: u32, cell: CellIndex, seen_before: bool) {
        let g = group as usize;
        if seen_before && self.discs[g].r2.is_nan() {
            let (disc, normals) = shape_of(cell, self.origin, self.slack_m);
            self.discs[g] = disc;
            self.normals[g] = normals;
        }
        if let Some(hints) = self.slots.get_mut(key)
            && !hints.contains(&group)
        {
            hints.rotate_right(1);
            hints[0] = group;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Soundness: whenever a point passes either test for some cell, that cell is the
    /// one `h3o` gives. Points are sampled densely across and along cell edges and
    /// vertices, at several resolutions and latitudes.
    #[test]
    fn shapes_never_disagree_with_h3o() {
        let places = [
            (41.39, 2.17),
            (69.65, 18.96),
            (0.0005, -78.5),
            (-33.9, 151.2),
        ];
        for &(lat0, lon0) in &places {
            for res in [
                Resolution::Five,
                Resolution::Nine,
                Resolution::Ten,
                Resolution::Fifteen,
            ] {
                let home = LatLng::new(lat0, lon0).expect("valid").to_cell(res);
                let origin = {
                    let (x, y) = lonlat_to_mercator(lon0, lat0);
                    [x, y]
                };
                // Points from the centre out past each vertex and edge.
                let b = home.boundary();
                let c = LatLng::from(home);
                let near_edge = [0.999, 0.9999, 0.99999, 0.999_999, 1.000_001];
                let mut pts = Vec::new();
                for (i, v) in b.iter().enumerate() {
                    let w = b[(i + 1) % b.len()];
                    for t in (0..=60)
                        .map(|k| 0.80 + 0.005 * f64::from(k))
                        .chain(near_edge)
                    {
                        for u in [0.0, 0.25, 0.5, 0.9999] {
                            let lat = c.lat() + t * ((1.0 - u) * v.lat() + u * w.lat() - c.lat());
                            let lng = c.lng() + t * ((1.0 - u) * v.lng() + u * w.lng() - c.lng());
                            pts.push((lat, lng));
                        }
                    }
                }
                let mut cells = vec![home];
                let mut slack: f64 = 0.0;
                let local: Vec<(f32, f32, f64, f64, CellIndex)> = pts
                    .iter()
                    .map(|&(lat, lng)| {
                        let (x, y) = lonlat_to_mercator(lng, lat);
                        #[expect(clippy::cast_possible_truncation, reason = "as the columns do")]
                        let (fx, fy) = ((x - origin[0]) as f32, (y - origin[1]) as f32);
                        slack = slack.max(
                            (x - origin[0] - f64::from(fx)).hypot(y - origin[1] - f64::from(fy)),
                        );
                        let cell = LatLng::new(lat, lng).expect("valid").to_cell(res);
                        if !cells.contains(&cell) {
                            cells.push(cell);
                        }
                        (fx, fy, lat, lng, cell)
                    })
                    .collect();
                let shapes: Vec<(CellIndex, Disc, Normals)> = cells
                    .iter()
                    .map(|&c| {
                        let (d, n) = shape_of(c, origin, slack + SLACK_M);
                        (c, d, n)
                    })
                    .collect();
                let (mut by_disc, mut by_planes) = (0, 0);
                for &(x, y, lat, lng, truth) in &local {
                    let p = unit(lat.to_radians(), lng.to_radians());
                    for (cell, disc, normals) in &shapes {
                        if disc.contains(x, y) {
                            assert_eq!(*cell, truth, "disc, res {res:?} near {lat0},{lon0}");
                            by_disc += 1;
                        }
                        if disc.usable() && inside(normals, p) {
                            assert_eq!(*cell, truth, "planes, res {res:?} near {lat0},{lon0}");
                            by_planes += 1;
                        }
                    }
                }
                assert!(cells.len() > 3, "samples cross into neighbours");
                assert!(by_disc > local.len() / 10, "discs are used ({by_disc})");
                assert!(
                    by_planes > by_disc,
                    "planes prove more than discs ({by_planes})"
                );
            }
        }
    }
}
