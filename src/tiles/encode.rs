//! Turning one Web Mercator geometry into MVT geometry commands for one tile:
//! transform to tile pixels, clip to the buffered tile, quantize, drop degenerate
//! parts, fix ring winding, and encode as MoveTo/LineTo/ClosePath with zigzag deltas
//! (MVT 2.1, section 4.3).

use geo_types::{Geometry, LineString, Polygon};
use geozero::mvt::tile::GeomType;

use super::clip::{ClipBox, Pt, clip_line, clip_ring};
use crate::model::tile::MercatorRect;

/// Maps Web Mercator metres to tile pixels (x right, y down).
#[derive(Debug, Clone, Copy)]
pub struct TileTransform {
    min_x: f64,
    max_y: f64,
    scale: f64,
}

impl TileTransform {
    /// The transform for a tile with the given bounds and extent.
    #[must_use]
    pub fn new(bounds: &MercatorRect, extent: u32) -> Self {
        Self {
            min_x: bounds.min_x,
            max_y: bounds.max_y,
            scale: f64::from(extent) / (bounds.max_x - bounds.min_x),
        }
    }

    #[inline]
    fn apply(&self, c: geo_types::Coord<f64>) -> Pt {
        [
            (c.x - self.min_x) * self.scale,
            (self.max_y - c.y) * self.scale,
        ]
    }
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

fn command(id: u32, count: usize) -> u32 {
    // Counts are bounded by the points of one geometry; MVT allows 2^29 - 1.
    (id & 0x7) | (u32::try_from(count).unwrap_or(0) << 3)
}

fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)).cast_unsigned()
}

/// Accumulates the command stream of one feature.
#[derive(Debug, Default)]
pub struct GeometryWriter {
    commands: Vec<u32>,
    cursor: [i32; 2],
}

impl GeometryWriter {
    fn delta(&mut self, p: [i32; 2]) {
        self.commands.push(zigzag(p[0] - self.cursor[0]));
        self.commands.push(zigzag(p[1] - self.cursor[1]));
        self.cursor = p;
    }

    fn points(&mut self, points: &[[i32; 2]]) {
        self.commands.push(command(MOVE_TO, points.len()));
        for &p in points {
            self.delta(p);
        }
    }

    fn path(&mut self, points: &[[i32; 2]], close: bool) {
        self.commands.push(command(MOVE_TO, 1));
        self.delta(points[0]);
        self.commands.push(command(LINE_TO, points.len() - 1));
        for &p in &points[1..] {
            self.delta(p);
        }
        if close {
            self.commands.push(command(CLOSE_PATH, 1));
        }
    }
}

/// Encodes `geometry` for a tile; `None` when nothing of it is left in the tile.
#[must_use]
pub fn encode(
    geometry: &Geometry<f64>,
    transform: &TileTransform,
    bounds: ClipBox,
    needs_clip: bool,
) -> Option<(GeomType, Vec<u32>)> {
    let mut out = GeometryWriter::default();
    let ctx = Context {
        transform,
        bounds,
        needs_clip,
    };
    let kind = match geometry {
        Geometry::Point(p) => {
            ctx.points(std::iter::once(p.0), &mut out);
            GeomType::Point
        }
        Geometry::MultiPoint(mp) => {
            ctx.points(mp.0.iter().map(|p| p.0), &mut out);
            GeomType::Point
        }
        Geometry::LineString(ls) => {
            ctx.line(ls, &mut out);
            GeomType::Linestring
        }
        Geometry::MultiLineString(mls) => {
            for ls in &mls.0 {
                ctx.line(ls, &mut out);
            }
            GeomType::Linestring
        }
        Geometry::Polygon(p) => {
            ctx.polygon(p, &mut out);
            GeomType::Polygon
        }
        Geometry::MultiPolygon(mp) => {
            for p in &mp.0 {
                ctx.polygon(p, &mut out);
            }
            GeomType::Polygon
        }
        Geometry::Rect(r) => {
            ctx.polygon(&r.to_polygon(), &mut out);
            GeomType::Polygon
        }
        Geometry::Triangle(t) => {
            ctx.polygon(&t.to_polygon(), &mut out);
            GeomType::Polygon
        }
        // Collections and bare lines do not occur after ingest; they have no MVT form.
        Geometry::Line(_) | Geometry::GeometryCollection(_) => return None,
    };
    (!out.commands.is_empty()).then_some((kind, out.commands))
}

struct Context<'a> {
    transform: &'a TileTransform,
    bounds: ClipBox,
    needs_clip: bool,
}

impl Context<'_> {
    fn points(
        &self,
        coords: impl Iterator<Item = geo_types::Coord<f64>>,
        out: &mut GeometryWriter,
    ) {
        let mut kept: Vec<[i32; 2]> = coords
            .map(|c| self.transform.apply(c))
            .filter(|p| self.bounds.contains(*p))
            .map(quantize)
            .collect();
        kept.dedup();
        if !kept.is_empty() {
            out.points(&kept);
        }
    }

    fn line(&self, ls: &LineString<f64>, out: &mut GeometryWriter) {
        let pts: Vec<Pt> = ls.0.iter().map(|c| self.transform.apply(*c)).collect();
        let parts = if self.needs_clip && !self.bounds.contains_all(&pts) {
            clip_line(&pts, self.bounds)
        } else {
            vec![pts]
        };
        for part in parts {
            let q = quantize_path(&part);
            if q.len() >= 2 {
                out.path(&q, false);
            }
        }
    }

    fn polygon(&self, polygon: &Polygon<f64>, out: &mut GeometryWriter) {
        let Some(exterior) = self.ring(polygon.exterior(), true) else {
            return;
        };
        out.path(&exterior, true);
        for hole in polygon.interiors() {
            if let Some(ring) = self.ring(hole, false) {
                out.path(&ring, true);
            }
        }
    }

    /// A quantized open ring with MVT winding (exterior: positive area in tile
    /// coordinates), or `None` when it collapses.
    fn ring(&self, ring: &LineString<f64>, exterior: bool) -> Option<Vec<[i32; 2]>> {
        let coords = match ring.0.split_last() {
            Some((last, rest)) if rest.first() == Some(last) => rest,
            _ => &ring.0[..],
        };
        let mut pts: Vec<Pt> = coords.iter().map(|c| self.transform.apply(*c)).collect();
        if self.needs_clip && !self.bounds.contains_all(&pts) {
            pts = clip_ring(&pts, self.bounds);
        }
        let mut q = quantize_path(&pts);
        while q.len() > 1 && q.first() == q.last() {
            q.pop();
        }
        if q.len() < 3 {
            return None;
        }
        let area = twice_area(&q);
        if area == 0 {
            return None;
        }
        if (area > 0) != exterior {
            q.reverse();
        }
        Some(q)
    }
}

#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "clipped coordinates lie within a few thousand pixels of the tile"
)]
fn quantize(p: Pt) -> [i32; 2] {
    [p[0].round() as i32, p[1].round() as i32]
}

fn quantize_path(points: &[Pt]) -> Vec<[i32; 2]> {
    let mut q: Vec<[i32; 2]> = points.iter().map(|p| quantize(*p)).collect();
    q.dedup();
    q
}

/// Twice the signed area of an open ring (shoelace), in tile pixels.
fn twice_area(ring: &[[i32; 2]]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1])
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use geo_types::{point, polygon};

    use super::*;

    fn unit_transform() -> TileTransform {
        // Mercator metres equal pixels, y flipped around 4096.
        TileTransform::new(
            &MercatorRect {
                min_x: 0.0,
                min_y: 0.0,
                max_x: 4096.0,
                max_y: 4096.0,
            },
            4096,
        )
    }

    const BOX: ClipBox = ClipBox {
        min: -64.0,
        max: 4160.0,
    };

    #[test]
    fn point_command_stream() {
        let g = Geometry::Point(point!(x: 25.0, y: 4096.0 - 17.0));
        let (kind, cmds) = encode(&g, &unit_transform(), BOX, true).expect("kept");
        assert_eq!(kind, GeomType::Point);
        // Spec example: MoveTo(1) = 9, then zigzag(25) = 50, zigzag(17) = 34.
        assert_eq!(cmds, vec![9, 50, 34]);
    }

    #[test]
    fn polygon_exterior_gets_positive_area_and_closepath() {
        // The MVT spec example ring, given in Mercator metres (y up).
        let g = Geometry::Polygon(polygon![
            (x: 3.0, y: 4096.0 - 6.0), (x: 8.0, y: 4096.0 - 12.0),
            (x: 20.0, y: 4096.0 - 34.0), (x: 3.0, y: 4096.0 - 6.0)
        ]);
        let (kind, cmds) = encode(&g, &unit_transform(), BOX, true).expect("kept");
        assert_eq!(kind, GeomType::Polygon);
        assert_eq!(cmds, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    #[test]
    fn sub_pixel_polygon_is_dropped() {
        let g = Geometry::Polygon(polygon![
            (x: 1.0, y: 1.0), (x: 1.2, y: 1.0), (x: 1.2, y: 1.2), (x: 1.0, y: 1.0)
        ]);
        assert!(encode(&g, &unit_transform(), BOX, true).is_none());
    }

    #[test]
    fn points_outside_buffer_are_dropped() {
        let g = Geometry::Point(point!(x: 5000.0, y: 10.0));
        assert!(encode(&g, &unit_transform(), BOX, true).is_none());
    }
}
