//! Axis-aligned bounding boxes in WGS84 lon/lat degrees.

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
