//! Web Mercator tile coordinates (XYZ scheme, y down from the north).

use std::f64::consts::PI;
use std::ops::RangeInclusive;

use serde::Serialize;

/// Radius of the Web Mercator sphere, metres.
pub const EARTH_RADIUS_M: f64 = 6_378_137.0;
/// Half the width of the Web Mercator square, metres.
pub const MERCATOR_HALF_EXTENT_M: f64 = PI * EARTH_RADIUS_M;
/// The deepest zoom served.
pub const MAX_ZOOM: u8 = 24;
/// The latitude where Web Mercator is cut off, degrees.
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// A tile address `z/x/y`, validated so that `x` and `y` are below `2^z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TileId {
    /// Zoom level, 0 to [`MAX_ZOOM`].
    pub z: u8,
    /// Column, 0 at the antimeridian, growing east.
    pub x: u32,
    /// Row, 0 at the north edge, growing south.
    pub y: u32,
}

/// A tile address outside the tile pyramid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tile {z}/{x}/{y} does not exist: z must be 0..={max_zoom} and x, y below 2^z")]
pub struct InvalidTile {
    /// Requested zoom.
    pub z: u64,
    /// Requested column.
    pub x: u64,
    /// Requested row.
    pub y: u64,
    /// Deepest zoom served.
    pub max_zoom: u8,
}

/// A rectangle in Web Mercator metres (EPSG:3857).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MercatorRect {
    /// West edge.
    pub min_x: f64,
    /// South edge.
    pub min_y: f64,
    /// East edge.
    pub max_x: f64,
    /// North edge.
    pub max_y: f64,
}

impl TileId {
    /// Validates a tile address.
    ///
    /// # Errors
    /// [`InvalidTile`] when `z > MAX_ZOOM` or `x`/`y` are not below `2^z`.
    pub fn new(z: u64, x: u64, y: u64) -> Result<Self, InvalidTile> {
        let err = || InvalidTile {
            z,
            x,
            y,
            max_zoom: MAX_ZOOM,
        };
        let zoom = u8::try_from(z)
            .ok()
            .filter(|z| *z <= MAX_ZOOM)
            .ok_or_else(err)?;
        let n = 1u64 << zoom;
        if x >= n || y >= n {
            return Err(err());
        }
        // Both fit in u32 because 2^24 does.
        let (x, y) = (
            u32::try_from(x).map_err(|_| err())?,
            u32::try_from(y).map_err(|_| err())?,
        );
        Ok(Self { z: zoom, x, y })
    }

    /// Width of this tile in Web Mercator metres.
    #[must_use]
    pub fn width_m(&self) -> f64 {
        2.0 * MERCATOR_HALF_EXTENT_M / f64::from(1u32 << self.z)
    }

    /// The tile's rectangle in Web Mercator metres.
    #[must_use]
    pub fn mercator_bounds(&self) -> MercatorRect {
        let w = self.width_m();
        let min_x = -MERCATOR_HALF_EXTENT_M + f64::from(self.x) * w;
        let max_y = MERCATOR_HALF_EXTENT_M - f64::from(self.y) * w;
        MercatorRect {
            min_x,
            min_y: max_y - w,
            max_x: min_x + w,
            max_y,
        }
    }
}

/// The tiles of one zoom that cover a Web Mercator rectangle: a block of columns and
/// rows, both inclusive. A tile counts when the rectangle touches it; parts of the
/// rectangle beyond the Mercator square fall in the edge tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileRange {
    /// Zoom level, 0 to [`MAX_ZOOM`].
    pub z: u8,
    /// Columns, west to east.
    pub x: RangeInclusive<u32>,
    /// Rows, north to south.
    pub y: RangeInclusive<u32>,
}

impl TileRange {
    /// The tiles of zoom `z` covering `rect`.
    ///
    /// # Errors
    /// [`InvalidTile`] when `z > MAX_ZOOM`.
    pub fn covering(rect: &MercatorRect, z: u8) -> Result<Self, InvalidTile> {
        let corner = TileId::new(u64::from(z), 0, 0)?;
        let width = corner.width_m();
        let last = (1u32 << z) - 1;
        let index = |metres_from_edge: f64| -> u32 {
            let i = (metres_from_edge / width)
                .floor()
                .clamp(0.0, f64::from(last));
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "clamped to 0..2^z, and a NaN casts to 0"
            )]
            let i = i as u32;
            i
        };
        Ok(Self {
            z,
            x: index(rect.min_x + MERCATOR_HALF_EXTENT_M)
                ..=index(rect.max_x + MERCATOR_HALF_EXTENT_M),
            y: index(MERCATOR_HALF_EXTENT_M - rect.max_y)
                ..=index(MERCATOR_HALF_EXTENT_M - rect.min_y),
        })
    }

    /// Number of tiles in the range.
    #[must_use]
    pub fn len(&self) -> u64 {
        let span = |r: &RangeInclusive<u32>| {
            u64::from(r.end().saturating_sub(*r.start())) + u64::from(r.start() <= r.end())
        };
        span(&self.x) * span(&self.y)
    }

    /// True when the range holds no tile (never, for a range from [`Self::covering`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tiles, row by row.
    pub fn iter(&self) -> impl Iterator<Item = TileId> + '_ {
        self.y
            .clone()
            .flat_map(move |y| self.x.clone().map(move |x| TileId { z: self.z, x, y }))
    }
}

/// Projects WGS84 lon/lat degrees to Web Mercator metres; latitudes are clamped to
/// ±[`MAX_LATITUDE`].
///
/// # Units
/// Input in degrees, output in metres.
#[must_use]
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE);
    let x = lon.to_radians() * EARTH_RADIUS_M;
    let y = (PI / 4.0 + lat.to_radians() / 2.0).tan().ln() * EARTH_RADIUS_M;
    (x, y)
}

/// Inverse of [`lonlat_to_mercator`].
#[must_use]
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / EARTH_RADIUS_M).to_degrees();
    let lat = (2.0 * (y / EARTH_RADIUS_M).exp().atan() - PI / 2.0).to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_range() {
        assert!(TileId::new(0, 0, 0).is_ok());
        assert!(TileId::new(3, 7, 7).is_ok());
        assert!(TileId::new(3, 8, 0).is_err());
        assert!(TileId::new(25, 0, 0).is_err());
        assert!(TileId::new(300, 0, 0).is_err());
    }

    #[test]
    fn bounds_of_world_and_quadrant() {
        let world = TileId::new(0, 0, 0).map(|t| t.mercator_bounds());
        assert_eq!(
            world.map(|b| (b.min_x, b.max_y)),
            Ok((-MERCATOR_HALF_EXTENT_M, MERCATOR_HALF_EXTENT_M))
        );
        let se = TileId::new(1, 1, 1).map(|t| t.mercator_bounds());
        assert_eq!(se.map(|b| (b.min_x, b.max_y)), Ok((0.0, 0.0)));
    }

    #[test]
    fn range_covers_a_box_and_clamps_to_the_world() {
        // One metre around the centre of the world touches the four central tiles.
        let centre = MercatorRect {
            min_x: -1.0,
            min_y: -1.0,
            max_x: 1.0,
            max_y: 1.0,
        };
        let range = TileRange::covering(&centre, 2).expect("valid zoom");
        assert_eq!((range.x.clone(), range.y.clone()), (1..=2, 1..=2));
        assert_eq!(range.len(), 4);
        assert_eq!(range.iter().count(), 4);
        let beyond = MercatorRect {
            min_x: -1e9,
            min_y: -1e9,
            max_x: 1e9,
            max_y: 1e9,
        };
        assert_eq!(TileRange::covering(&beyond, 3).map(|r| r.len()), Ok(64));
        assert!(TileRange::covering(&centre, MAX_ZOOM + 1).is_err());
    }

    #[test]
    fn mercator_round_trip() {
        let (x, y) = lonlat_to_mercator(2.17, 41.39);
        let (lon, lat) = mercator_to_lonlat(x, y);
        assert!((lon - 2.17).abs() < 1e-12 && (lat - 41.39).abs() < 1e-12);
        // Known value: lon 180 maps to the half extent.
        assert!((lonlat_to_mercator(180.0, 0.0).0 - MERCATOR_HALF_EXTENT_M).abs() < 1e-6);
    }
}
