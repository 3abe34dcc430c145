//! Axis-aligned bounding boxes in WGS84 lon/lat degrees, and the coarse grid that the
//! extent of a personal layer is published on.
//!
//! May import: nothing from the crate.

use geo_types::{Coord, Rect};
use serde::{Deserialize, Serialize};

/// A lon/lat bounding box in degrees: `[min_x, min_y, max_x, max_y]` (west, south, east, north).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "[f64; 4]", from = "[f64; 4]")]
pub struct Bbox {
    /// West edge, degrees of longitude.
    pub min_x: f64,
    /// South edge, degrees of latitude.
    pub min_y: f64,
    /// East edge, degrees of longitude.
    pub max_x: f64,
    /// North edge, degrees of latitude.
    pub max_y: f64,
}

/// Why a bounding box was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidBbox {
    /// Not four (or six) comma-separated numbers.
    #[error("bbox must be four comma-separated numbers minx,miny,maxx,maxy, got {0:?}")]
    Syntax(String),
    /// Numbers outside lon/lat range, or min above max.
    #[error(
        "bbox {0:?} is out of range: need -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90"
    )]
    Range(String),
}

/// Latitude step of the coarse grid of [`Bbox::coarsened`], degrees: 0.01° of latitude
/// is at least 1 105 m anywhere on Earth.
pub const COARSE_LAT_STEP: f64 = 0.01;

/// The smallest width and height of a box on the coarse grid, metres.
pub const COARSE_MIN_CELL_M: f64 = 1000.0;

/// Longitude steps of the coarse grid, degrees, finest first, as fractions
/// `(numerator, denominator)`. Each divides 180, so the antimeridian is a grid line and
/// clamping a box to ±180° never cuts a cell. Edges are computed as `index × numerator
/// / denominator` from whole numbers, so each is the double nearest its decimal value
/// and coarsening a coarsened box finds the same indices.
const COARSE_LON_STEPS: [(i64, i64); 14] = [
    (1, 100),
    (1, 50),
    (1, 20),
    (1, 10),
    (1, 5),
    (1, 2),
    (1, 1),
    (2, 1),
    (5, 1),
    (10, 1),
    (20, 1),
    (45, 1),
    (90, 1),
    (180, 1),
];

/// [`COARSE_LAT_STEP`] as a fraction.
const COARSE_LAT_FRACTION: (i64, i64) = (1, 100);

/// Metres per degree of longitude at the equator (WGS84 semi-major axis × π / 180). On
/// the ellipsoid a parallel is a little longer than on this sphere, so widths computed
/// with it are underestimates: the grid is at least as coarse as it says.
const METRES_PER_DEGREE_AT_EQUATOR: f64 = 111_319.490_793_273_57;

/// How close to a grid line (in cells) a value snaps onto it rather than past it: far
/// below a millimetre, far above the rounding of `index × step`. It makes
/// [`Bbox::coarsened`] idempotent.
const GRID_TOLERANCE: f64 = 1e-9;

impl Bbox {
    /// A box from its four edges, without validation.
    #[must_use]
    pub const fn new(min_x: f64, min_y: f64, max_x: f64, max_y: f64) -> Self {
        Self {
            min_x,
            min_y,
            max_x,
            max_y,
        }
    }

    /// An "empty" box that any [`Bbox::extend`] replaces.
    #[must_use]
    pub const fn empty() -> Self {
        Self::new(
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        )
    }

    /// True when no point was added to an [`Bbox::empty`] box.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.min_x > self.max_x || self.min_y > self.max_y
    }

    /// Grows the box to contain `other`.
    pub fn extend(&mut self, other: &Bbox) {
        self.min_x = self.min_x.min(other.min_x);
        self.min_y = self.min_y.min(other.min_y);
        self.max_x = self.max_x.max(other.max_x);
        self.max_y = self.max_y.max(other.max_y);
    }

    /// The box rounded outward to a coarse grid of cells at least
    /// [`COARSE_MIN_CELL_M`] (1 km) on a side: what a personal layer publishes as its
    /// extent, so that the extent does not locate anyone more precisely than a cell.
    ///
    /// The grid: latitude in steps of [`COARSE_LAT_STEP`] (0.01°); longitude in the
    /// finest step of 0.01°, 0.02°, 0.05°, 0.1°, 0.2°, 0.5°, 1°, 2°, 5°, 10°, 20°, 45°,
    /// 90° or 180° that is at least 1 km wide at the coarsened box's edge nearest a pole
    /// (the whole ±180° when none is, within 0.01° of a pole). Both steps depend only on
    /// the grid cells the box touches, never on where inside them its edges lie. The
    /// south and west edges snap down, the north and east edges up, clamped to ±90° and
    /// ±180°; a box on a single grid line (one point exactly on it) becomes the cell to
    /// its north or east. A one-point box thus becomes the one cell holding the point.
    ///
    /// Idempotent: a coarsened box is returned unchanged. An empty box (or one with a
    /// non-finite edge) is returned as it is.
    ///
    /// # Units
    /// Degrees in, degrees out; the 1 km is measured on the WGS84 ellipsoid.
    ///
    /// # Examples
    /// ```
    /// use tessera::model::Bbox;
    /// let one_point = Bbox::new(2.166606, 41.392449, 2.166606, 41.392449);
    /// let coarse = one_point.coarsened();
    /// // 41.39..41.40 in latitude; 0.02° steps of longitude (1.67 km at 41.4°N).
    /// assert!((coarse.min_y - 41.39).abs() < 1e-9 && (coarse.max_y - 41.40).abs() < 1e-9);
    /// assert!((coarse.min_x - 2.16).abs() < 1e-9 && (coarse.max_x - 2.18).abs() < 1e-9);
    /// assert_eq!(coarse.coarsened(), coarse);
    /// ```
    #[must_use]
    pub fn coarsened(&self) -> Bbox {
        let finite = [self.min_x, self.min_y, self.max_x, self.max_y]
            .iter()
            .all(|v| v.is_finite());
        if self.is_empty() || !finite {
            return *self;
        }
        let (min_y, max_y) = snap(self.min_y, self.max_y, COARSE_LAT_FRACTION, 90);
        let poleward = min_y.abs().max(max_y.abs());
        let metres_per_degree = METRES_PER_DEGREE_AT_EQUATOR * poleward.to_radians().cos();
        #[expect(
            clippy::cast_precision_loss,
            reason = "numerators and denominators are below 200"
        )]
        let step = COARSE_LON_STEPS
            .iter()
            .copied()
            .find(|&(num, den)| num as f64 / den as f64 * metres_per_degree >= COARSE_MIN_CELL_M);
        let (min_x, max_x) = match step {
            Some(step) => snap(self.min_x, self.max_x, step, 180),
            None => (-180.0, 180.0),
        };
        Self::new(min_x, min_y, max_x, max_y)
    }

    /// Parses the OGC API `bbox` parameter: `minx,miny,maxx,maxy` or, with heights,
    /// `minx,miny,minz,maxx,maxy,maxz` (heights are ignored).
    ///
    /// # Errors
    /// [`InvalidBbox`] on bad syntax or out-of-range values.
    pub fn parse(text: &str) -> Result<Self, InvalidBbox> {
        let numbers: Vec<f64> = text
            .split(',')
            .map(|part| part.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| InvalidBbox::Syntax(text.to_owned()))?;
        let bbox = match numbers.as_slice() {
            [a, b, c, d] | [a, b, _, c, d, _] => Self::new(*a, *b, *c, *d),
            _ => return Err(InvalidBbox::Syntax(text.to_owned())),
        };
        let in_range = bbox.min_x.is_finite()
            && bbox.max_x.is_finite()
            && bbox.min_y.is_finite()
            && bbox.max_y.is_finite()
            && -180.0 <= bbox.min_x
            && bbox.min_x <= bbox.max_x
            && bbox.max_x <= 180.0
            && -90.0 <= bbox.min_y
            && bbox.min_y <= bbox.max_y
            && bbox.max_y <= 90.0;
        if in_range {
            Ok(bbox)
        } else {
            Err(InvalidBbox::Range(text.to_owned()))
        }
    }

    /// The box as a `geo` rectangle.
    #[must_use]
    pub fn to_rect(&self) -> Rect<f64> {
        Rect::new(
            Coord {
                x: self.min_x,
                y: self.min_y,
            },
            Coord {
                x: self.max_x,
                y: self.max_y,
            },
        )
    }

    /// The centre point `(lon, lat)`.
    #[must_use]
    pub fn center(&self) -> (f64, f64) {
        (
            (self.min_x + self.max_x) / 2.0,
            (self.min_y + self.max_y) / 2.0,
        )
    }

    /// A zoom at which the whole box fits about one 512-pixel viewport, 0 to 18: the
    /// zoom a map opens at (TileJSON `center`, archive headers).
    #[must_use]
    pub fn viewport_zoom(&self) -> u8 {
        let span = (self.max_x - self.min_x)
            .max(self.max_y - self.min_y)
            .max(1e-9);
        let zoom = (360.0 / span).log2().floor().clamp(0.0, 18.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 0..=18"
        )]
        let z = zoom as u8;
        z
    }
}

/// `lo..hi` snapped outward to multiples of the step `num / den` degrees (which divides
/// `limit`), within `-limit..=limit`, and at least one step wide.
#[expect(
    clippy::cast_precision_loss,
    reason = "grid indices, numerators and denominators are below 2^25, exact in f64"
)]
fn snap(lo: f64, hi: f64, (num, den): (i64, i64), limit: i64) -> (f64, f64) {
    let cells = |degrees: f64| degrees * den as f64 / num as f64;
    let max_index = limit * den / num;
    let mut a = grid_index(cells(lo), f64::floor).clamp(-max_index, max_index);
    let mut b = grid_index(cells(hi), f64::ceil).clamp(-max_index, max_index);
    if b <= a {
        if a < max_index {
            b = a + 1;
        } else {
            a = b - 1;
        }
    }
    let edge = |index: i64| (index * num) as f64 / den as f64;
    (edge(a), edge(b))
}

/// The grid index of `cells` (a coordinate divided by the step): the nearest whole
/// number when within [`GRID_TOLERANCE`] of it, else `outward` of it (floor or ceil).
fn grid_index(cells: f64, outward: fn(f64) -> f64) -> i64 {
    let nearest = cells.round();
    let index = if (cells - nearest).abs() < GRID_TOLERANCE {
        nearest
    } else {
        outward(cells)
    };
    // Callers pass finite coordinates divided by steps of at least 0.01, so |index| is
    // below 2^25; the clamp keeps a hostile value from wrapping.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "clamped to a range that i64 holds exactly"
    )]
    let index = index.clamp(-1e12, 1e12) as i64;
    index
}

impl From<Rect<f64>> for Bbox {
    fn from(r: Rect<f64>) -> Self {
        Self::new(r.min().x, r.min().y, r.max().x, r.max().y)
    }
}

impl From<Bbox> for [f64; 4] {
    fn from(b: Bbox) -> Self {
        [b.min_x, b.min_y, b.max_x, b.max_y]
    }
}

impl From<[f64; 4]> for Bbox {
    fn from(a: [f64; 4]) -> Self {
        Self::new(a[0], a[1], a[2], a[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_four_and_six_numbers() {
        assert_eq!(Bbox::parse("1,2,3,4"), Ok(Bbox::new(1.0, 2.0, 3.0, 4.0)));
        assert_eq!(
            Bbox::parse("1, 2, 0, 3, 4, 10"),
            Ok(Bbox::new(1.0, 2.0, 3.0, 4.0))
        );
    }

    #[test]
    fn viewport_zoom_fits_the_span() {
        assert_eq!(Bbox::new(-180.0, -85.0, 180.0, 85.0).viewport_zoom(), 0);
        // 0.04 degrees wide: 360 / 0.04 = 9000, between 2^13 and 2^14.
        assert_eq!(Bbox::new(2.15, 41.37, 2.19, 41.40).viewport_zoom(), 13);
        assert_eq!(Bbox::new(2.0, 41.0, 2.0, 41.0).viewport_zoom(), 18);
    }

    /// Width (along the poleward edge) and height of a box in metres, on a sphere of the
    /// WGS84 semi-major axis, which underestimates both.
    fn size_m(b: &Bbox) -> (f64, f64) {
        let poleward = b.min_y.abs().max(b.max_y.abs()).to_radians();
        (
            (b.max_x - b.min_x) * METRES_PER_DEGREE_AT_EQUATOR * poleward.cos(),
            // 110 574 m per degree is the shortest meridian degree, at the equator.
            (b.max_y - b.min_y) * 110_574.0,
        )
    }

    #[test]
    fn a_point_becomes_its_cell_of_at_least_a_kilometre() {
        let p = Bbox::new(2.166_606, 41.392_449, 2.166_606, 41.392_449);
        let c = p.coarsened();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(c.min_x, 2.16) && near(c.max_x, 2.18), "{c:?}");
        assert!(near(c.min_y, 41.39) && near(c.max_y, 41.40), "{c:?}");
        let (w, h) = size_m(&c);
        assert!(w >= 1000.0 && h >= 1000.0, "{w} x {h}");
        // Any other point of the same cell gives the same box: the box says nothing
        // about where in the cell the point is.
        let other = Bbox::new(2.179, 41.3901, 2.179, 41.3901).coarsened();
        assert_eq!(other, c);
        for bound in [c.min_x, c.max_x] {
            assert!(!near(bound, p.min_x));
        }
        for bound in [c.min_y, c.max_y] {
            assert!(!near(bound, p.min_y));
        }
    }

    #[test]
    fn coarsening_contains_the_box_and_is_idempotent() {
        let boxes = [
            Bbox::new(2.10, 41.34, 2.24, 41.44),
            Bbox::new(-0.003, -0.003, 0.003, 0.003),
            Bbox::new(-73.99, 40.70, -73.90, 40.80),
            Bbox::new(179.999, 89.995, 180.0, 90.0),
            Bbox::new(-180.0, -90.0, -180.0, -90.0),
            Bbox::new(10.0, 69.99, 10.0, 69.99),
            Bbox::new(2.17, 41.38, 2.17, 41.38),
            Bbox::new(-180.0, -90.0, 180.0, 90.0),
        ];
        for b in boxes {
            let c = b.coarsened();
            assert!(
                c.min_x <= b.min_x
                    && c.min_y <= b.min_y
                    && c.max_x >= b.max_x
                    && c.max_y >= b.max_y,
                "{b:?} -> {c:?}"
            );
            assert!(c.min_x >= -180.0 && c.max_x <= 180.0 && c.min_y >= -90.0 && c.max_y <= 90.0);
            assert_eq!(c.coarsened(), c, "{b:?}");
            let (w, h) = size_m(&c);
            assert!(h >= 1000.0, "{b:?} -> {c:?}: {h} m tall");
            // At the pole every meridian meets; elsewhere the box is 1 km wide.
            assert!(
                w >= 1000.0 || c.max_y == 90.0 || c.min_y == -90.0,
                "{b:?} -> {c:?}"
            );
        }
        // A point on a grid line: the cell north and east of it.
        let on_line = Bbox::new(2.18, 41.39, 2.18, 41.39).coarsened();
        assert_eq!(on_line, Bbox::new(2.18, 41.39, 2.2, 41.4));
        // Within 0.01° of the pole: the whole circle of longitude.
        let pole = Bbox::new(10.0, 89.995, 10.0, 89.995).coarsened();
        assert_eq!((pole.min_x, pole.max_x), (-180.0, 180.0));
        // Further north, longitude steps widen: 0.05° at 70°N (1.9 km; 0.02° is 761 m).
        let north = Bbox::new(10.001, 69.991, 10.001, 69.991).coarsened();
        assert!((north.max_x - north.min_x - 0.05).abs() < 1e-9, "{north:?}");
        assert!(Bbox::empty().coarsened().is_empty());
    }

    /// Regression: edges computed as `index as f64 * 0.01` gave 41.410000000000004,
    /// which coarsened again to 41.41, so a stored coarse extent was not a fixed point.
    #[test]
    fn coarse_edges_are_the_nearest_doubles_and_fixed_points() {
        let c = Bbox::new(2.141, 41.371, 2.199, 41.4098).coarsened();
        assert_eq!(
            (c.min_x, c.min_y, c.max_x, c.max_y),
            (2.14, 41.37, 2.2, 41.41)
        );
        for i in 0..20_000_u32 {
            let t = f64::from(i);
            let lon = -179.99 + t * 0.017_99;
            let lat = -89.9 + t * 0.008_99;
            let c = Bbox::new(lon, lat, lon + t * 1e-4, lat + t * 1e-5).coarsened();
            assert_eq!(c.coarsened(), c, "{lon} {lat}");
        }
    }

    #[test]
    fn rejects_bad_boxes() {
        assert!(matches!(Bbox::parse("1,2,3"), Err(InvalidBbox::Syntax(_))));
        assert!(matches!(
            Bbox::parse("a,2,3,4"),
            Err(InvalidBbox::Syntax(_))
        ));
        assert!(matches!(Bbox::parse("3,2,1,4"), Err(InvalidBbox::Range(_))));
        assert!(matches!(
            Bbox::parse("0,0,200,4"),
            Err(InvalidBbox::Range(_))
        ));
        assert!(matches!(
            Bbox::parse("0,NaN,1,4"),
            Err(InvalidBbox::Range(_))
        ));
    }
}
